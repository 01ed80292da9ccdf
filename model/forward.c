/* forward.c - the training forward and backward passes of the whole model
 * (embeddings, blocks, final LayerNorm, tied LM head, cross-entropy) and
 * the activation buffers they share. */
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>

#include "model/gpt2_internal.h"

/* ------------------------------------------------------------ buffers */

static void free_acts(sdq_gpt2 *m) {
  struct sdq_gpt2_state *s = m->state;
  if (s->blocks) {
    for (int l = 0; l < m->cfg.n_layer; l++) {
      sdq_block_acts *a = &s->blocks[l];
      free(a->ln1); free(a->ln1_mean); free(a->ln1_rstd); free(a->qkv);
      free(a->atty); free(a->res_attn); free(a->ln2); free(a->ln2_mean);
      free(a->ln2_rstd); free(a->fch);
      for (int k = 0; k < SDQ_LIN_COUNT; k++)
        free(a->lora_u[k]);
    }
    free(s->blocks);
    s->blocks = NULL;
  }
  free(s->res); free(s->lnf); free(s->lnf_mean); free(s->lnf_rstd);
  free(s->tokens); free(s->targets); free(s->mask); free(s->lse);
  free(s->logit_row); free(s->row_to_logit); free(s->loss_rows);
  free(s->scratch_in); free(s->scratch_a); free(s->scratch_b);
  free(s->dres); free(s->dtmp); free(s->dqkv); free(s->du); free(s->gather);
  free(s->used_sets); free(s->run_bits);
  free(s->loss_index); free(s->lse_soft); free(s->soft_mass);
  s->loss_index = NULL;
  s->lse_soft = s->soft_mass = NULL;
  s->soft = NULL;
  s->has_logits = 0;
  s->res = s->lnf = s->lnf_mean = s->lnf_rstd = s->mask = s->lse = NULL;
  s->tokens = s->targets = NULL;
  s->logit_row = s->row_to_logit = s->loss_rows = NULL;
  s->scratch_in = s->scratch_a = s->scratch_b = NULL;
  s->dres = s->dtmp = s->dqkv = s->du = s->gather = NULL;
  s->used_sets = NULL;
  s->run_bits = NULL;
  s->cap_bt = 0;
  s->has_targets = 0;
}

void sdq_state_free(sdq_gpt2 *m) {
  struct sdq_gpt2_state *s = m->state;
  if (!s)
    return;
  free_acts(m);
  free(s->logits); free(s->dlogits); free(s->att_scratch); free(s->ce_scratch);
  s->logits = s->dlogits = s->att_scratch = s->ce_scratch = NULL;
  s->cap_logits = s->cap_dlogits = s->cap_att = s->cap_ce = 0;
  s->n_logit_rows = 0;
  free(s->kv.k); free(s->kv.v);
  free(s->gen_x); free(s->gen_ln); free(s->gen_qkv); free(s->gen_atty);
  free(s->gen_h); free(s->gen_tmp); free(s->gen_u); free(s->gen_logits);
  s->kv.k = s->kv.v = NULL;
  s->gen_x = s->gen_ln = s->gen_qkv = s->gen_atty = NULL;
  s->gen_h = s->gen_tmp = s->gen_u = s->gen_logits = NULL;
}

static int reserve_att(sdq_gpt2 *m, size_t per_thread, char *err, size_t errlen) {
  struct sdq_gpt2_state *s = m->state;
  int threads = sdq_max_threads();
  if (s->cap_att >= per_thread && s->n_threads >= threads)
    return 0;
  free(s->att_scratch);
  s->att_scratch = sdq_falloc(per_thread * (size_t)threads);
  if (!s->att_scratch) {
    s->cap_att = 0;
    sdq_set_err(err, errlen, "out of memory for attention scratch (%zu floats per thread)", per_thread);
    return -1;
  }
  s->cap_att = per_thread;
  s->n_threads = threads;
  return 0;
}

int sdq_state_reserve(sdq_gpt2 *m, size_t bt, int T, char *err, size_t errlen) {
  struct sdq_gpt2_state *s = m->state;
  if (reserve_att(m, sdq_attention_scratch_floats(T, T), err, errlen) != 0)
    return -1;
  if (bt <= s->cap_bt)
    return 0;
  free_acts(m);
  size_t C = (size_t)m->cfg.n_embd, L = (size_t)m->cfg.n_layer;
  size_t r = (size_t)m->lora.cfg.rank;
  int ok = 1;
#define ALLOC(ptr, n) ok &= ((ptr) = sdq_falloc(n)) != NULL
  s->blocks = calloc(L, sizeof *s->blocks);
  ok &= s->blocks != NULL;
  for (size_t l = 0; ok && l < L; l++) {
    sdq_block_acts *a = &s->blocks[l];
    ALLOC(a->ln1, bt * C); ALLOC(a->ln1_mean, bt); ALLOC(a->ln1_rstd, bt);
    ALLOC(a->qkv, bt * 3 * C); ALLOC(a->atty, bt * C); ALLOC(a->res_attn, bt * C);
    ALLOC(a->ln2, bt * C); ALLOC(a->ln2_mean, bt); ALLOC(a->ln2_rstd, bt);
    ALLOC(a->fch, bt * 4 * C);
    for (int k = 0; r && k < SDQ_LIN_COUNT; k++)
      ALLOC(a->lora_u[k], bt * r);
  }
  ALLOC(s->res, (L + 1) * bt * C);
  ALLOC(s->lnf, bt * C); ALLOC(s->lnf_mean, bt); ALLOC(s->lnf_rstd, bt);
  ALLOC(s->mask, bt); ALLOC(s->lse, bt); ALLOC(s->lse_soft, bt); ALLOC(s->soft_mass, bt);
  ALLOC(s->scratch_in, bt * 4 * C); ALLOC(s->scratch_a, bt * 4 * C); ALLOC(s->scratch_b, bt * 4 * C);
  ALLOC(s->dres, bt * C); ALLOC(s->dtmp, bt * C); ALLOC(s->dqkv, bt * 3 * C);
  ALLOC(s->du, bt * (r ? r : 1)); ALLOC(s->gather, bt * C);
#undef ALLOC
  s->tokens = calloc(bt, sizeof *s->tokens);
  s->targets = calloc(bt, sizeof *s->targets);
  s->logit_row = calloc(bt, sizeof *s->logit_row);
  s->row_to_logit = calloc(bt, sizeof *s->row_to_logit);
  s->loss_rows = calloc(bt, sizeof *s->loss_rows);
  s->loss_index = calloc(bt, sizeof *s->loss_index);
  s->used_sets = calloc(L * SDQ_LIN_COUNT, sizeof *s->used_sets);
  s->run_bits = calloc(L * SDQ_LIN_COUNT, sizeof *s->run_bits);
  ok &= s->tokens && s->targets && s->logit_row && s->row_to_logit && s->loss_rows &&
        s->loss_index && s->used_sets && s->run_bits;
  if (!ok) {
    free_acts(m);
    sdq_set_err(err, errlen, "out of memory for activations of %zu rows (B*T)", bt);
    return -1;
  }
  s->cap_bt = bt;
  return 0;
}

static int reserve_rows(float **buf, size_t *cap, size_t rows, size_t V,
                        char *err, size_t errlen) {
  if (rows <= *cap && *buf)
    return 0;
  free(*buf);
  *buf = sdq_falloc(rows * V);
  if (!*buf) {
    *cap = 0;
    sdq_set_err(err, errlen, "out of memory for %zu rows of logits", rows);
    return -1;
  }
  *cap = rows;
  return 0;
}

/* ----------------------------------------------------------- forward */

/* Checks alpha, tau and the probability row of every loss row. */
static int check_soft_targets(const sdq_gpt2 *m, const sdq_gpt2_batch *b, char *err,
                              size_t errlen) {
  if (!b->targets) {
    sdq_set_err(err, errlen, "soft targets need the hard targets too (batch targets is NULL)");
    return -1;
  }
  if (!(b->soft_alpha >= 0.0f && b->soft_alpha <= 1.0f)) {
    sdq_set_err(err, errlen, "distillation weight alpha %g is outside [0, 1]",
                (double)b->soft_alpha);
    return -1;
  }
  if (!(isfinite(b->soft_temp) && b->soft_temp > 0.0f)) {
    sdq_set_err(err, errlen, "distillation temperature %g invalid (need a finite value > 0)",
                (double)b->soft_temp);
    return -1;
  }
  size_t bt = (size_t)b->B * (size_t)b->T, V = (size_t)m->cfg.vocab_size, r = 0;
  for (size_t i = 0; i < bt; i++) {
    if (b->loss_mask && b->loss_mask[i] == 0)
      continue;
    const float *p = b->soft_targets + r++ * V;
    double sum = 0.0;
    for (size_t v = 0; v < V; v++) {
      if (!(isfinite(p[v]) && p[v] >= 0.0f)) {
        sdq_set_err(err, errlen, "soft target %g for token %zu at batch row %zu position %zu "
                                 "invalid (need a finite probability >= 0)",
                    (double)p[v], v, i / b->T, i % b->T);
        return -1;
      }
      sum += p[v];
    }
    if (fabs(sum - 1.0) > 1e-3) {
      sdq_set_err(err, errlen, "soft targets at batch row %zu position %zu sum to %.6g "
                               "(need probabilities summing to 1 within 1e-3)",
                  i / b->T, i % b->T, sum);
      return -1;
    }
  }
  return 0;
}

static int check_batch(const sdq_gpt2 *m, const sdq_gpt2_batch *b, char *err,
                       size_t errlen) {
  if (b->B < 1 || b->T < 1 || b->T > m->cfg.n_ctx) {
    sdq_set_err(err, errlen, "batch shape B=%d T=%d invalid (need B >= 1 and 1 <= T <= n_ctx = %d)",
                b->B, b->T, m->cfg.n_ctx);
    return -1;
  }
  if ((b->tokens == NULL) == (b->embeds == NULL)) {
    sdq_set_err(err, errlen, "batch needs exactly one of tokens and embeds");
    return -1;
  }
  if (b->logits_masked_only && !b->loss_mask) {
    sdq_set_err(err, errlen, "logits_masked_only needs a loss_mask");
    return -1;
  }
  size_t bt = (size_t)b->B * (size_t)b->T;
  for (size_t i = 0; b->tokens && i < bt; i++)
    if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size) {
      sdq_set_err(err, errlen, "token id %d at batch row %zu position %zu is outside [0, %d)",
                  b->tokens[i], i / b->T, i % b->T, m->cfg.vocab_size);
      return -1;
    }
  for (size_t i = 0; b->loss_mask && i < bt; i++)
    if (!isfinite(b->loss_mask[i]) || b->loss_mask[i] < 0) {
      sdq_set_err(err, errlen, "loss mask %g at batch row %zu position %zu invalid (need a finite value >= 0)",
                  (double)b->loss_mask[i], i / b->T, i % b->T);
      return -1;
    }
  for (size_t i = 0; b->targets && i < bt; i++) {
    if (b->loss_mask && b->loss_mask[i] == 0)
      continue;
    if (b->targets[i] < 0 || b->targets[i] >= m->cfg.vocab_size) {
      sdq_set_err(err, errlen, "target id %d at batch row %zu position %zu is outside [0, %d)",
                  b->targets[i], i / b->T, i % b->T, m->cfg.vocab_size);
      return -1;
    }
  }
  return b->soft_targets ? check_soft_targets(m, b, err, errlen) : 0;
}

static void residual_add(const float *a, const float *b, float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n >= SDQ_OMP_MIN_WORK)
  for (size_t i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

/* Returns log(sum_v exp(row[v] * inv_tau)) of one logits row (inv_tau > 0;
 * 1 gives the plain log-sum-exp bit for bit). ex is V floats of scratch and
 * receives exp(row[v] * inv_tau - max). */
static float row_logsumexp(const sdq_kernel_table *kt, const float *row, int V, float inv_tau,
                           float *ex) {
  float mx = row[0];
  for (int v = 1; v < V; v++)
    mx = row[v] > mx ? row[v] : mx;
  mx *= inv_tau;
  for (int v = 0; v < V; v++)
    ex[v] = row[v] * inv_tau - mx;
  kt->vexp(ex, ex, (size_t)V);
  double sum = 0.0;
  for (int v = 0; v < V; v++)
    sum += ex[v];
  return mx + (float)log(sum);
}

/* Returns KL(p || softmax(row * inv_tau)) in nats, given the log-sum-exp lse
 * of row * inv_tau. *mass receives sum(p). Terms with p == 0 add nothing. */
static double row_kl(const float *p, const float *row, int V, float inv_tau, float lse,
                     float *mass) {
  double kl = 0.0, sum = 0.0;
  for (int v = 0; v < V; v++) {
    if (p[v] <= 0.0f)
      continue;
    double log_q = (double)(row[v] * inv_tau) - (double)lse;
    kl += (double)p[v] * ((double)logf(p[v]) - log_q);
    sum += p[v];
  }
  *mass = (float)sum;
  return kl;
}

/* Selects each linear's bits and adapter set for this pass. */
static int plan_layers(sdq_gpt2 *m, char *err, size_t errlen) {
  struct sdq_gpt2_state *s = m->state;
  for (int i = 0; i < m->cfg.n_layer * SDQ_LIN_COUNT; i++) {
    s->run_bits[i] = m->bits.layers[i];
    s->used_sets[i] = -1;
    if (m->lora.cfg.rank == 0)
      continue;
    int set = sdq_lora_set_index(&m->lora, s->run_bits[i].w_bits);
    if (set < 0) {
      sdq_set_err(err, errlen, "transformer.h.%d.%s runs at %d bits but the LoRA bank has no adapter set for it",
                  i / SDQ_LIN_COUNT, sdq_linear_name((sdq_linear)(i % SDQ_LIN_COUNT)),
                  s->run_bits[i].w_bits);
      return -1;
    }
    s->used_sets[i] = set;
  }
  return 0;
}

int sdq_gpt2_forward(sdq_gpt2 *m, const sdq_gpt2_batch *batch, float *loss,
                     char *err, size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  struct sdq_gpt2_state *s = m->state;
  if (check_batch(m, batch, err, errlen) != 0)
    return -1;
  int B = batch->B, T = batch->T, C = m->cfg.n_embd, L = m->cfg.n_layer;
  int NH = m->cfg.n_head, hs = C / NH, V = m->cfg.vocab_size;
  size_t bt = (size_t)B * T, btC = bt * C;
  s->has_targets = 0;
  s->has_logits = 0;
  if (sdq_state_reserve(m, bt, T, err, errlen) != 0 || plan_layers(m, err, errlen) != 0)
    return -1;
  s->B = B;
  s->T = T;

  /* 1. Inputs: token embeddings (looked up or given) plus position embeddings. */
  s->input_is_embeds = batch->embeds != NULL;
  float *x0 = s->res;
#pragma omp parallel for schedule(static) if (btC >= SDQ_OMP_MIN_WORK)
  for (size_t i = 0; i < bt; i++) {
    const float *te = batch->tokens ? m->params.wte + (size_t)batch->tokens[i] * C
                                    : batch->embeds + i * C;
    const float *pe = m->params.wpe + (i % T) * C;
    for (int c = 0; c < C; c++)
      x0[i * C + c] = te[c] + pe[c];
  }
  if (batch->tokens)
    memcpy(s->tokens, batch->tokens, bt * sizeof(int32_t));

  /* 2. Blocks. */
  int dropout_on = m->training && m->lora.cfg.rank > 0 && m->lora.cfg.dropout > 0.0f;
  s->dropout_on = dropout_on;
  for (int l = 0; l < L; l++) {
    sdq_block_acts *a = &s->blocks[l];
    const float *x = s->res + (size_t)l * btC;
    float *xout = s->res + (size_t)(l + 1) * btC;
    const sdq_layer_bits *bits = &s->run_bits[l * SDQ_LIN_COUNT];
    const int *sets = &s->used_sets[l * SDQ_LIN_COUNT];
    for (int k = 0; k < SDQ_LIN_COUNT; k++)
      a->dropout_seed[k] = dropout_on ? (sdq_rng_next(&m->rng) | 1) : 0;

    kt->layernorm_forward(x, m->params.ln1w + (size_t)l * C, m->params.ln1b + (size_t)l * C,
                          a->ln1, a->ln1_mean, a->ln1_rstd, (int)bt, C, SDQ_LN_EPS);
    if (sdq_linear_forward(m, l, SDQ_LIN_ATTN_QKV, bits[0], sets[0], a->ln1, a->qkv, (int)bt,
                           a->lora_u[0], s->scratch_in, a->dropout_seed[0], err, errlen) != 0)
      return -1;
    sdq_attention_forward(B, T, T, 0, NH, hs, a->qkv, 3 * C, (size_t)T * 3 * C, a->qkv + C,
                          a->qkv + 2 * C, 3 * C, (size_t)T * 3 * C, a->atty, C, (size_t)T * C,
                          s->att_scratch, s->cap_att);
    if (sdq_linear_forward(m, l, SDQ_LIN_ATTN_PROJ, bits[1], sets[1], a->atty, s->scratch_a,
                           (int)bt, a->lora_u[1], s->scratch_in, a->dropout_seed[1], err,
                           errlen) != 0)
      return -1;
    residual_add(x, s->scratch_a, a->res_attn, btC);

    kt->layernorm_forward(a->res_attn, m->params.ln2w + (size_t)l * C,
                          m->params.ln2b + (size_t)l * C, a->ln2, a->ln2_mean, a->ln2_rstd,
                          (int)bt, C, SDQ_LN_EPS);
    if (sdq_linear_forward(m, l, SDQ_LIN_MLP_FC, bits[2], sets[2], a->ln2, a->fch, (int)bt,
                           a->lora_u[2], s->scratch_in, a->dropout_seed[2], err, errlen) != 0)
      return -1;
    kt->gelu_forward(a->fch, s->scratch_b, bt * 4 * C);
    if (sdq_linear_forward(m, l, SDQ_LIN_MLP_PROJ, bits[3], sets[3], s->scratch_b, s->scratch_a,
                           (int)bt, a->lora_u[3], s->scratch_in, a->dropout_seed[3], err,
                           errlen) != 0)
      return -1;
    residual_add(a->res_attn, s->scratch_a, xout, btC);
  }

  /* 3. Final LayerNorm. */
  const float *xL = s->res + (size_t)L * btC;
  kt->layernorm_forward(xL, m->params.lnfw, m->params.lnfb, s->lnf, s->lnf_mean, s->lnf_rstd,
                        (int)bt, C, SDQ_LN_EPS);

  /* 4. Tied LM head on the selected rows: logits = lnf wte^T. */
  int n = 0, n_loss = 0;
  for (size_t i = 0; i < bt; i++) {
    s->mask[i] = batch->loss_mask ? batch->loss_mask[i] : 1.0f;
    s->loss_index[i] = s->mask[i] != 0.0f ? n_loss++ : -1;
    s->row_to_logit[i] = -1;
    if (batch->logits_masked_only && s->mask[i] == 0.0f)
      continue;
    s->row_to_logit[i] = n;
    s->logit_row[n++] = (int)i;
  }
  s->n_logit_rows = n;
  s->n_loss_rows = n_loss;
  if (reserve_rows(&s->logits, &s->cap_logits, (size_t)n, (size_t)V, err, errlen) != 0)
    return -1;
  for (int i = 0; i < n; i++)
    memcpy(s->gather + (size_t)i * C, s->lnf + (size_t)s->logit_row[i] * C, (size_t)C * sizeof(float));
  if (n > 0)
    kt->sgemm_nt(n, V, C, s->gather, C, m->params.wte, C, 0.0f, s->logits, V);
  s->has_logits = 1;

  /* 5. Mean loss over positions with nonzero mask: the cross-entropy, mixed
   * with the distillation KL when soft targets are given. */
  s->soft = batch->soft_targets;
  s->soft_alpha = batch->soft_alpha;
  s->soft_temp = batch->soft_temp;
  if (!batch->targets) {
    if (loss)
      *loss = 0.0f;
    return 0;
  }
  memcpy(s->targets, batch->targets, bt * sizeof(int32_t));
  int threads = sdq_max_threads();
  if (s->cap_ce < (size_t)V * threads) {
    free(s->ce_scratch);
    s->cap_ce = 0;
    s->ce_scratch = sdq_falloc((size_t)V * threads);
    if (!s->ce_scratch) {
      sdq_set_err(err, errlen, "out of memory for the cross-entropy scratch (%d x %d floats)", threads, V);
      return -1;
    }
    s->cap_ce = (size_t)V * threads;
  }
  double total = 0.0, weight = 0.0;
  double alpha = s->soft_alpha, tau = s->soft_temp;
  float inv_tau = s->soft ? 1.0f / s->soft_temp : 1.0f;
#pragma omp parallel for schedule(static) reduction(+ : total, weight) if ((size_t)n * V >= SDQ_OMP_MIN_WORK)
  for (size_t i = 0; i < bt; i++) {
    if (s->mask[i] == 0.0f)
      continue;
    float *ex = s->ce_scratch + (size_t)sdq_thread_id() * V;
    const float *lg = s->logits + (size_t)s->row_to_logit[i] * V;
    s->lse[i] = row_logsumexp(kt, lg, V, 1.0f, ex);
    double row_loss = (double)s->lse[i] - lg[s->targets[i]];
    if (s->soft) {
      const float *p = s->soft + (size_t)s->loss_index[i] * V;
      s->lse_soft[i] = row_logsumexp(kt, lg, V, inv_tau, ex);
      double kl = row_kl(p, lg, V, inv_tau, s->lse_soft[i], &s->soft_mass[i]);
      row_loss = (1.0 - alpha) * row_loss + alpha * tau * tau * kl;
    }
    total += s->mask[i] * row_loss;
    weight += s->mask[i];
  }
  s->mask_sum = (float)weight;
  s->has_targets = 1;
  if (loss)
    *loss = weight > 0 ? (float)(total / weight) : 0.0f;
  return 0;
}

int sdq_gpt2_loss_rows(const sdq_gpt2 *m) {
  const struct sdq_gpt2_state *s = m->state;
  return s && s->has_logits ? s->n_loss_rows : 0;
}

int sdq_gpt2_tempered_probs(const sdq_gpt2 *m, float tau, float *probs, int max_rows,
                            int *n_rows, char *err, size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  const struct sdq_gpt2_state *s = m->state;
  if (!s || !s->has_logits) {
    sdq_set_err(err, errlen, "tempered probabilities need a forward pass first");
    return -1;
  }
  if (!(isfinite(tau) && tau > 0.0f)) {
    sdq_set_err(err, errlen, "distillation temperature %g invalid (need a finite value > 0)",
                (double)tau);
    return -1;
  }
  if (s->n_loss_rows > max_rows) {
    sdq_set_err(err, errlen, "the last forward pass has %d loss rows but the buffer holds %d",
                s->n_loss_rows, max_rows);
    return -1;
  }
  int V = m->cfg.vocab_size;
  size_t bt = (size_t)s->B * s->T;
  float inv_tau = 1.0f / tau;
#pragma omp parallel for schedule(static) if ((size_t)s->n_loss_rows * V >= SDQ_OMP_MIN_WORK)
  for (size_t i = 0; i < bt; i++) {
    if (s->loss_index[i] < 0)
      continue;
    float *q = probs + (size_t)s->loss_index[i] * V;
    /* q receives exp(z / tau - max); dividing by its sum normalises it. */
    row_logsumexp(kt, s->logits + (size_t)s->row_to_logit[i] * V, V, inv_tau, q);
    double sum = 0.0;
    for (int v = 0; v < V; v++)
      sum += q[v];
    float inv_sum = (float)(1.0 / sum);
    for (int v = 0; v < V; v++)
      q[v] *= inv_sum;
  }
  if (n_rows)
    *n_rows = s->n_loss_rows;
  return 0;
}

const float *sdq_gpt2_logits(const sdq_gpt2 *m, int b, int t) {
  const struct sdq_gpt2_state *s = m->state;
  if (!s || !s->row_to_logit || b < 0 || b >= s->B || t < 0 || t >= s->T)
    return NULL;
  int row = s->row_to_logit[(size_t)b * s->T + t];
  return row < 0 ? NULL : s->logits + (size_t)row * m->cfg.vocab_size;
}

/* ---------------------------------------------------------- backward */

int sdq_gpt2_backward(sdq_gpt2 *m, float loss_scale, float *d_embeds,
                      char *err, size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  struct sdq_gpt2_state *s = m->state;
  if (!s->has_targets) {
    sdq_set_err(err, errlen, "backward needs a forward pass with targets first");
    return -1;
  }
  if (s->mask_sum == 0.0f)
    return 0;
  int B = s->B, T = s->T, C = m->cfg.n_embd, L = m->cfg.n_layer;
  int NH = m->cfg.n_head, hs = C / NH, V = m->cfg.vocab_size;
  size_t bt = (size_t)B * T, btC = bt * C;
  int grads = m->train_base && m->grads_memory;
  sdq_gpt2_params *g = &m->grads;

  /* 1. Loss and LM head, SDQ_LM_HEAD_ROWS rows at a time; rows with mask 0
   * get no gradient. Cross-entropy alone: dlogits = (softmax - onehot) w /
   * sum(w). With soft targets p the row gets (1 - alpha) times that plus
   * alpha tau (sum(p) softmax(z / tau) - p) w / sum(w). */
  int n = 0;
  int *rows = s->loss_rows;
  for (size_t i = 0; i < bt; i++)
    if (s->mask[i] != 0.0f)
      rows[n++] = (int)i;
  size_t chunk = n < SDQ_LM_HEAD_ROWS ? (size_t)n : SDQ_LM_HEAD_ROWS;
  if (reserve_rows(&s->dlogits, &s->cap_dlogits, chunk, (size_t)V, err, errlen) != 0)
    return -1;
  float coef = loss_scale / s->mask_sum;
  float *dlnf = s->dtmp;
  memset(dlnf, 0, btC * sizeof(float));
  for (int j0 = 0; j0 < n; j0 += SDQ_LM_HEAD_ROWS) {
    int nc = n - j0 < SDQ_LM_HEAD_ROWS ? n - j0 : SDQ_LM_HEAD_ROWS;
#pragma omp parallel for schedule(static) if ((size_t)nc * V >= SDQ_OMP_MIN_WORK)
    for (int j = 0; j < nc; j++) {
      size_t i = (size_t)rows[j0 + j];
      const float *lg = s->logits + (size_t)s->row_to_logit[i] * V;
      float *dl = s->dlogits + (size_t)j * V;
      float lse = s->lse[i], w = coef * s->mask[i];
      for (int v = 0; v < V; v++)
        dl[v] = lg[v] - lse;
      kt->vexp(dl, dl, (size_t)V);
      if (s->soft) {
        const float *p = s->soft + (size_t)s->loss_index[i] * V;
        float *q = s->ce_scratch + (size_t)sdq_thread_id() * V;
        float inv_tau = 1.0f / s->soft_temp, lse_soft = s->lse_soft[i];
        float w_hard = w * (1.0f - s->soft_alpha);
        float w_soft = w * s->soft_alpha * s->soft_temp, mass = s->soft_mass[i];
        for (int v = 0; v < V; v++)
          q[v] = lg[v] * inv_tau - lse_soft;
        kt->vexp(q, q, (size_t)V);
        for (int v = 0; v < V; v++)
          dl[v] = w_hard * dl[v] + w_soft * (mass * q[v] - p[v]);
        w = w_hard;
      } else {
        for (int v = 0; v < V; v++)
          dl[v] *= w;
      }
      dl[s->targets[i]] -= w;
      memcpy(s->gather + (size_t)j * C, s->lnf + i * C, (size_t)C * sizeof(float));
    }
    /* dlnf rows = dlogits wte. */
    kt->sgemm_nn(nc, C, V, s->dlogits, V, m->params.wte, C, 0.0f, s->scratch_a, C);
    for (int j = 0; j < nc; j++)
      memcpy(dlnf + (size_t)rows[j0 + j] * C, s->scratch_a + (size_t)j * C, (size_t)C * sizeof(float));
    if (grads)
      kt->sgemm_tn(V, C, nc, s->dlogits, V, s->gather, C, 1.0f, g->wte, C);
  }

  /* 2. Final LayerNorm: dres = d(residual stream after the last block). */
  const float *xL = s->res + (size_t)L * btC;
  kt->layernorm_backward(dlnf, xL, m->params.lnfw, s->lnf_mean, s->lnf_rstd, s->dres,
                         grads ? g->lnfw : NULL, grads ? g->lnfb : NULL, (int)bt, C);

  /* 3. Blocks in reverse. dres holds d(output of block l) on entry and
   * d(input of block l) on exit. */
  for (int l = L - 1; l >= 0; l--) {
    sdq_block_acts *a = &s->blocks[l];
    const float *x = s->res + (size_t)l * btC;
    const sdq_layer_bits *bits = &s->run_bits[l * SDQ_LIN_COUNT];
    const int *sets = &s->used_sets[l * SDQ_LIN_COUNT];
    size_t lC = (size_t)l * C;

    /* MLP: out = x1 + proj(gelu(fc(ln2(x1)))). */
    kt->gelu_forward(a->fch, s->scratch_b, bt * 4 * C);
    if (sdq_linear_backward(m, l, SDQ_LIN_MLP_PROJ, bits[3], sets[3], s->scratch_b, s->dres,
                            s->scratch_a, (int)bt, a->lora_u[3], s->du, s->scratch_in,
                            a->dropout_seed[3], err, errlen) != 0)
      return -1;
    kt->gelu_backward(a->fch, s->scratch_a, s->scratch_a, bt * 4 * C);
    if (sdq_linear_backward(m, l, SDQ_LIN_MLP_FC, bits[2], sets[2], a->ln2, s->scratch_a,
                            s->dtmp, (int)bt, a->lora_u[2], s->du, s->scratch_in,
                            a->dropout_seed[2], err, errlen) != 0)
      return -1;
    kt->layernorm_backward(s->dtmp, a->res_attn, m->params.ln2w + lC, a->ln2_mean, a->ln2_rstd,
                           s->scratch_b, grads ? g->ln2w + lC : NULL,
                           grads ? g->ln2b + lC : NULL, (int)bt, C);
    residual_add(s->dres, s->scratch_b, s->dres, btC);

    /* Attention: x1 = x + proj(attn(qkv(ln1(x)))). */
    if (sdq_linear_backward(m, l, SDQ_LIN_ATTN_PROJ, bits[1], sets[1], a->atty, s->dres,
                            s->dtmp, (int)bt, a->lora_u[1], s->du, s->scratch_in,
                            a->dropout_seed[1], err, errlen) != 0)
      return -1;
    sdq_attention_backward(B, T, NH, hs, a->qkv, s->dtmp, s->dqkv, s->att_scratch, s->cap_att);
    if (sdq_linear_backward(m, l, SDQ_LIN_ATTN_QKV, bits[0], sets[0], a->ln1, s->dqkv, s->dtmp,
                            (int)bt, a->lora_u[0], s->du, s->scratch_in, a->dropout_seed[0],
                            err, errlen) != 0)
      return -1;
    kt->layernorm_backward(s->dtmp, x, m->params.ln1w + lC, a->ln1_mean, a->ln1_rstd,
                           s->scratch_b, grads ? g->ln1w + lC : NULL,
                           grads ? g->ln1b + lC : NULL, (int)bt, C);
    residual_add(s->dres, s->scratch_b, s->dres, btC);

    for (int k = 0; k < SDQ_LIN_COUNT; k++)
      if (sets[k] >= 0)
        sdq_lora_adapter_at(&m->lora, sets[k], l, (sdq_linear)k)->used = 1;
  }

  /* 4. Embeddings: dres is d(token embedding + position embedding). */
  if (d_embeds)
    residual_add(d_embeds, s->dres, d_embeds, btC);
  if (grads) {
    for (size_t i = 0; i < bt; i++) {
      float *dpe = g->wpe + (i % T) * C;
      float *dte = s->input_is_embeds ? NULL : g->wte + (size_t)s->tokens[i] * C;
      const float *d = s->dres + i * C;
      for (int c = 0; c < C; c++) {
        dpe[c] += d[c];
        if (dte)
          dte[c] += d[c];
      }
    }
  }
  return 0;
}
