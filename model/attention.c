/* attention.c - causal multi-head self-attention forward and backward,
 * parallel over (batch row, head); the score matrix is recomputed in the
 * backward pass instead of being cached. */
#include "model/gpt2.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/gpt2_internal.h"

int sdq_max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* P (Tq,Tk) = causal softmax(scale * Q K^T); entries after key p0+i are 0. */
static void attention_probs(const sdq_kernel_table *kt, int Tq, int Tk, int p0,
                            int hs, const float *q, int ld_q, const float *k,
                            int ld_kv, float *P) {
  float scale = 1.0f / sqrtf((float)hs);
  kt->sgemm_nt(Tq, Tk, hs, q, ld_q, k, ld_kv, 0.0f, P, Tk);
  for (int i = 0; i < Tq; i++) {
    float *row = P + (size_t)i * Tk;
    int n = p0 + i + 1;
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
      row[j] *= scale;
      if (row[j] > mx)
        mx = row[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
      row[j] = expf(row[j] - mx);
      sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++)
      row[j] *= inv;
    for (int j = n; j < Tk; j++)
      row[j] = 0.0f;
  }
}

void sdq_attention_forward(int B, int Tq, int Tk, int p0, int NH, int hs,
                           const float *q, int ld_q, size_t sb_q,
                           const float *k, const float *v, int ld_kv,
                           size_t sb_kv, float *out, int ld_out,
                           size_t sb_out, float *scratch, size_t per_thread) {
  const sdq_kernel_table *kt = sdq_kernels();
  size_t work = (size_t)B * NH * Tq * Tk * hs;
#pragma omp parallel for schedule(dynamic, 1) if (work >= SDQ_OMP_MIN_WORK)
  for (int bh = 0; bh < B * NH; bh++) {
    int b = bh / NH, h = bh % NH;
    float *P = scratch + (size_t)thread_id() * per_thread;
    const float *qb = q + (size_t)b * sb_q + (size_t)h * hs;
    const float *kb = k + (size_t)b * sb_kv + (size_t)h * hs;
    const float *vb = v + (size_t)b * sb_kv + (size_t)h * hs;
    float *ob = out + (size_t)b * sb_out + (size_t)h * hs;

    /* pass 1: probabilities; pass 2: out = P V */
    attention_probs(kt, Tq, Tk, p0, hs, qb, ld_q, kb, ld_kv, P);
    kt->sgemm_nn(Tq, hs, Tk, P, Tk, vb, ld_kv, 0.0f, ob, ld_out);
  }
}

void sdq_attention_backward(int B, int T, int NH, int hs, const float *qkv,
                            const float *datty, float *dqkv, float *scratch,
                            size_t per_thread) {
  const sdq_kernel_table *kt = sdq_kernels();
  int C = NH * hs, C3 = 3 * C;
  float scale = 1.0f / sqrtf((float)hs);
  size_t work = (size_t)B * NH * T * T * hs;
#pragma omp parallel for schedule(dynamic, 1) if (work >= SDQ_OMP_MIN_WORK)
  for (int bh = 0; bh < B * NH; bh++) {
    int b = bh / NH, h = bh % NH;
    float *P = scratch + (size_t)thread_id() * per_thread;
    float *dP = P + (size_t)T * T;
    const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *k = q + C;
    const float *v = q + 2 * C;
    float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
    float *dk = dq + C;
    float *dv = dq + 2 * C;
    const float *dout = datty + (size_t)b * T * C + (size_t)h * hs;

    /* 1. Recompute P; dP = dout V^T; dV = P^T dout. */
    attention_probs(kt, T, T, 0, hs, q, C3, k, C3, P);
    kt->sgemm_nt(T, T, hs, dout, C, v, C3, 0.0f, dP, T);
    kt->sgemm_tn(T, hs, T, P, T, dout, C, 0.0f, dv, C3);

    /* 2. Softmax backward: dS = P * (dP - sum_j P dP), times the score scale. */
    for (int i = 0; i < T; i++) {
      float *pr = P + (size_t)i * T, *dr = dP + (size_t)i * T;
      float dot = 0.0f;
      for (int j = 0; j <= i; j++)
        dot += pr[j] * dr[j];
      for (int j = 0; j <= i; j++)
        dr[j] = pr[j] * (dr[j] - dot) * scale;
      for (int j = i + 1; j < T; j++)
        dr[j] = 0.0f;
    }

    /* 3. dQ = dS K, dK = dS^T Q. */
    kt->sgemm_nn(T, hs, T, dP, T, k, C3, 0.0f, dq, C3);
    kt->sgemm_tn(T, hs, T, dP, T, q, C3, 0.0f, dk, C3);
  }
}
