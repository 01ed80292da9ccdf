/* tokenizer_encode.c - GPT-2 encoding: UTF-8 runs, PCRE2 pre-tokenization,
 * BPE merges by rank and the cache of encoded pre-tokens. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

#define END_OF_TEXT "<|endoftext|>"

/* JavaScript's \s (ECMA-262 WhiteSpace and LineTerminator with Unicode's Zs),
 * as the reference uses it. PCRE2's own \s differs: it adds U+0085 and lacks
 * U+FEFF. */
#define WS "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

static const char pretokenize_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d"
    "| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
    "|[" WS "]+(?![^" WS "])|[" WS "]+";

/* Pre-tokens longer than this are encoded without the cache: they rarely
 * repeat, and the limit keeps one entry small. */
#define CACHE_MAX_KEY 64
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_USED (CACHE_SLOTS / 2)
#define CACHE_MAX_KEY_BYTES ((size_t)4 << 20)
#define CACHE_MAX_IDS ((size_t)1 << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

size_t sdq_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0; /* overlong */
    else if (c == 0xED)
      hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90; /* overlong */
    else if (c == 0xF4)
      hi = 0x8F; /* above U+10FFFF */
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  uint32_t v = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = v << 6 | (s[i] & 0x3F);
  }
  *cp = v;
  return len;
}

/* ------------------------------------------------------------ output ids */

struct id_vec {
  int32_t *v;
  size_t n, cap;
};

static int push_ids(struct id_vec *out, const int32_t *ids, size_t n) {
  if (out->n + n > out->cap) {
    size_t cap = out->cap ? out->cap : 256;
    while (cap < out->n + n)
      cap *= 2;
    int32_t *v = realloc(out->v, cap * sizeof *v);
    if (!v)
      return -1;
    out->v = v;
    out->cap = cap;
  }
  memcpy(out->v + out->n, ids, n * sizeof *ids);
  out->n += n;
  return 0;
}

/* ------------------------------------------------------------------ BPE */

/* A queued pair: rank << 32 | position of its left symbol, so the heap pops
 * the lowest rank, then the leftmost. Ranks are unique per pair, so the rank
 * also identifies which two symbols were queued. */
typedef uint64_t heap_entry;

struct bpe_scratch {
  size_t cap;
  int32_t *id;   /* symbol at each byte position; -1 once merged into its left neighbour */
  int32_t *next; /* next live position, -1 at the end */
  int32_t *prev;
  heap_entry *heap; /* 3 * cap entries: n - 1 pairs at first, two per merge */
  size_t heap_n;
};

static int scratch_reserve(sdq_tokenizer *tok, size_t n) {
  struct bpe_scratch *s = tok->scratch;
  if (!s) {
    s = tok->scratch = calloc(1, sizeof *s);
    if (!s)
      return -1;
  }
  if (n <= s->cap)
    return 0;
  size_t cap = s->cap ? s->cap : 64;
  while (cap < n)
    cap *= 2;
  free(s->id);
  free(s->next);
  free(s->prev);
  free(s->heap);
  s->id = malloc(cap * sizeof *s->id);
  s->next = malloc(cap * sizeof *s->next);
  s->prev = malloc(cap * sizeof *s->prev);
  s->heap = malloc(3 * cap * sizeof *s->heap);
  if (!s->id || !s->next || !s->prev || !s->heap) {
    s->cap = 0;
    return -1;
  }
  s->cap = cap;
  return 0;
}

static void heap_push(struct bpe_scratch *s, heap_entry e) {
  size_t i = s->heap_n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (s->heap[parent] <= e)
      break;
    s->heap[i] = s->heap[parent];
    i = parent;
  }
  s->heap[i] = e;
}

static heap_entry heap_pop(struct bpe_scratch *s) {
  heap_entry top = s->heap[0];
  heap_entry last = s->heap[--s->heap_n];
  size_t n = s->heap_n, i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n)
      break;
    if (child + 1 < n && s->heap[child + 1] < s->heap[child])
      child++;
    if (last <= s->heap[child])
      break;
    s->heap[i] = s->heap[child];
    i = child;
  }
  if (n > 0)
    s->heap[i] = last;
  return top;
}

/* Queues the pair starting at live position p when it is a merge. */
static void queue_pair(const sdq_tokenizer *tok, struct bpe_scratch *s, int32_t p) {
  int32_t q = s->next[p];
  if (q < 0)
    return;
  int32_t result;
  int32_t rank = sdq_tok_pair_lookup(tok, s->id[p], s->id[q], &result);
  if (rank < 0)
    return;
  heap_push(s, (uint64_t)rank << 32 | (uint32_t)p);
}

/* Encodes one pre-token of n >= 1 bytes by BPE and appends its ids.
 *
 * GPT-2 repeatedly takes the lowest-ranked adjacent pair and merges all its
 * occurrences left to right. A heap of (rank, position) gives the same
 * result in O(n log n) because it pops the occurrences of the lowest rank
 * left to right. A merge only creates pairs of higher rank, since the loader
 * checked that merges are in training order. An entry whose position no
 * longer starts the pair of its rank is skipped: a symbol only grows, so its
 * id never returns to an old value.
 * The scratch arrays take 36 bytes per byte of the longest pre-token seen so
 * far (at most SDQ_TOKENIZER_MAX_PRETOKEN, which the caller checks) and are
 * kept until the tokenizer is freed. */
static int bpe_word(sdq_tokenizer *tok, const unsigned char *bytes, size_t n, struct id_vec *out) {
  if (n > INT32_MAX / 4 || scratch_reserve(tok, n) != 0)
    return -1;
  struct bpe_scratch *s = tok->scratch;

  /* 1. One symbol per byte, and the pairs that are merges. */
  for (size_t i = 0; i < n; i++) {
    s->id[i] = tok->byte_token[bytes[i]];
    s->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    s->prev[i] = (int32_t)i - 1;
  }
  s->heap_n = 0;
  for (size_t i = 0; i + 1 < n; i++)
    queue_pair(tok, s, (int32_t)i);

  /* 2. Merge by rank. */
  while (s->heap_n > 0) {
    heap_entry e = heap_pop(s);
    int32_t p = (int32_t)(e & 0xffffffffu), q = s->next[p], result;
    if (s->id[p] < 0 || q < 0 ||
        sdq_tok_pair_lookup(tok, s->id[p], s->id[q], &result) != (int32_t)(e >> 32))
      continue;
    s->id[p] = result;
    s->id[q] = -1;
    s->next[p] = s->next[q];
    if (s->next[q] >= 0)
      s->prev[s->next[q]] = p;
    if (s->prev[p] >= 0)
      queue_pair(tok, s, s->prev[p]);
    queue_pair(tok, s, p);
  }

  /* 3. Emit the live symbols (position 0 is always live). */
  for (int32_t p = 0; p >= 0; p = s->next[p]) {
    if (push_ids(out, &s->id[p], 1) != 0)
      return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- cache */

static void cache_clear(struct bpe_cache *c) {
  if (c->slots)
    memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
  c->used = 0;
  c->keys_len = 0;
  c->ids_len = 0;
}

static struct bpe_cache_slot *cache_find(struct bpe_cache *c, uint64_t hash, const char *key,
                                         size_t len) {
  size_t i = (size_t)hash & c->mask;
  for (;;) {
    struct bpe_cache_slot *slot = &c->slots[i];
    if (slot->hash == 0)
      return slot;
    if (slot->hash == hash && slot->key_len == len && memcmp(c->keys + slot->key_off, key, len) == 0)
      return slot;
    i = (i + 1) & c->mask;
  }
}

/* Stores key -> ids. Failing to cache is not an error: the caller has the
 * ids already, so a full or unallocatable cache is only slower. */
static void cache_insert(struct bpe_cache *c, uint64_t hash, const char *key, size_t len,
                         const int32_t *ids, size_t n_ids) {
  if (!c->slots) {
    c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
    c->keys = malloc(CACHE_MAX_KEY_BYTES);
    c->ids = malloc(CACHE_MAX_IDS * sizeof *c->ids);
    if (!c->slots || !c->keys || !c->ids) {
      free(c->slots);
      free(c->keys);
      free(c->ids);
      c->slots = NULL;
      c->keys = NULL;
      c->ids = NULL;
      return;
    }
    c->mask = CACHE_SLOTS - 1;
    c->keys_cap = CACHE_MAX_KEY_BYTES;
    c->ids_cap = CACHE_MAX_IDS;
  }
  if (c->used >= CACHE_MAX_USED || c->keys_len + len > c->keys_cap ||
      c->ids_len + n_ids > c->ids_cap)
    cache_clear(c);

  struct bpe_cache_slot *slot = cache_find(c, hash, key, len);
  if (slot->hash != 0)
    return;
  memcpy(c->keys + c->keys_len, key, len);
  memcpy(c->ids + c->ids_len, ids, n_ids * sizeof *ids);
  slot->hash = hash;
  slot->key_off = (uint32_t)c->keys_len;
  slot->key_len = (uint32_t)len;
  slot->ids_off = (uint32_t)c->ids_len;
  slot->n_ids = (uint32_t)n_ids;
  c->keys_len += len;
  c->ids_len += n_ids;
  c->used++;
}

/* Encodes one pre-token and appends its ids, through the cache. */
static int encode_pretoken(sdq_tokenizer *tok, const char *p, size_t n, struct id_vec *out) {
  if (n == 1)
    return push_ids(out, &tok->byte_token[(unsigned char)p[0]], 1);
  if (n > CACHE_MAX_KEY)
    return bpe_word(tok, (const unsigned char *)p, n, out);

  struct bpe_cache *c = &tok->cache;
  uint64_t hash = sdq_tok_hash_bytes(p, n);
  if (c->slots) {
    struct bpe_cache_slot *slot = cache_find(c, hash, p, n);
    if (slot->hash != 0)
      return push_ids(out, c->ids + slot->ids_off, slot->n_ids);
  }
  size_t first = out->n;
  if (bpe_word(tok, (const unsigned char *)p, n, out) != 0)
    return -1;
  cache_insert(c, hash, p, n, out->v + first, out->n - first);
  return 0;
}

/* ------------------------------------------------------ pre-tokenization */

int sdq_tok_pattern_init(sdq_tokenizer *tok, char *err, size_t errlen) {
  int code;
  PCRE2_SIZE offset;
  tok->pattern = pcre2_compile((PCRE2_SPTR)pretokenize_pattern, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
  if (!tok->pattern) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    set_err(err, errlen, "PCRE2 cannot compile the pre-tokenization pattern at offset %zu: %s",
            (size_t)offset, (const char *)msg);
    return -1;
  }
  /* Without JIT (a PCRE2 built without it) the interpreter gives the same
   * matches, only slower, so a JIT failure is not an error. */
  (void)pcre2_jit_compile(tok->pattern, PCRE2_JIT_COMPLETE);
  tok->match = pcre2_match_data_create_from_pattern(tok->pattern, NULL);
  if (!tok->match) {
    set_err(err, errlen, "out of memory creating PCRE2 match data");
    return -1;
  }
  return 0;
}

void sdq_tok_encoder_free(sdq_tokenizer *tok) {
  pcre2_match_data_free(tok->match);
  pcre2_code_free(tok->pattern);
  free(tok->cache.slots);
  free(tok->cache.keys);
  free(tok->cache.ids);
  if (tok->scratch) {
    free(tok->scratch->id);
    free(tok->scratch->next);
    free(tok->scratch->prev);
    free(tok->scratch->heap);
    free(tok->scratch);
  }
}

/* Pre-tokenizes and encodes valid UTF-8 run[0..n), which starts at byte
 * base of the caller's text (for messages). The run is the whole subject, so
 * the lookahead (?!\S) treats the run's end as the end of text. */
static int encode_run(sdq_tokenizer *tok, const char *run, size_t n, size_t base,
                      struct id_vec *out, char *err, size_t errlen) {
  size_t off = 0;
  while (off < n) {
    int rc = pcre2_match(tok->pattern, (PCRE2_SPTR)run, n, off, PCRE2_NO_UTF_CHECK, tok->match,
                         NULL);
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      set_err(err, errlen, "pre-tokenization failed at byte %zu: PCRE2: %s", base + off,
              (const char *)msg);
      return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->match);
    /* Every character matches one alternative, so each match starts where
     * the previous one ended and is not empty. */
    if (ov[0] != off || ov[1] <= off) {
      set_err(err, errlen, "pre-tokenization skipped bytes %zu..%zu (a bug in the pattern)",
              base + off, base + (size_t)ov[0]);
      return -1;
    }
    size_t len = ov[1] - off;
    if (len > SDQ_TOKENIZER_MAX_PRETOKEN) {
      set_err(err, errlen, "byte offset %zu: a pre-token (one unbroken run of letters, digits, "
              "other symbols or white space) of %zu bytes is longer than the tokenizer's limit "
              "of %zu bytes; break the text into shorter pieces", base + off, len,
              SDQ_TOKENIZER_MAX_PRETOKEN);
      return -1;
    }
    if (encode_pretoken(tok, run + off, len, out) != 0) {
      set_err(err, errlen, "out of memory encoding the %zu-byte pre-token at byte offset %zu",
              len, base + off);
      return -1;
    }
    off = ov[1];
  }
  return 0;
}

/* Encodes text[0..n) without special tokens: valid UTF-8 runs through the
 * pattern, each invalid byte as its own byte token. */
static int encode_plain(sdq_tokenizer *tok, const char *text, size_t n, size_t base,
                        struct id_vec *out, char *err, size_t errlen) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    while (end < n) {
      uint32_t cp;
      size_t len = s[end] < 0x80 ? 1 : sdq_tok_utf8_decode(s + end, n - end, &cp);
      if (len == 0)
        break;
      end += len;
    }
    if (end > i && encode_run(tok, text + i, end - i, base + i, out, err, errlen) != 0)
      return -1;
    if (end == n)
      break;
    if (push_ids(out, &tok->byte_token[s[end]], 1) != 0) {
      set_err(err, errlen, "out of memory encoding byte %zu", base + end);
      return -1;
    }
    i = end + 1;
  }
  return 0;
}

/* Returns the first occurrence of needle[0..m) in hay[0..n), or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
  const char *end = hay + n;
  for (const char *p = hay; (size_t)(end - p) >= m;) {
    p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
    if (!p)
      return NULL;
    if (memcmp(p, needle, m) == 0)
      return p;
    p++;
  }
  return NULL;
}

int sdq_tokenizer_encode(sdq_tokenizer *tok, const char *text, size_t len, unsigned flags,
                         int32_t **ids, size_t *n_ids, char *err, size_t errlen) {
  *ids = NULL;
  *n_ids = 0;
  struct id_vec out = {0};
  int rc = 0;

  if (!(flags & SDQ_TOKENIZE_ALLOW_SPECIAL)) {
    rc = encode_plain(tok, text, len, 0, &out, err, errlen);
  } else if (tok->eot < 0) {
    set_err(err, errlen, "the vocabulary has no %s token, so special tokens cannot be allowed",
            END_OF_TEXT);
    rc = -1;
  } else {
    const size_t mark = strlen(END_OF_TEXT);
    size_t pos = 0;
    while (rc == 0) {
      const char *hit = find_bytes(text + pos, len - pos, END_OF_TEXT, mark);
      size_t piece_end = hit ? (size_t)(hit - text) : len;
      rc = encode_plain(tok, text + pos, piece_end - pos, pos, &out, err, errlen);
      if (rc != 0 || !hit)
        break;
      if (push_ids(&out, &tok->eot, 1) != 0) {
        set_err(err, errlen, "out of memory encoding byte %zu", piece_end);
        rc = -1;
      }
      pos = piece_end + mark;
    }
  }

  if (rc != 0) {
    free(out.v);
    return -1;
  }
  *ids = out.v;
  *n_ids = out.n;
  return 0;
}
