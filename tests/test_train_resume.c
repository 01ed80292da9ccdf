/* test_train_resume.c - training is deterministic and a run stopped after
 * its checkpoint and resumed ends bitwise equal to an uninterrupted run; the
 * evaluation's own EM/F1 equal the score of the predictions file it wrote.
 * Uses a 1-block, 16-wide GPT-2 and a 6-question SQuAD file. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/evaluate.h"
#include "train/files.h"
#include "train/trainer.h"

static char dir[256], data_path[300];
static sdq_tokenizer *tok;
static sdq_squad data;

static const char *squad_json =
    "{\"version\":\"1.1\",\"data\":[{\"title\":\"Tiny\",\"paragraphs\":["
    "{\"context\":\"Mira was born in Oslo. Tom works as a baker.\",\"qas\":["
    "{\"id\":\"t1\",\"question\":\"Where was Mira born?\",\"answers\":[{\"answer_start\":17,\"text\":\"Oslo\"}]},"
    "{\"id\":\"t2\",\"question\":\"What is Tom's job?\",\"answers\":[{\"answer_start\":38,\"text\":\"baker\"}]}]},"
    "{\"context\":\"Ana keeps a dog named Rex. Ben likes the colour red.\",\"qas\":["
    "{\"id\":\"t3\",\"question\":\"What is Ana's dog called?\",\"answers\":[{\"answer_start\":22,\"text\":\"Rex\"}]},"
    "{\"id\":\"t4\",\"question\":\"Which colour does Ben like?\",\"answers\":[{\"answer_start\":48,\"text\":\"red\"}]}]},"
    "{\"context\":\"Lia was born in the year 1901. Kai owns an iron key.\",\"qas\":["
    "{\"id\":\"t5\",\"question\":\"When was Lia born?\",\"answers\":[{\"answer_start\":25,\"text\":\"1901\"}]},"
    "{\"id\":\"t6\",\"question\":\"What does Kai own?\",\"answers\":[{\"answer_start\":40,\"text\":\"an iron key\"},"
    "{\"answer_start\":43,\"text\":\"iron key\"}]}]}]}]}";

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/sdq-test-resume-%ld", (long)getpid());
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
}

static void teardown(void) {
  sdq_tokenizer_free(tok);
  sdq_squad_free(&data);
  unlink(data_path);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static sdq_gpt2 *tiny_model(void) {
  sdq_gpt2_config cfg = {1, 2, 16, 128, 50257};
  char err[512];
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 11, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_lora_config lc = {0};
  lc.rank = 4;
  lc.alpha = 8.0f;
  lc.dropout = 0.1f; /* exercises the model's RNG across the resume */
  lc.n_sets = 3;
  lc.bits[0] = 4, lc.bits[1] = 8, lc.bits[2] = SDQ_LORA_FULL_BITS;
  ck_assert_msg(sdq_gpt2_lora_init(m, &lc, 5, err, sizeof err) == 0, "%s", err);
  return m;
}

static void random_schedule(sdq_schedule *s) {
  char err[256];
  memset(s, 0, sizeof *s);
  s->kind = SDQ_SCHEDULE_RANDOM;
  for (int b = 4; b <= 8; b += 4) {
    sdq_bitconfig c;
    ck_assert_int_eq(sdq_bitconfig_init_uniform(&c, 1, b, 0, err, sizeof err), 0);
    ck_assert_int_eq(sdq_schedule_add(s, &c, b == 4 ? "4bit" : "8bit", err, sizeof err), 0);
    sdq_bitconfig_free(&c);
  }
}

static float *train_copy(int stop_after, int resume, const char *out) {
  sdq_gpt2 *m = tiny_model();
  sdq_schedule s;
  random_schedule(&s);
  sdq_train_options o = sdq_train_defaults();
  o.steps = 6;
  o.batch_size = 2;
  o.grad_accum = 2;
  o.max_len = 128;
  o.adamw.lr = 1e-2f;
  o.adamw.warmup_steps = 2;
  o.seed = 3;
  o.out_dir = out;
  o.checkpoint_every = 1;
  o.stop_after = stop_after;
  o.resume = resume;
  o.progress = 0;
  sdq_train_result r;
  char err[1024];
  ck_assert_msg(sdq_train(m, tok, &data, &s, &o, &r, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(r.stopped, stop_after > 0 && stop_after < o.steps);
  float *copy = malloc(m->lora.n_params * sizeof *copy);
  memcpy(copy, m->lora.params, m->lora.n_params * sizeof *copy);
  sdq_schedule_free(&s);
  sdq_gpt2_free(m);
  return copy;
}

START_TEST(resume_is_bitwise_identical) {
  char straight[300], split[300];
  snprintf(straight, sizeof straight, "%s/straight", dir);
  snprintf(split, sizeof split, "%s/split", dir);
  char err[256];
  ck_assert_int_eq(sdq_mkdir_p(straight, err, sizeof err), 0);
  ck_assert_int_eq(sdq_mkdir_p(split, err, sizeof err), 0);

  sdq_gpt2 *probe = tiny_model();
  size_t n = probe->lora.n_params;
  float *init = malloc(n * sizeof *init);
  memcpy(init, probe->lora.params, n * sizeof *init);
  sdq_gpt2_free(probe);

  float *a = train_copy(0, 0, straight);
  float *b = train_copy(3, 0, split); /* stops after step 3 like a killed run */
  float *c = train_copy(0, 1, split); /* resumes at step 3 */
  ck_assert_msg(memcmp(a, init, n * sizeof *a) != 0, "training changed no adapter");
  ck_assert_msg(memcmp(a, b, n * sizeof *a) != 0, "3 steps should differ from 6");
  ck_assert_msg(memcmp(a, c, n * sizeof *a) == 0, "resumed run differs from the straight run");

  float *d = train_copy(0, 0, straight); /* same seed, fresh: same result */
  ck_assert_msg(memcmp(a, d, n * sizeof *a) == 0, "same seed gave different adapters");
  free(a), free(b), free(c), free(d), free(init);
}
END_TEST

START_TEST(eval_agrees_with_score) {
  sdq_gpt2 *m = tiny_model();
  char err[1024];
  ck_assert_int_eq(sdq_gpt2_set_uniform_bits(m, 8, 0, err, sizeof err), 0);
  size_t n = 0;
  size_t *subset = sdq_select_questions(&data, NULL, 0, &n, err, sizeof err);
  ck_assert_ptr_nonnull(subset);
  ck_assert_uint_eq(n, 6);
  sdq_eval_options o = {128, 4, 0};
  sdq_eval_result res;
  ck_assert_msg(sdq_evaluate(m, tok, &data, subset, n, &o, &res, err, sizeof err) == 0, "%s", err);

  /* Make one prediction a known answer so the scores are not all zero. */
  free(res.predictions[5]);
  res.predictions[5] = strdup("Iron key!");
  double em5, f15;
  ck_assert_int_eq(sdq_squad_score_one(res.predictions[5], &data.questions[5], &em5, &f15), 0);
  ck_assert(em5 == 1.0);

  char pred_path[300];
  snprintf(pred_path, sizeof pred_path, "%s-predictions.json", dir);
  ck_assert_int_eq(sdq_write_predictions(pred_path, &data, subset, n, res.predictions, err,
                                         sizeof err), 0);
  sdq_squad_score file_score;
  ck_assert_msg(sdq_squad_score_file(&data, pred_path, &file_score, err, sizeof err) == 0, "%s",
                err);
  ck_assert_uint_eq(file_score.n_missing, 0);
  double em_sum = 0, f1_sum = 0;
  for (size_t i = 0; i < n; i++) {
    double em, f1;
    ck_assert_int_eq(sdq_squad_score_one(res.predictions[i], &data.questions[i], &em, &f1), 0);
    em_sum += em, f1_sum += f1;
  }
  ck_assert(file_score.exact_match == 100.0 * em_sum / 6.0);
  ck_assert(file_score.f1 == 100.0 * f1_sum / 6.0);
  ck_assert(file_score.exact_match >= 100.0 / 6.0);
  unlink(pred_path);
  sdq_eval_result_free(&res);
  free(subset);
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train_resume");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, resume_is_bitwise_identical);
  tcase_add_test(tc, eval_agrees_with_score);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
