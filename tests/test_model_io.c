/* test_model_io.c - HF checkpoint save -> load round trip (Conv1D layout,
 * name prefixes, ignored buffers, n_head rule) and PEFT LoRA adapter
 * save -> load round trip. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gpt2.h"
#include "model/safetensors.h"

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/sdq_model_io_XXXXXX");
  ck_assert(mkdtemp(tmpdir) != NULL);
}

static void remove_tree(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

static sdq_gpt2 *tiny_model(int n_embd, int n_head) {
  char err[256];
  sdq_gpt2_config cfg = {2, n_head, n_embd, 8, 20};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 5, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  /* Nonzero biases and LayerNorm betas so their round trip is tested. */
  sdq_rng r;
  sdq_rng_seed(&r, 8);
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] += 0.01f * sdq_rng_normal(&r);
  return m;
}

static void logits_of(sdq_gpt2 *m, float *out) {
  char err[256];
  int32_t tokens[6] = {1, 5, 19, 0, 7, 7};
  sdq_gpt2_batch b = {.B = 1, .T = 6, .tokens = tokens};
  ck_assert_msg(sdq_gpt2_forward(m, &b, NULL, err, sizeof err) == 0, "%s", err);
  for (int t = 0; t < 6; t++)
    memcpy(out + t * m->cfg.vocab_size, sdq_gpt2_logits(m, 0, t), m->cfg.vocab_size * sizeof(float));
}

START_TEST(hf_checkpoint_round_trip) {
  char err[512], path[256];
  make_tmpdir();
  sdq_gpt2 *m = tiny_model(16, 4);
  ck_assert_msg(sdq_gpt2_save_hf(m, tmpdir, err, sizeof err) == 0, "%s", err);

  /* The file holds Conv1D weights as [in, out]. */
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  sdq_safetensors st;
  memset(&st, 0, sizeof st);
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  const sdq_st_tensor *t = sdq_safetensors_find(&st, "h.1.attn.c_attn.weight");
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->shape[0], 16);
  ck_assert_uint_eq(t->shape[1], 48);
  float *w = malloc(16 * 48 * sizeof *w);
  ck_assert(sdq_safetensors_read_f32(&st, t, w, 16 * 48, err, sizeof err) == 0);
  const float *kw = sdq_gpt2_linear_weight(&m->params, &m->cfg, 1, SDQ_LIN_ATTN_QKV, NULL);
  ck_assert(w[3 * 48 + 40] == kw[40 * 16 + 3]);
  free(w);
  sdq_safetensors_close(&st);

  sdq_gpt2 *back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
  ck_assert_msg(back != NULL, "%s", err);
  ck_assert_int_eq(back->cfg.n_head, 4);
  ck_assert_int_eq(back->cfg.n_layer, 2);
  ck_assert_int_eq(back->cfg.n_ctx, 8);
  ck_assert_int_eq(back->cfg.vocab_size, 20);
  ck_assert_uint_eq(back->n_params, m->n_params);
  ck_assert_mem_eq(back->params_memory, m->params_memory, m->n_params * sizeof(float));
  float la[6 * 20], lb[6 * 20];
  logits_of(m, la);
  logits_of(back, lb);
  ck_assert_mem_eq(la, lb, sizeof la);
  sdq_gpt2_free(back);

  /* The file path works too. */
  back = sdq_gpt2_load_hf(path, 1, err, sizeof err);
  ck_assert_msg(back != NULL, "%s", err);
  sdq_gpt2_free(back);

  /* Without config.json, n_head of a non-124M width is unknown. */
  snprintf(path, sizeof path, "%s/config.json", tmpdir);
  unlink(path);
  back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
  ck_assert_ptr_null(back);
  ck_assert_msg(strstr(err, "n_head") != NULL, "%s", err);
  sdq_gpt2_free(m);
  remove_tree();
}
END_TEST

/* Writes the model under "transformer." names plus the attention buffers and
 * an extra tensor `extra` (NULL for none). */
static void write_prefixed(const sdq_gpt2 *m, const char *path, const char *extra, int lm_head) {
  char err[512], dir[128];
  snprintf(dir, sizeof dir, "%s/plain", tmpdir);
  ck_assert_msg(sdq_gpt2_save_hf(m, dir, err, sizeof err) == 0, "%s", err);
  char src[200];
  snprintf(src, sizeof src, "%s/model.safetensors", dir);
  sdq_safetensors st;
  memset(&st, 0, sizeof st);
  ck_assert(sdq_safetensors_open(&st, src, err, sizeof err) == 0);
  size_t n = st.n_tensors;
  sdq_st_write_tensor *ts = calloc(n + 4, sizeof *ts);
  char (*names)[96] = calloc(n + 4, sizeof *names);
  float **data = calloc(n + 4, sizeof *data);
  for (size_t i = 0; i < n; i++) {
    const sdq_st_tensor *t = &st.tensors[i];
    snprintf(names[i], sizeof names[i], "transformer.%s", t->name);
    data[i] = malloc(t->numel * sizeof(float));
    ck_assert(sdq_safetensors_read_f32(&st, t, data[i], t->numel, err, sizeof err) == 0);
    ts[i] = (sdq_st_write_tensor){names[i], t->ndim, {t->shape[0], t->shape[1]}, data[i]};
  }
  static float mask[64];
  ts[n++] = (sdq_st_write_tensor){"transformer.h.0.attn.bias", 2, {8, 8}, mask};
  ts[n++] = (sdq_st_write_tensor){"transformer.h.1.attn.masked_bias", 0, {0}, mask};
  if (lm_head)
    ts[n++] = (sdq_st_write_tensor){"lm_head.weight", 2,
                                    {(size_t)m->cfg.vocab_size, (size_t)m->cfg.n_embd},
                                    m->params.wte};
  if (extra)
    ts[n++] = (sdq_st_write_tensor){extra, 1, {4}, mask};
  ck_assert_msg(sdq_safetensors_write(path, ts, n, NULL, 0, err, sizeof err) == 0, "%s", err);
  for (size_t i = 0; i < st.n_tensors; i++)
    free(data[i]);
  free(data);
  free(names);
  free(ts);
  sdq_safetensors_close(&st);
}

START_TEST(hf_prefixed_names_and_buffers) {
  char err[512], path[256];
  make_tmpdir();
  sdq_gpt2 *m = tiny_model(16, 2);
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  write_prefixed(m, path, NULL, 1);
  /* config.json beside the file supplies n_head. */
  FILE *f = fopen((snprintf(path, sizeof path, "%s/config.json", tmpdir), path), "w");
  fputs("{\"n_head\": 2, \"n_layer\": 2, \"n_embd\": 16}\n", f);
  fclose(f);
  sdq_gpt2 *back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
  ck_assert_msg(back != NULL, "%s", err);
  ck_assert_mem_eq(back->params_memory, m->params_memory, m->n_params * sizeof(float));
  sdq_gpt2_free(back);

  /* config.json disagreeing with the shapes is an error. */
  f = fopen(path, "w");
  fputs("{\"n_head\": 2, \"n_layer\": 3}\n", f);
  fclose(f);
  back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
  ck_assert_ptr_null(back);
  ck_assert_msg(strstr(err, "n_layer") != NULL, "%s", err);

  /* An unknown tensor is an error naming it. */
  f = fopen(path, "w");
  fputs("{\"n_head\": 2}\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  write_prefixed(m, path, "transformer.h.0.attn.rotary", 0);
  back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
  ck_assert_ptr_null(back);
  ck_assert_msg(strstr(err, "transformer.h.0.attn.rotary") != NULL, "%s", err);
  sdq_gpt2_free(m);
  remove_tree();
}
END_TEST

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* Loads tmpdir with text as its config.json; returns the model or NULL
 * (message in err). */
static sdq_gpt2 *load_with_config(const char *text, char *err, size_t errlen) {
  char path[256];
  snprintf(path, sizeof path, "%s/config.json", tmpdir);
  write_text(path, text);
  return sdq_gpt2_load_hf(tmpdir, 1, err, errlen);
}

/* A config.json with HF's usual fields (and the tanh GELU under another
 * name) loads; fields that would change the maths, wrong types and bad
 * head counts are refused with the file, field and value. */
START_TEST(hf_config_json_checked) {
  char err[512];
  make_tmpdir();
  sdq_gpt2 *m = tiny_model(16, 4);
  ck_assert_msg(sdq_gpt2_save_hf(m, tmpdir, err, sizeof err) == 0, "%s", err);
  sdq_gpt2 *back = load_with_config(
      "{\"activation_function\": \"gelu_pytorch_tanh\", \"architectures\": [\"GPT2LMHeadModel\"],"
      " \"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"initializer_range\": 0.02,"
      " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\", \"n_ctx\": 8, \"n_embd\": 16,"
      " \"n_head\": 4, \"n_inner\": null, \"n_layer\": 2, \"n_positions\": 8,"
      " \"reorder_and_upcast_attn\": false, \"scale_attn_by_inverse_layer_idx\": false,"
      " \"scale_attn_weights\": true, \"summary_activation\": null,"
      " \"task_specific_params\": {\"text-generation\": {\"do_sample\": true}},"
      " \"use_cache\": true, \"vocab_size\": 20}",
      err, sizeof err);
  ck_assert_msg(back != NULL, "%s", err);
  ck_assert_int_eq(back->cfg.n_head, 4);
  sdq_gpt2_free(back);

  static const struct {
    const char *json, *needle1, *needle2;
  } bad[] = {
      {"{\"n_head\": 4, \"activation_function\": \"relu\"}", "\"activation_function\" is \"relu\"", "tanh GELU"},
      {"{\"n_head\": 4, \"activation_function\": \"gelu\"}", "\"activation_function\" is \"gelu\"", "gelu_new"},
      {"{\"n_head\": 4, \"activation_function\": 3}", "\"activation_function\" is not a string", "gelu_new"},
      {"{\"n_head\": 4, \"layer_norm_epsilon\": -1.0}", "\"layer_norm_epsilon\" is -1", "1e-05"},
      {"{\"n_head\": 4, \"layer_norm_epsilon\": 1000.0}", "\"layer_norm_epsilon\" is 1000", "1e-05"},
      {"{\"n_head\": 4, \"layer_norm_epsilon\": 1e-6}", "\"layer_norm_epsilon\" is 1e-06", "1e-05"},
      {"{\"n_head\": 4, \"layer_norm_epsilon\": \"x\"}", "\"layer_norm_epsilon\" must be a number", "1e-05"},
      {"{\"n_head\": 4, \"model_type\": \"bert\"}", "\"model_type\" is \"bert\"", "gpt2"},
      {"{\"n_head\": 4, \"scale_attn_by_inverse_layer_idx\": true}", "scale_attn_by_inverse_layer_idx", "false"},
      {"{\"n_head\": 4, \"n_embd\": 16, \"n_inner\": 32}", "\"n_inner\" is 32", "64"},
      {"{\"n_head\": 0}", "\"n_head\" is 0", "positive"},
      {"{\"n_head\": 3}", "\"n_head\" is 3", "does not divide n_embd = 16"},
      {"{\"n_head\": 3, \"n_embd\": 16}", "\"n_head\" is 3", "\"n_embd\" = 16"},
      {"{\"n_head\": \"4\"}", "\"n_head\" must be an integer", "config.json"},
      {"{\"n_head\": 4, \"n_positions\": 8, \"n_ctx\": 9}", "\"n_positions\" is 8", "\"n_ctx\" is 9"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    back = load_with_config(bad[i].json, err, sizeof err);
    ck_assert_msg(back == NULL, "accepted %s", bad[i].json);
    ck_assert_msg(strstr(err, "config.json: ") && strstr(err, bad[i].needle1) &&
                      strstr(err, bad[i].needle2),
                  "%s gave: %s", bad[i].json, err);
  }
  sdq_gpt2_free(m);
  remove_tree();
}
END_TEST

/* A non-finite weight is reported with its tensor and its index within that
 * tensor in the file's layout (Conv1D weights are stored [in, out]). */
START_TEST(hf_non_finite_weight_named) {
  char err[512];
  make_tmpdir();
  sdq_gpt2 *m = tiny_model(16, 4);
  /* Kernel layout of mlp.c_fc is (out 64, in 16): element (o 2, i 1). */
  float *w = sdq_gpt2_linear_weight(&m->params, &m->cfg, 1, SDQ_LIN_MLP_FC, NULL);
  w[2 * 16 + 1] = NAN;
  if (sdq_gpt2_save_hf(m, tmpdir, err, sizeof err) == 0) {
    sdq_gpt2 *back = sdq_gpt2_load_hf(tmpdir, 1, err, sizeof err);
    ck_assert_ptr_null(back);
    ck_assert_msg(strstr(err, "tensor 'h.1.mlp.c_fc.weight'") && strstr(err, "element 66 "),
                  "%s", err);
  } else {
    ck_abort_msg("save refused the NaN weight, so the load check is not reached: %s", err);
  }
  sdq_gpt2_free(m);
  remove_tree();
}
END_TEST

START_TEST(lora_adapters_round_trip) {
  char err[512], path[256];
  make_tmpdir();
  sdq_gpt2 *m = tiny_model(16, 4);
  sdq_lora_config lc = {3, 6.0f, 0.1f, 3, {4, 8, 32}};
  ck_assert(sdq_gpt2_lora_init(m, &lc, 9, err, sizeof err) == 0);
  sdq_rng r;
  sdq_rng_seed(&r, 4);
  for (size_t i = 0; i < m->lora.n_params; i++)
    m->lora.params[i] += sdq_rng_normal(&r);
  ck_assert_msg(sdq_lora_save(m, tmpdir, err, sizeof err) == 0, "%s", err);

  snprintf(path, sizeof path, "%s/bits4/adapter_config.json", tmpdir);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  ck_assert_msg(root != NULL, "%s", jerr.text);
  ck_assert_int_eq(json_integer_value(json_object_get(root, "r")), 3);
  ck_assert(json_is_true(json_object_get(root, "fan_in_fan_out")));
  ck_assert_double_eq_tol(json_number_value(json_object_get(root, "lora_alpha")), 6.0, 1e-9);
  json_decref(root);
  snprintf(path, sizeof path, "%s/fp32/adapter_model.safetensors", tmpdir);
  sdq_safetensors st;
  memset(&st, 0, sizeof st);
  ck_assert(sdq_safetensors_open(&st, path, err, sizeof err) == 0);
  const sdq_st_tensor *t =
      sdq_safetensors_find(&st, "base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight");
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->shape[0], 3);
  ck_assert_uint_eq(t->shape[1], 64);
  sdq_safetensors_close(&st);

  sdq_gpt2 *other = tiny_model(16, 4);
  ck_assert_msg(sdq_lora_load(other, tmpdir, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(other->lora.cfg.rank, 3);
  ck_assert_int_eq(other->lora.cfg.n_sets, 3);
  ck_assert_uint_eq(other->lora.n_params, m->lora.n_params);
  for (int s = 0; s < 3; s++) {
    int bits = m->lora.cfg.bits[s];
    int so = sdq_lora_set_index(&other->lora, bits);
    ck_assert_int_ge(so, 0);
    for (int l = 0; l < 2; l++)
      for (int k = 0; k < SDQ_LIN_COUNT; k++) {
        const sdq_lora_adapter *a = sdq_lora_adapter_at(&m->lora, s, l, (sdq_linear)k);
        const sdq_lora_adapter *b = sdq_lora_adapter_at(&other->lora, so, l, (sdq_linear)k);
        ck_assert_mem_eq(a->A, b->A, a->count * sizeof(float));
      }
  }

  /* A model of another width rejects the adapters with the tensor name. */
  sdq_gpt2 *wide = tiny_model(32, 4);
  ck_assert(sdq_lora_load(wide, tmpdir, err, sizeof err) == -1);
  ck_assert_msg(strstr(err, "lora_A.weight") != NULL, "%s", err);
  ck_assert_int_eq(wide->lora.cfg.rank, 0);
  sdq_gpt2_free(wide);
  sdq_gpt2_free(other);
  sdq_gpt2_free(m);
  remove_tree();
}
END_TEST

int main(void) {
  Suite *s = suite_create("model_io");
  TCase *tc = tcase_create("io");
  tcase_set_timeout(tc, 60); /* seconds; runs in about 1 s on an idle machine */
  tcase_add_test(tc, hf_checkpoint_round_trip);
  tcase_add_test(tc, hf_prefixed_names_and_buffers);
  tcase_add_test(tc, hf_config_json_checked);
  tcase_add_test(tc, hf_non_finite_weight_named);
  tcase_add_test(tc, lora_adapters_round_trip);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
