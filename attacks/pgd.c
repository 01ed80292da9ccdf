/* pgd.c - projected gradient descent (ascent on the answer loss) on the
 * context's input embeddings, inside an L-inf or L2 ball. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"

/* Projects delta (rows x C, dense) onto the ball of radius eps. */
static void project(float *delta, size_t count, sdq_norm norm, float eps) {
  if (norm == SDQ_NORM_LINF) {
    for (size_t i = 0; i < count; i++)
      delta[i] = fminf(eps, fmaxf(-eps, delta[i]));
    return;
  }
  double sq = 0.0;
  for (size_t i = 0; i < count; i++)
    sq += (double)delta[i] * delta[i];
  double norm2 = sqrt(sq);
  if (norm2 > eps) {
    /* The float rounding of the rescale can leave the norm a hair above
     * eps; shrinking by one extra ulp-scale factor keeps it inside. */
    float f = (float)(eps / norm2) * (1.0f - 1e-6f);
    for (size_t i = 0; i < count; i++)
      delta[i] *= f;
  }
}

int sdq_pgd_attack(sdq_gpt2 *m, sdq_attack_target *t,
                   const sdq_attack_example *ex, const sdq_pgd_params *p,
                   sdq_rng *rng, float *out, float *delta_out, char *err,
                   size_t errlen) {
  const int C = m->cfg.n_embd, np = ex->n_prompt;
  if (!(p->eps >= 0.0f) || !(p->step >= 0.0f) || p->steps < 0) {
    snprintf(err, errlen, "PGD: invalid parameters eps %g, step %g, steps %d (need eps >= 0, step >= 0, steps >= 0)",
             p->eps, p->step, p->steps);
    return -1;
  }
  if (ex->ctx_begin < 0 || ex->ctx_end > np || ex->ctx_begin > ex->ctx_end) {
    snprintf(err, errlen, "PGD: question %zu: context range [%d, %d) lies outside the %d-token prompt",
             ex->question, ex->ctx_begin, ex->ctx_end, np);
    return -1;
  }

  const size_t row0 = (size_t)ex->ctx_begin * C;
  const size_t count = (size_t)(ex->ctx_end - ex->ctx_begin) * C;
  float *clean = malloc(sizeof(float) * (size_t)np * C);
  float *grad = malloc(sizeof(float) * (size_t)np * C);
  float *delta = calloc(count ? count : 1, sizeof(float));
  int rc = -1;
  if (!clean || !grad || !delta) {
    snprintf(err, errlen, "PGD: question %zu: out of memory", ex->question);
    goto done;
  }
  if (sdq_gpt2_embed_tokens(m, ex->ids, np, clean, err, errlen))
    goto done;

  /* 1. Start: 0, or a random point of the ball. */
  if (p->random_start && count > 0) {
    if (p->norm == SDQ_NORM_LINF) {
      for (size_t i = 0; i < count; i++)
        delta[i] = p->eps * (2.0f * sdq_rng_uniform(rng) - 1.0f);
    } else {
      for (size_t i = 0; i < count; i++)
        delta[i] = sdq_rng_normal(rng);
      double sq = 0.0;
      for (size_t i = 0; i < count; i++)
        sq += (double)delta[i] * delta[i];
      float f = sq > 0 ? (float)(p->eps * sdq_rng_uniform(rng) / sqrt(sq)) : 0.0f;
      for (size_t i = 0; i < count; i++)
        delta[i] *= f;
    }
    project(delta, count, p->norm, p->eps);
  }

  /* 2. Ascent steps, each followed by the projection. */
  memcpy(out, clean, sizeof(float) * (size_t)np * C);
  for (int s = 0; s < p->steps && count > 0; s++) {
    for (size_t i = 0; i < count; i++)
      out[row0 + i] = clean[row0 + i] + delta[i];
    if (sdq_answer_loss_grad(m, t, ex, out, p->eot_samples, NULL, grad, err, errlen))
      goto done;

    const float *g = grad + row0;
    if (p->norm == SDQ_NORM_LINF) {
      for (size_t i = 0; i < count; i++)
        delta[i] += p->step * (float)((g[i] > 0) - (g[i] < 0));
    } else {
      double sq = 0.0;
      for (size_t i = 0; i < count; i++)
        sq += (double)g[i] * g[i];
      if (sq > 0) {
        float f = (float)(p->step / sqrt(sq));
        for (size_t i = 0; i < count; i++)
          delta[i] += f * g[i];
      }
    }
    project(delta, count, p->norm, p->eps);
  }

  /* 3. The attacked prompt embeddings. */
  for (size_t i = 0; i < count; i++)
    out[row0 + i] = clean[row0 + i] + delta[i];
  if (delta_out) {
    memset(delta_out, 0, sizeof(float) * (size_t)np * C);
    memcpy(delta_out + row0, delta, sizeof(float) * count);
  }
  rc = 0;

done:
  free(clean);
  free(grad);
  free(delta);
  return rc;
}
