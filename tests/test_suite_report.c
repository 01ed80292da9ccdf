/* test_suite_report.c - the suite's report writer (Markdown, CSV, SVG,
 * results.json), its metric map and the baseline comparison. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/suite.h"

/* A results document with two configurations, two CPT rows and two attack
 * rows, as the suite builds it. */
static json_t *sample_results(void) {
  json_t *r = json_pack(
      "{s:s, s:s, s:{s:s, s:s, s:b}, s:{s:[{s:s, s:f, s:f, s:f, s:f, s:i},"
      "{s:s, s:f, s:f, s:f, s:f, s:i}],"
      "s:[{s:i, s:f, s:f, s:f}, {s:i, s:f, s:f, s:f}],"
      "s:[{s:s, s:s, s:f, s:f, s:f, s:f, s:i}, {s:s, s:s, s:f, s:f, s:f, s:n, s:i}]}}",
      "schema", "sdq-suite-results/1", "profile", "quick",
      "model", "checkpoint", "default", "description", "a tiny <model> & more", "is_gpt2", 0,
      "tables",
      "configs",
      "name", "w8_all", "em", 40.0, "f1", 52.5, "avg_bits_plain", 8.0, "avg_bits_weighted", 8.0, "questions", 40,
      "name", "mixed,4/8", "em", 30.0, "f1", 41.25, "avg_bits_plain", 6.0, "avg_bits_weighted", 5.5, "questions", 40,
      "cpt",
      "bits", 4, "step3_f1", 30.0, "step5_f1", 33.0, "diff", 3.0,
      "bits", 8, "step3_f1", 50.0, "step5_f1", 49.0, "diff", -1.0,
      "attacks",
      "attack", "pgd_linf", "target", "fp32_lora", "clean_f1", 50.0, "adv_f1", 20.0, "diff", -30.0, "success_rate", 70.0, "questions", 20,
      "attack", "hotflip", "target", "random_switch", "clean_f1", 0.0, "adv_f1", 0.0, "diff", 0.0, "success_rate", "questions", 20);
  ck_assert_ptr_nonnull(r);
  json_object_set_new(r, "metadata", json_object());
  char err[256];
  ck_assert_int_eq(sdq_results_fill_metrics(r, err, sizeof err), 0);
  return r;
}

static void set_metric(json_t *r, const char *key, double v) {
  json_object_set_new(json_object_get(r, "metrics"), key, json_real(v));
}

static double metric(const json_t *r, const char *key) {
  return json_number_value(json_object_get(json_object_get(r, "metrics"), key));
}

START_TEST(metrics_have_stable_keys) {
  json_t *r = sample_results();
  ck_assert_double_eq(metric(r, "configs/w8_all/f1"), 52.5);
  ck_assert_double_eq(metric(r, "configs/mixed,4/8/avg_bits_weighted"), 5.5);
  ck_assert_double_eq(metric(r, "cpt/4/step5_f1"), 33.0);
  ck_assert_double_eq(metric(r, "attacks/pgd_linf/fp32_lora/success_rate"), 70.0);
  ck_assert(json_is_null(json_object_get(json_object_get(r, "metrics"),
                                         "attacks/hotflip/random_switch/success_rate")));
  json_decref(r);
}
END_TEST

START_TEST(baseline_identical_passes) {
  json_t *r = sample_results();
  char err[256];
  sdq_buf out = {0};
  ck_assert_int_eq(sdq_baseline_compare(r, r, 0, &out, err, sizeof err), 0);
  ck_assert_ptr_null(strstr(out.data, "FAIL"));
  sdq_buf_free(&out);
  json_decref(r);
}
END_TEST

START_TEST(baseline_noise_within_tolerance_passes) {
  json_t *base = sample_results(), *cur = sample_results();
  double tol = sdq_metric_tolerance("configs/w8_all/f1");
  ck_assert(tol > 0);
  set_metric(cur, "configs/w8_all/f1", 52.5 - 0.9 * tol);
  set_metric(cur, "cpt/8/step3_f1", 50.0 + 0.9 * sdq_metric_tolerance("cpt/8/step3_f1"));
  char err[256];
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 0, NULL, err, sizeof err), 0);
  json_decref(base);
  json_decref(cur);
}
END_TEST

START_TEST(baseline_lower_f1_fails_by_name) {
  json_t *base = sample_results(), *cur = sample_results();
  double tol = sdq_metric_tolerance("configs/w8_all/f1");
  set_metric(cur, "configs/w8_all/f1", 52.5 - tol - 0.5);
  char err[256];
  sdq_buf out = {0};
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 0, &out, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(out.data, "FAIL  configs/w8_all/f1"));
  sdq_buf_free(&out);
  json_decref(base);
  json_decref(cur);
}
END_TEST

START_TEST(baseline_higher_success_rate_fails) {
  json_t *base = sample_results(), *cur = sample_results();
  double tol = sdq_metric_tolerance("attacks/pgd_linf/fp32_lora/success_rate");
  set_metric(cur, "attacks/pgd_linf/fp32_lora/success_rate", 70.0 + tol + 1.0);
  char err[256];
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 1, NULL, err, sizeof err), 1);
  json_decref(base);
  json_decref(cur);
}
END_TEST

START_TEST(baseline_better_needs_flag) {
  json_t *base = sample_results(), *cur = sample_results();
  set_metric(cur, "cpt/4/step3_f1", 30.0 + sdq_metric_tolerance("cpt/4/step3_f1") + 5.0);
  char err[256];
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 0, NULL, err, sizeof err), 1);
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 1, NULL, err, sizeof err), 0);
  json_decref(base);
  json_decref(cur);
}
END_TEST

START_TEST(baseline_missing_metric_fails) {
  json_t *base = sample_results(), *cur = sample_results();
  json_object_del(json_object_get(cur, "metrics"), "configs/w8_all/em");
  char err[256];
  sdq_buf out = {0};
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 1, &out, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(out.data, "configs/w8_all/em: missing"));
  sdq_buf_free(&out);
  json_decref(base);
  json_decref(cur);
}
END_TEST

/* A metric key the run does not have fails even when no tolerance is known
 * for it (docs/suite.md: a metric missing from this run fails). */
START_TEST(baseline_unknown_missing_key_fails) {
  json_t *base = sample_results(), *cur = sample_results();
  set_metric(base, "configs/w8_all/latency", 1.0);
  char err[256];
  sdq_buf out = {0};
  ck_assert_int_eq(sdq_baseline_compare(cur, base, 0, &out, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(out.data, "configs/w8_all/latency: missing"));
  sdq_buf_free(&out);
  json_decref(base);
  json_decref(cur);
}
END_TEST

/* Malformed baselines are errors whose message names the problem. */
START_TEST(baseline_malformed_is_error) {
  struct {
    const char *key;  /* metric to set, or NULL */
    json_t *value;    /* its value */
    const char *schema; /* replacement schema, or NULL */
    int clear;        /* empty the metric map */
    const char *expect;
  } cases[] = {
      {"configs/w8_all/f1", json_string("high"), NULL, 0, "not a number"},
      {"configs/w8_all/f1", json_real(-3.0), NULL, 0, "outside 0..100"},
      {"attacks/pgd_linf/fp32_lora/success_rate", json_real(140.0), NULL, 0, "outside 0..100"},
      {NULL, NULL, "other/9", 0, "other/9"},
      {NULL, NULL, NULL, 1, "empty \"metrics\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *base = sample_results(), *cur = sample_results();
    if (cases[i].key)
      json_object_set_new(json_object_get(base, "metrics"), cases[i].key, cases[i].value);
    if (cases[i].schema)
      json_object_set_new(base, "schema", json_string(cases[i].schema));
    if (cases[i].clear)
      json_object_clear(json_object_get(base, "metrics"));
    char err[256] = "";
    ck_assert_int_eq(sdq_baseline_compare(cur, base, 0, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, cases[i].expect) != NULL, "case %zu: message '%s' lacks '%s'", i,
                  err, cases[i].expect);
    json_decref(base);
    json_decref(cur);
  }
}
END_TEST

START_TEST(baseline_without_metrics_is_error) {
  json_t *r = sample_results(), *empty = json_pack("{s:s}", "schema", SDQ_SUITE_SCHEMA);
  char err[256] = "";
  ck_assert_int_eq(sdq_baseline_compare(r, empty, 0, NULL, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "metrics"));
  json_decref(r);
  json_decref(empty);
}
END_TEST

static char *slurp(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s was not written", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc((size_t)n + 1, 1);
  ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return s;
}

START_TEST(report_writes_every_file) {
  char dir[] = "/tmp/sdq-report-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  json_t *r = sample_results();
  char err[512];
  ck_assert_msg(sdq_report_write(dir, r, err, sizeof err) == 0, "%s", err);

  char *md = slurp(dir, "report.md");
  ck_assert_ptr_nonnull(strstr(md, "| w8_all | 40.00 | 52.50 | 8.00 | 8.00 |"));
  ck_assert_ptr_nonnull(strstr(md, "| 4 | 30.00 | 33.00 | +3.00 |"));
  ck_assert_ptr_nonnull(strstr(md, "| pgd_linf | fp32_lora | 50.00 | 20.00 | -30.00 | 70.0 % |"));
  ck_assert_ptr_nonnull(strstr(md, "| hotflip | random_switch | 0.00 | 0.00 | +0.00 | n/a |"));
  ck_assert_ptr_nonnull(strstr(md, "not from GPT-2"));
  ck_assert_ptr_nonnull(strstr(md, "![F1 per configuration](f1_per_config.svg)"));

  char *csv = slurp(dir, "configs.csv");
  ck_assert_ptr_nonnull(strstr(csv, "\"mixed,4/8\",30.0000,41.2500,"));
  static const char *const svgs[] = {"f1_per_config.svg", "f1_vs_bits.svg",
                                     "cpt_vs_switchable.svg", "attacks.svg"};
  for (int i = 0; i < 4; i++) {
    char *svg = slurp(dir, svgs[i]);
    ck_assert_msg(!strncmp(svg, "<svg ", 5), "%s does not start with <svg", svgs[i]);
    ck_assert_msg(strstr(svg, "</svg>\n") != NULL, "%s is not closed", svgs[i]);
    ck_assert_msg(strstr(svg, "<model>") == NULL, "%s has an unescaped label", svgs[i]);
    free(svg);
  }

  json_error_t jerr;
  char path[4096];
  snprintf(path, sizeof path, "%s/results.json", dir);
  json_t *back = json_load_file(path, 0, &jerr);
  ck_assert_ptr_nonnull(back);
  ck_assert(json_equal(json_object_get(back, "metrics"), json_object_get(r, "metrics")));

  json_decref(back);
  json_decref(r);
  free(md);
  free(csv);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(stage_marker_needs_same_options) {
  char dir[] = "/tmp/sdq-stage-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  json_t *opts = json_pack("{s:i, s:s}", "steps", 40, "data", "default");
  json_t *result = json_pack("{s:f}", "f1", 12.5);
  char err[512];
  ck_assert_ptr_null(sdq_stage_load(dir, "train", opts, NULL));
  ck_assert_int_eq(sdq_stage_save(dir, "train", opts, result, 3.5, err, sizeof err), 0);

  double seconds = 0;
  json_t *back = sdq_stage_load(dir, "train", opts, &seconds);
  ck_assert_ptr_nonnull(back);
  ck_assert(json_equal(back, result));
  ck_assert_double_eq(seconds, 3.5);

  json_t *other = json_pack("{s:i, s:s}", "steps", 41, "data", "default");
  ck_assert_ptr_null(sdq_stage_load(dir, "train", other, NULL));

  json_decref(back);
  json_decref(other);
  json_decref(opts);
  json_decref(result);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("suite_report");
  TCase *tc = tcase_create("report");
  tcase_add_test(tc, metrics_have_stable_keys);
  tcase_add_test(tc, baseline_identical_passes);
  tcase_add_test(tc, baseline_noise_within_tolerance_passes);
  tcase_add_test(tc, baseline_lower_f1_fails_by_name);
  tcase_add_test(tc, baseline_higher_success_rate_fails);
  tcase_add_test(tc, baseline_better_needs_flag);
  tcase_add_test(tc, baseline_missing_metric_fails);
  tcase_add_test(tc, baseline_without_metrics_is_error);
  tcase_add_test(tc, baseline_unknown_missing_key_fails);
  tcase_add_test(tc, baseline_malformed_is_error);
  tcase_add_test(tc, report_writes_every_file);
  tcase_add_test(tc, stage_marker_needs_same_options);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
