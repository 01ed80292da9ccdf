/* cmd_eval.c - 'sdq eval': SQuAD EM/F1 of a model under one or more bit
 * configurations, with official-format predictions and a JSON summary. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/tokenizer.h"
#include "train/evaluate.h"
#include "train/files.h"
#include "train/setup.h"

#define MAX_EVAL_CONFIGS 64

static void usage(FILE *out) {
  fprintf(out,
"usage: sdq eval --model PATH [--lora DIR] [OPTIONS]\n\n"
"Answers SQuAD questions greedily under each bit configuration and prints EM\n"
"and F1 (official v1.1 definitions, 0-100) with the average weight bits.\n\n"
"  --model PATH      HF GPT-2 checkpoint (folder or .safetensors), required\n"
"  --lora DIR        LoRA bank written by 'sdq train' (DIR/lora); without it\n"
"                    the base model runs alone\n"
"  --data FILE       SQuAD v1.1 file (default data/default/eval.json)\n"
"  --config C        configuration: bits (2..8, 16, 32, fp32), a file, or a\n"
"                    shipped name such as all-4 (repeatable; default fp32); a\n"
"                    path that exists is read as a file, else the name is looked\n"
"                    up among the shipped ones\n"
"  --bits LIST       shorthand for one uniform configuration per bits, e.g. 2,4,8\n"
"  --limit N         evaluate the first N selected questions only\n"
"  --ids FILE        evaluate the question ids listed in FILE (one per line,\n"
"                    each once; '#' comments and blank lines are skipped)\n"
"  --max-len N       prompt + answer tokens (default: n_ctx of the model)\n"
"  --max-new N       answer tokens generated at most (default 24)\n"
"  --out DIR         write DIR/predictions-NAME.json per configuration and\n"
"                    DIR/eval.json (summary)\n"
"  --tokenizer DIR   encoder.json + vocab.bpe\n"
"  --quiet           no progress on stderr\n\n"
"The context window keeps the first context tokens that fit (max-len minus the\n"
"question, the cues and max-new); 'cut' counts questions whose gold answers\n"
"all lie outside it. 'avg bits' is the mean over linear layers, 'weighted' the\n"
"mean weighted by weight count. 16 bits run at full precision exactly like 32\n"
"(row '16bit'), counted as 16 bits in the averages. The configurations of one\n"
"run must differ in name and in bits. EM/F1 are over the evaluated questions, so\n"
"'sdq score' gives the same numbers on the full file when nothing is limited.\n");
}

enum { OPT_MODEL = 256, OPT_LORA, OPT_DATA, OPT_CONFIG, OPT_BITS, OPT_LIMIT, OPT_IDS,
       OPT_MAX_LEN, OPT_MAX_NEW, OPT_OUT, OPT_TOKENIZER, OPT_QUIET, OPT_HELP };

static const struct option long_opts[] = {
    {"model", required_argument, 0, OPT_MODEL},   {"lora", required_argument, 0, OPT_LORA},
    {"data", required_argument, 0, OPT_DATA},     {"config", required_argument, 0, OPT_CONFIG},
    {"bits", required_argument, 0, OPT_BITS},     {"limit", required_argument, 0, OPT_LIMIT},
    {"ids", required_argument, 0, OPT_IDS},       {"max-len", required_argument, 0, OPT_MAX_LEN},
    {"max-new", required_argument, 0, OPT_MAX_NEW}, {"out", required_argument, 0, OPT_OUT},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER}, {"quiet", no_argument, 0, OPT_QUIET},
    {"help", no_argument, 0, OPT_HELP},           {0, 0, 0, 0}};

/* Parses an integer option in 1..hi; prints the error itself. */
static int positive(const char *opt, const char *s, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < 1 || v > hi) {
    fprintf(stderr, "sdq eval: --%s must be an integer in 1..%ld (got '%s')\n", opt, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* Checks that the LoRA bank loaded from dir has an adapter for the weight
 * bits of every layer of cfg (given as arg). Returns 0 or -1 with a message
 * listing the bits the bank serves. */
static int lora_serves(const sdq_gpt2 *m, const sdq_bitconfig *cfg, const char *arg,
                       const char *dir, char *err, size_t errlen) {
  for (int i = 0; i < cfg->n_layer * SDQ_LIN_COUNT; i++) {
    int bits = cfg->layers[i].w_bits;
    if (sdq_lora_set_index(&m->lora, bits) >= 0)
      continue;
    char have[128] = "";
    size_t used = 0;
    for (int k = 0; k < m->lora.cfg.n_sets && used < sizeof have; k++) {
      int b = m->lora.cfg.bits[k];
      used += (size_t)snprintf(have + used, sizeof have - used, b == 32 ? "%sfp32" : "%s%d",
                               k ? ", " : "", b);
    }
    snprintf(err, errlen, "configuration '%s' runs transformer.h.%d.%s at %d bits, but the "
             "adapters in %s serve only %s; evaluate those bits, or train adapters that "
             "include %d bits", arg, i / SDQ_LIN_COUNT,
             sdq_linear_name((sdq_linear)(i % SDQ_LIN_COUNT)), bits, dir, have, bits);
    return -1;
  }
  return 0;
}

/* Checks the paths that --out DIR receives (DIR, DIR/predictions-NAME.json
 * per configuration, DIR/eval.json), so a bad one fails before the first
 * question rather than after the whole evaluation. */
static int check_outputs(const char *dir, char *const *names, int n, char *err,
                         size_t errlen) {
  char path[4400];
  if (sdq_check_output_folder(dir, "--out", err, errlen))
    return -1;
  for (int i = 0; i <= n; i++) {
    int len = i < n ? snprintf(path, sizeof path, "%s/predictions-%s.json", dir, names[i])
                    : snprintf(path, sizeof path, "%s/eval.json", dir);
    if (len < 0 || (size_t)len >= sizeof path) {
      snprintf(err, errlen, "%.200s...: output path too long", path);
      return -1;
    }
    if (sdq_check_output_file(path, "--out", err, errlen))
      return -1;
  }
  return 0;
}

int sdq_cmd_eval(int argc, char **argv) {
  const char *model_path = NULL, *lora = NULL, *data_path = NULL, *ids = NULL, *out = NULL;
  const char *tokdir = NULL;
  const char *configs[MAX_EVAL_CONFIGS];
  int n_configs = 0, progress = 1;
  long limit = 0, max_len = 0, max_new = 24;
  char err[2048], data_default[4096];

  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
    switch (c) {
    case OPT_MODEL: model_path = optarg; break;
    case OPT_LORA: lora = optarg; break;
    case OPT_DATA: data_path = optarg; break;
    case OPT_CONFIG:
    case OPT_BITS:
      if (c == OPT_CONFIG && n_configs < MAX_EVAL_CONFIGS) {
        configs[n_configs++] = optarg;
        break;
      }
      if (c == OPT_BITS) {
        /* Each list entry becomes one configuration argument. */
        int bits[MAX_EVAL_CONFIGS];
        int n = sdq_parse_bits_list(optarg, bits, MAX_EVAL_CONFIGS, err, sizeof err);
        if (n < 0) {
          fprintf(stderr, "sdq eval: --bits: %s\n", err);
          return 2;
        }
        for (int i = 0; i < n && n_configs < MAX_EVAL_CONFIGS; i++) {
          static char buf[MAX_EVAL_CONFIGS][8];
          snprintf(buf[n_configs], sizeof buf[0], "%d", bits[i]);
          configs[n_configs] = buf[n_configs];
          n_configs++;
        }
        break;
      }
      fprintf(stderr, "sdq eval: at most %d configurations per run\n", MAX_EVAL_CONFIGS);
      return 2;
    case OPT_LIMIT: if (positive("limit", optarg, 100000000L, &limit)) return 2; break;
    case OPT_IDS: ids = optarg; break;
    case OPT_MAX_LEN: if (positive("max-len", optarg, 1000000L, &max_len)) return 2; break;
    case OPT_MAX_NEW: if (positive("max-new", optarg, 1000000L, &max_new)) return 2; break;
    case OPT_OUT: out = optarg; break;
    case OPT_TOKENIZER: tokdir = optarg; break;
    case OPT_QUIET: progress = 0; break;
    case OPT_HELP:
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !model_path) {
    fprintf(stderr, optind < argc ? "sdq eval: unexpected argument '%s'\n"
                                  : "sdq eval: --model PATH is required%s\n",
            optind < argc ? argv[optind] : "");
    return 2;
  }
  if (n_configs == 0)
    configs[n_configs++] = "fp32";
  if (!data_path)
    data_path = sdq_default_data_path("default/eval.json", data_default, sizeof data_default);

  int status = 1;
  sdq_squad sq;
  memset(&sq, 0, sizeof sq);
  sdq_tokenizer *tok = NULL;
  sdq_gpt2 *m = NULL;
  size_t *subset = NULL, n = 0;
  json_t *summary = json_object(), *results = json_array();
  char warning[512];
  sdq_bitconfig cfgs[MAX_EVAL_CONFIGS];
  static char name_buf[MAX_EVAL_CONFIGS][256];
  char *names[MAX_EVAL_CONFIGS];
  int n_cfgs = 0; /* cfgs[0 .. n_cfgs-1] are resolved */

  /* 1. Data, tokenizer, model, adapters. */
  if (sdq_squad_load(&sq, data_path, warning, sizeof warning, err, sizeof err))
    goto fail;
  if (warning[0])
    fprintf(stderr, "sdq eval: warning: %s\n", warning);
  fprintf(stderr, "sdq eval: %s: %zu articles, %zu paragraphs, %zu questions\n", data_path,
          sq.n_articles, sq.n_paragraphs, sq.n_questions);
  if (!(subset = sdq_select_questions(&sq, ids, limit, &n, err, sizeof err)) ||
      sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(tokdir), err, sizeof err) ||
      !(m = sdq_gpt2_load_hf(model_path, 1, err, sizeof err)) ||
      (lora && sdq_lora_load(m, lora, err, sizeof err)))
    goto fail;
  sdq_eval_options opt = {max_len ? (int)max_len : m->cfg.n_ctx, (int)max_new, progress};
  if (opt.max_len > m->cfg.n_ctx) {
    snprintf(err, sizeof err, "--max-len %d > n_ctx (%d): the model has no position beyond its "
             "context; give --max-len %d or less", opt.max_len, m->cfg.n_ctx, m->cfg.n_ctx);
    status = 2;
    goto fail;
  }
  if (opt.max_new >= opt.max_len) {
    snprintf(err, sizeof err, "--max-len %d and --max-new %d leave no room for a prompt: "
             "need max-new < max-len <= n_ctx (%d)", opt.max_len, opt.max_new, m->cfg.n_ctx);
    status = 2;
    goto fail;
  }

  /* Every configuration is resolved and checked (distinct, served by the
   * LoRA bank) before the first evaluation starts. */
  for (; n_cfgs < n_configs; n_cfgs++) {
    int i = n_cfgs;
    names[i] = name_buf[i];
    if (sdq_resolve_config(configs[i], m->cfg.n_layer, &cfgs[i], name_buf[i],
                           sizeof name_buf[i], err, sizeof err))
      goto fail;
    if ((lora && lora_serves(m, &cfgs[i], configs[i], lora, err, sizeof err)) ||
        sdq_gpt2_set_bits(m, &cfgs[i], err, sizeof err)) {
      sdq_bitconfig_free(&cfgs[i]);
      goto fail;
    }
  }
  if (sdq_check_distinct_configs(cfgs, names, configs, n_configs, err, sizeof err))
    goto fail;
  if (out && (check_outputs(out, names, n_configs, err, sizeof err) ||
              sdq_mkdir_p(out, err, sizeof err)))
    goto fail;

  printf("%-24s %8s %8s %9s %9s %6s %8s\n", "config", "EM", "F1", "avg bits", "weighted",
         "cut", "seconds");

  /* 2. One evaluation per configuration. */
  for (int i = 0; i < n_configs; i++) {
    const char *name = names[i];
    double plain = 0, weighted = 0;
    sdq_bitconfig_average_bits(&cfgs[i], m->cfg.n_embd, &plain, &weighted);
    if (sdq_gpt2_set_bits(m, &cfgs[i], err, sizeof err))
      goto fail;

    sdq_eval_result res;
    if (progress)
      fprintf(stderr, "sdq eval: %s on %zu questions\n", name, n);
    if (sdq_evaluate(m, tok, &sq, subset, n, &opt, &res, err, sizeof err))
      goto fail;
    if (res.n_skipped > 0)
      fprintf(stderr, "sdq eval: %s: %zu of %zu questions skipped (the prompt did not fit "
              "--max-len %d with --max-new %d)\n", name, res.n_skipped, n, opt.max_len,
              opt.max_new);
    if (res.n_skipped == n) {
      sdq_eval_result_free(&res);
      snprintf(err, sizeof err, "%s: every question was skipped, so there is no score; raise "
               "--max-len or lower --max-new", name);
      goto fail;
    }
    printf("%-24s %8.2f %8.2f %9.3f %9.3f %6zu %8.1f\n", name, res.exact_match, res.f1, plain,
           weighted, res.n_cut, res.seconds);
    fflush(stdout);

    json_t *r = json_object();
    json_object_set_new(r, "name", json_string(name));
    json_object_set_new(r, "config", json_string(configs[i]));
    json_object_set_new(r, "exact_match", json_real(res.exact_match));
    json_object_set_new(r, "f1", json_real(res.f1));
    json_object_set_new(r, "avg_bits", json_real(plain));
    json_object_set_new(r, "avg_bits_weighted", json_real(weighted));
    json_object_set_new(r, "n_questions", json_integer((json_int_t)res.n_questions));
    json_object_set_new(r, "answers_cut", json_integer((json_int_t)res.n_cut));
    json_object_set_new(r, "skipped", json_integer((json_int_t)res.n_skipped));
    json_object_set_new(r, "seconds", json_real(res.seconds));
    if (out) {
      char path[4096];
      snprintf(path, sizeof path, "%s/predictions-%s.json", out, name);
      if (sdq_write_predictions(path, &sq, subset, n, res.predictions, err, sizeof err)) {
        sdq_eval_result_free(&res);
        json_decref(r);
        goto fail;
      }
      json_object_set_new(r, "predictions", json_string(path));
    }
    json_array_append_new(results, r);
    sdq_eval_result_free(&res);
  }

  /* 3. Summary. */
  json_object_set_new(summary, "data", json_string(data_path));
  json_object_set_new(summary, "model", json_string(model_path));
  json_object_set_new(summary, "lora", lora ? json_string(lora) : json_null());
  json_object_set_new(summary, "n_questions", json_integer((json_int_t)n));
  json_object_set_new(summary, "max_len", json_integer(opt.max_len));
  json_object_set_new(summary, "max_new", json_integer(opt.max_new));
  json_object_set(summary, "results", results);
  if (out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/eval.json", out);
    if (sdq_json_write_file(path, summary, err, sizeof err))
      goto fail;
  }
  status = 0;
  goto done;

fail:
  fprintf(stderr, "sdq eval: %s\n", err);
done:
  for (int i = 0; i < n_cfgs; i++)
    sdq_bitconfig_free(&cfgs[i]);
  json_decref(results);
  json_decref(summary);
  free(subset);
  sdq_gpt2_free(m);
  sdq_tokenizer_free(tok);
  sdq_squad_free(&sq);
  return status;
}
