/* targets.c - the precision an attacked model runs at (fp32_lora, a static
 * bit configuration, random_switch) and the answer loss and its gradient
 * with respect to the prompt embeddings, which every attack ascends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"

void sdq_attack_example_free(sdq_attack_example *ex) {
  free(ex->ids);
  free(ex->protect);
  memset(ex, 0, sizeof *ex);
}

void sdq_target_init_fp32(sdq_attack_target *t) {
  memset(t, 0, sizeof *t);
  t->kind = SDQ_TARGET_FP32_LORA;
  snprintf(t->name, sizeof t->name, "fp32_lora");
  t->last_bits = SDQ_LORA_FULL_BITS;
}

int sdq_target_init_static(sdq_attack_target *t, const char *name,
                           const sdq_bitconfig *cfg, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  t->kind = SDQ_TARGET_STATIC;
  snprintf(t->name, sizeof t->name, "%s", name);
  if (sdq_bitconfig_copy(&t->bits, cfg) != 0) {
    snprintf(err, errlen, "target %s: out of memory copying the bit configuration", name);
    return -1;
  }
  t->last_bits = cfg->n_layer > 0 ? cfg->layers[0].w_bits : SDQ_LORA_FULL_BITS;
  return 0;
}

int sdq_target_init_switch(sdq_attack_target *t, const int *bits, int n_bits,
                           int a_bits, uint64_t seed, char *err,
                           size_t errlen) {
  memset(t, 0, sizeof *t);
  t->kind = SDQ_TARGET_RANDOM_SWITCH;
  snprintf(t->name, sizeof t->name, "random_switch");
  if (n_bits < 1 || n_bits > SDQ_TARGET_MAX_BITS) {
    snprintf(err, errlen, "random_switch: the precision set has %d entries; give 1 to %d",
             n_bits, SDQ_TARGET_MAX_BITS);
    return -1;
  }
  for (int i = 0; i < n_bits; i++) {
    int b = bits[i];
    if (!((b >= 2 && b <= 8) || b == 16 || b == 32)) {
      snprintf(err, errlen, "random_switch: invalid bits %d in the precision set (use 2..8, 16 or 32)", b);
      return -1;
    }
    t->switch_bits[i] = b;
  }
  if (a_bits != 0 && (a_bits < 2 || a_bits > 8)) {
    snprintf(err, errlen, "random_switch: invalid activation bits %d (use 2..8, or 0 for fp32)", a_bits);
    return -1;
  }
  t->n_switch = n_bits;
  t->a_bits = a_bits;
  sdq_rng_seed(&t->rng, seed);
  t->last_bits = bits[0];
  return 0;
}

void sdq_target_free(sdq_attack_target *t) {
  sdq_bitconfig_free(&t->bits);
  memset(t, 0, sizeof *t);
}

int sdq_target_apply(sdq_attack_target *t, sdq_gpt2 *m, char *err,
                     size_t errlen) {
  switch (t->kind) {
  case SDQ_TARGET_FP32_LORA:
    t->last_bits = SDQ_LORA_FULL_BITS;
    return sdq_gpt2_set_uniform_bits(m, SDQ_LORA_FULL_BITS, 0, err, errlen);
  case SDQ_TARGET_STATIC:
    return sdq_gpt2_set_bits(m, &t->bits, err, errlen);
  case SDQ_TARGET_RANDOM_SWITCH: {
    int b = t->switch_bits[sdq_rng_below(&t->rng, (uint32_t)t->n_switch)];
    t->last_bits = b;
    return sdq_gpt2_set_uniform_bits(m, b, sdq_bits_is_full(b) ? 0 : t->a_bits, err, errlen);
  }
  }
  snprintf(err, errlen, "unknown attack target kind %d", (int)t->kind);
  return -1;
}

int sdq_answer_loss_grad(sdq_gpt2 *m, sdq_attack_target *t,
                         const sdq_attack_example *ex, const float *embeds,
                         int eot_samples, float *loss, float *grad, char *err,
                         size_t errlen) {
  const int C = m->cfg.n_embd, n = ex->n, np = ex->n_prompt;
  if (np < 1 || n <= np || n > m->cfg.n_ctx) {
    snprintf(err, errlen,
             "attack example of question %zu: %d prompt + %d answer tokens do not fit "
             "(need >= 1 prompt and >= 1 answer token, at most n_ctx = %d in total)",
             ex->question, np, n - np, m->cfg.n_ctx);
    return -1;
  }
  if (eot_samples < 1)
    eot_samples = 1;

  /* 1. Inputs: the given prompt embeddings, then the answer's own wte rows;
   * targets are the next tokens, weighted only where they are answer tokens. */
  float *x = malloc(sizeof(float) * (size_t)n * C);
  float *dx = grad ? malloc(sizeof(float) * (size_t)n * C) : NULL;
  int32_t *targets = malloc(sizeof(int32_t) * (size_t)n);
  float *mask = calloc((size_t)n, sizeof(float));
  int rc = -1;
  if (!x || !targets || !mask || (grad && !dx)) {
    snprintf(err, errlen, "attack example of question %zu: out of memory", ex->question);
    goto done;
  }
  memcpy(x, embeds, sizeof(float) * (size_t)np * C);
  if (sdq_gpt2_embed_tokens(m, ex->ids + np, n - np, x + (size_t)np * C, err, errlen))
    goto done;
  for (int i = 0; i < n; i++) {
    targets[i] = i + 1 < n ? ex->ids[i + 1] : 0;
    mask[i] = (i >= np - 1 && i + 1 < n) ? 1.0f : 0.0f;
  }
  sdq_gpt2_batch batch = {.B = 1, .T = n, .embeds = x, .targets = targets,
                          .loss_mask = mask, .logits_masked_only = 1};

  /* 2. eot_samples forward/backward passes, each at freshly applied bits;
   * the gradient is their mean. */
  if (grad)
    memset(dx, 0, sizeof(float) * (size_t)n * C);
  double loss_sum = 0.0;
  for (int s = 0; s < eot_samples; s++) {
    float l = 0.0f;
    if (sdq_target_apply(t, m, err, errlen) ||
        sdq_gpt2_forward(m, &batch, &l, err, errlen))
      goto done;
    loss_sum += l;
    if (grad) {
      sdq_gpt2_zero_grad(m);
      if (sdq_gpt2_backward(m, 1.0f / (float)eot_samples, dx, err, errlen))
        goto done;
    }
  }
  if (loss)
    *loss = (float)(loss_sum / eot_samples);
  if (grad)
    memcpy(grad, dx, sizeof(float) * (size_t)np * C);
  rc = 0;

done:
  free(x);
  free(dx);
  free(targets);
  free(mask);
  return rc;
}
