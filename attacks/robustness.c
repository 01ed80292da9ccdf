/* robustness.c - builds attack examples from SQuAD questions, runs an attack
 * per question against a target and scores clean vs attacked answers
 * (Table 3), plus the transfer matrix across precisions. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attacks/attacks.h"
#include "model/tokenizer.h"
#include "train/metrics.h"
#include "train/prompt.h"
#include "train/squad.h"

static const char *const attack_names[] = {"pgd_linf", "pgd_l2", "hotflip", "eot_pgd_linf"};

const char *sdq_attack_name(sdq_attack_kind k) {
  return (unsigned)k < 4 ? attack_names[k] : "unknown";
}

int sdq_attack_parse(const char *name, sdq_attack_kind *k) {
  for (int i = 0; i < 4; i++) {
    if (!strcmp(name, attack_names[i])) {
      *k = (sdq_attack_kind)i;
      return 0;
    }
  }
  return -1;
}

/* ------------------------------------------------------------ examples */

int sdq_attack_example_build(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi,
                             int max_len, sdq_rng *rng, sdq_attack_example *ex,
                             char *err, size_t errlen) {
  memset(ex, 0, sizeof *ex);
  const sdq_squad_question *q = &sq->questions[qi];
  const sdq_squad_paragraph *par = &sq->paragraphs[q->paragraph];

  sdq_example pe;
  int rc = sdq_prompt_train(tok, sq, qi, 0, max_len, rng, &pe, err, errlen);
  if (rc != 0)
    return rc;

  /* 1. Where the context starts: after the tokens of "Context:", which the
   * prompt builder encodes on its own. */
  int32_t *head = NULL, *ctx = NULL;
  size_t n_head = 0, n_ctx = 0;
  size_t ctx_len = strlen(par->context);
  char *spaced = malloc(ctx_len + 2);
  rc = -1;
  if (!spaced) {
    snprintf(err, errlen, "question %s: out of memory", q->id);
    goto done;
  }
  spaced[0] = ' ';
  memcpy(spaced + 1, par->context, ctx_len + 1);
  if (sdq_tokenizer_encode(tok, "Context:", 8, 0, &head, &n_head, err, errlen) ||
      sdq_tokenizer_encode(tok, spaced, ctx_len + 1, 0, &ctx, &n_ctx, err, errlen))
    goto done;
  if ((int)n_ctx != pe.context_tokens ||
      (int)n_head + pe.window_tokens > pe.n_prompt ||
      memcmp(pe.tokens + n_head, ctx + pe.window_begin,
             sizeof(int32_t) * (size_t)pe.window_tokens) != 0) {
    snprintf(err, errlen,
             "question %s: the prompt's context tokens differ from the context's own "
             "tokenization (prompt layout changed?)", q->id);
    goto done;
  }

  ex->ids = pe.tokens;
  pe.tokens = NULL;
  ex->n = pe.n_tokens;
  ex->n_prompt = pe.n_prompt;
  ex->ctx_begin = (int)n_head;
  ex->ctx_end = (int)n_head + pe.window_tokens;
  ex->question = qi;
  ex->protect = calloc((size_t)ex->n_prompt, 1);
  if (!ex->protect) {
    snprintf(err, errlen, "question %s: out of memory", q->id);
    goto done;
  }

  /* 2. Protect every context token overlapping a gold answer's bytes
   * (+1 for the leading space of " CONTEXT"). */
  size_t tok_begin = 0;
  for (size_t i = 0; i < n_ctx; i++) {
    size_t len = 0;
    sdq_tokenizer_token_bytes(tok, ctx[i], &len);
    size_t tok_end = tok_begin + len;
    int pos = (int)i - pe.window_begin + ex->ctx_begin;
    for (size_t a = 0; a < q->n_answers && pos >= ex->ctx_begin && pos < ex->ctx_end; a++) {
      size_t a_begin = q->answers[a].start + 1, a_end = a_begin + q->answers[a].len;
      if (tok_begin < a_end && a_begin < tok_end)
        ex->protect[pos] = 1;
    }
    tok_begin = tok_end;
  }
  rc = 0;

done:
  if (rc != 0)
    sdq_attack_example_free(ex);
  sdq_example_free(&pe);
  free(spaced);
  free(head);
  free(ctx);
  return rc;
}

/* ----------------------------------------------------------- scoring */

/* Generates the greedy answer from the prompt (ids, or embeds when not
 * NULL) at the target's next draw and scores it against question qi. */
static int answer_and_score(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq,
                            sdq_attack_target *t, const sdq_attack_example *ex,
                            const int32_t *ids, const float *embeds, const uint8_t *stop_ids,
                            int max_new, int bits_seen[33], double *em, double *f1,
                            char *err, size_t errlen) {
  int32_t *out = malloc(sizeof(int32_t) * (size_t)(max_new > 0 ? max_new : 1));
  if (!out) {
    snprintf(err, errlen, "out of memory generating an answer");
    return -1;
  }
  sdq_gen_options g = {.max_new = max_new, .stop_ids = stop_ids,
                       .eot_id = sdq_tokenizer_eot(tok) < m->cfg.vocab_size
                                     ? sdq_tokenizer_eot(tok) : -1};
  int n_out = 0, rc = -1;
  char *text = NULL;
  if (sdq_target_apply(t, m, err, errlen))
    goto done;
  if (bits_seen && t->last_bits >= 0 && t->last_bits <= 32)
    bits_seen[t->last_bits]++;
  if (sdq_gpt2_generate(m, embeds ? NULL : ids, embeds, ex->n_prompt, &g, out, &n_out, NULL,
                        err, errlen))
    goto done;
  text = sdq_prompt_decode_answer(tok, out, n_out, err, errlen);
  if (!text)
    goto done;
  if (sdq_squad_score_one(text, &sq->questions[ex->question], em, f1) != 0) {
    snprintf(err, errlen, "question %s: scoring the answer failed (C.UTF-8 locale missing?)",
             sq->questions[ex->question].id);
    goto done;
  }
  rc = 0;

done:
  free(text);
  free(out);
  return rc;
}

/* splitmix64 finaliser: decorrelates (seed, question) pairs. */
static uint64_t mix(uint64_t seed, uint64_t salt) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the configured attack on ex; fills adv_ids (prompt ids) or
 * adv_embeds (prompt embeddings), whichever the attack produces. */
static int run_attack(sdq_gpt2 *m, sdq_attack_target *t, const sdq_attack_example *ex,
                      const sdq_robustness_options *o, sdq_rng *rng, int32_t *adv_ids,
                      float **adv_embeds, int *n_flips, char *err, size_t errlen) {
  *adv_embeds = NULL;
  *n_flips = 0;
  if (o->attack == SDQ_ATTACK_HOTFLIP) {
    sdq_hotflip_params hp = {.max_flips = o->max_flips, .allowed = o->allowed,
                             .eot_samples = 1};
    return sdq_hotflip_attack(m, t, ex, &hp, adv_ids, n_flips, err, errlen);
  }

  sdq_pgd_params pp = o->pgd;
  pp.norm = o->attack == SDQ_ATTACK_PGD_L2 ? SDQ_NORM_L2 : SDQ_NORM_LINF;
  pp.eot_samples = o->attack == SDQ_ATTACK_EOT_PGD_LINF ? (o->eot_samples > 0 ? o->eot_samples : 1) : 1;
  float *e = malloc(sizeof(float) * (size_t)ex->n_prompt * m->cfg.n_embd);
  if (!e) {
    snprintf(err, errlen, "out of memory for the PGD embeddings");
    return -1;
  }
  if (sdq_pgd_attack(m, t, ex, &pp, rng, e, NULL, err, errlen)) {
    free(e);
    return -1;
  }
  *adv_embeds = e;
  return 0;
}

int sdq_robustness_run(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq,
                       const size_t *qs, size_t n_q, sdq_attack_target *t,
                       const sdq_robustness_options *o, sdq_robustness_result *res,
                       char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (o->attack == SDQ_ATTACK_HOTFLIP && !o->allowed) {
    snprintf(err, errlen, "HotFlip needs its candidate vocabulary (sdq_hotflip_vocab)");
    return -1;
  }
  uint8_t *stop_ids = sdq_prompt_stop_ids(tok);
  int32_t *adv_ids = malloc(sizeof(int32_t) * (size_t)m->cfg.n_ctx);
  if (!stop_ids || !adv_ids) {
    free(stop_ids);
    free(adv_ids);
    snprintf(err, errlen, "out of memory starting the attack");
    return -1;
  }
  int saved_training = m->training;
  m->training = 0;

  double sum_cf1 = 0, sum_af1 = 0, sum_cem = 0, sum_aem = 0, sum_flips = 0;
  double t0 = now_seconds();
  int rc = 0;
  for (size_t i = 0; i < n_q && rc == 0; i++) {
    /* 1. Per-question streams, so outcomes do not depend on the order. */
    sdq_rng rng;
    sdq_rng_seed(&rng, mix(o->seed, qs[i]));
    if (t->kind == SDQ_TARGET_RANDOM_SWITCH)
      sdq_rng_seed(&t->rng, mix(o->seed ^ 0x5157ull, qs[i]));

    sdq_attack_example ex;
    int b = sdq_attack_example_build(tok, sq, qs[i], m->cfg.n_ctx - o->max_new, &rng, &ex,
                                     err, errlen);
    if (b < 0) {
      rc = -1;
      break;
    }
    if (b == 1) {
      res->n_skipped++;
      continue;
    }

    /* 2. Clean answer, attack, attacked answer. */
    double cem = 0, cf1 = 0, aem = 0, af1 = 0;
    float *adv_embeds = NULL;
    int flips = 0;
    if (answer_and_score(m, tok, sq, t, &ex, ex.ids, NULL, stop_ids, o->max_new,
                         res->bits_seen, &cem, &cf1, err, errlen) ||
        run_attack(m, t, &ex, o, &rng, adv_ids, &adv_embeds, &flips, err, errlen) ||
        answer_and_score(m, tok, sq, t, &ex, adv_ids, adv_embeds, stop_ids, o->max_new,
                         res->bits_seen, &aem, &af1, err, errlen))
      rc = -1;
    free(adv_embeds);
    sdq_attack_example_free(&ex);
    if (rc)
      break;

    /* 3. Aggregate. */
    res->n_questions++;
    sum_cf1 += cf1, sum_af1 += af1, sum_cem += cem, sum_aem += aem, sum_flips += flips;
    if (cf1 > 0) {
      res->n_clean_positive++;
      if (af1 < cf1)
        res->n_success++;
    }
    if (o->progress) {
      double el = now_seconds() - t0;
      fprintf(stderr, "\r  %s on %s: question %zu/%zu, clean F1 %.1f, adversarial F1 %.1f, about %.0f s left   ",
              sdq_attack_name(o->attack), t->name, i + 1, n_q,
              100.0 * sum_cf1 / res->n_questions, 100.0 * sum_af1 / res->n_questions,
              el / (double)(i + 1) * (double)(n_q - i - 1));
    }
  }
  if (o->progress && n_q > 0)
    fprintf(stderr, "\n");

  int n = res->n_questions;
  res->clean_f1 = n ? 100.0 * sum_cf1 / n : NAN;
  res->adv_f1 = n ? 100.0 * sum_af1 / n : NAN;
  res->clean_em = n ? 100.0 * sum_cem / n : NAN;
  res->adv_em = n ? 100.0 * sum_aem / n : NAN;
  res->mean_flips = n ? sum_flips / n : 0;
  res->success_rate = res->n_clean_positive ? 100.0 * res->n_success / res->n_clean_positive : NAN;

  m->training = saved_training;
  free(stop_ids);
  free(adv_ids);
  return rc;
}

/* ------------------------------------------------------------ transfer */

int sdq_transfer_run(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq,
                     const size_t *qs, size_t n_q, const int *bits, int n_bits,
                     const sdq_robustness_options *o, double *clean_f1,
                     double *adv_f1, char *err, size_t errlen) {
  if (n_bits < 1 || n_bits > SDQ_TARGET_MAX_BITS) {
    snprintf(err, errlen, "transfer matrix: %d precisions given; use 1 to %d", n_bits,
             SDQ_TARGET_MAX_BITS);
    return -1;
  }
  sdq_attack_target targets[SDQ_TARGET_MAX_BITS];
  for (int a = 0; a < n_bits; a++) {
    /* A one-element random_switch set is a static uniform precision. */
    if (sdq_target_init_switch(&targets[a], &bits[a], 1, 0, o->seed, err, errlen))
      return -1;
    snprintf(targets[a].name, sizeof targets[a].name, "%dbit", bits[a]);
  }
  for (int b = 0; b < n_bits; b++)
    clean_f1[b] = 0;
  for (int k = 0; k < n_bits * n_bits; k++)
    adv_f1[k] = 0;

  uint8_t *stop_ids = sdq_prompt_stop_ids(tok);
  int32_t *adv_ids = malloc(sizeof(int32_t) * (size_t)m->cfg.n_ctx);
  int saved_training = m->training, rc = 0, n = 0;
  m->training = 0;
  if (!stop_ids || !adv_ids) {
    snprintf(err, errlen, "out of memory starting the transfer matrix");
    rc = -1;
  }

  for (size_t i = 0; i < n_q && rc == 0; i++) {
    sdq_rng rng;
    sdq_rng_seed(&rng, mix(o->seed, qs[i]));
    sdq_attack_example ex;
    int r = sdq_attack_example_build(tok, sq, qs[i], m->cfg.n_ctx - o->max_new, &rng, &ex,
                                     err, errlen);
    if (r < 0) {
      rc = -1;
      break;
    }
    if (r == 1)
      continue;

    double em, f1;
    for (int b = 0; b < n_bits && rc == 0; b++) {
      rc = answer_and_score(m, tok, sq, &targets[b], &ex, ex.ids, NULL, stop_ids, o->max_new,
                            NULL, &em, &f1, err, errlen);
      clean_f1[b] += f1;
    }
    for (int a = 0; a < n_bits && rc == 0; a++) {
      float *adv_embeds = NULL;
      int flips = 0;
      sdq_rng arng;
      sdq_rng_seed(&arng, mix(o->seed ^ 0xa77ull, qs[i]));
      rc = run_attack(m, &targets[a], &ex, o, &arng, adv_ids, &adv_embeds, &flips, err, errlen);
      for (int b = 0; b < n_bits && rc == 0; b++) {
        rc = answer_and_score(m, tok, sq, &targets[b], &ex, adv_ids, adv_embeds, stop_ids,
                              o->max_new, NULL, &em, &f1, err, errlen);
        adv_f1[a * n_bits + b] += f1;
      }
      free(adv_embeds);
    }
    sdq_attack_example_free(&ex);
    n++;
    if (o->progress)
      fprintf(stderr, "\r  transfer %s: question %zu/%zu   ", sdq_attack_name(o->attack), i + 1,
              n_q);
  }
  if (o->progress)
    fprintf(stderr, "\n");

  for (int b = 0; b < n_bits; b++)
    clean_f1[b] = n ? 100.0 * clean_f1[b] / n : NAN;
  for (int k = 0; k < n_bits * n_bits; k++)
    adv_f1[k] = n ? 100.0 * adv_f1[k] / n : NAN;
  for (int a = 0; a < n_bits; a++)
    sdq_target_free(&targets[a]);
  m->training = saved_training;
  free(stop_ids);
  free(adv_ids);
  return rc;
}
