/* test_model_distill.c - the soft-target (distillation) loss of the model:
 * its value against a direct computation from the logits, finite-difference
 * gradients, the alpha = 0 and student == teacher limits, the tempered
 * probabilities and the input checks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt2.h"

#define B_ 2
#define T_ 5
#define V_ 16
#define C_ 8
#define BT_ (B_ * T_)

typedef struct fixture {
  sdq_gpt2 *m;
  int32_t tokens[BT_], targets[BT_];
  float mask[BT_];
  float embeds[BT_ * C_];
  float soft[BT_ * V_]; /* one row per loss row, in (b,t) order */
  int n_loss;
  sdq_rng saved_rng;
} fixture;

/* A 2-block model with 4-bit and fp32 LoRA sets (nonzero B), random tokens
 * and targets, a mask with zeros and unequal weights, and random soft
 * targets (positive, each row summing to 1). */
static void setup(fixture *f) {
  char err[256];
  sdq_gpt2_config c = {2, 2, C_, 8, V_};
  f->m = sdq_gpt2_create(&c, 42, err, sizeof err);
  ck_assert_msg(f->m != NULL, "%s", err);
  sdq_lora_config lc = {4, 8.0f, 0.0f, 2, {4, 32}};
  ck_assert_msg(sdq_gpt2_lora_init(f->m, &lc, 7, err, sizeof err) == 0, "%s", err);
  sdq_rng r;
  sdq_rng_seed(&r, 99);
  for (size_t i = 0; i < f->m->lora.n_params; i++)
    f->m->lora.params[i] += 0.1f * sdq_rng_normal(&r);
  f->n_loss = 0;
  for (int i = 0; i < BT_; i++) {
    f->tokens[i] = (int32_t)sdq_rng_below(&r, V_);
    f->targets[i] = (int32_t)sdq_rng_below(&r, V_);
    f->mask[i] = (i % 3 == 0) ? 0.0f : 1.0f + 0.5f * (float)(i % 2);
    f->n_loss += f->mask[i] != 0.0f;
  }
  for (int j = 0; j < f->n_loss; j++) {
    float *p = f->soft + (size_t)j * V_;
    double sum = 0.0;
    for (int v = 0; v < V_; v++)
      sum += p[v] = expf(1.5f * sdq_rng_normal(&r));
    for (int v = 0; v < V_; v++)
      p[v] = (float)(p[v] / sum);
  }
  ck_assert(sdq_gpt2_embed_tokens(f->m, f->tokens, BT_, f->embeds, err, sizeof err) == 0);
  f->saved_rng = f->m->rng;
}

static sdq_gpt2_batch make_batch(fixture *f, int use_embeds, const float *soft, float alpha,
                                 float tau) {
  sdq_gpt2_batch b = {.B = B_, .T = T_, .tokens = use_embeds ? NULL : f->tokens,
                      .embeds = use_embeds ? f->embeds : NULL, .targets = f->targets,
                      .loss_mask = f->mask, .soft_targets = soft, .soft_alpha = alpha,
                      .soft_temp = tau};
  return b;
}

static double loss_of(fixture *f, int use_embeds, const float *soft, float alpha, float tau) {
  char err[256];
  sdq_gpt2_batch b = make_batch(f, use_embeds, soft, alpha, tau);
  float loss;
  f->m->rng = f->saved_rng;
  ck_assert_msg(sdq_gpt2_forward(f->m, &b, &loss, err, sizeof err) == 0, "%s", err);
  return loss;
}

/* Central difference of the loss with respect to *p (see test_model_grad.c
 * for the step size). */
static double numeric_grad(fixture *f, float *p, int use_embeds, float alpha, float tau) {
  const float h = 1e-3f;
  float keep = *p;
  *p = keep + h;
  double lp = loss_of(f, use_embeds, f->soft, alpha, tau);
  *p = keep - h;
  double lm = loss_of(f, use_embeds, f->soft, alpha, tau);
  *p = keep;
  return (lp - lm) / (2.0 * h);
}

static void expect_close(double analytic, double numeric, const char *what, size_t i) {
  double tol = 2e-3 + 2e-2 * fabs(numeric);
  ck_assert_msg(fabs(analytic - numeric) <= tol, "%s[%zu]: analytic %.6g numeric %.6g", what, i,
                analytic, numeric);
}

static void run_backward(fixture *f, int use_embeds, const float *soft, float alpha, float tau,
                         float *d_embeds) {
  char err[256];
  sdq_gpt2_zero_grad(f->m);
  loss_of(f, use_embeds, soft, alpha, tau);
  ck_assert_msg(sdq_gpt2_backward(f->m, 1.0f, d_embeds, err, sizeof err) == 0, "%s", err);
}

/* The per-row loss (1 - alpha) CE + alpha tau^2 KL(p || softmax(z/tau)) in
 * double precision, straight from the definition. */
static double reference_row_loss(const float *z, int target, const float *p, double alpha,
                                 double tau) {
  double mx = z[0];
  for (int v = 1; v < V_; v++)
    mx = z[v] > mx ? z[v] : mx;
  double s1 = 0.0, st = 0.0;
  for (int v = 0; v < V_; v++) {
    s1 += exp(z[v] - mx);
    st += exp((z[v] - mx) / tau);
  }
  double ce = mx + log(s1) - z[target];
  double kl = 0.0;
  for (int v = 0; v < V_; v++) {
    double log_q = (z[v] - mx) / tau - log(st);
    kl += p[v] * (log(p[v]) - log_q);
  }
  return (1.0 - alpha) * ce + alpha * tau * tau * kl;
}

START_TEST(loss_matches_definition) {
  fixture f;
  setup(&f);
  const float alphas[3] = {0.0f, 0.4f, 1.0f}, taus[3] = {1.0f, 2.0f, 0.5f};
  for (int masked_only = 0; masked_only <= 1; masked_only++)
    for (int c = 0; c < 3; c++) {
      char err[256];
      sdq_gpt2_batch b = make_batch(&f, 0, f.soft, alphas[c], taus[c]);
      b.logits_masked_only = masked_only;
      float loss;
      ck_assert_msg(sdq_gpt2_forward(f.m, &b, &loss, err, sizeof err) == 0, "%s", err);
      ck_assert_int_eq(sdq_gpt2_loss_rows(f.m), f.n_loss);
      double total = 0.0, weight = 0.0;
      int j = 0;
      for (int i = 0; i < BT_; i++) {
        if (f.mask[i] == 0.0f)
          continue;
        const float *z = sdq_gpt2_logits(f.m, i / T_, i % T_);
        ck_assert_ptr_nonnull(z);
        total += f.mask[i] * reference_row_loss(z, f.targets[i], f.soft + (size_t)j++ * V_,
                                                alphas[c], taus[c]);
        weight += f.mask[i];
      }
      double want = total / weight;
      ck_assert_msg(fabs(loss - want) <= 1e-5 * fabs(want) + 1e-6,
                    "alpha %g tau %g masked_only %d: loss %.8g, definition %.8g",
                    (double)alphas[c], (double)taus[c], masked_only, (double)loss, want);
    }
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(grads_match_finite_differences) {
  fixture f;
  char err[256];
  setup(&f);
  const float alpha = 0.6f, tau = 2.0f;
  for (int pass = 0; pass < 2; pass++) {
    /* Pass 0 runs fp32 layers, pass 1 4-bit weights with their own set. */
    if (pass == 1)
      ck_assert_msg(sdq_gpt2_set_uniform_bits(f.m, 4, 0, err, sizeof err) == 0, "%s", err);
    int set = sdq_lora_set_index(&f.m->lora, pass == 0 ? 32 : 4);
    run_backward(&f, 0, f.soft, alpha, tau, NULL);
    for (int l = 0; l < 2; l++)
      for (int k = 0; k < SDQ_LIN_COUNT; k++) {
        sdq_lora_adapter *a = sdq_lora_adapter_at(&f.m->lora, set, l, (sdq_linear)k);
        size_t nA = 4 * (size_t)a->in, nB = (size_t)a->out * 4;
        size_t ia = (size_t)(l * 7 + k * 3) % nA, ib = (size_t)(l * 5 + k * 11) % nB;
        float gA = a->dA[ia], gB = a->dB[ib];
        expect_close(gA, numeric_grad(&f, &a->A[ia], 0, alpha, tau), "dA", ia);
        expect_close(gB, numeric_grad(&f, &a->B[ib], 0, alpha, tau), "dB", ib);
      }
  }

  size_t n = (size_t)BT_ * C_;
  float *d_emb = calloc(n, sizeof *d_emb);
  run_backward(&f, 1, f.soft, alpha, tau, d_emb);
  for (size_t i = 0; i < n; i += 3)
    expect_close(d_emb[i], numeric_grad(&f, &f.embeds[i], 1, alpha, tau), "d_embeds", i);
  free(d_emb);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(alpha_zero_equals_cross_entropy) {
  fixture f;
  setup(&f);
  size_t n = (size_t)BT_ * C_;
  float *d_ce = calloc(n, sizeof *d_ce), *d_soft = calloc(n, sizeof *d_soft);
  double ce = loss_of(&f, 1, NULL, 0.0f, 0.0f);
  double mixed = loss_of(&f, 1, f.soft, 0.0f, 3.0f);
  ck_assert_msg(ce == mixed, "alpha 0 gave %.9g, cross-entropy %.9g", mixed, ce);
  run_backward(&f, 1, NULL, 0.0f, 0.0f, d_ce);
  run_backward(&f, 1, f.soft, 0.0f, 3.0f, d_soft);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(d_ce[i] == d_soft[i], "d_embeds[%zu]: %g with alpha 0, %g cross-entropy", i,
                  (double)d_soft[i], (double)d_ce[i]);
  free(d_ce);
  free(d_soft);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(student_equal_to_teacher_has_zero_kl) {
  fixture f;
  char err[256];
  setup(&f);
  const float tau = 2.0f;
  float *teacher = malloc((size_t)BT_ * V_ * sizeof *teacher);
  loss_of(&f, 0, NULL, 0.0f, 0.0f);
  int rows = -1;
  ck_assert_msg(sdq_gpt2_tempered_probs(f.m, tau, teacher, BT_, &rows, err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(rows, f.n_loss);

  /* alpha 1 leaves only the KL term, which is 0 with its gradient. */
  size_t n = (size_t)BT_ * C_;
  float *d_emb = calloc(n, sizeof *d_emb);
  double kl = loss_of(&f, 0, teacher, 1.0f, tau);
  ck_assert_msg(fabs(kl) <= 1e-5, "KL of the model against itself is %g", kl);
  run_backward(&f, 1, teacher, 1.0f, tau, d_emb);
  double worst = 0.0;
  for (size_t i = 0; i < n; i++)
    worst = fmax(worst, fabs(d_emb[i]));
  ck_assert_msg(worst <= 1e-6, "gradient of a zero KL reaches %g", worst);

  /* Random soft targets give a positive KL. */
  double other = loss_of(&f, 0, f.soft, 1.0f, tau);
  ck_assert_msg(other > 1e-3, "KL against random soft targets is %g", other);
  free(d_emb);
  free(teacher);
  sdq_gpt2_free(f.m);
}
END_TEST

START_TEST(tempered_probs_are_softmax_over_tau) {
  fixture f;
  char err[256];
  setup(&f);
  float *probs = malloc((size_t)BT_ * V_ * sizeof *probs);
  ck_assert_int_eq(sdq_gpt2_tempered_probs(f.m, 1.0f, probs, BT_, NULL, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "forward") != NULL, "%s", err);

  sdq_gpt2_batch b = make_batch(&f, 0, NULL, 0.0f, 0.0f);
  b.logits_masked_only = 1;
  b.targets = NULL;
  ck_assert(sdq_gpt2_forward(f.m, &b, NULL, err, sizeof err) == 0);
  const float tau = 0.7f;
  int rows = 0;
  ck_assert_msg(sdq_gpt2_tempered_probs(f.m, tau, probs, BT_, &rows, err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(rows, f.n_loss);
  int j = 0;
  for (int i = 0; i < BT_; i++) {
    if (f.mask[i] == 0.0f)
      continue;
    const float *z = sdq_gpt2_logits(f.m, i / T_, i % T_);
    double sum = 0.0;
    for (int v = 0; v < V_; v++)
      sum += exp(z[v] / tau);
    for (int v = 0; v < V_; v++) {
      double want = exp(z[v] / tau) / sum;
      ck_assert_msg(fabs(probs[(size_t)j * V_ + v] - want) <= 1e-6 + 1e-5 * want,
                    "row %d token %d: %g, softmax %g", j, v, (double)probs[(size_t)j * V_ + v],
                    want);
    }
    j++;
  }

  ck_assert_int_eq(sdq_gpt2_tempered_probs(f.m, tau, probs, f.n_loss - 1, NULL, err, sizeof err),
                   -1);
  ck_assert_msg(strstr(err, "loss rows") != NULL, "%s", err);
  ck_assert_int_eq(sdq_gpt2_tempered_probs(f.m, 0.0f, probs, BT_, NULL, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "temperature") != NULL, "%s", err);
  free(probs);
  sdq_gpt2_free(f.m);
}
END_TEST

/* Checks that forward rejects the batch with a message containing needle. */
static void expect_rejected(fixture *f, const sdq_gpt2_batch *b, const char *needle) {
  char err[256] = "";
  float loss;
  ck_assert_int_eq(sdq_gpt2_forward(f->m, b, &loss, err, sizeof err), -1);
  ck_assert_msg(strstr(err, needle) != NULL, "expected '%s' in: %s", needle, err);
}

START_TEST(bad_soft_inputs_are_rejected) {
  fixture f;
  setup(&f);
  sdq_gpt2_batch b = make_batch(&f, 0, f.soft, 1.5f, 1.0f);
  expect_rejected(&f, &b, "alpha 1.5");
  b.soft_alpha = -0.1f;
  expect_rejected(&f, &b, "alpha -0.1");
  b.soft_alpha = NAN;
  expect_rejected(&f, &b, "alpha nan");
  b.soft_alpha = 0.5f;
  b.soft_temp = 0.0f;
  expect_rejected(&f, &b, "temperature 0");
  b.soft_temp = NAN;
  expect_rejected(&f, &b, "temperature nan");
  b.soft_temp = INFINITY;
  expect_rejected(&f, &b, "temperature inf");
  b.soft_temp = 1.0f;
  b.targets = NULL;
  expect_rejected(&f, &b, "hard targets");
  b.targets = f.targets;

  /* Loss row 2 is (b 0, t 4): positions 0 and 3 have mask 0. */
  float keep = f.soft[2 * V_ + 5];
  f.soft[2 * V_ + 5] = NAN;
  expect_rejected(&f, &b, "token 5 at batch row 0 position 4");
  f.soft[2 * V_ + 5] = -keep;
  expect_rejected(&f, &b, "invalid");
  f.soft[2 * V_ + 5] = keep + 0.01f;
  expect_rejected(&f, &b, "batch row 0 position 4 sum to");
  f.soft[2 * V_ + 5] = keep;
  float loss;
  char err[256];
  ck_assert_msg(sdq_gpt2_forward(f.m, &b, &loss, err, sizeof err) == 0, "%s", err);
  sdq_gpt2_free(f.m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_distill");
  TCase *tc = tcase_create("soft_targets");
  tcase_set_timeout(tc, 60); /* seconds; measured at about 0.05 s on an idle 2-core machine */
  tcase_add_test(tc, loss_matches_definition);
  tcase_add_test(tc, grads_match_finite_differences);
  tcase_add_test(tc, alpha_zero_equals_cross_entropy);
  tcase_add_test(tc, student_equal_to_teacher_has_zero_kl);
  tcase_add_test(tc, tempered_probs_are_softmax_over_tau);
  tcase_add_test(tc, bad_soft_inputs_are_rejected);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
