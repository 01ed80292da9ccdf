/* test_squad_real.c - loads the real SQuAD v1.1 files from ../shared/data/squad
 * and checks their published counts; skipped (exit 77) where they are absent. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "train/squad.h"

static char dev_path[4096], train_path[4096];

START_TEST(dev_counts_match_release) {
  sdq_squad sq;
  char err[1024], warn[256];
  ck_assert_msg(sdq_squad_load(&sq, dev_path, warn, sizeof warn, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(sq.n_articles, 48);
  ck_assert_uint_eq(sq.n_paragraphs, 2067);
  ck_assert_uint_eq(sq.n_questions, 10570);
  ck_assert_uint_eq(sq.n_answers, 34726);
  sdq_squad_free(&sq);
}
END_TEST

START_TEST(train_subset_counts_match) {
  sdq_squad sq;
  char err[1024], warn[256];
  ck_assert_msg(sdq_squad_load(&sq, train_path, warn, sizeof warn, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(sq.n_articles, 12);
  ck_assert_uint_eq(sq.n_paragraphs, 678);
  ck_assert_uint_eq(sq.n_questions, 4370);
  ck_assert_uint_eq(sq.n_answers, 4370);
  sdq_squad_free(&sq);
}
END_TEST

int main(void) {
  /* SDQ_SHARED_DIR names the shared folder when the build tree is not
   * beside it (the sanitizer build works on a copy of the sources). */
  const char *src = getenv("SDQ_SRCDIR");
  const char *shared = getenv("SDQ_SHARED_DIR");
  char shared_dir[4096];
  if (shared && *shared)
    snprintf(shared_dir, sizeof shared_dir, "%s", shared);
  else
    snprintf(shared_dir, sizeof shared_dir, "%s/../shared", src ? src : ".");
  snprintf(dev_path, sizeof dev_path, "%s/data/squad/dev-v1.1.json", shared_dir);
  snprintf(train_path, sizeof train_path, "%s/data/squad/train-v1.1-subset.json", shared_dir);
  if (access(dev_path, R_OK) != 0 || access(train_path, R_OK) != 0) {
    fprintf(stderr, "SKIP: the SQuAD files %s and %s are not there; "
                    "place SQuAD v1.1 in ../shared/data/squad to run this test\n",
            dev_path, train_path);
    return 77;
  }

  Suite *s = suite_create("squad_real");
  TCase *tc = tcase_create("real");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, dev_counts_match_release);
  tcase_add_test(tc, train_subset_counts_match);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
