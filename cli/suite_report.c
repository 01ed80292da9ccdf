/* suite_report.c - turns the suite's results document into report.md, the
 * CSV tables, the SVG plots and results.json, and derives the flat metric
 * map that the baseline comparison reads. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/suite.h"

static double num(const json_t *row, const char *key) {
  const json_t *v = json_object_get(row, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *row, const char *key) {
  const char *s = json_string_value(json_object_get(row, key));
  return s ? s : "";
}

static const json_t *table(const json_t *results, const char *name) {
  const json_t *t = json_object_get(json_object_get(results, "tables"), name);
  return json_is_array(t) ? t : NULL;
}

/* ------------------------------------------------------------- metrics */

static int put_metric(json_t *metrics, const char *key, double value) {
  if (!isfinite(value))
    return json_object_set_new(metrics, key, json_null());
  return json_object_set_new(metrics, key, json_real(value));
}

int sdq_results_fill_metrics(json_t *results, char *err, size_t errlen) {
  json_t *metrics = json_object();
  if (!metrics) {
    snprintf(err, errlen, "out of memory building the metric map");
    return -1;
  }
  char key[512];
  size_t i;
  const json_t *row;

  const json_t *configs = table(results, "configs");
  json_array_foreach(configs, i, row) {
    const char *name = str(row, "name");
    static const char *const fields[] = {"em", "f1", "avg_bits_plain", "avg_bits_weighted"};
    for (size_t f = 0; f < 4; f++) {
      snprintf(key, sizeof key, "configs/%s/%s", name, fields[f]);
      put_metric(metrics, key, num(row, fields[f]));
    }
  }

  const json_t *cpt = table(results, "cpt");
  json_array_foreach(cpt, i, row) {
    static const char *const fields[] = {"step3_f1", "step5_f1", "diff"};
    for (size_t f = 0; f < 3; f++) {
      snprintf(key, sizeof key, "cpt/%d/%s", (int)num(row, "bits"), fields[f]);
      put_metric(metrics, key, num(row, fields[f]));
    }
  }

  const json_t *attacks = table(results, "attacks");
  json_array_foreach(attacks, i, row) {
    static const char *const fields[] = {"clean_f1", "adv_f1", "diff", "success_rate"};
    for (size_t f = 0; f < 4; f++) {
      snprintf(key, sizeof key, "attacks/%s/%s/%s", str(row, "attack"), str(row, "target"),
               fields[f]);
      put_metric(metrics, key, num(row, fields[f]));
    }
  }

  const json_t *transfer = table(results, "transfer");
  json_array_foreach(transfer, i, row) {
    snprintf(key, sizeof key, "transfer/%s/%d_to_%d/adv_f1", str(row, "attack"),
             (int)num(row, "crafted_bits"), (int)num(row, "scored_bits"));
    put_metric(metrics, key, num(row, "adv_f1"));
  }

  if (json_object_set_new(results, "metrics", metrics) != 0) {
    snprintf(err, errlen, "out of memory storing the metric map");
    return -1;
  }
  return 0;
}

/* ----------------------------------------------------------------- CSV */

/* Appends a CSV field, quoted when it contains a comma, quote or newline. */
static void csv_field(sdq_buf *b, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    sdq_buf_printf(b, "%s", s);
    return;
  }
  sdq_buf_printf(b, "\"");
  for (const char *p = s; *p; p++)
    sdq_buf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
  sdq_buf_printf(b, "\"");
}

static int write_buf(const char *dir, const char *name, sdq_buf *b, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (b->failed) {
    snprintf(err, errlen, "%s: out of memory while building the file", path);
    return -1;
  }
  return sdq_write_file_atomic(path, b->data ? b->data : "", b->len, err, errlen);
}

/* Appends ",X" with 4 decimals, or "," alone when key is null or missing. */
static void csv_number(sdq_buf *b, const json_t *row, const char *key) {
  double v = num(row, key);
  if (isfinite(v))
    sdq_buf_printf(b, ",%.4f", v);
  else
    sdq_buf_printf(b, ",");
}

void sdq_attacks_csv(sdq_buf *b, const json_t *rows) {
  size_t i;
  const json_t *row;
  sdq_buf_printf(b, "attack,target,clean_f1,adv_f1,diff,success_rate,questions\n");
  json_array_foreach(rows, i, row) {
    csv_field(b, str(row, "attack"));
    sdq_buf_printf(b, ",");
    csv_field(b, str(row, "target"));
    csv_number(b, row, "clean_f1");
    csv_number(b, row, "adv_f1");
    csv_number(b, row, "diff");
    csv_number(b, row, "success_rate");
    sdq_buf_printf(b, ",%lld\n", (long long)json_integer_value(json_object_get(row, "questions")));
  }
}

static int write_csvs(const char *dir, const json_t *results, char *err, size_t errlen) {
  size_t i;
  const json_t *row;
  sdq_buf b = {0};

  sdq_buf_printf(&b, "name,em,f1,avg_bits_plain,avg_bits_weighted,questions\n");
  json_array_foreach(table(results, "configs"), i, row) {
    csv_field(&b, str(row, "name"));
    sdq_buf_printf(&b, ",%.4f,%.4f,%.4f,%.4f,%d\n", num(row, "em"), num(row, "f1"),
                   num(row, "avg_bits_plain"), num(row, "avg_bits_weighted"),
                   (int)num(row, "questions"));
  }
  int rc = write_buf(dir, "configs.csv", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc)
    return rc;

  sdq_buf_printf(&b, "bits,step3_f1,step5_f1,diff\n");
  json_array_foreach(table(results, "cpt"), i, row)
    sdq_buf_printf(&b, "%d,%.4f,%.4f,%.4f\n", (int)num(row, "bits"), num(row, "step3_f1"),
                   num(row, "step5_f1"), num(row, "diff"));
  rc = write_buf(dir, "cpt.csv", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc)
    return rc;

  sdq_attacks_csv(&b, table(results, "attacks"));
  rc = write_buf(dir, "attacks.csv", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc || !table(results, "transfer"))
    return rc;

  sdq_buf_printf(&b, "attack,crafted_bits,scored_bits,clean_f1,adv_f1\n");
  json_array_foreach(table(results, "transfer"), i, row) {
    csv_field(&b, str(row, "attack"));
    sdq_buf_printf(&b, ",%d,%d,%.4f,%.4f\n", (int)num(row, "crafted_bits"),
                   (int)num(row, "scored_bits"), num(row, "clean_f1"), num(row, "adv_f1"));
  }
  rc = write_buf(dir, "transfer.csv", &b, err, errlen);
  sdq_buf_free(&b);
  return rc;
}

/* --------------------------------------------------------------- plots */

static int write_plots(const char *dir, const json_t *results, char *err, size_t errlen) {
  size_t i;
  const json_t *row;
  sdq_svg_bar bars[512];
  sdq_svg_point points[512];
  char labels[512][32];
  int n = 0, rc;
  sdq_buf b = {0};

  /* F1 per configuration. */
  json_array_foreach(table(results, "configs"), i, row) {
    if (n < 512)
      bars[n++] = (sdq_svg_bar){str(row, "name"), 0, num(row, "f1")};
  }
  sdq_svg_bar_chart(&b, "SQuAD F1 per bit-width configuration", "F1", bars, n, NULL, 1);
  rc = write_buf(dir, "f1_per_config.svg", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc)
    return rc;

  /* F1 against average bits, plain and parameter-weighted. */
  n = 0;
  json_array_foreach(table(results, "configs"), i, row) {
    if (n + 2 > 512)
      break;
    points[n++] = (sdq_svg_point){num(row, "avg_bits_plain"), num(row, "f1"), 0, str(row, "name")};
    points[n++] = (sdq_svg_point){num(row, "avg_bits_weighted"), num(row, "f1"), 1, NULL};
  }
  static const char *const bit_series[] = {"plain mean", "parameter-weighted"};
  sdq_svg_scatter(&b, "F1 against average weight bits", "average bits", "F1", points, n,
                  bit_series, 2);
  rc = write_buf(dir, "f1_vs_bits.svg", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc)
    return rc;

  /* Step 3 (switchable) against step 5 (cyclic precision training). */
  n = 0;
  json_array_foreach(table(results, "cpt"), i, row) {
    if (n + 2 > 512)
      break;
    snprintf(labels[i % 512], sizeof labels[0], "%d bits", (int)num(row, "bits"));
    bars[n++] = (sdq_svg_bar){labels[i % 512], 0, num(row, "step3_f1")};
    bars[n++] = (sdq_svg_bar){labels[i % 512], 1, num(row, "step5_f1")};
  }
  static const char *const cpt_series[] = {"step 3: switchable", "step 5: CPT"};
  sdq_svg_bar_chart(&b, "F1 per static precision: switchable vs cyclic training", "F1", bars, n,
                    cpt_series, 2);
  rc = write_buf(dir, "cpt_vs_switchable.svg", &b, err, errlen);
  sdq_buf_free(&b);
  if (rc)
    return rc;

  /* Attack results: clean and adversarial F1 per attack and target. */
  n = 0;
  json_array_foreach(table(results, "attacks"), i, row) {
    if (n + 2 > 512 || i >= 512)
      break;
    snprintf(labels[i], sizeof labels[0], "%s/%s", str(row, "attack"), str(row, "target"));
    bars[n++] = (sdq_svg_bar){labels[i], 0, num(row, "clean_f1")};
    bars[n++] = (sdq_svg_bar){labels[i], 1, num(row, "adv_f1")};
  }
  static const char *const attack_series[] = {"clean F1", "adversarial F1"};
  sdq_svg_bar_chart(&b, "F1 under attack, per attack and target", "F1", bars, n, attack_series,
                    2);
  rc = write_buf(dir, "attacks.svg", &b, err, errlen);
  sdq_buf_free(&b);
  return rc;
}

/* -------------------------------------------------------------- report */

static void fmt_num(char *out, size_t len, double v, const char *fmt) {
  if (isfinite(v))
    snprintf(out, len, fmt, v);
  else
    snprintf(out, len, "n/a");
}

static void markdown_tables(sdq_buf *b, const json_t *results) {
  size_t i;
  const json_t *row;
  char a[32], c[32], d[32], e[32];

  sdq_buf_printf(b, "## Table 1: bit-width configurations (step 4)\n\n"
                    "| configuration | EM | F1 | average bits (plain) | average bits (weighted) |\n"
                    "| --- | ---: | ---: | ---: | ---: |\n");
  json_array_foreach(table(results, "configs"), i, row) {
    fmt_num(a, sizeof a, num(row, "em"), "%.2f");
    fmt_num(c, sizeof c, num(row, "f1"), "%.2f");
    fmt_num(d, sizeof d, num(row, "avg_bits_plain"), "%.2f");
    fmt_num(e, sizeof e, num(row, "avg_bits_weighted"), "%.2f");
    sdq_buf_printf(b, "| %s | %s | %s | %s | %s |\n", str(row, "name"), a, c, d, e);
  }
  sdq_buf_printf(b, "\n![F1 per configuration](f1_per_config.svg)\n\n"
                    "![F1 against average bits](f1_vs_bits.svg)\n\n");

  sdq_buf_printf(b, "## Table 2: switchable (step 3) vs cyclic precision training (step 5)\n\n"
                    "| bits | step-3 F1 | step-5 F1 | difference (step 5 - step 3) |\n"
                    "| ---: | ---: | ---: | ---: |\n");
  json_array_foreach(table(results, "cpt"), i, row) {
    fmt_num(a, sizeof a, num(row, "step3_f1"), "%.2f");
    fmt_num(c, sizeof c, num(row, "step5_f1"), "%.2f");
    fmt_num(d, sizeof d, num(row, "diff"), "%+.2f");
    sdq_buf_printf(b, "| %d | %s | %s | %s |\n", (int)num(row, "bits"), a, c, d);
  }
  sdq_buf_printf(b, "\n![step 3 vs step 5](cpt_vs_switchable.svg)\n\n");

  sdq_buf_printf(b, "## Table 3: adversarial robustness (step 6)\n\n"
                    "| attack | target | clean F1 | adversarial F1 | difference | success rate |\n"
                    "| --- | --- | ---: | ---: | ---: | ---: |\n");
  json_array_foreach(table(results, "attacks"), i, row) {
    fmt_num(a, sizeof a, num(row, "clean_f1"), "%.2f");
    fmt_num(c, sizeof c, num(row, "adv_f1"), "%.2f");
    fmt_num(d, sizeof d, num(row, "diff"), "%+.2f");
    fmt_num(e, sizeof e, num(row, "success_rate"), "%.1f %%");
    sdq_buf_printf(b, "| %s | %s | %s | %s | %s | %s |\n", str(row, "attack"), str(row, "target"),
                   a, c, d, e);
  }
  sdq_buf_printf(b,
                 "\nDifference = adversarial F1 - clean F1. Success rate = share of the "
                 "questions with clean F1 > 0 whose adversarial F1 is lower than their clean "
                 "F1.\n\n![attack results](attacks.svg)\n\n");

  if (table(results, "transfer") && json_array_size(table(results, "transfer")) > 0) {
    sdq_buf_printf(b, "### Transfer: examples crafted at one precision, scored at another\n\n"
                      "| attack | crafted at (bits) | scored at (bits) | clean F1 | adversarial F1 |\n"
                      "| --- | ---: | ---: | ---: | ---: |\n");
    json_array_foreach(table(results, "transfer"), i, row) {
      fmt_num(a, sizeof a, num(row, "clean_f1"), "%.2f");
      fmt_num(c, sizeof c, num(row, "adv_f1"), "%.2f");
      sdq_buf_printf(b, "| %s | %d | %d | %s | %s |\n", str(row, "attack"),
                     (int)num(row, "crafted_bits"), (int)num(row, "scored_bits"), a, c);
    }
    sdq_buf_printf(b, "\n");
  }
}

static void markdown_metadata(sdq_buf *b, const json_t *results) {
  const json_t *meta = json_object_get(results, "metadata");
  sdq_buf_printf(b, "## Run metadata\n\n");
  sdq_buf_printf(b, "- CPU features: %s\n", str(meta, "cpu_features"));
  sdq_buf_printf(b, "- compiler: %s\n", str(meta, "compiler"));
  sdq_buf_printf(b, "- git commit: %s\n",
                 json_is_string(json_object_get(meta, "git_commit")) ? str(meta, "git_commit")
                                                                       : "unknown");
  const json_t *libs = json_object_get(meta, "libraries");
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)libs, k, v)
    sdq_buf_printf(b, "- %s %s\n", k, json_string_value(v) ? json_string_value(v) : "?");

  sdq_buf_printf(b, "- kernels:");
  json_object_foreach((json_t *)json_object_get(meta, "kernels"), k, v)
    sdq_buf_printf(b, " %s=%s", k, json_string_value(v) ? json_string_value(v) : "?");
  sdq_buf_printf(b, "\n- seeds:");
  json_object_foreach((json_t *)json_object_get(meta, "seeds"), k, v)
    sdq_buf_printf(b, " %s=%lld", k, (long long)json_integer_value(v));
  sdq_buf_printf(b, "\n- stage wall time (seconds):");
  json_object_foreach((json_t *)json_object_get(meta, "stage_seconds"), k, v)
    sdq_buf_printf(b, " %s=%.1f", k, json_number_value(v));
  sdq_buf_printf(b, "\n\nEvery number is also in results.json (key list: docs/suite.md) and in "
                    "the CSV files next to this report.\n");
}

int sdq_report_write(const char *dir, const json_t *results, char *err,
                     size_t errlen) {
  char path[4096];
  if (sdq_mkdir_p(dir, err, errlen))
    return -1;

  snprintf(path, sizeof path, "%s/results.json", dir);
  if (sdq_json_write_file(path, results, err, errlen))
    return -1;
  if (write_csvs(dir, results, err, errlen) || write_plots(dir, results, err, errlen))
    return -1;

  const json_t *model = json_object_get(results, "model");
  sdq_buf b = {0};
  sdq_buf_printf(&b, "# sdq regression suite report\n\n");
  sdq_buf_printf(&b, "Profile: %s. Model: %s.\n\n", str(results, "profile"),
                 str(model, "checkpoint"));
  sdq_buf_printf(&b, "%s\n\n", str(model, "description"));
  if (!json_is_true(json_object_get(model, "is_gpt2")))
    sdq_buf_printf(&b, "**These numbers come from a small model trained here, not from GPT-2 "
                       "(124M).** They check that the pipeline works and has not regressed; "
                       "they are not comparable with published GPT-2 SQuAD results.\n\n");
  const json_t *data = json_object_get(results, "data");
  if (data)
    sdq_buf_printf(&b, "Data: training questions from %s, evaluation questions from %s "
                       "(%lld evaluated, %lld attacked).\n\n",
                   str(data, "train"), str(data, "eval"),
                   (long long)json_integer_value(json_object_get(data, "eval_questions")),
                   (long long)json_integer_value(json_object_get(data, "attack_questions")));
  markdown_tables(&b, results);
  markdown_metadata(&b, results);
  int rc = write_buf(dir, "report.md", &b, err, errlen);
  sdq_buf_free(&b);
  return rc;
}
