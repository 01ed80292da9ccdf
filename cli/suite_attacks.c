/* suite_attacks.c - the attack grid (every attack against every target, and
 * the transfer matrix) shared by 'sdq attack' and step 6 of 'sdq suite'. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attacks/attacks.h"
#include "cli/suite.h"
#include "model/tokenizer.h"
#include "train/setup.h"
#include "train/squad.h"

sdq_attack_grid sdq_attack_grid_defaults(void) {
  sdq_attack_grid g = {
      .attacks = "pgd_linf,hotflip",
      .targets = "fp32_lora,static_8bit,random_switch",
      .static_config = NULL,
      .switch_bits = {4, 6, 8},
      .n_switch = 3,
      .eps_rms = 0.5f,
      .step_rms = 0.2f,
      .l2_scale = 1.0f,
      .steps = 5,
      .random_start = 1,
      .max_flips = 3,
      .eot_samples = 3,
      .max_new = 16,
      .transfer = 0,
      .seed = 1234,
      .progress = 1,
  };
  return g;
}

json_t *sdq_attack_grid_options(const sdq_attack_grid *g) {
  json_t *bits = json_array();
  for (int i = 0; i < g->n_switch; i++)
    json_array_append_new(bits, json_integer(g->switch_bits[i]));
  return json_pack("{s:s, s:s, s:s?, s:o, s:f, s:f, s:f, s:i, s:b, s:i, s:i, s:i, s:b, s:I}",
                   "attacks", g->attacks, "targets", g->targets, "static_config",
                   g->static_config, "switch_bits", bits, "eps_rms", (double)g->eps_rms,
                   "step_rms", (double)g->step_rms, "l2_scale", (double)g->l2_scale,
                   "steps", g->steps, "random_start", g->random_start, "max_flips",
                   g->max_flips, "eot_samples", g->eot_samples, "max_new", g->max_new,
                   "transfer", g->transfer, "seed", (json_int_t)g->seed);
}

static double rms_of(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Sets up target name; returns 0, 1 for an unknown name (err set), -1. */
static int make_target(const char *name, sdq_gpt2 *m, const sdq_attack_grid *g,
                       sdq_attack_target *t, char *err, size_t errlen) {
  if (!strcmp(name, "fp32_lora")) {
    sdq_target_init_fp32(t);
    return 0;
  }
  if (!strcmp(name, "random_switch"))
    return sdq_target_init_switch(t, g->switch_bits, g->n_switch, 0, g->seed, err, errlen);
  if (!strcmp(name, "static_8bit")) {
    sdq_bitconfig cfg = {0};
    char shown[256];
    int rc = g->static_config
                 ? sdq_resolve_config(g->static_config, m->cfg.n_layer, &cfg, shown,
                                      sizeof shown, err, errlen)
                 : sdq_bitconfig_init_uniform(&cfg, m->cfg.n_layer, 8, 0, err, errlen);
    if (rc == 0)
      rc = sdq_target_init_static(t, "static_8bit", &cfg, err, errlen);
    sdq_bitconfig_free(&cfg);
    return rc;
  }
  snprintf(err, errlen, "unknown attack target '%s' (use fp32_lora, static_8bit or random_switch)",
           name);
  return -1;
}

static const char *token_bytes_cb(int id, size_t *len, void *ctx) {
  return sdq_tokenizer_token_bytes((const sdq_tokenizer *)ctx, id, len);
}

/* Splits a comma list into at most max items of at most 63 characters. */
static int split_list(const char *list, char items[][64], int max) {
  int n = 0;
  const char *p = list;
  while (*p && n < max) {
    size_t len = strcspn(p, ",");
    if (len > 0 && len < 64) {
      memcpy(items[n], p, len);
      items[n++][len] = '\0';
    }
    p += len + (p[len] == ',');
  }
  return n;
}

/* Checks one comma list: non-empty items, each one of names[], no repeats. */
static int check_list(const char *what, const char *list, const char *const *names, int n_names,
                      const char *hint, char *err, size_t errlen) {
  if (!list || !*list) {
    snprintf(err, errlen, "the %s list is empty (use %s)", what, hint);
    return -1;
  }
  const char *p = list;
  char seen[8][64];
  int n_seen = 0;
  for (;;) {
    size_t len = strcspn(p, ",");
    int known = 0;
    for (int i = 0; i < n_names; i++)
      known |= strlen(names[i]) == len && !strncmp(p, names[i], len);
    if (!known) {
      snprintf(err, errlen, "unknown %s '%.*s' in '%s' (use %s)", what, (int)(len > 60 ? 60 : len),
               p, list, hint);
      return -1;
    }
    for (int i = 0; i < n_seen; i++)
      if (strlen(seen[i]) == len && !strncmp(p, seen[i], len)) {
        snprintf(err, errlen, "%s '%s' is listed twice in '%s'", what, seen[i], list);
        return -1;
      }
    if (n_seen < 8) {
      memcpy(seen[n_seen], p, len);
      seen[n_seen++][len] = '\0';
    }
    if (p[len] == '\0')
      return 0;
    p += len + 1;
  }
}

int sdq_attack_grid_check(const sdq_attack_grid *g, char *err, size_t errlen) {
  static const char *const attacks[] = {"pgd_linf", "pgd_l2", "hotflip", "eot_pgd_linf"};
  static const char *const targets[] = {"fp32_lora", "static_8bit", "random_switch"};
  if (check_list("attack", g->attacks, attacks, 4, "pgd_linf, pgd_l2, hotflip or eot_pgd_linf",
                 err, errlen) ||
      check_list("attack target", g->targets, targets, 3,
                 "fp32_lora, static_8bit or random_switch", err, errlen))
    return -1;
  if (g->n_switch < 1 || g->n_switch > SDQ_TARGET_MAX_BITS) {
    snprintf(err, errlen, "the random_switch precision set has %d entries; give 1 to %d",
             g->n_switch, SDQ_TARGET_MAX_BITS);
    return -1;
  }
  for (int i = 0; i < g->n_switch; i++) {
    int b = g->switch_bits[i];
    if (!((b >= 2 && b <= 8) || b == 16 || b == 32)) {
      snprintf(err, errlen, "invalid bits %d in the random_switch precision set (use 2..8, 16 or 32)", b);
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (g->switch_bits[j] == b) {
        snprintf(err, errlen, "bits %d appear twice in the random_switch precision set", b);
        return -1;
      }
  }
  return 0;
}

int sdq_attack_grid_check_bank(const sdq_attack_grid *g, const struct sdq_gpt2 *m,
                               const char *lora_dir, char *err, size_t errlen) {
  if (!strstr(g->targets, "random_switch") && !g->transfer)
    return 0;
  if (m->lora.cfg.rank == 0)
    return 0; /* no bank: every precision runs the base weights alone */
  for (int i = 0; i < g->n_switch; i++)
    if (sdq_lora_set_index(&m->lora, g->switch_bits[i]) < 0) {
      snprintf(err, errlen, "%s: the LoRA bank has no %d-bit adapter set, which the "
               "random_switch precision set needs; train it or choose --switch-bits from the "
               "bank's sets", lora_dir ? lora_dir : "the model", g->switch_bits[i]);
      return -1;
    }
  return 0;
}

int sdq_attack_grid_run(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq,
                        const size_t *qs, size_t n_q, const sdq_attack_grid *g,
                        json_t *rows, json_t *transfer_rows, char *err, size_t errlen) {
  /* 1. Absolute PGD radii from the embedding scale: for L-inf, eps_rms
   * times the RMS of the wte entries per coordinate; for L2, l2_scale times
   * eps_rms times the typical wte row norm (RMS * sqrt(C)) over the whole
   * context perturbation. */
  const int C = m->cfg.n_embd, V = m->cfg.vocab_size;
  const double rms = rms_of(sdq_gpt2_wte(m), (size_t)V * C);
  uint8_t *allowed = malloc((size_t)V);
  if (!allowed) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int n_allowed = sdq_hotflip_vocab(V, sdq_tokenizer_eot(tok), token_bytes_cb, tok, allowed);
  if (n_allowed < 2) {
    free(allowed);
    snprintf(err, errlen, "HotFlip: only %d of %d tokens qualify as word pieces; is the tokenizer the model's?",
             n_allowed, V);
    return -1;
  }

  char attacks[8][64], targets[8][64];
  int n_attacks = split_list(g->attacks, attacks, 8), n_targets = split_list(g->targets, targets, 8);
  if (n_attacks == 0 || n_targets == 0) {
    free(allowed);
    snprintf(err, errlen, "empty attack list '%s' or target list '%s'", g->attacks, g->targets);
    return -1;
  }

  /* 2. Every attack against every target. */
  int rc = 0;
  for (int a = 0; a < n_attacks && rc == 0; a++) {
    sdq_robustness_options o = {0};
    if (sdq_attack_parse(attacks[a], &o.attack)) {
      snprintf(err, errlen, "unknown attack '%s' (use pgd_linf, pgd_l2, hotflip or eot_pgd_linf)",
               attacks[a]);
      rc = -1;
      break;
    }
    double scale = o.attack == SDQ_ATTACK_PGD_L2 ? g->l2_scale * sqrt((double)C) : 1.0;
    o.pgd.eps = (float)(g->eps_rms * rms * scale);
    o.pgd.step = (float)(g->step_rms * rms * scale);
    o.pgd.steps = g->steps;
    o.pgd.random_start = g->random_start;
    o.max_flips = g->max_flips;
    o.allowed = allowed;
    o.eot_samples = g->eot_samples;
    o.max_new = g->max_new;
    o.seed = g->seed;
    o.progress = g->progress;

    for (int t = 0; t < n_targets && rc == 0; t++) {
      sdq_attack_target target;
      if (make_target(targets[t], m, g, &target, err, errlen)) {
        rc = -1;
        break;
      }
      if (g->progress)
        fprintf(stderr, "attack %s on %s: %zu questions\n", attacks[a], targets[t], n_q);
      sdq_robustness_result r;
      double t0 = seconds_now();
      rc = sdq_robustness_run(m, tok, sq, qs, n_q, &target, &o, &r, err, errlen);
      double secs = seconds_now() - t0;
      sdq_target_free(&target);
      if (rc)
        break;
      json_t *bits_seen = json_object();
      for (int b = 0; b <= 32; b++) {
        char key[8];
        snprintf(key, sizeof key, "%d", b);
        if (r.bits_seen[b])
          json_object_set_new(bits_seen, key, json_integer(r.bits_seen[b]));
      }
      json_array_append_new(
          rows, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:f, s:o, s:f}",
                          "attack", attacks[a], "target", targets[t],
                          "clean_f1", num_or_null(r.clean_f1), "adv_f1", num_or_null(r.adv_f1),
                          "diff", num_or_null(r.adv_f1 - r.clean_f1),
                          "success_rate", num_or_null(r.success_rate),
                          "clean_em", num_or_null(r.clean_em), "adv_em", num_or_null(r.adv_em),
                          "questions", r.n_questions, "skipped", r.n_skipped,
                          "clean_positive", r.n_clean_positive, "mean_flips", r.mean_flips,
                          "bits_seen", bits_seen, "seconds", secs));
    }

    /* 3. The transfer matrix over the random_switch precisions. */
    if (rc == 0 && g->transfer && transfer_rows) {
      double clean[SDQ_TARGET_MAX_BITS], adv[SDQ_TARGET_MAX_BITS * SDQ_TARGET_MAX_BITS];
      if (g->progress)
        fprintf(stderr, "transfer matrix of %s over %d precisions\n", attacks[a], g->n_switch);
      rc = sdq_transfer_run(m, tok, sq, qs, n_q, g->switch_bits, g->n_switch, &o, clean, adv,
                            err, errlen);
      for (int x = 0; x < g->n_switch && rc == 0; x++)
        for (int y = 0; y < g->n_switch; y++)
          json_array_append_new(
              transfer_rows,
              json_pack("{s:s, s:i, s:i, s:o, s:o}", "attack", attacks[a], "crafted_bits",
                        g->switch_bits[x], "scored_bits", g->switch_bits[y], "clean_f1",
                        num_or_null(clean[y]), "adv_f1", num_or_null(adv[x * g->n_switch + y])));
    }
  }
  free(allowed);
  return rc;
}
