/* qgemm_scalar.c - portable references of the packed-weight GEMMs. */
#include "quant_scalar.h"
#include "sdq_pack.h"

#include <stdlib.h>

/* C[M,N] = beta*C + A[M,K] * (scale[n] * q[n,k])^T, with the sum over k in
 * fp32 and the per-channel scale applied once per output. */
void sdq_qgemm_f32_nt_scalar(int M, const float *A, int lda,
                             const sdq_qmatrix *W, float beta, float *C,
                             int ldc) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);

#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    int8_t q[SDQ_QMATRIX_MAX_COLS];
    sdq_unpack_row(W->packed + (size_t)n * row_bytes, K, W->bits, q);
    for (int m = 0; m < M; m++) {
      const float *a = A + (size_t)m * (size_t)lda;
      float sum = 0.0f;
      for (int k = 0; k < K; k++)
        sum += a[k] * (float)q[k];
      float *c = C + (size_t)m * (size_t)ldc + n;
      const float t = W->scale[n] * sum;
      *c = beta == 0.0f ? t : beta * *c + t;
    }
  }
}

/* C[M,K] = beta*C + A[M,N] * (scale[n] * q[n,k]): each row of C accumulates
 * the W rows weighted by A[m,n] * scale[n], in n order. Threads own groups
 * of SDQ_PACK_GROUP columns of C, so each packed group is unpacked once. */
void sdq_qgemm_f32_nn_scalar(int M, const float *A, int lda,
                             const sdq_qmatrix *W, float beta, float *C,
                             int ldc) {
  const int N = W->rows, K = W->cols, bits = W->bits;
  const size_t row_bytes = sdq_packed_row_bytes(K, bits);
  const int groups = sdq_pack_cols_padded(K) / SDQ_PACK_GROUP;
  const int offset = sdq_pack_offset(bits);

#pragma omp parallel for schedule(static)
  for (int g = 0; g < groups; g++) {
    const int k0 = g * SDQ_PACK_GROUP;
    const int width = K - k0 < SDQ_PACK_GROUP ? K - k0 : SDQ_PACK_GROUP;
    for (int m = 0; m < M; m++) {
      float *c = C + (size_t)m * (size_t)ldc + k0;
      for (int j = 0; j < width; j++)
        c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
    for (int n = 0; n < N; n++) {
      uint8_t u[SDQ_PACK_GROUP];
      sdq_unpack_group_u8(W->packed + (size_t)n * row_bytes +
                              (size_t)g * sdq_packed_group_bytes(bits),
                          bits, u);
      for (int m = 0; m < M; m++) {
        const float coef = A[(size_t)m * (size_t)lda + n] * W->scale[n];
        float *c = C + (size_t)m * (size_t)ldc + k0;
        for (int j = 0; j < width; j++)
          c[j] += coef * (float)(u[j] - offset);
      }
    }
  }
}

int sdq_qgemm_i8_nt_scalar(int M, const float *A, int lda, int act_bits,
                           const sdq_qmatrix *W, float beta, float *C,
                           int ldc) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  if (sdq_qmax(act_bits) == 0)
    return -1;

  /* 1. quantize A per token */
  int8_t *qa = malloc((size_t)M * (size_t)K);
  float *scale_a = malloc((size_t)M * sizeof(float));
  if (qa == NULL || scale_a == NULL) {
    free(qa);
    free(scale_a);
    return -1;
  }
  const int bad =
      sdq_quantize_rows_scalar(A, M, K, lda, act_bits, qa, scale_a);

  /* 2. int32 dot products with each unpacked W row, then the rescale */
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    int8_t qw[SDQ_QMATRIX_MAX_COLS];
    sdq_unpack_row(W->packed + (size_t)n * row_bytes, K, W->bits, qw);
    for (int m = 0; m < M; m++) {
      const int8_t *a = qa + (size_t)m * (size_t)K;
      int32_t acc = 0;
      for (int k = 0; k < K; k++)
        acc += (int32_t)a[k] * (int32_t)qw[k];
      float *c = C + (size_t)m * (size_t)ldc + n;
      *c = sdq_i8_rescale(acc, scale_a[m], W->scale[n], beta, c);
    }
  }

  free(qa);
  free(scale_a);
  return bad;
}
