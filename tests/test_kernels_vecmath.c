/* test_kernels_vecmath.c - every supported variant of exp, GELU, softmax and
 * LayerNorm against double-precision references, on lengths that leave SIMD
 * tails, misaligned pointers, padded rows, aliased outputs and NaN input.
 *
 * Tolerances (error = |got - ref|, ref computed in double):
 *   exp                    <= 4e-7 |ref|      (SLEEF u10 is within 1 ULP)
 *   GELU forward/backward  <= 2e-6 (1 + |x|)  (fp32 cancellation in 1 + tanh
 *                                               for negative x dominates)
 *   softmax                <= 1e-7 + 2e-5 |ref|
 *   LayerNorm y, dx        <= 2e-5 (1 + |ref|); mean, rstd <= 2e-6 |ref|
 *   dgamma, dbeta          <= 2e-5 (1 + |ref|)
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"
#include "tests/kernel_test_util.h"

#define GELU_K 0.7978845608028654
#define GELU_C 0.044715

/* Lengths: tails of every width up to 16, and long arrays that take the
 * OpenMP path (>= 65536 elements). */
static const size_t lengths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 1000, 70001};
#define LENGTH_COUNT (sizeof lengths / sizeof lengths[0])

static double *alloc_ref(size_t n) {
  double *r = malloc((n + 1) * sizeof(double));
  ck_assert_msg(r != NULL, "out of memory for %zu reference values", n);
  return r;
}

static const sdq_kernel_table *table(int isa) {
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)isa);
  ck_assert_ptr_nonnull(t);
  return t;
}

static double gelu_ref(double x) {
  return 0.5 * x * (1.0 + tanh(GELU_K * (x + GELU_C * x * x * x)));
}

static double gelu_grad_ref(double x) {
  double t = tanh(GELU_K * (x + GELU_C * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
}

/* ------------------------------------------------------------------- exp */

START_TEST(exp_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  kt_rng rng;
  kt_rng_seed(&rng, 1);
  for (size_t li = 0; li < LENGTH_COUNT; li++) {
    size_t n = lengths[li];
    float *x = kt_alloc_misaligned(n), *y = kt_alloc_misaligned(n + 1);
    double *ref = alloc_ref(n);
    kt_fill_uniform(&rng, x, n, -87.0f, 88.0f);
    if (n > 2) {
      x[0] = 0.0f;
      x[1] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++)
      ref[i] = exp((double)x[i]);
    y[n] = 42.0f;

    t->vexp(x, y, n);

    size_t where;
    double err = kt_max_scaled_error(y, ref, n, 0.0, 4e-7, &where);
    ck_assert_msg(err <= 1.0, "exp[%s] n=%zu: error %.3g x tolerance at %zu (x=%.9g got %.9g want %.9g)",
                  sdq_isa_name((sdq_isa)_i), n, err, where, x[where], y[where], ref[where]);
    ck_assert_msg(y[n] == 42.0f, "exp[%s] n=%zu wrote past the end", sdq_isa_name((sdq_isa)_i), n);
    kt_free(x);
    kt_free(y);
    free(ref);
  }
}
END_TEST

/* ------------------------------------------------------------------ GELU */

START_TEST(gelu_forward_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  kt_rng rng;
  kt_rng_seed(&rng, 2);
  for (size_t li = 0; li < LENGTH_COUNT; li++) {
    size_t n = lengths[li];
    float *x = kt_alloc_misaligned(n), *y = kt_alloc_misaligned(n + 1);
    double *ref = alloc_ref(n);
    kt_fill_uniform(&rng, x, n, -8.0f, 8.0f);
    for (size_t i = 0; i < n; i++)
      ref[i] = gelu_ref((double)x[i]);
    y[n] = 42.0f;

    t->gelu_forward(x, y, n);

    for (size_t i = 0; i < n; i++) {
      double err = fabs((double)y[i] - ref[i]);
      ck_assert_msg(err <= 2e-6 * (1.0 + fabs((double)x[i])),
                    "gelu_forward[%s] n=%zu: x=%.9g got %.9g want %.9g",
                    sdq_isa_name((sdq_isa)_i), n, x[i], y[i], ref[i]);
    }
    ck_assert_msg(y[n] == 42.0f, "gelu_forward[%s] n=%zu wrote past the end",
                  sdq_isa_name((sdq_isa)_i), n);
    kt_free(x);
    kt_free(y);
    free(ref);
  }
}
END_TEST

/* dx = dy * GELU'(x), into a separate buffer and in place over dy. */
START_TEST(gelu_backward_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  kt_rng rng;
  kt_rng_seed(&rng, 3);
  for (size_t li = 0; li < LENGTH_COUNT; li++) {
    size_t n = lengths[li];
    float *x = kt_alloc_misaligned(n), *dy = kt_alloc_misaligned(n);
    float *dx = kt_alloc_misaligned(n + 1);
    double *ref = alloc_ref(n);
    kt_fill_uniform(&rng, x, n, -8.0f, 8.0f);
    kt_fill_uniform(&rng, dy, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++)
      ref[i] = (double)dy[i] * gelu_grad_ref((double)x[i]);
    dx[n] = 42.0f;

    t->gelu_backward(x, dy, dx, n);
    t->gelu_backward(x, dy, dy, n); /* aliased: dx == dy */

    for (size_t i = 0; i < n; i++) {
      double tol = 2e-6 * (1.0 + fabs((double)x[i])) * (1.0 + fabs(ref[i]));
      ck_assert_msg(fabs((double)dx[i] - ref[i]) <= tol,
                    "gelu_backward[%s] n=%zu: x=%.9g got %.9g want %.9g",
                    sdq_isa_name((sdq_isa)_i), n, x[i], dx[i], ref[i]);
      ck_assert_msg(dy[i] == dx[i],
                    "gelu_backward[%s] n=%zu: in place gives %.9g, separate %.9g at %zu",
                    sdq_isa_name((sdq_isa)_i), n, dy[i], dx[i], i);
    }
    ck_assert_msg(dx[n] == 42.0f, "gelu_backward[%s] wrote past the end",
                  sdq_isa_name((sdq_isa)_i));
    kt_free(x);
    kt_free(dy);
    kt_free(dx);
    free(ref);
  }
}
END_TEST

/* --------------------------------------------------------------- softmax */

static void softmax_ref(const float *x, double *ref, int cols) {
  double max = -INFINITY, sum = 0.0;
  for (int c = 0; c < cols; c++)
    max = x[c] > max ? x[c] : max;
  for (int c = 0; c < cols; c++)
    sum += exp((double)x[c] - max);
  for (int c = 0; c < cols; c++)
    ref[c] = exp((double)x[c] - max) / sum;
}

/* Padded rows (ld > cols), large logits (exp would overflow without the max
 * subtraction), and in place (y == x). */
START_TEST(softmax_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  const int cols_list[] = {1, 5, 16, 17, 63, 65, 1025, 3073};
  const int rows = 7;
  kt_rng rng;
  kt_rng_seed(&rng, 4);
  for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++) {
    int cols = cols_list[ci], ld = cols + 3;
    float *x = kt_alloc_misaligned((size_t)rows * ld);
    float *y = kt_alloc_misaligned((size_t)rows * ld);
    double *ref = alloc_ref((size_t)cols);
    for (int r = 0; r < rows; r++) {
      float spread = r == 0 ? 200.0f : 10.0f; /* row 0: logits up to +-100 */
      kt_fill_uniform(&rng, x + (size_t)r * ld, (size_t)cols, -spread / 2, spread / 2);
      kt_fill_value(y + (size_t)r * ld + cols, 3, 42.0f);
    }

    t->softmax_rows(x, y, rows, cols, ld);

    for (int r = 0; r < rows; r++) {
      softmax_ref(x + (size_t)r * ld, ref, cols);
      size_t where;
      double err = kt_max_scaled_error(y + (size_t)r * ld, ref, (size_t)cols, 1e-7, 2e-5, &where);
      ck_assert_msg(err <= 1.0, "softmax_rows[%s] cols=%d row %d: error %.3g x tolerance at col %zu",
                    sdq_isa_name((sdq_isa)_i), cols, r, err, where);
      for (int c = cols; c < ld; c++)
        ck_assert_msg(y[(size_t)r * ld + c] == 42.0f, "softmax_rows[%s] cols=%d wrote padding",
                      sdq_isa_name((sdq_isa)_i), cols);
    }

    /* In place gives the same values. */
    t->softmax_rows(x, x, rows, cols, ld);
    for (int r = 0; r < rows; r++)
      for (int c = 0; c < cols; c++)
        ck_assert_msg(x[(size_t)r * ld + c] == y[(size_t)r * ld + c],
                      "softmax_rows[%s] cols=%d: in place differs at [%d,%d]",
                      sdq_isa_name((sdq_isa)_i), cols, r, c);
    kt_free(x);
    kt_free(y);
    free(ref);
  }
}
END_TEST

/* A NaN makes its row NaN and leaves the other rows alone. */
START_TEST(softmax_nan_row) {
  const sdq_kernel_table *t = table(_i);
  const int cols = 21;
  float x[2 * 21], y[2 * 21];
  for (int c = 0; c < 2 * cols; c++)
    x[c] = (float)(c % 5);
  x[cols + 19] = NAN;
  t->softmax_rows(x, y, 2, cols, cols);
  double sum = 0.0;
  for (int c = 0; c < cols; c++) {
    ck_assert_msg(!isnan(y[c]), "softmax_rows[%s]: finite row got NaN at %d",
                  sdq_isa_name((sdq_isa)_i), c);
    sum += y[c];
  }
  ck_assert_msg(fabs(sum - 1.0) < 1e-5, "softmax_rows[%s]: row sums to %.9g",
                sdq_isa_name((sdq_isa)_i), sum);
  for (int c = cols; c < 2 * cols; c++)
    ck_assert_msg(isnan(y[c]), "softmax_rows[%s]: NaN row gave %g at col %d",
                  sdq_isa_name((sdq_isa)_i), y[c], c - cols);
}
END_TEST

/* ------------------------------------------------------------- LayerNorm */

static const int ln_channels[] = {1, 7, 16, 17, 63, 768, 769};
#define LN_CHANNEL_COUNT (sizeof ln_channels / sizeof ln_channels[0])

START_TEST(layernorm_forward_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  const int rows = 9;
  const float eps = 1e-5f;
  kt_rng rng;
  kt_rng_seed(&rng, 5);
  for (size_t ci = 0; ci < LN_CHANNEL_COUNT; ci++) {
    int C = ln_channels[ci];
    float *x = kt_alloc_misaligned((size_t)rows * C), *y = kt_alloc_misaligned((size_t)rows * C);
    float *gamma = kt_alloc_misaligned((size_t)C), *beta = kt_alloc_misaligned((size_t)C);
    float *mean = kt_alloc_misaligned(rows), *rstd = kt_alloc_misaligned(rows);
    float *y2 = kt_alloc_misaligned((size_t)rows * C);
    double *ref = alloc_ref((size_t)C);
    kt_fill_uniform(&rng, x, (size_t)rows * C, -3.0f, 5.0f); /* mean != 0 */
    kt_fill_uniform(&rng, gamma, (size_t)C, 0.5f, 1.5f);
    kt_fill_uniform(&rng, beta, (size_t)C, -0.5f, 0.5f);

    t->layernorm_forward(x, gamma, beta, y, mean, rstd, rows, C, eps);
    t->layernorm_forward(x, gamma, beta, y2, NULL, NULL, rows, C, eps);

    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * C;
      double m = 0.0, v = 0.0;
      for (int c = 0; c < C; c++)
        m += xr[c];
      m /= C;
      for (int c = 0; c < C; c++)
        v += (xr[c] - m) * (xr[c] - m);
      v /= C;
      double s = 1.0 / sqrt(v + (double)eps);
      for (int c = 0; c < C; c++)
        ref[c] = (xr[c] - m) * s * gamma[c] + beta[c];

      ck_assert_msg(fabs(mean[r] - m) <= 2e-6 * (1.0 + fabs(m)),
                    "layernorm_forward[%s] C=%d row %d: mean %.9g want %.9g",
                    sdq_isa_name((sdq_isa)_i), C, r, mean[r], m);
      ck_assert_msg(fabs(rstd[r] - s) <= 2e-6 * s,
                    "layernorm_forward[%s] C=%d row %d: rstd %.9g want %.9g",
                    sdq_isa_name((sdq_isa)_i), C, r, rstd[r], s);
      size_t where;
      double err = kt_max_scaled_error(y + (size_t)r * C, ref, (size_t)C, 2e-5, 2e-5, &where);
      ck_assert_msg(err <= 1.0, "layernorm_forward[%s] C=%d row %d: error %.3g x tolerance at %zu",
                    sdq_isa_name((sdq_isa)_i), C, r, err, where);
    }
    ck_assert_msg(memcmp(y, y2, (size_t)rows * C * sizeof(float)) == 0,
                  "layernorm_forward[%s] C=%d: NULL mean/rstd changes y",
                  sdq_isa_name((sdq_isa)_i), C);
    kt_free(x);
    kt_free(y);
    kt_free(y2);
    kt_free(gamma);
    kt_free(beta);
    kt_free(mean);
    kt_free(rstd);
    free(ref);
  }
}
END_TEST

/* dx overwritten; dgamma/dbeta accumulate onto their old values (1.0 and
 * -2.0 here); NULL parameter gradients are allowed; dx may alias dy. */
START_TEST(layernorm_backward_matches_reference) {
  const sdq_kernel_table *t = table(_i);
  const int rows = 11;
  kt_rng rng;
  kt_rng_seed(&rng, 6);
  for (size_t ci = 0; ci < LN_CHANNEL_COUNT; ci++) {
    int C = ln_channels[ci];
    size_t n = (size_t)rows * C;
    float *x = kt_alloc_misaligned(n), *dy = kt_alloc_misaligned(n), *dx = kt_alloc_misaligned(n);
    float *gamma = kt_alloc_misaligned((size_t)C);
    float *dgamma = kt_alloc_misaligned((size_t)C), *dbeta = kt_alloc_misaligned((size_t)C);
    float *mean = kt_alloc_misaligned(rows), *rstd = kt_alloc_misaligned(rows);
    double *dx_ref = alloc_ref(n), *dg_ref = alloc_ref((size_t)C), *db_ref = alloc_ref((size_t)C);
    kt_fill_uniform(&rng, x, n, -3.0f, 5.0f);
    kt_fill_uniform(&rng, dy, n, -1.0f, 1.0f);
    kt_fill_uniform(&rng, gamma, (size_t)C, 0.5f, 1.5f);
    kt_fill_value(dgamma, (size_t)C, 1.0f);
    kt_fill_value(dbeta, (size_t)C, -2.0f);

    /* 1. mean and rstd as the forward pass saves them (double, rounded). */
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * C;
      double m = 0.0, v = 0.0;
      for (int c = 0; c < C; c++)
        m += xr[c];
      m /= C;
      for (int c = 0; c < C; c++)
        v += (xr[c] - m) * (xr[c] - m);
      mean[r] = (float)m;
      rstd[r] = (float)(1.0 / sqrt(v / C + 1e-5));
    }

    /* 2. Reference gradients in double. */
    for (int c = 0; c < C; c++) {
      dg_ref[c] = 1.0;
      db_ref[c] = -2.0;
    }
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * C, *dyr = dy + (size_t)r * C;
      double g_mean = 0.0, gn_mean = 0.0;
      for (int c = 0; c < C; c++) {
        double norm = ((double)xr[c] - mean[r]) * rstd[r];
        double g = (double)dyr[c] * gamma[c];
        g_mean += g;
        gn_mean += g * norm;
        dg_ref[c] += dyr[c] * norm;
        db_ref[c] += dyr[c];
      }
      g_mean /= C;
      gn_mean /= C;
      for (int c = 0; c < C; c++) {
        double norm = ((double)xr[c] - mean[r]) * rstd[r];
        double g = (double)dyr[c] * gamma[c];
        dx_ref[(size_t)r * C + c] = rstd[r] * (g - g_mean - norm * gn_mean);
      }
    }

    /* 3. The variant: separate dx with parameter gradients, then in place
     * over a copy of dy without them. */
    t->layernorm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, C);
    float *dy_copy = kt_alloc_misaligned(n);
    memcpy(dy_copy, dy, n * sizeof(float));
    t->layernorm_backward(dy_copy, x, gamma, mean, rstd, dy_copy, NULL, NULL, rows, C);

    size_t where;
    double err = kt_max_scaled_error(dx, dx_ref, n, 2e-5, 2e-5, &where);
    ck_assert_msg(err <= 1.0, "layernorm_backward[%s] C=%d dx: error %.3g x tolerance at %zu (got %.9g want %.9g)",
                  sdq_isa_name((sdq_isa)_i), C, err, where, dx[where], dx_ref[where]);
    err = kt_max_scaled_error(dgamma, dg_ref, (size_t)C, 2e-5, 2e-5, &where);
    ck_assert_msg(err <= 1.0, "layernorm_backward[%s] C=%d dgamma: error %.3g x tolerance at %zu",
                  sdq_isa_name((sdq_isa)_i), C, err, where);
    err = kt_max_scaled_error(dbeta, db_ref, (size_t)C, 2e-5, 2e-5, &where);
    ck_assert_msg(err <= 1.0, "layernorm_backward[%s] C=%d dbeta: error %.3g x tolerance at %zu",
                  sdq_isa_name((sdq_isa)_i), C, err, where);
    ck_assert_msg(memcmp(dx, dy_copy, n * sizeof(float)) == 0,
                  "layernorm_backward[%s] C=%d: dx aliasing dy changes dx",
                  sdq_isa_name((sdq_isa)_i), C);

    kt_free(x);
    kt_free(dy);
    kt_free(dx);
    kt_free(dy_copy);
    kt_free(gamma);
    kt_free(dgamma);
    kt_free(dbeta);
    kt_free(mean);
    kt_free(rstd);
    free(dx_ref);
    free(dg_ref);
    free(db_ref);
  }
}
END_TEST

static Suite *vecmath_suite(void) {
  Suite *s = suite_create("kernels_vecmath");
  sdq_isa isas[SDQ_ISA_COUNT];
  int n = kt_supported_isas(isas);
  /* Check keeps the name pointers, so they must outlive this function. */
  static char names[SDQ_ISA_COUNT][32];
  for (int i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "vecmath[%s]", sdq_isa_name(isas[i]));
    TCase *tc = tcase_create(names[i]);
    int v = (int)isas[i];
    tcase_add_loop_test(tc, exp_matches_reference, v, v + 1);
    tcase_add_loop_test(tc, gelu_forward_matches_reference, v, v + 1);
    tcase_add_loop_test(tc, gelu_backward_matches_reference, v, v + 1);
    tcase_add_loop_test(tc, softmax_matches_reference, v, v + 1);
    tcase_add_loop_test(tc, softmax_nan_row, v, v + 1);
    tcase_add_loop_test(tc, layernorm_forward_matches_reference, v, v + 1);
    tcase_add_loop_test(tc, layernorm_backward_matches_reference, v, v + 1);
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(vecmath_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
