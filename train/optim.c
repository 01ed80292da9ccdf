/* optim.c - AdamW, learning-rate schedule and gradient clipping (see optim.h). */
#include "config.h"

#include "train/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sdq_adamw_config sdq_adamw_defaults(void) {
  sdq_adamw_config c = {0};
  c.lr = 1e-3f;
  c.beta1 = 0.9f;
  c.beta2 = 0.999f;
  c.eps = 1e-8f;
  c.weight_decay = 0.0f;
  c.min_lr_ratio = 0.1f;
  c.warmup_steps = 0;
  c.total_steps = 1;
  c.grad_clip = 1.0f;
  return c;
}

float sdq_lr_at(const sdq_adamw_config *cfg, int step) {
  if (step < cfg->warmup_steps)
    return cfg->lr * (float)(step + 1) / (float)cfg->warmup_steps;
  int decay = cfg->total_steps - cfg->warmup_steps;
  double progress = decay > 0 ? (double)(step - cfg->warmup_steps) / decay : 1.0;
  if (progress > 1.0)
    progress = 1.0;
  double cosine = 0.5 * (1.0 + cos(M_PI * progress));
  return (float)(cfg->lr * (cfg->min_lr_ratio + (1.0 - cfg->min_lr_ratio) * cosine));
}

int sdq_adamw_init(sdq_adamw *opt, const sdq_adamw_config *cfg, size_t n, size_t n_spans,
                   char *err, size_t errlen) {
  memset(opt, 0, sizeof *opt);
  opt->cfg = *cfg;
  opt->n = n;
  opt->n_spans = n_spans;
  opt->m = calloc(n ? n : 1, sizeof *opt->m);
  opt->v = calloc(n ? n : 1, sizeof *opt->v);
  opt->t = calloc(n_spans ? n_spans : 1, sizeof *opt->t);
  if (!opt->m || !opt->v || !opt->t) {
    sdq_adamw_free(opt);
    if (err && errlen)
      snprintf(err, errlen, "out of memory allocating AdamW state for %zu parameters", n);
    return -1;
  }
  return 0;
}

void sdq_adamw_free(sdq_adamw *opt) {
  free(opt->m);
  free(opt->v);
  free(opt->t);
  memset(opt, 0, sizeof *opt);
}

void sdq_adamw_update(sdq_adamw *opt, size_t span, float *params, const float *grads,
                      size_t offset, size_t count, float lr, float grad_scale) {
  const sdq_adamw_config *c = &opt->cfg;
  int64_t t = ++opt->t[span];
  float b1 = c->beta1, b2 = c->beta2;
  float corr1 = 1.0f - (float)pow(b1, (double)t);
  float corr2 = 1.0f - (float)pow(b2, (double)t);
  float *p = params + offset, *m = opt->m + offset, *v = opt->v + offset;
  const float *g = grads + offset;

  for (size_t i = 0; i < count; i++) {
    float gi = grad_scale * g[i];
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    float mhat = m[i] / corr1;
    float vhat = v[i] / corr2;
    p[i] -= lr * (mhat / (sqrtf(vhat) + c->eps) + c->weight_decay * p[i]);
  }
}

double sdq_sum_squares(const float *g, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += (double)g[i] * (double)g[i];
  return s;
}

float sdq_clip_factor(double sum_squares, float max_norm) {
  if (max_norm <= 0.0f)
    return 1.0f;
  double norm = sqrt(sum_squares);
  return norm > max_norm ? (float)(max_norm / norm) : 1.0f;
}
