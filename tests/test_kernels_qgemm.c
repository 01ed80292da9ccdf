/* test_kernels_qgemm.c - packed-weight GEMMs (qgemm_f32_nt/nn, qgemm_i8_nt)
 * on every ISA variant this machine supports, against the scalar reference,
 * an int64 reference and the fake-quant path. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmatrix_strips.h"
#include "sdq_kernels.h"
#include "sdq_pack.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 32);
}

static void fill_uniform(float *x, size_t n, float amplitude) {
  for (size_t i = 0; i < n; i++)
    x[i] = amplitude * ((float)rng_next() / 2147483648.0f - 1.0f);
}

/* One GEMM shape: M activation rows, N weight rows (outputs), K inputs. */
typedef struct shape {
  int M, N, K;
} shape;

/* Each of 1, 3, 17, 63, 65, 127, 769, 3073 appears as M, N and K, with K
 * rarely a multiple of the vector width or of the 64-value group. */
static const shape kShapes[] = {
    {1, 1, 1},     {1, 3073, 769}, {3, 769, 3073}, {17, 63, 65},
    {63, 17, 127}, {65, 127, 63},  {127, 65, 17},  {769, 3, 3},
    {3073, 1, 65}, {4, 8, 64},     {5, 5, 129},    {1, 65, 3073},
};
#define N_SHAPES (int)(sizeof(kShapes) / sizeof(kShapes[0]))

/* Activations and output with awkward strides: A starts one float past an
 * aligned address and both leading dimensions exceed the row width. */
typedef struct gemm_data {
  int M, N, K, lda, ldc;
  float *a_buf, *A; /* [M, lda] */
  float *w;         /* [N, K] */
  float *c_init;    /* [M, ldc] */
} gemm_data;

static void gemm_data_init(gemm_data *d, int M, int N, int K, int a_cols) {
  d->M = M;
  d->N = N;
  d->K = K;
  d->lda = a_cols + 3;
  d->ldc = (a_cols == K ? N : K) + 2;
  d->a_buf = malloc(sizeof(float) * ((size_t)M * (size_t)d->lda + 1));
  d->A = d->a_buf + 1;
  d->w = malloc(sizeof(float) * (size_t)N * (size_t)K);
  d->c_init = malloc(sizeof(float) * (size_t)M * (size_t)d->ldc);
  fill_uniform(d->A, (size_t)M * (size_t)d->lda, 1.0f);
  fill_uniform(d->w, (size_t)N * (size_t)K, 0.05f);
  fill_uniform(d->c_init, (size_t)M * (size_t)d->ldc, 1.0f);
  if (N > 2)
    d->w[(size_t)2 * (size_t)K] = 3.0f; /* one outlier channel */
}

static void gemm_data_free(gemm_data *d) {
  free(d->a_buf);
  free(d->w);
  free(d->c_init);
}

static float *copy_c(const gemm_data *d) {
  const size_t n = (size_t)d->M * (size_t)d->ldc;
  float *c = malloc(sizeof(float) * n);
  memcpy(c, d->c_init, sizeof(float) * n);
  return c;
}

/* Builds W from d->w at bits; fails the test with the message otherwise. */
static void make_qmatrix(sdq_qmatrix *m, const gemm_data *d, int bits) {
  char err[256] = "";
  ck_assert_msg(sdq_qmatrix_init(m, d->w, d->N, d->K, d->K, bits, err,
                                 sizeof(err)) == 0,
                "sdq_qmatrix_init failed: %s", err);
}

/* Compares cols entries of rows rows of c with ref, allowing fp32
 * summation-order error relative to bound[row * cols + col] (the sum of
 * |terms|). */
static void check_close(const char *what, const char *isa, const float *c,
                        const float *ref, int rows, int cols, int ld,
                        const float *bound, int bits) {
  for (int r = 0; r < rows; r++)
    for (int k = 0; k < cols; k++) {
      const float got = c[(size_t)r * ld + k], want = ref[(size_t)r * ld + k];
      const float tol = 2e-5f * (bound[(size_t)r * cols + k] + 1.0f);
      ck_assert_msg(fabsf(got - want) <= tol,
                    "%s %s bits=%d: [%d,%d] = %.9g, scalar %.9g (tol %.3g)",
                    isa, what, bits, r, k, (double)got, (double)want,
                    (double)tol);
    }
}

/* bound[m, n] = beta*|C| + sum_k |A[m,k]| * |Wq[n,k]| with Wq dequantized. */
static float *nt_bound(const gemm_data *d, const sdq_qmatrix *W, float beta) {
  float *wq = malloc(sizeof(float) * (size_t)d->N * (size_t)d->K);
  float *b = malloc(sizeof(float) * (size_t)d->M * (size_t)d->N);
  sdq_qmatrix_dequantize(W, wq);
  for (int m = 0; m < d->M; m++)
    for (int n = 0; n < d->N; n++) {
      double s = fabs(beta * d->c_init[(size_t)m * d->ldc + n]);
      for (int k = 0; k < d->K; k++)
        s += fabs(d->A[(size_t)m * d->lda + k] * wq[(size_t)n * d->K + k]);
      b[(size_t)m * d->N + n] = (float)s;
    }
  free(wq);
  return b;
}

/* ------------------------------------------------------- qgemm_f32_nt */

START_TEST(f32_nt_isas_match_scalar) {
  const sdq_kernel_table *ref = sdq_kernel_table_for(SDQ_ISA_SCALAR);
  for (int s = 0; s < N_SHAPES; s++) {
    const shape sh = kShapes[s];
    gemm_data d;
    gemm_data_init(&d, sh.M, sh.N, sh.K, sh.K);
    for (int bits = 2; bits <= 8; bits++) {
      /* odd widths share the even layouts, and the small shapes cover every
       * width; big shapes run 4 and 8 bits to keep the test fast */
      if (sh.M * sh.N * sh.K > 100000 && bits != 4 && bits != 8)
        continue;
      sdq_qmatrix W;
      make_qmatrix(&W, &d, bits);
      const float beta = s % 2 ? 0.5f : 0.0f;
      float *c_ref = copy_c(&d);
      if (beta == 0.0f)
        for (size_t i = 0; i < (size_t)d.M * d.ldc; i++)
          c_ref[i] = NAN; /* beta == 0 must not read C */
      ref->qgemm_f32_nt(d.M, d.A, d.lda, &W, beta, c_ref, d.ldc);
      float *bound = nt_bound(&d, &W, beta);

      /* the scalar reference against sgemm_nt on the dequantized W */
      float *wq = malloc(sizeof(float) * (size_t)d.N * d.K);
      float *c_fq = copy_c(&d);
      sdq_qmatrix_dequantize(&W, wq);
      ref->sgemm_nt(d.M, d.N, d.K, d.A, d.lda, wq, d.K, beta, c_fq, d.ldc);
      check_close("qgemm_f32_nt vs sgemm_nt(dequantized W)", "scalar", c_ref,
                  c_fq, d.M, d.N, d.ldc, bound, bits);
      free(wq);
      free(c_fq);

      for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
        const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
        if (t == NULL)
          continue;
        float *c = copy_c(&d);
        if (beta == 0.0f)
          for (size_t i = 0; i < (size_t)d.M * d.ldc; i++)
            c[i] = NAN;
        t->qgemm_f32_nt(d.M, d.A, d.lda, &W, beta, c, d.ldc);
        char what[64];
        snprintf(what, sizeof(what), "qgemm_f32_nt %dx%dx%d", d.M, d.N, d.K);
        check_close(what, sdq_isa_name((sdq_isa)isa), c, c_ref, d.M, d.N,
                    d.ldc, bound, bits);
        free(c);
      }
      free(bound);
      free(c_ref);
      sdq_qmatrix_free(&W);
    }
    gemm_data_free(&d);
  }
}
END_TEST

/* ------------------------------------------------------- qgemm_f32_nn */

/* Returns 1 when an entry the kernel must not write still contains its initial
 * value (NaN when the test filled C with NaN for beta == 0). */
static int same_bits_or_nan(float got, float init, float beta) {
  if (beta == 0.0f)
    return isnan(got);
  return memcmp(&got, &init, sizeof(got)) == 0;
}

START_TEST(f32_nn_isas_match_scalar) {
  const sdq_kernel_table *ref = sdq_kernel_table_for(SDQ_ISA_SCALAR);
  for (int s = 0; s < N_SHAPES; s++) {
    const shape sh = kShapes[s];
    /* C[M, K] = A[M, N] * W[N, K] */
    gemm_data d;
    gemm_data_init(&d, sh.M, sh.N, sh.K, sh.N);
    for (int bits = 2; bits <= 8; bits += 2) {
      if (sh.M * sh.N * sh.K > 100000 && bits != 4 && bits != 8)
        continue;
      sdq_qmatrix W;
      make_qmatrix(&W, &d, bits);
      const float beta = s % 2 ? 0.0f : -1.5f;
      float *c_ref = copy_c(&d);
      ref->qgemm_f32_nn(d.M, d.A, d.lda, &W, beta, c_ref, d.ldc);

      float *wq = malloc(sizeof(float) * (size_t)d.N * d.K);
      float *bound = malloc(sizeof(float) * (size_t)d.M * d.K);
      float *c_fq = copy_c(&d);
      sdq_qmatrix_dequantize(&W, wq);
      for (int m = 0; m < d.M; m++)
        for (int k = 0; k < d.K; k++) {
          double b = fabs(beta * d.c_init[(size_t)m * d.ldc + k]);
          for (int n = 0; n < d.N; n++)
            b += fabs(d.A[(size_t)m * d.lda + n] * wq[(size_t)n * d.K + k]);
          bound[(size_t)m * d.K + k] = (float)b;
        }
      ref->sgemm_nn(d.M, d.K, d.N, d.A, d.lda, wq, d.K, beta, c_fq, d.ldc);
      check_close("qgemm_f32_nn vs sgemm_nn(dequantized W)", "scalar", c_ref,
                  c_fq, d.M, d.K, d.ldc, bound, bits);

      for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
        const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
        if (t == NULL)
          continue;
        float *c = copy_c(&d);
        if (beta == 0.0f)
          for (size_t i = 0; i < (size_t)d.M * d.ldc; i++)
            c[i] = NAN;
        t->qgemm_f32_nn(d.M, d.A, d.lda, &W, beta, c, d.ldc);
        char what[64];
        snprintf(what, sizeof(what), "qgemm_f32_nn %dx%dx%d", d.M, d.N, d.K);
        check_close(what, sdq_isa_name((sdq_isa)isa), c, c_ref, d.M, d.K,
                    d.ldc, bound, bits);
        /* columns between K and ldc are not written */
        for (int m = 0; m < d.M; m++)
          for (int k = d.K; k < d.ldc; k++)
            ck_assert_msg(same_bits_or_nan(c[(size_t)m * d.ldc + k],
                                           d.c_init[(size_t)m * d.ldc + k],
                                           beta),
                          "%s qgemm_f32_nn wrote C[%d,%d] past K",
                          sdq_isa_name((sdq_isa)isa), m, k);
        free(c);
      }
      free(wq);
      free(bound);
      free(c_fq);
      free(c_ref);
      sdq_qmatrix_free(&W);
    }
    gemm_data_free(&d);
  }
}
END_TEST

/* -------------------------------------------------------- qgemm_i8_nt */

/* The exact result of the integer GEMM from an independent int64
 * reference: q of A from the scalar quantize_rows, q of W unpacked, and
 * the rescale in the documented order ((float)acc * scale_a) * scale_w. */
static float *i8_reference(const gemm_data *d, const sdq_qmatrix *W,
                           int act_bits) {
  const sdq_kernel_table *ref = sdq_kernel_table_for(SDQ_ISA_SCALAR);
  int8_t *qa = malloc((size_t)d->M * d->K);
  int8_t *qw = malloc((size_t)d->K);
  float *sa = malloc(sizeof(float) * (size_t)d->M);
  float *c = malloc(sizeof(float) * (size_t)d->M * d->N);
  ref->quantize_rows(d->A, d->M, d->K, d->lda, act_bits, qa, sa);
  const size_t row_bytes = sdq_packed_row_bytes(W->cols, W->bits);
  for (int n = 0; n < d->N; n++) {
    sdq_unpack_row(W->packed + (size_t)n * row_bytes, d->K, W->bits, qw);
    for (int m = 0; m < d->M; m++) {
      int64_t acc = 0;
      for (int k = 0; k < d->K; k++)
        acc += (int64_t)qa[(size_t)m * d->K + k] * qw[k];
      ck_assert(acc >= INT32_MIN && acc <= INT32_MAX);
      c[(size_t)m * d->N + n] = ((float)(int32_t)acc * sa[m]) * W->scale[n];
    }
  }
  free(qa);
  free(qw);
  free(sa);
  return c;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof(a)) == 0; }

START_TEST(i8_nt_exact_across_isas) {
  for (int s = 0; s < N_SHAPES; s++) {
    const shape sh = kShapes[s];
    gemm_data d;
    gemm_data_init(&d, sh.M, sh.N, sh.K, sh.K);
    for (int bits = 2; bits <= 8; bits++) {
      const int act_bits = bits == 8 ? 8 : 10 - bits; /* pairs 8/8, 7/3 .. */
      const int big = sh.M * sh.N * sh.K > 1000000;
      if (big && bits != 4 && bits != 8)
        continue;
      sdq_qmatrix W;
      make_qmatrix(&W, &d, bits);
      float *want = i8_reference(&d, &W, act_bits);

      for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
        const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
        if (t == NULL)
          continue;
        const char *name = sdq_isa_name((sdq_isa)isa);
        float *c = copy_c(&d);
        for (size_t i = 0; i < (size_t)d.M * d.ldc; i++)
          c[i] = NAN; /* beta == 0 must not read C */
        ck_assert_msg(t->qgemm_i8_nt(d.M, d.A, d.lda, act_bits, &W, 0.0f, c,
                                     d.ldc) == 0,
                      "%s qgemm_i8_nt failed", name);
        for (int m = 0; m < d.M; m++)
          for (int n = 0; n < d.N; n++)
            ck_assert_msg(same_bits(c[(size_t)m * d.ldc + n],
                                    want[(size_t)m * d.N + n]),
                          "%s qgemm_i8_nt %dx%dx%d w%d/a%d: C[%d,%d] = %.9g, "
                          "int64 reference %.9g",
                          name, d.M, d.N, d.K, bits, act_bits, m, n,
                          (double)c[(size_t)m * d.ldc + n],
                          (double)want[(size_t)m * d.N + n]);
        free(c);
      }
      free(want);
      sdq_qmatrix_free(&W);
    }
    gemm_data_free(&d);
  }
}
END_TEST

/* Runs qgemm_i8_nt of every variant on d and W at act_bits and requires
 * the int64 reference's bits in every output. */
static void assert_i8_exact(const gemm_data *d, const sdq_qmatrix *W,
                            int act_bits) {
  float *want = i8_reference(d, W, act_bits);
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    float *c = copy_c(d);
    ck_assert_msg(t->qgemm_i8_nt(d->M, d->A, d->lda, act_bits, W, 0.0f, c,
                                 d->ldc) == 0,
                  "%s qgemm_i8_nt failed", name);
    for (int m = 0; m < d->M; m++)
      for (int n = 0; n < d->N; n++)
        ck_assert_msg(same_bits(c[(size_t)m * d->ldc + n],
                                want[(size_t)m * d->N + n]),
                      "%s qgemm_i8_nt %dx%dx%d w%d/a%d: C[%d,%d] = %.9g, "
                      "int64 reference %.9g",
                      name, d->M, d->N, d->K, W->bits, act_bits, m, n,
                      (double)c[(size_t)m * d->ldc + n],
                      (double)want[(size_t)m * d->N + n]);
    free(c);
  }
  free(want);
}

/* The register tiles of the blocked GEMMs (x86: 4 or 8 rows, 8, 16 or 48
 * channels, k in quads of 64-value groups) with every tail. M runs from 1
 * to 17, N lies around the 48-channel strip and K off the group size, for
 * every pair of weight and activation bits. */
START_TEST(i8_nt_tile_tails_all_bit_pairs) {
  static const shape tails[] = {
      {17, 97, 65}, {5, 49, 200}, {4, 1, 63},  {9, 48, 64},
      {3, 50, 129}, {8, 47, 1},   {1, 95, 66}, {12, 17, 130},
  };
  for (size_t s = 0; s < sizeof(tails) / sizeof(tails[0]); s++) {
    gemm_data d;
    gemm_data_init(&d, tails[s].M, tails[s].N, tails[s].K, tails[s].K);
    for (int bits = 2; bits <= 8; bits++) {
      sdq_qmatrix W;
      make_qmatrix(&W, &d, bits);
      for (int act_bits = 2; act_bits <= 8; act_bits++)
        assert_i8_exact(&d, &W, act_bits);
      sdq_qmatrix_free(&W);
    }
    gemm_data_free(&d);
  }
}
END_TEST

/* Weights and activations at +-qmax everywhere, in runs of one sign, so
 * every pair of products is as large as the formats allow: 8-bit weights
 * (unsigned fields up to 255) with 8-bit activations would saturate a
 * plain vpmaddubsw pair (2 * 255 * 127 > 32767). */
START_TEST(i8_nt_exact_at_largest_products) {
  gemm_data d;
  gemm_data_init(&d, 13, 100, 300, 300);
  for (int m = 0; m < d.M; m++)
    for (int k = 0; k < d.K; k++)
      d.A[(size_t)m * d.lda + k] = (m + k / 7) % 3 == 0 ? -1.0f : 1.0f;
  for (int n = 0; n < d.N; n++)
    for (int k = 0; k < d.K; k++)
      d.w[(size_t)n * d.K + k] = (n + k / 5) % 2 == 0 ? 1.0f : -1.0f;
  for (int bits = 6; bits <= 8; bits++) {
    sdq_qmatrix W;
    make_qmatrix(&W, &d, bits);
    for (int act_bits = 6; act_bits <= 8; act_bits++)
      assert_i8_exact(&d, &W, act_bits);
    sdq_qmatrix_free(&W);
  }
  gemm_data_free(&d);
}
END_TEST

/* The weight strips cached with a matrix are built once even when two
 * threads run their first GEMM on it at the same time, and later calls
 * reuse them with the same results. */
START_TEST(i8_nt_cache_shared_between_threads) {
  gemm_data d;
  gemm_data_init(&d, 24, 150, 260, 260);
  for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
    if (t == NULL)
      continue;
    sdq_qmatrix W;
    make_qmatrix(&W, &d, 4);
    float *want = i8_reference(&d, &W, 6);
    float *c[3] = {copy_c(&d), copy_c(&d), copy_c(&d)};
#pragma omp parallel for num_threads(2)
    for (int i = 0; i < 2; i++)
      t->qgemm_i8_nt(d.M, d.A, d.lda, 6, &W, 0.0f, c[i], d.ldc);
    t->qgemm_i8_nt(d.M, d.A, d.lda, 6, &W, 0.0f, c[2], d.ldc);
    for (int i = 0; i < 3; i++)
      for (int m = 0; m < d.M; m++)
        for (int n = 0; n < d.N; n++)
          ck_assert_msg(same_bits(c[i][(size_t)m * d.ldc + n],
                                  want[(size_t)m * d.N + n]),
                        "%s call %d: C[%d,%d] = %.9g, int64 reference %.9g",
                        sdq_isa_name((sdq_isa)isa), i, m, n,
                        (double)c[i][(size_t)m * d.ldc + n],
                        (double)want[(size_t)m * d.N + n]);
    for (int i = 0; i < 3; i++)
      free(c[i]);
    free(want);
    sdq_qmatrix_free(&W);
    ck_assert_ptr_null(W.i8_strips);
  }
  gemm_data_free(&d);
}
END_TEST

/* The integer GEMM workspace is 64-aligned, handed out again after it was
 * given back when large enough, and replaced when too small. */
START_TEST(i8_workspace_reused_when_large_enough) {
  uint8_t *a = sdq_i8_workspace_take(1000);
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq((uintptr_t)a % 64, 0);
  memset(a, 1, 1000);
  sdq_i8_workspace_give(a);

  uint8_t *b = sdq_i8_workspace_take(600);
  ck_assert_ptr_eq(b, a);
  uint8_t *c = sdq_i8_workspace_take(600); /* the kept one is in use */
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_ne(c, b);
  sdq_i8_workspace_give(c);
  sdq_i8_workspace_give(b);

  uint8_t *d = sdq_i8_workspace_take(5000);
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq((uintptr_t)d % 64, 0);
  memset(d, 2, 5000);
  sdq_i8_workspace_give(d);
}
END_TEST

START_TEST(i8_nt_beta_exact_across_isas) {
  gemm_data d;
  gemm_data_init(&d, 37, 70, 200, 200);
  sdq_qmatrix W;
  make_qmatrix(&W, &d, 8);
  float *c_ref = copy_c(&d);
  sdq_kernel_table_for(SDQ_ISA_SCALAR)
      ->qgemm_i8_nt(d.M, d.A, d.lda, 8, &W, 0.75f, c_ref, d.ldc);
  for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
    if (t == NULL)
      continue;
    float *c = copy_c(&d);
    t->qgemm_i8_nt(d.M, d.A, d.lda, 8, &W, 0.75f, c, d.ldc);
    ck_assert_msg(memcmp(c, c_ref, sizeof(float) * (size_t)d.M * d.ldc) == 0,
                  "%s qgemm_i8_nt with beta = 0.75 differs from scalar "
                  "(including the columns past N, which must be untouched)",
                  sdq_isa_name((sdq_isa)isa));
    free(c);
  }
  free(c_ref);
  sdq_qmatrix_free(&W);
  gemm_data_free(&d);
}
END_TEST

START_TEST(i8_nt_equals_fake_quant_path) {
  const sdq_kernel_table *ref = sdq_kernel_table_for(SDQ_ISA_SCALAR);
  gemm_data d;
  gemm_data_init(&d, 33, 95, 300, 300);
  for (int bits = 2; bits <= 8; bits++)
    for (int act_bits = 2; act_bits <= 8; act_bits += 3) {
      sdq_qmatrix W;
      make_qmatrix(&W, &d, bits);

      /* fake-quant path: sgemm_nt(fake_quant(A), dequant(W)) */
      float *afq = malloc(sizeof(float) * (size_t)d.M * d.lda);
      float *wq = malloc(sizeof(float) * (size_t)d.N * d.K);
      float *c_fq = copy_c(&d);
      ck_assert_int_eq(ref->fake_quant(d.A, d.M, d.K, d.lda, act_bits, NULL,
                                       afq, NULL),
                       0);
      sdq_qmatrix_dequantize(&W, wq);
      ref->sgemm_nt(d.M, d.N, d.K, afq, d.lda, wq, d.K, 0.25f, c_fq, d.ldc);

      float *bound = malloc(sizeof(float) * (size_t)d.M * d.N);
      for (int m = 0; m < d.M; m++)
        for (int n = 0; n < d.N; n++) {
          double b = fabs(0.25f * d.c_init[(size_t)m * d.ldc + n]);
          for (int k = 0; k < d.K; k++)
            b += fabs(afq[(size_t)m * d.lda + k] * wq[(size_t)n * d.K + k]);
          bound[(size_t)m * d.N + n] = (float)b;
        }

      for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
        const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
        if (t == NULL)
          continue;
        float *c = copy_c(&d);
        t->qgemm_i8_nt(d.M, d.A, d.lda, act_bits, &W, 0.25f, c, d.ldc);
        char what[64];
        snprintf(what, sizeof(what), "qgemm_i8_nt a%d vs fake-quant sgemm_nt",
                 act_bits);
        check_close(what, sdq_isa_name((sdq_isa)isa), c, c_fq, d.M, d.N,
                    d.ldc, bound, bits);
        free(c);
      }
      free(afq);
      free(wq);
      free(c_fq);
      free(bound);
      sdq_qmatrix_free(&W);
    }
  gemm_data_free(&d);
}
END_TEST

START_TEST(i8_nt_nan_rows) {
  gemm_data d;
  gemm_data_init(&d, 6, 9, 70, 70);
  d.A[(size_t)1 * d.lda + 3] = NAN;
  d.A[(size_t)4 * d.lda + 69] = -INFINITY;
  sdq_qmatrix W;
  make_qmatrix(&W, &d, 4);
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    float *c = copy_c(&d);
    ck_assert_msg(t->qgemm_i8_nt(d.M, d.A, d.lda, 8, &W, 0.0f, c, d.ldc) == 2,
                  "%s: expected 2 NaN/inf rows", name);
    for (int m = 0; m < d.M; m++)
      for (int n = 0; n < d.N; n++) {
        const int bad_row = m == 1 || m == 4;
        ck_assert_msg(bad_row == !!isnan(c[(size_t)m * d.ldc + n]),
                      "%s: C[%d,%d] = %g", name, m, n,
                      (double)c[(size_t)m * d.ldc + n]);
      }
    ck_assert_msg(t->qgemm_i8_nt(d.M, d.A, d.lda, 1, &W, 0.0f, c, d.ldc) == -1,
                  "%s: act_bits 1 accepted", name);
    ck_assert_msg(t->qgemm_i8_nt(d.M, d.A, d.lda, 9, &W, 0.0f, c, d.ldc) == -1,
                  "%s: act_bits 9 accepted", name);
    free(c);
  }
  sdq_qmatrix_free(&W);
  gemm_data_free(&d);
}
END_TEST

static Suite *qgemm_suite(void) {
  Suite *s = suite_create("kernels_qgemm");
  /* generous timeouts: the scalar references dominate and the test
   * machine may be shared */
  TCase *tc = tcase_create("f32");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, f32_nt_isas_match_scalar);
  tcase_add_test(tc, f32_nn_isas_match_scalar);
  suite_add_tcase(s, tc);

  tc = tcase_create("i8");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, i8_nt_exact_across_isas);
  tcase_add_test(tc, i8_nt_beta_exact_across_isas);
  tcase_add_test(tc, i8_nt_equals_fake_quant_path);
  tcase_add_test(tc, i8_nt_nan_rows);
  tcase_add_test(tc, i8_nt_tile_tails_all_bit_pairs);
  tcase_add_test(tc, i8_nt_exact_at_largest_products);
  tcase_add_test(tc, i8_nt_cache_shared_between_threads);
  tcase_add_test(tc, i8_workspace_reused_when_large_enough);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  char isas[256] = "";
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++)
    if (sdq_kernel_table_for((sdq_isa)isa) != NULL) {
      strncat(isas, " ", sizeof(isas) - strlen(isas) - 1);
      strncat(isas, sdq_isa_name((sdq_isa)isa), sizeof(isas) - strlen(isas) - 1);
    }
  fprintf(stderr, "test_kernels_qgemm: variants tested:%s\n", isas);

  SRunner *sr = srunner_create(qgemm_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
