/* suite.h - building blocks of 'sdq suite': atomic file output, SVG plots,
 * the results document, stage bookkeeping, run metadata and the baseline
 * comparison.
 *
 * Every function that can fail returns 0 on success or -1 with a message in
 * err that names the file or metric and what to do. Nothing here exits.
 *
 * The results document (results.json) is a jansson object with stable keys:
 *   "schema":   "sdq-suite-results/1"
 *   "profile":  "default" | "quick" | "custom"
 *   "model":    {"checkpoint", "description", "is_gpt2"}
 *   "tables":   {"configs": [...], "cpt": [...], "attacks": [...]}
 *   "metrics":  flat {key: number} map, the keys listed in docs/suite.md
 *               (e.g. "configs/w8_all/f1", "cpt/4/step5_f1",
 *               "attacks/pgd_linf/random_switch/adv_f1")
 *   "metadata": {"cpu_features", "kernels", "compiler", "libraries",
 *               "seeds", "stage_seconds", "git_commit", ...}
 * The baseline comparison reads only "metrics".
 */
#ifndef SDQ_CLI_SUITE_H
#define SDQ_CLI_SUITE_H

#include <stddef.h>

#include <jansson.h>

#include "train/files.h"

/* ------------------------------------------------------------ file output */

/* Writes len bytes to path by the rule of sdq_write_file_bytes (train/files.h):
 * regular files are replaced atomically, devices, FIFOs and "-" written in place. */
int sdq_write_file_atomic(const char *path, const void *data, size_t len,
                          char *err, size_t errlen);

/* JSON files and folders: sdq_json_write_file and sdq_mkdir_p of
 * train/files.h. */

/* A growable string, used to build report files in memory before the atomic
 * write. sdq_buf_printf returns -1 only when memory runs out. */
typedef struct sdq_buf {
  char *data;
  size_t len, cap;
  int failed; /* set when an append ran out of memory */
} sdq_buf;

int sdq_buf_printf(sdq_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sdq_buf_free(sdq_buf *b);

/* ------------------------------------------------------------- SVG plots */

/* One labelled value of a bar chart; group is the series index (0, 1, ...)
 * when several series share a category (grouped bars). */
typedef struct sdq_svg_bar {
  const char *category;
  int series;
  double value;
} sdq_svg_bar;

/* One point of a scatter plot. */
typedef struct sdq_svg_point {
  double x, y;
  int series;
  const char *label; /* may be NULL */
} sdq_svg_point;

/* Renders a (grouped) vertical bar chart to b. series_names[n_series] label
 * the legend; categories appear in the order of their first bar. The y axis
 * starts at min(0, smallest value) and ends above the largest value. */
int sdq_svg_bar_chart(sdq_buf *b, const char *title, const char *y_label,
                      const sdq_svg_bar *bars, int n_bars,
                      const char *const *series_names, int n_series);

/* Renders a scatter plot to b; series_names[n_series] label the legend and
 * pick the marker colour. */
int sdq_svg_scatter(sdq_buf *b, const char *title, const char *x_label,
                    const char *y_label, const sdq_svg_point *points,
                    int n_points, const char *const *series_names,
                    int n_series);

/* --------------------------------------------------------- the report */

/* Writes report.md, results.json, configs.csv, cpt.csv, attacks.csv and the
 * SVG plots (f1_per_config.svg, f1_vs_bits.svg, cpt_vs_switchable.svg,
 * attacks.svg) into dir, each atomically. results is the document described
 * at the top of this header. */
int sdq_report_write(const char *dir, const json_t *results, char *err,
                     size_t errlen);

/* Rebuilds results["metrics"] from results["tables"]; returns 0 or -1 when a
 * table row lacks a key. */
int sdq_results_fill_metrics(json_t *results, char *err, size_t errlen);

/* Appends the CSV of attack rows (objects with "attack", "target",
 * "clean_f1", "adv_f1", "diff", "success_rate", "questions") to b: a header
 * line, then one line per row; a null or missing number is an empty cell.
 * Used for both 'sdq attack --csv' and the suite's attacks.csv. */
void sdq_attacks_csv(sdq_buf *b, const json_t *rows);

/* ------------------------------------------------------ run metadata */

/* Returns a new object with cpu_features, the kernel table (each kernel's
 * name and the ISA variant that implements it), compiler (__VERSION__) and
 * libraries (jansson, PCRE2, SLEEF versions). git_commit is the output of
 * `git describe --always --dirty` in the configured source tree when that
 * is a git checkout, else null. Returns NULL when memory runs out. */
json_t *sdq_suite_metadata(void);

/* --------------------------------------------------- stage bookkeeping */

/* A stage is done when work_dir/stage-<name>.json exists and its "options"
 * equal the given options (json_equal). Returns a new reference to the
 * stored "result" then, or NULL (not done, different options, or unreadable
 * marker: the stage runs again). *seconds receives the stored duration. */
json_t *sdq_stage_load(const char *work_dir, const char *name,
                       const json_t *options, double *seconds);

/* Marks a stage done: writes {"stage", "options", "result", "seconds"} to
 * work_dir/stage-<name>.json atomically (the marker is written last, after
 * every other output of the stage). */
int sdq_stage_save(const char *work_dir, const char *name,
                   const json_t *options, const json_t *result,
                   double seconds, char *err, size_t errlen);

/* ------------------------------------------------ baseline comparison */

/* The "schema" value of the results document. */
#define SDQ_SUITE_SCHEMA "sdq-suite-results/1"

/* Tolerance applied to one metric key (absolute, in the metric's own unit:
 * F1/EM points 0..100, success rate in percent, bits). Returns a negative
 * value for keys that are informational only (never compared). */
double sdq_metric_tolerance(const char *key);

/* Checks that doc is a suite results document: "schema" is
 * SDQ_SUITE_SCHEMA and "metrics" is a non-empty object whose values are
 * numbers or null, with EM/F1/success rates in 0..100. Returns 0, or -1
 * with a message that starts with what (a file name or "the baseline"). */
int sdq_results_check(const json_t *doc, const char *what, char *err, size_t errlen);

/* Compares results["metrics"] with baseline["metrics"]. For every baseline
 * key: missing in results -> failure; |current - baseline| beyond the
 * tolerance -> failure when worse, and also when better unless
 * allow_better. "Worse" means lower, except for keys ending in
 * "/success_rate", where higher is worse. Writes a WARNING line for each
 * differing run setting (profile, model checkpoint, question counts), then
 * one line per baseline metric (a "skip" line for a metric without a
 * tolerance or null in the baseline; differences of two metrics are left
 * out), to report (may be NULL) and returns the number of
 * failures, or -1 with err when either document is malformed: a "schema"
 * other than SDQ_SUITE_SCHEMA, no or an empty "metrics" object, a metric
 * that is neither a number nor null, or an EM/F1/success rate outside
 * 0..100. */
int sdq_baseline_compare(const json_t *results, const json_t *baseline,
                         int allow_better, sdq_buf *report, char *err,
                         size_t errlen);

/* ------------------------------------------------------ attack grid */

struct sdq_gpt2;
struct sdq_tokenizer;
struct sdq_squad;

/* Options of the attack grid shared by 'sdq attack' and the suite's step 6. */
typedef struct sdq_attack_grid {
  const char *attacks;        /* comma list: pgd_linf,pgd_l2,hotflip,eot_pgd_linf */
  const char *targets;        /* comma list: fp32_lora,static_8bit,random_switch */
  const char *static_config;  /* bit-configuration file of static_8bit, or
                                 NULL for every layer at 8 bits */
  int switch_bits[8];         /* random_switch precision set */
  int n_switch;
  float eps_rms;              /* PGD eps in units of the RMS of wte entries */
  float step_rms;             /* PGD step size, same unit */
  float l2_scale;             /* L2 eps and step = L-inf ones * sqrt(context
                                 tokens * C) * l2_scale (see docs/attacks.md) */
  int steps, random_start, max_flips, eot_samples, max_new;
  int transfer;               /* 1: also the transfer matrix over switch_bits */
  unsigned long long seed;
  int progress;
} sdq_attack_grid;

/* The defaults documented in 'sdq attack --help'. */
sdq_attack_grid sdq_attack_grid_defaults(void);

/* Runs every attack against every target on the questions qs[n_q] and
 * appends one row per (attack, target) to rows ({"attack", "target",
 * "clean_f1", "adv_f1", "diff", "success_rate", "clean_em", "adv_em",
 * "questions", "skipped", "mean_flips", "seconds"}) and, when
 * grid->transfer, the transfer matrix to transfer_rows ({"attack",
 * "crafted_bits", "scored_bits", "clean_f1", "adv_f1"}; may be NULL). */
int sdq_attack_grid_run(struct sdq_gpt2 *m, struct sdq_tokenizer *tok,
                        const struct sdq_squad *sq, const size_t *qs,
                        size_t n_q, const sdq_attack_grid *grid, json_t *rows,
                        json_t *transfer_rows, char *err, size_t errlen);

/* Stores the grid's options (everything that changes results) in a JSON
 * object, for the stage markers. */
json_t *sdq_attack_grid_options(const sdq_attack_grid *grid);

/* Checks the grid's names and precision set before any work: every attack
 * and target known and listed once, switch bits in 2..8, 16, 32 without
 * repeats. Returns 0 or -1 with a message naming the bad entry. */
int sdq_attack_grid_check(const sdq_attack_grid *grid, char *err, size_t errlen);

/* Checks that the LoRA bank of m (loaded from lora_dir, for the message)
 * has an adapter set for every random_switch bits when random_switch or the
 * transfer matrix is requested. Returns 0 or -1 with a message. */
int sdq_attack_grid_check_bank(const sdq_attack_grid *grid, const struct sdq_gpt2 *m,
                               const char *lora_dir, char *err, size_t errlen);

#endif
