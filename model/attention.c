/* attention.c - causal multi-head self-attention forward and backward,
 * parallel over (batch row, head). Queries are processed in blocks of
 * SDQ_ATT_QBLOCK rows, and each block only meets the keys at or before its
 * last query, so the masked upper triangle is (mostly) never computed. The
 * probabilities are recomputed in the backward pass instead of cached. */
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

int sdq_thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

size_t sdq_attention_scratch_floats(int Tq, int Tk) {
  size_t qb = Tq < SDQ_ATT_QBLOCK ? (size_t)Tq : SDQ_ATT_QBLOCK;
  return 2 * qb * (size_t)Tk;
}

/* P (nq,nk) = causal softmax(scale * Q K^T) for nq queries whose first sits
 * at key position first: row i keeps keys 0 .. first+i and is 0 after. */
static void attention_probs(const sdq_kernel_table *kt, int nq, int nk, int first,
                            int hs, const float *q, int ld_q, const float *k,
                            int ld_kv, float *P) {
  float scale = 1.0f / sqrtf((float)hs);
  kt->sgemm_nt(nq, nk, hs, q, ld_q, k, ld_kv, 0.0f, P, nk);
  for (int i = 0; i < nq; i++) {
    float *row = P + (size_t)i * nk;
    int n = first + i + 1;
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
      row[j] *= scale;
      if (row[j] > mx)
        mx = row[j];
    }
    for (int j = 0; j < n; j++)
      row[j] -= mx;
    kt->vexp(row, row, (size_t)n);
    float sum = 0.0f;
    for (int j = 0; j < n; j++)
      sum += row[j];
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++)
      row[j] *= inv;
    for (int j = n; j < nk; j++)
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
    float *P = scratch + (size_t)sdq_thread_id() * per_thread;
    const float *qb = q + (size_t)b * sb_q + (size_t)h * hs;
    const float *kb = k + (size_t)b * sb_kv + (size_t)h * hs;
    const float *vb = v + (size_t)b * sb_kv + (size_t)h * hs;
    float *ob = out + (size_t)b * sb_out + (size_t)h * hs;

    for (int i0 = 0; i0 < Tq; i0 += SDQ_ATT_QBLOCK) {
      int nq = Tq - i0 < SDQ_ATT_QBLOCK ? Tq - i0 : SDQ_ATT_QBLOCK;
      int nk = p0 + i0 + nq; /* keys up to the block's last query */

      /* pass 1: probabilities; pass 2: out = P V */
      attention_probs(kt, nq, nk, p0 + i0, hs, qb + (size_t)i0 * ld_q, ld_q, kb, ld_kv, P);
      kt->sgemm_nn(nq, hs, nk, P, nk, vb, ld_kv, 0.0f, ob + (size_t)i0 * ld_out, ld_out);
    }
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
    float *P = scratch + (size_t)sdq_thread_id() * per_thread;
    const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *k = q + C;
    const float *v = q + 2 * C;
    float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
    float *dk = dq + C;
    float *dv = dq + 2 * C;
    const float *dout = datty + (size_t)b * T * C + (size_t)h * hs;

    /* dK and dV collect a term from every query block at or after them. */
    for (int t = 0; t < T; t++) {
      memset(dk + (size_t)t * C3, 0, (size_t)hs * sizeof(float));
      memset(dv + (size_t)t * C3, 0, (size_t)hs * sizeof(float));
    }

    for (int i0 = 0; i0 < T; i0 += SDQ_ATT_QBLOCK) {
      int nq = T - i0 < SDQ_ATT_QBLOCK ? T - i0 : SDQ_ATT_QBLOCK;
      int nk = i0 + nq;
      float *dP = P + (size_t)nq * nk;
      const float *qi = q + (size_t)i0 * C3;
      const float *douti = dout + (size_t)i0 * C;

      /* 1. Recompute P; dP = dout V^T; dV += P^T dout. */
      attention_probs(kt, nq, nk, i0, hs, qi, C3, k, C3, P);
      kt->sgemm_nt(nq, nk, hs, douti, C, v, C3, 0.0f, dP, nk);
      kt->sgemm_tn(nk, hs, nq, P, nk, douti, C, 1.0f, dv, C3);

      /* 2. Softmax backward: dS = P * (dP - sum_j P dP), times the score
       * scale; entries past the causal limit stay 0 because P is 0 there. */
      for (int i = 0; i < nq; i++) {
        float *pr = P + (size_t)i * nk, *dr = dP + (size_t)i * nk;
        int n = i0 + i + 1;
        float dot = 0.0f;
        for (int j = 0; j < n; j++)
          dot += pr[j] * dr[j];
        for (int j = 0; j < n; j++)
          dr[j] = pr[j] * (dr[j] - dot) * scale;
        for (int j = n; j < nk; j++)
          dr[j] = 0.0f;
      }

      /* 3. dQ = dS K; dK += dS^T Q. */
      kt->sgemm_nn(nq, hs, nk, dP, nk, k, C3, 0.0f, dq + (size_t)i0 * C3, C3);
      kt->sgemm_tn(nk, hs, nq, dP, nk, qi, C3, 1.0f, dk, C3);
    }
  }
}
