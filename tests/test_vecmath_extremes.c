/* test_vecmath_extremes.c - GELU and LayerNorm of every kernel variant on infinite and overflowing inputs. */
#include "sdq_kernels.h"

#include <check.h>
#include <math.h>
#include <stdio.h>

/* Finite inputs whose variance overflows fp32: the rows must still be
 * normalized ((x - mean) * rstd is about +-1.118 here), not silently zeroed
 * by rstd = 1 / sqrt(inf) = 0. */
START_TEST(layernorm_huge_values_not_zeroed)
{
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  if (t == NULL)
    return; /* this variant does not run here */
  const float x[5] = {1e20f, -1e20f, 1e20f, -1e20f, 0.0f};
  const float gamma[5] = {1, 1, 1, 1, 1}, beta[5] = {0, 0, 0, 0, 0};
  float y[5], mean, rstd;
  t->layernorm_forward(x, gamma, beta, y, &mean, &rstd, 1, 5, 1e-5f);
  for (int c = 0; c < 5; c++) {
    double want = x[c] / sqrt(0.8e40); /* mean 0, variance 0.8e40 */
    ck_assert_msg(fabs(y[c] - want) <= 1e-4 * (fabs(want) + 1),
                  "%s: layernorm y[%d] = %g, want %g (rstd %g)", sdq_isa_name(t->isa), c,
                  (double)y[c], want, (double)rstd);
  }
}
END_TEST

/* GELU's limits: gelu(-inf) = 0 (0.5 x (1 + tanh(...)) tends to 0), and the
 * derivative tends to 1 at +inf and 0 at -inf, not inf * 0 = NaN. */
START_TEST(gelu_infinite_limits)
{
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  if (t == NULL)
    return;
  const float x[2] = {INFINITY, -INFINITY};
  const float dy[2] = {1.0f, 1.0f};
  float y[2], dx[2];
  t->gelu_forward(x, y, 2);
  t->gelu_backward(x, dy, dx, 2);
  ck_assert_msg(y[0] == INFINITY, "%s: gelu(+inf) = %g", sdq_isa_name(t->isa), (double)y[0]);
  ck_assert_msg(y[1] == 0.0f, "%s: gelu(-inf) = %g, want 0", sdq_isa_name(t->isa), (double)y[1]);
  ck_assert_msg(dx[0] == 1.0f, "%s: gelu'(+inf) = %g, want 1", sdq_isa_name(t->isa), (double)dx[0]);
  ck_assert_msg(dx[1] == 0.0f, "%s: gelu'(-inf) = %g, want 0", sdq_isa_name(t->isa), (double)dx[1]);
}
END_TEST

/* The clamp that fixes the infinities must not hide a NaN input, and large
 * finite inputs (x^2 overflows from about 1.8e19) keep their limits too. */
START_TEST(gelu_nan_and_huge_inputs)
{
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  if (t == NULL)
    return;
  const float x[4] = {NAN, 1e30f, -1e30f, -12.0f};
  const float dy[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  float y[4], dx[4];
  t->gelu_forward(x, y, 4);
  t->gelu_backward(x, dy, dx, 4);
  const char *isa = sdq_isa_name(t->isa);
  ck_assert_msg(isnan(y[0]), "%s: gelu(NaN) = %g", isa, (double)y[0]);
  ck_assert_msg(isnan(dx[0]), "%s: gelu'(NaN) = %g", isa, (double)dx[0]);
  ck_assert_msg(y[1] == 1e30f, "%s: gelu(1e30) = %g", isa, (double)y[1]);
  ck_assert_msg(y[2] == 0.0f, "%s: gelu(-1e30) = %g", isa, (double)y[2]);
  ck_assert_msg(y[3] == 0.0f, "%s: gelu(-12) = %g", isa, (double)y[3]);
  ck_assert_msg(dx[1] == 1.0f, "%s: gelu'(1e30) = %g", isa, (double)dx[1]);
  ck_assert_msg(dx[2] == 0.0f, "%s: gelu'(-1e30) = %g", isa, (double)dx[2]);
}
END_TEST

/* Three rows of 37 columns (whole SIMD blocks plus a tail): an ordinary row,
 * a row whose fp32 variance overflows and a row containing a NaN. The middle
 * row must be normalized as in double precision, the others as before. */
START_TEST(layernorm_mixed_rows)
{
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  if (t == NULL)
    return;
  enum { C = 37 };
  float x[3 * C], gamma[C], beta[C], y[3 * C], mean[3], rstd[3];
  for (int c = 0; c < C; c++) {
    x[c] = (float)(c % 7) - 3.0f;
    x[C + c] = (c % 2 ? 3e19f : -1e19f) * (float)(1 + c % 3);
    x[2 * C + c] = (float)c;
    gamma[c] = 1.0f + 0.01f * (float)c;
    beta[c] = 0.1f * (float)(c % 5);
  }
  x[2 * C + 11] = NAN;
  t->layernorm_forward(x, gamma, beta, y, mean, rstd, 3, C, 1e-5f);
  const char *isa = sdq_isa_name(t->isa);

  for (int r = 0; r < 2; r++) {
    double m = 0.0, var = 0.0;
    for (int c = 0; c < C; c++)
      m += x[r * C + c];
    m /= C;
    for (int c = 0; c < C; c++)
      var += (x[r * C + c] - m) * (x[r * C + c] - m);
    double s = 1.0 / sqrt(var / C + 1e-5);
    ck_assert_msg(fabs(rstd[r] - s) <= 1e-5 * s, "%s: row %d rstd %g, want %g", isa, r,
                  (double)rstd[r], s);
    ck_assert_msg(fabs(mean[r] - m) <= 1e-5 * (fabs(m) + 1), "%s: row %d mean %g, want %g",
                  isa, r, (double)mean[r], m);
    for (int c = 0; c < C; c++) {
      double want = (x[r * C + c] - m) * s * gamma[c] + beta[c];
      ck_assert_msg(fabs(y[r * C + c] - want) <= 1e-4 * (fabs(want) + 1),
                    "%s: row %d y[%d] = %g, want %g", isa, r, c, (double)y[r * C + c], want);
    }
  }
  ck_assert_msg(isnan(rstd[2]) || isnan(mean[2]), "%s: the NaN row has mean %g rstd %g", isa,
                (double)mean[2], (double)rstd[2]);
  for (int c = 0; c < C; c++)
    ck_assert_msg(isnan(y[2 * C + c]), "%s: NaN row y[%d] = %g", isa, c, (double)y[2 * C + c]);
}
END_TEST

/* A constant row of huge values: its sum overflows fp32 but its variance is
 * 0, so y = beta and rstd = 1 / sqrt(eps), not (x - mean) * inf = NaN. */
START_TEST(layernorm_constant_huge_row)
{
  const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)_i);
  if (t == NULL)
    return;
  enum { C = 19 };
  float x[C], gamma[C], beta[C], y[C], mean, rstd;
  for (int c = 0; c < C; c++) {
    x[c] = 1e38f;
    gamma[c] = 2.0f;
    beta[c] = (float)c;
  }
  t->layernorm_forward(x, gamma, beta, y, &mean, &rstd, 1, C, 1e-5f);
  const char *isa = sdq_isa_name(t->isa);
  ck_assert_msg(mean == 1e38f, "%s: mean %g, want 1e38", isa, (double)mean);
  ck_assert_msg(fabs(rstd - 1.0 / sqrt(1e-5)) <= 1e-3, "%s: rstd %g, want %g", isa,
                (double)rstd, 1.0 / sqrt(1e-5));
  for (int c = 0; c < C; c++)
    ck_assert_msg(y[c] == beta[c], "%s: y[%d] = %g, want beta %g", isa, c, (double)y[c],
                  (double)beta[c]);
}
END_TEST

int main(void)
{
  char err[256];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "test_vecmath_extremes: %s\n", err);
    return 1;
  }
  Suite *s = suite_create("vecmath_extremes");
  TCase *tc = tcase_create("extreme values");
  tcase_add_loop_test(tc, layernorm_huge_values_not_zeroed, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, gelu_infinite_limits, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, gelu_nan_and_huge_inputs, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, layernorm_mixed_rows, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, layernorm_constant_huge_row, 0, SDQ_ISA_COUNT);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
