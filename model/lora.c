/* lora.c - the LoRA bank: one adapter per bits on every linear layer, all
 * parameters in one arena and all gradients in another. */
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>

#include "model/gpt2_internal.h"

int sdq_lora_set_index(const sdq_lora_bank *bank, int bits) {
  if (sdq_bits_is_full(bits))
    bits = SDQ_LORA_FULL_BITS;
  for (int i = 0; i < bank->cfg.n_sets; i++)
    if (bank->cfg.bits[i] == bits)
      return i;
  return -1;
}

sdq_lora_adapter *sdq_lora_adapter_at(const sdq_lora_bank *bank, int set,
                                      int l, sdq_linear k) {
  return &bank->adapters[((size_t)set * (size_t)bank->n_layer + (size_t)l) * SDQ_LIN_COUNT + k];
}

int sdq_gpt2_lora_init(sdq_gpt2 *m, const sdq_lora_config *cfg, uint64_t seed,
                       char *err, size_t errlen) {
  if (cfg->rank < 0 || cfg->rank > 4 * m->cfg.n_embd) {
    sdq_set_err(err, errlen, "LoRA rank %d invalid (use 0 to disable, or 1..%d)", cfg->rank,
                4 * m->cfg.n_embd);
    return -1;
  }
  if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f)) {
    sdq_set_err(err, errlen, "LoRA dropout %g invalid (use a probability in [0, 1))",
                (double)cfg->dropout);
    return -1;
  }
  if (cfg->rank > 0 && !(isfinite(cfg->alpha) && cfg->alpha > 0)) {
    sdq_set_err(err, errlen, "LoRA alpha %g invalid (use a positive number)", (double)cfg->alpha);
    return -1;
  }
  if (cfg->n_sets < 0 || cfg->n_sets > SDQ_LORA_MAX_SETS || (cfg->rank > 0 && cfg->n_sets == 0)) {
    sdq_set_err(err, errlen, "LoRA bank with %d adapter sets invalid (use 1..%d bits values)",
                cfg->n_sets, SDQ_LORA_MAX_SETS);
    return -1;
  }
  sdq_lora_config c = *cfg;
  for (int i = 0; i < c.n_sets; i++) {
    int b = c.bits[i];
    if (sdq_bits_is_full(b))
      b = SDQ_LORA_FULL_BITS;
    else if (b < 2 || b > 8) {
      sdq_set_err(err, errlen, "LoRA bits %d invalid (use 2..8, 16 or 32)", c.bits[i]);
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (c.bits[j] == b) {
        sdq_set_err(err, errlen, "LoRA bits %d listed twice (16 and 32 share one full-precision set)",
                    c.bits[i]);
        return -1;
      }
    c.bits[i] = b;
  }

  int L = m->cfg.n_layer, C = m->cfg.n_embd, r = c.rank;
  size_t per_set = 0;
  for (int k = 0; k < SDQ_LIN_COUNT; k++) {
    int in, out;
    sdq_linear_dims((sdq_linear)k, C, &in, &out);
    per_set += (size_t)L * (size_t)r * (size_t)(in + out);
  }
  sdq_lora_bank nb;
  memset(&nb, 0, sizeof nb);
  nb.cfg = c;
  nb.n_layer = L;
  if (r == 0)
    nb.cfg.n_sets = 0;
  nb.n_params = r ? per_set * (size_t)c.n_sets : 0;
  if (r > 0) {
    nb.params = sdq_falloc(nb.n_params);
    nb.grads = sdq_falloc(nb.n_params);
    nb.adapters = calloc((size_t)c.n_sets * (size_t)L * SDQ_LIN_COUNT, sizeof *nb.adapters);
    if (!nb.params || !nb.grads || !nb.adapters) {
      free(nb.params);
      free(nb.grads);
      free(nb.adapters);
      sdq_set_err(err, errlen, "out of memory for a LoRA bank of %zu parameters", nb.n_params);
      return -1;
    }
    /* A ~ U(-1/sqrt(in), 1/sqrt(in)): PyTorch's kaiming_uniform_(a=sqrt(5))
     * bound sqrt(6 / ((1 + a^2) in)); B = 0 so the adapters start as a no-op. */
    sdq_rng rng;
    sdq_rng_seed(&rng, seed);
    size_t off = 0;
    for (int s = 0; s < c.n_sets; s++)
      for (int l = 0; l < L; l++)
        for (int k = 0; k < SDQ_LIN_COUNT; k++) {
          sdq_lora_adapter *a = sdq_lora_adapter_at(&nb, s, l, (sdq_linear)k);
          sdq_linear_dims((sdq_linear)k, C, &a->in, &a->out);
          a->offset = off;
          a->count = (size_t)r * (size_t)(a->in + a->out);
          a->A = nb.params + off;
          a->B = a->A + (size_t)r * a->in;
          a->dA = nb.grads + off;
          a->dB = a->dA + (size_t)r * a->in;
          float bound = 1.0f / sqrtf((float)a->in);
          for (size_t i = 0; i < (size_t)r * a->in; i++)
            a->A[i] = bound * (2.0f * sdq_rng_uniform(&rng) - 1.0f);
          off += a->count;
        }
  }

  free(m->lora.params);
  free(m->lora.grads);
  free(m->lora.adapters);
  m->lora = nb;
  sdq_state_free(m); /* the LoRA buffers depend on the rank */
  return 0;
}
