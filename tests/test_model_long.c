/* test_model_long.c - sequences longer than the model's internal blocks: the
 * blocked causal attention against a naive double-precision reference,
 * KV-cache generation over a prompt of several query blocks, and the LM-head
 * backward over several row chunks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt2_internal.h"

#define NH 3
#define HS 8
#define CW (NH * HS)

static void fill(float *x, size_t n, uint64_t seed) {
  sdq_rng r;
  sdq_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++)
    x[i] = 2.0f * sdq_rng_uniform(&r) - 1.0f;
}

/* Reference forward for one (b, h) over T positions of qkv (T, 3C): writes
 * P (T,T) and out (T,hs) in double. */
static void ref_head(const float *qkv, int T, int h, double *P, double *out) {
  double scale = 1.0 / sqrt((double)HS);
  for (int i = 0; i < T; i++) {
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j <= i; j++) {
      double s = 0.0;
      for (int d = 0; d < HS; d++)
        s += (double)qkv[i * 3 * CW + h * HS + d] * qkv[j * 3 * CW + CW + h * HS + d];
      P[i * T + j] = s * scale;
      mx = P[i * T + j] > mx ? P[i * T + j] : mx;
    }
    for (int j = 0; j <= i; j++)
      sum += P[i * T + j] = exp(P[i * T + j] - mx);
    for (int j = 0; j < T; j++)
      P[i * T + j] = j <= i ? P[i * T + j] / sum : 0.0;
    for (int d = 0; d < HS; d++) {
      double acc = 0.0;
      for (int j = 0; j <= i; j++)
        acc += P[i * T + j] * qkv[j * 3 * CW + 2 * CW + h * HS + d];
      out[i * HS + d] = acc;
    }
  }
}

START_TEST(blocked_attention_matches_reference) {
  const int B = 2, T = 2 * SDQ_ATT_QBLOCK + 7;
  size_t n_qkv = (size_t)B * T * 3 * CW, n_out = (size_t)B * T * CW;
  float *qkv = malloc(n_qkv * sizeof(float)), *out = malloc(n_out * sizeof(float));
  float *dout = malloc(n_out * sizeof(float)), *dqkv = malloc(n_qkv * sizeof(float));
  size_t per = sdq_attention_scratch_floats(T, T);
  float *scratch = malloc(per * (size_t)sdq_max_threads() * sizeof(float));
  double *P = malloc((size_t)T * T * sizeof(double)), *ro = malloc((size_t)T * HS * sizeof(double));
  double *dP = malloc((size_t)T * T * sizeof(double));
  ck_assert(qkv && out && dout && dqkv && scratch && P && ro && dP);
  fill(qkv, n_qkv, 1);
  fill(dout, n_out, 2);
  for (size_t i = 0; i < n_qkv; i++)
    qkv[i] *= 3.0f; /* peaked softmax rows */

  sdq_attention_forward(B, T, T, 0, NH, HS, qkv, 3 * CW, (size_t)T * 3 * CW, qkv + CW,
                        qkv + 2 * CW, 3 * CW, (size_t)T * 3 * CW, out, CW, (size_t)T * CW,
                        scratch, per);
  for (size_t i = 0; i < n_qkv; i++)
    dqkv[i] = NAN; /* backward must overwrite every element */
  sdq_attention_backward(B, T, NH, HS, qkv, dout, dqkv, scratch, per);

  double scale = 1.0 / sqrt((double)HS);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      const float *x = qkv + (size_t)b * T * 3 * CW;
      const float *go = dout + (size_t)b * T * CW;
      const float *g = dqkv + (size_t)b * T * 3 * CW;
      ref_head(x, T, h, P, ro);
      for (int i = 0; i < T; i++)
        for (int d = 0; d < HS; d++)
          ck_assert_msg(fabs(out[((size_t)b * T + i) * CW + h * HS + d] - ro[i * HS + d]) < 1e-4,
                        "out b=%d h=%d t=%d d=%d", b, h, i, d);

      /* Reference gradients: dP = dout V^T, dS = P (dP - rowsum(P dP)). */
      for (int i = 0; i < T; i++) {
        double dot = 0.0;
        for (int j = 0; j <= i; j++) {
          double s = 0.0;
          for (int d = 0; d < HS; d++)
            s += (double)go[i * CW + h * HS + d] * x[j * 3 * CW + 2 * CW + h * HS + d];
          dP[i * T + j] = s;
          dot += P[i * T + j] * s;
        }
        for (int j = 0; j <= i; j++)
          dP[i * T + j] = P[i * T + j] * (dP[i * T + j] - dot) * scale;
      }
      for (int t = 0; t < T; t++)
        for (int d = 0; d < HS; d++) {
          double rq = 0.0, rk = 0.0, rv = 0.0;
          for (int j = 0; j <= t; j++)
            rq += dP[t * T + j] * x[j * 3 * CW + CW + h * HS + d];
          for (int i = t; i < T; i++) {
            rk += dP[i * T + t] * x[i * 3 * CW + h * HS + d];
            rv += P[i * T + t] * go[i * CW + h * HS + d];
          }
          const float *gt = g + (size_t)t * 3 * CW + h * HS + d;
          ck_assert_msg(fabs(gt[0] - rq) < 1e-4, "dq b=%d h=%d t=%d d=%d: %g vs %g", b, h, t, d, gt[0], rq);
          ck_assert_msg(fabs(gt[CW] - rk) < 1e-4, "dk b=%d h=%d t=%d d=%d: %g vs %g", b, h, t, d, gt[CW], rk);
          ck_assert_msg(fabs(gt[2 * CW] - rv) < 1e-4, "dv b=%d h=%d t=%d d=%d: %g vs %g", b, h, t, d, gt[2 * CW], rv);
        }
    }
  free(qkv); free(out); free(dout); free(dqkv); free(scratch); free(P); free(ro); free(dP);
}
END_TEST

START_TEST(cached_queries_match_full_forward) {
  /* Tq queries at p0 over Tk = p0 + Tq keys give the last rows of the full
   * T = Tk forward. */
  const int p0 = SDQ_ATT_QBLOCK + 5, Tq = SDQ_ATT_QBLOCK + 3, T = p0 + Tq;
  float *qkv = malloc((size_t)T * 3 * CW * sizeof(float));
  float *full = malloc((size_t)T * CW * sizeof(float)), *part = malloc((size_t)Tq * CW * sizeof(float));
  size_t per = sdq_attention_scratch_floats(T, T);
  float *scratch = malloc(per * (size_t)sdq_max_threads() * sizeof(float));
  ck_assert(qkv && full && part && scratch);
  fill(qkv, (size_t)T * 3 * CW, 3);
  sdq_attention_forward(1, T, T, 0, NH, HS, qkv, 3 * CW, 0, qkv + CW, qkv + 2 * CW, 3 * CW, 0,
                        full, CW, 0, scratch, per);
  sdq_attention_forward(1, Tq, T, p0, NH, HS, qkv + (size_t)p0 * 3 * CW, 3 * CW, 0, qkv + CW,
                        qkv + 2 * CW, 3 * CW, 0, part, CW, 0, scratch, per);
  for (int i = 0; i < Tq * CW; i++)
    ck_assert_msg(fabsf(part[i] - full[(size_t)p0 * CW + i]) < 1e-5f, "element %d", i);
  free(qkv); free(full); free(part); free(scratch);
}
END_TEST

START_TEST(long_prompt_generation_matches_forward) {
  char err[256];
  sdq_gpt2_config cfg = {2, 2, 16, 3 * SDQ_ATT_QBLOCK, 32};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 5, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] *= 8.0f;
  int n_prompt = 2 * SDQ_ATT_QBLOCK + 1, n_new = 4;
  int32_t seq[3 * SDQ_ATT_QBLOCK], out[4];
  sdq_rng r;
  sdq_rng_seed(&r, 9);
  for (int i = 0; i < n_prompt; i++)
    seq[i] = (int32_t)sdq_rng_below(&r, 32);
  sdq_gen_options opt = {n_new, NULL, -1};
  int n_out;
  ck_assert_msg(sdq_gpt2_generate(m, seq, NULL, n_prompt, &opt, out, &n_out, NULL, err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(n_out, n_new);
  for (int i = 0; i < n_new; i++) {
    int n = n_prompt + i;
    sdq_gpt2_batch b = {.B = 1, .T = n, .tokens = seq};
    ck_assert_msg(sdq_gpt2_forward(m, &b, NULL, err, sizeof err) == 0, "%s", err);
    const float *lg = sdq_gpt2_logits(m, 0, n - 1);
    int best = 0;
    for (int v = 1; v < 32; v++)
      if (lg[v] > lg[best])
        best = v;
    ck_assert_int_eq(out[i], best);
    seq[n] = out[i];
  }
  sdq_gpt2_free(m);
}
END_TEST

/* d_embeds of one forward/backward with mask weights mask and loss_scale,
 * added into d. */
static void embed_grad(sdq_gpt2 *m, const float *emb, const int32_t *tgt, const float *mask,
                       int T, float loss_scale, float *d) {
  char err[256];
  sdq_gpt2_batch b = {.B = 1, .T = T, .embeds = emb, .targets = tgt, .loss_mask = mask,
                      .logits_masked_only = 1};
  float loss;
  ck_assert_msg(sdq_gpt2_forward(m, &b, &loss, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(sdq_gpt2_backward(m, loss_scale, d, err, sizeof err) == 0, "%s", err);
}

START_TEST(lm_head_backward_chunks_agree) {
  /* The mean loss over all T rows (two dlogits chunks) has the gradient of
   * the weighted sum of the mean losses over rows < split and >= split
   * (one chunk each). */
  char err[256];
  enum { T = SDQ_LM_HEAD_ROWS + 40, C = 16, split = 100 };
  sdq_gpt2_config cfg = {1, 2, C, T, 24};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 7, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  float *emb = malloc(sizeof(float) * T * C), *full = calloc((size_t)T * C, sizeof(float));
  float *parts = calloc((size_t)T * C, sizeof(float));
  float mask_all[T], mask_a[T], mask_b[T];
  int32_t tgt[T];
  ck_assert(emb && full && parts);
  fill(emb, (size_t)T * C, 11);
  sdq_rng r;
  sdq_rng_seed(&r, 12);
  for (int t = 0; t < T; t++) {
    tgt[t] = (int32_t)sdq_rng_below(&r, 24);
    mask_all[t] = 1.0f;
    mask_a[t] = t < split ? 1.0f : 0.0f;
    mask_b[t] = t < split ? 0.0f : 1.0f;
  }
  embed_grad(m, emb, tgt, mask_all, T, 1.0f, full);
  embed_grad(m, emb, tgt, mask_a, T, (float)split / T, parts);
  embed_grad(m, emb, tgt, mask_b, T, (float)(T - split) / T, parts);
  double norm = 0.0;
  for (int i = 0; i < T * C; i++) {
    ck_assert_msg(fabsf(full[i] - parts[i]) < 1e-6f + 1e-3f * fabsf(full[i]),
                  "d_embeds[%d]: %g vs %g", i, full[i], parts[i]);
    norm += fabs(full[i]);
  }
  ck_assert_msg(norm > 1e-3, "gradient is zero; the comparison is too weak");
  free(emb); free(full); free(parts);
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_long");
  TCase *tc = tcase_create("long");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, blocked_attention_matches_reference);
  tcase_add_test(tc, cached_queries_match_full_forward);
  tcase_add_test(tc, long_prompt_generation_matches_forward);
  tcase_add_test(tc, lm_head_backward_chunks_agree);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
