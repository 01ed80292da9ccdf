/* test_squad_load.c - SQuAD file validation: each kind of bad input gives an
 * error naming the file, the article and the question. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/squad.h"

static char path[256];

static void write_file(const char *bytes) {
  snprintf(path, sizeof path, "/tmp/sdq-test-squad-%ld.json", (long)getpid());
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fputs(bytes, f);
  fclose(f);
}

/* Loads bytes and expects failure with every needle in the message. */
static void expect_error(const char *bytes, const char *n1, const char *n2, const char *n3) {
  write_file(bytes);
  sdq_squad sq;
  char err[1024], warn[256];
  ck_assert_int_eq(sdq_squad_load(&sq, path, warn, sizeof warn, err, sizeof err), -1);
  ck_assert_msg(strstr(err, path) != NULL, "no file name in: %s", err);
  ck_assert_msg(strstr(err, n1) != NULL, "'%s' missing in: %s", n1, err);
  if (n2)
    ck_assert_msg(strstr(err, n2) != NULL, "'%s' missing in: %s", n2, err);
  if (n3)
    ck_assert_msg(strstr(err, n3) != NULL, "'%s' missing in: %s", n3, err);
  sdq_squad_free(&sq);
  unlink(path);
}

START_TEST(valid_file_with_unicode_offsets) {
  /* "Ünïcode café" -- answer_start counts code points: "café" starts at 8. */
  write_file("{\"version\":\"1.1\",\"data\":[{\"title\":\"T\",\"paragraphs\":[{\"context\":"
             "\"\\u00dcn\\u00efcode caf\\u00e9 bar\",\"qas\":[{\"id\":\"q1\",\"question\":\"Q?\","
             "\"answers\":[{\"answer_start\":8,\"text\":\"caf\\u00e9\"}]}]}]}]}");
  sdq_squad sq;
  char err[1024], warn[256];
  ck_assert_int_eq(sdq_squad_load(&sq, path, warn, sizeof warn, err, sizeof err), 0);
  ck_assert_uint_eq(sq.n_articles, 1);
  ck_assert_uint_eq(sq.n_questions, 1);
  ck_assert_uint_eq(sq.questions[0].answers[0].start_cp, 8);
  ck_assert_uint_eq(sq.questions[0].answers[0].start, 10); /* two 2-byte letters before */
  ck_assert_int_eq((int)sdq_squad_find(&sq, "q1"), 0);
  ck_assert_int_eq((int)sdq_squad_find(&sq, "q2"), -1);
  ck_assert_str_eq(warn, "");
  sdq_squad_free(&sq);
  unlink(path);
}
END_TEST

START_TEST(bad_answer_start_named) {
  expect_error("{\"version\":\"1.1\",\"data\":[{\"title\":\"Art\",\"paragraphs\":[{\"context\":"
               "\"abc def\",\"qas\":[{\"id\":\"qx\",\"question\":\"Q?\",\"answers\":"
               "[{\"answer_start\":3,\"text\":\"def\"}]}]}]}]}",
               "article 'Art'", "question 'qx'", "answer_start 3");
}
END_TEST

START_TEST(byte_offset_is_rejected) {
  /* A byte offset (10) instead of the code point offset (8) must fail. */
  expect_error("{\"data\":[{\"title\":\"U\",\"paragraphs\":[{\"context\":"
               "\"\\u00dcn\\u00efcode caf\\u00e9\",\"qas\":[{\"id\":\"qu\",\"question\":\"Q\","
               "\"answers\":[{\"answer_start\":10,\"text\":\"caf\\u00e9\"}]}]}]}]}",
               "question 'qu'", "does not match", NULL);
}
END_TEST

START_TEST(duplicate_id_named) {
  expect_error("{\"data\":[{\"title\":\"A1\",\"paragraphs\":[{\"context\":\"xy\",\"qas\":["
               "{\"id\":\"dup\",\"question\":\"Q\",\"answers\":[{\"answer_start\":0,\"text\":\"x\"}]}]}]},"
               "{\"title\":\"A2\",\"paragraphs\":[{\"context\":\"xy\",\"qas\":["
               "{\"id\":\"dup\",\"question\":\"Q\",\"answers\":[{\"answer_start\":1,\"text\":\"y\"}]}]}]}]}",
               "duplicate question id", "'dup'", "A1");
}
END_TEST

START_TEST(invalid_utf8_rejected) {
  expect_error("{\"data\":[{\"title\":\"B\",\"paragraphs\":[{\"context\":\"a\xff" "b\",\"qas\":[]}]}]}",
               "line 1", NULL, NULL);
}
END_TEST

START_TEST(malformed_json_rejected) {
  expect_error("{\"data\": [", "invalid JSON", "line", NULL);
}
END_TEST

START_TEST(missing_fields_named) {
  expect_error("{\"data\":[{\"title\":\"C\",\"paragraphs\":[{\"context\":\"x\",\"qas\":["
               "{\"id\":\"qa\",\"question\":\"Q\",\"answers\":[]}]}]}]}",
               "article 'C'", "question 'qa'", "non-empty");
  expect_error("{\"data\":[{\"paragraphs\":[]}]}", "\"title\"", NULL, NULL);
  expect_error("{\"data\":[{\"title\":\"D\",\"paragraphs\":[{\"context\":\"x\",\"qas\":["
               "{\"id\":\"qb\",\"question\":\"Q\",\"answers\":[{\"answer_start\":-1,\"text\":\"x\"}]}]}]}]}",
               "question 'qb'", "non-negative", NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("squad_load");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, valid_file_with_unicode_offsets);
  tcase_add_test(tc, bad_answer_start_named);
  tcase_add_test(tc, byte_offset_is_rejected);
  tcase_add_test(tc, duplicate_id_named);
  tcase_add_test(tc, invalid_utf8_rejected);
  tcase_add_test(tc, malformed_json_rejected);
  tcase_add_test(tc, missing_fields_named);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
