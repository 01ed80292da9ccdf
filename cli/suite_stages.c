/* suite_stages.c - the five stages of 'sdq suite': pre-training the
 * embedded default base, switchable-precision LoRA training (step 3),
 * evaluation of every shipped configuration (step 4), cyclic precision
 * training compared with step 3 (step 5), and the attacks (step 6). */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/suite_run.h"
#include "train/evaluate.h"
#include "train/schedule.h"
#include "train/setup.h"
#include "train/trainer.h"

/* ------------------------------------------------------------ profiles */

int sdq_suite_profile_init(const char *name, int vocab_size, sdq_suite_profile *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->base = (sdq_gpt2_config){.n_layer = 2, .n_head = 4, .n_embd = 128, .n_ctx = 128,
                              .vocab_size = vocab_size};
  /* Measured on the embedded default data: 1500 steps of 16 examples at
   * lr 1e-3 reach F1 about 63 at fp32; lr 3e-3 trained worse in every run. */
  p->pretrain_batch = 16;
  p->pretrain_lr = 1e-3f;
  /* The answer-only loss needs logits at the answer positions only, which
   * skips most of the 50257-wide LM head and trains the task directly. */
  p->pretrain_loss_all = 0;
  p->lora_rank = 8;
  p->lora_alpha = 16.0f;
  p->lora_lr = 2e-3f;
  p->batch = 16;
  p->max_len = 128;
  p->switch_bits[0] = 4, p->switch_bits[1] = 6, p->switch_bits[2] = 8;
  p->n_switch = 3;
  p->cpt_low = 4;
  p->cpt_high = 8;
  p->max_new = 16;
  p->seed = 1;
  p->grid = sdq_attack_grid_defaults();
  p->grid.attacks = "pgd_linf,hotflip";
  p->grid.targets = "fp32_lora,static_8bit,random_switch";

  if (!strcmp(name, "default")) {
    p->pretrain_steps = 1500;
    p->train_steps = 300;
    p->cpt_steps = 300;
    p->cpt_cycles = 4;
    p->eval_questions = 400;
    p->attack_questions = 40;
    return 0;
  }
  if (!strcmp(name, "quick")) {
    p->pretrain_steps = 1500;
    p->train_steps = 100;
    p->cpt_steps = 100;
    p->cpt_cycles = 2;
    p->eval_questions = 200;
    p->attack_questions = 12;
    p->grid.steps = 3;
    p->grid.max_flips = 2;
    return 0;
  }
  return -1;
}

/* ------------------------------------------------------------- helpers */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void work_path(const sdq_suite *s, char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", s->work_dir, name);
}

/* Work of stage k (0..4) in units of one training example (forward and
 * backward of one prompt). An evaluated question costs about 0.6 units (a
 * prompt forward and up to max_new cached decode steps); an attacked
 * question costs its gradient steps plus two answers. These weights are
 * estimates; the rate (seconds per unit) is measured on the stages that ran,
 * in this run or, for reused stages, when they ran. */
static double stage_units(const sdq_suite *s, int k) {
  const sdq_suite_profile *p = &s->prof;
  const double q_eval = 0.6;
  switch (k) {
  case 0:
    return s->model_dir ? 0.0 : (double)p->pretrain_steps * p->pretrain_batch;
  case 1:
    return (double)p->train_steps * p->batch;
  case 2:
    return (double)s->n_configs * p->eval_questions * q_eval;
  case 3:
    return (double)p->cpt_steps * p->batch + 2.0 * p->n_switch * p->eval_questions * q_eval;
  default: {
    int n_att = 1, n_tgt = 1;
    for (const char *c = p->grid.attacks; *c; c++)
      n_att += *c == ',';
    for (const char *c = p->grid.targets; *c; c++)
      n_tgt += *c == ',';
    double per_q = 0.5 * (p->grid.steps + 1) + 0.5 * (p->grid.max_flips + 1) + 2 * q_eval;
    return (double)n_tgt * p->attack_questions * per_q * (n_att / 2.0);
  }
  }
}

static void stage_banner(sdq_suite *s, const char *name, const char *what) {
  s->stage_index++;
  double left_units = 0;
  for (int k = s->stage_index - 1; k < 5; k++)
    left_units += stage_units(s, k);
  char left[96];
  if (s->units_done > 0 && s->seconds_done > 0)
    snprintf(left, sizeof left, "about %.0f min left in the suite (estimate)",
             ceil(left_units * s->seconds_done / s->units_done / 60.0));
  else
    snprintf(left, sizeof left, "time left is estimated once a stage has run");
  if (s->progress)
    fprintf(stderr, "\n[stage %d/%d] %s: %s\n  %.0f s into the suite; %s\n", s->stage_index,
            s->n_stages, name, what, now_seconds() - s->started, left);
}

static void stage_finished(sdq_suite *s, const char *name, double seconds, int cached) {
  json_object_set_new(s->stage_seconds, name, json_real(seconds));
  /* A reused stage's stored duration calibrates the estimate as well. */
  if (seconds > 0) {
    s->units_done += stage_units(s, s->stage_index - 1);
    s->seconds_done += seconds;
  }
  if (s->progress)
    fprintf(stderr, "[stage %d/%d] %s %s (%.1f s%s)\n", s->stage_index, s->n_stages, name,
            cached ? "reused from the output folder" : "done", seconds,
            cached ? " when it ran" : "");
}

/* Loads the stage's marker when resuming; NULL when the stage must run. */
static json_t *stage_cached(sdq_suite *s, const char *name, const json_t *opts, double *secs) {
  return s->resume ? sdq_stage_load(s->work_dir, name, opts, secs) : NULL;
}

/* A training checkpoint folder belongs to one set of stage options: when
 * options.json there differs, the old checkpoint is removed so the trainer
 * starts afresh instead of rejecting it. */
static int prepare_checkpoint_dir(const char *dir, const json_t *opts, char *err, size_t errlen) {
  char path[4200];
  if (sdq_mkdir_p(dir, err, errlen))
    return -1;
  snprintf(path, sizeof path, "%s/options.json", dir);
  json_error_t jerr;
  json_t *old = json_load_file(path, 0, &jerr);
  int same = old && json_equal(old, (json_t *)opts);
  json_decref(old);
  if (same)
    return 0;
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
  if (unlink(path) != 0 && access(path, F_OK) == 0) {
    snprintf(err, errlen, "%s: cannot remove the stale checkpoint", path);
    return -1;
  }
  snprintf(path, sizeof path, "%s/options.json", dir);
  return sdq_json_write_file(path, opts, err, errlen);
}

/* The configuration files of configs_dir: regular files whose name does not
 * start with '.' or "README", sorted by name. Returns the count, -1 on
 * error; names[i] are malloc'ed. */
static int list_configs(const char *dir, char ***names, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "%s: cannot open the configuration folder (use --configs DIR)", dir);
    return -1;
  }
  char **list = NULL;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !strncmp(e->d_name, "README", 6))
      continue;
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    char **grown = realloc(list, sizeof *list * (size_t)(n + 1));
    if (!grown || !(grown[n] = strdup(e->d_name))) {
      free(grown ? grown : list);
      closedir(d);
      snprintf(err, errlen, "out of memory listing %s", dir);
      return -1;
    }
    list = grown;
    n++;
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
      char *t = list[j];
      list[j] = list[j - 1];
      list[j - 1] = t;
    }
  if (n == 0) {
    snprintf(err, errlen, "%s holds no configuration files", dir);
    free(list);
    return -1;
  }
  *names = list;
  return n;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s)
    s[n] = '\0';
  fclose(f);
  return s;
}

/* ---------------------------------------------------- stage options */

static json_t *base_options(const sdq_suite *s) {
  const sdq_suite_profile *p = &s->prof;
  if (s->model_dir)
    return json_pack("{s:s}", "checkpoint", s->model_dir);
  return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:I, s:s, s:i}", "checkpoint",
                   "embedded-default", "n_layer", p->base.n_layer, "n_head", p->base.n_head,
                   "n_embd", p->base.n_embd, "n_ctx", p->base.n_ctx, "vocab_size",
                   p->base.vocab_size, "steps", p->pretrain_steps, "batch", p->pretrain_batch,
                   "lr", (double)p->pretrain_lr, "seed", (json_int_t)p->seed, "train",
                   s->train_path, "loss_all", p->pretrain_loss_all);
}

/* The LoRA bank serves every quantized bit width (2..8) and fp32: 8 sets,
 * the bank's maximum. So any configuration file runs on the trained model
 * without retraining; sets that no training step used keep B = 0, and their
 * layers behave as the quantized base. */
static const int bank_bits[SDQ_LORA_MAX_SETS] = {2, 3, 4, 5, 6, 7, 8, 32};

static json_t *lora_options(const sdq_suite *s, const char *kind, int steps) {
  const sdq_suite_profile *p = &s->prof;
  json_t *sw = json_array();
  for (int i = 0; i < p->n_switch; i++)
    json_array_append_new(sw, json_integer(p->switch_bits[i]));
  json_t *o = json_pack("{s:o, s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:I, s:o, s:s}", "base",
                        base_options(s), "kind", kind, "train", s->train_path, "steps", steps,
                        "batch", p->batch, "max_len", p->max_len, "rank", p->lora_rank, "alpha",
                        (double)p->lora_alpha, "lr", (double)p->lora_lr, "seed",
                        (json_int_t)p->seed, "switch_bits", sw, "bank", "2-8,32");
  if (!strcmp(kind, "cpt"))
    json_object_set_new(o, "cpt", json_pack("{s:i, s:i, s:i}", "low", p->cpt_low, "high",
                                             p->cpt_high, "cycles", p->cpt_cycles));
  return o;
}

/* -------------------------------------------------------- model setup */

static sdq_gpt2 *load_base(sdq_suite *s, char *err, size_t errlen) {
  char dir[4200];
  if (s->model_dir)
    return sdq_gpt2_load_hf(s->model_dir, s->prof.seed, err, errlen);
  work_path(s, dir, sizeof dir, "base");
  return sdq_gpt2_load_hf(dir, s->prof.seed, err, errlen);
}

static int init_bank(sdq_suite *s, sdq_gpt2 *m, char *err, size_t errlen) {
  sdq_lora_config lc = {.rank = s->prof.lora_rank, .alpha = s->prof.lora_alpha, .dropout = 0.0f,
                        .n_sets = SDQ_LORA_MAX_SETS};
  memcpy(lc.bits, bank_bits, sizeof bank_bits);
  return sdq_gpt2_lora_init(m, &lc, s->prof.seed + 17, err, errlen);
}

static sdq_train_options train_options(const sdq_suite *s, int steps, const char *ckpt_dir) {
  sdq_train_options o = sdq_train_defaults();
  o.steps = steps;
  o.batch_size = s->prof.batch;
  o.max_len = s->prof.max_len < s->prof.base.n_ctx ? s->prof.max_len : s->prof.base.n_ctx;
  o.adamw.lr = s->prof.lora_lr;
  o.adamw.warmup_steps = steps / 20;
  o.seed = s->prof.seed;
  o.out_dir = ckpt_dir;
  o.checkpoint_every = 25;
  o.resume = 1;
  o.progress = s->progress;
  return o;
}

/* ------------------------------------------------ stage 0: pre-train */

int sdq_suite_stage_pretrain(sdq_suite *s, char *err, size_t errlen) {
  if (s->model_dir) {
    stage_banner(s, "pretrain", "skipped: --model gives a trained base");
    stage_finished(s, "pretrain", 0.0, 0);
    return 0;
  }
  json_t *opts = base_options(s);
  double secs = 0;
  json_t *done = stage_cached(s, "pretrain", opts, &secs);
  char what[256];
  snprintf(what, sizeof what, "train the embedded default base from scratch (%d steps of %d examples)",
           s->prof.pretrain_steps, s->prof.pretrain_batch);
  stage_banner(s, "pretrain", what);
  if (done) {
    json_object_set_new(s->results, "pretrain", done);
    stage_finished(s, "pretrain", secs, 1);
    json_decref(opts);
    return 0;
  }

  double t0 = now_seconds();
  char ckpt[4200], base_dir[4200];
  work_path(s, ckpt, sizeof ckpt, "pretrain-checkpoint");
  work_path(s, base_dir, sizeof base_dir, "base");
  sdq_gpt2 *m = sdq_gpt2_create(&s->prof.base, s->prof.seed, err, errlen);
  sdq_schedule sched = {0};
  sdq_bitconfig fp32 = {0};
  int rc = -1;
  if (!m || prepare_checkpoint_dir(ckpt, opts, err, errlen) ||
      sdq_gpt2_set_train_base(m, 1, err, errlen) ||
      sdq_bitconfig_init_uniform(&fp32, m->cfg.n_layer, 32, 0, err, errlen) ||
      sdq_schedule_add(&sched, &fp32, "fp32", err, errlen))
    goto done;
  sched.kind = SDQ_SCHEDULE_STATIC;

  sdq_train_options o = train_options(s, s->prof.pretrain_steps, ckpt);
  o.batch_size = s->prof.pretrain_batch;
  o.train_base = 1;
  o.loss_all = s->prof.pretrain_loss_all;
  o.adamw.lr = s->prof.pretrain_lr;
  sdq_train_result tr;
  if (sdq_train(m, s->tok, &s->train, &sched, &o, &tr, err, errlen) ||
      sdq_gpt2_save_hf(m, base_dir, err, errlen))
    goto done;

  json_t *result = json_pack("{s:f, s:f, s:i}", "last_loss", tr.last_loss, "mean_loss",
                             tr.mean_loss, "steps", tr.steps_done);
  secs = now_seconds() - t0;
  rc = sdq_stage_save(s->work_dir, "pretrain", opts, result, secs, err, errlen);
  json_object_set_new(s->results, "pretrain", result);
  if (rc == 0)
    stage_finished(s, "pretrain", secs, 0);

done:
  sdq_schedule_free(&sched);
  sdq_bitconfig_free(&fp32);
  if (m)
    sdq_gpt2_free(m);
  json_decref(opts);
  return rc;
}

/* ------------------------------------------- LoRA training (steps 3, 5) */

/* Trains a fresh LoRA bank on the base with schedule kind "random" (step
 * 3: uniform over the switch bits and fp32) or "cpt" (step 5) and saves it
 * to work/<name>-lora. */
static int train_lora(sdq_suite *s, const char *name, const char *kind, int steps,
                      const json_t *opts, json_t **result, char *err, size_t errlen) {
  char ckpt[4200], lora_dir[4200], sub[64];
  snprintf(sub, sizeof sub, "%s-checkpoint", name);
  work_path(s, ckpt, sizeof ckpt, sub);
  snprintf(sub, sizeof sub, "%s-lora", name);
  work_path(s, lora_dir, sizeof lora_dir, sub);

  sdq_gpt2 *m = load_base(s, err, errlen);
  sdq_schedule sched = {0};
  int rc = -1;
  if (!m || prepare_checkpoint_dir(ckpt, opts, err, errlen) || init_bank(s, m, err, errlen))
    goto done;

  /* The schedule's options: each switch precision as a uniform config,
   * then fp32 (random); or the high precision as options[0] (CPT). */
  for (int i = 0; i <= s->prof.n_switch; i++) {
    int b = i < s->prof.n_switch ? s->prof.switch_bits[i] : 32;
    if (!strcmp(kind, "cpt"))
      b = s->prof.cpt_high;
    sdq_bitconfig cfg = {0};
    char label[16];
    snprintf(label, sizeof label, b == 32 ? "fp32" : "%dbit", b);
    int r = sdq_bitconfig_init_uniform(&cfg, m->cfg.n_layer, b, 0, err, errlen);
    if (r == 0)
      r = sdq_schedule_add(&sched, &cfg, label, err, errlen);
    sdq_bitconfig_free(&cfg);
    if (r)
      goto done;
    if (!strcmp(kind, "cpt"))
      break;
  }
  if (!strcmp(kind, "cpt")) {
    if (sdq_schedule_set_cpt(&sched, s->prof.cpt_low, s->prof.cpt_high, s->prof.cpt_cycles, steps,
                             "*", err, errlen))
      goto done;
  } else {
    sched.kind = SDQ_SCHEDULE_RANDOM;
  }

  sdq_train_options o = train_options(s, steps, ckpt);
  sdq_train_result tr;
  m->training = 1;
  if (sdq_train(m, s->tok, &s->train, &sched, &o, &tr, err, errlen) ||
      sdq_lora_save(m, lora_dir, err, errlen))
    goto done;
  *result = json_pack("{s:f, s:f, s:i, s:i}", "last_loss", tr.last_loss, "mean_loss",
                      tr.mean_loss, "steps", tr.steps_done, "resumed_from", tr.resumed_from);
  rc = 0;

done:
  sdq_schedule_free(&sched);
  if (m)
    sdq_gpt2_free(m);
  return rc;
}

/* Loads the base with the LoRA bank work/<name>-lora. */
static sdq_gpt2 *load_trained(sdq_suite *s, const char *name, char *err, size_t errlen) {
  char lora_dir[4200], sub[64];
  snprintf(sub, sizeof sub, "%s-lora", name);
  work_path(s, lora_dir, sizeof lora_dir, sub);
  sdq_gpt2 *m = load_base(s, err, errlen);
  if (m && sdq_lora_load(m, lora_dir, err, errlen)) {
    sdq_gpt2_free(m);
    return NULL;
  }
  if (m)
    m->training = 0;
  return m;
}

int sdq_suite_stage_switchable(sdq_suite *s, char *err, size_t errlen) {
  json_t *opts = lora_options(s, "random", s->prof.train_steps);
  double secs = 0;
  json_t *done = stage_cached(s, "switchable", opts, &secs);
  char what[256];
  snprintf(what, sizeof what,
           "step 3, switchable-precision LoRA training (%d steps, bits drawn from the switch set and fp32)",
           s->prof.train_steps);
  stage_banner(s, "switchable", what);
  if (done) {
    json_object_set_new(s->results, "switchable", done);
    stage_finished(s, "switchable", secs, 1);
    json_decref(opts);
    return 0;
  }
  double t0 = now_seconds();
  json_t *result = NULL;
  int rc = train_lora(s, "step3", "random", s->prof.train_steps, opts, &result, err, errlen);
  if (rc == 0) {
    secs = now_seconds() - t0;
    rc = sdq_stage_save(s->work_dir, "switchable", opts, result, secs, err, errlen);
    json_object_set_new(s->results, "switchable", result);
    if (rc == 0)
      stage_finished(s, "switchable", secs, 0);
  }
  json_decref(opts);
  return rc;
}

/* ------------------------------------------------ stage 2: Table 1 */

static size_t *eval_subset(sdq_suite *s, long limit, size_t *n, char *err, size_t errlen) {
  return sdq_select_questions(&s->eval, NULL, limit, n, err, errlen);
}

static int evaluate_at(sdq_suite *s, sdq_gpt2 *m, const size_t *qs, size_t n, double *em,
                       double *f1, char *err, size_t errlen) {
  sdq_eval_options eo = {.max_len = m->cfg.n_ctx, .max_new = s->prof.max_new,
                         .progress = s->progress};
  sdq_eval_result er;
  if (sdq_evaluate(m, s->tok, &s->eval, qs, n, &eo, &er, err, errlen))
    return -1;
  *em = er.exact_match;
  *f1 = er.f1;
  sdq_eval_result_free(&er);
  return 0;
}

int sdq_suite_stage_configs(sdq_suite *s, char *err, size_t errlen) {
  /* The options hold every configuration's text, so an edited file
   * invalidates the stage. */
  char **names = NULL;
  int n_cfg = list_configs(s->configs_dir, &names, err, errlen);
  if (n_cfg < 0)
    return -1;
  json_t *texts = json_object();
  for (int i = 0; i < n_cfg; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->configs_dir, names[i]);
    char *text = read_text(path);
    json_object_set_new(texts, names[i], text ? json_string(text) : json_null());
    free(text);
  }
  json_t *opts = json_pack("{s:o, s:s, s:i, s:i, s:o}", "model",
                           lora_options(s, "random", s->prof.train_steps), "eval", s->eval_path,
                           "questions", s->prof.eval_questions, "max_new", s->prof.max_new,
                           "configs", texts);
  double secs = 0;
  json_t *done = stage_cached(s, "configs", opts, &secs);
  char what[256];
  snprintf(what, sizeof what, "step 4, evaluate %d configurations on %d questions", n_cfg,
           s->prof.eval_questions);
  stage_banner(s, "configs", what);

  int rc = -1;
  sdq_gpt2 *m = NULL;
  size_t *qs = NULL, n_q = 0;
  if (done) {
    json_object_set(json_object_get(s->results, "tables"), "configs",
                    json_object_get(done, "rows"));
    json_decref(done);
    stage_finished(s, "configs", secs, 1);
    rc = 0;
    goto out;
  }

  double t0 = now_seconds();
  json_t *rows = json_array();
  m = load_trained(s, "step3", err, errlen);
  qs = m ? eval_subset(s, s->prof.eval_questions, &n_q, err, errlen) : NULL;
  if (!m || !qs) {
    json_decref(rows);
    goto out;
  }
  for (int i = 0; i < n_cfg; i++) {
    char path[4200], name[256];
    snprintf(path, sizeof path, "%s/%s", s->configs_dir, names[i]);
    snprintf(name, sizeof name, "%s", names[i]);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
      *dot = '\0';
    sdq_bitconfig cfg = {0};
    double em = 0, f1 = 0, plain = 0, weighted = 0;
    char shown[256];
    if (sdq_resolve_config(path, m->cfg.n_layer, &cfg, shown, sizeof shown, err, errlen) ||
        sdq_gpt2_set_bits(m, &cfg, err, errlen)) {
      sdq_bitconfig_free(&cfg);
      json_decref(rows);
      goto out;
    }
    sdq_bitconfig_average_bits(&cfg, m->cfg.n_embd, &plain, &weighted);
    sdq_bitconfig_free(&cfg);
    if (s->progress)
      fprintf(stderr, "  configuration %s (%d/%d)\n", name, i + 1, n_cfg);
    if (evaluate_at(s, m, qs, n_q, &em, &f1, err, errlen)) {
      json_decref(rows);
      goto out;
    }
    json_array_append_new(rows, json_pack("{s:s, s:f, s:f, s:f, s:f, s:i}", "name", name, "em",
                                          em, "f1", f1, "avg_bits_plain", plain,
                                          "avg_bits_weighted", weighted, "questions", (int)n_q));
  }
  secs = now_seconds() - t0;
  json_object_set(json_object_get(s->results, "tables"), "configs", rows);
  rc = sdq_stage_save(s->work_dir, "configs", opts, json_pack("{s:O}", "rows", rows), secs, err,
                      errlen);
  json_decref(rows);
  if (rc == 0)
    stage_finished(s, "configs", secs, 0);

out:
  for (int i = 0; i < n_cfg; i++)
    free(names[i]);
  free(names);
  free(qs);
  if (m)
    sdq_gpt2_free(m);
  json_decref(opts);
  return rc;
}

/* ------------------------------------------------ stage 3: Table 2 */

int sdq_suite_stage_cpt(sdq_suite *s, char *err, size_t errlen) {
  json_t *opts = json_pack("{s:o, s:o, s:s, s:i, s:i}", "step3",
                           lora_options(s, "random", s->prof.train_steps), "step5",
                           lora_options(s, "cpt", s->prof.cpt_steps), "eval", s->eval_path,
                           "questions", s->prof.eval_questions, "max_new", s->prof.max_new);
  double secs = 0;
  json_t *done = stage_cached(s, "cpt", opts, &secs);
  char what[256];
  snprintf(what, sizeof what,
           "step 5, cyclic precision training (%d steps, %d..%d bits, %d cycles) and static "
           "evaluation beside step 3",
           s->prof.cpt_steps, s->prof.cpt_low, s->prof.cpt_high, s->prof.cpt_cycles);
  stage_banner(s, "cpt", what);
  if (done) {
    json_object_set(json_object_get(s->results, "tables"), "cpt", json_object_get(done, "rows"));
    json_object_set(s->results, "cpt_training", json_object_get(done, "training"));
    json_decref(done);
    stage_finished(s, "cpt", secs, 1);
    json_decref(opts);
    return 0;
  }

  double t0 = now_seconds();
  json_t *training = NULL, *rows = json_array();
  sdq_gpt2 *m3 = NULL, *m5 = NULL;
  size_t *qs = NULL, n_q = 0;
  int rc = -1;
  if (train_lora(s, "step5", "cpt", s->prof.cpt_steps, json_object_get(opts, "step5"), &training,
                 err, errlen))
    goto out;
  m3 = load_trained(s, "step3", err, errlen);
  m5 = m3 ? load_trained(s, "step5", err, errlen) : NULL;
  qs = m5 ? eval_subset(s, s->prof.eval_questions, &n_q, err, errlen) : NULL;
  if (!qs)
    goto out;

  /* Both models at each switch precision, every layer at those bits. */
  for (int i = 0; i < s->prof.n_switch; i++) {
    int b = s->prof.switch_bits[i];
    double em3, f13, em5, f15;
    if (s->progress)
      fprintf(stderr, "  %d bits: step 3, then step 5\n", b);
    if (sdq_gpt2_set_uniform_bits(m3, b, 0, err, errlen) ||
        evaluate_at(s, m3, qs, n_q, &em3, &f13, err, errlen) ||
        sdq_gpt2_set_uniform_bits(m5, b, 0, err, errlen) ||
        evaluate_at(s, m5, qs, n_q, &em5, &f15, err, errlen))
      goto out;
    json_array_append_new(rows, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "bits", b, "step3_f1",
                                          f13, "step5_f1", f15, "diff", f15 - f13, "step3_em",
                                          em3, "step5_em", em5));
  }
  secs = now_seconds() - t0;
  json_object_set(json_object_get(s->results, "tables"), "cpt", rows);
  json_object_set(s->results, "cpt_training", training);
  rc = sdq_stage_save(s->work_dir, "cpt", opts,
                      json_pack("{s:O, s:O}", "rows", rows, "training", training), secs, err,
                      errlen);
  if (rc == 0)
    stage_finished(s, "cpt", secs, 0);

out:
  json_decref(rows);
  json_decref(training);
  free(qs);
  if (m3)
    sdq_gpt2_free(m3);
  if (m5)
    sdq_gpt2_free(m5);
  json_decref(opts);
  return rc;
}

/* ------------------------------------------------ stage 4: Table 3 */

int sdq_suite_stage_attacks(sdq_suite *s, char *err, size_t errlen) {
  sdq_attack_grid g = s->prof.grid;
  memcpy(g.switch_bits, s->prof.switch_bits, sizeof g.switch_bits);
  g.n_switch = s->prof.n_switch;
  g.max_new = s->prof.max_new;
  g.seed = s->prof.seed;
  g.progress = s->progress;

  json_t *grid_opts = sdq_attack_grid_options(&g);
  json_object_del(grid_opts, "seed");
  json_t *opts = json_pack("{s:o, s:s, s:i, s:o, s:I}", "model",
                           lora_options(s, "random", s->prof.train_steps), "eval", s->eval_path,
                           "questions", s->prof.attack_questions, "grid", grid_opts, "seed",
                           (json_int_t)g.seed);
  double secs = 0;
  json_t *done = stage_cached(s, "attacks", opts, &secs);
  char what[256];
  snprintf(what, sizeof what, "step 6, attacks %s against %s on %d questions", g.attacks,
           g.targets, s->prof.attack_questions);
  stage_banner(s, "attacks", what);
  if (done) {
    json_object_set(json_object_get(s->results, "tables"), "attacks",
                    json_object_get(done, "rows"));
    if (json_object_get(done, "transfer"))
      json_object_set(json_object_get(s->results, "tables"), "transfer",
                      json_object_get(done, "transfer"));
    json_decref(done);
    stage_finished(s, "attacks", secs, 1);
    json_decref(opts);
    return 0;
  }

  double t0 = now_seconds();
  json_t *rows = json_array(), *transfer = json_array();
  size_t *qs = NULL, n_q = 0;
  int rc = -1;
  sdq_gpt2 *m = load_trained(s, "step3", err, errlen);
  qs = m ? eval_subset(s, s->prof.attack_questions, &n_q, err, errlen) : NULL;
  if (!qs || sdq_attack_grid_run(m, s->tok, &s->eval, qs, n_q, &g, rows, transfer, err, errlen))
    goto out;

  secs = now_seconds() - t0;
  json_object_set(json_object_get(s->results, "tables"), "attacks", rows);
  json_t *result = json_pack("{s:O}", "rows", rows);
  if (g.transfer) {
    json_object_set(json_object_get(s->results, "tables"), "transfer", transfer);
    json_object_set(result, "transfer", transfer);
  }
  rc = sdq_stage_save(s->work_dir, "attacks", opts, result, secs, err, errlen);
  json_decref(result);
  if (rc == 0)
    stage_finished(s, "attacks", secs, 0);

out:
  json_decref(rows);
  json_decref(transfer);
  free(qs);
  if (m)
    sdq_gpt2_free(m);
  json_decref(opts);
  return rc;
}
