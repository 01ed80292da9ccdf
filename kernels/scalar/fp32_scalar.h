/* fp32_scalar.h - the portable fp32 GEMM and vector-math reference kernels.
 * Contracts are those of the matching entries in sdq_kernels.h. */
#ifndef SDQ_FP32_SCALAR_H
#define SDQ_FP32_SCALAR_H

#include <stddef.h>

void sdq_sgemm_nt_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);
void sdq_sgemm_nn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);
void sdq_sgemm_tn_scalar(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);

void sdq_vexp_scalar(const float *x, float *y, size_t n);
void sdq_gelu_forward_scalar(const float *x, float *y, size_t n);
void sdq_gelu_backward_scalar(const float *x, const float *dy, float *dx,
                              size_t n);
void sdq_softmax_rows_scalar(const float *x, float *y, int rows, int cols,
                             int ld);
void sdq_layernorm_forward_scalar(const float *x, const float *gamma,
                                  const float *beta, float *y, float *mean,
                                  float *rstd, int rows, int C, float eps);
void sdq_layernorm_backward_scalar(const float *dy, const float *x,
                                   const float *gamma, const float *mean,
                                   const float *rstd, float *dx, float *dgamma,
                                   float *dbeta, int rows, int C);

#endif
