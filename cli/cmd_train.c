/* cmd_train.c - 'sdq train': switchable-precision LoRA training
 * (--schedule static|random|cpt, --joint, --distill) and full-parameter fp32
 * training of a small base model (--train-base). */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/tokenizer.h"
#include "train/files.h"
#include "train/setup.h"
#include "train/trainer.h"

static void usage(FILE *out) {
  fprintf(out,
"usage: sdq train --out DIR [OPTIONS]\n\n"
"Trains the LoRA bank of a GPT-2 model on SQuAD prompts (or, with --train-base,\n"
"every base weight in fp32) and writes DIR/lora/ (PEFT layout, one folder per\n"
"bits) or DIR/base/ (HF safetensors), DIR/train.json (summary) and\n"
"DIR/checkpoint.safetensors.\n\n"
"model and data:\n"
"  --model PATH         HF GPT-2 checkpoint (folder or .safetensors); required\n"
"                       unless --init or --train-base starts from a random init\n"
"  --init CONFIG.json   start from a random GPT-2 init of this shape instead\n"
"                       (default for --train-base: data/default/config.json)\n"
"  --data FILE          SQuAD v1.1 training file (default data/default/train.json)\n"
"  --tokenizer DIR      encoder.json + vocab.bpe (default: see sdq tokenize)\n"
"  --out DIR            output folder (required)\n\n"
"precision schedule:\n"
"  --schedule KIND      static (default), random or cpt\n"
"  --bits LIST          uniform bit widths, e.g. 8 (static) or 4,6,8 (random);\n"
"                       2..8, 16, 32 or fp32\n"
"  --config C           a configuration file or shipped name (repeatable; static\n"
"                       uses the first, random draws among all, cpt keeps it for\n"
"                       the layers that do not cycle)\n"
"  --cpt-low B          cpt: lowest bits (default 4)\n"
"  --cpt-high B         cpt: highest bits (default 8)\n"
"  --cpt-cycles N       cpt: cosine cycles over the run (default 2)\n"
"  --cpt-layers PATS    cpt: comma-separated layer patterns that cycle\n"
"                       (default '*': every linear layer)\n"
"                       A layer at b bits trains its b-bit adapter, so cpt\n"
"                       creates an adapter for every whole bits in low..high.\n"
"  --joint              every step runs all configurations of the schedule and\n"
"                       sums their losses\n"
"  --distill            with --joint: the highest-precision configuration (most\n"
"                       parameter-weighted weight bits) runs first on the plain\n"
"                       loss and is the teacher of the others, which train on\n"
"                       (1-A) CE + A T^2 KL(teacher_T || student_T)\n"
"  --distill-alpha A    weight A of the KL term, 0..1 (default 0.5)\n"
"  --distill-temp T     temperature T of both softmaxes, 0.001..100 (default 2)\n\n"
"optimisation:\n"
"  --steps N            optimizer steps (default 200)\n"
"  --batch N            examples per micro-batch (default 8)\n"
"  --accum N            micro-batches per step (default 1)\n"
"  --max-len N          tokens per example (default: n_ctx of the model)\n"
"  --lr X               peak learning rate (default 1e-3)\n"
"  --warmup N           warm-up steps (default steps/20)\n"
"  --min-lr-ratio X     cosine floor as a fraction of --lr (default 0.1)\n"
"  --weight-decay X     AdamW decoupled weight decay (default 0)\n"
"  --grad-clip X        max global gradient L2 norm, 0 = off (default 1)\n"
"  --loss all|answer    loss on every next token or on the answer only\n"
"                       (default answer, also with --train-base: it needs the\n"
"                       LM head at the answer positions only)\n"
"  --rank R             LoRA rank (default 8)\n"
"  --alpha A            LoRA alpha (default 16)\n"
"  --dropout P          LoRA dropout (default 0)\n"
"  --train-base         full-parameter fp32 training of the base model, no LoRA\n"
"  --seed N             seed of init, data order and draws (default 1)\n\n"
"checkpoints:\n"
"  --checkpoint-every N steps between checkpoints (default 50; 0 = at the end)\n"
"  --resume             continue from DIR/checkpoint.safetensors\n"
"  --stop-after N       stop after step N as if killed (tests)\n"
"  --quiet              no progress bar\n");
}

enum {
  OPT_MODEL = 256, OPT_INIT, OPT_DATA, OPT_TOKENIZER, OPT_OUT, OPT_SCHEDULE, OPT_BITS,
  OPT_CONFIG, OPT_CPT_LOW, OPT_CPT_HIGH, OPT_CPT_CYCLES, OPT_CPT_LAYERS, OPT_JOINT,
  OPT_DISTILL, OPT_DISTILL_ALPHA, OPT_DISTILL_TEMP, OPT_STEPS, OPT_BATCH, OPT_ACCUM, OPT_MAX_LEN, OPT_LR, OPT_WARMUP, OPT_MIN_LR,
  OPT_WD, OPT_CLIP, OPT_LOSS, OPT_RANK, OPT_ALPHA, OPT_DROPOUT, OPT_TRAIN_BASE, OPT_SEED,
  OPT_CKPT, OPT_RESUME, OPT_STOP, OPT_QUIET, OPT_HELP
};

static const struct option long_opts[] = {
    {"model", required_argument, 0, OPT_MODEL},
    {"init", required_argument, 0, OPT_INIT},
    {"data", required_argument, 0, OPT_DATA},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER},
    {"out", required_argument, 0, OPT_OUT},
    {"schedule", required_argument, 0, OPT_SCHEDULE},
    {"bits", required_argument, 0, OPT_BITS},
    {"config", required_argument, 0, OPT_CONFIG},
    {"cpt-low", required_argument, 0, OPT_CPT_LOW},
    {"cpt-high", required_argument, 0, OPT_CPT_HIGH},
    {"cpt-cycles", required_argument, 0, OPT_CPT_CYCLES},
    {"cpt-layers", required_argument, 0, OPT_CPT_LAYERS},
    {"joint", no_argument, 0, OPT_JOINT},
    {"distill", no_argument, 0, OPT_DISTILL},
    {"distill-alpha", required_argument, 0, OPT_DISTILL_ALPHA},
    {"distill-temp", required_argument, 0, OPT_DISTILL_TEMP},
    {"steps", required_argument, 0, OPT_STEPS},
    {"batch", required_argument, 0, OPT_BATCH},
    {"accum", required_argument, 0, OPT_ACCUM},
    {"max-len", required_argument, 0, OPT_MAX_LEN},
    {"lr", required_argument, 0, OPT_LR},
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"min-lr-ratio", required_argument, 0, OPT_MIN_LR},
    {"weight-decay", required_argument, 0, OPT_WD},
    {"grad-clip", required_argument, 0, OPT_CLIP},
    {"loss", required_argument, 0, OPT_LOSS},
    {"rank", required_argument, 0, OPT_RANK},
    {"alpha", required_argument, 0, OPT_ALPHA},
    {"dropout", required_argument, 0, OPT_DROPOUT},
    {"train-base", no_argument, 0, OPT_TRAIN_BASE},
    {"seed", required_argument, 0, OPT_SEED},
    {"checkpoint-every", required_argument, 0, OPT_CKPT},
    {"resume", no_argument, 0, OPT_RESUME},
    {"stop-after", required_argument, 0, OPT_STOP},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0}};

/* Parses an integer or real option value; prints the error itself. */
static int int_arg(const char *opt, const char *s, long lo, long hi, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "sdq train: --%s must be an integer in %ld..%ld (got '%s')\n", opt, lo, hi,
            s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int float_arg(const char *opt, const char *s, double lo, double hi, float *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "sdq train: --%s must be a number in %g..%g (got '%s')\n", opt, lo, hi, s);
    return -1;
  }
  *out = (float)v;
  return 0;
}

#define MAX_CONFIG_ARGS SDQ_SCHEDULE_MAX_OPTIONS

typedef struct train_args {
  const char *model, *init, *data, *tokenizer, *out, *bits, *cpt_layers;
  const char *configs[MAX_CONFIG_ARGS];
  int n_configs;
  sdq_schedule_kind kind;
  int cpt_low, cpt_high, cpt_cycles, rank, warmup, loss_set, distill_set;
  float alpha, dropout;
  sdq_train_options opt;
} train_args;

static int parse_args(int argc, char **argv, train_args *a) {
  memset(a, 0, sizeof *a);
  a->opt = sdq_train_defaults();
  a->opt.steps = 200;
  a->opt.batch_size = 8;
  a->opt.max_len = 0;
  a->opt.adamw.lr = 0.0f;
  a->cpt_low = 4, a->cpt_high = 8, a->cpt_cycles = 2;
  a->rank = 8, a->alpha = 16.0f, a->warmup = -1;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
    int rc = 0;
    long seed;
    char *end;
    switch (c) {
    case OPT_MODEL: a->model = optarg; break;
    case OPT_INIT: a->init = optarg; break;
    case OPT_DATA: a->data = optarg; break;
    case OPT_TOKENIZER: a->tokenizer = optarg; break;
    case OPT_OUT: a->out = optarg; break;
    case OPT_SCHEDULE:
      if (sdq_schedule_kind_parse(optarg, &a->kind)) {
        fprintf(stderr, "sdq train: --schedule must be static, random or cpt (got '%s')\n",
                optarg);
        return 2;
      }
      break;
    case OPT_BITS: a->bits = optarg; break;
    case OPT_CONFIG:
      if (a->n_configs >= MAX_CONFIG_ARGS) {
        fprintf(stderr, "sdq train: at most %d --config options\n", MAX_CONFIG_ARGS);
        return 2;
      }
      a->configs[a->n_configs++] = optarg;
      break;
    case OPT_CPT_LOW: rc = int_arg("cpt-low", optarg, 2, 8, &a->cpt_low); break;
    case OPT_CPT_HIGH: rc = int_arg("cpt-high", optarg, 2, 8, &a->cpt_high); break;
    case OPT_CPT_CYCLES: rc = int_arg("cpt-cycles", optarg, 1, 1000000, &a->cpt_cycles); break;
    case OPT_CPT_LAYERS: a->cpt_layers = optarg; break;
    case OPT_JOINT: a->opt.joint = 1; break;
    case OPT_DISTILL: a->opt.distill = 1; break;
    case OPT_DISTILL_ALPHA:
      rc = float_arg("distill-alpha", optarg, 0.0, 1.0, &a->opt.distill_alpha);
      a->distill_set = 1;
      break;
    case OPT_DISTILL_TEMP:
      rc = float_arg("distill-temp", optarg, 1e-3, 100.0, &a->opt.distill_temp);
      a->distill_set = 1;
      break;
    case OPT_STEPS: rc = int_arg("steps", optarg, 1, 100000000, &a->opt.steps); break;
    case OPT_BATCH: rc = int_arg("batch", optarg, 1, 4096, &a->opt.batch_size); break;
    case OPT_ACCUM: rc = int_arg("accum", optarg, 1, 4096, &a->opt.grad_accum); break;
    case OPT_MAX_LEN: rc = int_arg("max-len", optarg, 2, 1 << 20, &a->opt.max_len); break;
    case OPT_LR: rc = float_arg("lr", optarg, 0.0, 10.0, &a->opt.adamw.lr); break;
    case OPT_WARMUP: rc = int_arg("warmup", optarg, 0, 100000000, &a->warmup); break;
    case OPT_MIN_LR: rc = float_arg("min-lr-ratio", optarg, 0.0, 1.0, &a->opt.adamw.min_lr_ratio); break;
    case OPT_WD: rc = float_arg("weight-decay", optarg, 0.0, 10.0, &a->opt.adamw.weight_decay); break;
    case OPT_CLIP: rc = float_arg("grad-clip", optarg, 0.0, 1e9, &a->opt.adamw.grad_clip); break;
    case OPT_LOSS:
      if (strcmp(optarg, "all") && strcmp(optarg, "answer")) {
        fprintf(stderr, "sdq train: --loss must be all or answer (got '%s')\n", optarg);
        return 2;
      }
      a->opt.loss_all = !strcmp(optarg, "all");
      a->loss_set = 1;
      break;
    case OPT_RANK: rc = int_arg("rank", optarg, 1, 4096, &a->rank); break;
    case OPT_ALPHA: rc = float_arg("alpha", optarg, 0.0, 1e6, &a->alpha); break;
    case OPT_DROPOUT: rc = float_arg("dropout", optarg, 0.0, 0.99, &a->dropout); break;
    case OPT_TRAIN_BASE: a->opt.train_base = 1; break;
    case OPT_SEED:
      seed = strtol(optarg, &end, 10);
      if (end == optarg || *end || seed < 0) {
        fprintf(stderr, "sdq train: --seed must be a non-negative integer (got '%s')\n", optarg);
        return 2;
      }
      a->opt.seed = (uint64_t)seed;
      break;
    case OPT_CKPT: rc = int_arg("checkpoint-every", optarg, 0, 100000000, &a->opt.checkpoint_every); break;
    case OPT_RESUME: a->opt.resume = 1; break;
    case OPT_STOP: rc = int_arg("stop-after", optarg, 1, 100000000, &a->opt.stop_after); break;
    case OPT_QUIET: a->opt.progress = 0; break;
    case OPT_HELP:
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    if (rc)
      return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "sdq train: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!a->out) {
    fprintf(stderr, "sdq train: --out DIR is required\n");
    return 2;
  }
  if (a->distill_set && !a->opt.distill) {
    fprintf(stderr, "sdq train: --distill-alpha and --distill-temp need --distill\n");
    return 2;
  }
  if (a->opt.distill && (!a->opt.joint || a->kind != SDQ_SCHEDULE_RANDOM)) {
    fprintf(stderr, "sdq train: --distill needs --joint --schedule random with two or more "
                    "configurations (e.g. --bits 4,8,32)\n");
    return 2;
  }
  if (a->bits && a->n_configs > 0 && a->kind != SDQ_SCHEDULE_CPT) {
    fprintf(stderr, "sdq train: give either --bits or --config, not both\n");
    return 2;
  }
  return -1; /* continue */
}

/* Builds the schedule from --bits / --config / --cpt-*. */
static int build_schedule(train_args *a, int n_layer, sdq_schedule *s, char *err,
                          size_t errlen) {
  memset(s, 0, sizeof *s);
  s->kind = a->kind;
  sdq_bitconfig cfg;
  char name[256];

  if (a->opt.train_base || (!a->bits && a->n_configs == 0)) {
    const char *dflt = a->opt.train_base || a->kind == SDQ_SCHEDULE_CPT ? "32" : "8";
    if (sdq_resolve_config(dflt, n_layer, &cfg, name, sizeof name, err, errlen) ||
        sdq_schedule_add(s, &cfg, name, err, errlen))
      return -1;
    sdq_bitconfig_free(&cfg);
  }
  for (int i = 0; i < a->n_configs; i++) {
    if (sdq_resolve_config(a->configs[i], n_layer, &cfg, name, sizeof name, err, errlen))
      return -1;
    int rc = sdq_schedule_add(s, &cfg, name, err, errlen);
    sdq_bitconfig_free(&cfg);
    if (rc)
      return -1;
  }
  if (a->bits && !a->opt.train_base) {
    int bits[SDQ_SCHEDULE_MAX_OPTIONS];
    int n = sdq_parse_bits_list(a->bits, bits, SDQ_SCHEDULE_MAX_OPTIONS, err, errlen);
    if (n < 0)
      return -1;
    for (int i = 0; i < n; i++) {
      char arg[16];
      snprintf(arg, sizeof arg, "%d", bits[i]);
      if (sdq_resolve_config(arg, n_layer, &cfg, name, sizeof name, err, errlen))
        return -1;
      int rc = sdq_schedule_add(s, &cfg, name, err, errlen);
      sdq_bitconfig_free(&cfg);
      if (rc)
        return -1;
    }
  }
  if (s->kind == SDQ_SCHEDULE_STATIC && s->n_options > 1) {
    snprintf(err, errlen, "the static schedule takes one configuration (got %d); use "
                          "--schedule random to switch between them", s->n_options);
    return -1;
  }
  if (s->kind == SDQ_SCHEDULE_CPT)
    return sdq_schedule_set_cpt(s, a->cpt_low, a->cpt_high, a->cpt_cycles, a->opt.steps,
                                a->cpt_layers, err, errlen);
  return 0;
}

/* LoRA sets: every bits the schedule can run, plus fp32 for evaluation. */
static int init_lora(sdq_gpt2 *m, const sdq_schedule *s, const train_args *a, char *err,
                     size_t errlen) {
  unsigned char used[33];
  sdq_schedule_bits_used(s, used);
  sdq_lora_config lc;
  memset(&lc, 0, sizeof lc);
  lc.rank = a->rank;
  lc.alpha = a->alpha;
  lc.dropout = a->dropout;
  for (int b = 2; b <= 8; b++)
    if (used[b])
      lc.bits[lc.n_sets++] = b;
  lc.bits[lc.n_sets++] = SDQ_LORA_FULL_BITS;
  return sdq_gpt2_lora_init(m, &lc, a->opt.seed ^ 0x5D0u, err, errlen);
}

static int write_summary(const train_args *a, const sdq_schedule *s, int n_embd,
                         const sdq_train_result *r, const char *saved, char *err,
                         size_t errlen) {
  json_t *o = json_object();
  json_t *names = json_array();
  for (int i = 0; i < s->n_options; i++)
    json_array_append_new(names, json_string(s->names[i]));
  json_object_set_new(o, "mode", json_string(a->opt.train_base ? "base" : "lora"));
  json_object_set_new(o, "schedule", json_string(sdq_schedule_kind_name(s->kind)));
  json_object_set_new(o, "configs", names);
  if (s->kind == SDQ_SCHEDULE_CPT) {
    json_object_set_new(o, "cpt_low", json_integer(s->cpt_low));
    json_object_set_new(o, "cpt_high", json_integer(s->cpt_high));
    json_object_set_new(o, "cpt_cycles", json_integer(s->cpt_cycles));
  }
  json_object_set_new(o, "joint", json_boolean(a->opt.joint));
  json_object_set_new(o, "distill", json_boolean(a->opt.distill));
  if (a->opt.distill) {
    int teacher = sdq_train_teacher_index(s->options, s->n_options, n_embd);
    json_object_set_new(o, "distill_teacher", json_string(s->names[teacher]));
    json_object_set_new(o, "distill_alpha", json_real(a->opt.distill_alpha));
    json_object_set_new(o, "distill_temp", json_real(a->opt.distill_temp));
  }
  json_object_set_new(o, "steps", json_integer(r->steps_done));
  json_object_set_new(o, "resumed_from", json_integer(r->resumed_from));
  json_object_set_new(o, "seed", json_integer((json_int_t)a->opt.seed));
  json_object_set_new(o, "last_loss", json_real(r->last_loss));
  json_object_set_new(o, "final_loss", json_real(r->mean_loss));
  json_object_set_new(o, "seconds", json_real(r->seconds));
  json_object_set_new(o, "tokens_per_second",
                      json_real(r->seconds > 0 ? r->tokens / r->seconds : 0.0));
  json_object_set_new(o, "skipped_examples", json_integer(r->skipped));
  json_object_set_new(o, "output", json_string(saved));
  char path[4096];
  snprintf(path, sizeof path, "%s/train.json", a->out);
  int rc = sdq_json_write_file(path, o, err, errlen);
  json_decref(o);
  return rc;
}

int sdq_cmd_train(int argc, char **argv) {
  train_args a;
  int prc = parse_args(argc, argv, &a);
  if (prc >= 0)
    return prc;

  char err[2048], data_default[4096], init_default[4096], model_default[4096];
  int status = 1;
  sdq_gpt2 *m = NULL;
  sdq_tokenizer *tok = NULL;
  sdq_squad data;
  sdq_schedule sched;
  memset(&data, 0, sizeof data);
  memset(&sched, 0, sizeof sched);

  /* 1. Inputs. */
  if (!a.data)
    a.data = sdq_default_data_path("default/train.json", data_default, sizeof data_default);
  if (a.opt.train_base && !a.model && !a.init)
    a.init = sdq_default_data_path("default/config.json", init_default, sizeof init_default);
  if (!a.model && !a.init) {
    fprintf(stderr, "sdq train: give --model CHECKPOINT or --init CONFIG.json (the embedded "
                    "default has no trained base: run 'sdq train --train-base --out DIR' first "
                    "and pass --model DIR/base)\n");
    (void)model_default;
    return 2;
  }
  if (a.opt.adamw.lr == 0.0f)
    a.opt.adamw.lr = 1e-3f;
  a.opt.adamw.warmup_steps = a.warmup >= 0 ? a.warmup : a.opt.steps / 20;

  char warning[512];
  if (sdq_squad_load(&data, a.data, warning, sizeof warning, err, sizeof err))
    goto fail;
  if (warning[0])
    fprintf(stderr, "sdq train: warning: %s\n", warning);
  fprintf(stderr, "sdq train: %s: %zu articles, %zu paragraphs, %zu questions\n", a.data,
          data.n_articles, data.n_paragraphs, data.n_questions);
  if (sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(a.tokenizer), err, sizeof err))
    goto fail;
  if (!(m = sdq_open_model(a.model, a.init, a.opt.seed, err, sizeof err)))
    goto fail;
  if (a.opt.max_len == 0)
    a.opt.max_len = m->cfg.n_ctx;

  /* 2. Schedule and LoRA bank. */
  if (build_schedule(&a, m->cfg.n_layer, &sched, err, sizeof err))
    goto fail;
  if (!a.opt.train_base && init_lora(m, &sched, &a, err, sizeof err))
    goto fail;
  if (sdq_mkdir_p(a.out, err, sizeof err))
    goto fail;
  a.opt.out_dir = a.out;
  fprintf(stderr, "sdq train: %s schedule over %d configuration(s)%s, %d steps of %d x %d "
                  "examples, max %d tokens\n",
          sdq_schedule_kind_name(sched.kind), sched.n_options, a.opt.joint ? " (joint)" : "",
          a.opt.steps, a.opt.grad_accum, a.opt.batch_size, a.opt.max_len);
  if (a.opt.distill) {
    int teacher = sdq_train_teacher_index(sched.options, sched.n_options, m->cfg.n_embd);
    double weighted;
    sdq_bitconfig_average_bits(&sched.options[teacher], m->cfg.n_embd, NULL, &weighted);
    fprintf(stderr, "sdq train: distillation teacher %s (%.2f weighted bits), alpha %g, "
                    "temperature %g\n",
            sched.names[teacher], weighted, (double)a.opt.distill_alpha,
            (double)a.opt.distill_temp);
  }

  /* 3. Train and save. */
  sdq_train_result res;
  if (sdq_train(m, tok, &data, &sched, &a.opt, &res, err, sizeof err))
    goto fail;
  if (res.stopped) {
    fprintf(stderr, "sdq train: stopped after step %d (--stop-after); resume with --resume\n",
            res.steps_done);
    status = 0;
    goto done;
  }
  char saved[4096];
  snprintf(saved, sizeof saved, "%s/%s", a.out, a.opt.train_base ? "base" : "lora");
  if ((a.opt.train_base ? sdq_gpt2_save_hf(m, saved, err, sizeof err)
                        : sdq_lora_save(m, saved, err, sizeof err)) ||
      write_summary(&a, &sched, m->cfg.n_embd, &res, saved, err, sizeof err))
    goto fail;
  fprintf(stderr, "sdq train: %d steps in %.1f s (%.0f tokens/s), final loss %.4f; wrote %s\n",
          res.steps_done - res.resumed_from, res.seconds,
          res.seconds > 0 ? res.tokens / res.seconds : 0.0, res.mean_loss, saved);
  status = 0;
  goto done;

fail:
  fprintf(stderr, "sdq train: %s\n", err);
done:
  sdq_schedule_free(&sched);
  sdq_squad_free(&data);
  sdq_tokenizer_free(tok);
  sdq_gpt2_free(m);
  return status;
}
