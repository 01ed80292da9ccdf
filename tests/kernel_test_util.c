/* kernel_test_util.c - helpers shared by the kernel tests (see the header). */
#include "config.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "tests/kernel_test_util.h"

int kt_supported_isas(sdq_isa isas[SDQ_ISA_COUNT]) {
  int n = 0;
  for (int v = 0; v < SDQ_ISA_COUNT; v++)
    if (sdq_kernel_table_for((sdq_isa)v) != NULL)
      isas[n++] = (sdq_isa)v;
  return n;
}

void kt_rng_seed(kt_rng *rng, uint64_t seed) {
  rng->state = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
  if (rng->state == 0)
    rng->state = 1;
}

float kt_uniform(kt_rng *rng, float lo, float hi) {
  uint64_t x = rng->state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng->state = x;
  uint64_t r = x * 0x2545f4914f6cdd1dULL;
  float u = (float)(r >> 40) / (float)(1 << 24); /* 24 random bits in [0,1) */
  return lo + (hi - lo) * u;
}

void kt_fill_uniform(kt_rng *rng, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++)
    x[i] = kt_uniform(rng, lo, hi);
}

void kt_fill_value(float *x, size_t n, float value) {
  for (size_t i = 0; i < n; i++)
    x[i] = value;
}

float *kt_alloc_misaligned(size_t n) {
  size_t bytes = ((n + 1) * sizeof(float) + 63) / 64 * 64;
  float *base = aligned_alloc(64, bytes);
  ck_assert_msg(base != NULL, "out of memory allocating %zu floats", n);
  float *p = base + 1;
  kt_fill_value(p, n, NAN);
  return p;
}

void kt_free(float *p) {
  if (p != NULL)
    free(p - 1);
}

/* op(A)[m,k] and op(B)[k,n] for the three layouts. */
static float a_at(kt_layout layout, const float *A, int lda, int m, int k) {
  return layout == KT_TN ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
}

static float b_at(kt_layout layout, const float *B, int ldb, int k, int n) {
  return layout == KT_NT ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
}

void kt_gemm_reference(kt_layout layout, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta,
                       const float *C_in, int ldc, kt_gemm_ref *ref) {
  ref->M = M;
  ref->N = N;
  ref->value = calloc((size_t)M * N + 1, sizeof(double));
  ref->bound = calloc((size_t)M * N + 1, sizeof(double));
  ck_assert_msg(ref->value != NULL && ref->bound != NULL,
                "out of memory for a %dx%d GEMM reference", M, N);

  /* Dense copies of op(A) [M,K] and op(B)^T [N,K], so the inner loop is a
   * contiguous dot product whatever the layout. */
  float *a = malloc(((size_t)M * K + 1) * sizeof(float));
  float *bt = malloc(((size_t)N * K + 1) * sizeof(float));
  ck_assert_msg(a != NULL && bt != NULL, "out of memory for GEMM operands");
  for (int m = 0; m < M; m++)
    for (int k = 0; k < K; k++)
      a[(size_t)m * K + k] = a_at(layout, A, lda, m, k);
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++)
      bt[(size_t)n * K + k] = b_at(layout, B, ldb, k, n);

  for (int m = 0; m < M; m++) {
    const float *am = a + (size_t)m * K;
    for (int n = 0; n < N; n++) {
      const float *bn = bt + (size_t)n * K;
      double sum = 0.0, abs_sum = 0.0;
      for (int k = 0; k < K; k++) {
        double p = (double)am[k] * (double)bn[k];
        sum += p;
        abs_sum += fabs(p);
      }
      if (beta != 0.0f) {
        double c = (double)beta * (double)C_in[(size_t)m * ldc + n];
        sum += c;
        abs_sum += fabs(c);
      }
      ref->value[(size_t)m * N + n] = sum;
      ref->bound[(size_t)m * N + n] = abs_sum + FLT_MIN;
    }
  }
  free(a);
  free(bt);
}

void kt_gemm_ref_free(kt_gemm_ref *ref) {
  free(ref->value);
  free(ref->bound);
  ref->value = ref->bound = NULL;
}

double kt_gemm_max_error(const kt_gemm_ref *ref, const float *C, int ldc,
                         int *where) {
  double worst = 0.0;
  *where = 0;
  for (int m = 0; m < ref->M; m++) {
    for (int n = 0; n < ref->N; n++) {
      size_t i = (size_t)m * ref->N + n;
      double err = fabs((double)C[(size_t)m * ldc + n] - ref->value[i]) / ref->bound[i];
      if (isnan(err))
        err = INFINITY;
      if (err > worst) {
        worst = err;
        *where = (int)i;
      }
    }
  }
  return worst;
}

double kt_max_scaled_error(const float *y, const double *ref, size_t n,
                           double abs_tol, double rel_tol, size_t *where) {
  double worst = 0.0;
  *where = 0;
  for (size_t i = 0; i < n; i++) {
    double err;
    if (isnan(ref[i]))
      err = isnan(y[i]) ? 0.0 : INFINITY;
    else if ((double)y[i] == ref[i])
      err = 0.0; /* also exact zeros and infinities under a zero tolerance */
    else
      err = fabs((double)y[i] - ref[i]) / (abs_tol + rel_tol * fabs(ref[i]));
    if (isnan(err))
      err = INFINITY;
    if (err > worst) {
      worst = err;
      *where = i;
    }
  }
  return worst;
}
