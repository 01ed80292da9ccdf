#!/bin/sh
# test_cmd_cpu.sh - 'sdq cpu': every forced variant reports itself for every
# kernel, and an unknown or unsupported SDQ_ISA fails with a message that
# lists what this machine supports.
set -u
sdq="${SDQ_BUILDDIR:-.}/sdq"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

out=$(env -u SDQ_ISA "$sdq" cpu) || { echo "FAIL: sdq cpu exited non-zero" >&2; exit 1; }
check "lists the supported variants" 'echo "$out" | grep -q "^supported variants: scalar"'
check "names the active variant" 'echo "$out" | grep -q "^active variant: .* (best supported)$"'
check "lists sgemm_nt" 'echo "$out" | grep -q "^sgemm_nt "'
supported=$(echo "$out" | sed -n 's/^supported variants: //p')

for isa in $supported; do
  forced=$(SDQ_ISA=$isa "$sdq" cpu) || { echo "FAIL: SDQ_ISA=$isa sdq cpu exited non-zero" >&2; fail=1; continue; }
  check "SDQ_ISA=$isa is active" 'echo "$forced" | grep -q "^active variant: $isa (set by SDQ_ISA)$"'
  # avx2 and scalar implement every kernel themselves.
  case $isa in
    scalar|avx2)
      others=$(echo "$forced" | sed -n '/^kernel /,$p' | tail -n +2 | awk -v v="$isa" '$2 != v')
      check "SDQ_ISA=$isa implements every kernel (others: $others)" '[ -z "$others" ]' ;;
  esac
done

for isa in scalar avx2 avx512 avx512vnni amx neon neondot; do
  case " $supported " in *" $isa "*) continue ;; esac
  err=$(SDQ_ISA=$isa "$sdq" cpu 2>&1 >/dev/null); rc=$?
  check "SDQ_ISA=$isa (unsupported) exits 1, got $rc" '[ $rc -eq 1 ]'
  check "SDQ_ISA=$isa message names what is supported: $err" \
    'echo "$err" | grep -q "SDQ_ISA=$isa: .*supported here: $supported$"'
done

err=$(SDQ_ISA=avx3 "$sdq" cpu 2>&1 >/dev/null); rc=$?
check "SDQ_ISA=avx3 (unknown) exits 1, got $rc" '[ $rc -eq 1 ]'
check "SDQ_ISA=avx3 message lists the valid names: $err" 'echo "$err" | grep -q "valid names are scalar|avx2"'

"$sdq" cpu --no-such-option >/dev/null 2>&1; rc=$?
check "unknown option is a usage error (2), got $rc" '[ $rc -eq 2 ]'
exit $fail
