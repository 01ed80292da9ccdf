#!/bin/sh
# test_eval_inputs.sh - 'sdq eval' and 'sdq train' on awkward id lists and
# configuration arguments: long lines, repeated ids, a byte order mark, NUL
# bytes, directories, duplicate configurations, and LoRA banks that lack a
# requested bits. Each case must fail before any result row is printed, or
# succeed with scores that 'sdq score' reproduces from the written file.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
data="${SDQ_SRCDIR:-.}/data/default"
vocab="${SDQ_SRCDIR:-.}/data/gpt2-tokenizer"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
if [ ! -s "$vocab/encoder.json" ] || [ ! -s "$data/eval.json" ]; then
  echo "test_eval_inputs: $vocab or $data is missing (run scripts/bootstrap)" >&2
  exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdq-eval-inputs-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

# A one-step random base model and 4/8-bit adapters trained one step on it.
"$sdq" train --train-base --steps 1 --batch 1 --max-len 64 --quiet --out "$dir/t" \
  >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
base="$dir/t/base"
"$sdq" train --model "$base" --bits 4,8 --schedule random --steps 1 --batch 1 --max-len 64 \
  --quiet --out "$dir/l" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }

# The first three questions of the data, in their paragraphs.
small="$dir/small.json"
python3 - "$data/eval.json" "$small" "$dir/ids" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
paragraphs, ids = [], []
for p in (p for a in d["data"] for p in a["paragraphs"]):
    p["qas"] = p["qas"][:3 - len(ids)]
    paragraphs.append(p)
    ids += [q["id"] for q in p["qas"]]
    if len(ids) == 3:
        break
json.dump({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]},
          open(sys.argv[2], "w"))
open(sys.argv[3], "w").write("".join(i + "\n" for i in ids))
PY
id1=$(sed -n 1p "$dir/ids"); id2=$(sed -n 2p "$dir/ids"); id3=$(sed -n 3p "$dir/ids")

run_eval() { "$sdq" eval --model "$base" --data "$small" --max-len 64 --max-new 4 --quiet "$@" \
  >"$dir/out" 2>"$dir/err"; }

# 1. A comment of any length is one line: the id at its end is not read.
y=$(head -c 600 /dev/zero | tr '\0' y)
printf '#%s%s\n%s\n' "$y" "$id1" "$id2" >"$dir/ids-long"
run_eval --ids "$dir/ids-long" --out "$dir/o1"; rc=$?
check "long comment line: exit $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
check "long comment line evaluates only $id2" \
  'python3 -c "import json,sys; p=json.load(open(sys.argv[1])); sys.exit(list(p) != [sys.argv[2]])" "$dir/o1/predictions-fp32.json" "$id2"'

# 2. Spaces before an id do not cut it or shift the line numbers.
sp=$(head -c 1000 /dev/zero | tr '\0' ' ')
printf '%s\n%s%s\nbogus\n' "$id3" "$sp" "$id1" >"$dir/ids-space"
run_eval --ids "$dir/ids-space"; rc=$?
check "unknown id after a long line fails, got $rc" '[ $rc -ne 0 ] && [ ! -s "$dir/out" ]'
check "the unknown id is reported on line 3: $(cat "$dir/err")" \
  'grep -q "ids-space:3: question id '"'"'bogus'"'"' is not in" "$dir/err"'

# 3. A repeated id is rejected, naming both lines.
printf '%s\n%s\n# again\n%s\n' "$id1" "$id2" "$id1" >"$dir/ids-dup"
run_eval --ids "$dir/ids-dup"; rc=$?
check "repeated id fails before any row, got $rc" '[ $rc -ne 0 ] && [ ! -s "$dir/out" ]'
check "repeated id names both lines: $(cat "$dir/err")" \
  'grep -q "ids-dup:4: id $id1 already listed at line 1" "$dir/err"'

# 4. Printed EM/F1 equal what 'sdq score' computes from the written file
# (every question listed once, in another order, BOM and CRLF included).
printf '\357\273\277%s\r\n%s\r\n%s\r\n' "$id3" "$id1" "$id2" >"$dir/ids-all"
run_eval --ids "$dir/ids-all" --bits 4,8 --lora "$dir/l/lora" --out "$dir/o4"; rc=$?
check "ids with a byte order mark: exit $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
for name in 4bit 8bit; do
  "$sdq" score "$small" "$dir/o4/predictions-$name.json" >"$dir/score" 2>/dev/null
  check "$name: eval.json scores equal sdq score ($(cat "$dir/score"))" \
    'python3 - "$dir/o4/eval.json" "$dir/score" "$name" <<'"'"'PY'"'"'
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["results"]}
r, s = rows[sys.argv[3]], json.load(open(sys.argv[2]))
sys.exit(not (r["n_questions"] == 3 and abs(r["exact_match"] - s["exact_match"]) < 1e-9
              and abs(r["f1"] - s["f1"]) < 1e-9))
PY'
done

# 5. A NUL byte and a directory are named.
printf '%s\nab\000cd\n' "$id1" >"$dir/ids-nul"
run_eval --ids "$dir/ids-nul"; rc=$?
check "NUL byte fails, got $rc" '[ $rc -ne 0 ] && [ ! -s "$dir/out" ]'
check "NUL byte names line 2: $(cat "$dir/err")" 'grep -q "ids-nul:2: .*NUL" "$dir/err"'
mkdir "$dir/a-dir"
run_eval --ids "$dir/a-dir"; rc=$?
check "directory as --ids fails, got $rc" '[ $rc -ne 0 ]'
check "directory as --ids is called one: $(cat "$dir/err")" 'grep -q "a-dir is a directory" "$dir/err"'

# 6. A directory as a configuration is an error in eval and train.
run_eval --config "$dir/a-dir"; rc=$?
check "eval --config DIR fails, got $rc" '[ $rc -ne 0 ] && [ ! -s "$dir/out" ]'
check "eval --config DIR names it: $(cat "$dir/err")" 'grep -q "a-dir is a directory" "$dir/err"'
"$sdq" train --model "$base" --schedule random --config "$dir/a-dir" --config 4 --steps 1 \
  --batch 1 --max-len 64 --quiet --out "$dir/x6" >/dev/null 2>"$dir/err"; rc=$?
check "train --config DIR fails, got $rc" '[ $rc -ne 0 ] && [ ! -e "$dir/x6/lora" ]'
check "train --config DIR names it: $(cat "$dir/err")" 'grep -q "a-dir is a directory" "$dir/err"'

# 7. Configurations that would run (or be named) the same are rejected.
for args in "--bits 16,32" "--config all-4 --config all-4" "--config 4 --config all-4" \
            "--config 16 --config fp32"; do
  run_eval $args; rc=$?
  check "eval $args fails before any row, got $rc" '[ $rc -ne 0 ] && [ ! -s "$dir/out" ]'
  check "eval $args says why: $(cat "$dir/err")" \
    'grep -q "full precision\|given twice\|same bits" "$dir/err"'
  "$sdq" train --model "$base" --schedule random --joint --distill $args --steps 1 --batch 1 \
    --max-len 64 --quiet --out "$dir/x7" >/dev/null 2>"$dir/err"; rc=$?
  check "train $args fails, got $rc" '[ $rc -ne 0 ] && [ ! -e "$dir/x7/lora" ]'
  check "train $args says why: $(cat "$dir/err")" \
    'grep -q "full precision\|given twice\|same bits" "$dir/err"'
done
run_eval --bits 16 --out "$dir/o7"; rc=$?
check "eval --bits 16 runs, got $rc: $(cat "$dir/err")" '[ $rc -eq 0 ]'
check "the 16-bit row is called 16bit: $(cat "$dir/out")" \
  'grep -q "^16bit .* 16\.000" "$dir/out" && [ -s "$dir/o7/predictions-16bit.json" ]'

# 8. Bits the LoRA bank lacks are found before the first row.
run_eval --lora "$dir/l/lora" --bits 4,6,8,32; rc=$?
check "eval --bits 4,6,8,32 with 4/8 adapters fails, got $rc" '[ $rc -ne 0 ]'
check "it prints no row: $(cat "$dir/out")" '[ ! -s "$dir/out" ]'
check "it names the missing bits: $(cat "$dir/err")" \
  'grep -q "configuration '"'"'6'"'"' runs .* at 6 bits, but the adapters in .* serve only 4, 8, fp32" "$dir/err"'

exit $fail
