/* evaluate.h - SQuAD evaluation of a model under one bit configuration:
 * greedy answers, official EM/F1, and the official prediction file.
 *
 * Each question's prompt is built by sdq_prompt_eval (the context window
 * keeps the first context tokens and leaves room for max_new answer
 * tokens), the model generates greedily until a token containing a newline,
 * end-of-text, max_new tokens or n_ctx, and the generated text (cut at the
 * newline, trimmed) is the prediction. EM and F1 are the official v1.1
 * definitions (metrics.h) averaged over the evaluated questions.
 */
#ifndef SDQ_TRAIN_EVALUATE_H
#define SDQ_TRAIN_EVALUATE_H

#include <stddef.h>

#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "train/metrics.h"
#include "train/squad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdq_eval_options {
  int max_len;  /* prompt + answer tokens, <= n_ctx */
  int max_new;  /* answer tokens generated at most */
  int progress; /* 1: progress on stderr */
} sdq_eval_options;

typedef struct sdq_eval_result {
  double exact_match;   /* 0 .. 100 over the evaluated questions */
  double f1;            /* 0 .. 100 */
  size_t n_questions;   /* evaluated */
  size_t n_cut;         /* questions with no gold answer inside the window */
  size_t n_skipped;     /* prompts that did not fit max_len (prediction "") */
  double seconds;
  char **predictions;   /* [n_questions] malloc'ed answers, subset order */
} sdq_eval_result;

/* Evaluates m at its current bits on the questions subset[0 .. n-1]
 * (indices into sq->questions). On success fills *res (free with
 * sdq_eval_result_free). Returns -1 with a message on model or tokenizer
 * errors. */
int sdq_evaluate(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq,
                 const size_t *subset, size_t n, const sdq_eval_options *opt,
                 sdq_eval_result *res, char *err, size_t errlen);

void sdq_eval_result_free(sdq_eval_result *res);

/* Writes {"id": "answer", ...} for the subset (official format, ids in
 * subset order) atomically to path. */
int sdq_write_predictions(const char *path, const sdq_squad *sq,
                          const size_t *subset, size_t n,
                          char *const *predictions, char *err, size_t errlen);

/* Selects the questions to evaluate: the ids listed in ids_path or, with
 * ids_path NULL, all questions in file order; then keeps at most limit of
 * them (limit <= 0: all). The id list is plain text with one id per line,
 * and lines may be of any length. '#' starts a comment and blank lines are
 * skipped. Spaces, tabs and CRLF around an id are ignored, and so is a
 * UTF-8 byte order mark at the start of the file. Errors, each naming the file
 * and the line where one applies: an id not in sq, an id listed twice, a
 * line containing a NUL byte, a directory, a read error, a list without
 * ids, and a data file without questions. Returns a malloc'ed index array
 * (list order) and its length in *n (at least 1), or NULL with a message. */
size_t *sdq_select_questions(const sdq_squad *sq, const char *ids_path,
                             long limit, size_t *n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_EVALUATE_H */
