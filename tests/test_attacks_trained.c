/* test_attacks_trained.c - on a small model trained here until it answers
 * some questions, PGD lowers F1 compared with the clean prompt and the
 * results repeat with the same seed. Uses data/default and the GPT-2
 * tokenizer files; skips (77) when the tokenizer files are missing. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "attacks/attacks.h"
#include "model/tokenizer.h"
#include "train/schedule.h"
#include "train/squad.h"
#include "train/trainer.h"

enum { N_PARAGRAPHS = 4, TRAIN_STEPS = 100 };

static char data_path[4200];
static sdq_tokenizer *tok;
static sdq_squad sq;

/* Writes the first N_PARAGRAPHS paragraphs of data/default/train.json to a
 * temporary SQuAD file: the model memorises them, which takes seconds. */
static int write_small_data(const char *srcdir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/data/default/train.json", srcdir);
  json_error_t jerr;
  json_t *all = json_load_file(path, 0, &jerr);
  if (!all) {
    fprintf(stderr, "%s: %s\n", path, jerr.text);
    return -1;
  }
  json_t *article = json_array_get(json_object_get(all, "data"), 0);
  json_t *paragraphs = json_object_get(article, "paragraphs");
  while (json_array_size(paragraphs) > N_PARAGRAPHS)
    json_array_remove(paragraphs, json_array_size(paragraphs) - 1);
  json_t *small = json_pack("{s:s, s:[O]}", "version", "1.1", "data", article);
  snprintf(data_path, sizeof data_path, "/tmp/sdq-attack-data-%ld.json", (long)getpid());
  int rc = json_dump_file(small, data_path, 0);
  json_decref(small);
  json_decref(all);
  if (rc != 0)
    fprintf(stderr, "%s: cannot write the training subset\n", data_path);
  return rc;
}

static sdq_gpt2 *trained_model(void) {
  char err[1024];
  sdq_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 64, .n_ctx = 256,
                         .vocab_size = sdq_tokenizer_vocab_size(tok)};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 3, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  ck_assert_int_eq(sdq_gpt2_set_train_base(m, 1, err, sizeof err), 0);

  sdq_schedule sched = {0};
  sdq_bitconfig fp32 = {0};
  ck_assert_int_eq(sdq_bitconfig_init_uniform(&fp32, cfg.n_layer, 32, 0, err, sizeof err), 0);
  ck_assert_int_eq(sdq_schedule_add(&sched, &fp32, "fp32", err, sizeof err), 0);
  sched.kind = SDQ_SCHEDULE_STATIC;

  sdq_train_options o = sdq_train_defaults();
  o.steps = TRAIN_STEPS;
  o.batch_size = 8;
  o.train_base = 1;
  o.adamw.lr = 3e-3f;
  o.adamw.total_steps = TRAIN_STEPS;
  o.out_dir = NULL;
  o.progress = 0;
  sdq_train_result tr;
  ck_assert_msg(sdq_train(m, tok, &sq, &sched, &o, &tr, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(sdq_gpt2_set_train_base(m, 0, err, sizeof err), 0);
  sdq_schedule_free(&sched);
  sdq_bitconfig_free(&fp32);
  m->training = 0;
  return m;
}

START_TEST(pgd_lowers_f1_on_trained_model) {
  sdq_gpt2 *m = trained_model();
  size_t n_q = sq.n_questions < 16 ? sq.n_questions : 16;
  size_t qs[16];
  for (size_t i = 0; i < n_q; i++)
    qs[i] = i;

  sdq_attack_target t;
  sdq_target_init_fp32(&t);
  double rms = 0;
  const float *wte = sdq_gpt2_wte(m);
  size_t n = (size_t)m->cfg.vocab_size * m->cfg.n_embd;
  for (size_t i = 0; i < n; i++)
    rms += (double)wte[i] * wte[i];
  rms = sqrt(rms / (double)n);

  sdq_robustness_options o = {.attack = SDQ_ATTACK_PGD_LINF, .max_new = 12, .seed = 9};
  o.pgd = (sdq_pgd_params){.eps = (float)(2.0 * rms), .step = (float)(0.5 * rms), .steps = 8,
                           .random_start = 1};
  sdq_robustness_result r1, r2;
  char err[1024];
  ck_assert_msg(sdq_robustness_run(m, tok, &sq, qs, n_q, &t, &o, &r1, err, sizeof err) == 0,
                "%s", err);
  ck_assert_msg(r1.clean_f1 > 20.0, "training left clean F1 at %.1f: the model did not learn",
                r1.clean_f1);
  ck_assert_msg(r1.adv_f1 < r1.clean_f1, "PGD did not lower F1: clean %.1f, adversarial %.1f",
                r1.clean_f1, r1.adv_f1);
  ck_assert_int_gt(r1.n_success, 0);

  ck_assert_int_eq(sdq_robustness_run(m, tok, &sq, qs, n_q, &t, &o, &r2, err, sizeof err), 0);
  ck_assert_double_eq(r1.clean_f1, r2.clean_f1);
  ck_assert_double_eq(r1.adv_f1, r2.adv_f1);
  fprintf(stderr, "clean F1 %.1f, adversarial F1 %.1f, success rate %.1f%% of %d\n", r1.clean_f1,
          r1.adv_f1, r1.success_rate, r1.n_clean_positive);
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  const char *srcdir = getenv("SDQ_SRCDIR") ? getenv("SDQ_SRCDIR") : ".";
  char err[1024], warn[256], dir[4200];
  snprintf(dir, sizeof dir, "%s/data/gpt2-tokenizer", srcdir);
  if (sdq_tokenizer_load(&tok, dir, err, sizeof err) != 0) {
    printf("skipped: %s (scripts/bootstrap fetches the tokenizer files)\n", err);
    return 77;
  }
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  if (write_small_data(srcdir) != 0)
    return 1;
  if (sdq_squad_load(&sq, data_path, warn, sizeof warn, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  Suite *s = suite_create("attacks_trained");
  TCase *tc = tcase_create("trained");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, pgd_lowers_f1_on_trained_model);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  unlink(data_path);
  sdq_squad_free(&sq);
  sdq_tokenizer_free(tok);
  return failed ? 1 : 0;
}
