/* test_train_distill.c - joint training with distillation: the choice of the
 * teacher, option checks, determinism, stop-and-resume, the run identity of
 * checkpoints, and that alpha 0 reduces to plain joint training. Uses a
 * 1-block, 16-wide GPT-2 and a 4-question SQuAD file. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/files.h"
#include "train/trainer.h"

static char dir[256], data_path[300];
static sdq_tokenizer *tok;
static sdq_squad data;

static const char *squad_json =
    "{\"version\":\"1.1\",\"data\":[{\"title\":\"Tiny\",\"paragraphs\":["
    "{\"context\":\"Mira was born in Oslo. Tom works as a baker.\",\"qas\":["
    "{\"id\":\"d1\",\"question\":\"Where was Mira born?\",\"answers\":[{\"answer_start\":17,\"text\":\"Oslo\"}]},"
    "{\"id\":\"d2\",\"question\":\"What is Tom's job?\",\"answers\":[{\"answer_start\":38,\"text\":\"baker\"}]}]},"
    "{\"context\":\"Ana keeps a dog named Rex. Ben likes the colour red.\",\"qas\":["
    "{\"id\":\"d3\",\"question\":\"What is Ana's dog called?\",\"answers\":[{\"answer_start\":22,\"text\":\"Rex\"}]},"
    "{\"id\":\"d4\",\"question\":\"Which colour does Ben like?\",\"answers\":[{\"answer_start\":48,\"text\":\"red\"}]}]}]}]}";

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/sdq-test-distill-%ld", (long)getpid());
  snprintf(data_path, sizeof data_path, "%s.json", dir);
  FILE *f = fopen(data_path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(squad_json, f);
  fclose(f);
  char err[1024], warn[128];
  ck_assert_msg(sdq_squad_load(&data, data_path, warn, sizeof warn, err, sizeof err) == 0, "%s",
                err);
  ck_assert_msg(sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(NULL), err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(sdq_mkdir_p(dir, err, sizeof err), 0);
}

static void teardown(void) {
  sdq_tokenizer_free(tok);
  sdq_squad_free(&data);
  unlink(data_path);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Creates the model with LoRA sets for 4 bits, 8 bits and fp32. Dropout
 * exercises the model's RNG. */
static sdq_gpt2 *tiny_model(float dropout) {
  sdq_gpt2_config cfg = {1, 2, 16, 128, 50257};
  char err[512];
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 11, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_lora_config lc = {0};
  lc.rank = 4;
  lc.alpha = 8.0f;
  lc.dropout = dropout;
  lc.n_sets = 3;
  lc.bits[0] = 4, lc.bits[1] = 8, lc.bits[2] = SDQ_LORA_FULL_BITS;
  ck_assert_msg(sdq_gpt2_lora_init(m, &lc, 5, err, sizeof err) == 0, "%s", err);
  return m;
}

/* A random schedule over uniform configurations of the given bits. */
static void schedule_of(sdq_schedule *s, const int *bits, int n) {
  char err[256], name[16];
  memset(s, 0, sizeof *s);
  s->kind = SDQ_SCHEDULE_RANDOM;
  for (int i = 0; i < n; i++) {
    sdq_bitconfig c;
    ck_assert_int_eq(sdq_bitconfig_init_uniform(&c, 1, bits[i], 0, err, sizeof err), 0);
    snprintf(name, sizeof name, "%dbit", bits[i]);
    ck_assert_int_eq(sdq_schedule_add(s, &c, name, err, sizeof err), 0);
    sdq_bitconfig_free(&c);
  }
}

static sdq_train_options distill_options(const char *out) {
  sdq_train_options o = sdq_train_defaults();
  o.steps = 5;
  o.batch_size = 2;
  o.grad_accum = 2;
  o.max_len = 128;
  o.adamw.lr = 1e-2f;
  o.adamw.warmup_steps = 1;
  o.seed = 3;
  o.joint = 1;
  o.distill = 1;
  o.distill_alpha = 0.6f;
  o.distill_temp = 1.5f;
  o.out_dir = out;
  o.checkpoint_every = 1;
  o.progress = 0;
  return o;
}

/* Trains a fresh tiny model with o over 4, 8 and 32 bits and returns a copy
 * of its LoRA arena (n_params floats). *rc receives sdq_train's status. */
static float *train_copy(const sdq_train_options *o, float dropout, int *rc, char *err,
                         size_t errlen) {
  sdq_gpt2 *m = tiny_model(dropout);
  sdq_schedule s;
  const int bits[3] = {4, 32, 8}; /* the teacher is not the first option */
  schedule_of(&s, bits, 3);
  sdq_train_result r;
  *rc = sdq_train(m, tok, &data, &s, o, &r, err, errlen);
  float *copy = malloc(m->lora.n_params * sizeof *copy);
  memcpy(copy, m->lora.params, m->lora.n_params * sizeof *copy);
  sdq_schedule_free(&s);
  sdq_gpt2_free(m);
  return copy;
}

static size_t lora_floats(void) {
  sdq_gpt2 *m = tiny_model(0.0f);
  size_t n = m->lora.n_params;
  sdq_gpt2_free(m);
  return n;
}

static void out_dir(char *buf, size_t len, const char *name) {
  char err[256];
  snprintf(buf, len, "%s/%s", dir, name);
  ck_assert_msg(sdq_mkdir_p(buf, err, sizeof err) == 0, "%s", err);
}

START_TEST(teacher_is_highest_weighted_bits) {
  char err[256];
  sdq_bitconfig c[4];
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&c[0], 2, 4, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&c[1], 2, 8, 8, err, sizeof err), 0);
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&c[2], 2, 8, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&c[3], 2, 8, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_train_teacher_index(c, 1, 16), 0);
  ck_assert_int_eq(sdq_train_teacher_index(c, 2, 16), 1);
  /* Equal weight bits: fp32 activations beat 8-bit ones. */
  ck_assert_int_eq(sdq_train_teacher_index(c, 3, 16), 2);
  /* A full tie keeps the earlier configuration. */
  ck_assert_int_eq(sdq_train_teacher_index(c, 4, 16), 2);

  /* Weighted, not plain, bits decide. 32 bits on the small attn.c_proj
   * and 2 bits elsewhere average 9.5 plain but 4.5 weighted, so uniform
   * 6 bits is the teacher. */
  for (int i = 0; i < 2 * SDQ_LIN_COUNT; i++)
    c[0].layers[i].w_bits = i % SDQ_LIN_COUNT == SDQ_LIN_ATTN_PROJ ? 32 : 2;
  for (int i = 0; i < 2 * SDQ_LIN_COUNT; i++) {
    c[1].layers[i].w_bits = 6;
    c[1].layers[i].a_bits = 0;
  }
  double plain0, plain1;
  sdq_bitconfig_average_bits(&c[0], 16, &plain0, NULL);
  sdq_bitconfig_average_bits(&c[1], 16, &plain1, NULL);
  ck_assert(plain0 > plain1);
  ck_assert_int_eq(sdq_train_teacher_index(c, 2, 16), 1);
  for (int i = 0; i < 4; i++)
    sdq_bitconfig_free(&c[i]);
}
END_TEST

START_TEST(distill_needs_joint_and_two_configs) {
  char err[512], out[300];
  int rc;
  out_dir(out, sizeof out, "bad");
  sdq_train_options o = distill_options(out);
  o.joint = 0;
  free(train_copy(&o, 0.0f, &rc, err, sizeof err));
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "joint") != NULL, "%s", err);

  o = distill_options(out);
  o.distill_alpha = 1.5f;
  free(train_copy(&o, 0.0f, &rc, err, sizeof err));
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "alpha 1.5") != NULL, "%s", err);

  o = distill_options(out);
  o.distill_temp = 0.0f;
  free(train_copy(&o, 0.0f, &rc, err, sizeof err));
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "temperature 0") != NULL, "%s", err);

  sdq_gpt2 *m = tiny_model(0.0f);
  sdq_schedule s;
  const int bits[1] = {8};
  schedule_of(&s, bits, 1);
  sdq_train_result r;
  o = distill_options(out);
  ck_assert_int_eq(sdq_train(m, tok, &data, &s, &o, &r, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "at least two configurations") != NULL, "%s", err);
  sdq_schedule_free(&s);
  sdq_gpt2_free(m);
}
END_TEST

START_TEST(distill_deterministic_and_resumable) {
  char err[1024], straight[300], again[300], split[300];
  out_dir(straight, sizeof straight, "straight");
  out_dir(again, sizeof again, "again");
  out_dir(split, sizeof split, "split");
  size_t n = lora_floats();
  sdq_gpt2 *probe = tiny_model(0.1f);
  float *init = malloc(n * sizeof *init);
  memcpy(init, probe->lora.params, n * sizeof *init);

  int rc;
  sdq_train_options o = distill_options(straight);
  float *a = train_copy(&o, 0.1f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  o.out_dir = again;
  float *b = train_copy(&o, 0.1f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_msg(memcmp(a, b, n * sizeof *a) == 0, "same seed gave different adapters");

  /* Every adapter set trained, the teacher's (fp32) included. */
  const int set_bits[3] = {4, 8, 32};
  for (int i = 0; i < 3; i++) {
    int set = sdq_lora_set_index(&probe->lora, set_bits[i]);
    const sdq_lora_adapter *ad = sdq_lora_adapter_at(&probe->lora, set, 0, SDQ_LIN_MLP_FC);
    ck_assert_msg(memcmp(a + ad->offset, init + ad->offset, ad->count * sizeof *a) != 0,
                  "the %d-bit adapter did not change", set_bits[i]);
  }

  o.out_dir = split;
  o.stop_after = 2;
  free(train_copy(&o, 0.1f, &rc, err, sizeof err));
  ck_assert_msg(rc == 0, "%s", err);
  o.stop_after = 0;
  o.resume = 1;
  float *c = train_copy(&o, 0.1f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_msg(memcmp(a, c, n * sizeof *a) == 0, "resumed run differs from the straight run");

  /* The checkpoint belongs to this distillation setting only. */
  o.distill_temp = 1.0f;
  free(train_copy(&o, 0.1f, &rc, err, sizeof err));
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "another run") != NULL, "%s", err);
  o.distill_temp = 1.5f;
  o.distill = 0;
  free(train_copy(&o, 0.1f, &rc, err, sizeof err));
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "another run") != NULL, "%s", err);

  sdq_gpt2_free(probe);
  free(a), free(b), free(c), free(init);
}
END_TEST

START_TEST(alpha_zero_equals_plain_joint) {
  /* Each adapter set takes gradient from its own configuration only, so
   * without dropout the pass order does not matter. Alpha 0 must then give
   * plain joint training bit for bit, and alpha 0.6 must not. */
  char err[1024], out[300];
  out_dir(out, sizeof out, "alpha");
  size_t n = lora_floats();
  int rc;
  sdq_train_options o = distill_options(out);
  o.distill = 0;
  float *joint = train_copy(&o, 0.0f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  o.distill = 1;
  o.distill_alpha = 0.0f;
  float *zero = train_copy(&o, 0.0f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  o.distill_alpha = 0.6f;
  float *mixed = train_copy(&o, 0.0f, &rc, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_msg(memcmp(joint, zero, n * sizeof *joint) == 0,
                "alpha 0 differs from plain joint training");
  ck_assert_msg(memcmp(joint, mixed, n * sizeof *joint) != 0,
                "alpha 0.6 trained the same adapters as plain joint training");
  free(joint), free(zero), free(mixed);
}
END_TEST

int main(void) {
  char err[512];
  sdq_tokenizer *probe = NULL;
  if (sdq_tokenizer_load(&probe, sdq_tokenizer_find_dir(NULL), err, sizeof err) != 0) {
    printf("SKIP: the GPT-2 tokenizer is missing (%s); scripts/bootstrap installs it\n", err);
    return 77;
  }
  sdq_tokenizer_free(probe);
  Suite *s = suite_create("train_distill");
  TCase *tc = tcase_create("joint_distill");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, teacher_is_highest_weighted_bits);
  tcase_add_test(tc, distill_needs_joint_and_two_configs);
  tcase_add_test(tc, distill_deterministic_and_resumable);
  tcase_add_test(tc, alpha_zero_equals_plain_joint);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
