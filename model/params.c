/* params.c - model creation, GPT-2 initialisation, the base-weight arenas
 * and small accessors (embeddings, bits, gradients). */
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>

#include "model/gpt2_internal.h"

void sdq_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

float *sdq_falloc(size_t n) {
  size_t bytes = (n ? n : 1) * sizeof(float);
  bytes = (bytes + 63) & ~(size_t)63;
  float *p = aligned_alloc(64, bytes);
  if (p)
    memset(p, 0, bytes);
  return p;
}

static void init_normal(float *w, size_t n, float std, sdq_rng *r) {
  for (size_t i = 0; i < n; i++)
    w[i] = std * sdq_rng_normal(r);
}

static void init_const(float *w, size_t n, float v) {
  for (size_t i = 0; i < n; i++)
    w[i] = v;
}

sdq_gpt2 *sdq_gpt2_alloc(const sdq_gpt2_config *cfg, uint64_t seed, char *err,
                         size_t errlen) {
  if (sdq_gpt2_config_validate(cfg, err, errlen) != 0)
    return NULL;
  sdq_gpt2 *m = calloc(1, sizeof *m);
  if (!m)
    goto oom;
  m->cfg = *cfg;
  m->n_params = sdq_gpt2_param_sizes(cfg, NULL);
  m->params_memory = sdq_falloc(m->n_params);
  m->state = calloc(1, sizeof *m->state);
  if (!m->params_memory || !m->state)
    goto oom;
  m->state->qcache = calloc((size_t)cfg->n_layer * SDQ_LIN_COUNT * 9, sizeof(sdq_qmatrix));
  if (!m->state->qcache)
    goto oom;
  sdq_params_point(&m->params, cfg, m->params_memory);
  if (sdq_bitconfig_init_uniform(&m->bits, cfg->n_layer, 32, 0, err, errlen) != 0)
    goto fail;
  /* The model's own stream (LoRA dropout) is independent of the init one. */
  sdq_rng_seed(&m->rng, seed ^ 0x5dd5a17e0c0ffeeULL);
  return m;

oom:
  sdq_set_err(err, errlen, "out of memory creating a GPT-2 model with %zu parameters",
              sdq_gpt2_param_sizes(cfg, NULL));
fail:
  sdq_gpt2_free(m);
  return NULL;
}

sdq_gpt2 *sdq_gpt2_create(const sdq_gpt2_config *cfg, uint64_t seed,
                          char *err, size_t errlen) {
  sdq_gpt2 *m = sdq_gpt2_alloc(cfg, seed, err, errlen);
  if (!m)
    return NULL;

  /* GPT-2 initialisation: N(0, 0.02), residual projections scaled by
   * 1/sqrt(2L) because each block adds two of them to the residual stream. */
  sdq_rng r;
  sdq_rng_seed(&r, seed);
  size_t C = (size_t)cfg->n_embd, L = (size_t)cfg->n_layer;
  const float std = 0.02f;
  const float std_res = std / sqrtf(2.0f * (float)cfg->n_layer);
  sdq_gpt2_params *p = &m->params;
  init_normal(p->wte, (size_t)cfg->vocab_size * C, std, &r);
  init_normal(p->wpe, (size_t)cfg->n_ctx * C, std, &r);
  init_const(p->ln1w, L * C, 1.0f);
  init_normal(p->qkvw, L * 3 * C * C, std, &r);
  init_normal(p->attprojw, L * C * C, std_res, &r);
  init_const(p->ln2w, L * C, 1.0f);
  init_normal(p->fcw, L * 4 * C * C, std, &r);
  init_normal(p->fcprojw, L * 4 * C * C, std_res, &r);
  init_const(p->lnfw, C, 1.0f);
  return m;
}

static void lora_bank_free(sdq_lora_bank *b) {
  free(b->params);
  free(b->grads);
  free(b->adapters);
  memset(b, 0, sizeof *b);
}

void sdq_gpt2_free(sdq_gpt2 *m) {
  if (!m)
    return;
  if (m->state) {
    sdq_gpt2_qcache_clear(m);
    free(m->state->qcache);
    sdq_state_free(m);
    free(m->state);
  }
  lora_bank_free(&m->lora);
  sdq_bitconfig_free(&m->bits);
  free(m->params_memory);
  free(m->grads_memory);
  free(m);
}

int sdq_gpt2_set_train_base(sdq_gpt2 *m, int on, char *err, size_t errlen) {
  if (on && !m->grads_memory) {
    m->grads_memory = sdq_falloc(m->n_params);
    if (!m->grads_memory) {
      sdq_set_err(err, errlen, "out of memory for %zu base-weight gradients", m->n_params);
      return -1;
    }
    sdq_params_point(&m->grads, &m->cfg, m->grads_memory);
  } else if (!on && m->grads_memory) {
    free(m->grads_memory);
    m->grads_memory = NULL;
    memset(&m->grads, 0, sizeof m->grads);
  }
  m->train_base = on ? 1 : 0;
  return 0;
}

void sdq_gpt2_base_changed(sdq_gpt2 *m) { sdq_gpt2_qcache_clear(m); }

void sdq_gpt2_zero_grad(sdq_gpt2 *m) {
  if (m->lora.grads)
    memset(m->lora.grads, 0, m->lora.n_params * sizeof(float));
  if (m->lora.adapters) {
    size_t n = (size_t)m->lora.cfg.n_sets * (size_t)m->cfg.n_layer * SDQ_LIN_COUNT;
    for (size_t i = 0; i < n; i++)
      m->lora.adapters[i].used = 0;
  }
  if (m->grads_memory)
    memset(m->grads_memory, 0, m->n_params * sizeof(float));
}

int sdq_gpt2_set_bits(sdq_gpt2 *m, const sdq_bitconfig *cfg, char *err,
                      size_t errlen) {
  if (cfg->n_layer != m->cfg.n_layer) {
    sdq_set_err(err, errlen, "bit configuration is for %d layers but the model has %d",
                cfg->n_layer, m->cfg.n_layer);
    return -1;
  }
  for (int i = 0; i < cfg->n_layer * SDQ_LIN_COUNT; i++) {
    sdq_layer_bits b = cfg->layers[i];
    int l = i / SDQ_LIN_COUNT;
    const char *name = sdq_linear_name((sdq_linear)(i % SDQ_LIN_COUNT));
    if (!sdq_bits_is_full(b.w_bits) && (b.w_bits < 2 || b.w_bits > 8)) {
      sdq_set_err(err, errlen, "transformer.h.%d.%s: weight bits %d invalid (use 2..8, 16 or 32)",
                  l, name, b.w_bits);
      return -1;
    }
    if (b.a_bits != 0 && (b.a_bits < 2 || b.a_bits > 8)) {
      sdq_set_err(err, errlen, "transformer.h.%d.%s: activation bits %d invalid (use 2..8, or 0 for fp32)",
                  l, name, b.a_bits);
      return -1;
    }
    if (m->lora.cfg.rank > 0 && sdq_lora_set_index(&m->lora, b.w_bits) < 0) {
      sdq_set_err(err, errlen,
                  "transformer.h.%d.%s runs at %d bits but the LoRA bank has no adapter set for it; "
                  "add %d to the LoRA bits",
                  l, name, b.w_bits, sdq_bits_is_full(b.w_bits) ? 32 : b.w_bits);
      return -1;
    }
  }
  memcpy(m->bits.layers, cfg->layers,
         (size_t)cfg->n_layer * SDQ_LIN_COUNT * sizeof(sdq_layer_bits));
  return 0;
}

int sdq_gpt2_set_uniform_bits(sdq_gpt2 *m, int w_bits, int a_bits, char *err,
                              size_t errlen) {
  sdq_bitconfig cfg;
  if (sdq_bitconfig_init_uniform(&cfg, m->cfg.n_layer, w_bits, a_bits, err, errlen) != 0)
    return -1;
  int rc = sdq_gpt2_set_bits(m, &cfg, err, errlen);
  sdq_bitconfig_free(&cfg);
  return rc;
}

int sdq_gpt2_prepare_bits(sdq_gpt2 *m, const sdq_bitconfig *cfg, char *err,
                          size_t errlen) {
  if (cfg->n_layer != m->cfg.n_layer) {
    sdq_set_err(err, errlen, "bit configuration is for %d layers but the model has %d",
                cfg->n_layer, m->cfg.n_layer);
    return -1;
  }
  for (int l = 0; l < cfg->n_layer; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      int wb = cfg->layers[l * SDQ_LIN_COUNT + k].w_bits;
      if (!sdq_bits_is_full(wb) && !sdq_gpt2_qweight(m, l, (sdq_linear)k, wb, err, errlen))
        return -1;
    }
  return 0;
}

int sdq_gpt2_embed_tokens(const sdq_gpt2 *m, const int32_t *ids, int n,
                          float *out, char *err, size_t errlen) {
  size_t C = (size_t)m->cfg.n_embd;
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size) {
      sdq_set_err(err, errlen, "token id %d at position %d is outside the vocabulary [0, %d)",
                  ids[i], i, m->cfg.vocab_size);
      return -1;
    }
    memcpy(out + (size_t)i * C, m->params.wte + (size_t)ids[i] * C, C * sizeof(float));
  }
  return 0;
}

const float *sdq_gpt2_wte(const sdq_gpt2 *m) { return m->params.wte; }

int sdq_gpt2_default_eot(const sdq_gpt2 *m) {
  return m->cfg.vocab_size == 50257 ? 50256 : -1;
}
