// tokenizer_reference.js - encodes files with the npm package gpt-3-encoder
// (1.1.4), the reference that tests/test_tokenizer_reference checks the C
// tokenizer against.
//
//   node tests/tokenizer_reference.js [--allow-special] FILE...
//
// Prints one line per FILE: its token ids, separated by spaces (an empty
// line for an empty file). Exits 77 when the package is not installed
// (scripts/bootstrap installs it into .npm-deps/), 2 on usage errors.
//
// The package encodes JavaScript strings, so this script applies sdq's rules
// for what a string cannot carry, as model/tokenizer.h defines them:
// - Invalid UTF-8: the bytes are cut into maximal valid UTF-8 runs and single
//   invalid bytes. Each run is encoded by the package on its own; each invalid
//   byte becomes the id of its single-byte token.
// - --allow-special: the text is cut at each "<|endoftext|>", the pieces are
//   encoded as above and the cuts become the end-of-text id.
'use strict';
const fs = require('fs');
const path = require('path');

const searchPaths = [
  path.join(__dirname, '..', '.npm-deps', 'node_modules'),
  path.join(process.cwd(), '.npm-deps', 'node_modules'),
];
let packageDir;
try {
  packageDir = path.dirname(require.resolve('gpt-3-encoder/package.json', { paths: searchPaths }));
} catch (e) {
  process.stderr.write('tokenizer_reference.js: the npm package gpt-3-encoder is not installed ' +
    '(looked in ' + searchPaths.join(', ') + '); run scripts/bootstrap or ' +
    '(cd .npm-deps && npm install gpt-3-encoder@1.1.4)\n');
  process.exit(77);
}
const { encode } = require(packageDir);
const vocab = JSON.parse(fs.readFileSync(path.join(packageDir, 'encoder.json'), 'utf8'));

// Id of each single-byte token. GPT-2 writes byte b as the character b when
// it is printable (0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF), and the remaining
// bytes, in increasing order, as U+0100 onwards.
const byteId = new Array(256);
{
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    byteId[b] = vocab[String.fromCodePoint(printable ? b : next++)];
  }
}
const END_OF_TEXT = Buffer.from('<|endoftext|>');
const eotId = vocab['<|endoftext|>'];

// Length of the well-formed UTF-8 sequence at buf[i], or 0 (Unicode table
// 3-7: no overlongs, surrogates or code points above U+10FFFF).
function sequenceLength(buf, i) {
  const c = buf[i];
  if (c < 0x80) return 1;
  let len, lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) { len = 3; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
  else return 0;
  if (i + len > buf.length || buf[i + 1] < lo || buf[i + 1] > hi) return 0;
  for (let k = 2; k < len; k++) if ((buf[i + k] & 0xc0) !== 0x80) return 0;
  return len;
}

function encodeBytes(buf, out) {
  let i = 0;
  while (i < buf.length) {
    let end = i;
    for (let len; end < buf.length && (len = sequenceLength(buf, end)) > 0;) end += len;
    if (end > i) for (const id of encode(buf.toString('utf8', i, end))) out.push(id);
    if (end === buf.length) break;
    out.push(byteId[buf[end]]);
    i = end + 1;
  }
}

const args = process.argv.slice(2);
const allowSpecial = args[0] === '--allow-special';
const files = allowSpecial ? args.slice(1) : args;
if (files.length === 0) {
  process.stderr.write('usage: node tests/tokenizer_reference.js [--allow-special] FILE...\n');
  process.exit(2);
}
const lines = [];
for (const file of files) {
  const buf = fs.readFileSync(file);
  const ids = [];
  if (!allowSpecial) {
    encodeBytes(buf, ids);
  } else {
    let pos = 0;
    for (;;) {
      const hit = buf.indexOf(END_OF_TEXT, pos);
      encodeBytes(buf.subarray(pos, hit < 0 ? buf.length : hit), ids);
      if (hit < 0) break;
      ids.push(eotId);
      pos = hit + END_OF_TEXT.length;
    }
  }
  lines.push(ids.join(' '));
}
process.stdout.write(lines.join('\n') + '\n');
