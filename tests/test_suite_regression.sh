#!/bin/sh
# test_suite_regression.sh - the regression suite end to end. The suite is
# run on a small training set that it also evaluates on, so that a few
# minutes of training give high F1. A rerun with the same seed must repeat
# every metric exactly and pass the baseline check. A deliberately
# mis-quantized configuration must fail the check, and the failure must name
# that configuration. The bad configuration is all-8.cfg rewritten to
# quantize every layer to 2 bits.
#
# The runs take a few minutes on 2 cores, so the test is opt-in: set
# SDQ_LONG_TESTS=1. Without it the test is skipped (exit 77).
set -eu

if [ "${SDQ_LONG_TESTS:-0}" != 1 ]; then
  echo "skipped: set SDQ_LONG_TESTS=1 to run the suite end to end (a few minutes)"
  exit 77
fi

builddir=${SDQ_BUILDDIR:-.}
srcdir=${SDQ_SRCDIR:-.}
sdq="$builddir/sdq"
work=$(mktemp -d /tmp/sdq-suite-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1. A small SQuAD file: the first 4 paragraphs of the default training set.
python3 - "$srcdir/data/default/train.json" "$work/small.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
art = d["data"][0]
art["paragraphs"] = art["paragraphs"][:4]
json.dump({"version": "1.1", "data": [art]}, open(sys.argv[2], "w"))
PY

run_suite() {
  "$sdq" suite --quiet --train "$work/small.json" --eval "$work/small.json" \
    --pretrain-steps 150 --train-steps 20 --cpt-steps 20 --cpt-cycles 1 \
    --eval-questions 16 --attack-questions 4 --targets fp32_lora "$@"
}

# 2. The reference run.
run_suite --out "$work/a" >/dev/null
python3 - "$work/a/results.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
f1 = m["configs/all-8/f1"]
if f1 < 30:
    sys.exit("the reference run reached only F1 %.1f at 8 bits; too low to detect a regression" % f1)
PY

# 3. Same seed: rerun the evaluation, CPT and attack stages in a copy (the
# training stages are reused from their markers) and compare.
cp -r "$work/a" "$work/b"
rm -f "$work/b/work/stage-configs.json" "$work/b/work/stage-cpt.json" \
      "$work/b/work/stage-attacks.json"
run_suite --out "$work/b" --baseline "$work/a/results.json" >"$work/b.txt"
python3 - "$work/a/results.json" "$work/b/results.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["metrics"]
b = json.load(open(sys.argv[2]))["metrics"]
diff = [k for k in a if a[k] != b.get(k)]
if diff:
    sys.exit("same seed, different metrics: " + ", ".join(diff))
PY

# 4. A real regression: all-8.cfg now quantizes every layer to 2 bits. Only
# the configuration stage reruns. The check must fail and name all-8.
# NOTE: on this memorised set the model kept F1 100 at 2 bits when this test
# was written, so the metrics that fail are the average bits. F1 is compared
# too, but it may pass.
cp -r "$srcdir/configs" "$work/configs"
printf '# deliberately mis-quantized for the regression test\n*  2\n' >"$work/configs/all-8.cfg"
cp -r "$work/a" "$work/c"
if run_suite --out "$work/c" --configs "$work/configs" \
     --baseline "$work/a/results.json" >"$work/c.txt"; then
  echo "FAIL: the mis-quantized all-8 configuration passed the baseline check"
  cat "$work/c.txt"
  exit 1
fi
if ! grep -q "FAIL  configs/all-8/" "$work/c.txt"; then
  echo "FAIL: the baseline check did not name a metric of configs/all-8"
  cat "$work/c.txt"
  exit 1
fi
grep "configs/all-8/f1" "$work/c.txt"
echo "ok: same-seed rerun identical; mis-quantized all-8 detected"
