/* linear.c - one linear layer (fp32 or packed quantized base weight plus a
 * LoRA adapter): forward, backward and the packed-weight cache. */
#include "model/gpt2.h"

#include <stdlib.h>

#include "model/gpt2_internal.h"

static sdq_qmatrix *qcache_slot(sdq_gpt2 *m, int l, sdq_linear k, int bits) {
  return &m->state->qcache[((size_t)l * SDQ_LIN_COUNT + k) * 9 + (size_t)bits];
}

const sdq_qmatrix *sdq_gpt2_qweight(sdq_gpt2 *m, int l, sdq_linear k,
                                    int bits, char *err, size_t errlen) {
  if (bits < 2 || bits > 8) {
    sdq_set_err(err, errlen, "weight bits %d cannot be packed (use 2..8)", bits);
    return NULL;
  }
  sdq_qmatrix *q = qcache_slot(m, l, k, bits);
  if (q->rows > 0)
    return q;
  int in, out;
  sdq_linear_dims(k, m->cfg.n_embd, &in, &out);
  const float *w = sdq_gpt2_linear_weight(&m->params, &m->cfg, l, k, NULL);
  char kerr[256];
  if (sdq_qmatrix_init(q, w, out, in, in, bits, kerr, sizeof kerr) != 0) {
    memset(q, 0, sizeof *q);
    sdq_set_err(err, errlen, "transformer.h.%d.%s.weight at %d bits: %s", l, sdq_linear_name(k),
                bits, kerr);
    return NULL;
  }
  return q;
}

void sdq_gpt2_qcache_clear(sdq_gpt2 *m) {
  if (!m->state || !m->state->qcache)
    return;
  size_t n = (size_t)m->cfg.n_layer * SDQ_LIN_COUNT * 9;
  for (size_t i = 0; i < n; i++) {
    if (m->state->qcache[i].rows > 0)
      sdq_qmatrix_free(&m->state->qcache[i]);
    memset(&m->state->qcache[i], 0, sizeof m->state->qcache[i]);
  }
}

/* Writes X * keep_mask / (1 - p) into xd (rows, in). */
static void apply_dropout(const float *X, float *xd, int rows, int in,
                          uint64_t seed, float p) {
  float inv_keep = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if ((size_t)rows * in >= SDQ_OMP_MIN_WORK)
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < in; j++) {
      size_t idx = (size_t)i * in + j;
      xd[idx] = sdq_dropout_keep(seed, idx, p) ? X[idx] * inv_keep : 0.0f;
    }
}

int sdq_linear_forward(sdq_gpt2 *m, int l, sdq_linear k, sdq_layer_bits bits,
                       int set, const float *X, float *Y, int rows, float *u,
                       float *scratch, uint64_t dropout_seed, char *err,
                       size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  int in, out;
  sdq_linear_dims(k, m->cfg.n_embd, &in, &out);
  float *bias;
  const float *W = sdq_gpt2_linear_weight(&m->params, &m->cfg, l, k, &bias);

  /* 1. Base product at the layer's bits. */
  if (!sdq_bits_is_full(bits.w_bits)) {
    const sdq_qmatrix *qw = sdq_gpt2_qweight(m, l, k, bits.w_bits, err, errlen);
    if (!qw)
      return -1;
    if (bits.a_bits) {
      int bad = kt->qgemm_i8_nt(rows, X, in, bits.a_bits, qw, 0.0f, Y, out);
      if (bad < 0) {
        sdq_set_err(err, errlen, "transformer.h.%d.%s: int8 GEMM workspace allocation failed", l,
                    sdq_linear_name(k));
        return -1;
      }
    } else {
      kt->qgemm_f32_nt(rows, X, in, qw, 0.0f, Y, out);
    }
  } else {
    const float *xin = X;
    if (bits.a_bits) {
      kt->fake_quant(X, rows, in, in, bits.a_bits, NULL, scratch, NULL);
      xin = scratch;
    }
    kt->sgemm_nt(rows, out, in, xin, in, W, in, 0.0f, Y, out);
  }

  /* 2. Bias. */
#pragma omp parallel for schedule(static) if ((size_t)rows * out >= SDQ_OMP_MIN_WORK)
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < out; j++)
      Y[(size_t)i * out + j] += bias[j];

  /* 3. LoRA: Y += B u with u = (alpha/r) A drop(X). */
  if (set < 0)
    return 0;
  const sdq_lora_adapter *a = sdq_lora_adapter_at(&m->lora, set, l, k);
  int r = m->lora.cfg.rank;
  const float *xd = X;
  if (dropout_seed) {
    apply_dropout(X, scratch, rows, in, dropout_seed, m->lora.cfg.dropout);
    xd = scratch;
  }
  kt->sgemm_nt(rows, r, in, xd, in, a->A, in, 0.0f, u, r);
  float s = m->lora.cfg.alpha / (float)r;
  for (size_t i = 0; i < (size_t)rows * r; i++)
    u[i] *= s;
  kt->sgemm_nt(rows, out, r, u, r, a->B, r, 1.0f, Y, out);
  return 0;
}

int sdq_linear_backward(sdq_gpt2 *m, int l, sdq_linear k, sdq_layer_bits bits,
                        int set, const float *X, const float *dY, float *dX,
                        int rows, const float *u, float *du, float *scratch,
                        uint64_t dropout_seed, char *err, size_t errlen) {
  const sdq_kernel_table *kt = sdq_kernels();
  int in, out;
  sdq_linear_dims(k, m->cfg.n_embd, &in, &out);
  const float *W = sdq_gpt2_linear_weight(&m->params, &m->cfg, l, k, NULL);

  /* 1. dX = dY W. Quantized activations pass the gradient straight through:
   * with a per-token MinMax scale nothing clips. */
  if (!sdq_bits_is_full(bits.w_bits)) {
    const sdq_qmatrix *qw = sdq_gpt2_qweight(m, l, k, bits.w_bits, err, errlen);
    if (!qw)
      return -1;
    kt->qgemm_f32_nn(rows, dY, out, qw, 0.0f, dX, in);
  } else {
    kt->sgemm_nn(rows, in, out, dY, out, W, in, 0.0f, dX, in);
  }

  /* 2. Base gradients: dW += dY^T Xq (STE through the weight quantizer,
   * where nothing clips either), db += column sums of dY. */
  if (m->train_base && m->grads_memory) {
    float *db;
    float *dW = sdq_gpt2_linear_weight(&m->grads, &m->cfg, l, k, &db);
    const float *xin = X;
    if (bits.a_bits) {
      kt->fake_quant(X, rows, in, in, bits.a_bits, NULL, scratch, NULL);
      xin = scratch;
    }
    kt->sgemm_tn(out, in, rows, dY, out, xin, in, 1.0f, dW, in);
#pragma omp parallel for schedule(static) if ((size_t)rows * out >= SDQ_OMP_MIN_WORK)
    for (int j = 0; j < out; j++) {
      float acc = 0.0f;
      for (int i = 0; i < rows; i++)
        acc += dY[(size_t)i * out + j];
      db[j] += acc;
    }
  }

  /* 3. LoRA path: dB += dY^T u, du = (alpha/r) dY B, dA += du^T drop(X),
   * dX += drop'(du A). */
  if (set < 0)
    return 0;
  const sdq_lora_adapter *a = sdq_lora_adapter_at(&m->lora, set, l, k);
  int r = m->lora.cfg.rank;
  float s = m->lora.cfg.alpha / (float)r;
  kt->sgemm_tn(out, r, rows, dY, out, u, r, 1.0f, a->dB, r);
  kt->sgemm_nn(rows, r, out, dY, out, a->B, r, 0.0f, du, r);
  for (size_t i = 0; i < (size_t)rows * r; i++)
    du[i] *= s;
  if (!dropout_seed) {
    kt->sgemm_tn(r, in, rows, du, r, X, in, 1.0f, a->dA, in);
    kt->sgemm_nn(rows, in, r, du, r, a->A, in, 1.0f, dX, in);
    return 0;
  }
  float p = m->lora.cfg.dropout;
  float inv_keep = 1.0f / (1.0f - p);
  apply_dropout(X, scratch, rows, in, dropout_seed, p);
  kt->sgemm_tn(r, in, rows, du, r, scratch, in, 1.0f, a->dA, in);
  kt->sgemm_nn(rows, in, r, du, r, a->A, in, 0.0f, scratch, in);
#pragma omp parallel for schedule(static) if ((size_t)rows * in >= SDQ_OMP_MIN_WORK)
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < in; j++) {
      size_t idx = (size_t)i * in + j;
      if (sdq_dropout_keep(dropout_seed, idx, p))
        dX[idx] += scratch[idx] * inv_keep;
    }
  return 0;
}
