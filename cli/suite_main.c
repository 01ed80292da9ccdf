/* suite_main.c - 'sdq suite': options, the stage sequence, the report and
 * the baseline comparison. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/suite_run.h"
#include "train/setup.h"

#ifndef SDQ_SOURCE_DIR
#define SDQ_SOURCE_DIR "."
#endif

int sdq_suite_main(int argc, char **argv);

static void usage(FILE *out) {
  sdq_suite_profile d, q;
  sdq_suite_profile_init("default", 50257, &d);
  sdq_suite_profile_init("quick", 50257, &q);
  fprintf(out,
          "usage: sdq suite [options]\n\n"
          "Runs the experiment end to end and writes a report folder:\n"
          "  stage 0  pre-train the embedded default base (skipped with --model)\n"
          "  stage 1  step 3: switchable-precision LoRA training\n"
          "  stage 2  step 4: EM/F1 of every configuration in the configs folder (Table 1)\n"
          "  stage 3  step 5: cyclic precision training vs step 3 per bit width (Table 2)\n"
          "  stage 4  step 6: PGD and HotFlip vs fp32_lora, static_8bit, random_switch (Table 3)\n"
          "Each finished stage leaves a marker in OUT/work; a second run with the same options\n"
          "reuses it, and an interrupted training stage resumes from its last checkpoint.\n"
          "Options that change results rerun the stages they affect.\n\n"
          "  --out DIR              report folder (default report)\n"
          "  --quick                the quick profile (CI): smaller subsets and fewer steps\n"
          "  --model DIR            start from this Hugging Face GPT-2 checkpoint instead of\n"
          "                         the embedded default base (stage 0 is skipped)\n"
          "  --train FILE           SQuAD v1.1 training file (default %s/data/default/train.json)\n"
          "  --eval FILE            SQuAD v1.1 evaluation file (default %s/data/default/eval.json)\n"
          "  --configs DIR          bit-width configuration folder (default %s/configs)\n"
          "  --eval-questions N     questions evaluated per configuration (default %d, quick %d)\n"
          "  --attack-questions N   questions attacked per attack and target (default %d, quick %d)\n"
          "  --pretrain-steps N     stage 0 steps (default %d, quick %d)\n"
          "  --train-steps N        step 3 steps (default %d, quick %d)\n"
          "  --cpt-steps N          step 5 steps (default %d, quick %d)\n"
          "  --cpt-cycles N         step 5 cosine cycles (default %d, quick %d)\n"
          "  --batch N              examples per training step (default %d)\n"
          "  --seed N               seed of initialisation, training and attacks (default %llu)\n"
          "  --attacks LIST         attacks of stage 4 (default %s; also pgd_l2, eot_pgd_linf)\n"
          "  --targets LIST         targets of stage 4 (default %s)\n"
          "  --transfer             also the transfer matrix (crafted at a bits, scored at b)\n"
          "  --no-resume            rerun every stage even when its marker matches\n"
          "  --baseline FILE        compare results.json with this stored one; exit 1 naming\n"
          "                         every metric beyond its tolerance (docs/suite.md)\n"
          "  --allow-better         with --baseline: pass metrics better than the tolerance\n"
          "  --compare FILE         compare FILE (a results.json) with --baseline; run nothing\n"
          "  --quiet                no progress lines\n",
          SDQ_SOURCE_DIR, SDQ_SOURCE_DIR, SDQ_SOURCE_DIR, d.eval_questions, q.eval_questions,
          d.attack_questions, q.attack_questions, d.pretrain_steps, q.pretrain_steps,
          d.train_steps, q.train_steps, d.cpt_steps, q.cpt_steps, d.cpt_cycles, q.cpt_cycles,
          d.batch, d.seed, d.grid.attacks, d.grid.targets);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_count(const char *opt, const char *s, long lo, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > 100000000L) {
    fprintf(stderr, "sdq suite: invalid %s '%s' (expected an integer >= %ld)\n", opt, s, lo);
    return -1;
  }
  *out = v;
  return 0;
}

/* Reads a results.json (what names it for messages), or prints why not and
 * returns NULL: a folder, a missing file and malformed JSON each get their
 * own message. */
static json_t *load_results_file(const char *path, const char *what) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    fprintf(stderr, "sdq suite: %s %s: %s\n", what, path, strerror(errno));
    return NULL;
  }
  if (S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "sdq suite: %s %s is a folder; give the results.json file inside it\n",
            what, path);
    return NULL;
  }
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc)
    fprintf(stderr, "sdq suite: %s %s is not valid JSON: %s (line %d, column %d)\n", what, path,
            jerr.text, jerr.line, jerr.column);
  return doc;
}

/* Compares results (read from results_path, or NULL for this run's) with
 * the baseline file; prints every metric and returns 0 (pass), 1 (failures)
 * or -1 (unreadable or malformed input, named by its path). */
static int compare_with_baseline(const json_t *results, const char *results_path,
                                 const char *baseline_path, int allow_better) {
  json_t *base = load_results_file(baseline_path, "the baseline");
  if (!base)
    return -1;
  char err[512];
  if (sdq_results_check(base, baseline_path, err, sizeof err) ||
      sdq_results_check(results, results_path ? results_path : "this run's results", err,
                        sizeof err)) {
    fprintf(stderr, "sdq suite: %s\n", err);
    json_decref(base);
    return -1;
  }
  sdq_buf out = {0};
  int failures = sdq_baseline_compare(results, base, allow_better, &out, err, sizeof err);
  json_decref(base);
  if (failures < 0) {
    fprintf(stderr, "sdq suite: %s: %s\n", baseline_path, err);
    sdq_buf_free(&out);
    return -1;
  }
  printf("baseline comparison with %s:\n%s", baseline_path, out.data ? out.data : "");
  if (failures > 0) {
    printf("REGRESSION: %d metric(s) beyond tolerance:\n", failures);
    for (char *line = out.data; line && *line;) {
      char *nl = strchr(line, '\n');
      if (!strncmp(line, "FAIL", 4))
        printf("  %.*s\n", (int)(nl ? nl - line : (long)strlen(line)), line);
      line = nl ? nl + 1 : NULL;
    }
  } else {
    printf("baseline comparison passed\n");
  }
  sdq_buf_free(&out);
  return failures > 0 ? 1 : 0;
}

/* The line printed when the suite is interrupted, built before the handler
 * is installed so the handler only calls write(2) and raise(3). */
static char interrupt_message[4400];
static size_t interrupt_message_len;

/* SIGINT/SIGTERM: says where the finished stages are, then dies of the same
 * signal (SA_RESETHAND restored the default action), so the shell sees
 * the usual exit status (130 for Ctrl-C). */
static void on_interrupt(int sig) {
  ssize_t w = write(STDERR_FILENO, interrupt_message, interrupt_message_len);
  (void)w;
  raise(sig);
}

static void install_interrupt_message(const char *work_dir) {
  int n = snprintf(interrupt_message, sizeof interrupt_message,
                   "\nsdq suite: interrupted; finished stages are kept in %s; rerun the same "
                   "command to resume\n", work_dir);
  interrupt_message_len = n < 0 ? 0 : (size_t)n < sizeof interrupt_message
                                           ? (size_t)n : sizeof interrupt_message - 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    struct sigaction old;
    /* A signal the caller ignores (e.g. SIGINT of a background job) stays ignored. */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
      sigaction(sigs[i], &sa, NULL);
  }
}

/* Counts the files of the configuration folder, for the time estimates. */
static int count_configs(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL)
    n += e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0;
  if (d)
    closedir(d);
  return n;
}

/* Parses every configuration file of dir (the files step 4 evaluates:
 * regular files whose name does not start with '.' or "README") for a
 * model of n_layer blocks, so a bad file fails before any training. */
static int check_configs_dir(const char *dir, int n_layer, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "%s: cannot open the configuration folder (use --configs DIR)", dir);
    return -1;
  }
  int rc = 0, n = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !strncmp(e->d_name, "README", 6))
      continue;
    char path[4200], shown[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    sdq_bitconfig cfg = {0};
    rc = sdq_resolve_config(path, n_layer, &cfg, shown, sizeof shown, err, errlen);
    sdq_bitconfig_free(&cfg);
    n++;
  }
  closedir(d);
  if (rc == 0 && n == 0) {
    snprintf(err, errlen, "%s holds no configuration files", dir);
    rc = -1;
  }
  return rc;
}

/* Reads the embedded default's shape from data/default/config.json. */
static int load_default_config(sdq_gpt2_config *c, char *err, size_t errlen) {
  char path[1024];
  snprintf(path, sizeof path, "%s/data/default/config.json", SDQ_SOURCE_DIR);
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  if (!j) {
    snprintf(err, errlen, "%s: cannot read the default model's shape: %s (line %d)", path,
             jerr.text, jerr.line);
    return -1;
  }
  static const char *const keys[] = {"n_layer", "n_head", "n_embd", "n_ctx", "vocab_size"};
  int *fields[] = {&c->n_layer, &c->n_head, &c->n_embd, &c->n_ctx, &c->vocab_size};
  for (int i = 0; i < 5; i++) {
    json_t *v = json_object_get(j, keys[i]);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
      snprintf(err, errlen, "%s: \"%s\" is missing or not a positive integer", path, keys[i]);
      json_decref(j);
      return -1;
    }
    *fields[i] = (int)json_integer_value(v);
  }
  json_decref(j);
  return sdq_gpt2_config_validate(c, err, errlen);
}

static json_t *model_description(const sdq_suite *s) {
  char text[1024];
  if (s->model_dir) {
    snprintf(text, sizeof text, "Hugging Face GPT-2 checkpoint %s with a LoRA bank trained here.",
             s->model_dir);
    return json_pack("{s:s, s:s, s:b}", "checkpoint", s->model_dir, "description", text,
                     "is_gpt2", 1);
  }
  const sdq_gpt2_config *c = &s->prof.base;
  snprintf(text, sizeof text,
           "The embedded default: a GPT-2-architecture model with %d layers, %d heads, width %d, "
           "%d positions and GPT-2's %d-token vocabulary, initialised from seed %llu and trained "
           "from scratch here for %d steps on %s (stage 0), then given a LoRA bank of rank %d.",
           c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->vocab_size, s->prof.seed,
           s->prof.pretrain_steps, s->train_path, s->prof.lora_rank);
  return json_pack("{s:s, s:s, s:b}", "checkpoint", "embedded-default", "description", text,
                   "is_gpt2", 0);
}

int sdq_suite_main(int argc, char **argv) {
  enum { O_OUT = 256, O_QUICK, O_MODEL, O_TRAIN, O_EVAL, O_CONFIGS, O_EVALQ, O_ATTQ, O_PRE,
         O_STEPS, O_CPT, O_CYCLES, O_BATCH, O_SEED, O_ATTACKS, O_TARGETS, O_TRANSFER,
         O_NORESUME, O_BASELINE, O_BETTER, O_COMPARE, O_QUIET, O_HELP };
  static const struct option opts[] = {
      {"out", required_argument, 0, O_OUT}, {"quick", no_argument, 0, O_QUICK},
      {"model", required_argument, 0, O_MODEL}, {"train", required_argument, 0, O_TRAIN},
      {"eval", required_argument, 0, O_EVAL}, {"configs", required_argument, 0, O_CONFIGS},
      {"eval-questions", required_argument, 0, O_EVALQ},
      {"attack-questions", required_argument, 0, O_ATTQ},
      {"pretrain-steps", required_argument, 0, O_PRE},
      {"train-steps", required_argument, 0, O_STEPS}, {"cpt-steps", required_argument, 0, O_CPT},
      {"cpt-cycles", required_argument, 0, O_CYCLES}, {"batch", required_argument, 0, O_BATCH},
      {"seed", required_argument, 0, O_SEED}, {"attacks", required_argument, 0, O_ATTACKS},
      {"targets", required_argument, 0, O_TARGETS}, {"transfer", no_argument, 0, O_TRANSFER},
      {"no-resume", no_argument, 0, O_NORESUME}, {"baseline", required_argument, 0, O_BASELINE},
      {"allow-better", no_argument, 0, O_BETTER}, {"compare", required_argument, 0, O_COMPARE},
      {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};

  /* 1. Options. Profile first, so single options override it. */
  const char *profile = "default";
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--quick"))
      profile = "quick";

  sdq_suite s;
  memset(&s, 0, sizeof s);
  sdq_suite_profile_init(profile, 50257, &s.prof);
  s.out_dir = "report";
  s.resume = 1;
  s.progress = 1;
  const char *baseline = NULL, *compare = NULL, *attacks = NULL, *targets = NULL;
  int allow_better = 0, transfer = 0;
  static char train_default[4200], eval_default[4200], configs_default[4200];
  snprintf(train_default, sizeof train_default, "%s/data/default/train.json", SDQ_SOURCE_DIR);
  snprintf(eval_default, sizeof eval_default, "%s/data/default/eval.json", SDQ_SOURCE_DIR);
  snprintf(configs_default, sizeof configs_default, "%s/configs", SDQ_SOURCE_DIR);
  s.train_path = train_default;
  s.eval_path = eval_default;
  s.configs_dir = configs_default;

  long v;
  int c;
  const char *run_option = NULL; /* the first option that only a run uses */
  int li = -1;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
    if (li >= 0 && !run_option && c != O_BASELINE && c != O_BETTER && c != O_COMPARE &&
        c != O_HELP)
      run_option = opts[li].name;
    li = -1;
    switch (c) {
    case O_OUT: s.out_dir = optarg; break;
    case O_QUICK: break;
    case O_MODEL: s.model_dir = optarg; break;
    case O_TRAIN: s.train_path = optarg; break;
    case O_EVAL: s.eval_path = optarg; break;
    case O_CONFIGS: s.configs_dir = optarg; break;
    case O_EVALQ: if (parse_count("--eval-questions", optarg, 1, &v)) return 2; s.prof.eval_questions = (int)v; break;
    case O_ATTQ: if (parse_count("--attack-questions", optarg, 1, &v)) return 2; s.prof.attack_questions = (int)v; break;
    case O_PRE: if (parse_count("--pretrain-steps", optarg, 1, &v)) return 2; s.prof.pretrain_steps = (int)v; break;
    case O_STEPS: if (parse_count("--train-steps", optarg, 1, &v)) return 2; s.prof.train_steps = (int)v; break;
    case O_CPT: if (parse_count("--cpt-steps", optarg, 1, &v)) return 2; s.prof.cpt_steps = (int)v; break;
    case O_CYCLES: if (parse_count("--cpt-cycles", optarg, 1, &v)) return 2; s.prof.cpt_cycles = (int)v; break;
    case O_BATCH: if (parse_count("--batch", optarg, 1, &v)) return 2; s.prof.batch = (int)v; break;
    case O_SEED: if (parse_count("--seed", optarg, 0, &v)) return 2; s.prof.seed = (unsigned long long)v; break;
    case O_ATTACKS: attacks = optarg; break;
    case O_TARGETS: targets = optarg; break;
    case O_TRANSFER: transfer = 1; break;
    case O_NORESUME: s.resume = 0; break;
    case O_BASELINE: baseline = optarg; break;
    case O_BETTER: allow_better = 1; break;
    case O_COMPARE: compare = optarg; break;
    case O_QUIET: s.progress = 0; break;
    case O_HELP: case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sdq suite: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (attacks)
    s.prof.grid.attacks = attacks;
  if (targets)
    s.prof.grid.targets = targets;
  s.prof.grid.transfer = transfer;

  /* 2. Compare-only mode. */
  if (compare) {
    if (!baseline) {
      fprintf(stderr, "sdq suite: --compare needs --baseline FILE\n");
      return 2;
    }
    if (run_option) {
      fprintf(stderr, "sdq suite: --%s does not apply to --compare, which runs nothing and only "
              "compares two results.json files; drop it\n", run_option);
      return 2;
    }
    json_t *r = load_results_file(compare, "the --compare file");
    if (!r)
      return 1;
    int rc = compare_with_baseline(r, compare, baseline, allow_better);
    json_decref(r);
    return rc == 0 ? 0 : 1;
  }

  /* 3. Inputs: tokenizer and the two SQuAD files. */
  char err[2048], warn[512];
  int rc = 1;
  s.started = now_seconds();
  snprintf(s.work_dir, sizeof s.work_dir, "%s/work", s.out_dir);
  install_interrupt_message(s.work_dir);
  if (sdq_mkdir_p(s.work_dir, err, sizeof err) ||
      sdq_tokenizer_load(&s.tok, sdq_tokenizer_find_dir(NULL), err, sizeof err) ||
      sdq_squad_load(&s.train, s.train_path, warn, sizeof warn, err, sizeof err) ||
      sdq_squad_load(&s.eval, s.eval_path, warn, sizeof warn, err, sizeof err)) {
    fprintf(stderr, "sdq suite: %s\n", err);
    goto done;
  }
  s.prof.base.vocab_size = sdq_tokenizer_vocab_size(s.tok);
  if (!s.model_dir && load_default_config(&s.prof.base, err, sizeof err)) {
    fprintf(stderr, "sdq suite: %s\n", err);
    goto done;
  }
  /* Names and configuration files are checked before the first stage, so
   * a typo fails in seconds, not after training. */
  sdq_gpt2_config shape = s.prof.base;
  char shape_path[4200];
  snprintf(shape_path, sizeof shape_path, "%s/config.json", s.model_dir ? s.model_dir : "");
  int have_shape = !s.model_dir || sdq_read_model_config(shape_path, &shape, err, sizeof err) == 0;
  if (sdq_attack_grid_check(&s.prof.grid, err, sizeof err) ||
      (have_shape && check_configs_dir(s.configs_dir, shape.n_layer, err, sizeof err))) {
    fprintf(stderr, "sdq suite: %s\n", err);
    rc = 2;
    goto done;
  }
  if (s.progress)
    fprintf(stderr, "sdq suite: profile %s, output in %s, %zu training and %zu evaluation questions\n",
            profile, s.out_dir, s.train.n_questions, s.eval.n_questions);

  /* 4. The stages, in order. */
  s.results = json_pack("{s:s, s:s, s:o, s:{}}", "schema", "sdq-suite-results/1", "profile",
                        profile, "model", model_description(&s), "tables");
  s.stage_seconds = json_object();
  s.n_stages = 5;
  s.n_configs = count_configs(s.configs_dir);
  if (sdq_suite_stage_pretrain(&s, err, sizeof err) ||
      sdq_suite_stage_switchable(&s, err, sizeof err) ||
      sdq_suite_stage_configs(&s, err, sizeof err) || sdq_suite_stage_cpt(&s, err, sizeof err) ||
      sdq_suite_stage_attacks(&s, err, sizeof err)) {
    fprintf(stderr, "\nsdq suite: %s\n", err);
    fprintf(stderr, "sdq suite: finished stages are kept in %s; rerun to resume.\n", s.work_dir);
    goto done;
  }

  /* 5. Results document, report and metadata. */
  json_object_set_new(s.results, "data",
                      json_pack("{s:s, s:s, s:i, s:i}", "train", s.train_path, "eval", s.eval_path,
                                "eval_questions", s.prof.eval_questions, "attack_questions",
                                s.prof.attack_questions));
  json_t *meta = sdq_suite_metadata();
  json_object_set_new(meta, "seeds", json_pack("{s:I}", "seed", (json_int_t)s.prof.seed));
  json_object_set(meta, "stage_seconds", s.stage_seconds);
  json_object_set_new(meta, "wall_seconds", json_real(now_seconds() - s.started));
  json_object_set_new(s.results, "metadata", meta);
  if (sdq_results_fill_metrics(s.results, err, sizeof err) ||
      sdq_report_write(s.out_dir, s.results, err, sizeof err)) {
    fprintf(stderr, "sdq suite: %s\n", err);
    goto done;
  }
  fprintf(stderr, "\nsdq suite: done in %.0f s; report in %s/report.md\n",
          now_seconds() - s.started, s.out_dir);
  printf("%s/report.md\n", s.out_dir);
  rc = 0;

  /* 6. Baseline comparison. */
  if (baseline) {
    int b = compare_with_baseline(s.results, NULL, baseline, allow_better);
    rc = b == 0 ? 0 : 1;
  }

done:
  json_decref(s.results);
  json_decref(s.stage_seconds);
  sdq_squad_free(&s.train);
  sdq_squad_free(&s.eval);
  if (s.tok)
    sdq_tokenizer_free(s.tok);
  return rc;
}
