/* cmd_attack.c - 'sdq attack': PGD and HotFlip against the fp32_lora,
 * static_8bit and random_switch targets of a trained LoRA bank. */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"
#include "cli/commands.h"
#include "cli/suite.h"
#include "model/tokenizer.h"
#include "train/squad.h"

/* Upper bound of --eps, --step and --l2-scale, in embedding RMS units. */
#define MAX_RADIUS 1000.0

static void usage(FILE *out) {
  sdq_attack_grid d = sdq_attack_grid_defaults();
  fprintf(out,
          "usage: sdq attack --model DIR --squad FILE [options]\n\n"
          "Attacks the SQuAD prompt of a GPT-2 + LoRA-bank model and reports, per attack and\n"
          "target, clean F1, adversarial F1, their difference (adversarial - clean) and the\n"
          "success rate: the percentage of questions with clean F1 > 0 whose adversarial F1\n"
          "is lower than their clean F1. F1 is SQuAD v1.1 F1 in points (0-100).\n\n"
          "  --model DIR          Hugging Face GPT-2 folder (model.safetensors, config.json)\n"
          "  --lora DIR           LoRA bank saved by sdq train (bits4/, bits8/, fp32/, ...)\n"
          "  --squad FILE         SQuAD v1.1 JSON file with the questions to attack\n"
          "  --tokenizer DIR      GPT-2 tokenizer folder (default: $SDQ_VOCAB, else the build's)\n"
          "  --questions N        attack the first N questions (default 20)\n"
          "  --skip N             start after the first N questions (default 0)\n"
          "  --attack LIST        comma list of pgd_linf, pgd_l2, hotflip, eot_pgd_linf\n"
          "                       (default %s)\n"
          "  --target LIST        comma list of fp32_lora, static_8bit, random_switch\n"
          "                       (default %s)\n"
          "  --static-config C    bit configuration of static_8bit: a file or a shipped name\n"
          "                       such as all-8 (default: every layer at 8 bits)\n"
          "  --switch-bits LIST   random_switch precision set (default 4,6,8)\n"
          "  --eps X              PGD radius, in units of the RMS of the token-embedding\n"
          "                       entries (L-inf: per coordinate; default %.2f)\n"
          "  --step X             PGD step size, same unit (default %.2f)\n"
          "  --l2-scale X         L2 radius = X * eps * RMS * sqrt(n_embd) over the whole\n"
          "                       context perturbation (default %.1f)\n"
          "                       (eps, step and l2-scale are numbers in 0..%g: a radius\n"
          "                       of %g embedding RMS already drowns the token, and larger\n"
          "                       ones overflow float)\n"
          "  --steps N            PGD steps (default %d)\n"
          "  --no-random-start    start PGD at the clean embeddings\n"
          "  --flips K            HotFlip: at most K replaced context tokens (default %d)\n"
          "  --eot-samples S      eot_pgd_linf: gradients averaged per step (default %d)\n"
          "  --transfer           also the transfer matrix over the switch bits\n"
          "  --max-new N          generated answer tokens at most (default %d)\n"
          "  --seed N             seed of windows, random starts and precision draws,\n"
          "                       0..2^63-1 (default %llu)\n"
          "  --json FILE          write the results as JSON (default and \"-\": stdout)\n"
          "  --csv FILE           also write them as CSV (\"-\": stdout)\n"
          "  --quiet              no progress lines on stderr\n",
          d.attacks, d.targets, d.eps_rms, d.step_rms, d.l2_scale, MAX_RADIUS, MAX_RADIUS,
          d.steps, d.max_flips,
          d.eot_samples, d.max_new, d.seed);
}

static int parse_bits_list(const char *s, int *bits, int max) {
  int n = 0;
  char *end;
  while (*s && n < max) {
    long v = strtol(s, &end, 10);
    if (end == s)
      return -1;
    bits[n++] = (int)v;
    s = end + (*end == ',');
    if (*end && *end != ',')
      return -1;
  }
  return *s ? -1 : n;
}

static int parse_int(const char *opt, const char *s, long long lo, long long hi,
                     long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
    fprintf(stderr, "sdq attack: invalid %s '%s' (expected an integer in %lld..%lld)\n", opt, s,
            lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

/* A radius-like option: a number in 0..MAX_RADIUS that a float can represent (a
 * nonzero value that would round to 0 is refused, not zeroed). */
static int parse_float(const char *opt, const char *s, float *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= 0.0 && v <= MAX_RADIUS) ||
      (v > 0.0 && v < FLT_MIN)) {
    fprintf(stderr, "sdq attack: invalid %s '%s' (expected a number in 0..%g, and 0 or at "
                    "least %g so that a float can represent it)\n", opt, s, MAX_RADIUS, (double)FLT_MIN);
    return -1;
  }
  *out = (float)v;
  return 0;
}

int sdq_cmd_attack(int argc, char **argv) {
  enum { O_MODEL = 256, O_LORA, O_SQUAD, O_TOK, O_QUESTIONS, O_SKIP, O_ATTACK, O_TARGET,
         O_STATIC, O_SWITCH, O_EPS, O_STEP, O_L2, O_STEPS, O_NORS, O_FLIPS, O_EOT, O_TRANSFER,
         O_MAXNEW, O_SEED, O_JSON, O_CSV, O_QUIET, O_HELP };
  static const struct option opts[] = {
      {"model", required_argument, 0, O_MODEL}, {"lora", required_argument, 0, O_LORA},
      {"squad", required_argument, 0, O_SQUAD}, {"tokenizer", required_argument, 0, O_TOK},
      {"questions", required_argument, 0, O_QUESTIONS}, {"skip", required_argument, 0, O_SKIP},
      {"attack", required_argument, 0, O_ATTACK}, {"target", required_argument, 0, O_TARGET},
      {"static-config", required_argument, 0, O_STATIC},
      {"switch-bits", required_argument, 0, O_SWITCH}, {"eps", required_argument, 0, O_EPS},
      {"step", required_argument, 0, O_STEP}, {"l2-scale", required_argument, 0, O_L2},
      {"steps", required_argument, 0, O_STEPS}, {"no-random-start", no_argument, 0, O_NORS},
      {"flips", required_argument, 0, O_FLIPS}, {"eot-samples", required_argument, 0, O_EOT},
      {"transfer", no_argument, 0, O_TRANSFER}, {"max-new", required_argument, 0, O_MAXNEW},
      {"seed", required_argument, 0, O_SEED}, {"json", required_argument, 0, O_JSON},
      {"csv", required_argument, 0, O_CSV}, {"quiet", no_argument, 0, O_QUIET},
      {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};

  sdq_attack_grid g = sdq_attack_grid_defaults();
  const char *model_dir = NULL, *lora_dir = NULL, *squad_path = NULL, *tok_dir = NULL;
  const char *json_path = NULL, *csv_path = NULL;
  long long n_questions = 20, skip = 0, v;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_MODEL: model_dir = optarg; break;
    case O_LORA: lora_dir = optarg; break;
    case O_SQUAD: squad_path = optarg; break;
    case O_TOK: tok_dir = optarg; break;
    case O_QUESTIONS: if (parse_int("--questions", optarg, 1, 1000000, &n_questions)) return 2; break;
    case O_SKIP: if (parse_int("--skip", optarg, 0, 100000000, &skip)) return 2; break;
    case O_ATTACK: g.attacks = optarg; break;
    case O_TARGET: g.targets = optarg; break;
    case O_STATIC: g.static_config = optarg; break;
    case O_SWITCH:
      g.n_switch = parse_bits_list(optarg, g.switch_bits, 8);
      if (g.n_switch < 1) {
        fprintf(stderr, "sdq attack: invalid --switch-bits '%s' (expected e.g. 4,6,8)\n", optarg);
        return 2;
      }
      break;
    case O_EPS: if (parse_float("--eps", optarg, &g.eps_rms)) return 2; break;
    case O_STEP: if (parse_float("--step", optarg, &g.step_rms)) return 2; break;
    case O_L2: if (parse_float("--l2-scale", optarg, &g.l2_scale)) return 2; break;
    case O_STEPS: if (parse_int("--steps", optarg, 0, 100000, &v)) return 2; g.steps = (int)v; break;
    case O_NORS: g.random_start = 0; break;
    case O_FLIPS: if (parse_int("--flips", optarg, 0, 100000, &v)) return 2; g.max_flips = (int)v; break;
    case O_EOT: if (parse_int("--eot-samples", optarg, 1, 1000, &v)) return 2; g.eot_samples = (int)v; break;
    case O_TRANSFER: g.transfer = 1; break;
    case O_MAXNEW: if (parse_int("--max-new", optarg, 1, 1000, &v)) return 2; g.max_new = (int)v; break;
    case O_SEED: if (parse_int("--seed", optarg, 0, INT64_MAX, &v)) return 2; g.seed = (unsigned long long)v; break;
    case O_JSON: json_path = optarg; break;
    case O_CSV: csv_path = optarg; break;
    case O_QUIET: g.progress = 0; break;
    case O_HELP: case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !model_dir || !squad_path) {
    fprintf(stderr, "sdq attack: %s\n", optind < argc ? "unexpected argument" : "--model and --squad are required");
    usage(stderr);
    return 2;
  }

  char err[1024], warn[256];
  if (sdq_attack_grid_check(&g, err, sizeof err)) {
    fprintf(stderr, "sdq attack: %s\n", err);
    return 2;
  }

  /* 1. Model, LoRA bank, tokenizer, questions. */
  sdq_squad sq = {0};
  sdq_tokenizer *tok = NULL;
  sdq_gpt2 *m = sdq_gpt2_load_hf(model_dir, g.seed, err, sizeof err);
  int rc = 1;
  json_t *doc = NULL;
  size_t *qs = NULL;
  if (!m || (lora_dir && sdq_lora_load(m, lora_dir, err, sizeof err)) ||
      sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(tok_dir), err, sizeof err) ||
      sdq_squad_load(&sq, squad_path, warn, sizeof warn, err, sizeof err)) {
    fprintf(stderr, "sdq attack: %s\n", err);
    goto done;
  }
  if (g.max_new >= m->cfg.n_ctx) {
    fprintf(stderr, "sdq attack: --max-new %d leaves no room for a prompt: need max-new < "
            "n_ctx (%d)\n", g.max_new, m->cfg.n_ctx);
    rc = 2;
    goto done;
  }
  if (sdq_attack_grid_check_bank(&g, m, lora_dir, err, sizeof err)) {
    fprintf(stderr, "sdq attack: %s\n", err);
    rc = 2;
    goto done;
  }
  if ((size_t)skip >= sq.n_questions) {
    fprintf(stderr, "sdq attack: --skip %lld leaves no question of the %zu in %s\n", skip,
            sq.n_questions, squad_path);
    rc = 2;
    goto done;
  }
  size_t n_q = sq.n_questions - (size_t)skip < (size_t)n_questions ? sq.n_questions - (size_t)skip
                                                                     : (size_t)n_questions;
  qs = malloc(sizeof *qs * n_q);
  if (!qs) {
    fprintf(stderr, "sdq attack: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n_q; i++)
    qs[i] = (size_t)skip + i;

  /* 2. The grid. */
  json_t *rows = json_array(), *transfer = json_array();
  doc = json_pack("{s:s, s:s?, s:s, s:o, s:o, s:o}", "model", model_dir, "lora", lora_dir,
                  "squad", squad_path, "options", sdq_attack_grid_options(&g), "attacks", rows,
                  "transfer", transfer);
  if (sdq_attack_grid_run(m, tok, &sq, qs, n_q, &g, rows, transfer, err, sizeof err)) {
    fprintf(stderr, "sdq attack: %s\n", err);
    goto done;
  }
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *row = json_array_get(rows, i);
    if (json_integer_value(json_object_get(row, "questions")) > 0)
      continue;
    fprintf(stderr, "sdq attack: %s against %s: every one of the %zu questions was skipped, "
            "so nothing was attacked: no prompt (question, cues, a context window holding the "
            "answer) fits n_ctx (%d) minus --max-new %d tokens; lower --max-new\n",
            json_string_value(json_object_get(row, "attack")),
            json_string_value(json_object_get(row, "target")), n_q, m->cfg.n_ctx, g.max_new);
    goto done;
  }

  /* 3. Output: JSON (stdout or file) and optional CSV. */
  if (json_path) {
    if (sdq_json_write_file(json_path, doc, err, sizeof err)) {
      fprintf(stderr, "sdq attack: %s\n", err);
      goto done;
    }
  } else {
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
  }
  if (csv_path) {
    sdq_buf b = {0};
    sdq_attacks_csv(&b, rows);
    if (b.failed)
      snprintf(err, sizeof err, "%s: out of memory building the CSV", csv_path);
    int w = b.failed ? -1 : sdq_write_file_atomic(csv_path, b.data, b.len, err, sizeof err);
    sdq_buf_free(&b);
    if (w) {
      fprintf(stderr, "sdq attack: %s\n", err);
      goto done;
    }
  }
  rc = 0;

done:
  json_decref(doc);
  free(qs);
  sdq_squad_free(&sq);
  if (tok)
    sdq_tokenizer_free(tok);
  if (m)
    sdq_gpt2_free(m);
  return rc;
}
