/* generate.c - greedy generation with a KV cache: a chunked inference pass
 * (the prompt as one chunk, then one token at a time) and the stop rule. */
#include "model/gpt2.h"

#include <stdlib.h>

#include "model/gpt2_internal.h"

static int reserve_gen(sdq_gpt2 *m, char *err, size_t errlen) {
  struct sdq_gpt2_state *s = m->state;
  if (s->gen_x)
    return 0;
  size_t C = (size_t)m->cfg.n_embd, N = (size_t)m->cfg.n_ctx, L = (size_t)m->cfg.n_layer;
  size_t r = m->lora.cfg.rank ? (size_t)m->lora.cfg.rank : 1;
  s->kv.k = sdq_falloc(L * N * C);
  s->kv.v = sdq_falloc(L * N * C);
  s->gen_x = sdq_falloc(N * C);
  s->gen_ln = sdq_falloc(N * C);
  s->gen_qkv = sdq_falloc(N * 3 * C);
  s->gen_atty = sdq_falloc(N * C);
  s->gen_h = sdq_falloc(N * 4 * C);
  s->gen_tmp = sdq_falloc(N * 4 * C);
  s->gen_u = sdq_falloc(N * r);
  s->gen_logits = sdq_falloc((size_t)m->cfg.vocab_size);
  if (!s->kv.k || !s->kv.v || !s->gen_x || !s->gen_ln || !s->gen_qkv || !s->gen_atty ||
      !s->gen_h || !s->gen_tmp || !s->gen_u || !s->gen_logits) {
    sdq_state_free(m);
    sdq_set_err(err, errlen, "out of memory for the KV cache (%zu layers x %zu positions x %zu)",
                L, N, C);
    return -1;
  }
  return 0;
}

/* Runs positions p0 .. p0+n-1 whose token embeddings are in s->gen_x, adds
 * their keys and values to the cache, and writes the logits of the last
 * position to s->gen_logits. */
static int infer_chunk(sdq_gpt2 *m, int p0, int n, char *err, size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  struct sdq_gpt2_state *s = m->state;
  int C = m->cfg.n_embd, NH = m->cfg.n_head, hs = C / NH, V = m->cfg.vocab_size;
  size_t N = (size_t)m->cfg.n_ctx;
  float *x = s->gen_x;

  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      x[(size_t)i * C + c] += m->params.wpe[(size_t)(p0 + i) * C + c];

  for (int l = 0; l < m->cfg.n_layer; l++) {
    size_t lC = (size_t)l * C;
    int sets[SDQ_LIN_COUNT];
    const sdq_layer_bits *bits = &m->bits.layers[l * SDQ_LIN_COUNT];
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      sets[k] = m->lora.cfg.rank ? sdq_lora_set_index(&m->lora, bits[k].w_bits) : -1;
      if (m->lora.cfg.rank && sets[k] < 0) {
        sdq_set_err(err, errlen, "transformer.h.%d.%s runs at %d bits but the LoRA bank has no adapter set for it",
                    l, sdq_linear_name((sdq_linear)k), bits[k].w_bits);
        return -1;
      }
    }
    float *kc = s->kv.k + (size_t)l * N * C, *vc = s->kv.v + (size_t)l * N * C;

    /* Attention, with this chunk's keys and values appended to the cache. */
    kt->layernorm_forward(x, m->params.ln1w + lC, m->params.ln1b + lC, s->gen_ln, NULL, NULL, n,
                          C, SDQ_LN_EPS);
    if (sdq_linear_forward(m, l, SDQ_LIN_ATTN_QKV, bits[0], sets[0], s->gen_ln, s->gen_qkv, n,
                           s->gen_u, s->gen_tmp, 0, err, errlen) != 0)
      return -1;
    for (int i = 0; i < n; i++) {
      memcpy(kc + (size_t)(p0 + i) * C, s->gen_qkv + (size_t)i * 3 * C + C, (size_t)C * sizeof(float));
      memcpy(vc + (size_t)(p0 + i) * C, s->gen_qkv + (size_t)i * 3 * C + 2 * C, (size_t)C * sizeof(float));
    }
    sdq_attention_forward(1, n, p0 + n, p0, NH, hs, s->gen_qkv, 3 * C, 0, kc, vc, C, 0,
                          s->gen_atty, C, 0, s->att_scratch, s->cap_att);
    if (sdq_linear_forward(m, l, SDQ_LIN_ATTN_PROJ, bits[1], sets[1], s->gen_atty, s->gen_ln, n,
                           s->gen_u, s->gen_tmp, 0, err, errlen) != 0)
      return -1;
    for (size_t i = 0; i < (size_t)n * C; i++)
      x[i] += s->gen_ln[i];

    /* MLP. */
    kt->layernorm_forward(x, m->params.ln2w + lC, m->params.ln2b + lC, s->gen_ln, NULL, NULL, n,
                          C, SDQ_LN_EPS);
    if (sdq_linear_forward(m, l, SDQ_LIN_MLP_FC, bits[2], sets[2], s->gen_ln, s->gen_h, n,
                           s->gen_u, s->gen_tmp, 0, err, errlen) != 0)
      return -1;
    kt->gelu_forward(s->gen_h, s->gen_h, (size_t)n * 4 * C);
    if (sdq_linear_forward(m, l, SDQ_LIN_MLP_PROJ, bits[3], sets[3], s->gen_h, s->gen_ln, n,
                           s->gen_u, s->gen_tmp, 0, err, errlen) != 0)
      return -1;
    for (size_t i = 0; i < (size_t)n * C; i++)
      x[i] += s->gen_ln[i];
  }

  /* Final LayerNorm and LM head for the last position only. */
  const float *last = x + (size_t)(n - 1) * C;
  kt->layernorm_forward(last, m->params.lnfw, m->params.lnfb, s->gen_ln, NULL, NULL, 1, C,
                        SDQ_LN_EPS);
  kt->sgemm_nt(1, V, C, s->gen_ln, C, m->params.wte, C, 0.0f, s->gen_logits, V);
  return 0;
}

static int32_t argmax(const float *x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

int sdq_gpt2_generate(sdq_gpt2 *m, const int32_t *ids, const float *embeds,
                      int n_prompt, const sdq_gen_options *opt, int32_t *out,
                      int *n_out, sdq_stop_reason *reason, char *err,
                      size_t errlen) {
  struct sdq_gpt2_state *s = m->state;
  int C = m->cfg.n_embd, V = m->cfg.vocab_size, N = m->cfg.n_ctx;
  *n_out = 0;
  if (reason)
    *reason = SDQ_STOP_MAX_NEW;
  if ((ids == NULL) == (embeds == NULL)) {
    sdq_set_err(err, errlen, "generate needs exactly one of prompt ids and prompt embeddings");
    return -1;
  }
  if (n_prompt < 1 || n_prompt > N) {
    sdq_set_err(err, errlen, "prompt of %d tokens invalid: the model takes 1 to n_ctx = %d tokens",
                n_prompt, N);
    return -1;
  }
  if (opt->max_new < 0) {
    sdq_set_err(err, errlen, "max_new = %d invalid (need >= 0)", opt->max_new);
    return -1;
  }
  if (opt->eot_id >= V) {
    sdq_set_err(err, errlen, "end-of-text id %d is outside the vocabulary [0, %d)", opt->eot_id, V);
    return -1;
  }
  if (reserve_gen(m, err, errlen) != 0)
    return -1;
  size_t need_att = sdq_attention_scratch_floats(N, N);
  if (s->cap_att < need_att || s->n_threads < sdq_max_threads()) {
    /* Attention scratch for a chunk of up to n_ctx queries per thread. */
    if (sdq_state_reserve(m, 0, N, err, errlen) != 0)
      return -1;
  }
  if (opt->max_new == 0)
    return 0;

  /* 1. The prompt as one chunk. */
  if (ids) {
    if (sdq_gpt2_embed_tokens(m, ids, n_prompt, s->gen_x, err, errlen) != 0)
      return -1;
  } else {
    memcpy(s->gen_x, embeds, (size_t)n_prompt * C * sizeof(float));
  }
  if (infer_chunk(m, 0, n_prompt, err, errlen) != 0)
    return -1;

  /* 2. One token at a time until a stop rule fires. */
  int pos = n_prompt;
  for (;;) {
    int32_t tok = argmax(s->gen_logits, V);
    if (opt->eot_id >= 0 && tok == opt->eot_id) {
      if (reason)
        *reason = SDQ_STOP_EOT;
      return 0;
    }
    if (opt->stop_ids && opt->stop_ids[tok]) {
      if (reason)
        *reason = SDQ_STOP_TOKEN;
      return 0;
    }
    out[(*n_out)++] = tok;
    pos++;
    if (*n_out == opt->max_new) {
      if (reason)
        *reason = SDQ_STOP_MAX_NEW;
      return 0;
    }
    /* The cache stores positions 0 .. N-1; a prompt of N tokens still predicts
     * one token, after which pos is N + 1. */
    if (pos >= N) {
      if (reason)
        *reason = SDQ_STOP_CTX;
      return 0;
    }
    memcpy(s->gen_x, m->params.wte + (size_t)tok * C, (size_t)C * sizeof(float));
    if (infer_chunk(m, pos - 1, 1, err, errlen) != 0)
      return -1;
  }
}
