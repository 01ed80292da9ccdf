/* gemm_scalar.c - portable reference fp32 GEMMs (sgemm_nt, sgemm_nn, sgemm_tn).
 *
 * Plain loops in fp32; every output sums its K products in increasing k.
 * They define the results the SIMD variants are tested against; those sum in
 * a different order, so results agree to fp32 rounding, not bit for bit. */
#include "config.h"

#include "scalar/fp32_scalar.h"

/* Stores sum into C element *c: c = sum when beta == 0 (c is never read),
 * else c = beta*c + sum. */
static inline void store_beta(float *c, float beta, float sum) {
  *c = beta == 0.0f ? sum : beta * *c + sum;
}

/* C[M,N] = beta*C + A[M,K] * B[N,K]^T: each output is a dot product of two
 * contiguous rows. */
void sdq_sgemm_nt_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++) {
    const float *a = A + (size_t)m * lda;
    for (int n = 0; n < N; n++) {
      const float *b = B + (size_t)n * ldb;
      float sum = 0.0f;
      for (int k = 0; k < K; k++)
        sum += a[k] * b[k];
      store_beta(&C[(size_t)m * ldc + n], beta, sum);
    }
  }
}

/* Starts row m of C for an accumulation over k: 0 when beta == 0 (the old
 * values are never read), else beta*C. */
static void start_row(float *c, int N, float beta) {
  for (int n = 0; n < N; n++)
    c[n] = beta == 0.0f ? 0.0f : beta * c[n];
}

/* C[M,N] = beta*C + A[M,K] * B[K,N]: row m of C accumulates a[m,k] times
 * row k of B, for k in increasing order. */
void sdq_sgemm_nn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++) {
    float *c = C + (size_t)m * ldc;
    start_row(c, N, beta);
    for (int k = 0; k < K; k++) {
      float a = A[(size_t)m * lda + k];
      const float *b = B + (size_t)k * ldb;
      for (int n = 0; n < N; n++)
        c[n] += a * b[n];
    }
  }
}

/* C[M,N] = beta*C + A[K,M]^T * B[K,N]: as sgemm_nn with a[m,k] read from
 * column m of A. */
void sdq_sgemm_tn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++) {
    float *c = C + (size_t)m * ldc;
    start_row(c, N, beta);
    for (int k = 0; k < K; k++) {
      float a = A[(size_t)k * lda + m];
      const float *b = B + (size_t)k * ldb;
      for (int n = 0; n < N; n++)
        c[n] += a * b[n];
    }
  }
}
