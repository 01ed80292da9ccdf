#!/bin/sh
# test_cli_command_checks.sh - sdq attack, eval, generate, configs, tokenize
# and score refuse hostile options and inputs with a message naming the real
# cause: no room for a prompt, bad output paths before the first question,
# bits and ranges out of bounds, a bad .cfg among good ones, stdin
# predictions and the strict answer_start check.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
data="${SDQ_SRCDIR:-.}/data/default"
vocab="${SDQ_SRCDIR:-.}/data/gpt2-tokenizer"
configs="${SDQ_SRCDIR:-.}/configs"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdq-command-checks-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive SDQ_VOCAB="$vocab"

if [ ! -s "$vocab/encoder.json" ] || [ ! -s "$data/eval.json" ]; then
  echo "test_cli_command_checks: $vocab or $data is missing (run scripts/bootstrap)" >&2
  exit 77
fi

# A one-step random base model of the default shape (n_ctx 128).
"$sdq" train --train-base --steps 1 --batch 1 --max-len 32 --quiet --out "$dir/t" \
  >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
m="$dir/t/base"
sq="$data/eval.json"

# expect NAME RC GREP CMD...: CMD exits RC and its stderr matches GREP.
expect() {
  name=$1 want=$2 pattern=$3
  shift 3
  "$@" >"$dir/out" 2>"$dir/err" </dev/null; rc=$?
  check "$name exits $want, got $rc: $(cat "$dir/err")" '[ $rc -eq $want ]'
  check "$name says why: $(cat "$dir/err")" 'grep -q -- "$pattern" "$dir/err"'
}

# 1. sdq attack: no room for a prompt is a usage error; nothing attacked is a
# failure; radii are bounded; seeds take the same range as sdq train.
one="--questions 2 --target fp32_lora --attack pgd_linf --steps 1 --quiet"
expect "attack --max-new 200" 2 "--max-new 200 leaves no room for a prompt: need max-new < n_ctx (128)" \
  "$sdq" attack --model "$m" --squad "$sq" $one --max-new 200
expect "attack --max-new 120" 1 "every one of the 2 questions was skipped.*lower --max-new" \
  "$sdq" attack --model "$m" --squad "$sq" $one --max-new 120
check "attack that attacked nothing prints no results" '[ ! -s "$dir/out" ]'
for eps in 1e39 1e38 1001 -1 1e-50; do
  expect "attack --eps $eps" 2 "invalid --eps '$eps' (expected a number in 0..1000" \
    "$sdq" attack --model "$m" --squad "$sq" --eps $eps
done
expect "attack --step 1e38" 2 "invalid --step" "$sdq" attack --model "$m" --squad "$sq" --step 1e38
for seed in 9223372036854775808 99999999999999999999; do
  expect "attack --seed $seed" 2 "expected an integer in 0..9223372036854775807" \
    "$sdq" attack --model "$m" --squad "$sq" --seed $seed
done
"$sdq" attack --model "$m" --squad "$sq" $one --questions 1 --seed 9223372036854775807 \
  >"$dir/out" 2>"$dir/err"; rc=$?
check "attack --seed 2^63-1 runs, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
check "attack records the 63-bit seed" 'grep -q "\"seed\": 9223372036854775807" "$dir/out"'

# 2. sdq eval: output paths are checked before any question, --max-len
# beyond n_ctx says so.
printf 'x\n' >"$dir/file"
expect "eval --out FILE" 1 "$dir/file: exists and is not a directory (it is a regular file)" \
  "$sdq" eval --model "$m" --data "$sq" --limit 1 --out "$dir/file"
check "eval --out FILE evaluates nothing" '! grep -q "on 1 questions" "$dir/err"'
expect "eval --out FILE/sub" 1 "$dir/file: exists and is not a directory" \
  "$sdq" eval --model "$m" --data "$sq" --limit 1 --out "$dir/file/sub"
mkdir -p "$dir/o/predictions-4bit.json"
expect "eval predictions path is a directory" 1 \
  "$dir/o/predictions-4bit.json: exists and is not a regular file (it is a directory), so it is not replaced; remove it or choose another --out" \
  "$sdq" eval --model "$m" --data "$sq" --limit 1 --config fp32 --config 4 --out "$dir/o"
check "eval with a bad second path evaluates nothing" '! grep -q "on 1 questions" "$dir/err"'
check "eval with a bad second path writes nothing" '[ ! -e "$dir/o/predictions-fp32.json" ]'
mkdir -p "$dir/o2/eval.json"
expect "eval summary path is a directory" 1 "$dir/o2/eval.json: exists and is not a regular file" \
  "$sdq" eval --model "$m" --data "$sq" --limit 1 --out "$dir/o2"
expect "eval --max-len 100000" 2 "--max-len 100000 > n_ctx (128)" \
  "$sdq" eval --model "$m" --data "$sq" --limit 1 --max-len 100000

# 3. sdq generate: bits as the help lists them, --abits only with --wbits,
# --config as in eval, prompt ids counted from 1.
gen="$sdq generate --model $m --prompt-ids 464 --max-new 1 --ids"
for a in "--wbits 0" "--wbits 1" "--wbits 9" "--wbits 4 --abits 0" "--wbits 4 --abits 1"; do
  expect "generate $a" 2 "must be 2..8, 16 or 32" $gen $a
done
expect "generate --abits alone" 2 "--abits needs --wbits" $gen --abits 4
expect "generate --config with --wbits" 2 "give --config or --wbits, not both" $gen --config 4 --wbits 4
expect "generate --bits" 2 "give the configuration with --config" $gen --bits 4
for c in all-4 4 fp32 "$configs/sandwich.cfg"; do
  $gen --config "$c" >"$dir/out" 2>"$dir/err"; rc=$?
  check "generate --config $c runs, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ] && [ -s "$dir/out" ]'
done
$gen --wbits 4 --abits 8 >"$dir/out" 2>"$dir/err"; rc=$?
check "generate --wbits 4 --abits 8 runs, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
expect "generate --prompt-ids out of range" 1 'item 2 "50257" is out of range (0..50256)' \
  "$sdq" generate --model "$m" --prompt-ids "464 50257" --ids
expect "generate --prompt-ids huge" 1 'item 1 "99999999999999999999" is out of range (0..50256)' \
  "$sdq" generate --model "$m" --prompt-ids "99999999999999999999" --ids

# 4. sdq configs: a bad file is reported, the good ones are still listed.
mkdir "$dir/cfg"
cp "$configs/all-4.cfg" "$configs/sandwich.cfg" "$dir/cfg/"
printf 'h.99.* 4\n' >"$dir/cfg/bad.cfg"
expect "configs with a bad .cfg" 1 "bad.cfg:1: pattern 'h.99.\*' matches no linear layer" \
  "$sdq" configs --dir "$dir/cfg"
check "configs counts the refused file" 'grep -q "1 of the 3 .cfg files in .* are not listed" "$dir/err"'
check "configs lists the good files" 'grep -q "^all-4 " "$dir/out" && grep -q "^sandwich " "$dir/out"'
check "configs does not list the bad file" '! grep -q "^bad " "$dir/out"'
mkdir "$dir/nocfg"
expect "configs of a folder without .cfg" 1 "contains no .cfg file" "$sdq" configs --dir "$dir/nocfg"

# 5. sdq tokenize --decode: items counted from 1, range written 0..V-1.
echo "15496 99999999999999999999999" | "$sdq" tokenize --decode >"$dir/out" 2>"$dir/err"; rc=$?
check "decode of a huge id exits 1, got $rc" '[ $rc -eq 1 ]'
check "decode of a huge id says out of range: $(cat "$dir/err")" \
  'grep -q "input item 2 \"99999999999999999999999\" is out of range (0..50256)" "$dir/err"'
echo "x1" | "$sdq" tokenize --decode >"$dir/out" 2>"$dir/err"
check "decode counts items from 1: $(cat "$dir/err")" 'grep -q "input item 1 \"x1\" is not a token id" "$dir/err"'

# 6. sdq score: "-" reads the predictions from stdin; a misaligned
# answer_start explains that sdq is stricter than the official script.
/usr/bin/env python3 - "$sq" "$dir" <<'EOF' || { echo "FAIL: python3 could not prepare the score files" >&2; fail=1; }
import json, sys
d = json.load(open(sys.argv[1]))
preds = {q["id"]: q["answers"][0]["text"] for a in d["data"] for p in a["paragraphs"] for q in p["qas"]}
json.dump(preds, open(sys.argv[2] + "/preds.json", "w"))
d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
json.dump(d, open(sys.argv[2] + "/shifted.json", "w"))
EOF
out=$("$sdq" score "$sq" - <"$dir/preds.json" 2>"$dir/err"); rc=$?
check "score - exits 0, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
check "score - scores stdin: $out" '[ "$out" = "{\"exact_match\": 100.0, \"f1\": 100.0}" ]'
"$sdq" score "$dir/shifted.json" - <"$dir/preds.json" >"$dir/out" 2>"$dir/err"; rc=$?
check "score of a shifted answer_start exits 1, got $rc" '[ $rc -eq 1 ]'
check "score explains the stricter check: $(cat "$dir/err")" \
  'grep -q "validates the data file more strictly than the official evaluate-v1.1.py" "$dir/err"'

[ $fail -eq 0 ] && echo "test_cli_command_checks: all checks passed"
exit $fail
