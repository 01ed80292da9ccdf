/* tokenizer_internal.h - the tokenizer's data, shared by the loader
 * (tokenizer.c) and the encoder (tokenizer_encode.c). Not a public API. */
#ifndef SDQ_MODEL_TOKENIZER_INTERNAL_H
#define SDQ_MODEL_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

/* Cache of encoded pre-tokens: open addressing over slots, keys and ids
 * appended to two arenas. When a limit is reached the whole cache is
 * emptied, which bounds its memory on any input. */
struct bpe_cache {
  struct bpe_cache_slot {
    uint64_t hash;     /* 0 marks an empty slot */
    uint32_t key_off;  /* into keys */
    uint32_t key_len;
    uint32_t ids_off;  /* into ids */
    uint32_t n_ids;
  } *slots;
  size_t mask;         /* slot count - 1 (a power of two) */
  size_t used;
  char *keys;
  size_t keys_len, keys_cap;
  int32_t *ids;
  size_t ids_len, ids_cap;
};

struct sdq_tokenizer {
  /* Vocabulary: token id's bytes are arena[offsets[id] .. offsets[id + 1]). */
  int n_vocab;
  char *arena;
  uint32_t *offsets;
  uint32_t *vocab_slots; /* open addressing by bytes, holding ids; UINT32_MAX is empty */
  size_t vocab_mask;
  int32_t byte_token[256];
  int32_t eot;

  /* Merges: the pair (left, right) of token ids, keyed as left << 32 | right,
   * has rank (its line among the merges) and the merged token's id. */
  uint64_t *pair_keys; /* UINT64_MAX is empty */
  int32_t *pair_rank;
  int32_t *pair_result;
  size_t pair_mask;
  int n_merges;

  /* Pre-tokenizer and encoder state. */
  pcre2_code *pattern;
  pcre2_match_data *match;
  struct bpe_cache cache;
  struct bpe_scratch *scratch; /* per-word BPE arrays, grown on demand */
};

/* Returns the length (1..4) of the well-formed UTF-8 sequence at s[0..n) and
 * sets *cp to its code point, or returns 0 when none starts there
 * (Unicode's table 3-7: no overlongs, surrogates or code points above
 * U+10FFFF). */
size_t sdq_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* FNV-1a, 64 bits; never returns 0 (the empty-slot mark of the caches). */
uint64_t sdq_tok_hash_bytes(const char *p, size_t n);

/* Looks up the merge of the pair (left, right). Returns its rank and sets
 * *result, or returns -1 when the pair is not a merge. */
int32_t sdq_tok_pair_lookup(const sdq_tokenizer *tok, int32_t left, int32_t right,
                            int32_t *result);

/* Compiles the pre-tokenization pattern into tok->pattern / tok->match
 * (JIT-compiled when PCRE2 supports it). Returns 0, or -1 with err. */
int sdq_tok_pattern_init(sdq_tokenizer *tok, char *err, size_t errlen);

/* Frees the pattern, match data and cache. */
void sdq_tok_encoder_free(sdq_tokenizer *tok);

#endif
