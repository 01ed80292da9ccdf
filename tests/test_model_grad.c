/* test_model_grad.c - finite-difference gradient checks of the whole GPT-2
 * model: LoRA A/B, input embeddings, base weights (train_base), with and
 * without quantized layers and LoRA dropout. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt2.h"

#define B_ 2
#define T_ 5

static sdq_gpt2_config tiny(void) {
  sdq_gpt2_config c = {2, 2, 8, 8, 16};
  return c;
}

typedef struct fixture {
  sdq_gpt2 *m;
  int32_t tokens[B_ * T_], targets[B_ * T_];
  float mask[B_ * T_];
  float embeds[B_ * T_ * 8];
  sdq_rng saved_rng;
} fixture;

static void setup(fixture *f, int lora_bits, float dropout) {
  char err[256];
  sdq_gpt2_config c = tiny();
  f->m = sdq_gpt2_create(&c, 42, err, sizeof err);
  ck_assert_msg(f->m != NULL, "%s", err);
  sdq_lora_config lc = {4, 8.0f, dropout, 2, {lora_bits, 32}};
  ck_assert_msg(sdq_gpt2_lora_init(f->m, &lc, 7, err, sizeof err) == 0, "%s", err);
  /* B starts at zero; make it nonzero so dA is not trivially zero. */
  sdq_rng r;
  sdq_rng_seed(&r, 99);
  for (size_t i = 0; i < f->m->lora.n_params; i++)
    f->m->lora.params[i] += 0.1f * sdq_rng_normal(&r);
  for (int i = 0; i < B_ * T_; i++) {
    f->tokens[i] = (int32_t)sdq_rng_below(&r, 16);
    f->targets[i] = (int32_t)sdq_rng_below(&r, 16);
    f->mask[i] = (i % 3 == 0) ? 0.0f : 1.0f + 0.5f * (float)(i % 2);
  }
  ck_assert(sdq_gpt2_embed_tokens(f->m, f->tokens, B_ * T_, f->embeds, err, sizeof err) == 0);
  f->saved_rng = f->m->rng;
}

static double loss_of(fixture *f, int use_embeds) {
  char err[256];
  sdq_gpt2_batch b = {.B = B_, .T = T_, .tokens = use_embeds ? NULL : f->tokens,
                      .embeds = use_embeds ? f->embeds : NULL, .targets = f->targets,
                      .loss_mask = f->mask};
  float loss;
  f->m->rng = f->saved_rng; /* the same dropout masks every pass */
  ck_assert_msg(sdq_gpt2_forward(f->m, &b, &loss, err, sizeof err) == 0, "%s", err);
  return loss;
}

/* Central difference of the loss with respect to *p. */
static double numeric_grad(fixture *f, float *p, int use_embeds) {
  /* 1e-3 keeps LayerNorm of the 0.02-scale embeddings near linear while the
   * fp32 rounding of the loss stays below 1e-4 of the difference. */
  const float h = 1e-3f;
  float keep = *p;
  *p = keep + h;
  sdq_gpt2_base_changed(f->m);
  double lp = loss_of(f, use_embeds);
  *p = keep - h;
  sdq_gpt2_base_changed(f->m);
  double lm = loss_of(f, use_embeds);
  *p = keep;
  sdq_gpt2_base_changed(f->m);
  return (lp - lm) / (2.0 * h);
}

static void expect_close(double analytic, double numeric, const char *what, size_t i) {
  double tol = 2e-3 + 2e-2 * fabs(numeric);
  ck_assert_msg(fabs(analytic - numeric) <= tol, "%s[%zu]: analytic %.6g numeric %.6g", what, i,
                analytic, numeric);
}

static void run_backward(fixture *f, int use_embeds, float *d_embeds) {
  char err[256];
  sdq_gpt2_zero_grad(f->m);
  loss_of(f, use_embeds);
  ck_assert_msg(sdq_gpt2_backward(f->m, 1.0f, d_embeds, err, sizeof err) == 0, "%s", err);
}

static void check_lora(fixture *f, int set) {
  run_backward(f, 0, NULL);
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      sdq_lora_adapter *a = sdq_lora_adapter_at(&f->m->lora, set, l, (sdq_linear)k);
      ck_assert_int_eq(a->used, 1);
      size_t nA = 4 * (size_t)a->in, nB = (size_t)a->out * 4;
      size_t ia = (size_t)(l * 7 + k * 3) % nA, ib = (size_t)(l * 5 + k * 11) % nB;
      float gA = a->dA[ia], gB = a->dB[ib];
      expect_close(gA, numeric_grad(f, &a->A[ia], 0), "dA", ia);
      expect_close(gB, numeric_grad(f, &a->B[ib], 0), "dB", ib);
    }
}

START_TEST(lora_grads_full_precision) {
  fixture f;
  setup(&f, 4, 0.0f);
  check_lora(&f, sdq_lora_set_index(&f.m->lora, 32));
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(lora_grads_4bit_weights) {
  fixture f;
  char err[256];
  setup(&f, 4, 0.0f);
  ck_assert_msg(sdq_gpt2_set_uniform_bits(f.m, 4, 0, err, sizeof err) == 0, "%s", err);
  int set4 = sdq_lora_set_index(&f.m->lora, 4), set32 = sdq_lora_set_index(&f.m->lora, 32);
  check_lora(&f, set4);
  /* Only the 4-bit adapters ran, so only they are marked for the optimizer. */
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++)
      ck_assert_int_eq(sdq_lora_adapter_at(&f.m->lora, set32, l, (sdq_linear)k)->used, 0);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(lora_grads_with_dropout) {
  fixture f;
  setup(&f, 8, 0.3f);
  f.m->training = 1;
  check_lora(&f, sdq_lora_set_index(&f.m->lora, 32));
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(embedding_grads) {
  fixture f;
  char err[256];
  setup(&f, 6, 0.0f);
  ck_assert_msg(sdq_gpt2_set_uniform_bits(f.m, 6, 0, err, sizeof err) == 0, "%s", err);
  size_t n = (size_t)B_ * T_ * 8;
  float *d_emb = calloc(n, sizeof *d_emb), *d_tok = calloc(n, sizeof *d_tok);
  run_backward(&f, 1, d_emb);
  run_backward(&f, 0, d_tok);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabsf(d_emb[i] - d_tok[i]) <= 1e-6f + 1e-5f * fabsf(d_tok[i]),
                  "token and embedding input disagree at %zu: %g vs %g", i, d_tok[i], d_emb[i]);
  for (size_t i = 0; i < n; i += 7)
    expect_close(d_emb[i], numeric_grad(&f, &f.embeds[i], 1), "d_embeds", i);
  free(d_emb);
  free(d_tok);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(base_grads_train_base) {
  fixture f;
  char err[256];
  setup(&f, 4, 0.0f);
  ck_assert_msg(sdq_gpt2_set_train_base(f.m, 1, err, sizeof err) == 0, "%s", err);
  run_backward(&f, 0, NULL);
  size_t sizes[SDQ_GPT2_N_TENSORS];
  sdq_gpt2_param_sizes(&f.m->cfg, sizes);
  float *analytic = malloc(f.m->n_params * sizeof *analytic);
  memcpy(analytic, f.m->grads_memory, f.m->n_params * sizeof *analytic);
  size_t offset = 0;
  for (int t = 0; t < SDQ_GPT2_N_TENSORS; t++) {
    for (int j = 0; j < 3; j++) {
      size_t i = offset + (size_t)(j * 37 + t * 5) % sizes[t];
      expect_close(analytic[i], numeric_grad(&f, &f.m->params_memory[i], 0), "base", i);
    }
    offset += sizes[t];
  }
  free(analytic);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(backward_scales_and_accumulates) {
  fixture f;
  char err[256];
  setup(&f, 4, 0.0f);
  int set = sdq_lora_set_index(&f.m->lora, 32);
  sdq_lora_adapter *a = sdq_lora_adapter_at(&f.m->lora, set, 1, SDQ_LIN_MLP_FC);
  run_backward(&f, 0, NULL);
  float g1 = a->dA[3];
  ck_assert(g1 != 0.0f);
  loss_of(&f, 0);
  ck_assert(sdq_gpt2_backward(f.m, 2.0f, NULL, err, sizeof err) == 0);
  ck_assert_msg(fabsf(a->dA[3] - 3.0f * g1) <= 1e-5f * fabsf(g1), "%g vs %g", a->dA[3], 3 * g1);
  sdq_gpt2_zero_grad(f.m);
  ck_assert(a->dA[3] == 0.0f);
  ck_assert_int_eq(a->used, 0);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(backward_without_targets_fails) {
  fixture f;
  char err[256];
  setup(&f, 4, 0.0f);
  sdq_gpt2_batch b = {.B = B_, .T = T_, .tokens = f.tokens};
  ck_assert(sdq_gpt2_forward(f.m, &b, NULL, err, sizeof err) == 0);
  ck_assert(sdq_gpt2_backward(f.m, 1.0f, NULL, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "targets") != NULL, "%s", err);
  sdq_gpt2_free(f.m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_grad");
  TCase *tc = tcase_create("finite_differences");
  tcase_set_timeout(tc, 60); /* seconds; runs in about 1 s on an idle machine */
  tcase_add_test(tc, lora_grads_full_precision);
  tcase_add_test(tc, lora_grads_4bit_weights);
  tcase_add_test(tc, lora_grads_with_dropout);
  tcase_add_test(tc, embedding_grads);
  tcase_add_test(tc, base_grads_train_base);
  tcase_add_test(tc, backward_scales_and_accumulates);
  tcase_add_test(tc, backward_without_targets_fails);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
