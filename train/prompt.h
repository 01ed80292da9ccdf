/* prompt.h - SQuAD questions as GPT-2 token sequences, with the loss mask
 * and the context window.
 *
 * Layout (text; the tokens of each piece are encoded separately and joined):
 *   "Context:" | " " CONTEXT | "\nQuestion: " QUESTION "\nAnswer:" | " " ANSWER | "\n"
 * The prompt is everything up to "Answer:". In training the target is
 * " ANSWER" followed by the "\n" token, so the model learns to stop; the loss
 * mask covers exactly those tokens. Generation stops at the first token that
 * contains a newline (see sdq_prompt_stop_ids).
 *
 * Windowing. " CONTEXT" is tokenized once; when the whole sequence would be
 * longer than max_len tokens, only a window of consecutive context tokens is
 * kept:
 * - training keeps the gold answer's tokens inside the window, and places
 *   the window uniformly at random among the positions that do so (the
 *   caller's RNG draws it, so runs are reproducible);
 * - evaluation cannot look at the answer, so it keeps the first tokens of
 *   the context (the window starts at the context's start) and leaves room
 *   for max_new generated tokens; an example records whether some gold
 *   answer still lies entirely inside the window.
 */
#ifndef SDQ_TRAIN_PROMPT_H
#define SDQ_TRAIN_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "train/squad.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tokenized question. */
typedef struct sdq_example {
  int32_t *tokens;     /* n_tokens ids, malloc'ed */
  int n_tokens;        /* prompt + target (training) or prompt (evaluation) */
  int n_prompt;        /* tokens before the target; tokens[n_prompt..] are
                          the answer and the newline */
  int context_tokens;  /* tokens of " CONTEXT" before windowing */
  int window_begin;    /* first context token kept */
  int window_tokens;   /* context tokens kept */
  int answer_inside;   /* 1 when a gold answer lies entirely in the window */
} sdq_example;

void sdq_example_free(sdq_example *ex);

/* Builds the training sequence for answer ai of question qi, at most max_len
 * tokens. rng draws the window position (it is not used when the context
 * fits). Returns 0 on success; 1 when the question, the answer and the
 * answer's context tokens cannot fit in max_len (the example is skipped, ex
 * is empty); -1 on a tokenizer error (message in err). */
int sdq_prompt_train(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi,
                     size_t ai, int max_len, sdq_rng *rng, sdq_example *ex,
                     char *err, size_t errlen);

/* Builds the evaluation prompt of question qi so that the prompt plus
 * max_new generated tokens fit in max_len. Returns 0, 1 when even an empty
 * context window does not fit (skipped), or -1 on a tokenizer error. */
int sdq_prompt_eval(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi,
                    int max_len, int max_new, sdq_example *ex, char *err,
                    size_t errlen);

/* Returns a malloc'ed (vocab_size) array with 1 for every token whose bytes
 * contain '\n' (generation stops there), or NULL when out of memory. */
uint8_t *sdq_prompt_stop_ids(const sdq_tokenizer *tok);

/* Decodes generated ids to the answer text: the bytes of the tokens,
 * cut at the first newline, with leading and trailing ASCII white space
 * removed and invalid UTF-8 bytes replaced by U+FFFD (prediction files must
 * be valid JSON strings). Returns a malloc'ed string or NULL with err. */
char *sdq_prompt_decode_answer(const sdq_tokenizer *tok, const int32_t *ids,
                               int n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_PROMPT_H */
