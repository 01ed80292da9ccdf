#!/usr/bin/env bash
# download-gpt2.sh - fetch Hugging Face GPT-2 (124M) weights and tokenizer files, verified by sha256.
#
# Usage: scripts/download-gpt2.sh [options] DEST
#
# Downloads model.safetensors, config.json, vocab.json and merges.txt of the
# Hugging Face model "openai-community/gpt2" (formerly "gpt2") into DEST.
#
# Checksums: this script pins NO sha256 for these files, because none was
# computed from a genuine download when it was written (there was no network
# access), and a sum copied from elsewhere could not be checked. So on
# the first run it downloads each file, prints the sha256 it computed and
# stops without installing anything. Compare each printed sum with one from
# a source you trust: the SHA256 that the Hugging Face file page
# (https://huggingface.co/openai-community/gpt2/blob/<revision>/<file>) shows
# for Git LFS files, if it shows one, or a download on another machine. Then
# pass the sums you trust with --sha256 or --sums. Files already downloaded are kept in DEST/.download and are verified
# again instead of downloaded twice.
#
# Options:
#   --sha256 NAME=HEX   expected sha256 of file NAME (repeatable)
#   --sums FILE         expected sums in sha256sum format ("HEX  NAME" lines);
#                       every run that verifies all four files writes DEST/SHA256SUMS
#                       in this format
#   --revision REV      Hugging Face branch, tag or commit (default: main). A
#                       commit hash makes the download reproducible.
#   --base-url URL      download from URL/NAME instead of
#                       https://huggingface.co/openai-community/gpt2/resolve/REV
#                       (file:// works with curl; also $SDQ_GPT2_BASE_URL)
#   --from-dir DIR      copy the files from DIR instead of downloading them
#   -h, --help          show this help
#
# A file is installed only when its sha256 matches: it is downloaded to a
# temporary file in DEST/.download, verified, then renamed into DEST.
# Exit status: 0 when all four files are installed and verified, 1 on a
# download or checksum failure, 2 on a usage error, 3 when sums are missing
# (the computed sums are printed).
set -euo pipefail

FILES=(model.safetensors config.json vocab.json merges.txt)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

die() { printf 'download-gpt2.sh: %s\n' "$*" >&2; exit "${2:-1}"; }
log() { printf 'download-gpt2.sh: %s\n' "$*" >&2; }

declare -A expected=()
revision=main
base_url="${SDQ_GPT2_BASE_URL:-}"
from_dir=
dest=

add_sum() { # NAME HEX ORIGIN
  local name=$1 hex=${2,,} origin=$3
  [[ $hex =~ ^[0-9a-f]{64}$ ]] || die "$origin: '$2' is not a 64-digit hex sha256" 2
  local known=0 f
  for f in "${FILES[@]}"; do [ "$f" = "$name" ] && known=1; done
  [ "$known" = 1 ] || die "$origin: unknown file '$name' (expected one of: ${FILES[*]})" 2
  if [ -n "${expected[$name]:-}" ] && [ "${expected[$name]}" != "$hex" ]; then
    die "$origin: two different sums given for $name" 2
  fi
  expected[$name]=$hex
}

while [ $# -gt 0 ]; do
  case $1 in
    --sha256)
      [ $# -ge 2 ] || die "--sha256 needs NAME=HEX" 2
      [[ $2 == *=* ]] || die "--sha256 '$2': expected NAME=HEX" 2
      add_sum "${2%%=*}" "${2#*=}" "--sha256"
      shift 2 ;;
    --sums)
      [ $# -ge 2 ] || die "--sums needs a file" 2
      [ -r "$2" ] || die "--sums: cannot read '$2'" 2
      line_no=0
      while IFS= read -r line || [ -n "$line" ]; do
        line_no=$((line_no + 1))
        [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
        [[ $line =~ ^([0-9A-Fa-f]+)[[:space:]]+\*?([^[:space:]]+)[[:space:]]*$ ]] ||
          die "$2 line $line_no: expected 'HEX  NAME', got '$line'" 2
        add_sum "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" "$2 line $line_no"
      done < "$2"
      shift 2 ;;
    --revision)
      [ $# -ge 2 ] || die "--revision needs a value" 2
      revision=$2; shift 2 ;;
    --base-url)
      [ $# -ge 2 ] || die "--base-url needs a URL" 2
      base_url=$2; shift 2 ;;
    --from-dir)
      [ $# -ge 2 ] || die "--from-dir needs a folder" 2
      from_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" 2 ;;
    *)
      [ -z "$dest" ] || die "more than one DEST given ('$dest', '$1')" 2
      dest=$1; shift ;;
  esac
done
[ -n "$dest" ] || die "missing DEST (see --help)" 2
[ -z "$from_dir" ] || [ -d "$from_dir" ] || die "--from-dir: '$from_dir' is not a folder" 2
[ -n "$base_url" ] || base_url="https://huggingface.co/openai-community/gpt2/resolve/$revision"

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }

# fetch NAME OUT: download or copy NAME into OUT (a new file).
fetch() {
  local name=$1 out=$2
  if [ -n "$from_dir" ]; then
    [ -f "$from_dir/$name" ] || { log "$from_dir/$name: not found"; return 1; }
    cp -- "$from_dir/$name" "$out"
  elif command -v curl >/dev/null 2>&1; then
    curl --fail --location --silent --show-error --retry 3 -o "$out" -- "$base_url/$name"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet -O "$out" -- "$base_url/$name"
  else
    log "neither curl nor wget is installed (on Debian: apt-get install curl)"
    return 1
  fi
}

mkdir -p -- "$dest/.download"
status=0
missing=()
for name in "${FILES[@]}"; do
  cached="$dest/.download/$name"

  # 1. get the file into DEST/.download (unless an earlier run left it there)
  if [ ! -s "$cached" ]; then
    tmp=$(mktemp "$dest/.download/.$name.XXXXXX")
    log "fetching $name from ${from_dir:-$base_url}"
    if ! fetch "$name" "$tmp"; then
      rm -f -- "$tmp"
      log "$name: download failed"
      status=1
      continue
    fi
    mv -f -- "$tmp" "$cached"
  fi

  # 2. verify it, then install it atomically
  actual=$(sha256_of "$cached")
  want=${expected[$name]:-}
  if [ -z "$want" ]; then
    printf '%s  %s\n' "$actual" "$name"
    missing+=("$name")
    continue
  fi
  if [ "$actual" != "$want" ]; then
    log "$name: sha256 mismatch: expected $want, got $actual; the download is removed, re-run to fetch it again"
    rm -f -- "$cached"
    status=1
    continue
  fi
  tmp=$(mktemp "$dest/.$name.XXXXXX")
  cp -- "$cached" "$tmp"
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$dest/$name"
  rm -f -- "$cached"
  log "$name: verified (sha256 $actual) and installed in $dest"
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "no trusted sha256 for: ${missing[*]}. The sums computed from the downloads are"
  log "printed above (stdout). Check them against Hugging Face, then re-run with"
  log "  --sha256 NAME=HEX ...   or   --sums FILE   (the lines above are in that format)"
  [ "$status" -ne 0 ] || status=3
fi

if [ "$status" -eq 0 ]; then
  tmp=$(mktemp "$dest/.SHA256SUMS.XXXXXX")
  for name in "${FILES[@]}"; do printf '%s  %s\n' "${expected[$name]}" "$name"; done > "$tmp"
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$dest/SHA256SUMS"
  rmdir -- "$dest/.download" 2>/dev/null || true
fi
exit "$status"
