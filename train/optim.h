/* optim.h - AdamW over spans of a flat parameter arena, the learning-rate
 * schedule (linear warm-up, then cosine decay) and gradient clipping by
 * global norm.
 *
 * A span is a contiguous range of the arena that is updated as a unit (one
 * LoRA adapter, or the whole base model). Each span keeps its own step count
 * t, so a LoRA adapter that only runs in some training steps gets the bias
 * correction of the updates it actually received:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + lr * wd * p
 * (decoupled weight decay, as in Loshchilov & Hutter's AdamW).
 */
#ifndef SDQ_TRAIN_OPTIM_H
#define SDQ_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdq_adamw_config {
  float lr;           /* peak learning rate */
  float beta1, beta2; /* 0.9, 0.999 by default */
  float eps;          /* 1e-8 by default */
  float weight_decay; /* decoupled, multiplied by lr; 0 disables */
  float min_lr_ratio; /* the cosine decays to lr * min_lr_ratio */
  int warmup_steps;   /* lr rises linearly over these steps */
  int total_steps;    /* the cosine ends here */
  float grad_clip;    /* max global L2 norm of the gradient; 0 disables */
} sdq_adamw_config;

/* lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0, min ratio 0.1, no
 * warm-up, grad clip 1.0; total_steps must be set by the caller. */
sdq_adamw_config sdq_adamw_defaults(void);

/* Learning rate at step (0-based): lr * (step+1)/warmup during warm-up,
 * then lr * (min + (1-min) * 0.5 * (1 + cos(pi * progress))) with progress
 * going from 0 to 1 over the remaining steps (held at the end after
 * total_steps). */
float sdq_lr_at(const sdq_adamw_config *cfg, int step);

/* Optimizer state for an arena of n floats split into n_spans spans. */
typedef struct sdq_adamw {
  sdq_adamw_config cfg;
  size_t n;
  float *m, *v;      /* first and second moments, n floats each */
  size_t n_spans;
  int64_t *t;        /* updates each span has received */
} sdq_adamw;

/* Allocates zeroed moments. Returns 0 or -1 (out of memory, message in err). */
int sdq_adamw_init(sdq_adamw *opt, const sdq_adamw_config *cfg, size_t n,
                   size_t n_spans, char *err, size_t errlen);
void sdq_adamw_free(sdq_adamw *opt);

/* One AdamW update of span `span` = params[offset .. offset+count) with the
 * gradient grad_scale * grads[offset ..] (grad_scale is the clipping
 * factor) at learning rate lr. Increments the span's step count. */
void sdq_adamw_update(sdq_adamw *opt, size_t span, float *params,
                      const float *grads, size_t offset, size_t count, float lr,
                      float grad_scale);

/* Returns the sum of squares of g[0 .. n-1] in double precision. */
double sdq_sum_squares(const float *g, size_t n);

/* Returns the factor to multiply gradients by so their global norm
 * sqrt(sum_squares) is at most max_norm (1 when it already is, or when
 * max_norm <= 0). */
float sdq_clip_factor(double sum_squares, float max_norm);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_OPTIM_H */
