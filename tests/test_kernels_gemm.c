/* test_kernels_gemm.c - every supported variant of sgemm_nt/nn/tn against a
 * double-precision reference, on awkward shapes, misaligned pointers, padded
 * leading dimensions and beta 0 (C full of NaN), 1 and -0.5.
 *
 * Tolerance: |C - ref| <= 1e-5 * (sum_k |a||b| + |beta*C_in|) per element.
 * An fp32 sum of K products has a worst-case rounding error of about
 * K * 2^-24 of that bound; the largest K here (3073) and the blocked or
 * sequential summation orders stay far below 1e-5 in practice. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "sdq_kernels.h"
#include "tests/kernel_test_util.h"

#define GEMM_TOL 1e-5

static const char *layout_name[] = {"sgemm_nt", "sgemm_nn", "sgemm_tn"};

/* The shapes: each of 1, 3, 17, 63, 65, 127, 769 and 3073 appears as M, as N
 * and as K, with large-K and large-N cases, M = 5 (one tile split over
 * threads), cases that cross the cache blocks (K > kc, M > mc, and N > nc
 * together with K > kc in a thread's column slice), and skinny
 * LoRA-rank shapes (N <= 16, K >= 32) with partial tiles in M. */
static const int shapes[][3] = {
    /* M     N     K */
    {1, 3073, 769},  {3, 769, 3073},  {17, 65, 127},  {63, 127, 65},
    {65, 63, 17},    {127, 17, 63},   {769, 3, 3},    {3073, 1, 1},
    {17, 769, 3073}, {127, 3073, 17}, {769, 127, 65}, {65, 769, 769},
    {3073, 63, 17},  {5, 1, 3},       {3, 3, 1},      {1, 17, 1},
    {5, 300, 40},    {63, 1, 769},    {1, 127, 3073},
    {37, 8, 768},    {1023, 16, 33},  {19, 5, 1029},  {2305, 8, 64},
    {45, 13, 96},     {40, 2500, 800},
};
#define SHAPE_COUNT (int)(sizeof shapes / sizeof shapes[0])

static sdq_sgemm_nt_fn layout_fn(const sdq_kernel_table *t, kt_layout layout) {
  switch (layout) {
  case KT_NT:
    return t->sgemm_nt;
  case KT_NN:
    return t->sgemm_nn;
  default:
    return t->sgemm_tn;
  }
}

/* Runs one GEMM of variant isa and checks it against the reference, and
 * that the padding columns of C (between N and ldc) are untouched. */
static void check_gemm(sdq_isa isa, kt_layout layout, int M, int N, int K,
                       float beta, uint64_t seed) {
  const sdq_kernel_table *t = sdq_kernel_table_for(isa);
  ck_assert_ptr_nonnull(t);

  /* 1. Operands in the layout's storage, leading dimensions wider than the
   * rows, 1 float past a 64-byte boundary. */
  int a_rows = layout == KT_TN ? K : M, a_cols = layout == KT_TN ? M : K;
  int b_rows = layout == KT_NT ? N : K, b_cols = layout == KT_NT ? K : N;
  int lda = a_cols + 5, ldb = b_cols + 3, ldc = N + 7;
  kt_rng rng;
  kt_rng_seed(&rng, seed);
  float *A = kt_alloc_misaligned((size_t)a_rows * lda);
  float *B = kt_alloc_misaligned((size_t)b_rows * ldb);
  float *C = kt_alloc_misaligned((size_t)M * ldc);
  for (int r = 0; r < a_rows; r++)
    kt_fill_uniform(&rng, A + (size_t)r * lda, (size_t)a_cols, -1.0f, 1.0f);
  for (int r = 0; r < b_rows; r++)
    kt_fill_uniform(&rng, B + (size_t)r * ldb, (size_t)b_cols, -1.0f, 1.0f);
  const float pad = 12345.0f;
  for (int m = 0; m < M; m++) {
    float *row = C + (size_t)m * ldc;
    if (beta != 0.0f)
      kt_fill_uniform(&rng, row, (size_t)N, -1.0f, 1.0f);
    kt_fill_value(row + N, (size_t)(ldc - N), pad);
  }

  /* 2. Reference, then the variant. */
  kt_gemm_ref ref;
  kt_gemm_reference(layout, M, N, K, A, lda, B, ldb, beta, C, ldc, &ref);
  layout_fn(t, layout)(M, N, K, A, lda, B, ldb, beta, C, ldc);

  /* 3. Compare. */
  int where;
  double err = kt_gemm_max_error(&ref, C, ldc, &where);
  ck_assert_msg(err <= GEMM_TOL,
                "%s[%s] M=%d N=%d K=%d beta=%g: max rel err %.3g > %g at "
                "C[%d,%d] (got %.9g, expected %.9g)",
                layout_name[layout], sdq_isa_name(isa), M, N, K, beta, err,
                GEMM_TOL, where / N, where % N,
                C[(size_t)(where / N) * ldc + where % N], ref.value[where]);
  for (int m = 0; m < M; m++)
    for (int n = N; n < ldc; n++)
      ck_assert_msg(C[(size_t)m * ldc + n] == pad,
                    "%s[%s] M=%d N=%d K=%d: wrote C[%d,%d] past column N",
                    layout_name[layout], sdq_isa_name(isa), M, N, K, m, n);

  kt_gemm_ref_free(&ref);
  kt_free(A);
  kt_free(B);
  kt_free(C);
}

/* Every shape; beta alternates between 0 (C starts as NaN) and 1. */
static void check_layout(sdq_isa isa, kt_layout layout) {
  for (int s = 0; s < SHAPE_COUNT; s++) {
    float beta = s % 2 ? 1.0f : 0.0f;
    check_gemm(isa, layout, shapes[s][0], shapes[s][1], shapes[s][2], beta,
               1000u * (unsigned)layout + (unsigned)s);
  }
}

START_TEST(sgemm_nt_shapes) { check_layout((sdq_isa)_i, KT_NT); }
END_TEST

START_TEST(sgemm_nn_shapes) { check_layout((sdq_isa)_i, KT_NN); }
END_TEST

START_TEST(sgemm_tn_shapes) { check_layout((sdq_isa)_i, KT_TN); }
END_TEST

/* beta 0, 1 and -0.5 on the same shapes for every layout, small and
 * blocked (M > 4) paths. */
START_TEST(sgemm_beta_values) {
  const float betas[] = {0.0f, 1.0f, -0.5f};
  const int cases[][3] = {{1, 33, 20}, {4, 17, 9}, {37, 50, 300}};
  for (int l = 0; l < 3; l++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 3; c++)
        check_gemm((sdq_isa)_i, (kt_layout)l, cases[c][0], cases[c][1],
                   cases[c][2], betas[b], 7u + (unsigned)(l * 9 + b * 3 + c));
}
END_TEST

/* K == 0: C = beta*C, and beta == 0 must clear NaN. */
START_TEST(sgemm_empty_k) {
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  float A[1] = {1.0f}, B[1] = {1.0f};
  for (int l = 0; l < 3; l++) {
    float C[6] = {1, 2, 3, 4, 5, 6};
    layout_fn(t, (kt_layout)l)(2, 3, 0, A, 1, B, 1, 0.5f, C, 3);
    for (int i = 0; i < 6; i++)
      ck_assert_msg(C[i] == 0.5f * (float)(i + 1), "%s[%s] K=0 beta=0.5: C[%d]=%g",
                    layout_name[l], sdq_isa_name((sdq_isa)_i), i, C[i]);
    for (int i = 0; i < 6; i++)
      C[i] = NAN;
    layout_fn(t, (kt_layout)l)(2, 3, 0, A, 1, B, 1, 0.0f, C, 3);
    for (int i = 0; i < 6; i++)
      ck_assert_msg(C[i] == 0.0f, "%s[%s] K=0 beta=0: C[%d]=%g",
                    layout_name[l], sdq_isa_name((sdq_isa)_i), i, C[i]);
  }
}
END_TEST

/* The variant's result does not depend on the number of OpenMP threads. */
START_TEST(sgemm_thread_count_invariant) {
#ifdef _OPENMP
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  const int M = 200, N = 300, K = 500;
  kt_rng rng;
  kt_rng_seed(&rng, 99);
  float *A = kt_alloc_misaligned((size_t)M * K);
  float *B = kt_alloc_misaligned((size_t)N * K);
  float *C1 = kt_alloc_misaligned((size_t)M * N);
  float *C3 = kt_alloc_misaligned((size_t)M * N);
  kt_fill_uniform(&rng, A, (size_t)M * K, -1.0f, 1.0f);
  kt_fill_uniform(&rng, B, (size_t)N * K, -1.0f, 1.0f);

  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  t->sgemm_nt(M, N, K, A, K, B, K, 0.0f, C1, N);
  omp_set_num_threads(3);
  t->sgemm_nt(M, N, K, A, K, B, K, 0.0f, C3, N);
  omp_set_num_threads(saved);

  for (int i = 0; i < M * N; i++)
    ck_assert_msg(C1[i] == C3[i], "sgemm_nt[%s]: C[%d] is %.9g on 1 thread, %.9g on 3",
                  sdq_isa_name((sdq_isa)_i), i, C1[i], C3[i]);
  kt_free(A);
  kt_free(B);
  kt_free(C1);
  kt_free(C3);
#endif
}
END_TEST

static Suite *gemm_suite(void) {
  Suite *s = suite_create("kernels_gemm");
  sdq_isa isas[SDQ_ISA_COUNT];
  int n = kt_supported_isas(isas);
  /* Check keeps the name pointers, so they must outlive this function. */
  static char names[SDQ_ISA_COUNT][32];
  for (int i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "sgemm[%s]", sdq_isa_name(isas[i]));
    TCase *tc = tcase_create(names[i]);
    tcase_set_timeout(tc, 600);
    int v = (int)isas[i];
    tcase_add_loop_test(tc, sgemm_nt_shapes, v, v + 1);
    tcase_add_loop_test(tc, sgemm_nn_shapes, v, v + 1);
    tcase_add_loop_test(tc, sgemm_tn_shapes, v, v + 1);
    tcase_add_loop_test(tc, sgemm_beta_values, v, v + 1);
    tcase_add_loop_test(tc, sgemm_empty_k, v, v + 1);
    tcase_add_loop_test(tc, sgemm_thread_count_invariant, v, v + 1);
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(gemm_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
