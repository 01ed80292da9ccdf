/* trainer.c - the training loop, checkpoints and resume (see trainer.h). */
#include "config.h"

#include "train/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "train/files.h"
#include "train/prompt.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sdq_train_options sdq_train_defaults(void) {
  sdq_train_options o;
  memset(&o, 0, sizeof o);
  o.steps = 0;
  o.batch_size = 4;
  o.grad_accum = 1;
  o.max_len = 256;
  o.adamw = sdq_adamw_defaults();
  o.seed = 1;
  o.checkpoint_every = 50;
  o.progress = 1;
  o.distill_alpha = 0.5f;
  o.distill_temp = 2.0f;
  return o;
}

/* Returns the parameter-weighted mean activation bits of cfg, counting fp32
 * activations as 32. */
static double weighted_act_bits(const sdq_bitconfig *cfg, int n_embd) {
  double sum = 0.0, weight = 0.0;
  for (int i = 0; i < cfg->n_layer * SDQ_LIN_COUNT; i++) {
    int in, out;
    sdq_linear_dims((sdq_linear)(i % SDQ_LIN_COUNT), n_embd, &in, &out);
    int a = cfg->layers[i].a_bits;
    sum += (double)in * out * (a == 0 ? 32 : a);
    weight += (double)in * out;
  }
  return weight > 0 ? sum / weight : 32.0;
}

int sdq_train_teacher_index(const sdq_bitconfig *cfgs, int n, int n_embd) {
  int best = 0;
  double best_w = 0.0, best_a = 0.0;
  for (int i = 0; i < n; i++) {
    double w, a = weighted_act_bits(&cfgs[i], n_embd);
    sdq_bitconfig_average_bits(&cfgs[i], n_embd, NULL, &w);
    if (i == 0 || w > best_w || (w == best_w && a > best_a)) {
      best = i;
      best_w = w;
      best_a = a;
    }
  }
  return best;
}

/* ------------------------------------------------------------ run state */

typedef struct run {
  sdq_gpt2 *m;
  sdq_tokenizer *tok;
  const sdq_squad *data;
  const sdq_schedule *sched;
  const sdq_train_options *opt;

  /* What the optimizer updates: the LoRA arena or the base arena. */
  float *params, *grads;
  size_t n_params, n_spans;
  sdq_adamw adam;

  /* Data order: a permutation of the questions per epoch. */
  sdq_rng rng;     /* windows and random draws */
  int epoch;
  size_t pos;      /* next index into order */
  size_t *order;
  int step;
  long skipped;

  /* Micro-batch buffers, (B, max_len). */
  sdq_example *examples;
  int32_t *tokens, *targets;
  float *mask;
  sdq_bitconfig pass_cfg[SDQ_SCHEDULE_MAX_OPTIONS]; /* configurations of the
                                                      current micro-batch */
  float *teacher;    /* (rows, V) teacher probabilities, distillation only */
  size_t teacher_rows;
  uint64_t base_hash; /* FNV-1a 64 of the base weights at the start of the run */
  uint64_t data_hash; /* of the parsed training data (data_fingerprint) */
  uint64_t tok_hash;  /* of the tokenizer (tokenizer_fingerprint) */

  /* Loss record, kept in the checkpoint so a resumed run reports the same
   * losses as an uninterrupted one. */
  double last_loss; /* mean loss of the last step */
  double tail_sum;  /* sum of the step losses from step tail_from on */
  int tail_n;       /* steps in tail_sum */
} run;

/* The steps whose losses mean_loss averages: the last steps / 10 + 1 of the
 * whole run (r->step > tail_from after the step). */
static int tail_from(int steps) {
  return steps - steps / 10 - 1;
}

static void shuffle(run *r) {
  size_t n = r->data->n_questions;
  sdq_rng order_rng;
  sdq_rng_seed(&order_rng, r->opt->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(r->epoch + 1)));
  for (size_t i = 0; i < n; i++)
    r->order[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = sdq_rng_below(&order_rng, (uint32_t)i);
    size_t t = r->order[i - 1];
    r->order[i - 1] = r->order[j];
    r->order[j] = t;
  }
}

/* Takes the next example that fits max_len; skipped examples are counted.
 * Fails when a whole epoch yields nothing. */
static int next_example(run *r, sdq_example *ex, char *err, size_t errlen) {
  size_t tries = 0, n = r->data->n_questions;
  for (;;) {
    if (r->pos >= n) {
      r->epoch++;
      r->pos = 0;
      shuffle(r);
    }
    size_t qi = r->order[r->pos++];
    int rc = sdq_prompt_train(r->tok, r->data, qi, 0, r->opt->max_len, &r->rng, ex, err, errlen);
    if (rc < 0)
      return -1;
    if (rc == 0)
      return 0;
    r->skipped++;
    if (++tries >= n) {
      set_err(err, errlen,
              "%s: no question fits in %d tokens with its answer; raise --max-len",
              r->data->path, r->opt->max_len);
      return -1;
    }
  }
}

/* Fills tokens/targets/mask for B examples padded to the longest; returns T. */
static int assemble(run *r, int B) {
  int T = 1;
  for (int b = 0; b < B; b++)
    if (r->examples[b].n_tokens > T)
      T = r->examples[b].n_tokens;
  int32_t pad = 0;
  for (int b = 0; b < B; b++) {
    const sdq_example *ex = &r->examples[b];
    for (int t = 0; t < T; t++) {
      size_t i = (size_t)b * T + t;
      r->tokens[i] = t < ex->n_tokens ? ex->tokens[t] : pad;
      r->targets[i] = t + 1 < ex->n_tokens ? ex->tokens[t + 1] : pad;
      int first = r->opt->loss_all ? 0 : ex->n_prompt - 1;
      r->mask[i] = (t >= first && t + 1 < ex->n_tokens) ? 1.0f : 0.0f;
    }
  }
  return T;
}

/* ----------------------------------------------------------- checkpoint */

static void rng_to_hex(const sdq_rng *g, char *buf, size_t len) {
  snprintf(buf, len, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, g->s[0], g->s[1],
           g->s[2], g->s[3]);
}

static int rng_from_hex(const char *s, sdq_rng *g) {
  if (!s || strlen(s) != 64)
    return -1;
  for (int i = 0; i < 4; i++) {
    char part[17];
    memcpy(part, s + 16 * i, 16);
    part[16] = '\0';
    char *end;
    g->s[i] = strtoull(part, &end, 16);
    if (*end)
      return -1;
  }
  return 0;
}

/* FNV-1a 64 of n bytes, continuing from h (start with FNV_OFFSET). */
#define FNV_OFFSET 0xcbf29ce484222325ULL
static uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t fnv1a64(const void *data, size_t n) {
  return fnv1a64_update(FNV_OFFSET, data, n);
}

static uint64_t hash_string(uint64_t h, const char *s) {
  return fnv1a64_update(h, s ? s : "", s ? strlen(s) + 1 : 1); /* NUL separates fields */
}

static uint64_t hash_u64(uint64_t h, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  return fnv1a64_update(h, b, 8);
}

/* Hash of everything parsed from the training file that prompts can use:
 * titles, contexts, and each question's id, text, paragraph and answers. */
static uint64_t data_fingerprint(const sdq_squad *d) {
  uint64_t h = hash_u64(FNV_OFFSET, d->n_articles);
  for (size_t i = 0; i < d->n_articles; i++)
    h = hash_string(h, d->titles[i]);
  h = hash_u64(h, d->n_paragraphs);
  for (size_t i = 0; i < d->n_paragraphs; i++) {
    h = hash_u64(h, d->paragraphs[i].article);
    h = hash_string(h, d->paragraphs[i].context);
  }
  h = hash_u64(h, d->n_questions);
  for (size_t i = 0; i < d->n_questions; i++) {
    const sdq_squad_question *q = &d->questions[i];
    h = hash_string(hash_string(h, q->id), q->question);
    h = hash_u64(hash_u64(h, q->paragraph), q->n_answers);
    for (size_t a = 0; a < q->n_answers; a++)
      h = hash_u64(hash_string(h, q->answers[a].text), q->answers[a].start);
  }
  return h;
}

/* Hash of the tokenizer: the bytes of every token id, and the ids it gives
 * for the first context of the data (which depend on the merge rules).
 * NOTE: a change of merge rules that leaves that context's ids unchanged is
 * not detected. */
static int tokenizer_fingerprint(sdq_tokenizer *tok, const sdq_squad *d, uint64_t *out,
                                 char *err, size_t errlen) {
  int V = sdq_tokenizer_vocab_size(tok);
  uint64_t h = hash_u64(FNV_OFFSET, (uint64_t)V);
  for (int32_t id = 0; id < V; id++) {
    size_t len = 0;
    const char *b = sdq_tokenizer_token_bytes(tok, id, &len);
    h = fnv1a64_update(hash_u64(h, len), b ? b : "", b ? len : 0);
  }
  if (d->n_paragraphs > 0) {
    int32_t *ids = NULL;
    size_t n = 0;
    const sdq_squad_paragraph *p = &d->paragraphs[0];
    if (sdq_tokenizer_encode(tok, p->context, p->context_len, 0, &ids, &n, err, errlen))
      return -1;
    for (size_t i = 0; i < n; i++)
      h = hash_u64(h, (uint64_t)(uint32_t)ids[i]);
    free(ids);
  }
  *out = h;
  return 0;
}

/* Hash of a configuration: its name and the weight and activation bits of
 * every layer. */
static uint64_t config_fingerprint(const char *name, const sdq_bitconfig *c) {
  uint64_t h = hash_u64(hash_string(FNV_OFFSET, name), (uint64_t)c->n_layer);
  for (int i = 0; i < c->n_layer * SDQ_LIN_COUNT; i++)
    h = hash_u64(hash_u64(h, (uint64_t)c->layers[i].w_bits), (uint64_t)c->layers[i].a_bits);
  return h;
}

/* A growing NUL-terminated string; on out of memory it keeps ok = 0. */
typedef struct strbuf {
  char *s;
  size_t len, cap;
  int ok;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (!b->ok)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->ok = 0;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap : 256) * 2 + (size_t)n;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->ok = 0;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* The run's identity, space-separated key=value fields: a checkpoint only
 * resumes a run with the same one. It covers everything that changes the
 * trained weights: the options, the optimizer settings, the LoRA rank,
 * alpha, dropout and bits, each configuration's name and per-layer bits
 * (hashed), the CPT cycle, the checksums of the base weights the run started
 * from, of the training data and of the tokenizer. Configuration names are
 * shown with spaces, commas and '=' replaced by '_' (the hash covers the
 * name as given). Returns a malloc'ed string, or NULL when out of memory. */
static char *run_identity(const run *r) {
  const sdq_train_options *o = r->opt;
  const sdq_adamw_config *a = &o->adamw;
  const sdq_schedule *sc = r->sched;
  strbuf b = {NULL, 0, 0, 1};
  sb_printf(&b, "mode=%s schedule=%s options=%d steps=%d batch=%d accum=%d max_len=%d "
                "loss_all=%d joint=%d seed=%" PRIu64,
            o->train_base ? "base" : "lora", sdq_schedule_kind_name(sc->kind), sc->n_options,
            o->steps, o->batch_size, o->grad_accum, o->max_len, o->loss_all, o->joint, o->seed);
  sb_printf(&b, " lr=%.9g warmup=%d min_lr_ratio=%.9g weight_decay=%.9g grad_clip=%.9g "
                "betas=%.9g,%.9g eps=%.9g",
            (double)a->lr, a->warmup_steps, (double)a->min_lr_ratio, (double)a->weight_decay,
            (double)a->grad_clip, (double)a->beta1, (double)a->beta2, (double)a->eps);
  if (!o->train_base) {
    const sdq_lora_config *lc = &r->m->lora.cfg;
    sb_printf(&b, " rank=%d lora_alpha=%.9g dropout=%.9g lora_bits=", lc->rank,
              (double)lc->alpha, (double)lc->dropout);
    for (int i = 0; i < lc->n_sets; i++)
      sb_printf(&b, "%s%d", i ? "," : "", lc->bits[i]);
  }
  sb_printf(&b, " configs=");
  for (int i = 0; i < sc->n_options; i++) {
    sb_printf(&b, "%s", i ? "," : "");
    for (const char *p = sc->names[i] ? sc->names[i] : "?"; *p; p++)
      sb_printf(&b, "%c", (*p == ' ' || *p == ',' || *p == '=' || (unsigned char)*p < 32) ? '_'
                                                                                        : *p);
    sb_printf(&b, ":%08" PRIx64, config_fingerprint(sc->names[i], &sc->options[i]) >> 32);
  }
  if (sc->kind == SDQ_SCHEDULE_CPT) {
    size_t n_mask = (size_t)sc->options[0].n_layer * SDQ_LIN_COUNT;
    sb_printf(&b, " cpt=%d-%d/%d/%d:%08" PRIx64, sc->cpt_low, sc->cpt_high, sc->cpt_cycles,
              sc->total_steps,
              sc->cpt_mask ? fnv1a64(sc->cpt_mask, n_mask) >> 32 : (uint64_t)0);
  }
  sb_printf(&b, " params=%zu data=%zu:%016" PRIx64 " tokenizer=%016" PRIx64 " base=%016" PRIx64,
            r->n_params, r->data->n_questions, r->data_hash, r->tok_hash, r->base_hash);
  sb_printf(&b, " distill=%d", o->distill);
  if (o->distill)
    sb_printf(&b, " alpha=%.9g tau=%.9g", (double)o->distill_alpha, (double)o->distill_temp);
  if (!b.ok) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* Writes the keys of the fields (see run_identity) whose values differ
 * between identities a and b, comma-separated, into out. */
static void identity_diff(const char *a, const char *b, char *out, size_t outlen) {
  out[0] = '\0';
  size_t used = 0;
  for (const char *p = b; *p;) {
    const char *end = strchr(p, ' ');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    size_t klen = eq ? (size_t)(eq - p) + 1 : len; /* key with its '=' */
    int same = 0;
    for (const char *q = a; *q;) {
      const char *qend = strchr(q, ' ');
      size_t qlen = qend ? (size_t)(qend - q) : strlen(q);
      if (qlen >= klen && strncmp(q, p, klen) == 0) {
        same = qlen == len && strncmp(q, p, len) == 0;
        break;
      }
      q += qlen + (qend ? 1 : 0);
    }
    if (!same && used + klen + 2 < outlen) {
      used += (size_t)snprintf(out + used, outlen - used, "%s%.*s", used ? ", " : "",
                               (int)(eq ? klen - 1 : klen), p);
    }
    p += len + (end ? 1 : 0);
  }
}

static char *checkpoint_path(const run *r) {
  size_t len = strlen(r->opt->out_dir) + 32;
  char *p = malloc(len);
  if (p)
    snprintf(p, len, "%s/checkpoint.safetensors", r->opt->out_dir);
  return p;
}

/* The checkpoint format this trainer writes. Format 1 (before the run
 * identity covered the configurations, the data and the loss record) is
 * refused. */
#define CHECKPOINT_FORMAT "sdq-train-checkpoint-2"

/* The metadata keys that checkpoint_checksum covers, in its order. */
static const char *const checkpoint_keys[] = {"run",     "step",      "epoch",     "position",
                                              "skipped", "rng",       "model_rng", "last_loss",
                                              "loss_tail", "loss_tail_n"};
#define N_CHECKPOINT_KEYS (sizeof checkpoint_keys / sizeof checkpoint_keys[0])

/* Mixes n floats into h word by word (their bit patterns, so the result
 * does not depend on the byte order of the machine). */
static uint64_t hash_floats(uint64_t h, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t w;
    memcpy(&w, &x[i], sizeof w);
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  return h;
}

/* Checksum of a checkpoint's contents: the tensors params, adam.m, adam.v
 * and adam.t (n_params, n_params, n_params and n_spans floats) and the
 * values of checkpoint_keys. Stored as metadata "checksum", so damage to
 * the data section or to a value is found on load. */
static uint64_t checkpoint_checksum(const run *r, const float *adam_t,
                                    const char *const values[N_CHECKPOINT_KEYS]) {
  uint64_t h = hash_floats(FNV_OFFSET, r->params, r->n_params);
  h = hash_floats(h, r->adam.m, r->n_params);
  h = hash_floats(h, r->adam.v, r->n_params);
  h = hash_floats(h, adam_t, r->n_spans);
  for (size_t k = 0; k < N_CHECKPOINT_KEYS; k++)
    h = hash_string(hash_string(h, checkpoint_keys[k]), values[k]);
  return h;
}

static void double_to_hex(double x, char *buf, size_t len) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  snprintf(buf, len, "%016" PRIx64, u);
}

static int double_from_hex(const char *s, double *x) {
  if (!s || strlen(s) != 16)
    return -1;
  char *end;
  uint64_t u = strtoull(s, &end, 16);
  if (*end)
    return -1;
  memcpy(x, &u, sizeof u);
  return 0;
}

static int save_checkpoint(run *r, char *err, size_t errlen) {
  char *path = checkpoint_path(r);
  char *identity = run_identity(r);
  float *t = malloc((r->n_spans ? r->n_spans : 1) * sizeof *t);
  if (!path || !t || !identity) {
    free(path), free(t), free(identity);
    set_err(err, errlen, "out of memory writing a checkpoint");
    return -1;
  }
  for (size_t i = 0; i < r->n_spans; i++)
    t[i] = (float)r->adam.t[i]; /* exact up to 2^24 updates */

  sdq_st_write_tensor tensors[4] = {
      {"params", 1, {r->n_params}, r->params},
      {"adam.m", 1, {r->n_params}, r->adam.m},
      {"adam.v", 1, {r->n_params}, r->adam.v},
      {"adam.t", 1, {r->n_spans}, t},
  };
  char step[32], epoch[32], pos[32], skipped[32], rng[80], model_rng[80], last[32], tail[32],
      tail_n[32], checksum[32];
  snprintf(step, sizeof step, "%d", r->step);
  snprintf(epoch, sizeof epoch, "%d", r->epoch);
  snprintf(pos, sizeof pos, "%zu", r->pos);
  snprintf(skipped, sizeof skipped, "%ld", r->skipped);
  rng_to_hex(&r->rng, rng, sizeof rng);
  rng_to_hex(&r->m->rng, model_rng, sizeof model_rng);
  double_to_hex(r->last_loss, last, sizeof last);
  double_to_hex(r->tail_sum, tail, sizeof tail);
  snprintf(tail_n, sizeof tail_n, "%d", r->tail_n);
  const char *values[N_CHECKPOINT_KEYS] = {identity, step, epoch,  pos,  skipped,
                                           rng,      model_rng, last, tail, tail_n};
  snprintf(checksum, sizeof checksum, "%016" PRIx64, checkpoint_checksum(r, t, values));
  sdq_st_metadata meta[N_CHECKPOINT_KEYS + 2];
  for (size_t k = 0; k < N_CHECKPOINT_KEYS; k++) {
    meta[k].key = checkpoint_keys[k];
    meta[k].value = values[k];
  }
  meta[N_CHECKPOINT_KEYS].key = "format";
  meta[N_CHECKPOINT_KEYS].value = CHECKPOINT_FORMAT;
  meta[N_CHECKPOINT_KEYS + 1].key = "checksum";
  meta[N_CHECKPOINT_KEYS + 1].value = checksum;
  int rc = sdq_safetensors_write(path, tensors, 4, meta, N_CHECKPOINT_KEYS + 2, err, errlen);
  free(path);
  free(identity);
  free(t);
  return rc;
}

static int read_tensor(sdq_safetensors *st, const char *name, float *dst, size_t n, char *err,
                       size_t errlen) {
  const sdq_st_tensor *t = sdq_safetensors_find(st, name);
  if (!t) {
    set_err(err, errlen, "%s: checkpoint tensor '%s' is missing", st->path, name);
    return -1;
  }
  return sdq_safetensors_read_f32(st, t, dst, n, err, errlen);
}

/* Returns 1 when a checkpoint was loaded, 0 when there is none, -1 on error
 * (the trained parameters and optimizer state are then undefined). */
static int load_checkpoint(run *r, char *err, size_t errlen) {
  char *path = checkpoint_path(r);
  char *identity = run_identity(r);
  if (!path || !identity) {
    free(path), free(identity);
    set_err(err, errlen, "out of memory");
    return -1;
  }
  struct stat sb;
  if (stat(path, &sb) != 0) {
    free(path), free(identity);
    return 0;
  }

  sdq_safetensors st;
  memset(&st, 0, sizeof st);
  int rc = sdq_safetensors_open(&st, path, err, errlen);
  float *t = malloc((r->n_spans ? r->n_spans : 1) * sizeof *t);
  if (rc == 0 && !t) {
    set_err(err, errlen, "out of memory");
    rc = -1;
  }

  /* 1. Format and run identity. */
  const char *format = rc == 0 ? sdq_safetensors_metadata(&st, "format") : NULL;
  const char *saved = rc == 0 ? sdq_safetensors_metadata(&st, "run") : NULL;
  if (rc == 0 && format && strncmp(format, "sdq-train-checkpoint-", 21) == 0 &&
      strcmp(format, CHECKPOINT_FORMAT) != 0) {
    set_err(err, errlen, "%s: the checkpoint has format '%s', written by an older or newer sdq; "
                         "this sdq resumes only '%s'. Train again without --resume, or use "
                         "another --out folder.", path, format, CHECKPOINT_FORMAT);
    rc = -1;
  } else if (rc == 0 && !format) {
    set_err(err, errlen, "%s: not an sdq training checkpoint (metadata \"format\" is missing)",
            path);
    rc = -1;
  }
  if (rc == 0 && (!saved || strcmp(saved, identity) != 0)) {
    char diff[512];
    identity_diff(saved ? saved : "", identity, diff, sizeof diff);
    set_err(err, errlen,
            "%s: the checkpoint belongs to another run: it was written by an older sdq or by a "
            "different run (it has '%s', this run is '%s'; they differ in: %s). Use the same "
            "options and data, or another --out folder.",
            path, saved ? saved : "?", identity, diff);
    rc = -1;
  }

  /* 2. Tensors, values and their checksum. */
  if (rc == 0 && (read_tensor(&st, "params", r->params, r->n_params, err, errlen) ||
                  read_tensor(&st, "adam.m", r->adam.m, r->n_params, err, errlen) ||
                  read_tensor(&st, "adam.v", r->adam.v, r->n_params, err, errlen) ||
                  read_tensor(&st, "adam.t", t, r->n_spans, err, errlen)))
    rc = -1;
  const char *values[N_CHECKPOINT_KEYS];
  for (size_t k = 0; k < N_CHECKPOINT_KEYS; k++)
    values[k] = rc == 0 ? sdq_safetensors_metadata(&st, checkpoint_keys[k]) : NULL;
  if (rc == 0) {
    const char *stored = sdq_safetensors_metadata(&st, "checksum");
    char actual[32];
    snprintf(actual, sizeof actual, "%016" PRIx64, checkpoint_checksum(r, t, values));
    if (!stored || strcmp(stored, actual) != 0) {
      set_err(err, errlen, "%s: the checkpoint is damaged: its checksum is %s but its contents "
                           "give %s. Delete it and train again without --resume.",
              path, stored ? stored : "missing", actual);
      rc = -1;
    }
  }

  /* 3. Position, RNGs and loss record. */
  if (rc == 0) {
    for (size_t i = 0; i < r->n_spans; i++)
      r->adam.t[i] = (int64_t)t[i];
    const char *step = values[1], *epoch = values[2], *pos = values[3], *skipped = values[4];
    if (!step || !epoch || !pos || !skipped || !values[9] ||
        rng_from_hex(values[5], &r->rng) || rng_from_hex(values[6], &r->m->rng) ||
        double_from_hex(values[7], &r->last_loss) || double_from_hex(values[8], &r->tail_sum)) {
      set_err(err, errlen, "%s: checkpoint metadata (step, position, RNG state or losses) is "
                           "invalid", path);
      rc = -1;
    } else {
      r->step = atoi(step);
      r->epoch = atoi(epoch);
      r->pos = (size_t)strtoull(pos, NULL, 10);
      r->skipped = atol(skipped);
      r->tail_n = atoi(values[9]);
      if (r->step < 0 || r->step > r->opt->steps || r->pos > r->data->n_questions ||
          r->epoch < 0 || r->tail_n < 0 || r->tail_n > r->step) {
        set_err(err, errlen, "%s: checkpoint metadata is out of range (step %d of %d, position "
                             "%zu of %zu questions)", path, r->step, r->opt->steps, r->pos,
                r->data->n_questions);
        rc = -1;
        goto done;
      }
      shuffle(r);
      if (r->opt->train_base)
        sdq_gpt2_base_changed(r->m);
      rc = 1;
    }
  }
done:
  free(t);
  free(path);
  free(identity);
  sdq_safetensors_close(&st);
  return rc;
}

/* ------------------------------------------------------------- progress */

static void print_progress(const sdq_train_options *opt, int step, double loss, double tok_s,
                           double eta, int final) {
  static double last_print;
  double t = now_seconds();
  int tty = isatty(STDERR_FILENO);
  int every = opt->steps / 10 > 0 ? opt->steps / 10 : 1;
  if (!final && ((tty && t - last_print < 0.25) || (!tty && step % every != 0)))
    return;
  last_print = t;
  int eta_s = (int)(eta + 0.5);
  fprintf(stderr, "%sstep %d/%d  loss %.4f  %.0f tok/s  ETA %d:%02d%s", tty ? "\r" : "", step,
          opt->steps, loss, tok_s, eta_s / 60, eta_s % 60, tty && !final ? "   " : "\n");
  fflush(stderr);
}

/* --------------------------------------------------------------- steps */

/* Copies the teacher's tempered probabilities of the last forward pass into
 * r->teacher, growing it to the pass's loss rows. */
static int take_teacher(run *r, char *err, size_t errlen) {
  size_t rows = (size_t)sdq_gpt2_loss_rows(r->m), V = (size_t)r->m->cfg.vocab_size;
  if (rows > r->teacher_rows) {
    float *t = realloc(r->teacher, rows * V * sizeof *t);
    if (!t) {
      set_err(err, errlen, "out of memory for the teacher probabilities (%zu rows of %zu)", rows,
              V);
      return -1;
    }
    r->teacher = t;
    r->teacher_rows = rows;
  }
  return sdq_gpt2_tempered_probs(r->m, r->opt->distill_temp, r->teacher, (int)r->teacher_rows,
                                 NULL, err, errlen);
}

/* Forward and backward of one micro-batch at every configuration of this
 * step; returns the mean loss over the configurations in *loss. With
 * distillation the teacher runs first and the others learn from it. */
static int micro_batch(run *r, int draw, double *loss, double *tokens, char *err,
                       size_t errlen) {
  const sdq_train_options *o = r->opt;
  int B = o->batch_size;
  for (int b = 0; b < B; b++) {
    sdq_example_free(&r->examples[b]);
    if (next_example(r, &r->examples[b], err, errlen))
      return -1;
  }
  int T = assemble(r, B);

  sdq_gpt2_batch batch = {0};
  batch.B = B;
  batch.T = T;
  batch.tokens = r->tokens;
  batch.targets = r->targets;
  batch.loss_mask = r->mask;
  batch.logits_masked_only = 1;

  int n_pass = o->joint ? r->sched->n_options : 1;
  for (int p = 0; p < n_pass; p++)
    sdq_schedule_config_at(r->sched, r->step, o->joint ? p : draw, &r->pass_cfg[p]);
  int teacher = o->distill ? sdq_train_teacher_index(r->pass_cfg, n_pass, r->m->cfg.n_embd) : 0;

  /* With distillation the teacher runs first, then the others in schedule
   * order. */
  int order[SDQ_SCHEDULE_MAX_OPTIONS], n_order = 0;
  if (o->distill)
    order[n_order++] = teacher;
  for (int p = 0; p < n_pass; p++)
    if (!o->distill || p != teacher)
      order[n_order++] = p;

  double sum = 0.0;
  for (int k = 0; k < n_pass; k++) {
    int p = order[k];
    if (sdq_gpt2_set_bits(r->m, &r->pass_cfg[p], err, errlen))
      return -1;
    batch.soft_targets = o->distill && k > 0 ? r->teacher : NULL;
    batch.soft_alpha = o->distill_alpha;
    batch.soft_temp = o->distill_temp;
    float l = 0.0f;
    if (sdq_gpt2_forward(r->m, &batch, &l, err, errlen))
      return -1;
    if (o->distill && k == 0 && take_teacher(r, err, errlen))
      return -1;
    if (sdq_gpt2_backward(r->m, 1.0f / (float)o->grad_accum, NULL, err, errlen))
      return -1;
    sum += l;
    *tokens += (double)B * T;
  }
  *loss = sum / n_pass;
  return 0;
}

/* Clips and applies the gradient of everything that ran this step. */
static void optimizer_step(run *r) {
  float lr = sdq_lr_at(&r->adam.cfg, r->step);
  if (r->opt->train_base) {
    double ss = sdq_sum_squares(r->grads, r->n_params);
    float scale = sdq_clip_factor(ss, r->adam.cfg.grad_clip);
    sdq_adamw_update(&r->adam, 0, r->params, r->grads, 0, r->n_params, lr, scale);
    sdq_gpt2_base_changed(r->m);
    return;
  }

  const sdq_lora_bank *bank = &r->m->lora;
  double ss = 0.0;
  for (size_t i = 0; i < r->n_spans; i++) {
    const sdq_lora_adapter *a = &bank->adapters[i];
    if (a->used)
      ss += sdq_sum_squares(r->grads + a->offset, a->count);
  }
  float scale = sdq_clip_factor(ss, r->adam.cfg.grad_clip);
  for (size_t i = 0; i < r->n_spans; i++) {
    const sdq_lora_adapter *a = &bank->adapters[i];
    if (a->used)
      sdq_adamw_update(&r->adam, i, r->params, r->grads, a->offset, a->count, lr, scale);
  }
}

static int check_options(const sdq_gpt2 *m, const sdq_squad *data, const sdq_schedule *sched,
                         const sdq_train_options *o, char *err, size_t errlen) {
  if (o->steps < 1 || o->batch_size < 1 || o->grad_accum < 1) {
    set_err(err, errlen, "steps, batch size and gradient accumulation must be >= 1 "
                         "(got %d, %d, %d)", o->steps, o->batch_size, o->grad_accum);
    return -1;
  }
  if (o->max_len < 2 || o->max_len > m->cfg.n_ctx) {
    set_err(err, errlen, "max length %d is outside 2 .. n_ctx (%d)", o->max_len, m->cfg.n_ctx);
    return -1;
  }
  if (data->n_questions == 0) {
    set_err(err, errlen, "%s: the training data has no questions", data->path);
    return -1;
  }
  if (sched->n_options < 1) {
    set_err(err, errlen, "the schedule has no configuration");
    return -1;
  }
  if (o->joint && sched->kind == SDQ_SCHEDULE_CPT) {
    set_err(err, errlen, "joint training sums the losses of the schedule's configurations; "
                         "it cannot be combined with the cpt schedule");
    return -1;
  }
  if (o->distill) {
    if (!o->joint || sched->n_options < 2) {
      set_err(err, errlen, "distillation needs joint training over at least two configurations "
                           "(got %s with %d)", o->joint ? "joint" : "no joint", sched->n_options);
      return -1;
    }
    if (!(o->distill_alpha >= 0.0f && o->distill_alpha <= 1.0f) ||
        !(isfinite(o->distill_temp) && o->distill_temp > 0.0f)) {
      set_err(err, errlen, "distillation alpha %g must be in [0, 1] and temperature %g a finite "
                           "value > 0", (double)o->distill_alpha, (double)o->distill_temp);
      return -1;
    }
  }
  if (o->checkpoint_every < 0 || (o->resume && !o->out_dir)) {
    set_err(err, errlen, "resume and checkpoints need an output folder");
    return -1;
  }
  if (o->train_base) {
    for (int i = 0; i < sched->n_options; i++)
      for (int j = 0; j < sched->options[i].n_layer * SDQ_LIN_COUNT; j++)
        if (!sdq_bits_is_full(sched->options[i].layers[j].w_bits)) {
          set_err(err, errlen, "base-model training runs in fp32 only; configuration '%s' "
                               "quantizes some layer", sched->names[i]);
          return -1;
        }
    return 0;
  }
  if (m->lora.cfg.rank <= 0) {
    set_err(err, errlen, "LoRA training needs a LoRA bank (rank >= 1) on the model");
    return -1;
  }
  unsigned char used[33];
  sdq_schedule_bits_used(sched, used);
  for (int b = 0; b <= 32; b++)
    if (used[b] && sdq_lora_set_index(&m->lora, b) < 0) {
      set_err(err, errlen, "the schedule runs %d-bit layers but the LoRA bank has no %d-bit "
                           "adapter set", b, b);
      return -1;
    }
  return 0;
}

static void run_free(run *r) {
  sdq_adamw_free(&r->adam);
  free(r->order);
  if (r->examples)
    for (int b = 0; b < r->opt->batch_size; b++)
      sdq_example_free(&r->examples[b]);
  free(r->examples);
  free(r->tokens);
  free(r->targets);
  free(r->mask);
  free(r->teacher);
  for (int p = 0; p < SDQ_SCHEDULE_MAX_OPTIONS; p++)
    sdq_bitconfig_free(&r->pass_cfg[p]);
}

int sdq_train(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *data, const sdq_schedule *sched,
              const sdq_train_options *opt, sdq_train_result *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (check_options(m, data, sched, opt, err, errlen))
    return -1;

  run r;
  memset(&r, 0, sizeof r);
  r.m = m;
  r.tok = tok;
  r.data = data;
  r.sched = sched;
  r.opt = opt;
  if (opt->train_base) {
    if (sdq_gpt2_set_train_base(m, 1, err, errlen))
      return -1;
    r.params = m->params_memory;
    r.grads = m->grads_memory;
    r.n_params = m->n_params;
    r.n_spans = 1;
  } else {
    r.params = m->lora.params;
    r.grads = m->lora.grads;
    r.n_params = m->lora.n_params;
    r.n_spans = (size_t)m->lora.cfg.n_sets * (size_t)m->lora.n_layer * SDQ_LIN_COUNT;
  }

  r.base_hash = fnv1a64(m->params_memory, m->n_params * sizeof *m->params_memory);
  r.data_hash = data_fingerprint(data);
  if (tokenizer_fingerprint(tok, data, &r.tok_hash, err, errlen))
    return -1;

  /* 1. State: optimizer, data order, buffers. */
  sdq_adamw_config acfg = opt->adamw;
  acfg.total_steps = opt->steps;
  size_t bt = (size_t)opt->batch_size * (size_t)opt->max_len;
  int rc = -1;
  if (sdq_adamw_init(&r.adam, &acfg, r.n_params, r.n_spans, err, errlen))
    goto out;
  r.order = malloc(data->n_questions * sizeof *r.order);
  r.examples = calloc((size_t)opt->batch_size, sizeof *r.examples);
  r.tokens = malloc(bt * sizeof *r.tokens);
  r.targets = malloc(bt * sizeof *r.targets);
  r.mask = malloc(bt * sizeof *r.mask);
  int copy_failed = 0;
  for (int p = 0; p < sched->n_options; p++)
    copy_failed |= sdq_bitconfig_copy(&r.pass_cfg[p], &sched->options[0]) != 0;
  if (!r.order || !r.examples || !r.tokens || !r.targets || !r.mask || copy_failed) {
    set_err(err, errlen, "out of memory allocating training buffers");
    goto out;
  }
  sdq_rng_seed(&r.rng, opt->seed);
  shuffle(&r);

  /* 2. Stale temporary checkpoints of killed runs, then resume. */
  if (opt->out_dir) {
    char *path = checkpoint_path(&r);
    if (!path) {
      set_err(err, errlen, "out of memory");
      goto out;
    }
    char removed[1024];
    unsigned long long bytes = 0;
    int n_removed = sdq_remove_stale_temps(path, removed, sizeof removed, &bytes, err, errlen);
    if (n_removed < 0) {
      free(path);
      goto out;
    }
    if (n_removed > 0)
      fprintf(stderr, "sdq train: removed %d stale temporary checkpoint file(s) (%.1f MB) left "
                      "by killed runs in %s: %s\n", n_removed, (double)bytes / 1e6,
              opt->out_dir, removed);
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (opt->resume && !exists)
      fprintf(stderr, "sdq train: NOTE: --resume found no checkpoint (%s does not exist); "
                      "starting from step 0\n", path);
    else if (!opt->resume && exists)
      fprintf(stderr, "sdq train: NOTE: overwriting the checkpoint in %s (use --resume to "
                      "continue it)\n", opt->out_dir);
    free(path);
  }
  if (opt->resume) {
    int got = load_checkpoint(&r, err, errlen);
    if (got < 0)
      goto out;
    if (got > 0 && r.step >= opt->steps)
      fprintf(stderr, "sdq train: the checkpoint in %s already finished at step %d; nothing to "
                      "do\n", opt->out_dir, r.step);
    else if (got > 0)
      fprintf(stderr, "sdq train: resuming at step %d of %d\n", r.step, opt->steps);
  }
  res->resumed_from = r.step;
  res->already_finished = r.step >= opt->steps;

  /* 3. Steps. */
  m->training = 1;
  sdq_gpt2_zero_grad(m);
  double t0 = now_seconds();
  int tail_start = tail_from(opt->steps);
  while (r.step < opt->steps) {
    int draw = sched->kind == SDQ_SCHEDULE_RANDOM && !opt->joint
                   ? (int)sdq_rng_below(&r.rng, (uint32_t)sched->n_options)
                   : 0;
    double step_loss = 0.0;
    for (int a = 0; a < opt->grad_accum; a++) {
      double l = 0.0;
      if (micro_batch(&r, draw, &l, &res->tokens, err, errlen))
        goto out;
      step_loss += l / opt->grad_accum;
    }
    if (!isfinite(step_loss)) {
      set_err(err, errlen, "the loss became %g at step %d; lower --lr or raise --grad-clip",
              step_loss, r.step);
      goto out;
    }
    optimizer_step(&r);
    sdq_gpt2_zero_grad(m);
    r.step++;
    r.last_loss = step_loss;
    if (r.step > tail_start) {
      r.tail_sum += step_loss;
      r.tail_n++;
    }

    if (opt->out_dir &&
        ((opt->checkpoint_every > 0 && r.step % opt->checkpoint_every == 0) ||
         r.step == opt->steps || r.step == opt->stop_after) &&
        save_checkpoint(&r, err, errlen))
      goto out;

    if (opt->progress) {
      double dt = now_seconds() - t0;
      int done = r.step - res->resumed_from;
      print_progress(opt, r.step, step_loss, res->tokens / (dt > 0 ? dt : 1e-9),
                     dt / done * (opt->steps - r.step), r.step == opt->steps);
    }
    if (opt->stop_after > 0 && r.step == opt->stop_after && r.step < opt->steps) {
      res->stopped = 1;
      break;
    }
  }
  res->steps_done = r.step;
  res->last_loss = r.last_loss;
  res->mean_loss = r.tail_n ? r.tail_sum / r.tail_n : r.last_loss;
  res->skipped = r.skipped;
  res->drawn = r.skipped + (long)r.step * opt->grad_accum * opt->batch_size;
  res->seconds = now_seconds() - t0;
  if (res->drawn > 0 && (double)res->skipped > SDQ_TRAIN_SKIP_WARN * (double)res->drawn)
    fprintf(stderr, "sdq train: WARNING: %ld of %ld drawn examples (%.0f%%) were skipped because "
                    "the question with its answer does not fit in --max-len %d tokens; raise "
                    "--max-len.\n",
            res->skipped, res->drawn, 100.0 * (double)res->skipped / (double)res->drawn,
            opt->max_len);
  rc = 0;

out:
  m->training = 0;
  run_free(&r);
  return rc;
}
