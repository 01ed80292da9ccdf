#!/bin/sh
# test_cmd_score_tokenize.sh - 'sdq score' and 'sdq tokenize --decode' reject
# input they cannot handle (no questions, unreadable files, NUL bytes) with
# exit code 1 and a message that names the cause.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdq-cmd-score-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT

echo '{}' > "$dir/preds.json"
echo '{"version": "1.1", "data": []}' > "$dir/empty.json"
out=$("$sdq" score "$dir/empty.json" "$dir/preds.json" 2>"$dir/err"); rc=$?
check "score with no questions exits 1, got $rc" '[ $rc -eq 1 ]'
check "score with no questions prints no score: $out" '[ -z "$out" ]'
check "score with no questions says so: $(cat "$dir/err")" 'grep -q "has no questions" "$dir/err"'

"$sdq" score "$dir/missing.json" "$dir/preds.json" 2>"$dir/err"; rc=$?
check "score of a missing file exits 1, got $rc" '[ $rc -eq 1 ]'
check "score of a missing file names the cause: $(cat "$dir/err")" \
  'grep -q "cannot open .*missing.json: No such file or directory" "$dir/err"'

# The tokenizer files come from scripts/bootstrap; without them only the
# score checks run.
vocab="${SDQ_SRCDIR:-.}/data/gpt2-tokenizer"
if [ ! -s "$vocab/encoder.json" ]; then
  echo "test_cmd_score_tokenize: $vocab/encoder.json is missing (run scripts/bootstrap); tokenize checks not run" >&2
  [ $fail -eq 0 ] && echo "test_cmd_score_tokenize: score checks passed"
  exit $fail
fi
printf '15496 11\0 995' | "$sdq" tokenize --vocab "$vocab" --decode >"$dir/out" 2>"$dir/err"; rc=$?
check "decode of a NUL byte exits 1, got $rc" '[ $rc -eq 1 ]'
check "decode of a NUL byte names its offset: $(cat "$dir/err")" 'grep -q "NUL byte at byte offset 8" "$dir/err"'
check "decode of a NUL byte writes nothing" '[ ! -s "$dir/out" ]'

out=$(printf '15496 11 995' | "$sdq" tokenize --vocab "$vocab" --decode); rc=$?
check "decode of ids exits 0, got $rc" '[ $rc -eq 0 ]'
check "decode of ids gives the text, got '$out'" '[ "$out" = "Hello, world" ]'

[ $fail -eq 0 ] && echo "test_cmd_score_tokenize: all checks passed"
exit $fail
