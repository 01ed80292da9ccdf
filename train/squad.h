/* squad.h - load and validate SQuAD v1.1 JSON files.
 *
 * The file layout is the official one:
 *   {"version": "1.1", "data": [{"title", "paragraphs": [{"context",
 *     "qas": [{"id", "question", "answers": [{"answer_start", "text"}]}]}]}]}
 *
 * sdq_squad_load checks, and reports the first violation of:
 * - the JSON parses (jansson also rejects invalid UTF-8 and lone surrogates);
 * - every object has its fields with the right JSON types, every question has
 *   at least one answer, ids and questions are non-empty;
 * - each answer's text equals the context at answer_start, where answer_start
 *   counts Unicode code points (as Python's str indexing does), not bytes;
 * - question ids are unique in the file;
 * - every string is valid UTF-8 (checked again after parsing).
 * Error messages name the file and, where one applies, the article title and
 * the question id, e.g.
 *   "dev.json: article 'Normans', question '56ddde6b9a695914005b9629':
 *    answer 0 text 'Denmark' does not match the context at answer_start 80
 *    (the context there reads 'France, ')".
 * A "version" other than the string "1.1" is accepted with a warning in
 * *warning. Titles, ids and answer texts in messages are cut after 60 bytes
 * at a character boundary, with control characters escaped.
 *
 * Strings are stored as NUL-terminated UTF-8 copies owned by the sdq_squad.
 * sdq_squad_load keeps no global state of its own (the id index is sorted
 * without a static context), so separate loads do not share data.
 */
#ifndef SDQ_TRAIN_SQUAD_H
#define SDQ_TRAIN_SQUAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's JSON value */

/* One gold answer. start_cp is answer_start as in the file (code points);
 * start and len locate the same text in the context's UTF-8 bytes. */
typedef struct sdq_squad_answer {
  char *text;
  size_t start_cp;
  size_t start; /* byte offset of the answer in the context */
  size_t len;   /* byte length of text */
} sdq_squad_answer;

typedef struct sdq_squad_question {
  char *id;
  char *question;
  size_t paragraph; /* index into sdq_squad.paragraphs */
  sdq_squad_answer *answers;
  size_t n_answers; /* >= 1 */
} sdq_squad_question;

typedef struct sdq_squad_paragraph {
  char *context;
  size_t context_len; /* bytes */
  size_t article;     /* index into sdq_squad.titles */
} sdq_squad_paragraph;

/* A loaded file; questions are in file order. Zero-initialise before load. */
typedef struct sdq_squad {
  char *path;
  char *version; /* "version" string, the JSON text of a non-string value
                   (e.g. 1.1), or "" when absent */
  char **titles;
  size_t n_articles;
  sdq_squad_paragraph *paragraphs;
  size_t n_paragraphs;
  sdq_squad_question *questions;
  size_t n_questions;
  size_t n_answers;  /* total over all questions */
  size_t *by_id;     /* question indices sorted by id (strcmp) */
} sdq_squad;

/* Loads and validates path into *sq (see the top of this file). On failure
 * returns -1 with a message in err, and *sq is left freed (safe to pass to
 * sdq_squad_free). warning (may be NULL) receives a non-fatal note such as an
 * unexpected version, or "" when there is none. */
int sdq_squad_load(sdq_squad *sq, const char *path, char *warning,
                   size_t warnlen, char *err, size_t errlen);

/* Reads and parses the JSON file at path (a SQuAD data or prediction file)
 * with the jansson decoding flags given, and returns its root value, which
 * the caller releases with json_decref. On failure returns NULL with a
 * message in err: "cannot open PATH: <reason>", "PATH is a directory ...",
 * "PATH starts with a UTF-8 byte-order mark ..." or "PATH: invalid JSON at
 * line L, column C: ...". */
struct json_t *sdq_squad_read_json(const char *path, size_t flags, char *err,
                                   size_t errlen);

/* Frees everything load allocated and zeroes *sq. Accepts a zeroed struct. */
void sdq_squad_free(sdq_squad *sq);

/* Returns the index of the question with this id, or -1 when absent
 * (binary search over by_id). */
long sdq_squad_find(const sdq_squad *sq, const char *id);

/* Locates the code point offset cp in the UTF-8 string s (len bytes). Returns
 * the byte offset, or (size_t)-1 when s has fewer than cp code points.
 * s must be valid UTF-8. */
size_t sdq_utf8_offset(const char *s, size_t len, size_t cp);

/* Returns 1 when s[0 .. len-1] is valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0 and the byte offset of the
 * first invalid sequence in *bad (when bad is not NULL). */
int sdq_utf8_valid(const char *s, size_t len, size_t *bad);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_SQUAD_H */
