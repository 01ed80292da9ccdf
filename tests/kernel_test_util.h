/* kernel_test_util.h - helpers shared by the kernel tests: the variants to
 * test, reproducible random data, misaligned buffers and the error measures
 * the tolerances are stated in. */
#ifndef SDQ_KERNEL_TEST_UTIL_H
#define SDQ_KERNEL_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sdq_kernels.h"

/* Writes every variant this machine runs (sdq_kernel_table_for != NULL),
 * scalar first, into isas; returns how many. */
int kt_supported_isas(sdq_isa isas[SDQ_ISA_COUNT]);

/* Deterministic xorshift64* generator, so a failure reproduces. */
typedef struct kt_rng {
  uint64_t state;
} kt_rng;

void kt_rng_seed(kt_rng *rng, uint64_t seed);
/* Uniform in [lo, hi). */
float kt_uniform(kt_rng *rng, float lo, float hi);
void kt_fill_uniform(kt_rng *rng, float *x, size_t n, float lo, float hi);
void kt_fill_value(float *x, size_t n, float value);

/* Returns n floats starting 1 float past a 64-byte boundary (so SIMD code
 * cannot rely on alignment), filled with NaN. Aborts the test when memory
 * runs out. Free with kt_free. */
float *kt_alloc_misaligned(size_t n);
void kt_free(float *p);

/* The error of an fp32 GEMM output against a reference computed in double:
 * max over elements of |c - ref| / bound, where bound is
 * sum_k |a||b| + |beta*c_in| (+ the smallest normal float, so an exact zero
 * bound cannot divide by zero). Returns that maximum; *where receives the
 * row-major index of the worst element. */
typedef struct kt_gemm_ref {
  int M, N;
  double *value; /* [M*N] beta*C_in + op(A) op(B) in double */
  double *bound; /* [M*N] sum |a||b| + |beta*C_in| */
} kt_gemm_ref;

/* Layout of the GEMM the reference is built for. */
typedef enum kt_layout { KT_NT, KT_NN, KT_TN } kt_layout;

/* Computes the reference for C[M,N] = beta*C_in + op(A) op(B) in the
 * layout's storage (as sdq_kernels.h defines it). C_in is read only when
 * beta != 0. */
void kt_gemm_reference(kt_layout layout, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta,
                       const float *C_in, int ldc, kt_gemm_ref *ref);
void kt_gemm_ref_free(kt_gemm_ref *ref);
double kt_gemm_max_error(const kt_gemm_ref *ref, const float *C, int ldc,
                         int *where);

/* Returns max_i |y[i] - ref[i]| / (abs_tol + rel_tol * |ref[i]|) over n
 * values (<= 1 means within tolerance); a NaN in y where ref is not NaN
 * counts as infinite error. *where receives the worst index. */
double kt_max_scaled_error(const float *y, const double *ref, size_t n,
                           double abs_tol, double rel_tol, size_t *where);

#endif
