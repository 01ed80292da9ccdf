/* test_kernels_qgemv.c - qgemm_f32_nt with one row of A (the decode GEMV) on
 * every ISA variant this machine supports, against the scalar reference, for
 * every bits 2..8 and row lengths around the packed group and chunk sizes. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"
#include "sdq_pack.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float rng_uniform(float amplitude) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return amplitude * ((float)(uint32_t)(rng_state >> 32) / 2147483648.0f - 1.0f);
}

/* Values written past C[N) to catch stores outside the row. */
#define GUARD 4
#define GUARD_VALUE 12345.0f

/* Row lengths: 1 and the neighbours of the 64-value group, of the 2- and
 * 4-bit chunks (128 and 256 values) and of the GPT-2 widths; 5000 needs a
 * heap copy of the activation row. */
static const int kCols[] = {1, 63, 64, 65, 127, 129, 191, 255, 257, 320, 768,
                            3072, 5000};
static const int kRows[] = {1, 3, 4, 5, 7, 17};

/* sum_k |x[k] * scale[n] * q[n, k]| + |beta * c| per output, the scale of
 * the fp32 rounding error of any summation order. */
static float *bound_of(const float *x, const sdq_qmatrix *W, float beta,
                       const float *c_init) {
  const int N = W->rows, K = W->cols;
  float *wq = malloc(sizeof(float) * (size_t)N * (size_t)K);
  float *b = malloc(sizeof(float) * (size_t)N);
  ck_assert_ptr_nonnull(wq);
  ck_assert_ptr_nonnull(b);
  sdq_qmatrix_dequantize(W, wq);
  for (int n = 0; n < N; n++) {
    double s = fabs((double)beta * c_init[n]);
    for (int k = 0; k < K; k++)
      s += fabs((double)x[k] * wq[(size_t)n * K + k]);
    b[n] = (float)s;
  }
  free(wq);
  return b;
}

/* Runs every variant on one (N, K, bits, beta) case and compares with the
 * scalar reference at the tolerance of test_kernels_qgemm. */
static void check_case(int N, int K, int bits, float beta) {
  float *x_buf = malloc(sizeof(float) * ((size_t)K + 1));
  float *w = malloc(sizeof(float) * (size_t)N * (size_t)K);
  float *c_init = malloc(sizeof(float) * (size_t)(N + GUARD));
  float *c_ref = malloc(sizeof(float) * (size_t)(N + GUARD));
  float *c = malloc(sizeof(float) * (size_t)(N + GUARD));
  ck_assert(x_buf && w && c_init && c_ref && c);
  float *x = x_buf + 1; /* not 16-byte aligned */
  for (int k = 0; k < K; k++)
    x[k] = rng_uniform(1.0f);
  for (size_t i = 0; i < (size_t)N * (size_t)K; i++)
    w[i] = rng_uniform(0.05f);
  if (N > 2)
    w[(size_t)2 * (size_t)K] = 3.0f; /* one outlier channel */
  for (int n = 0; n < N; n++)
    c_init[n] = rng_uniform(1.0f);
  for (int g = 0; g < GUARD; g++)
    c_init[N + g] = GUARD_VALUE;

  sdq_qmatrix W;
  char err[256] = "";
  ck_assert_msg(sdq_qmatrix_init(&W, w, N, K, K, bits, err, sizeof(err)) == 0,
                "sdq_qmatrix_init N=%d K=%d bits=%d: %s", N, K, bits, err);

  /* beta == 0 must not read C, so C starts as NaN there */
  memcpy(c_ref, c_init, sizeof(float) * (size_t)(N + GUARD));
  if (beta == 0.0f)
    for (int n = 0; n < N; n++)
      c_ref[n] = NAN;
  sdq_kernel_table_for(SDQ_ISA_SCALAR)
      ->qgemm_f32_nt(1, x, K, &W, beta, c_ref, N);
  float *bound = bound_of(x, &W, beta, c_init);

  for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
    if (t == NULL)
      continue;
    memcpy(c, c_init, sizeof(float) * (size_t)(N + GUARD));
    if (beta == 0.0f)
      for (int n = 0; n < N; n++)
        c[n] = NAN;
    t->qgemm_f32_nt(1, x, K, &W, beta, c, N);
    for (int n = 0; n < N; n++) {
      const float tol = 2e-5f * (bound[n] + 1.0f);
      ck_assert_msg(fabsf(c[n] - c_ref[n]) <= tol,
                    "%s N=%d K=%d bits=%d beta=%g: C[%d] = %.9g, scalar %.9g "
                    "(tol %.3g)",
                    sdq_isa_name((sdq_isa)isa), N, K, bits, (double)beta, n,
                    (double)c[n], (double)c_ref[n], (double)tol);
    }
    for (int g = 0; g < GUARD; g++)
      ck_assert_msg(c[N + g] == GUARD_VALUE,
                    "%s N=%d K=%d bits=%d: wrote C[%d] past the row",
                    sdq_isa_name((sdq_isa)isa), N, K, bits, N + g);
  }

  sdq_qmatrix_free(&W);
  free(bound);
  free(x_buf);
  free(w);
  free(c_init);
  free(c_ref);
  free(c);
}

START_TEST(gemv_small_shapes_match_scalar) {
  for (size_t i = 0; i < sizeof(kCols) / sizeof(kCols[0]); i++)
    for (size_t j = 0; j < sizeof(kRows) / sizeof(kRows[0]); j++)
      for (int bits = 2; bits <= 8; bits++)
        check_case(kRows[j], kCols[i], bits, (i + j + (size_t)bits) % 2 ? 0.5f
                                                                   : 0.0f);
}
END_TEST

/* Enough rows that the call runs on several threads, with a row count that
 * leaves a partial last block (like the 50257-row LM head). */
START_TEST(gemv_many_rows_match_scalar) {
  for (int bits = 2; bits <= 8; bits++) {
    check_case(2051, 768, bits, 0.0f);
    check_case(1027, 3072, bits, 0.5f);
  }
}
END_TEST

/* A NaN or infinite activation makes every output NaN, as in the scalar
 * reference (every row has a nonzero weight, so 0 * inf never hides it). */
START_TEST(gemv_nonfinite_activation_gives_nan) {
  const int N = 9, K = 200;
  float x[200], w[9 * 200], c[9];
  for (int k = 0; k < K; k++)
    x[k] = rng_uniform(1.0f);
  for (int i = 0; i < N * K; i++)
    w[i] = 0.5f + rng_uniform(0.25f);
  const float bad[2] = {NAN, INFINITY};
  for (int bits = 2; bits <= 8; bits++) {
    sdq_qmatrix W;
    char err[256] = "";
    ck_assert_msg(sdq_qmatrix_init(&W, w, N, K, K, bits, err, sizeof(err)) ==
                      0,
                  "%s", err);
    for (int b = 0; b < 2; b++)
      for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
        const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
        if (t == NULL)
          continue;
        x[137] = bad[b];
        t->qgemm_f32_nt(1, x, K, &W, 0.0f, c, N);
        for (int n = 0; n < N; n++)
          ck_assert_msg(isnan(c[n]) || (b == 1 && isinf(c[n])),
                        "%s bits=%d x=%g: C[%d] = %g", sdq_isa_name((sdq_isa)isa),
                        bits, (double)bad[b], n, (double)c[n]);
      }
    sdq_qmatrix_free(&W);
  }
}
END_TEST

static Suite *qgemv_suite(void) {
  Suite *s = suite_create("kernels_qgemv");
  TCase *tc = tcase_create("gemv");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, gemv_small_shapes_match_scalar);
  tcase_add_test(tc, gemv_many_rows_match_scalar);
  tcase_add_test(tc, gemv_nonfinite_activation_gives_nan);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(qgemv_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
