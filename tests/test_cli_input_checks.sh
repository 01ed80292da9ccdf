#!/bin/sh
# test_cli_input_checks.sh - the sdq commands reject out-of-range option
# values, malformed config.json fields, empty runs and malformed baselines
# with a non-zero exit code and a message naming the cause.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
data="${SDQ_SRCDIR:-.}/data/default"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdq-cli-checks-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1

vocab="${SDQ_SRCDIR:-.}/data/gpt2-tokenizer"
if [ ! -s "$vocab/encoder.json" ] || [ ! -s "$data/train.json" ]; then
  echo "test_cli_input_checks: $vocab or $data is missing (run scripts/bootstrap)" >&2
  exit 77
fi

# A one-step random base model of the default shape (about a second).
"$sdq" train --train-base --steps 1 --batch 1 --max-len 64 --quiet --out "$dir/t" \
  >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
base="$dir/t/base"
small="$dir/small.json"
python3 - "$data/eval.json" "$small" <<'PY' 2>/dev/null || cp "$data/eval.json" "$small"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["data"][0]["paragraphs"][0]
p["qas"] = p["qas"][:2]
json.dump({"version": d.get("version", "1.1"), "data": [{"title": "t", "paragraphs": [p]}]},
          open(sys.argv[2], "w"))
PY

# 1. Integer options beyond the range of int are rejected, not wrapped.
for arg in "--max-new 4294967297" "--max-len 4294967336" "--max-len 2147483648" \
           "--limit 99999999999999999999"; do
  "$sdq" eval --model "$base" --data "$small" --quiet $arg >"$dir/out" 2>"$dir/err"; rc=$?
  check "eval $arg exits 2, got $rc" '[ $rc -eq 2 ]'
  check "eval $arg names the range: $(cat "$dir/err")" 'grep -q "must be an integer in 1\.\." "$dir/err"'
done

# 2. config.json integers outside int are reported with the file and key.
mkdir "$dir/wrap"
ln -s "$base/model.safetensors" "$dir/wrap/model.safetensors"
sed 's/"n_head": *[0-9]*/"n_head": 4294967300/' "$base/config.json" >"$dir/wrap/config.json"
"$sdq" eval --model "$dir/wrap" --data "$small" --quiet >"$dir/out" 2>"$dir/err"; rc=$?
check "n_head 4294967300 fails, got $rc" '[ $rc -ne 0 ]'
check "n_head 4294967300 is named: $(cat "$dir/err")" \
  'grep -q "wrap/config.json: \"n_head\" is 4294967300, outside the range of int" "$dir/err"'

# 3. Non-finite attack radii and steps are rejected while parsing.
for arg in "--eps inf" "--eps 1e400" "--step inf" "--l2-scale nan" "--eps -1"; do
  "$sdq" attack --model "$base" --squad "$small" --quiet $arg >"$dir/out" 2>"$dir/err"; rc=$?
  check "attack $arg exits 2, got $rc" '[ $rc -eq 2 ]'
  check "attack $arg says why: $(cat "$dir/err")" 'grep -q "expected a number in 0..1000" "$dir/err"'
  check "attack $arg prints no result" '[ ! -s "$dir/out" ]'
done

# 4. Runs that evaluate nothing fail instead of printing 0.00.
echo '{"version": "1.1", "data": []}' >"$dir/empty.json"
: >"$dir/no-ids"
for args in "--data $dir/empty.json" "--data $small --ids $dir/no-ids" \
            "--data $small --max-len 20" "--data $small --max-new 500"; do
  "$sdq" eval --model "$base" $args --quiet >"$dir/out" 2>"$dir/err"; rc=$?
  check "eval $args fails, got $rc" '[ $rc -ne 0 ]'
  check "eval $args prints no score: $(cat "$dir/out")" '! grep -q "0\.00" "$dir/out"'
  check "eval $args says nothing is evaluated: $(cat "$dir/err")" \
    'grep -q "nothing is evaluated\|no room for a prompt" "$dir/err"'
done
"$sdq" eval --model "$base" --data "$small" --config fp32 --config "$dir/none" --quiet \
  >"$dir/out" 2>"$dir/err"; rc=$?
check "eval with a bad second --config fails, got $rc" '[ $rc -ne 0 ]'
check "eval with a bad second --config evaluates nothing: $(cat "$dir/out")" '[ ! -s "$dir/out" ]'
echo '{"no-such-id": "x"}' >"$dir/preds.json"
"$sdq" score "$small" "$dir/preds.json" >"$dir/out" 2>"$dir/err"
check "score with no matching id warns: $(cat "$dir/err")" 'grep -q "WARNING: no prediction id" "$dir/err"'

# An attack row without a success rate (no question with clean F1 > 0 on a
# random model) has null in the JSON and an empty cell in the CSV.
"$sdq" attack --model "$base" --squad "$small" --questions 2 --attack hotflip \
  --target fp32_lora --flips 1 --max-new 4 --quiet --json "$dir/a.json" --csv "$dir/a.csv" \
  2>"$dir/err"; rc=$?
check "attack exits 0, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
if grep -q '"success_rate": null' "$dir/a.json"; then
  check "null success rate is an empty CSV cell: $(tail -1 "$dir/a.csv")" \
    'tail -1 "$dir/a.csv" | grep -q "^hotflip,fp32_lora,[0-9.]*,[0-9.]*,[-0-9.]*,,2$"'
fi

# 6. Names, configuration files and the LoRA bank are checked before any
# long work starts.
for args in "--attacks pgd_linf,bogus" "--targets bogus"; do
  "$sdq" suite --quick --out "$dir/suite" $args >"$dir/out" 2>"$dir/err"; rc=$?
  check "suite $args exits 2, got $rc" '[ $rc -eq 2 ]'
  check "suite $args names it: $(cat "$dir/err")" 'grep -q "unknown attack.* .bogus." "$dir/err"'
  check "suite $args trained nothing" '! ls "$dir/suite/work" 2>/dev/null | grep -q stage-'
done
mkdir "$dir/cfgs"
echo "* 4" >"$dir/cfgs/a.cfg"
echo "garbage here" >"$dir/cfgs/b.cfg"
"$sdq" suite --quick --out "$dir/suite" --configs "$dir/cfgs" >"$dir/out" 2>"$dir/err"; rc=$?
check "suite with a bad config file exits 2, got $rc" '[ $rc -eq 2 ]'
check "suite names the bad config file: $(cat "$dir/err")" 'grep -q "cfgs/b.cfg" "$dir/err"'
"$sdq" train --model "$base" --bits 4 --steps 1 --batch 1 --max-len 64 --quiet --out "$dir/l" \
  >/dev/null 2>"$dir/err" || cat "$dir/err" >&2
"$sdq" attack --model "$base" --lora "$dir/l/lora" --squad "$small" --switch-bits 4,6 \
  --quiet >"$dir/out" 2>"$dir/err"; rc=$?
check "attack with a switch bits missing from the bank exits 2, got $rc" '[ $rc -eq 2 ]'
check "attack names the missing 6-bit set: $(cat "$dir/err")" 'grep -q "no 6-bit adapter set" "$dir/err"'
"$sdq" attack --model "$base" --squad "$small" --attack pgd_linf,bogus --quiet \
  >"$dir/out" 2>"$dir/err"; rc=$?
check "attack with an unknown attack exits 2, got $rc" '[ $rc -eq 2 ]'

# 7. A checkpoint does not resume on another base model of the same shape.
"$sdq" train --train-base --seed 2 --steps 1 --batch 1 --max-len 64 --quiet --out "$dir/t2" \
  >/dev/null 2>"$dir/err" || cat "$dir/err" >&2
"$sdq" train --model "$base" --bits 4 --steps 2 --batch 1 --max-len 64 --checkpoint-every 1 \
  --stop-after 1 --quiet --out "$dir/r" >/dev/null 2>"$dir/err" || cat "$dir/err" >&2
"$sdq" train --model "$dir/t2/base" --bits 4 --steps 2 --batch 1 --max-len 64 --resume \
  --quiet --out "$dir/r" >/dev/null 2>"$dir/err"; rc=$?
check "resume on another base fails, got $rc" '[ $rc -ne 0 ]'
check "resume on another base says so: $(cat "$dir/err")" 'grep -q "belongs to another run" "$dir/err"'
"$sdq" train --model "$base" --bits 4 --steps 2 --batch 1 --max-len 64 --resume \
  --quiet --out "$dir/r" >/dev/null 2>"$dir/err"; rc=$?
check "resume on the same base works, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'

# 8. With --quiet the suite prints no progress; interrupted, it says where its finished stages are and how to
# resume. (SIGTERM: a background job of a script ignores SIGINT.)
"$sdq" suite --quick --quiet --out "$dir/int" >/dev/null 2>"$dir/err" &
pid=$!
sleep 2
kill -TERM $pid
{ wait $pid; } 2>/dev/null; rc=$?
check "interrupted suite dies of the signal, got $rc" '[ $rc -eq 143 ]'
check "suite --quiet prints no stage line: $(head -3 "$dir/err")" '! grep -q "^\[stage\|^sdq suite: profile" "$dir/err"'
check "interrupted suite says how to resume: $(tail -1 "$dir/err")" \
  'grep -q "interrupted; finished stages are kept in .*int/work; rerun the same command" "$dir/err"'

# 9. Bit lists with an empty or repeated item are rejected; getopt's
# messages name the command as "sdq COMMAND".
for bits in "4,,8" "4,4" "4," ",4"; do
  "$sdq" eval --model "$base" --data "$small" --bits "$bits" --quiet >"$dir/out" 2>"$dir/err"; rc=$?
  check "eval --bits $bits fails, got $rc" '[ $rc -ne 0 ]'
  check "eval --bits $bits says why: $(cat "$dir/err")" 'grep -q "empty item\|appear twice" "$dir/err"'
done
"$sdq" train --no-such-option >/dev/null 2>"$dir/err"
check "getopt message names sdq train: $(head -1 "$dir/err")" 'head -1 "$dir/err" | grep -q "^sdq train: "'

# 10. Saving a base model refuses a config.json that is a FIFO before any
# weights are written (rename() would replace the FIFO and a reader of it
# would hang or be cut off).
mkdir -p "$dir/f/base"
mkfifo "$dir/f/base/config.json"
"$sdq" train --train-base --steps 1 --batch 1 --max-len 64 --quiet --out "$dir/f" \
  >/dev/null 2>"$dir/err"; rc=$?
check "saving over a FIFO config.json fails, got $rc" '[ $rc -ne 0 ]'
check "saving over a FIFO config.json says why: $(tail -1 "$dir/err")" \
  'grep -q "config.json: exists and is not a regular file (it is a FIFO), so it is not replaced" "$dir/err"'
check "saving over a FIFO config.json writes no weights" '[ ! -e "$dir/f/base/model.safetensors" ]'
check "the FIFO is left in place" '[ -p "$dir/f/base/config.json" ]'

# 11. An id list with only comments and blank lines evaluates nothing.
printf '# no ids here\n\n   \n' >"$dir/comment-ids"
"$sdq" eval --model "$base" --data "$small" --ids "$dir/comment-ids" --quiet \
  >"$dir/out" 2>"$dir/err"; rc=$?
check "eval with a comment-only id list fails, got $rc" '[ $rc -ne 0 ]'
check "eval with a comment-only id list says why: $(cat "$dir/err")" \
  'grep -q "lists no question ids .*so nothing is evaluated" "$dir/err"'

# 12. --compare warns when the baseline was recorded with another profile.
b="${SDQ_SRCDIR:-.}/baselines"
"$sdq" suite --compare "$b/default.json" --baseline "$b/quick.json" >"$dir/out" 2>"$dir/err"
check "compare across profiles warns: $(head -3 "$dir/out")" \
  'grep -q "^WARNING profile differs: baseline \"quick\", this run \"default\"" "$dir/out"'
"$sdq" suite --compare "$b/quick.json" --baseline "$b/quick.json" >"$dir/out" 2>"$dir/err"
check "compare within one profile does not warn" '! grep -q "^WARNING" "$dir/out"'

# 13. --compare names the file that is wrong, and refuses run options.
python3 - "$b/quick.json" "$dir" <<'PY' || cp "$b/quick.json" "$dir/nometrics.json"
import json, sys
d = json.load(open(sys.argv[1]))
d.pop("metrics")
json.dump(d, open(sys.argv[2] + "/nometrics.json", "w"))
PY
"$sdq" suite --compare "$dir/nometrics.json" --baseline "$b/quick.json" >"$dir/out" 2>"$dir/err"
rc=$?
check "compare with a malformed results file fails, got $rc" '[ $rc -eq 1 ]'
check "compare names the malformed file: $(cat "$dir/err")" \
  'grep -q "nometrics.json has no \"metrics\" object" "$dir/err"'
"$sdq" suite --compare "$dir" --baseline "$b/quick.json" >"$dir/out" 2>"$dir/err"
check "compare with a folder says so: $(cat "$dir/err")" 'grep -q "is a folder" "$dir/err"'
"$sdq" suite --quick --compare "$b/quick.json" --baseline "$b/quick.json" >"$dir/out" 2>"$dir/err"
rc=$?
check "compare with --quick exits 2, got $rc" '[ $rc -eq 2 ]'
check "compare with --quick says why: $(cat "$dir/err")" 'grep -q "does not apply to --compare" "$dir/err"'

[ $fail -eq 0 ] && echo "test_cli_input_checks: all checks passed"
exit $fail
