/* test_model_bits.c - bit-configuration parser (rules, precedence, errors
 * with file:line), average bits, and quantized forward == fake-quant
 * forward. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gpt2.h"

static sdq_layer_bits at(const sdq_bitconfig *c, int l, sdq_linear k) {
  return c->layers[l * SDQ_LIN_COUNT + k];
}

START_TEST(bitconfig_rules_and_precedence) {
  char err[256];
  sdq_bitconfig c;
  const char *text = "# default first, then overrides\n"
                     "*  6\n"
                     "transformer.h.*.mlp.c_proj 4   # every block\n"
                     "\n"
                     "h.1.* 8 8\n"
                     "transformer.h.2.attn.c_attn 32 16\n";
  ck_assert_msg(sdq_bitconfig_parse(&c, text, "t.cfg", 3, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(at(&c, 0, SDQ_LIN_ATTN_QKV).w_bits, 6);
  ck_assert_int_eq(at(&c, 0, SDQ_LIN_MLP_PROJ).w_bits, 4);
  ck_assert_int_eq(at(&c, 1, SDQ_LIN_MLP_PROJ).w_bits, 8); /* later rule wins */
  ck_assert_int_eq(at(&c, 1, SDQ_LIN_MLP_PROJ).a_bits, 8);
  ck_assert_int_eq(at(&c, 2, SDQ_LIN_MLP_PROJ).w_bits, 4);
  ck_assert_int_eq(at(&c, 2, SDQ_LIN_ATTN_QKV).w_bits, 32);
  ck_assert_int_eq(at(&c, 2, SDQ_LIN_ATTN_QKV).a_bits, 0); /* 16 = fp32 activations */
  ck_assert_int_eq(at(&c, 0, SDQ_LIN_ATTN_PROJ).a_bits, 0);
  sdq_bitconfig_free(&c);

  ck_assert(sdq_bitconfig_parse(&c, "", "empty", 2, err, sizeof err) == 0);
  ck_assert_int_eq(at(&c, 1, SDQ_LIN_MLP_FC).w_bits, 32); /* unmatched layers stay fp */
  sdq_bitconfig_free(&c);
}
END_TEST

static void expect_error(const char *text, const char *needle1, const char *needle2) {
  char err[512] = "";
  sdq_bitconfig c;
  ck_assert_msg(sdq_bitconfig_parse(&c, text, "bits.cfg", 2, err, sizeof err) == -1,
                "accepted: %s", text);
  ck_assert_msg(strstr(err, needle1) != NULL, "'%s' not in: %s", needle1, err);
  ck_assert_msg(strstr(err, needle2) != NULL, "'%s' not in: %s", needle2, err);
  ck_assert_ptr_null(c.layers);
}

START_TEST(bitconfig_errors_name_line) {
  expect_error("* 8\ntransformer.h.5.mlp.c_proj 4\n", "bits.cfg:2:", "matches no linear layer");
  expect_error("transformer.h.0.mlp 4\n", "bits.cfg:1:", "matches no linear layer");
  expect_error("# c\n* 9\n", "bits.cfg:2:", "weight bits '9'");
  expect_error("* 1\n", "bits.cfg:1:", "weight bits '1'");
  expect_error("* 4x\n", "bits.cfg:1:", "weight bits '4x'");
  expect_error("* 4 12\n", "bits.cfg:1:", "activation bits '12'");
  expect_error("* 4\n\nh.0.* 8\ntransformer.h.0.* 6\n", "bits.cfg:4:", "duplicate rule");
  expect_error("transformer.h.0.attn.c_attn\n", "bits.cfg:1:", "found 1 fields");
  expect_error("* 4 4 4\n", "bits.cfg:1:", "found 4 fields");
}
END_TEST

START_TEST(bitconfig_load_file) {
  char err[512], path[] = "/tmp/sdq_bits_XXXXXX";
  int fd = mkstemp(path);
  ck_assert(fd >= 0);
  const char *text = "* 4\nh.0.mlp.c_fc 2\nh.3.mlp.c_fc 2\n";
  ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  sdq_bitconfig c;
  ck_assert(sdq_bitconfig_load(&c, path, 2, err, sizeof err) == -1);
  char where[600];
  snprintf(where, sizeof where, "%s:3:", path);
  ck_assert_msg(strstr(err, where) != NULL, "%s", err);
  ck_assert(sdq_bitconfig_load(&c, path, 4, err, sizeof err) == 0);
  ck_assert_int_eq(at(&c, 3, SDQ_LIN_MLP_FC).w_bits, 2);
  sdq_bitconfig_free(&c);
  unlink(path);
  ck_assert(sdq_bitconfig_load(&c, path, 4, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

/* A byte order mark, CRLF and lone-CR line ends read like plain LF text,
 * and line numbers in messages count the file's lines in each form. */
START_TEST(bitconfig_bom_and_line_ends) {
  char err[512];
  const char *texts[] = {"\xEF\xBB\xBF* 4\nh.1.* 8\n", "* 4\r\nh.1.* 8\r\n", "* 4\rh.1.* 8\r",
                         "\xEF\xBB\xBF* 4\rh.1.* 8"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    sdq_bitconfig c;
    ck_assert_msg(sdq_bitconfig_parse(&c, texts[i], "e.cfg", 2, err, sizeof err) == 0,
                  "text %zu: %s", i, err);
    ck_assert_int_eq(at(&c, 0, SDQ_LIN_MLP_FC).w_bits, 4);
    ck_assert_int_eq(at(&c, 1, SDQ_LIN_MLP_FC).w_bits, 8);
    sdq_bitconfig_free(&c);
  }
  expect_error("* 4\r\rh.7.* 8\r", "bits.cfg:3:", "matches no linear layer");
  expect_error("* 4\r\n\r\nh.7.* 8\r\n", "bits.cfg:3:", "matches no linear layer");
  /* A mark anywhere but the start is part of the pattern. */
  expect_error("* 4\n\xEF\xBB\xBFh.1.* 8\n", "bits.cfg:2:", "matches no linear layer");
}
END_TEST

/* Placeholders: each block of the set, file line numbers in messages, an
 * empty set is an error, and {first} and {last} may name the same block. */
START_TEST(bitconfig_placeholders) {
  char err[512];
  sdq_bitconfig c;
  const char *text = "* 4\nh.{middle}.mlp.* 2\nh.{last}.attn.c_attn 8\n*.{front}.attn.c_proj 6\n";
  ck_assert_msg(sdq_bitconfig_parse(&c, text, "p.cfg", 5, err, sizeof err) == 0, "%s", err);
  for (int l = 0; l < 5; l++) {
    ck_assert_int_eq(at(&c, l, SDQ_LIN_MLP_FC).w_bits, l > 0 && l < 4 ? 2 : 4);
    ck_assert_int_eq(at(&c, l, SDQ_LIN_MLP_PROJ).w_bits, l > 0 && l < 4 ? 2 : 4);
    ck_assert_int_eq(at(&c, l, SDQ_LIN_ATTN_QKV).w_bits, l == 4 ? 8 : 4);
    ck_assert_int_eq(at(&c, l, SDQ_LIN_ATTN_PROJ).w_bits, l < 2 ? 6 : 4);
  }
  sdq_bitconfig_free(&c);

  ck_assert_msg(sdq_bitconfig_parse(&c, "* 4\nh.{first}.* 8\nh.{last}.* 6\n", "p.cfg", 1, err,
                                    sizeof err) == 0, "%s", err);
  ck_assert_int_eq(at(&c, 0, SDQ_LIN_MLP_FC).w_bits, 6);
  sdq_bitconfig_free(&c);

  expect_error("* 4\nh.{middle}.* 4\n", "bits.cfg:2:", "'{middle}' selects no block of this 2-layer");
  expect_error("* 4\n\nh.{front}.mlp 4\n", "bits.cfg:3:", "matches no linear layer");
  expect_error("h.{top}.* 4\n", "bits.cfg:1:", "unknown block placeholder '{top}'");
  expect_error("h.{last.* 4\n", "bits.cfg:1:", "one complete block placeholder");
  expect_error("h.{first}.{last} 4\n", "bits.cfg:1:", "one complete block placeholder");
  expect_error("h.{last}.* 4\n*.{last}.* 8\ntransformer.h.{last}.* 6\n", "bits.cfg:3:",
               "first at line 1");
}
END_TEST

/* A block number in a pattern selects that block only: "h.01" is not how
 * sdq names block 1, and "h.1*" still reaches blocks 1, 10 and 11. */
START_TEST(bitconfig_block_numbers) {
  char err[512];
  sdq_bitconfig c;
  ck_assert_msg(sdq_bitconfig_parse(&c, "* 4\nh.1*.mlp.c_fc 8\nh.11.attn.c_proj 2\n", "b.cfg", 12,
                                    err, sizeof err) == 0, "%s", err);
  for (int l = 0; l < 12; l++) {
    ck_assert_int_eq(at(&c, l, SDQ_LIN_MLP_FC).w_bits, l == 1 || l >= 10 ? 8 : 4);
    ck_assert_int_eq(at(&c, l, SDQ_LIN_ATTN_PROJ).w_bits, l == 11 ? 2 : 4);
  }
  sdq_bitconfig_free(&c);
  ck_assert(sdq_bitconfig_parse(&c, "h.01.* 4\n", "b.cfg", 12, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "matches no linear layer"), "%s", err);
  ck_assert(sdq_bitconfig_parse(&c, "h.12.* 4\n", "b.cfg", 12, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "12-layer"), "%s", err);
  ck_assert(sdq_bitconfig_parse(&c, "h.99999999999.* 4\n", "b.cfg", 12, err, sizeof err) == -1);
}
END_TEST

/* One rule per block of a 50,000-block model, as {back} or {middle} expand
 * to: parsing takes time linear in the rules (well under a second), where
 * matching every rule against every layer took minutes. The case timeout
 * makes a quadratic parser fail. */
START_TEST(bitconfig_deep_model_is_linear) {
  enum { L = 50000 };
  char err[512];
  size_t cap = (size_t)L * 24 + 64, len = 0;
  char *text = malloc(cap);
  ck_assert_ptr_nonnull(text);
  len += (size_t)snprintf(text + len, cap - len, "* 8\n");
  for (int l = 0; l < L; l++)
    len += (size_t)snprintf(text + len, cap - len, "h.%d.mlp.c_fc %d\n", l, 2 + l % 7);
  sdq_bitconfig c;
  ck_assert_msg(sdq_bitconfig_parse(&c, text, "deep.cfg", L, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(at(&c, 0, SDQ_LIN_MLP_FC).w_bits, 2);
  ck_assert_int_eq(at(&c, L - 1, SDQ_LIN_MLP_FC).w_bits, 2 + (L - 1) % 7);
  ck_assert_int_eq(at(&c, L - 1, SDQ_LIN_MLP_PROJ).w_bits, 8);
  sdq_bitconfig_free(&c);

  /* Duplicates are still found, with the first line. */
  snprintf(text + len, cap - len, "transformer.h.123.mlp.c_fc 4\n");
  ck_assert(sdq_bitconfig_parse(&c, text, "deep.cfg", L, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "deep.cfg:50002:") && strstr(err, "first at line 125"), "%s", err);
  free(text);
}
END_TEST

START_TEST(average_bits_plain_and_weighted) {
  char err[256];
  sdq_bitconfig c;
  /* C = 8: weight sizes per block are 192 (c_attn), 64, 256, 256. */
  ck_assert(sdq_bitconfig_parse(&c, "* 8\nh.0.mlp.c_fc 4\n", "x", 1, err, sizeof err) == 0);
  double plain, weighted;
  sdq_bitconfig_average_bits(&c, 8, &plain, &weighted);
  ck_assert_double_eq_tol(plain, 7.0, 1e-12);
  ck_assert_double_eq_tol(weighted, (192 * 8 + 64 * 8 + 256 * 4 + 256 * 8) / 768.0, 1e-12);
  sdq_bitconfig_free(&c);
  ck_assert(sdq_bitconfig_init_uniform(&c, 3, 6, 0, err, sizeof err) == 0);
  sdq_bitconfig_average_bits(&c, 768, &plain, &weighted);
  ck_assert_double_eq_tol(plain, 6.0, 1e-12);
  ck_assert_double_eq_tol(weighted, 6.0, 1e-12);
  sdq_bitconfig_free(&c);
}
END_TEST

/* Builds a twin of m at full precision whose quantized linear weights are
 * replaced by their fake-quantized values and whose fp32 adapters are the
 * adapters m uses at each layer's bits. */
static sdq_gpt2 *fake_quant_twin(sdq_gpt2 *m, int keep_act_bits) {
  char err[256];
  sdq_gpt2 *t = sdq_gpt2_create(&m->cfg, 1, err, sizeof err);
  ck_assert_msg(t != NULL, "%s", err);
  memcpy(t->params_memory, m->params_memory, m->n_params * sizeof(float));
  sdq_lora_config lc = m->lora.cfg;
  lc.n_sets = 1;
  lc.bits[0] = 32;
  ck_assert(sdq_gpt2_lora_init(t, &lc, 3, err, sizeof err) == 0);
  sdq_bitconfig full;
  ck_assert(sdq_bitconfig_init_uniform(&full, m->cfg.n_layer, 32, 0, err, sizeof err) == 0);
  for (int l = 0; l < m->cfg.n_layer; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      sdq_layer_bits b = m->bits.layers[l * SDQ_LIN_COUNT + k];
      int in, out;
      sdq_linear_dims((sdq_linear)k, m->cfg.n_embd, &in, &out);
      float *w = sdq_gpt2_linear_weight(&t->params, &t->cfg, l, (sdq_linear)k, NULL);
      if (!sdq_bits_is_full(b.w_bits))
        ck_assert(sdq_fake_quant_rows(w, out, in, in, b.w_bits, NULL, w, NULL) == 0);
      if (keep_act_bits)
        full.layers[l * SDQ_LIN_COUNT + k].a_bits = b.a_bits;
      sdq_lora_adapter *src = sdq_lora_adapter_at(
          &m->lora, sdq_lora_set_index(&m->lora, b.w_bits), l, (sdq_linear)k);
      sdq_lora_adapter *dst = sdq_lora_adapter_at(&t->lora, 0, l, (sdq_linear)k);
      memcpy(dst->A, src->A, src->count * sizeof(float));
    }
  ck_assert_msg(sdq_gpt2_set_bits(t, &full, err, sizeof err) == 0, "%s", err);
  sdq_bitconfig_free(&full);
  return t;
}

static double max_logit_diff(sdq_gpt2 *a, sdq_gpt2 *b, const int32_t *tokens, int B, int T,
                             float *loss_a, float *loss_b) {
  char err[256];
  int32_t targets[64];
  for (int i = 0; i < B * T; i++)
    targets[i] = (tokens[i] * 7 + 3) % a->cfg.vocab_size;
  sdq_gpt2_batch batch = {.B = B, .T = T, .tokens = tokens, .targets = targets};
  ck_assert_msg(sdq_gpt2_forward(a, &batch, loss_a, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(sdq_gpt2_forward(b, &batch, loss_b, err, sizeof err) == 0, "%s", err);
  double worst = 0;
  for (int bi = 0; bi < B; bi++)
    for (int t = 0; t < T; t++) {
      const float *la = sdq_gpt2_logits(a, bi, t), *lb = sdq_gpt2_logits(b, bi, t);
      for (int v = 0; v < a->cfg.vocab_size; v++)
        worst = fmax(worst, fabs((double)la[v] - lb[v]));
    }
  return worst;
}

static sdq_gpt2 *quantized_model(const char *rules) {
  char err[256];
  sdq_gpt2_config cfg = {3, 4, 32, 16, 64};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 11, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_lora_config lc = {4, 8.0f, 0.0f, 4, {3, 4, 8, 32}};
  ck_assert(sdq_gpt2_lora_init(m, &lc, 5, err, sizeof err) == 0);
  sdq_rng r;
  sdq_rng_seed(&r, 17);
  for (size_t i = 0; i < m->lora.n_params; i++)
    m->lora.params[i] += 0.05f * sdq_rng_normal(&r);
  sdq_bitconfig c;
  ck_assert_msg(sdq_bitconfig_parse(&c, rules, "rules", 3, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(sdq_gpt2_set_bits(m, &c, err, sizeof err) == 0, "%s", err);
  sdq_bitconfig_free(&c);
  return m;
}

START_TEST(quantized_forward_equals_fake_quant) {
  sdq_gpt2 *m = quantized_model("* 4\nh.1.* 8\nh.0.mlp.c_proj 32\nh.2.attn.c_attn 3\n");
  sdq_gpt2 *t = fake_quant_twin(m, 0);
  int32_t tokens[2 * 12];
  for (int i = 0; i < 24; i++)
    tokens[i] = (i * 13 + 5) % 64;
  float la, lb;
  double d = max_logit_diff(m, t, tokens, 2, 12, &la, &lb);
  ck_assert_msg(d < 1e-4, "max |logit difference| %g", d);
  ck_assert_msg(fabsf(la - lb) < 1e-5f, "loss %g vs %g", la, lb);

  /* The same twin without fake quantization differs: the test can fail. */
  sdq_gpt2 *fp = fake_quant_twin(m, 0);
  memcpy(fp->params_memory, m->params_memory, m->n_params * sizeof(float));
  sdq_gpt2_base_changed(fp);
  ck_assert(max_logit_diff(m, fp, tokens, 2, 12, &la, &lb) > 1e-3);
  sdq_gpt2_free(fp);
  sdq_gpt2_free(t);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(int8_activation_forward_equals_fake_quant) {
  sdq_gpt2 *m = quantized_model("* 4 8\nh.1.* 8 8\nh.2.mlp.c_fc 3 6\n");
  sdq_gpt2 *t = fake_quant_twin(m, 1);
  int32_t tokens[12];
  for (int i = 0; i < 12; i++)
    tokens[i] = (i * 29 + 1) % 64;
  float la, lb;
  /* Integer and fake-quant paths agree up to fp32 summation order; a rare
   * activation on a rounding boundary can move one level downstream. */
  double d = max_logit_diff(m, t, tokens, 1, 12, &la, &lb);
  ck_assert_msg(d < 2e-3, "max |logit difference| %g", d);
  sdq_gpt2_free(t);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(set_bits_needs_lora_set) {
  char err[256];
  sdq_gpt2 *m = quantized_model("* 4\n");
  ck_assert(sdq_gpt2_set_uniform_bits(m, 6, 0, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "no adapter set") != NULL, "%s", err);
  ck_assert(sdq_gpt2_set_uniform_bits(m, 16, 0, err, sizeof err) == 0); /* 16 uses fp32 set */
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_bits");
  TCase *tc = tcase_create("bits");
  tcase_set_timeout(tc, 60); /* seconds; runs in about 1 s on an idle machine */
  tcase_add_test(tc, bitconfig_rules_and_precedence);
  tcase_add_test(tc, bitconfig_errors_name_line);
  tcase_add_test(tc, bitconfig_load_file);
  tcase_add_test(tc, bitconfig_block_numbers);
  tcase_add_test(tc, bitconfig_bom_and_line_ends);
  tcase_add_test(tc, bitconfig_placeholders);
  tcase_add_test(tc, average_bits_plain_and_weighted);
  tcase_add_test(tc, quantized_forward_equals_fake_quant);
  tcase_add_test(tc, int8_activation_forward_equals_fake_quant);
  tcase_add_test(tc, set_bits_needs_lora_set);
  suite_add_tcase(s, tc);
  TCase *deep = tcase_create("deep");
  tcase_set_timeout(deep, 10); /* seconds; about 0.05 s when linear */
  tcase_add_test(deep, bitconfig_deep_model_is_linear);
  suite_add_tcase(s, deep);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
