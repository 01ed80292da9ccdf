/* test_attacks_core.c - PGD stays inside its ball, HotFlip respects k and
 * the protected positions, the HotFlip vocabulary rule, and random_switch
 * draws its precisions uniformly. Uses a small randomly initialised model. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"

enum { V = 96, C = 32, NCTX = 64, NPROMPT = 24, NANSWER = 4 };

static sdq_gpt2 *small_model(void) {
  sdq_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = C, .n_ctx = NCTX, .vocab_size = V};
  char err[256];
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 7, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_lora_config lc = {.rank = 4, .alpha = 8, .dropout = 0, .n_sets = 4, .bits = {4, 6, 8, 32}};
  ck_assert_msg(sdq_gpt2_lora_init(m, &lc, 11, err, sizeof err) == 0, "%s", err);
  /* Non-zero B so every adapter takes part in the gradient. */
  for (size_t i = 0; i < m->lora.n_params; i++)
    if (m->lora.params[i] == 0.0f)
      m->lora.params[i] = 0.01f * (float)((int)(i % 7) - 3);
  m->training = 0;
  return m;
}

/* Prompt of NPROMPT tokens (context at [2, 18), answer tokens protected at
 * [8, 11)), followed by NANSWER answer tokens. */
static sdq_attack_example small_example(void) {
  sdq_attack_example ex = {0};
  ex.n = NPROMPT + NANSWER;
  ex.n_prompt = NPROMPT;
  ex.ctx_begin = 2;
  ex.ctx_end = 18;
  ex.ids = malloc(sizeof(int32_t) * ex.n);
  ex.protect = calloc(NPROMPT, 1);
  for (int i = 0; i < ex.n; i++)
    ex.ids[i] = (i * 37 + 5) % V;
  for (int i = 8; i < 11; i++)
    ex.protect[i] = 1;
  return ex;
}

static void check_pgd_ball(sdq_norm norm) {
  sdq_gpt2 *m = small_model();
  sdq_attack_example ex = small_example();
  sdq_attack_target t;
  sdq_target_init_fp32(&t);
  sdq_rng rng;
  sdq_rng_seed(&rng, 3);

  const float eps = 0.05f;
  sdq_pgd_params p = {.norm = norm, .eps = eps, .step = norm == SDQ_NORM_LINF ? 0.02f : 0.03f,
                      .steps = 6, .random_start = 1, .eot_samples = 1};
  float *out = malloc(sizeof(float) * NPROMPT * C), *delta = malloc(sizeof(float) * NPROMPT * C);
  float *clean = malloc(sizeof(float) * NPROMPT * C);
  char err[256];
  ck_assert_msg(sdq_pgd_attack(m, &t, &ex, &p, &rng, out, delta, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(sdq_gpt2_embed_tokens(m, ex.ids, NPROMPT, clean, err, sizeof err), 0);

  double sq = 0, maxabs = 0;
  for (int r = 0; r < NPROMPT; r++) {
    for (int c = 0; c < C; c++) {
      float d = delta[r * C + c];
      if (r < ex.ctx_begin || r >= ex.ctx_end)
        ck_assert_msg(d == 0.0f, "row %d outside the context was perturbed", r);
      ck_assert_float_eq(out[r * C + c], clean[r * C + c] + d);
      sq += (double)d * d;
      maxabs = fmax(maxabs, fabs(d));
    }
  }
  if (norm == SDQ_NORM_LINF) {
    ck_assert_msg(maxabs <= eps, "L-inf norm %g exceeds eps %g", maxabs, eps);
    ck_assert_msg(maxabs > 0.5 * eps, "PGD moved only %g", maxabs);
  } else {
    ck_assert_msg(sqrt(sq) <= eps, "L2 norm %.9g exceeds eps %g", sqrt(sq), eps);
    ck_assert_msg(sqrt(sq) > 0.5 * eps, "PGD moved only %g", sqrt(sq));
  }

  free(out), free(delta), free(clean);
  sdq_attack_example_free(&ex);
  sdq_target_free(&t);
  sdq_gpt2_free(m);
}

START_TEST(pgd_linf_stays_in_ball) { check_pgd_ball(SDQ_NORM_LINF); }
END_TEST

START_TEST(pgd_l2_stays_in_ball) { check_pgd_ball(SDQ_NORM_L2); }
END_TEST

START_TEST(pgd_raises_answer_loss) {
  sdq_gpt2 *m = small_model();
  sdq_attack_example ex = small_example();
  sdq_attack_target t;
  sdq_target_init_fp32(&t);
  sdq_rng rng;
  sdq_rng_seed(&rng, 5);
  char err[256];
  float *clean = malloc(sizeof(float) * NPROMPT * C), *out = malloc(sizeof(float) * NPROMPT * C);
  ck_assert_int_eq(sdq_gpt2_embed_tokens(m, ex.ids, NPROMPT, clean, err, sizeof err), 0);
  float before = 0, after = 0;
  ck_assert_msg(sdq_answer_loss_grad(m, &t, &ex, clean, 1, &before, NULL, err, sizeof err) == 0, "%s", err);
  sdq_pgd_params p = {.norm = SDQ_NORM_LINF, .eps = 0.1f, .step = 0.03f, .steps = 8,
                      .random_start = 0, .eot_samples = 1};
  ck_assert_int_eq(sdq_pgd_attack(m, &t, &ex, &p, &rng, out, NULL, err, sizeof err), 0);
  ck_assert_int_eq(sdq_answer_loss_grad(m, &t, &ex, out, 1, &after, NULL, err, sizeof err), 0);
  ck_assert_msg(after > before, "loss %g after PGD is not above %g before", after, before);
  free(clean), free(out);
  sdq_attack_example_free(&ex);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(hotflip_respects_k_and_answer) {
  sdq_gpt2 *m = small_model();
  sdq_attack_example ex = small_example();
  sdq_attack_target t;
  sdq_target_init_fp32(&t);
  uint8_t allowed[V];
  for (int v = 0; v < V; v++)
    allowed[v] = v % 5 != 0; /* every fifth token is off limits */

  for (int k = 0; k <= 4; k++) {
    sdq_hotflip_params p = {.max_flips = k, .allowed = allowed, .eot_samples = 1};
    int32_t out[NPROMPT];
    int n_flips = -1;
    char err[256];
    ck_assert_msg(sdq_hotflip_attack(m, &t, &ex, &p, out, &n_flips, err, sizeof err) == 0, "%s", err);
    int changed = 0;
    for (int i = 0; i < NPROMPT; i++) {
      if (out[i] == ex.ids[i])
        continue;
      changed++;
      ck_assert_msg(i >= ex.ctx_begin && i < ex.ctx_end, "k=%d: position %d outside the context flipped", k, i);
      ck_assert_msg(!ex.protect[i], "k=%d: answer position %d flipped", k, i);
      ck_assert_msg(allowed[out[i]], "k=%d: disallowed token %d inserted", k, out[i]);
    }
    ck_assert_int_le(changed, k);
    ck_assert_int_eq(changed, n_flips);
    if (k > 0)
      ck_assert_msg(n_flips > 0, "k=%d: no flip on a random model", k);
  }
  sdq_attack_example_free(&ex);
  sdq_gpt2_free(m);
}
END_TEST

static const char *fake_bytes(int id, size_t *len, void *ctx) {
  static const char *const toks[] = {"hello", " world", "a\nb", "<|endoftext|>", "\xc3", "\xc3\xa9",
                                     "", "tab\there", "\x7f", "\xe2\x82\xac", "\xed\xa0\x80"};
  (void)ctx;
  *len = strlen(toks[id]);
  return toks[id];
}

START_TEST(hotflip_vocab_rule) {
  uint8_t allowed[11];
  int n = sdq_hotflip_vocab(11, 3, fake_bytes, NULL, allowed);
  static const uint8_t expect[11] = {1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 11; i++)
    ck_assert_msg(allowed[i] == expect[i], "token %d: allowed %d, expected %d", i, allowed[i], expect[i]);
  ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(random_switch_draws_uniformly) {
  sdq_gpt2 *m = small_model();
  sdq_attack_target t;
  const int set[3] = {4, 6, 8};
  char err[256];
  ck_assert_int_eq(sdq_target_init_switch(&t, set, 3, 0, 42, err, sizeof err), 0);
  int counts[33] = {0};
  const int draws = 3000;
  for (int i = 0; i < draws; i++) {
    ck_assert_msg(sdq_target_apply(&t, m, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(m->bits.layers[0].w_bits, t.last_bits);
    counts[t.last_bits]++;
  }
  double chi2 = 0, e = draws / 3.0;
  for (int b = 0; b <= 32; b++) {
    if (b == 4 || b == 6 || b == 8)
      chi2 += (counts[b] - e) * (counts[b] - e) / e;
    else
      ck_assert_msg(counts[b] == 0, "bits %d drawn outside the set", b);
  }
  /* 13.8 is the 0.999 quantile of chi-square with 2 degrees of freedom. */
  ck_assert_msg(chi2 < 13.8, "chi-square %.2f: counts 4:%d 6:%d 8:%d", chi2, counts[4], counts[6], counts[8]);
  sdq_target_free(&t);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(random_switch_rejects_bad_set) {
  sdq_attack_target t;
  char err[256] = "";
  const int bad[2] = {4, 9};
  ck_assert_int_eq(sdq_target_init_switch(&t, bad, 2, 0, 1, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "invalid bits 9"));
  ck_assert_int_eq(sdq_target_init_switch(&t, bad, 0, 0, 1, err, sizeof err), -1);
}
END_TEST

int main(void) {
  char err[256];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  Suite *s = suite_create("attacks_core");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, pgd_linf_stays_in_ball);
  tcase_add_test(tc, pgd_l2_stays_in_ball);
  tcase_add_test(tc, pgd_raises_answer_loss);
  tcase_add_test(tc, hotflip_respects_k_and_answer);
  tcase_add_test(tc, hotflip_vocab_rule);
  tcase_add_test(tc, random_switch_draws_uniformly);
  tcase_add_test(tc, random_switch_rejects_bad_set);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
