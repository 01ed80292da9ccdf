/* tokenizer.h - GPT-2's byte-level BPE tokenizer: text bytes <-> token ids.
 *
 * Encoding, in the order GPT-2 defines it:
 *   1. Pre-tokenization cuts the text with GPT-2's pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (PCRE2, UTF mode). \s is JavaScript's white space set, spelled out in
 *      tokenizer.c, so the cut equals the gpt-3-encoder npm package (1.1.4),
 *      which the tests use as the reference.
 *   2. Each pre-token's UTF-8 bytes start as single-byte tokens; BPE merges
 *      the adjacent pair with the lowest rank (line order in vocab.bpe) until
 *      no pair has a rank.
 *
 * Invalid UTF-8. The input is cut into maximal valid UTF-8 runs and single
 * invalid bytes. A byte is invalid when no well-formed UTF-8 sequence
 * (Unicode 15, table 3-7: no overlongs, no surrogates, nothing above
 * U+10FFFF) starts at it. Each valid run is pre-tokenized on its own. Each
 * invalid byte is a pre-token of its own and becomes that byte's token. So
 * decode(encode(bytes)) == bytes for any input, and on valid UTF-8 the rule
 * changes nothing.
 *
 * "<|endoftext|>" in the text is ordinary text by default, as in the
 * reference. With SDQ_TOKENIZE_ALLOW_SPECIAL each occurrence becomes the
 * end-of-text token (50256 in GPT-2) and the text between occurrences is
 * encoded piece by piece.
 *
 * NOTE: \p{L} and \p{N} use the Unicode tables of the PCRE2 library in use
 * (Unicode 14 in Debian 12's PCRE2 10.42). Letters and digits assigned in a
 * later Unicode version are symbols here, so text containing them can
 * pre-tokenize differently from a reference with newer tables. Against
 * node 20.20 (Unicode 17) that is 14,049 code points, 9,112 of them in the
 * CJK extensions H, I and J.
 *
 * A tokenizer is not thread-safe: encoding updates its merge cache and its
 * PCRE2 match data. Use one tokenizer per thread.
 */
#ifndef SDQ_MODEL_TOKENIZER_H
#define SDQ_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdq_tokenizer sdq_tokenizer;

/* Longest pre-token (a run of letters, of digits, of other symbols or of
 * white space, see step 1 above) that sdq_tokenizer_encode accepts, in
 * bytes. BPE needs 36 bytes of scratch per byte of a pre-token, so the limit
 * caps that at 36 MiB; natural text has no pre-token near it. */
#define SDQ_TOKENIZER_MAX_PRETOKEN ((size_t)1 << 20)

/* Flags of sdq_tokenizer_encode. */
enum {
  /* Encode each "<|endoftext|>" in the text as the end-of-text token. */
  SDQ_TOKENIZE_ALLOW_SPECIAL = 1u << 0
};

/* Loads the tokenizer files from the directory dir: encoder.json +
 * vocab.bpe (the names in OpenAI's GPT-2 release) or, when those are absent,
 * vocab.json + merges.txt (the Hugging Face names). Checks that the
 * vocabulary is a JSON object mapping strings to ids 0..n-1 with each id used
 * once, that all 256 single-byte tokens exist, and that each merge line
 * (after an optional first line starting with "#version") contains two tokens
 * of the vocabulary whose concatenation is also in it, built only from
 * tokens that earlier lines produced.
 * Returns 0 and sets *out (free with sdq_tokenizer_free), or -1 with a
 * message in err naming the file and the line or key. */
int sdq_tokenizer_load(sdq_tokenizer **out, const char *dir, char *err, size_t errlen);

void sdq_tokenizer_free(sdq_tokenizer *tok);

/* Picks the tokenizer directory: dir when not NULL, else $SDQ_VOCAB when set
 * and non-empty, else the build's default (data/gpt2-tokenizer in the
 * source tree that was configured, filled by scripts/bootstrap). Only picks:
 * it does not check that the directory exists. */
const char *sdq_tokenizer_find_dir(const char *dir);

/* Returns the number of tokens (50257 for GPT-2). Valid ids are 0..n-1. */
int sdq_tokenizer_vocab_size(const sdq_tokenizer *tok);

/* Returns the id of "<|endoftext|>", or -1 when the vocabulary lacks it. */
int32_t sdq_tokenizer_eot(const sdq_tokenizer *tok);

/* Returns the bytes of token id and sets *len, or NULL when id is outside
 * the vocabulary. The bytes belong to the tokenizer and are not
 * NUL-terminated. */
const char *sdq_tokenizer_token_bytes(const sdq_tokenizer *tok, int32_t id, size_t *len);

/* Returns the id of the token whose bytes are exactly bytes[0..len), or -1. */
int32_t sdq_tokenizer_token_id(const sdq_tokenizer *tok, const char *bytes, size_t len);

/* Encodes len bytes of text (any bytes; see the invalid UTF-8 rule above).
 * flags is 0 or SDQ_TOKENIZE_ALLOW_SPECIAL. Returns 0 and sets *ids to a
 * malloc'ed array of *n_ids token ids (the caller frees it; NULL when
 * *n_ids is 0), or -1 with a message in err (a pre-token longer than
 * SDQ_TOKENIZER_MAX_PRETOKEN, named by its byte offset and length; out of
 * memory; a PCRE2 match error; or ALLOW_SPECIAL with a vocabulary that has
 * no end-of-text token). */
int sdq_tokenizer_encode(sdq_tokenizer *tok, const char *text, size_t len, unsigned flags,
                         int32_t **ids, size_t *n_ids, char *err, size_t errlen);

/* Decodes n token ids to the bytes they stand for, concatenated. Returns 0
 * and sets *out to a malloc'ed buffer of *out_len bytes plus a terminating
 * NUL (the caller frees it), or -1 with a message in err naming the first
 * id outside the vocabulary and its position. */
int sdq_tokenizer_decode(const sdq_tokenizer *tok, const int32_t *ids, size_t n, char **out,
                         size_t *out_len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
