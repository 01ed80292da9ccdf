/* model_shim.h - the thin C interface bench/bench_model.cc calls: a GPT-2
 * 124M model with a LoRA bank, a tokenizer and a text corpus, owned here so
 * the C++ file needs no model headers.
 *
 * The model is created once (random GPT-2 initialisation, about 500 MB) and
 * shared by every benchmark; each benchmark sets its bits before timing.
 */
#ifndef SDQ_BENCH_MODEL_SHIM_H
#define SDQ_BENCH_MODEL_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ tokenizer */

typedef struct sdq_mbench_text sdq_mbench_text;

/* Loads the tokenizer from dir (NULL: the build's default directory) and
 * builds a corpus of about max_bytes: the context paragraphs of the SQuAD
 * file squad_json, one per line, or generated English-like words when
 * squad_json is NULL or cannot be read. *from_squad is set to 1 for the
 * SQuAD corpus and 0 for generated text. Returns
 * NULL with a message in err when the tokenizer does not load. */
sdq_mbench_text *sdq_mbench_text_new(const char *dir, const char *squad_json,
                                     size_t max_bytes, int *from_squad,
                                     char *err, size_t len);
void sdq_mbench_text_free(sdq_mbench_text *t);

/* Bytes of the corpus. */
size_t sdq_mbench_text_bytes(const sdq_mbench_text *t);

/* Encodes the whole corpus once. Returns the token count, or -1 with a
 * message in err. */
long sdq_mbench_encode(sdq_mbench_text *t, char *err, size_t len);

/* ---------------------------------------------------------------- model */

/* Creates the shared GPT-2 124M model (once; later calls return 0 at once)
 * with a LoRA bank of rank lora_rank serving fp32, 8 and 4 bits. Returns 0,
 * or -1 with a message in err. */
int sdq_mbench_model_init(int lora_rank, char *err, size_t len);
void sdq_mbench_model_free(void);

/* Sets every linear layer to w_bits (4, 8 or 32) with fp32 activations and
 * packs the weights (untimed). Returns 0 or -1 with a message. */
int sdq_mbench_set_bits(int w_bits, char *err, size_t len);

/* Prepares a batch of B rows of T random tokens. With loss_rows > 0 only
 * the last loss_rows positions of each row carry loss and logits (as in
 * SQuAD training, where the loss covers the answer); 0 means all. */
int sdq_mbench_batch(int B, int T, int loss_rows, char *err, size_t len);

/* One forward pass (with loss) of the prepared batch. */
int sdq_mbench_forward(char *err, size_t len);

/* One forward and backward pass (LoRA gradients only; the base is frozen). */
int sdq_mbench_forward_backward(char *err, size_t len);

/* Greedy generation of n_new tokens after a prompt of n_prompt random
 * tokens, without stop tokens. Returns the tokens generated, or -1. */
int sdq_mbench_generate(int n_prompt, int n_new, char *err, size_t len);

/* CPU time of the whole process (all threads) so far, in seconds. */
double sdq_mbench_cpu_seconds(void);

/* Peak resident memory of the process so far, in MiB (getrusage). */
double sdq_mbench_peak_rss_mib(void);

#ifdef __cplusplus
}
#endif

#endif
