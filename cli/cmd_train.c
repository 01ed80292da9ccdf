/* cmd_train.c - 'sdq train': switchable-precision LoRA training
 * (--schedule static|random|cpt, --joint, --distill) and full-parameter fp32
 * training of a small base model (--train-base). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
"bits) or DIR/base/ (HF safetensors), DIR/train.json (summary: the options,\n"
"last_loss, and final_loss = the mean step loss over the last steps/10 + 1\n"
"steps) and DIR/checkpoint.safetensors. Every output path is checked before\n"
"step 1.\n\n"
"model and data:\n"
"  --model PATH         HF GPT-2 checkpoint (folder or .safetensors); required\n"
"                       unless --init or --train-base starts from a random init\n"
"  --init CONFIG.json   start from a random GPT-2 init of this shape instead of\n"
"                       --model (default for --train-base: data/default/config.json)\n"
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
"                       trains on the sum of their losses; the loss printed and\n"
"                       recorded is the mean loss over the configurations\n"
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
"  --train-base         full-parameter fp32 training of the base model, no LoRA;\n"
"                       --bits, --config, --schedule random|cpt, --cpt-*, --joint,\n"
"                       --distill, --rank, --alpha and --dropout do not apply\n"
"  --seed N             seed of init, data order and draws, 0..2^63-1 (default 1)\n\n"
"checkpoints:\n"
"  --checkpoint-every N steps between checkpoints (default 50; 0 = at the end)\n"
"  --resume             continue from DIR/checkpoint.safetensors (SIGINT and\n"
"                       SIGTERM print the step it is at)\n"
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

/* Parses an integer option value; prints the error itself. */
static int int_arg(const char *opt, const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < lo || v > hi) {
    fprintf(stderr, "sdq train: --%s must be an integer in %ld..%ld (got '%s')\n", opt, lo, hi,
            s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Parses a real option value into *out (what the trainer uses) and *typed
 * (the decimal as given, which train.json records). A value that overflows
 * or underflows a double, or that is not 0 but rounds to 0 as a float, is
 * an error rather than a silent 0 or infinity. */
static int float_arg(const char *opt, const char *s, double lo, double hi, float *out,
                     double *typed) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  int range = errno == ERANGE || (v != 0.0 && (float)v == 0.0f);
  if (end == s || *end || range || !(v >= lo && v <= hi)) {
    fprintf(stderr, "sdq train: --%s must be a number in %g..%g%s (got '%s')\n", opt, lo, hi,
            range ? " that a float can hold" : "", s);
    return -1;
  }
  *out = (float)v;
  *typed = v;
  return 0;
}

/* The shortest decimal that reads back as f, so a default such as 0.1f is
 * recorded as 0.1 and not as 0.10000000149011612. */
static double float_decimal(float f) {
  char buf[32];
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
    double d = strtod(buf, NULL);
    if ((float)d == f)
      return d;
  }
  return (double)f;
}

#define MAX_CONFIG_ARGS SDQ_SCHEDULE_MAX_OPTIONS

/* The real options as typed (or the default as its shortest decimal). */
typedef struct typed_reals {
  double lr, min_lr_ratio, weight_decay, grad_clip, alpha, dropout, distill_alpha, distill_temp;
} typed_reals;

typedef struct train_args {
  const char *model, *init, *data, *tokenizer, *out, *bits, *cpt_layers;
  const char *configs[MAX_CONFIG_ARGS];
  int n_configs;
  int bits_list[SDQ_SCHEDULE_MAX_OPTIONS], n_bits; /* --bits, parsed */
  sdq_schedule_kind kind;
  int schedule_set, cpt_set, rank_set, alpha_set, dropout_set;
  int cpt_low, cpt_high, cpt_cycles, rank, warmup, loss_set, distill_set;
  float alpha, dropout;
  typed_reals typed;
  sdq_train_options opt;
} train_args;

/* Usage errors between options, found before anything is loaded. Returns 2
 * after printing the error, or -1 when the options fit together. */
static int check_option_conflicts(train_args *a) {
  if (a->model && a->init) {
    fprintf(stderr, "sdq train: give --model or --init, not both (--model trains on a "
                    "checkpoint, --init starts from a random init)\n");
    return 2;
  }

  if (a->opt.train_base) {
    char given[256] = "";
    const struct {
      int set;
      const char *name;
    } lora_only[] = {{a->bits != NULL, "--bits"},
                     {a->n_configs > 0, "--config"},
                     {a->kind != SDQ_SCHEDULE_STATIC,
                      a->kind == SDQ_SCHEDULE_CPT ? "--schedule cpt" : "--schedule random"},
                     {a->cpt_set, "--cpt-*"},
                     {a->opt.joint, "--joint"},
                     {a->opt.distill || a->distill_set, "--distill"},
                     {a->rank_set, "--rank"},
                     {a->alpha_set, "--alpha"},
                     {a->dropout_set, "--dropout"}};
    for (size_t i = 0; i < sizeof lora_only / sizeof lora_only[0]; i++)
      if (lora_only[i].set) {
        size_t used = strlen(given);
        snprintf(given + used, sizeof given - used, "%s%s", used ? ", " : "", lora_only[i].name);
      }
    if (given[0]) {
      fprintf(stderr, "sdq train: --train-base trains every base weight in fp32 without LoRA, "
                      "so %s do%s not apply; drop %s\n",
              given, strchr(given, ',') ? "" : "es", strchr(given, ',') ? "them" : "it");
      return 2;
    }
  }
  if (a->distill_set && !a->opt.distill) {
    fprintf(stderr, "sdq train: --distill-alpha and --distill-temp need --distill\n");
    return 2;
  }

  if (a->bits && a->n_configs > 0 && a->kind != SDQ_SCHEDULE_CPT) {
    fprintf(stderr, "sdq train: give either --bits or --config, not both\n");
    return 2;
  }

  if (a->cpt_set && a->kind != SDQ_SCHEDULE_CPT) {
    fprintf(stderr, "sdq train: --cpt-low, --cpt-high, --cpt-cycles and --cpt-layers need "
                    "--schedule cpt\n");
    return 2;
  }

  if (a->kind == SDQ_SCHEDULE_CPT && a->cpt_low > a->cpt_high) {
    fprintf(stderr, "sdq train: --cpt-low %d is above --cpt-high %d\n", a->cpt_low,
            a->cpt_high);
    return 2;
  }

  if (a->opt.joint && a->kind == SDQ_SCHEDULE_CPT) {
    fprintf(stderr, "sdq train: --joint runs every configuration of a static or random "
                    "schedule each step; it does not combine with --schedule cpt\n");
    return 2;
  }

  int n_options = a->n_configs + a->n_bits;
  if (a->kind == SDQ_SCHEDULE_STATIC && n_options > 1) {
    fprintf(stderr, "sdq train: the static schedule takes one configuration (got %d); use "
                    "--schedule random to switch between them\n", n_options);
    return 2;
  }

  if (a->opt.distill && (!a->opt.joint || a->kind != SDQ_SCHEDULE_RANDOM || n_options < 2)) {
    fprintf(stderr, "sdq train: --distill needs --joint --schedule random with two or more "
                    "configurations (e.g. --bits 4,8,32)\n");
    return 2;
  }

  if (!a->model && !a->init && !a->opt.train_base) {
    fprintf(stderr, "sdq train: give --model CHECKPOINT or --init CONFIG.json (the embedded "
                    "default has no trained base: run 'sdq train --train-base --out DIR' first "
                    "and pass --model DIR/base)\n");
    return 2;
  }
  return -1;
}

/* Returns 0 (help printed), 2 (usage error printed) or -1 to go on. */
static int parse_args(int argc, char **argv, train_args *a) {
  memset(a, 0, sizeof *a);
  a->opt = sdq_train_defaults();
  a->opt.steps = 200;
  a->opt.batch_size = 8;
  a->opt.max_len = 0;
  a->opt.adamw.lr = 1e-3f;
  a->cpt_low = 4, a->cpt_high = 8, a->cpt_cycles = 2;
  a->rank = 8, a->alpha = 16.0f, a->warmup = -1;
  typed_reals *t = &a->typed;
  t->lr = float_decimal(a->opt.adamw.lr);
  t->min_lr_ratio = float_decimal(a->opt.adamw.min_lr_ratio);
  t->weight_decay = float_decimal(a->opt.adamw.weight_decay);
  t->grad_clip = float_decimal(a->opt.adamw.grad_clip);
  t->alpha = float_decimal(a->alpha);
  t->dropout = float_decimal(a->dropout);
  t->distill_alpha = float_decimal(a->opt.distill_alpha);
  t->distill_temp = float_decimal(a->opt.distill_temp);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
    int rc = 0;
    unsigned long long seed;
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
      a->schedule_set = 1;
      break;
    case OPT_BITS: a->bits = optarg; break;
    case OPT_CONFIG:
      if (a->n_configs >= MAX_CONFIG_ARGS) {
        fprintf(stderr, "sdq train: at most %d --config options\n", MAX_CONFIG_ARGS);
        return 2;
      }
      a->configs[a->n_configs++] = optarg;
      break;
    case OPT_CPT_LOW: rc = int_arg("cpt-low", optarg, 2, 8, &a->cpt_low); a->cpt_set = 1; break;
    case OPT_CPT_HIGH: rc = int_arg("cpt-high", optarg, 2, 8, &a->cpt_high); a->cpt_set = 1; break;
    case OPT_CPT_CYCLES:
      rc = int_arg("cpt-cycles", optarg, 1, 1000000, &a->cpt_cycles);
      a->cpt_set = 1;
      break;
    case OPT_CPT_LAYERS: a->cpt_layers = optarg; a->cpt_set = 1; break;
    case OPT_JOINT: a->opt.joint = 1; break;
    case OPT_DISTILL: a->opt.distill = 1; break;
    case OPT_DISTILL_ALPHA:
      rc = float_arg("distill-alpha", optarg, 0.0, 1.0, &a->opt.distill_alpha, &t->distill_alpha);
      a->distill_set = 1;
      break;
    case OPT_DISTILL_TEMP:
      rc = float_arg("distill-temp", optarg, 1e-3, 100.0, &a->opt.distill_temp, &t->distill_temp);
      a->distill_set = 1;
      break;
    case OPT_STEPS: rc = int_arg("steps", optarg, 1, 100000000, &a->opt.steps); break;
    case OPT_BATCH: rc = int_arg("batch", optarg, 1, 4096, &a->opt.batch_size); break;
    case OPT_ACCUM: rc = int_arg("accum", optarg, 1, 4096, &a->opt.grad_accum); break;
    case OPT_MAX_LEN: rc = int_arg("max-len", optarg, 2, 1 << 20, &a->opt.max_len); break;
    case OPT_LR: rc = float_arg("lr", optarg, 0.0, 10.0, &a->opt.adamw.lr, &t->lr); break;
    case OPT_WARMUP: rc = int_arg("warmup", optarg, 0, 100000000, &a->warmup); break;
    case OPT_MIN_LR:
      rc = float_arg("min-lr-ratio", optarg, 0.0, 1.0, &a->opt.adamw.min_lr_ratio,
                     &t->min_lr_ratio);
      break;
    case OPT_WD:
      rc = float_arg("weight-decay", optarg, 0.0, 10.0, &a->opt.adamw.weight_decay,
                     &t->weight_decay);
      break;
    case OPT_CLIP:
      rc = float_arg("grad-clip", optarg, 0.0, 1e9, &a->opt.adamw.grad_clip, &t->grad_clip);
      break;
    case OPT_LOSS:
      if (strcmp(optarg, "all") && strcmp(optarg, "answer")) {
        fprintf(stderr, "sdq train: --loss must be all or answer (got '%s')\n", optarg);
        return 2;
      }
      a->opt.loss_all = !strcmp(optarg, "all");
      a->loss_set = 1;
      break;
    case OPT_RANK: rc = int_arg("rank", optarg, 1, 4096, &a->rank); a->rank_set = 1; break;
    case OPT_ALPHA:
      rc = float_arg("alpha", optarg, 0.0, 1e6, &a->alpha, &t->alpha);
      a->alpha_set = 1;
      break;
    case OPT_DROPOUT:
      rc = float_arg("dropout", optarg, 0.0, 0.99, &a->dropout, &t->dropout);
      a->dropout_set = 1;
      break;
    case OPT_TRAIN_BASE: a->opt.train_base = 1; break;
    case OPT_SEED:
      /* train.json records the seed as a JSON integer, whose range is 0..2^63-1. */
      errno = 0;
      seed = strtoull(optarg, &end, 10);
      if (end == optarg || *end || optarg[0] == '-' || errno == ERANGE ||
          seed > (unsigned long long)INT64_MAX) {
        fprintf(stderr, "sdq train: --seed must be an integer in 0..%" PRId64 " (got '%s')\n",
                INT64_MAX, optarg);
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
  if (a->bits) {
    char err[512];
    a->n_bits = sdq_parse_bits_list(a->bits, a->bits_list, SDQ_SCHEDULE_MAX_OPTIONS, err,
                                    sizeof err);
    if (a->n_bits < 0) {
      fprintf(stderr, "sdq train: --bits: %s\n", err);
      return 2;
    }
  }
  return check_option_conflicts(a);
}

/* Builds the schedule from --bits / --config / --cpt-* (already checked to
 * fit together by parse_args). */
static int build_schedule(train_args *a, int n_layer, sdq_schedule *s, char *err,
                          size_t errlen) {
  memset(s, 0, sizeof *s);
  s->kind = a->kind;
  sdq_bitconfig cfg;
  char name[256];

  if (!a->bits && a->n_configs == 0) {
    const char *dflt = a->opt.train_base || a->kind == SDQ_SCHEDULE_CPT ? "32" : "8";
    if (sdq_resolve_config(dflt, n_layer, &cfg, name, sizeof name, err, errlen))
      return -1;
    int rc = sdq_schedule_add(s, &cfg, name, err, errlen);
    sdq_bitconfig_free(&cfg);
    if (rc)
      return -1;
  }
  for (int i = 0; i < a->n_configs; i++) {
    if (sdq_resolve_config(a->configs[i], n_layer, &cfg, name, sizeof name, err, errlen))
      return -1;
    int rc = sdq_schedule_add(s, &cfg, name, err, errlen);
    sdq_bitconfig_free(&cfg);
    if (rc)
      return -1;
  }
  for (int i = 0; i < a->n_bits; i++) {
    char arg[16];
    snprintf(arg, sizeof arg, "%d", a->bits_list[i]);
    if (sdq_resolve_config(arg, n_layer, &cfg, name, sizeof name, err, errlen))
      return -1;
    int rc = sdq_schedule_add(s, &cfg, name, err, errlen);
    sdq_bitconfig_free(&cfg);
    if (rc)
      return -1;
  }
  if (sdq_check_distinct_configs(s->options, s->names, NULL, s->n_options, err, errlen))
    return -1;
  if (s->kind == SDQ_SCHEDULE_CPT)
    return sdq_schedule_set_cpt(s, a->cpt_low, a->cpt_high, a->cpt_cycles, a->opt.steps,
                                a->cpt_layers, err, errlen);
  return 0;
}

/* The adapter sets of the LoRA bank: every bits 2..8 the schedule can run,
 * plus the full-precision set (fp32, also used at 16 bits). Returns n. */
static int lora_sets(const sdq_schedule *s, int *bits) {
  unsigned char used[33];
  sdq_schedule_bits_used(s, used);
  int n = 0;
  for (int b = 2; b <= 8; b++)
    if (used[b])
      bits[n++] = b;
  bits[n++] = SDQ_LORA_FULL_BITS;
  return n;
}

static int init_lora(sdq_gpt2 *m, const sdq_schedule *s, const train_args *a, char *err,
                     size_t errlen) {
  sdq_lora_config lc;
  memset(&lc, 0, sizeof lc);
  lc.rank = a->rank;
  lc.alpha = a->alpha;
  lc.dropout = a->dropout;
  lc.n_sets = lora_sets(s, lc.bits);
  return sdq_gpt2_lora_init(m, &lc, a->opt.seed ^ 0x5D0u, err, errlen);
}

/* ------------------------------------------------------------ output paths */

static int join(char *buf, size_t len, const char *a, const char *b, char *err,
                size_t errlen) {
  int n = snprintf(buf, len, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= len) {
    snprintf(err, errlen, "%s/%s: path too long", a, b);
    return -1;
  }
  return 0;
}

/* Checks every path the run writes (see usage()), so a bad one fails before
 * step 1 instead of after the whole run. n_sets == 0 skips the LoRA adapter
 * folders, which are known once the schedule is built. */
static int check_outputs(const train_args *a, const int *sets, int n_sets, char *err,
                         size_t errlen) {
  char path[4400], sub[4400];
  if (sdq_check_output_folder(a->out, "--out", err, errlen) ||
      join(path, sizeof path, a->out, "train.json", err, errlen) ||
      sdq_check_output_file(path, "--out", err, errlen) ||
      join(path, sizeof path, a->out, "checkpoint.safetensors", err, errlen) ||
      sdq_check_output_file(path, "--out", err, errlen))
    return -1;
  if (a->opt.train_base) {
    static const char *const files[] = {"config.json", "model.safetensors"};
    if (join(path, sizeof path, a->out, "base", err, errlen) ||
        sdq_check_output_folder(path, "--out", err, errlen))
      return -1;
    for (int i = 0; i < 2; i++)
      if (join(sub, sizeof sub, path, files[i], err, errlen) ||
          sdq_check_output_file(sub, "--out", err, errlen))
        return -1;
    return 0;
  }
  if (join(path, sizeof path, a->out, "lora", err, errlen) ||
      sdq_check_output_folder(path, "--out", err, errlen))
    return -1;
  for (int s = 0; s < n_sets; s++) {
    static const char *const files[] = {"adapter_config.json", "adapter_model.safetensors"};
    char folder[4400], name[16];
    if (sets[s] == SDQ_LORA_FULL_BITS)
      snprintf(name, sizeof name, "fp32");
    else
      snprintf(name, sizeof name, "bits%d", sets[s]);
    if (join(folder, sizeof folder, path, name, err, errlen) ||
        sdq_check_output_folder(folder, "--out", err, errlen))
      return -1;
    for (int i = 0; i < 2; i++)
      if (join(sub, sizeof sub, folder, files[i], err, errlen) ||
          sdq_check_output_file(sub, "--out", err, errlen))
        return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- interrupts */

/* What the SIGINT/SIGTERM handler needs, set before it is installed so it
 * only calls async-signal-safe functions (open, read, fstat, write, raise). */
static struct {
  char checkpoint[4400];
  char steps[16]; /* the run's total, as text */
  int resume;
  int had_file; /* a checkpoint existed before this run started */
  dev_t dev;    /* and its identity: a new checkpoint is a new inode */
  ino_t ino;
  char header[16384];
} interrupt_state;

static size_t append(char *buf, size_t used, size_t cap, const char *s) {
  while (*s && used + 1 < cap)
    buf[used++] = *s++;
  buf[used] = '\0';
  return used;
}

/* Reads the "step" metadata value of the checkpoint into step (digits), or
 * leaves it empty when there is no checkpoint of this run. */
static void checkpoint_step(char *step, size_t cap) {
  step[0] = '\0';
  int fd = open(interrupt_state.checkpoint, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat sb;
  int same = fstat(fd, &sb) == 0 && interrupt_state.had_file &&
             sb.st_dev == interrupt_state.dev && sb.st_ino == interrupt_state.ino;
  if (same && !interrupt_state.resume) { /* still the previous run's */
    close(fd);
    return;
  }
  char *h = interrupt_state.header;
  size_t cap_h = sizeof interrupt_state.header - 1, got = 0;
  ssize_t r;
  while (got < cap_h && (r = read(fd, h + got, cap_h - got)) > 0)
    got += (size_t)r;
  close(fd);
  h[got] = '\0';
  for (size_t i = 8; i + 6 < got; i++) { /* past the 8-byte header length */
    if (memcmp(h + i, "\"step\"", 6) != 0)
      continue;
    size_t j = i + 6;
    while (j < got && (h[j] == ' ' || h[j] == ':' || h[j] == '"'))
      j++;
    size_t n = 0;
    while (j < got && h[j] >= '0' && h[j] <= '9' && n + 1 < cap)
      step[n++] = h[j++];
    step[n] = '\0';
    return;
  }
}

/* SIGINT/SIGTERM: prints the step of the checkpoint and how to resume,
 * then dies of the same signal (SA_RESETHAND restored the default action),
 * so the shell sees the usual status (130 for Ctrl-C, 143 for SIGTERM). */
static void on_interrupt(int sig) {
  char msg[5200], step[32];
  size_t n = 0;
  checkpoint_step(step, sizeof step);
  n = append(msg, n, sizeof msg, "\nsdq train: interrupted; ");
  if (step[0]) {
    n = append(msg, n, sizeof msg, interrupt_state.checkpoint);
    n = append(msg, n, sizeof msg, " is at step ");
    n = append(msg, n, sizeof msg, step);
    n = append(msg, n, sizeof msg, " of ");
    n = append(msg, n, sizeof msg, interrupt_state.steps);
    n = append(msg, n, sizeof msg, "; rerun the same command with --resume to continue "
                                   "from there\n");
  } else {
    n = append(msg, n, sizeof msg, "no checkpoint of this run was written yet, so nothing "
                                   "survives; rerun the same command to start again\n");
  }
  ssize_t w = write(STDERR_FILENO, msg, n);
  (void)w;
  raise(sig);
}

static void install_interrupt_message(const train_args *a) {
  snprintf(interrupt_state.checkpoint, sizeof interrupt_state.checkpoint,
           "%s/checkpoint.safetensors", a->out);
  snprintf(interrupt_state.steps, sizeof interrupt_state.steps, "%d", a->opt.steps);
  interrupt_state.resume = a->opt.resume;
  struct stat sb;
  interrupt_state.had_file = stat(interrupt_state.checkpoint, &sb) == 0;
  if (interrupt_state.had_file) {
    interrupt_state.dev = sb.st_dev;
    interrupt_state.ino = sb.st_ino;
  }
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

/* ---------------------------------------------------------------- summary */

/* train.json: how the run was set up (enough to repeat it) and its result. */
static int write_summary(const train_args *a, const sdq_schedule *s, int n_embd,
                         const sdq_train_result *r, const char *saved, char *err,
                         size_t errlen) {
  const sdq_train_options *o = &a->opt;
  const typed_reals *t = &a->typed;
  json_t *obj = json_object();
  json_t *names = json_array();
  for (int i = 0; i < s->n_options; i++)
    json_array_append_new(names, json_string(s->names[i]));
  json_object_set_new(obj, "mode", json_string(o->train_base ? "base" : "lora"));
  json_object_set_new(obj, "model", a->model ? json_string(a->model) : json_null());
  json_object_set_new(obj, "init", a->init ? json_string(a->init) : json_null());
  json_object_set_new(obj, "data", json_string(a->data));
  json_object_set_new(obj, "schedule", json_string(sdq_schedule_kind_name(s->kind)));
  json_object_set_new(obj, "configs", names);
  if (s->kind == SDQ_SCHEDULE_CPT) {
    json_object_set_new(obj, "cpt_low", json_integer(s->cpt_low));
    json_object_set_new(obj, "cpt_high", json_integer(s->cpt_high));
    json_object_set_new(obj, "cpt_cycles", json_integer(s->cpt_cycles));
  }
  json_object_set_new(obj, "joint", json_boolean(o->joint));
  json_object_set_new(obj, "distill", json_boolean(o->distill));
  if (o->distill) {
    int teacher = sdq_train_teacher_index(s->options, s->n_options, n_embd);
    json_object_set_new(obj, "distill_teacher", json_string(s->names[teacher]));
    json_object_set_new(obj, "distill_alpha", json_real(t->distill_alpha));
    json_object_set_new(obj, "distill_temp", json_real(t->distill_temp));
  }
  if (!o->train_base) {
    json_object_set_new(obj, "lora_rank", json_integer(a->rank));
    json_object_set_new(obj, "lora_alpha", json_real(t->alpha));
    json_object_set_new(obj, "lora_dropout", json_real(t->dropout));
  }
  json_object_set_new(obj, "batch", json_integer(o->batch_size));
  json_object_set_new(obj, "accum", json_integer(o->grad_accum));
  json_object_set_new(obj, "max_len", json_integer(o->max_len));
  json_object_set_new(obj, "loss", json_string(o->loss_all ? "all" : "answer"));
  json_object_set_new(obj, "lr", json_real(t->lr));
  json_object_set_new(obj, "warmup", json_integer(o->adamw.warmup_steps));
  json_object_set_new(obj, "min_lr_ratio", json_real(t->min_lr_ratio));
  json_object_set_new(obj, "weight_decay", json_real(t->weight_decay));
  json_object_set_new(obj, "grad_clip", json_real(t->grad_clip));
  json_object_set_new(obj, "seed", json_integer((json_int_t)o->seed));
  json_object_set_new(obj, "steps", json_integer(r->steps_done));
  json_object_set_new(obj, "resumed_from", json_integer(r->resumed_from));
  json_object_set_new(obj, "last_loss", json_real(r->last_loss));
  json_object_set_new(obj, "final_loss", json_real(r->mean_loss));
  json_object_set_new(obj, "seconds", json_real(r->seconds));
  json_object_set_new(obj, "tokens_per_second",
                      json_real(r->seconds > 0 ? r->tokens / r->seconds : 0.0));
  json_object_set_new(obj, "drawn_examples", json_integer(r->drawn));
  json_object_set_new(obj, "skipped_examples", json_integer(r->skipped));
  json_object_set_new(obj, "output", json_string(saved));

  /* 15 significant digits print a typed 0.3 as 0.3 (17 would show the
   * binary double, 0.29999999999999999). */
  char path[4400];
  char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                   JSON_REAL_PRECISION(15));
  json_decref(obj);
  if (!text) {
    snprintf(err, errlen, "out of memory writing train.json");
    return -1;
  }
  size_t len = strlen(text);
  char *line = realloc(text, len + 2);
  if (!line) {
    free(text);
    snprintf(err, errlen, "out of memory writing train.json");
    return -1;
  }
  line[len] = '\n';
  line[len + 1] = '\0';
  int rc = join(path, sizeof path, a->out, "train.json", err, errlen) ||
                   sdq_write_file_bytes(path, line, len + 1, err, errlen)
               ? -1
               : 0;
  free(line);
  return rc;
}

int sdq_cmd_train(int argc, char **argv) {
  train_args a;
  int prc = parse_args(argc, argv, &a);
  if (prc >= 0)
    return prc;

  char err[10000], data_default[4096], init_default[4096];
  int status = 1;
  sdq_gpt2 *m = NULL;
  sdq_tokenizer *tok = NULL;
  sdq_squad data;
  sdq_schedule sched;
  memset(&data, 0, sizeof data);
  memset(&sched, 0, sizeof sched);

  if (!a.data)
    a.data = sdq_default_data_path("default/train.json", data_default, sizeof data_default);
  if (a.opt.train_base && !a.model && !a.init)
    a.init = sdq_default_data_path("default/config.json", init_default, sizeof init_default);
  a.opt.adamw.warmup_steps = a.warmup >= 0 ? a.warmup : a.opt.steps / 20;

  /* 1. Output paths, then the model: its shape decides what --max-len and
   * the configurations may be, which are usage errors (exit 2). */
  if (check_outputs(&a, NULL, 0, err, sizeof err))
    goto fail;
  if (!(m = sdq_open_model(a.model, a.init, a.opt.seed, err, sizeof err)))
    goto fail;
  if (a.opt.max_len == 0)
    a.opt.max_len = m->cfg.n_ctx;
  if (a.opt.max_len > m->cfg.n_ctx) {
    fprintf(stderr, "sdq train: --max-len %d is longer than the model's context of %d tokens "
                    "(n_ctx); use --max-len %d or less\n",
            a.opt.max_len, m->cfg.n_ctx, m->cfg.n_ctx);
    status = 2;
    goto done;
  }

  /* 2. Schedule, its LoRA adapter folders, and the data. */
  if (build_schedule(&a, m->cfg.n_layer, &sched, err, sizeof err)) {
    fprintf(stderr, "sdq train: %s\n", err);
    status = 2;
    goto done;
  }
  int sets[SDQ_LORA_MAX_SETS];
  int n_sets = a.opt.train_base ? 0 : lora_sets(&sched, sets);
  if (check_outputs(&a, sets, n_sets, err, sizeof err))
    goto fail;
  char warning[512];
  if (sdq_squad_load(&data, a.data, warning, sizeof warning, err, sizeof err))
    goto fail;
  if (warning[0])
    fprintf(stderr, "sdq train: warning: %s\n", warning);
  fprintf(stderr, "sdq train: %s: %zu articles, %zu paragraphs, %zu questions\n", a.data,
          data.n_articles, data.n_paragraphs, data.n_questions);
  if (sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(a.tokenizer), err, sizeof err) ||
      sdq_check_model_vocab(m, tok, err, sizeof err))
    goto fail;
  if (!a.opt.train_base && init_lora(m, &sched, &a, err, sizeof err))
    goto fail;
  if (sdq_mkdir_p(a.out, err, sizeof err))
    goto fail;
  a.opt.out_dir = a.out;
  fprintf(stderr, "sdq train: %s schedule over %d configuration(s)%s, %d steps of %d x %d "
                  "examples, max %d tokens\n",
          sdq_schedule_kind_name(sched.kind), sched.n_options,
          a.opt.joint ? " (joint: the loss shown is the mean loss over the configurations)" : "",
          a.opt.steps, a.opt.grad_accum, a.opt.batch_size, a.opt.max_len);
  if (a.opt.distill) {
    int teacher = sdq_train_teacher_index(sched.options, sched.n_options, m->cfg.n_embd);
    double weighted;
    sdq_bitconfig_average_bits(&sched.options[teacher], m->cfg.n_embd, NULL, &weighted);
    fprintf(stderr, "sdq train: distillation teacher %s (%.2f weighted bits), alpha %g, "
                    "temperature %g\n",
            sched.names[teacher], weighted, a.typed.distill_alpha, a.typed.distill_temp);
  }

  /* 3. Train and save. */
  install_interrupt_message(&a);
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
