#!/usr/bin/env bash
# test_download_scripts.sh - offline tests of the checksum and install logic of scripts/download-{gpt2,squad}.sh.
#
# Nothing is downloaded from the network: the files come from local folders
# (--from-dir) or file:// URLs (--base-url, only when curl is installed).
# The SQuAD dev file is read from $SDQ_SRCDIR/../shared/data/squad; the test
# skips (exit 77) when it is absent.
set -uo pipefail

srcdir=${SDQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
gpt2="$srcdir/scripts/download-gpt2.sh"
squad="$srcdir/scripts/download-squad.sh"
squad_data="$srcdir/../shared/data/squad"

if [ ! -f "$squad_data/dev-v1.1.json" ]; then
  echo "SKIP: $squad_data/dev-v1.1.json not found (the real SQuAD dev file is needed)" >&2
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sdq-test-download-XXXXXX")
trap 'rm -rf -- "$work"' EXIT
failures=0

check() { # DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what" >&2
    failures=$((failures + 1))
  fi
}

# run EXPECTED_STATUS SCRIPT ARGS...: runs the script, stdout to $work/out,
# stderr to $work/err, and checks its exit status.
run() {
  local want=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: '$*' exited $got, expected $want; its stderr:" >&2
    sed 's/^/  | /' "$work/err" >&2
    failures=$((failures + 1))
    return 1
  fi
  return 0
}

no_temporaries() { ! find "$1" -name '.*.??????' -print -quit | grep -q .; }
same() { cmp -s -- "$1" "$2"; }
absent() { [ ! -e "$1" ]; }
contains() { grep -q -- "$2" "$1"; }

# ---------------------------------------------------------------- SQuAD

dest="$work/squad1"
run 0 "$squad" --only dev --from-dir "$squad_data" "$dest"
check "squad: verified dev file installed" same "$squad_data/dev-v1.1.json" "$dest/dev-v1.1.json"
check "squad: no temporary files left" no_temporaries "$dest"
run 0 "$squad" --only dev --from-dir "$work" "$dest"
check "squad: present file not fetched again" contains "$work/err" "already present"

corrupt="$work/corrupt"
mkdir -p "$corrupt"
cp "$squad_data/dev-v1.1.json" "$corrupt/dev-v1.1.json"
printf ' ' >>"$corrupt/dev-v1.1.json"
printf '{"version": "1.1", "data": []}' >"$corrupt/train-v1.1.json"
dest="$work/squad2"
run 1 "$squad" --from-dir "$corrupt" "$dest"
check "squad: mismatch names the file" contains "$work/err" "dev-v1.1.json: sha256 mismatch"
check "squad: mismatch shows the expected sum" contains "$work/err" "expected 95aa6a52"
check "squad: corrupt dev not installed" absent "$dest/dev-v1.1.json"
check "squad: wrong train not installed" absent "$dest/train-v1.1.json"
check "squad: no temporary files after mismatch" no_temporaries "$dest"

partial="$work/partial"
mkdir -p "$partial"
cp "$squad_data/dev-v1.1.json" "$partial/"
dest="$work/squad3"
run 1 "$squad" --from-dir "$partial" "$dest"
check "squad: missing train reported" contains "$work/err" "train-v1.1.json: not found"
check "squad: dev installed despite missing train" same "$squad_data/dev-v1.1.json" "$dest/dev-v1.1.json"

run 2 "$squad" --only test "$work/squad4"
check "squad: bad --only rejected" contains "$work/err" "expected dev or train"
run 2 "$squad"
check "squad: missing DEST rejected" contains "$work/err" "missing DEST"

if command -v curl >/dev/null 2>&1; then
  dest="$work/squad5"
  run 0 "$squad" --only dev --base-url "file://$squad_data" "$dest"
  check "squad: file:// download verified" same "$squad_data/dev-v1.1.json" "$dest/dev-v1.1.json"
  run 1 env SDQ_SQUAD_BASE_URL="file://$corrupt" "$squad" --only dev "$work/squad6"
  check "squad: file:// mismatch rejected" absent "$work/squad6/dev-v1.1.json"
else
  echo "note: curl not installed, file:// download checks skipped"
fi

# ---------------------------------------------------------------- GPT-2

source_dir="$work/gpt2-source"
mkdir -p "$source_dir"
head -c 100000 /dev/urandom >"$source_dir/model.safetensors"
printf '{"n_layer": 12, "n_head": 12}\n' >"$source_dir/config.json"
printf '{"!": 0}\n' >"$source_dir/vocab.json"
printf '#version: 0.2\nĠ t\n' >"$source_dir/merges.txt"

# 1. no trusted sums: print them, install nothing, exit 3
dest="$work/gpt2a"
run 3 "$gpt2" --from-dir "$source_dir" "$dest"
(cd "$source_dir" && sha256sum model.safetensors config.json vocab.json merges.txt) >"$work/expected-sums"
check "gpt2: computed sums printed in sha256sum format" same "$work/expected-sums" "$work/out"
check "gpt2: nothing installed without sums" absent "$dest/model.safetensors"
check "gpt2: message says how to pass sums" contains "$work/err" "--sums FILE"

# 2. with the sums: verify the cached downloads (no fetch needed) and install
cp "$work/out" "$work/trusted-sums"
mkdir -p "$work/empty"
run 0 "$gpt2" --from-dir "$work/empty" --sums "$work/trusted-sums" "$dest"
for name in model.safetensors config.json vocab.json merges.txt; do
  check "gpt2: $name installed from the cache" same "$source_dir/$name" "$dest/$name"
done
check "gpt2: SHA256SUMS written" same "$work/expected-sums" "$dest/SHA256SUMS"
check "gpt2: download cache removed" absent "$dest/.download"
check "gpt2: no temporary files left" no_temporaries "$dest"

# 3. one wrong sum: that file is rejected and its download discarded
wrong=0000000000000000000000000000000000000000000000000000000000000000
dest="$work/gpt2c"
grep -v model.safetensors "$work/trusted-sums" >"$work/three-sums"
run 1 "$gpt2" --from-dir "$source_dir" --sums "$work/three-sums" --sha256 "model.safetensors=$wrong" "$dest"
check "gpt2: mismatch names the file" contains "$work/err" "model.safetensors: sha256 mismatch"
check "gpt2: mismatched file not installed" absent "$dest/model.safetensors"
check "gpt2: mismatched download discarded" absent "$dest/.download/model.safetensors"
check "gpt2: other files installed" same "$source_dir/config.json" "$dest/config.json"
check "gpt2: no SHA256SUMS after a failure" absent "$dest/SHA256SUMS"

# 4. usage errors
run 2 "$gpt2" --sha256 model.safetensors=xyz "$work/gpt2d"
check "gpt2: malformed sum rejected" contains "$work/err" "not a 64-digit hex sha256"
run 2 "$gpt2" --sha256 "pytorch_model.bin=$wrong" "$work/gpt2d"
check "gpt2: unknown file name rejected" contains "$work/err" "unknown file 'pytorch_model.bin'"
printf 'not a sums line\n' >"$work/bad-sums"
run 2 "$gpt2" --sums "$work/bad-sums" "$work/gpt2d"
check "gpt2: malformed sums file rejected" contains "$work/err" "bad-sums line 1"
run 2 "$gpt2" --from-dir "$work/none" "$work/gpt2d"
check "gpt2: missing --from-dir folder rejected" contains "$work/err" "is not a folder"

if command -v curl >/dev/null 2>&1; then
  dest="$work/gpt2e"
  run 0 "$gpt2" --base-url "file://$source_dir" --sums "$work/trusted-sums" "$dest"
  check "gpt2: file:// download verified" same "$source_dir/model.safetensors" "$dest/model.safetensors"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all download-script checks passed"
