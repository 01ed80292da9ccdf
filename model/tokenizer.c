/* tokenizer.c - loading GPT-2's vocabulary and merges, token lookup and
 * decoding. Encoding lives in tokenizer_encode.c. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/tokenizer_internal.h"

#define END_OF_TEXT "<|endoftext|>"

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

uint64_t sdq_tok_hash_bytes(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h ? h : 1;
}

static size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n)
    p <<= 1;
  return p;
}

/* ---------------------------------------------------------- byte alphabet */

/* GPT-2 writes token bytes as printable characters: bytes '!'..'~',
 * 0xA1..0xAC and 0xAE..0xFF stand for themselves, and the other 68 bytes, in
 * increasing order, become U+0100, U+0101, ... U+0143. Fills the inverse:
 * code point -> byte, -1 for code points outside the alphabet. */
#define ALPHABET_SIZE 0x144

static void byte_alphabet_inverse(int16_t cp_to_byte[ALPHABET_SIZE]) {
  for (int cp = 0; cp < ALPHABET_SIZE; cp++)
    cp_to_byte[cp] = -1;
  int next = 0x100;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    cp_to_byte[printable ? b : next++] = (int16_t)b;
  }
}

/* Converts a token written in the byte alphabet (UTF-8) to its bytes. out
 * needs n bytes. Returns the byte count, or -1 when s contains invalid UTF-8 or a
 * character outside the alphabet. */
static long alphabet_to_bytes(const char *s, size_t n, const int16_t *cp_to_byte, char *out) {
  size_t i = 0, o = 0;
  while (i < n) {
    uint32_t cp;
    size_t len = sdq_tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
    if (len == 0 || cp >= ALPHABET_SIZE || cp_to_byte[cp] < 0)
      return -1;
    out[o++] = (char)cp_to_byte[cp];
    i += len;
  }
  return (long)o;
}

/* ------------------------------------------------------------ vocabulary */

static uint32_t *vocab_slot(const sdq_tokenizer *tok, const char *bytes, size_t len) {
  size_t i = sdq_tok_hash_bytes(bytes, len) & tok->vocab_mask;
  for (;;) {
    uint32_t id = tok->vocab_slots[i];
    if (id == UINT32_MAX)
      return &tok->vocab_slots[i];
    size_t id_len = tok->offsets[id + 1] - tok->offsets[id];
    if (id_len == len && memcmp(tok->arena + tok->offsets[id], bytes, len) == 0)
      return &tok->vocab_slots[i];
    i = (i + 1) & tok->vocab_mask;
  }
}

int32_t sdq_tokenizer_token_id(const sdq_tokenizer *tok, const char *bytes, size_t len) {
  uint32_t id = *vocab_slot(tok, bytes, len);
  return id == UINT32_MAX ? -1 : (int32_t)id;
}

const char *sdq_tokenizer_token_bytes(const sdq_tokenizer *tok, int32_t id, size_t *len) {
  if (id < 0 || id >= tok->n_vocab)
    return NULL;
  *len = tok->offsets[id + 1] - tok->offsets[id];
  return tok->arena + tok->offsets[id];
}

int sdq_tokenizer_vocab_size(const sdq_tokenizer *tok) { return tok->n_vocab; }

int32_t sdq_tokenizer_eot(const sdq_tokenizer *tok) { return tok->eot; }

/* Reads the vocabulary JSON (token in the byte alphabet -> id) into tok. */
static int load_vocab(sdq_tokenizer *tok, const char *path, const int16_t *cp_to_byte, char *err,
                      size_t errlen) {
  json_error_t jerr;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    set_err(err, errlen, "%s: line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
    return -1;
  }
  const char **keys = NULL;
  int rc = -1;
  if (!json_is_object(root)) {
    set_err(err, errlen, "%s: expected a JSON object mapping tokens to ids", path);
    goto done;
  }
  size_t n = json_object_size(root);
  if (n < 256 || n > INT32_MAX / 2) {
    set_err(err, errlen, "%s: %zu tokens; a byte-level BPE vocabulary has at least 256", path, n);
    goto done;
  }

  /* 1. Every value is an id in 0..n-1 and no id repeats, so the ids are dense. */
  keys = calloc(n, sizeof *keys);
  if (!keys) {
    set_err(err, errlen, "%s: out of memory", path);
    goto done;
  }
  size_t key_bytes = 0;
  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    if (!json_is_integer(value)) {
      set_err(err, errlen, "%s: key \"%.60s\": the id must be an integer", path, key);
      goto done;
    }
    json_int_t id = json_integer_value(value);
    if (id < 0 || (size_t)id >= n) {
      set_err(err, errlen,
              "%s: key \"%.60s\": id %lld is outside 0..%zu (ids must number the %zu tokens "
              "without gaps)",
              path, key, (long long)id, n - 1, n);
      goto done;
    }
    if (keys[id]) {
      set_err(err, errlen, "%s: key \"%.60s\": id %lld is already used by key \"%.60s\"", path,
              key, (long long)id, keys[id]);
      goto done;
    }
    keys[id] = key;
    key_bytes += strlen(key);
  }

  /* 2. Token bytes in id order, then the bytes -> id table. */
  tok->n_vocab = (int)n;
  tok->offsets = malloc((n + 1) * sizeof *tok->offsets);
  tok->arena = malloc(key_bytes + 1);
  tok->vocab_mask = pow2_at_least(2 * n) - 1;
  tok->vocab_slots = malloc((tok->vocab_mask + 1) * sizeof *tok->vocab_slots);
  if (!tok->offsets || !tok->arena || !tok->vocab_slots || key_bytes > UINT32_MAX) {
    set_err(err, errlen, "%s: out of memory", path);
    goto done;
  }
  memset(tok->vocab_slots, 0xff, (tok->vocab_mask + 1) * sizeof *tok->vocab_slots);
  uint32_t off = 0;
  for (size_t id = 0; id < n; id++) {
    tok->offsets[id] = off;
    long len = alphabet_to_bytes(keys[id], strlen(keys[id]), cp_to_byte, tok->arena + off);
    if (len < 0) {
      set_err(err, errlen,
              "%s: key \"%.60s\" (id %zu) has a character outside GPT-2's byte alphabet", path,
              keys[id], id);
      goto done;
    }
    if (len == 0) {
      set_err(err, errlen, "%s: the empty key \"\" (id %zu) is not a token", path, id);
      goto done;
    }
    off += (uint32_t)len;
  }
  tok->offsets[n] = off;
  for (size_t id = 0; id < n; id++) {
    size_t len = tok->offsets[id + 1] - tok->offsets[id];
    /* Two keys with the same bytes would be the same JSON key, which
     * JSON_REJECT_DUPLICATES already rejected: the alphabet is one-to-one. */
    *vocab_slot(tok, tok->arena + tok->offsets[id], len) = (uint32_t)id;
  }

  /* 3. The 256 single-byte tokens BPE starts from. */
  for (int b = 0; b < 256; b++) {
    char byte = (char)b;
    tok->byte_token[b] = sdq_tokenizer_token_id(tok, &byte, 1);
    if (tok->byte_token[b] < 0) {
      set_err(err, errlen, "%s: no token for the single byte 0x%02x; every byte needs one", path,
              b);
      goto done;
    }
  }
  tok->eot = sdq_tokenizer_token_id(tok, END_OF_TEXT, strlen(END_OF_TEXT));
  rc = 0;

done:
  free(keys);
  json_decref(root);
  return rc;
}

/* --------------------------------------------------------------- merges */

static uint64_t *pair_slot(const sdq_tokenizer *tok, uint64_t key) {
  size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & tok->pair_mask;
  while (tok->pair_keys[i] != UINT64_MAX && tok->pair_keys[i] != key)
    i = (i + 1) & tok->pair_mask;
  return &tok->pair_keys[i];
}

int32_t sdq_tok_pair_lookup(const sdq_tokenizer *tok, int32_t left, int32_t right,
                            int32_t *result) {
  uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
  uint64_t *slot = pair_slot(tok, key);
  if (*slot != key)
    return -1;
  size_t i = (size_t)(slot - tok->pair_keys);
  *result = tok->pair_result[i];
  return tok->pair_rank[i];
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    char *bigger = realloc(buf, cap + 1);
    if (!bigger)
      free(buf);
    buf = bigger;
  }
  int failed = ferror(f);
  fclose(f);
  if (!buf || failed) {
    set_err(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Looks up one merge field (a token in the byte alphabet). Returns its id or
 * -1 with err naming the file and line. */
static int32_t merge_field_id(const sdq_tokenizer *tok, const char *path, size_t line_no,
                              const char *field, size_t len, const int16_t *cp_to_byte,
                              char *scratch, char *err, size_t errlen) {
  long n = alphabet_to_bytes(field, len, cp_to_byte, scratch);
  if (n < 0) {
    set_err(err, errlen, "%s: line %zu: \"%.*s\" has a character outside GPT-2's byte alphabet",
            path, line_no, (int)(len > 60 ? 60 : len), field);
    return -1;
  }
  int32_t id = sdq_tokenizer_token_id(tok, scratch, (size_t)n);
  if (id < 0)
    set_err(err, errlen, "%s: line %zu: token \"%.*s\" is not in the vocabulary", path, line_no,
            (int)(len > 60 ? 60 : len), field);
  return id;
}

/* Reads the merges ("left right" per line, rank = order) into tok. */
static int load_merges(sdq_tokenizer *tok, const char *path, const int16_t *cp_to_byte, char *err,
                       size_t errlen) {
  size_t len;
  char *text = read_file(path, &len, err, errlen);
  if (!text)
    return -1;
  int rc = -1;
  char *scratch = malloc(len + 1);
  /* produced[id]: 1 once a merge line (or the byte alphabet) made token id. */
  unsigned char *produced = calloc((size_t)tok->n_vocab, 1);
  size_t max_merges = 16;
  for (size_t i = 0; i < len; i++)
    max_merges += text[i] == '\n';
  tok->pair_mask = pow2_at_least(2 * max_merges) - 1;
  tok->pair_keys = malloc((tok->pair_mask + 1) * sizeof *tok->pair_keys);
  tok->pair_rank = malloc((tok->pair_mask + 1) * sizeof *tok->pair_rank);
  tok->pair_result = malloc((tok->pair_mask + 1) * sizeof *tok->pair_result);
  if (!scratch || !produced || !tok->pair_keys || !tok->pair_rank || !tok->pair_result) {
    set_err(err, errlen, "%s: out of memory", path);
    goto done;
  }
  memset(tok->pair_keys, 0xff, (tok->pair_mask + 1) * sizeof *tok->pair_keys);
  for (int b = 0; b < 256; b++)
    produced[tok->byte_token[b]] = 1;

  size_t line_no = 0;
  char *p = text, *end = text + len;
  while (p < end) {
    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    char *line = p, *line_end = eol;
    p = eol + 1;
    line_no++;
    if (line_end > line && line_end[-1] == '\r')
      line_end--;

    if (line_no == 1 && line_end - line >= 8 && memcmp(line, "#version", 8) == 0)
      continue;
    if (line_end == line) {
      /* Empty lines may only end the file. */
      char *q = p;
      while (q < end && (*q == '\n' || *q == '\r'))
        q++;
      if (q >= end)
        break;
      set_err(err, errlen, "%s: line %zu is empty; each line must be one merge \"left right\"",
              path, line_no);
      goto done;
    }

    /* Two fields separated by spaces or tabs. */
    char *f[3];
    size_t flen[3];
    int nf = 0;
    for (char *q = line; q < line_end && nf < 3;) {
      while (q < line_end && (*q == ' ' || *q == '\t'))
        q++;
      if (q == line_end)
        break;
      f[nf] = q;
      while (q < line_end && *q != ' ' && *q != '\t')
        q++;
      flen[nf] = (size_t)(q - f[nf]);
      nf++;
    }
    if (nf != 2) {
      set_err(err, errlen, "%s: line %zu: expected two tokens separated by a space, found \"%.*s\"",
              path, line_no, (int)(line_end - line > 60 ? 60 : line_end - line), line);
      goto done;
    }
    int32_t left = merge_field_id(tok, path, line_no, f[0], flen[0], cp_to_byte, scratch, err,
                                  errlen);
    if (left < 0)
      goto done;
    int32_t right = merge_field_id(tok, path, line_no, f[1], flen[1], cp_to_byte, scratch, err,
                                   errlen);
    if (right < 0)
      goto done;
    size_t left_len = 0, right_len = 0;
    const char *lb = sdq_tokenizer_token_bytes(tok, left, &left_len);
    const char *rb = sdq_tokenizer_token_bytes(tok, right, &right_len);
    memcpy(scratch, lb, left_len);
    memcpy(scratch + left_len, rb, right_len);
    int32_t result = sdq_tokenizer_token_id(tok, scratch, left_len + right_len);
    if (result < 0) {
      set_err(err, errlen, "%s: line %zu: the merged token \"%.*s%.*s\" is not in the vocabulary",
              path, line_no, (int)flen[0], f[0], (int)flen[1], f[1]);
      goto done;
    }

    /* BPE training order: each part exists before the line that uses it, and
     * each token is made once. The encoder relies on this (a merge never
     * creates a pair of lower rank than its own). */
    if (!produced[left] || !produced[right]) {
      set_err(err, errlen,
              "%s: line %zu: \"%.*s\" is used before any earlier line produces it; merges must be "
              "listed in the order BPE learned them",
              path, line_no, (int)(produced[left] ? flen[1] : flen[0]),
              produced[left] ? f[1] : f[0]);
      goto done;
    }
    if (produced[result]) {
      set_err(err, errlen, "%s: line %zu: \"%.*s%.*s\" is already produced by an earlier line",
              path, line_no, (int)flen[0], f[0], (int)flen[1], f[1]);
      goto done;
    }
    produced[result] = 1;

    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t *slot = pair_slot(tok, key);
    size_t i = (size_t)(slot - tok->pair_keys);
    *slot = key;
    tok->pair_rank[i] = tok->n_merges++;
    tok->pair_result[i] = result;
  }
  rc = 0;

done:
  free(produced);
  free(scratch);
  free(text);
  return rc;
}

/* ---------------------------------------------------------------- public */

static int readable(const char *dir, const char *name, char *path, size_t pathlen) {
  snprintf(path, pathlen, "%s/%s", dir, name);
  return access(path, R_OK) == 0;
}

int sdq_tokenizer_load(sdq_tokenizer **out, const char *dir, char *err, size_t errlen) {
  *out = NULL;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    set_err(err, errlen,
            "%s: tokenizer directory not found; scripts/bootstrap installs GPT-2's tokenizer "
            "files into data/gpt2-tokenizer",
            dir);
    return -1;
  }
  char vocab_path[4096], merges_path[4096];
  int have_vocab = readable(dir, "encoder.json", vocab_path, sizeof vocab_path);
  int have_merges = readable(dir, "vocab.bpe", merges_path, sizeof merges_path);
  if (!have_vocab && !have_merges) {
    have_vocab = readable(dir, "vocab.json", vocab_path, sizeof vocab_path);
    have_merges = readable(dir, "merges.txt", merges_path, sizeof merges_path);
    if (!have_vocab && !have_merges) {
      set_err(err, errlen,
              "%s: no tokenizer files: expected encoder.json + vocab.bpe (or vocab.json + "
              "merges.txt); scripts/bootstrap installs GPT-2's into data/gpt2-tokenizer",
              dir);
      return -1;
    }
  }
  if (!have_vocab || !have_merges) {
    set_err(err, errlen, "%s: missing or unreadable", have_vocab ? merges_path : vocab_path);
    return -1;
  }

  sdq_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  int16_t cp_to_byte[ALPHABET_SIZE];
  byte_alphabet_inverse(cp_to_byte);
  if (load_vocab(tok, vocab_path, cp_to_byte, err, errlen) != 0 ||
      load_merges(tok, merges_path, cp_to_byte, err, errlen) != 0 ||
      sdq_tok_pattern_init(tok, err, errlen) != 0) {
    sdq_tokenizer_free(tok);
    return -1;
  }
  *out = tok;
  return 0;
}

void sdq_tokenizer_free(sdq_tokenizer *tok) {
  if (!tok)
    return;
  sdq_tok_encoder_free(tok);
  free(tok->arena);
  free(tok->offsets);
  free(tok->vocab_slots);
  free(tok->pair_keys);
  free(tok->pair_rank);
  free(tok->pair_result);
  free(tok);
}

const char *sdq_tokenizer_find_dir(const char *dir) {
  if (dir)
    return dir;
  const char *env = getenv("SDQ_VOCAB");
  if (env && *env)
    return env;
#ifdef SDQ_TOKENIZER_DIR
  return SDQ_TOKENIZER_DIR;
#else
  return "data/gpt2-tokenizer";
#endif
}

int sdq_tokenizer_decode(const sdq_tokenizer *tok, const int32_t *ids, size_t n, char **out,
                         size_t *out_len, char *err, size_t errlen) {
  *out = NULL;
  *out_len = 0;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= tok->n_vocab) {
      set_err(err, errlen, "token id %ld at position %zu is outside the vocabulary (0..%d)",
              (long)ids[i], i, tok->n_vocab - 1);
      return -1;
    }
    total += tok->offsets[ids[i] + 1] - tok->offsets[ids[i]];
  }
  char *buf = malloc(total + 1);
  if (!buf) {
    set_err(err, errlen, "out of memory decoding %zu tokens", n);
    return -1;
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = tok->offsets[ids[i] + 1] - tok->offsets[ids[i]];
    memcpy(buf + o, tok->arena + tok->offsets[ids[i]], len);
    o += len;
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return 0;
}
