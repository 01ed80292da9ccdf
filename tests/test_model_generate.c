/* test_model_generate.c - KV-cache greedy generation against full forward
 * passes, prompts as ids or embeddings, and the stop rules. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt2.h"

static sdq_gpt2 *make_model(void) {
  char err[256];
  sdq_gpt2_config cfg = {2, 4, 32, 24, 40};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 23, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  /* Larger weights than GPT-2 init so the argmax moves between steps. */
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] *= 8.0f;
  sdq_lora_config lc = {2, 4.0f, 0.0f, 2, {4, 32}};
  ck_assert(sdq_gpt2_lora_init(m, &lc, 2, err, sizeof err) == 0);
  for (size_t i = 0; i < m->lora.n_params; i++)
    m->lora.params[i] += 0.2f;
  ck_assert(sdq_gpt2_set_uniform_bits(m, 4, 0, err, sizeof err) == 0);
  m->bits.layers[1].w_bits = 32; /* one fp32 layer in the mix */
  return m;
}

static int argmax_last(sdq_gpt2 *m, const int32_t *seq, int n) {
  char err[256];
  sdq_gpt2_batch b = {.B = 1, .T = n, .tokens = seq};
  ck_assert_msg(sdq_gpt2_forward(m, &b, NULL, err, sizeof err) == 0, "%s", err);
  const float *lg = sdq_gpt2_logits(m, 0, n - 1);
  int best = 0;
  for (int v = 1; v < m->cfg.vocab_size; v++)
    if (lg[v] > lg[best])
      best = v;
  return best;
}

START_TEST(kv_cache_matches_full_forward) {
  char err[256];
  sdq_gpt2 *m = make_model();
  int32_t seq[24] = {3, 17, 5, 9, 30};
  int n_prompt = 5;
  sdq_gen_options opt = {12, NULL, -1};
  int32_t out[12];
  int n_out;
  sdq_stop_reason why;
  ck_assert_msg(sdq_gpt2_generate(m, seq, NULL, n_prompt, &opt, out, &n_out, &why, err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(n_out, 12);
  ck_assert_int_eq(why, SDQ_STOP_MAX_NEW);
  int distinct = 0;
  for (int i = 0; i < n_out; i++) {
    ck_assert_int_eq(out[i], argmax_last(m, seq, n_prompt + i));
    seq[n_prompt + i] = out[i];
    distinct += i > 0 && out[i] != out[i - 1];
  }
  ck_assert_msg(distinct > 0, "generation is constant; the comparison is too weak");

  /* The same prompt given as token embeddings generates the same ids. */
  float emb[5 * 32];
  ck_assert(sdq_gpt2_embed_tokens(m, seq, 5, emb, err, sizeof err) == 0);
  int32_t out2[12];
  ck_assert(sdq_gpt2_generate(m, NULL, emb, 5, &opt, out2, &n_out, &why, err, sizeof err) == 0);
  ck_assert_int_eq(n_out, 12);
  ck_assert_mem_eq(out, out2, sizeof out);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(stop_rules) {
  char err[256];
  sdq_gpt2 *m = make_model();
  int32_t prompt[24] = {1, 2, 3};
  int32_t out[30], first[4];
  int n_out;
  sdq_stop_reason why;
  sdq_gen_options opt = {4, NULL, -1};
  ck_assert(sdq_gpt2_generate(m, prompt, NULL, 3, &opt, first, &n_out, &why, err, sizeof err) == 0);

  /* A stop token ends generation and is not written. */
  uint8_t stop[40] = {0};
  stop[first[1]] = 1;
  opt.stop_ids = stop;
  ck_assert(sdq_gpt2_generate(m, prompt, NULL, 3, &opt, out, &n_out, &why, err, sizeof err) == 0);
  int expect = first[0] == first[1] ? 0 : 1;
  ck_assert_int_eq(n_out, expect);
  ck_assert_int_eq(why, SDQ_STOP_TOKEN);

  /* End-of-text is checked first. */
  opt.eot_id = first[0];
  ck_assert(sdq_gpt2_generate(m, prompt, NULL, 3, &opt, out, &n_out, &why, err, sizeof err) == 0);
  ck_assert_int_eq(n_out, 0);
  ck_assert_int_eq(why, SDQ_STOP_EOT);

  /* The context limit: 22 prompt tokens leave room for 2 in n_ctx = 24. */
  sdq_gen_options wide = {30, NULL, -1};
  ck_assert(sdq_gpt2_generate(m, prompt, NULL, 22, &wide, out, &n_out, &why, err, sizeof err) == 0);
  ck_assert_int_eq(n_out, 2);
  ck_assert_int_eq(why, SDQ_STOP_CTX);

  /* A prompt longer than n_ctx is an error that names both numbers. */
  int32_t longp[25] = {0};
  ck_assert(sdq_gpt2_generate(m, longp, NULL, 25, &wide, out, &n_out, &why, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "25") && strstr(err, "24"), "%s", err);
  longp[3] = 40;
  ck_assert(sdq_gpt2_generate(m, longp, NULL, 5, &wide, out, &n_out, &why, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "40") != NULL, "%s", err);
  ck_assert_int_eq(sdq_gpt2_default_eot(m), -1);
  sdq_gpt2_free(m);
}
END_TEST

/* Prompts of n_ctx - 1, n_ctx and n_ctx + 1 tokens: the first two give one
 * token each (the one the full forward pass predicts) and stop with
 * SDQ_STOP_CTX without writing past the KV cache; the last is an error. */
START_TEST(prompt_fills_context) {
  char err[256];
  sdq_gpt2 *m = make_model();
  const int N = m->cfg.n_ctx;
  int32_t prompt[25];
  for (int i = 0; i < 25; i++)
    prompt[i] = (7 * i + 3) % m->cfg.vocab_size;
  int32_t out[8];
  int n_out;
  sdq_stop_reason why;
  sdq_gen_options opt = {8, NULL, -1};

  for (int n = N - 1; n <= N; n++) {
    ck_assert_msg(sdq_gpt2_generate(m, prompt, NULL, n, &opt, out, &n_out, &why, err, sizeof err) == 0,
                  "%d-token prompt: %s", n, err);
    ck_assert_msg(n_out == 1, "%d-token prompt gave %d tokens", n, n_out);
    ck_assert_int_eq(why, SDQ_STOP_CTX);
    ck_assert_int_eq(out[0], argmax_last(m, prompt, n));
  }

  ck_assert(sdq_gpt2_generate(m, prompt, NULL, N + 1, &opt, out, &n_out, &why, err, sizeof err) == -1);
  ck_assert_int_eq(n_out, 0);
  ck_assert_msg(strstr(err, "25") && strstr(err, "n_ctx = 24"), "%s", err);

  /* The model still generates normally after the rejected prompt. */
  ck_assert(sdq_gpt2_generate(m, prompt, NULL, 3, &opt, out, &n_out, &why, err, sizeof err) == 0);
  ck_assert_int_eq(n_out, 8);
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_generate");
  TCase *tc = tcase_create("generate");
  tcase_set_timeout(tc, 60); /* seconds; runs in about 1 s on an idle machine */
  tcase_add_test(tc, kv_cache_matches_full_forward);
  tcase_add_test(tc, stop_rules);
  tcase_add_test(tc, prompt_fills_context);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
