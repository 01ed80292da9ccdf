#!/bin/sh
# test_suite_regression.sh - the regression suite end to end on the embedded
# default (quick profile): a rerun with the same seed repeats every metric
# exactly and passes the baseline check, and a deliberately mis-quantized
# configuration (an 8-bit configuration file whose rules quantize every layer
# to 2 bits) fails the check, naming the metric.
#
# This runs the quick suite (several minutes on 2 cores), so it is opt-in:
# set SDQ_LONG_TESTS=1. Without it the test is skipped (exit 77).
set -eu

if [ "${SDQ_LONG_TESTS:-0}" != 1 ]; then
  echo "skipped: set SDQ_LONG_TESTS=1 to run the quick suite end to end (several minutes)"
  exit 77
fi

builddir=${SDQ_BUILDDIR:-.}
srcdir=${SDQ_SRCDIR:-.}
sdq="$builddir/sdq"
work=$(mktemp -d /tmp/sdq-suite-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1. The reference run.
"$sdq" suite --quick --quiet --out "$work/a" >/dev/null

# 2. Same seed: rerun the evaluation, CPT and attack stages in a copy (the
# training stages are reused from their markers) and compare.
cp -r "$work/a" "$work/b"
rm -f "$work/b/work/stage-configs.json" "$work/b/work/stage-cpt.json" \
      "$work/b/work/stage-attacks.json"
"$sdq" suite --quick --quiet --out "$work/b" --baseline "$work/a/results.json" >"$work/b.txt"
python3 - "$work/a/results.json" "$work/b/results.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["metrics"]
b = json.load(open(sys.argv[2]))["metrics"]
diff = [k for k in a if a[k] != b.get(k)]
if diff:
    sys.exit("same seed, different metrics: " + ", ".join(diff))
PY

# 3. A real regression: the 8-bit configuration now quantizes every layer to
# 2 bits. Only the configuration stage reruns; the check must fail and name
# that configuration's F1.
configs="$work/configs"
cp -r "$srcdir/configs" "$configs"
target=""
for f in "$configs"/*; do
  case "$(basename "$f")" in *8*) target=$f; break ;; esac
done
if [ -z "$target" ]; then
  echo "FAIL: no 8-bit configuration file found in $srcdir/configs"
  exit 1
fi
name=$(basename "$target"); name=${name%.*}
printf '# deliberately mis-quantized for the regression test\n*  2\n' >"$target"
cp -r "$work/a" "$work/c"
if "$sdq" suite --quick --quiet --out "$work/c" --configs "$configs" \
     --baseline "$work/a/results.json" >"$work/c.txt"; then
  echo "FAIL: the mis-quantized configuration $name passed the baseline check"
  cat "$work/c.txt"
  exit 1
fi
if ! grep -q "FAIL  configs/$name/f1" "$work/c.txt"; then
  echo "FAIL: the baseline check did not name configs/$name/f1"
  cat "$work/c.txt"
  exit 1
fi
echo "ok: same-seed rerun identical; mis-quantized $name detected"
