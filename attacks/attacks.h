/* attacks.h - adversarial attacks on the SQuAD prompt of a GPT-2 + LoRA bank
 * model (PGD on the context's input embeddings, HotFlip token flips), the
 * three attack targets (fp32_lora, a static bit configuration,
 * random_switch) and the robustness evaluation that scores them.
 *
 * Terms used throughout:
 * - An attack example is one tokenized prompt (context, question, answer
 *   cue) followed by the gold answer's tokens (teacher forcing). The answer
 *   loss is the mean cross-entropy of the answer tokens given everything
 *   before them; attacks maximise it.
 * - Only context positions are ever perturbed or flipped; HotFlip also
 *   leaves the gold answer's tokens inside the context alone.
 * - Clean F1 / adversarial F1 are SQuAD v1.1 F1 (0..100) of the greedy
 *   answer generated from the clean / attacked prompt.
 * - Success rate: among the questions whose clean F1 is > 0, the percentage
 *   whose adversarial F1 is lower than their clean F1. It is NaN (JSON null)
 *   when no question has clean F1 > 0.
 *
 * Functions that can fail return 0 or -1 with a message in err; nothing
 * here prints except the progress lines of sdq_robustness_run (stderr).
 * Everything is deterministic for a given seed.
 */
#ifndef SDQ_ATTACKS_H
#define SDQ_ATTACKS_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ examples */

/* One attack example. Token layout of ids[n]:
 *   [0, n_prompt)            the prompt; context tokens are
 *                            [ctx_begin, ctx_end), the question and the
 *                            answer cue lie outside that range
 *   [n_prompt, n)            the gold answer tokens (the loss targets)
 * protect[n_prompt] is 1 at prompt positions HotFlip must not touch: every
 * token overlapping a gold answer inside the context. */
typedef struct sdq_attack_example {
  int32_t *ids;      /* owned */
  int n, n_prompt;
  int ctx_begin, ctx_end;
  uint8_t *protect;  /* owned, n_prompt entries */
  size_t question;   /* index of the SQuAD question (for scoring) */
} sdq_attack_example;

void sdq_attack_example_free(sdq_attack_example *ex);

/* ------------------------------------------------------------- targets */

typedef enum sdq_target_kind {
  SDQ_TARGET_FP32_LORA = 0, /* every layer full precision, fp32 adapters */
  SDQ_TARGET_STATIC,        /* one fixed bit configuration */
  SDQ_TARGET_RANDOM_SWITCH  /* each forward pass draws uniform bits from a set */
} sdq_target_kind;

#define SDQ_TARGET_MAX_BITS 8

/* An attack target: what precision the model runs at for each forward
 * pass. Every forward pass (gradient step, generation) calls
 * sdq_target_apply first, which for random_switch draws a fresh precision
 * from the target's own RNG. */
typedef struct sdq_attack_target {
  sdq_target_kind kind;
  char name[64];               /* "fp32_lora", "static_8bit", ... */
  sdq_bitconfig bits;          /* SDQ_TARGET_STATIC: owned copy */
  int switch_bits[SDQ_TARGET_MAX_BITS]; /* SDQ_TARGET_RANDOM_SWITCH */
  int n_switch;
  int a_bits;                  /* activation bits for random_switch, 0 = fp32 */
  sdq_rng rng;                 /* random_switch draws */
  int last_bits;               /* the bits of the last apply (32 for fp32) */
} sdq_attack_target;

/* Initialises the three kinds. sdq_target_init_static copies cfg;
 * sdq_target_init_switch rejects an empty set, more than
 * SDQ_TARGET_MAX_BITS entries and bits outside 2..8/16/32. */
void sdq_target_init_fp32(sdq_attack_target *t);
int sdq_target_init_static(sdq_attack_target *t, const char *name,
                           const sdq_bitconfig *cfg, char *err, size_t errlen);
int sdq_target_init_switch(sdq_attack_target *t, const int *bits, int n_bits,
                           int a_bits, uint64_t seed, char *err,
                           size_t errlen);
void sdq_target_free(sdq_attack_target *t);

/* Sets the model's bits for the next forward pass (drawing a precision for
 * random_switch) and returns 0, or -1 when the model cannot run them (e.g.
 * the LoRA bank lacks an adapter set for those bits). */
int sdq_target_apply(sdq_attack_target *t, sdq_gpt2 *m, char *err,
                     size_t errlen);

/* ---------------------------------------------------------- gradients */

/* Computes the answer loss of ex with the prompt's token embeddings replaced
 * by embeds (n_prompt, C) (the answer tokens use their own wte rows), at
 * the bits the target applies. When grad is not NULL it receives
 * d(loss)/d(embeds) (n_prompt, C), averaged over eot_samples forward and
 * backward passes (each with its own sdq_target_apply; use 1 except for the
 * EOT attack). *loss receives the mean loss over those passes. */
int sdq_answer_loss_grad(sdq_gpt2 *m, sdq_attack_target *t,
                         const sdq_attack_example *ex, const float *embeds,
                         int eot_samples, float *loss, float *grad, char *err,
                         size_t errlen);

/* ---------------------------------------------------------------- PGD */

typedef enum sdq_norm { SDQ_NORM_LINF = 0, SDQ_NORM_L2 } sdq_norm;

typedef struct sdq_pgd_params {
  sdq_norm norm;
  float eps;         /* ball radius, in embedding units (absolute) */
  float step;        /* step size, same units */
  int steps;         /* gradient steps, >= 0 */
  int random_start;  /* 1: start uniformly inside the L-inf ball, or at a
                        random direction with radius U(0,1)*eps for L2 */
  int eot_samples;   /* gradients averaged per step (1 = plain PGD) */
} sdq_pgd_params;

/* Runs PGD on ex: delta lives on the context rows [ctx_begin, ctx_end) of
 * the prompt embeddings only (other rows stay 0). Each step ascends the
 * answer loss: L-inf: delta += step * sign(g); L2: delta += step * g /
 * ||g||_2, where the L2 norm is taken over the whole context perturbation
 * (all rows and columns together). After every step delta is projected back
 * onto the ball (clamp per coordinate for L-inf, rescale for L2). out
 * (n_prompt, C) receives the perturbed prompt embeddings, delta (may be
 * NULL; n_prompt * C) the final perturbation. rng drives the random start. */
int sdq_pgd_attack(sdq_gpt2 *m, sdq_attack_target *t,
                   const sdq_attack_example *ex, const sdq_pgd_params *p,
                   sdq_rng *rng, float *out, float *delta, char *err,
                   size_t errlen);

/* ------------------------------------------------------------ HotFlip */

/* HotFlip's candidate vocabulary: allowed[V] is 1 for tokens an attack may
 * insert. Built by sdq_hotflip_vocab from the token byte strings. */
typedef struct sdq_hotflip_params {
  int max_flips;           /* k: at most this many context positions change */
  const uint8_t *allowed;  /* (V) candidate tokens */
  int eot_samples;         /* gradients averaged per flip (1 = plain) */
} sdq_hotflip_params;

/* Marks the tokens HotFlip may insert: ordinary word pieces. A token is
 * excluded when it is eot_id, is empty, contains a byte below 0x20 (newline,
 * tab and other control characters) or 0x7f, or is not a complete, valid
 * UTF-8 string on its own (byte-fallback pieces that hold part of a
 * multi-byte character). token_bytes(id, &len, ctx) returns the bytes of a
 * token. allowed must hold V entries. Returns the number allowed. */
int sdq_hotflip_vocab(int V, int eot_id,
                      const char *(*token_bytes)(int id, size_t *len,
                                                 void *ctx),
                      void *ctx, uint8_t *allowed);

/* Runs HotFlip on ex: up to max_flips iterations, each recomputing the
 * gradient g of the answer loss w.r.t. the prompt embeddings at the current
 * tokens and applying the single best flip: the position p and token v that
 * maximise g[p] . (wte[v] - wte[ids[p]]) over context positions that are
 * neither protected nor flipped before and allowed tokens v != ids[p]. The
 * search stops early when no flip has a positive score. out_ids
 * (n_prompt) receives the attacked prompt, *n_flips the count of flipped
 * positions (<= max_flips). */
int sdq_hotflip_attack(sdq_gpt2 *m, sdq_attack_target *t,
                       const sdq_attack_example *ex,
                       const sdq_hotflip_params *p, int32_t *out_ids,
                       int *n_flips, char *err, size_t errlen);

/* ------------------------------------------------ robustness evaluation */

struct sdq_tokenizer;
struct sdq_squad;

/* Builds the attack example of SQuAD question qi: the training prompt of
 * its first gold answer (train/prompt.h layout, the window drawn by rng so
 * that the answer stays inside), at most max_len tokens. ctx_begin is the
 * first context token after "Context:"; protect marks every context token
 * whose bytes overlap any gold answer of the question. Returns 0, 1 when the
 * question does not fit (skip it), or -1 with err. */
int sdq_attack_example_build(struct sdq_tokenizer *tok,
                             const struct sdq_squad *sq, size_t qi,
                             int max_len, sdq_rng *rng,
                             sdq_attack_example *ex, char *err, size_t errlen);

typedef enum sdq_attack_kind {
  SDQ_ATTACK_PGD_LINF = 0,
  SDQ_ATTACK_PGD_L2,
  SDQ_ATTACK_HOTFLIP,
  SDQ_ATTACK_EOT_PGD_LINF /* PGD L-inf with eot_samples gradients per step */
} sdq_attack_kind;

/* Returns "pgd_linf", "pgd_l2", "hotflip" or "eot_pgd_linf". */
const char *sdq_attack_name(sdq_attack_kind k);
/* Parses one of those names; returns 0 or -1. */
int sdq_attack_parse(const char *name, sdq_attack_kind *k);

typedef struct sdq_robustness_options {
  sdq_attack_kind attack;
  sdq_pgd_params pgd;         /* PGD and EOT attacks (eps in absolute units) */
  int max_flips;              /* HotFlip k */
  const uint8_t *allowed;     /* HotFlip candidate vocabulary (V) */
  int eot_samples;            /* EOT attack: gradients averaged per step */
  int max_new;                /* generated answer tokens, at most */
  uint64_t seed;              /* windows, random starts, random_switch draws */
  int progress;               /* 1: a progress line per question on stderr */
} sdq_robustness_options;

/* Aggregates over the attacked questions. F1 and EM are 0..100. */
typedef struct sdq_robustness_result {
  double clean_f1, adv_f1, clean_em, adv_em;
  double success_rate;   /* percent, NaN when n_clean_positive == 0 */
  int n_questions;       /* attacked (skipped ones not counted) */
  int n_skipped;         /* did not fit in n_ctx */
  int n_clean_positive;  /* clean F1 > 0 */
  int n_success;         /* of those, adversarial F1 < clean F1 */
  double mean_flips;     /* HotFlip: mean flipped positions */
  int bits_seen[33];     /* random_switch: forward passes per drawn bits */
} sdq_robustness_result;

/* Attacks the questions qs[n_q] of sq on target t and scores the greedy
 * answers from the clean and the attacked prompt. For each question the
 * example window, the PGD random start and the target's precision draws are
 * seeded from (o->seed, question index), so a question's outcome does not
 * depend on which other questions run, and the same seed gives the same
 * result. The model runs with training off (no LoRA dropout). */
int sdq_robustness_run(sdq_gpt2 *m, struct sdq_tokenizer *tok,
                       const struct sdq_squad *sq, const size_t *qs,
                       size_t n_q, sdq_attack_target *t,
                       const sdq_robustness_options *o,
                       sdq_robustness_result *res, char *err, size_t errlen);

/* Transfer matrix: examples crafted against the static uniform precision
 * bits[a] and scored at bits[b], for every a, b < n_bits. adv_f1[a * n_bits
 * + b] and clean_f1[b] (0..100) are filled. */
int sdq_transfer_run(sdq_gpt2 *m, struct sdq_tokenizer *tok,
                     const struct sdq_squad *sq, const size_t *qs, size_t n_q,
                     const int *bits, int n_bits,
                     const sdq_robustness_options *o, double *clean_f1,
                     double *adv_f1, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_ATTACKS_H */
