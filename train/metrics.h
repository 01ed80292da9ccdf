/* metrics.h - SQuAD v1.1 exact match (EM) and F1, as the official v1.1
 * evaluation script computes them.
 *
 * normalize(s), in this order:
 *   1. lower-case with Python's str.lower() semantics (Unicode, full mapping);
 *   2. remove every character of Python's string.punctuation, which is ASCII
 *      only: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ (so "—", "“" or "¿" stay);
 *   3. replace the whole words a, an, the with a space, where a word is a
 *      maximal run of Unicode word characters (Python's \b semantics);
 *   4. split on Unicode whitespace (Python's str.split()) and join with one
 *      space.
 * EM(pred, gold) = 1 when normalize(pred) == normalize(gold).
 * F1(pred, gold): tokens are the whitespace-split normalized strings; the
 *   overlap is the multiset intersection size; F1 = 2PR/(P+R) with
 *   P = overlap/|pred tokens|, R = overlap/|gold tokens|, and F1 = 0 when the
 *   overlap is 0 (so two empty strings have EM 1 but F1 0, as in v1.1).
 * A question's score is the max over its gold answers; the file scores are
 * means over all questions of the data set, times 100.
 *
 * Lower-casing uses glibc's towlower_l in the C.UTF-8 locale plus the rule
 * Python adds for U+0130 ("i\u0307"); a sweep over every code point against
 * Python 3.11 found no other difference. The word-character table behind the
 * article rule is generated from Python 3.11 (scripts/gen-word-table.py).
 * Capital sigma becomes final sigma (U+03C2) under Unicode's Final_Sigma
 * condition, as in Python: a cased character before it and none after it,
 * skipping case-ignorable characters such as combining marks, '.', ':' and
 * apostrophes. Both classes are generated from Python 3.11's str.lower()
 * (scripts/gen-case-table.py).
 */
#ifndef SDQ_TRAIN_METRICS_H
#define SDQ_TRAIN_METRICS_H

#include <stddef.h>

#include "train/squad.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes normalize(s) (see above) as a NUL-terminated, malloc'ed UTF-8
 * string into *out. s must be valid UTF-8 (len bytes). Returns 0, or -1 when
 * memory or the C.UTF-8 locale is not available (message in err). */
int sdq_squad_normalize(const char *s, size_t len, char **out, char *err,
                        size_t errlen);

/* Exact match (0 or 1) and F1 (0 .. 1) of one prediction against one gold
 * answer. Both strings are NUL-terminated UTF-8. Return -1 on failure
 * (out of memory, locale unavailable, invalid UTF-8). */
double sdq_squad_exact_match(const char *prediction, const char *gold);
double sdq_squad_f1(const char *prediction, const char *gold);

/* EM and F1 of one prediction against all gold answers of a question (the
 * max over the golds, each 0 or 1 / 0 .. 1). Returns 0 or -1 on failure. */
int sdq_squad_score_one(const char *prediction, const sdq_squad_question *q,
                        double *em, double *f1);

/* The official file score: the mean over all questions of sq, times 100.
 * predictions[i] is the prediction for sq->questions[i], or NULL when the
 * question was not answered (scored 0, counted in *n_missing). Fails when
 * sq has no questions, because the mean is then undefined. */
typedef struct sdq_squad_score {
  double exact_match; /* 0 .. 100 */
  double f1;          /* 0 .. 100 */
  size_t n_questions;
  size_t n_missing;
} sdq_squad_score;

int sdq_squad_score_all(const sdq_squad *sq, const char *const *predictions,
                        sdq_squad_score *out, char *err, size_t errlen);

/* Scores a prediction file in the official format ({"id": "answer", ...})
 * against sq. Ids not in sq are ignored, as the official script does; a
 * value that is not a string is an error naming the id. A file that cannot
 * be read is reported as sdq_squad_read_json does, and a data set without
 * questions is an error as in sdq_squad_score_all. */
int sdq_squad_score_file(const sdq_squad *sq, const char *predictions_path,
                         sdq_squad_score *out, char *err, size_t errlen);

/* Formats x as Python's repr(float) does (shortest round-trip digits, ".0"
 * for integral values, exponent form below 1e-4 or from 1e16), so printed
 * scores match the official script's json.dumps output byte for byte. */
void sdq_format_python_float(double x, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_METRICS_H */
