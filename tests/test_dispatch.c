/* test_dispatch.c - kernel dispatch: ISA names, the per-variant tables,
 * SDQ_ISA forcing and its errors. Each test runs in its own forked process
 * (forced below), so each sees a fresh, uninitialized dispatch state. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"

START_TEST(isa_names_round_trip) {
  for (int v = 0; v < SDQ_ISA_COUNT; v++) {
    sdq_isa parsed;
    ck_assert_int_eq(sdq_isa_parse(sdq_isa_name((sdq_isa)v), &parsed), 0);
    ck_assert_int_eq(parsed, v);
  }
  sdq_isa parsed;
  ck_assert_int_eq(sdq_isa_parse("AVX2", &parsed), -1);
  ck_assert_int_eq(sdq_isa_parse("sse2", &parsed), -1);
  ck_assert_int_eq(sdq_isa_parse("", &parsed), -1);
  ck_assert_int_eq(sdq_isa_parse(NULL, &parsed), -1);
}
END_TEST

START_TEST(kernel_names_are_distinct) {
  for (int k = 0; k < SDQ_K_COUNT; k++) {
    const char *name = sdq_kernel_name((sdq_kernel_id)k);
    ck_assert_ptr_nonnull(name);
    ck_assert_msg(strcmp(name, "unknown") != 0, "kernel %d has no name", k);
    for (int j = 0; j < k; j++)
      ck_assert_msg(strcmp(name, sdq_kernel_name((sdq_kernel_id)j)) != 0,
                    "kernels %d and %d share the name %s", j, k, name);
  }
}
END_TEST

/* A variant with a table fills every entry, and impl[] names only itself or
 * variants of its own chain below it. */
START_TEST(tables_are_complete) {
  ck_assert_ptr_nonnull(sdq_kernel_table_for(SDQ_ISA_SCALAR));
  ck_assert_int_eq(sdq_isa_supported(SDQ_ISA_SCALAR), 1);
  ck_assert_int_eq(sdq_isa_supported(sdq_isa_best()), 1);
  ck_assert_ptr_null(sdq_kernel_table_for(SDQ_ISA_COUNT));

  for (int v = 0; v < SDQ_ISA_COUNT; v++) {
    const sdq_kernel_table *t = sdq_kernel_table_for((sdq_isa)v);
    ck_assert_int_eq(t != NULL, sdq_isa_supported((sdq_isa)v));
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)v);
    ck_assert_int_eq(t->isa, v);
    void (*const entries[])(void) = {
        (void (*)(void))t->sgemm_nt,       (void (*)(void))t->sgemm_nn,
        (void (*)(void))t->sgemm_tn,       (void (*)(void))t->qgemm_f32_nt,
        (void (*)(void))t->qgemm_f32_nn,   (void (*)(void))t->qgemm_i8_nt,
        (void (*)(void))t->quantize_rows,  (void (*)(void))t->fake_quant,
        (void (*)(void))t->fake_quant_backward,
        (void (*)(void))t->vexp,           (void (*)(void))t->gelu_forward,
        (void (*)(void))t->gelu_backward,  (void (*)(void))t->softmax_rows,
        (void (*)(void))t->layernorm_forward,
        (void (*)(void))t->layernorm_backward,
    };
    ck_assert_int_eq(sizeof entries / sizeof entries[0], SDQ_K_COUNT);
    for (int k = 0; k < SDQ_K_COUNT; k++) {
      ck_assert_msg(entries[k] != NULL, "table[%s]: %s is NULL", name,
                    sdq_kernel_name((sdq_kernel_id)k));
      sdq_isa impl = t->impl[k];
      ck_assert_msg(impl <= t->isa && sdq_isa_supported(impl),
                    "table[%s]: %s claims variant %s", name,
                    sdq_kernel_name((sdq_kernel_id)k), sdq_isa_name(impl));
      int arm = t->isa >= SDQ_ISA_NEON;
      ck_assert_msg(impl == SDQ_ISA_SCALAR || (impl >= SDQ_ISA_NEON) == arm,
                    "table[%s]: %s from the other architecture's %s", name,
                    sdq_kernel_name((sdq_kernel_id)k), sdq_isa_name(impl));
    }
  }

  /* Every x86 SIMD variant builds on AVX2, which implements every kernel
   * itself (sdq cpu with SDQ_ISA=avx2 must show avx2 throughout). */
  const sdq_kernel_table *avx2 = sdq_kernel_table_for(SDQ_ISA_AVX2);
  if (avx2 != NULL)
    for (int k = 0; k < SDQ_K_COUNT; k++)
      ck_assert_msg(avx2->impl[k] == SDQ_ISA_AVX2, "table[avx2]: %s comes from %s",
                    sdq_kernel_name((sdq_kernel_id)k), sdq_isa_name(avx2->impl[k]));
}
END_TEST

START_TEST(default_is_best) {
  unsetenv("SDQ_ISA");
  char err[512] = "";
  ck_assert_msg(sdq_kernels_init(err, sizeof err) == 0, "init failed: %s", err);
  ck_assert_int_eq(sdq_kernels()->isa, sdq_isa_best());
}
END_TEST

/* SDQ_ISA selects each supported variant (loop index = variant). */
START_TEST(env_forces_supported_variant) {
  sdq_isa isa = (sdq_isa)_i;
  if (!sdq_isa_supported(isa))
    return;
  setenv("SDQ_ISA", sdq_isa_name(isa), 1);
  char err[512] = "";
  ck_assert_msg(sdq_kernels_init(err, sizeof err) == 0, "SDQ_ISA=%s: %s",
                sdq_isa_name(isa), err);
  ck_assert_int_eq(sdq_kernels()->isa, isa);
  ck_assert_ptr_eq(sdq_kernels(), sdq_kernel_table_for(isa));

  /* Later calls keep the first result even when SDQ_ISA changes. */
  setenv("SDQ_ISA", "no-such-variant", 1);
  ck_assert_int_eq(sdq_kernels_init(err, sizeof err), 0);
  ck_assert_int_eq(sdq_kernels()->isa, isa);
}
END_TEST

/* SDQ_ISA naming a variant this machine cannot run is an error that lists
 * what is supported; never a silent fallback. */
START_TEST(env_rejects_unsupported_variant) {
  sdq_isa isa = (sdq_isa)_i;
  if (sdq_isa_supported(isa))
    return;
  setenv("SDQ_ISA", sdq_isa_name(isa), 1);
  char err[512] = "";
  ck_assert_int_eq(sdq_kernels_init(err, sizeof err), -1);
  char expected[64];
  snprintf(expected, sizeof expected, "SDQ_ISA=%s:", sdq_isa_name(isa));
  ck_assert_msg(strstr(err, expected) == err, "message does not start with %s: %s", expected, err);
  ck_assert_msg(strstr(err, "supported here: scalar") != NULL,
                "message does not list the supported variants: %s", err);
  /* A second call reports the same failure. */
  char again[512] = "";
  ck_assert_int_eq(sdq_kernels_init(again, sizeof again), -1);
  ck_assert_str_eq(again, err);
}
END_TEST

START_TEST(env_rejects_unknown_name) {
  setenv("SDQ_ISA", "avx3", 1);
  char err[512] = "";
  ck_assert_int_eq(sdq_kernels_init(err, sizeof err), -1);
  ck_assert_msg(strstr(err, "SDQ_ISA=\"avx3\"") != NULL, "message: %s", err);
  ck_assert_msg(strstr(err, "scalar|avx2|avx512|avx512vnni|amx|neon|neondot") != NULL,
                "message does not list the valid names: %s", err);
}
END_TEST

/* sdq_kernels() without a prior successful init aborts with the message. */
START_TEST(kernels_aborts_on_bad_env) {
  setenv("SDQ_ISA", "avx3", 1);
  (void)sdq_kernels();
}
END_TEST

START_TEST(select_switches_variant) {
  char err[512];
  for (int v = 0; v < SDQ_ISA_COUNT; v++) {
    int rc = sdq_kernels_select((sdq_isa)v, err, sizeof err);
    if (sdq_isa_supported((sdq_isa)v)) {
      ck_assert_msg(rc == 0, "select %s: %s", sdq_isa_name((sdq_isa)v), err);
      ck_assert_int_eq(sdq_kernels()->isa, v);
    } else {
      ck_assert_int_eq(rc, -1);
      ck_assert_msg(strstr(err, sdq_isa_name((sdq_isa)v)) != NULL, "message: %s", err);
    }
  }
  ck_assert_int_eq(sdq_kernels_select(SDQ_ISA_COUNT, err, sizeof err), -1);
}
END_TEST

/* The feature string names only known features. */
START_TEST(cpu_features_string) {
  char buf[512];
  sdq_cpu_features(buf, sizeof buf);
  ck_assert_msg(buf[0] != '\0', "empty feature list");
#if defined(__x86_64__)
  if (sdq_isa_supported(SDQ_ISA_AVX2))
    ck_assert_msg(strstr(buf, "avx2") && strstr(buf, "fma"), "features: %s", buf);
  if (sdq_isa_supported(SDQ_ISA_AVX512VNNI))
    ck_assert_msg(strstr(buf, "avx512vnni") != NULL, "features: %s", buf);
#endif
  char tiny[4];
  sdq_cpu_features(tiny, sizeof tiny);
  ck_assert_msg(strlen(tiny) < sizeof tiny, "truncation overflowed");
}
END_TEST

static Suite *dispatch_suite(void) {
  Suite *s = suite_create("dispatch");
  TCase *tc = tcase_create("dispatch");
  tcase_add_test(tc, isa_names_round_trip);
  tcase_add_test(tc, kernel_names_are_distinct);
  tcase_add_test(tc, tables_are_complete);
  tcase_add_test(tc, default_is_best);
  tcase_add_loop_test(tc, env_forces_supported_variant, 0, SDQ_ISA_COUNT);
  tcase_add_loop_test(tc, env_rejects_unsupported_variant, 0, SDQ_ISA_COUNT);
  tcase_add_test(tc, env_rejects_unknown_name);
  tcase_add_test_raise_signal(tc, kernels_aborts_on_bad_env, SIGABRT);
  tcase_add_test(tc, select_switches_variant);
  tcase_add_test(tc, cpu_features_string);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(dispatch_suite());
  /* Every test needs a fresh process: dispatch initializes once. */
  srunner_set_fork_status(sr, CK_FORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
