/* suite_baseline.c - compares a run's metrics with a stored baseline, metric
 * by metric, each against its own absolute tolerance. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/suite.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Tolerances, in the metric's unit. They are wide enough for the
 * run-to-run noise of a different seed on the default subset sizes (a few
 * dozen questions, where one answer moves F1 by 1-3 points) and narrow
 * enough to catch a broken kernel or a mis-quantized layer, which moves F1 by
 * tens of points. Derived values (differences) are not compared: their
 * inputs are. */
double sdq_metric_tolerance(const char *key) {
  if (ends_with(key, "/diff"))
    return -1.0;
  if (ends_with(key, "/avg_bits_plain") || ends_with(key, "/avg_bits_weighted"))
    return 0.01;
  if (ends_with(key, "/success_rate"))
    return 25.0;
  if (!strncmp(key, "attacks/", 8) || !strncmp(key, "transfer/", 9))
    return 10.0;
  if (ends_with(key, "/em") || ends_with(key, "f1"))
    return 8.0;
  return -1.0;
}

int sdq_results_check(const json_t *doc, const char *what, char *err, size_t errlen) {
  const char *schema = json_string_value(json_object_get(doc, "schema"));
  if (!schema || strcmp(schema, SDQ_SUITE_SCHEMA) != 0) {
    snprintf(err, errlen, "%s has schema %s%s%s, expected \"" SDQ_SUITE_SCHEMA "\"; is it an "
             "sdq suite results.json?", what, schema ? "\"" : "", schema ? schema : "(none)",
             schema ? "\"" : "");
    return -1;
  }
  const json_t *metrics = json_object_get(doc, "metrics");
  if (!json_is_object(metrics)) {
    snprintf(err, errlen, "%s has no \"metrics\" object; is it an sdq suite results.json?", what);
    return -1;
  }
  if (json_object_size(metrics) == 0) {
    snprintf(err, errlen, "%s has an empty \"metrics\" object, so there is nothing to compare",
             what);
    return -1;
  }
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)metrics, key, v) {
    if (json_is_null(v))
      continue;
    if (!json_is_number(v)) {
      snprintf(err, errlen, "%s: metric \"%s\" is not a number or null", what, key);
      return -1;
    }
    double x = json_number_value(v);
    int is_score = ends_with(key, "/em") || ends_with(key, "f1") || ends_with(key, "/success_rate");
    if (!isfinite(x) || (is_score && !ends_with(key, "/diff") && (x < 0.0 || x > 100.0))) {
      snprintf(err, errlen, "%s: metric \"%s\" is %g, outside 0..100", what, key, x);
      return -1;
    }
  }
  return 0;
}

/* The value at key (and, when sub is not NULL, at key.sub) printed as text
 * into buf, or "(none)". */
static const char *setting_text(const json_t *doc, const char *key, const char *sub, char *buf,
                                size_t len) {
  const json_t *v = json_object_get(doc, key);
  if (sub)
    v = json_object_get(v, sub);
  if (json_is_string(v))
    snprintf(buf, len, "\"%s\"", json_string_value(v));
  else if (json_is_integer(v))
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else
    snprintf(buf, len, "(none)");
  return buf;
}

/* Adds a WARNING line to report for each run setting that differs between
 * the two documents: the tolerances assume both ran the same profile, model
 * and subset sizes, so a difference there explains failures without any
 * regression. Data paths are not compared: a clone elsewhere changes them. */
static void warn_on_setting_changes(const json_t *results, const json_t *baseline,
                                    sdq_buf *report) {
  static const char *const settings[][2] = {
      {"profile", NULL},
      {"model", "checkpoint"},
      {"data", "eval_questions"},
      {"data", "attack_questions"},
  };
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    char b[256], c[256];
    setting_text(baseline, settings[i][0], settings[i][1], b, sizeof b);
    setting_text(results, settings[i][0], settings[i][1], c, sizeof c);
    if (strcmp(b, c) != 0)
      sdq_buf_printf(report, "WARNING %s%s%s differs: baseline %s, this run %s; the tolerances "
                     "assume the same settings, so failures below may come from this\n",
                     settings[i][0], settings[i][1] ? "." : "",
                     settings[i][1] ? settings[i][1] : "", b, c);
  }
}

int sdq_baseline_compare(const json_t *results, const json_t *baseline,
                         int allow_better, sdq_buf *report, char *err,
                         size_t errlen) {
  if (sdq_results_check(baseline, "the baseline", err, errlen) ||
      sdq_results_check(results, "the results", err, errlen))
    return -1;
  if (report)
    warn_on_setting_changes(results, baseline, report);
  const json_t *cur = json_object_get(results, "metrics");
  const json_t *base = json_object_get(baseline, "metrics");

  int failures = 0;
  const char *key;
  const json_t *bv;
  json_object_foreach((json_t *)base, key, bv) {
    double tol = sdq_metric_tolerance(key);
    const json_t *cv = json_object_get(cur, key);
    if (!cv || (json_is_null(cv) && !json_is_null(bv))) {
      failures++;
      if (report)
        sdq_buf_printf(report, "FAIL  %s: %s this run (baseline %s)\n", key,
                       cv ? "null in" : "missing from", json_is_null(bv) ? "null" : "a number");
      continue;
    }
    if (tol < 0 && !ends_with(key, "/diff")) {
      if (report)
        sdq_buf_printf(report, "skip  %s: not compared (no tolerance is defined for this "
                       "metric)\n", key);
      continue;
    }
    if (tol < 0)
      continue; /* a difference of two compared metrics */
    if (json_is_null(bv)) {
      if (report)
        sdq_buf_printf(report, "skip  %s: null in the baseline (not measured there)\n", key);
      continue;
    }

    double b = json_number_value(bv), c = json_number_value(cv);
    double delta = c - b;
    int higher_is_worse = ends_with(key, "/success_rate");
    int worse = higher_is_worse ? delta > tol : delta < -tol;
    int better = higher_is_worse ? delta < -tol : delta > tol;
    const char *verdict = "ok   ";
    if (worse || (better && !allow_better)) {
      failures++;
      verdict = "FAIL ";
    } else if (better) {
      verdict = "BETTER";
    }
    int digits = tol < 0.1 ? 4 : 2; /* enough to show why a small change fails */
    if (report)
      sdq_buf_printf(report, "%s %s: %.*f (baseline %.*f, change %+.*f, tolerance +-%.*f)%s\n",
                     verdict, key, digits, c, digits, b, digits, delta, digits, tol,
                     worse ? " worse than the baseline"
                           : better ? " better than the baseline" : "");
  }
  return failures;
}
