#!/usr/bin/env bash
# test_train_kill_resume.sh - kills `sdq train` with SIGKILL after its first
# checkpoint, resumes it with --resume, and checks that the final LoRA bank
# is byte-identical to an uninterrupted run with the same options and that
# train.json reports the same losses. Also checks that a temporary
# checkpoint of a dead process is removed, that a changed --bits or --alpha
# does not resume the checkpoint, and that resuming the finished run keeps
# its losses. Arguments are added to every training run (e.g. --joint
# --distill).
set -u
builddir=${SDQ_BUILDDIR:-.}
sdq="$builddir/sdq"
work=$(mktemp -d "${TMPDIR:-/tmp}/sdq-kill-resume.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -s "${SDQ_SRCDIR:-.}/data/gpt2-tokenizer/encoder.json" ] && [ -z "${SDQ_VOCAB:-}" ]; then
  echo "SKIP: GPT-2 tokenizer files are missing (scripts/bootstrap installs them)"
  exit 77
fi

cat > "$work/tiny.json" <<'JSON'
{"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 32, "n_ctx": 96,
 "n_positions": 96, "vocab_size": 50257}
JSON

fail() { echo "FAIL: $*"; exit 1; }

"$sdq" train --train-base --init "$work/tiny.json" --out "$work/base" --steps 2 --batch 2 \
  --max-len 96 --quiet 2>"$work/base.log" || { cat "$work/base.log"; fail "base training failed"; }

train_args=(--model "$work/base/base" --steps 24 --batch 4 --max-len 96 --schedule random
            --bits 4,8 --dropout 0.1 --checkpoint-every 2 --seed 7 --quiet "$@")

"$sdq" train "${train_args[@]}" --out "$work/straight" 2>"$work/straight.log" ||
  { cat "$work/straight.log"; fail "uninterrupted run failed"; }

# Start the second run and kill it once its first checkpoint is on disk.
"$sdq" train "${train_args[@]}" --out "$work/killed" 2>"$work/killed.log" &
pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/killed/checkpoint.safetensors" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
killed=no
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  killed=yes
fi
wait "$pid" 2>/dev/null
[ "$killed" = yes ] || fail "the run finished before it could be killed; make it longer"
[ -s "$work/killed/checkpoint.safetensors" ] || fail "no checkpoint before the kill"

for changed in "--bits 4,6" "--alpha 64"; do
  # shellcheck disable=SC2086 # the option and its value are two words
  if "$sdq" train "${train_args[@]}" $changed --out "$work/killed" --resume \
      2>"$work/changed.log"; then
    fail "a run with $changed resumed the checkpoint of another run"
  fi
  grep -q "belongs to another run" "$work/changed.log" ||
    { cat "$work/changed.log"; fail "no refusal message for $changed"; }
done

# A temporary checkpoint of a process that no longer runs, as SIGKILL during
# a checkpoint write leaves it.
sh -c 'exit 0' &
dead=$!
wait "$dead"
stale="$work/killed/checkpoint.safetensors.tmp.$dead.0"
echo "half a checkpoint" > "$stale"

"$sdq" train "${train_args[@]}" --out "$work/killed" --resume 2>"$work/resume.log" ||
  { cat "$work/resume.log"; fail "resume failed"; }
[ ! -e "$stale" ] || fail "the stale temporary checkpoint $stale was not removed"
grep -q "removed 1 stale temporary" "$work/resume.log" ||
  { cat "$work/resume.log"; fail "no note about the removed temporary checkpoint"; }

losses() { grep -E '"(last_loss|final_loss)"' "$1"; }
[ -n "$(losses "$work/straight/train.json")" ] || fail "train.json has no losses"
[ "$(losses "$work/straight/train.json")" = "$(losses "$work/killed/train.json")" ] ||
  fail "losses differ: $(losses "$work/straight/train.json") vs $(losses "$work/killed/train.json")"

"$sdq" train "${train_args[@]}" --out "$work/straight" --resume 2>"$work/again.log" ||
  { cat "$work/again.log"; fail "resuming the finished run failed"; }
grep -q "already finished at step 24" "$work/again.log" ||
  { cat "$work/again.log"; fail "no note that the run had finished"; }
[ "$(losses "$work/straight/train.json")" = "$(losses "$work/killed/train.json")" ] ||
  fail "resuming the finished run changed its losses: $(losses "$work/straight/train.json")"

n=0
for f in "$work"/straight/lora/*/adapter_model.safetensors; do
  rel=${f#"$work"/straight/}
  cmp -s "$f" "$work/killed/$rel" || fail "$rel differs between the straight and the resumed run"
  n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "expected adapters for 4 and 8 bits, found $n files"
echo "PASS: killed with SIGKILL after a checkpoint, resumed, $n adapter files byte-identical"
exit 0
