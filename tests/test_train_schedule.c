/* test_train_schedule.c - CPT bits over a cycle, the learning-rate schedule,
 * AdamW's first step and layer-name patterns. */
#include "config.h"

#include <check.h>
#include <math.h>

#include "train/optim.h"
#include "train/schedule.h"

START_TEST(cpt_bits_over_cycles) {
  /* 2 cycles of 10 steps from 4 to 8 bits: b = round(4 + 2 (1 - cos(pi p))),
   * p = (step mod 10) / 10. Hand values for p = 0 .. 0.9:
   * 4.000 4.098 4.382 4.824 5.382 6.000 6.618 7.176 7.618 7.902 */
  const int expected[10] = {4, 4, 4, 5, 5, 6, 7, 7, 8, 8};
  for (int step = 0; step < 20; step++)
    ck_assert_int_eq(sdq_cpt_bits(4, 8, 2, 20, step), expected[step % 10]);
  ck_assert_int_eq(sdq_cpt_bits(6, 6, 3, 30, 17), 6);
}
END_TEST

START_TEST(cpt_schedule_cycles_selected_layers) {
  sdq_schedule s = {0};
  sdq_bitconfig base, out;
  char err[256];
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&base, 2, 32, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&out, 2, 32, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_schedule_add(&s, &base, "fp32", err, sizeof err), 0);
  ck_assert_int_eq(sdq_schedule_set_cpt(&s, 2, 8, 1, 10, "*.mlp.*", err, sizeof err), 0);
  sdq_schedule_config_at(&s, 0, 0, &out);
  ck_assert_int_eq(out.layers[0 * SDQ_LIN_COUNT + SDQ_LIN_MLP_FC].w_bits, 2);
  ck_assert_int_eq(out.layers[1 * SDQ_LIN_COUNT + SDQ_LIN_MLP_PROJ].w_bits, 2);
  ck_assert_int_eq(out.layers[0 * SDQ_LIN_COUNT + SDQ_LIN_ATTN_QKV].w_bits, 32);

  unsigned char used[33];
  sdq_schedule_bits_used(&s, used);
  for (int b = 2; b <= 8; b++)
    ck_assert_int_eq(used[b], 1);
  ck_assert_int_eq(used[32], 1);

  ck_assert_int_eq(sdq_schedule_set_cpt(&s, 2, 8, 1, 10, "h.9.*", err, sizeof err), -1);
  sdq_schedule_free(&s);
  sdq_bitconfig_free(&base);
  sdq_bitconfig_free(&out);
}
END_TEST

START_TEST(lr_warmup_then_cosine) {
  sdq_adamw_config c = sdq_adamw_defaults();
  c.lr = 1.0f;
  c.min_lr_ratio = 0.0f;
  c.warmup_steps = 4;
  c.total_steps = 14;
  ck_assert(fabsf(sdq_lr_at(&c, 0) - 0.25f) < 1e-6f);
  ck_assert(fabsf(sdq_lr_at(&c, 3) - 1.0f) < 1e-6f);
  ck_assert(fabsf(sdq_lr_at(&c, 4) - 1.0f) < 1e-6f);
  ck_assert(fabsf(sdq_lr_at(&c, 9) - 0.5f) < 1e-6f); /* halfway through the cosine */
  ck_assert(fabsf(sdq_lr_at(&c, 14)) < 1e-6f);
}
END_TEST

START_TEST(adamw_first_step_and_decay) {
  /* At t = 1 the bias-corrected update is lr * g / (|g| + eps) = lr sign(g),
   * plus lr * wd * p from the decoupled decay. */
  sdq_adamw_config c = sdq_adamw_defaults();
  c.weight_decay = 0.1f;
  sdq_adamw opt;
  char err[128];
  ck_assert_int_eq(sdq_adamw_init(&opt, &c, 2, 1, err, sizeof err), 0);
  float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -3.0f};
  sdq_adamw_update(&opt, 0, p, g, 0, 2, 0.01f, 1.0f);
  ck_assert(fabsf(p[0] - (1.0f - 0.01f - 0.01f * 0.1f * 1.0f)) < 1e-6f);
  ck_assert(fabsf(p[1] - (-2.0f + 0.01f + 0.01f * 0.1f * 2.0f)) < 1e-6f);
  ck_assert_int_eq((int)opt.t[0], 1);
  ck_assert(fabsf(sdq_clip_factor(25.0, 1.0f) - 0.2f) < 1e-7f);
  ck_assert(sdq_clip_factor(0.25, 1.0f) == 1.0f);
  sdq_adamw_free(&opt);
}
END_TEST

START_TEST(layer_patterns) {
  ck_assert(sdq_layer_name_match("*", "transformer.h.0.attn.c_attn"));
  ck_assert(sdq_layer_name_match("h.1.*", "transformer.h.1.mlp.c_fc"));
  ck_assert(!sdq_layer_name_match("h.1.*", "transformer.h.11.mlp.c_fc"));
  ck_assert(sdq_layer_name_match("*.mlp.c_proj", "transformer.h.3.mlp.c_proj"));
  ck_assert(!sdq_layer_name_match("*.mlp.c_proj", "transformer.h.3.attn.c_proj"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("train_schedule");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, cpt_bits_over_cycles);
  tcase_add_test(tc, cpt_schedule_cycles_selected_layers);
  tcase_add_test(tc, lr_warmup_then_cosine);
  tcase_add_test(tc, adamw_first_step_and_decay);
  tcase_add_test(tc, layer_patterns);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
