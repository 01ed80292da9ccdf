/* test_break_kernels.c - regression tests for kernel results found wrong by feeding extreme values to every variant. */
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
 * derivative tends to 1 at +inf and 0 at -inf. Every variant returns NaN. */
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

int main(void)
{
  char err[256];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "test_break_kernels: %s\n", err);
    return 1;
  }
  Suite *s = suite_create("break_kernels");
  TCase *tc = tcase_create("extreme values");
  tcase_add_loop_test(tc, layernorm_huge_values_not_zeroed, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, gelu_infinite_limits, 0, SDQ_ISA_COUNT);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
