/* gemm_scalar.c - portable reference fp32 GEMMs (sgemm_nt, sgemm_nn, sgemm_tn).
 *
 * Plain loops with one fp32 accumulator per output, summed in increasing k.
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

/* C[M,N] = beta*C + A[M,K] * B[K,N]. */
void sdq_sgemm_nn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++) {
    const float *a = A + (size_t)m * lda;
    for (int n = 0; n < N; n++) {
      float sum = 0.0f;
      for (int k = 0; k < K; k++)
        sum += a[k] * B[(size_t)k * ldb + n];
      store_beta(&C[(size_t)m * ldc + n], beta, sum);
    }
  }
}

/* C[M,N] = beta*C + A[K,M]^T * B[K,N]. */
void sdq_sgemm_tn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++) {
    for (int n = 0; n < N; n++) {
      float sum = 0.0f;
      for (int k = 0; k < K; k++)
        sum += A[(size_t)k * lda + m] * B[(size_t)k * ldb + n];
      store_beta(&C[(size_t)m * ldc + n], beta, sum);
    }
  }
}
