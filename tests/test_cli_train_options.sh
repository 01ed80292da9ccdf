#!/bin/sh
# test_cli_train_options.sh - sdq train rejects options that do not fit
# together and bad output paths before any training, records its whole setup
# in train.json, keeps the base model's config.json and weights paired when
# a save fails, and prints on SIGTERM which checkpoint step survives.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
data="${SDQ_SRCDIR:-.}/data/default"
vocab="${SDQ_SRCDIR:-.}/data/gpt2-tokenizer"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdq-train-options-XXXXXX") || exit 1
trap 'chattr -i "$dir/h/base/config.json" 2>/dev/null; rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

if [ ! -s "$vocab/encoder.json" ] || [ ! -s "$data/train.json" ]; then
  echo "test_cli_train_options: $vocab or $data is missing (run scripts/bootstrap)" >&2
  exit 77
fi
tiny="--steps 1 --batch 1 --max-len 32 --quiet"

# A one-step random base model of the default shape (n_ctx 128).
"$sdq" train --train-base $tiny --out "$dir/t" >/dev/null 2>"$dir/err" ||
  { cat "$dir/err" >&2; exit 1; }
base="$dir/t/base"

# usage_error NAME GREP ARGS...: exit 2, one line naming the cause, nothing
# loaded or written before it.
usage_error() {
  name=$1 pattern=$2
  shift 2
  rm -rf "$dir/u"
  "$sdq" train "$@" --out "$dir/u" >"$dir/out" 2>"$dir/err"; rc=$?
  check "$name exits 2, got $rc: $(cat "$dir/err")" '[ $rc -eq 2 ]'
  check "$name says why: $(cat "$dir/err")" 'grep -q -- "$pattern" "$dir/err"'
  check "$name prints nothing else first: $(cat "$dir/err")" '[ $(wc -l <"$dir/err") -eq 1 ]'
  check "$name creates no output folder" '[ ! -e "$dir/u" ]'
}

# 1. Options that --train-base does not use are rejected, not dropped.
for args in "--bits 4,8 --schedule random" "--config all-4" "--schedule cpt" "--joint" \
            "--joint --distill --schedule random --bits 4,8" "--rank 4" "--alpha 8" \
            "--dropout 0.1" "--cpt-low 2"; do
  usage_error "--train-base $args" "--train-base trains every base weight in fp32.*not apply" \
    --train-base $tiny $args
done
usage_error "--train-base --config all-4 names only --config" "so --config does not apply" \
  --train-base --config all-4
usage_error "--model with --init" "give --model or --init, not both" \
  --model "$base" --init "$data/config.json" $tiny

# 2. A static schedule counts the configurations it was given.
usage_error "static with two --config" "static schedule takes one configuration (got 2)" \
  --model "$base" --config all-4 --config 8 $tiny
usage_error "static with --bits 4,6,8" "static schedule takes one configuration (got 3)" \
  --model "$base" --bits 4,6,8 $tiny

# 3. Numbers beyond what the option can store are errors, not clamped or zeroed.
for seed in 99999999999999999999 18446744073709551615 9223372036854775808 -1; do
  usage_error "--seed $seed" "--seed must be an integer in 0\.\.9223372036854775807" \
    --model "$base" --seed $seed $tiny
done
usage_error "--distill-alpha 1e-400" "--distill-alpha must be a number in 0..1 that a float" \
  --model "$base" --schedule random --joint --distill --bits 4,8 --distill-alpha 1e-400 $tiny
usage_error "--lr 1e-50" "--lr must be a number in 0..10 that a float" \
  --model "$base" --lr 1e-50 $tiny

# 4. Bit lists and --max-len are usage errors found before the data loads.
usage_error "--bits 4,4" "appear twice" --model "$base" --bits 4,4 --schedule random $tiny
usage_error "--bits 4,,8" "empty item" --model "$base" --bits 4,,8 --schedule random $tiny
"$sdq" train --model "$base" --steps 1 --batch 1 --max-len 129 --quiet --out "$dir/u" \
  >/dev/null 2>"$dir/err"; rc=$?
check "--max-len 129 exits 2, got $rc" '[ $rc -eq 2 ]'
check "--max-len 129 names n_ctx: $(cat "$dir/err")" 'grep -q "context of 128 tokens" "$dir/err"'
check "--max-len 129 fails before loading the data" '! grep -q "questions" "$dir/err"'

# 5. Bad output paths fail before step 1 with exit 1 and one message format.
# bad_output NAME GREP SETUP ARGS...: SETUP prepares $o, then the run must fail
# with a message matching GREP, without training.
bad_output() {
  name=$1 pattern=$2 setup=$3
  shift 3
  o="$dir/o"
  rm -rf "$o"
  mkdir "$o"
  eval "$setup"
  "$sdq" train "$@" --out "$o" >/dev/null 2>"$dir/err"; rc=$?
  check "$name exits 1, got $rc: $(cat "$dir/err")" '[ $rc -eq 1 ]'
  check "$name says why: $(cat "$dir/err")" 'grep -q -- "$pattern" "$dir/err"'
  check "$name trains nothing" '! grep -q "steps in\|schedule over" "$dir/err"'
  check "$name writes no checkpoint" '[ ! -f "$o/checkpoint.safetensors" ]'
  check "$name warns of no overwrite" '! grep -q "NOTE: overwriting" "$dir/err"'
}
not_file="exists and is not a regular file (it is a directory), so it is not replaced"
bad_output "--out a file" "o: exists and is not a directory (it is a regular file)" \
  'rmdir "$o"; touch "$o"' --train-base $tiny
bad_output "train.json a directory" "train.json: $not_file" 'mkdir "$o/train.json"' \
  --train-base $tiny
bad_output "checkpoint a directory" "checkpoint.safetensors: $not_file" \
  'mkdir "$o/checkpoint.safetensors"' --train-base $tiny
bad_output "base a file" "base: exists and is not a directory (it is a regular file)" \
  'touch "$o/base"' --train-base $tiny
bad_output "base/config.json a directory" "config.json: $not_file" \
  'mkdir -p "$o/base/config.json"' --train-base $tiny
bad_output "base/model.safetensors a FIFO" "model.safetensors: exists and is not a regular file (it is a FIFO)" \
  'mkdir "$o/base"; mkfifo "$o/base/model.safetensors"' --train-base $tiny
bad_output "an adapter file a directory" "bits4/adapter_model.safetensors: $not_file" \
  'mkdir -p "$o/lora/bits4/adapter_model.safetensors"' --model "$base" --bits 4 $tiny
bad_output "lora a file" "lora: exists and is not a directory (it is a regular file)" \
  'touch "$o/lora"' --model "$base" --bits 4 $tiny
if [ "$(id -u)" != 0 ]; then
  bad_output "a read-only --out" "o: cannot write in this directory" 'chmod 555 "$o"' \
    --train-base $tiny
  chmod 755 "$dir/o"
fi

# 6. train.json records the whole setup, reals as typed.
"$sdq" train --model "$base" --schedule random --joint --distill --bits 4,8 \
  --distill-alpha 0.3 --distill-temp 3 --lr 3e-3 --warmup 0 --weight-decay 0.01 \
  --grad-clip 0.5 --min-lr-ratio 0.2 --rank 4 --alpha 8 --dropout 0.1 --loss all \
  --seed 9223372036854775807 --accum 2 --data "$data/train.json" \
  --steps 1 --batch 1 --max-len 32 --quiet --out "$dir/j" >/dev/null 2>"$dir/err"; rc=$?
check "the joint run exits 0, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
check "the joint run says the loss is the mean: $(head -2 "$dir/err")" \
  'grep -q "mean loss over the configurations" "$dir/err"'
for field in '"model": "'"$base"'"' '"init": null' '"data": "'"$data/train.json"'"' \
             '"schedule": "random"' '"joint": true' '"distill": true' \
             '"distill_alpha": 0.3,' '"distill_temp": 3.0,' '"lora_rank": 4,' \
             '"lora_alpha": 8.0,' '"lora_dropout": 0.1,' '"batch": 1,' '"accum": 2,' \
             '"max_len": 32,' '"loss": "all"' '"lr": 0.003,' '"warmup": 0,' \
             '"weight_decay": 0.01,' '"grad_clip": 0.5,' '"min_lr_ratio": 0.2,' \
             '"seed": 9223372036854775807,'; do
  check "train.json has $field: $(cat "$dir/j/train.json")" \
    'grep -qF -- "$field" "$dir/j/train.json"'
done
"$sdq" train --help >"$dir/out" 2>&1
check "--help says --joint prints the mean loss" \
  'grep -q "mean loss over the configurations" "$dir/out"'

# 7. A base save that fails on config.json leaves the old pair in place.
mkdir -p "$dir/h"
"$sdq" train --train-base $tiny --out "$dir/h" >/dev/null 2>"$dir/err"
cp "$dir/h/base/model.safetensors" "$dir/old-weights"
if chattr +i "$dir/h/base/config.json" 2>/dev/null; then
  "$sdq" train --train-base $tiny --seed 7 --out "$dir/h" >/dev/null 2>"$dir/err"; rc=$?
  chattr -i "$dir/h/base/config.json"
  check "saving beside an immutable config.json fails, got $rc" '[ $rc -eq 1 ]'
  check "the failed save says what is left: $(tail -1 "$dir/err")" \
    'grep -q "config.json: cannot write: .*previous model.safetensors is back in place" "$dir/err"'
  check "the failed save keeps the old weights" \
    'cmp -s "$dir/old-weights" "$dir/h/base/model.safetensors"'
  check "the failed save leaves no temporary file: $(ls "$dir/h/base")" \
    '[ $(ls "$dir/h/base" | wc -l) -eq 2 ]'
else
  echo "test_cli_train_options: chattr +i is not available here; skipping the failed-save check" >&2
fi

# 8. SIGTERM prints which checkpoint step survives, and resuming starts there.
# (SIGTERM: a background job of a script ignores SIGINT.)
"$sdq" train --model "$base" --bits 4 --steps 100000 --batch 1 --max-len 32 \
  --checkpoint-every 2 --quiet --out "$dir/k" >/dev/null 2>"$dir/err" &
pid=$!
sleep 2
kill -TERM $pid
{ wait $pid; } 2>/dev/null; rc=$?
check "the interrupted run dies of SIGTERM, got $rc" '[ $rc -eq 143 ]'
step=$(sed -n 's/.*checkpoint.safetensors is at step \([0-9]*\) of 100000; rerun the same command with --resume.*/\1/p' "$dir/err")
check "the interrupted run names the surviving step: $(tail -1 "$dir/err")" '[ -n "$step" ]'
"$sdq" train --model "$base" --bits 4 --steps 100000 --batch 1 --max-len 32 \
  --checkpoint-every 2 --stop-after $((${step:-0} + 1)) --resume --quiet --out "$dir/k" \
  >/dev/null 2>"$dir/err"
check "resuming starts at the named step: $(head -3 "$dir/err")" \
  'grep -q "resuming at step ${step:-x} of 100000" "$dir/err"'
"$sdq" train --model "$base" --bits 4 --steps 100000 --batch 1 --max-len 32 \
  --checkpoint-every 0 --quiet --out "$dir/k" >/dev/null 2>"$dir/err" &
pid=$!
sleep 2
kill -TERM $pid
{ wait $pid; } 2>/dev/null; rc=$?
check "an interrupted run without a checkpoint dies of SIGTERM, got $rc" '[ $rc -eq 143 ]'
check "it reports no checkpoint of this run survives: $(tail -1 "$dir/err")" \
  'grep -q "no checkpoint of this run was written yet" "$dir/err"'

[ $fail -eq 0 ] && echo "test_cli_train_options: all checks passed"
exit $fail
