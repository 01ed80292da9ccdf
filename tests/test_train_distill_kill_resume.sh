#!/usr/bin/env bash
# test_train_distill_kill_resume.sh - checks the usage errors of --distill,
# then runs the SIGKILL-and-resume check of test_train_kill_resume.sh on a
# joint run with distillation from 8 to 4 bits.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"

# Each case must exit with status 2 and print the expected message.
expect_usage_error() {
  local needle=$1
  shift
  local out rc
  out=$("$sdq" train --out /nonexistent/sdq-distill "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL: sdq train $* exited with $rc and printed: $out (expected '$needle')"
    exit 1
  fi
}
expect_usage_error "--distill needs --joint" --distill --schedule random --bits 4,8
expect_usage_error "--distill needs --joint" --joint --distill --bits 8
expect_usage_error "need --distill" --joint --schedule random --bits 4,8 --distill-alpha 0.2
expect_usage_error "--distill-alpha must be a number in 0..1" --joint --distill \
  --schedule random --bits 4,8 --distill-alpha 1.5
expect_usage_error "--distill-temp must be a number in 0.001..100" --joint --distill \
  --schedule random --bits 4,8 --distill-temp 0

exec bash "$(dirname "$0")/test_train_kill_resume.sh" --joint --distill --distill-alpha 0.7 \
  --distill-temp 1.5
