/* test_squad_edge_cases.c - the SQuAD loader and scorer on empty, missing and unusual input. */
#define _POSIX_C_SOURCE 200809L

#include "train/metrics.h"
#include "train/squad.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every test writes its files into this folder (made in main, removed after). */
static char scratch[4096];

static const char *scratch_file(const char *name, const char *text)
{
  static char path[8192];
  snprintf(path, sizeof path, "%s/%s", scratch, name);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

/* squad.h promises non-empty questions, so an empty "question" string is
 * rejected with a message naming the question id. */
START_TEST(empty_question_rejected)
{
  const char *path = scratch_file(
      "empty_question.json",
      "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": "
      "[{\"context\": \"Paris is big.\", \"qas\": [{\"id\": \"q1\", \"question\": \"\", "
      "\"answers\": [{\"answer_start\": 0, \"text\": \"Paris\"}]}]}]}]}");
  sdq_squad sq;
  char err[512] = "";
  int rc = sdq_squad_load(&sq, path, NULL, 0, err, sizeof err);
  sdq_squad_free(&sq);
  ck_assert_msg(rc == -1, "a question with an empty \"question\" string was accepted");
  ck_assert_msg(strstr(err, "q1") != NULL, "the message does not name the question: %s", err);
}
END_TEST

/* A data set without questions makes the mean undefined, because the official
 * definition divides by the question count: scoring it is an error. */
START_TEST(scoring_zero_questions_is_an_error)
{
  const char *data = scratch_file("no_questions.json",
                                  "{\"version\": \"1.1\", \"data\": []}");
  sdq_squad sq;
  char err[512] = "";
  ck_assert_int_eq(sdq_squad_load(&sq, data, NULL, 0, err, sizeof err), 0);
  const char *preds = scratch_file("preds_any.json", "{\"q1\": \"Paris\"}");
  sdq_squad_score score;
  err[0] = '\0';
  int rc = sdq_squad_score_file(&sq, preds, &score, err, sizeof err);
  sdq_squad_free(&sq);
  ck_assert_msg(rc == -1,
                "scoring a data set with no questions returned EM %g / F1 %g instead of an error",
                score.exact_match, score.f1);
  ck_assert_msg(err[0] != '\0', "no error message");
}
END_TEST

/* A missing file is reported with the system's reason, not as invalid JSON
 * (jansson's "line -1, column -1"), for both the data and the predictions. */
START_TEST(missing_file_message)
{
  char path[8192];
  snprintf(path, sizeof path, "%s/does-not-exist.json", scratch);
  sdq_squad sq;
  char err[512] = "";
  ck_assert_int_eq(sdq_squad_load(&sq, path, NULL, 0, err, sizeof err), -1);
  sdq_squad_free(&sq);
  ck_assert_msg(strstr(err, "No such file") != NULL, "message lacks the cause: %s", err);
  ck_assert_msg(strstr(err, "invalid JSON") == NULL && strstr(err, "line -1") == NULL,
                "a missing data file is reported as bad JSON: %s", err);

  const char *data = scratch_file(
      "ok.json",
      "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": "
      "[{\"context\": \"Paris\", \"qas\": [{\"id\": \"q1\", \"question\": \"Where?\", "
      "\"answers\": [{\"answer_start\": 0, \"text\": \"Paris\"}]}]}]}]}");
  ck_assert_int_eq(sdq_squad_load(&sq, data, NULL, 0, err, sizeof err), 0);
  sdq_squad_score score;
  err[0] = '\0';
  ck_assert_int_eq(sdq_squad_score_file(&sq, path, &score, err, sizeof err), -1);
  sdq_squad_free(&sq);
  ck_assert_msg(strstr(err, "invalid JSON") == NULL && strstr(err, "line -1") == NULL,
                "a missing prediction file is reported as bad JSON: %s", err);
  ck_assert_msg(strstr(err, "No such file") != NULL, "message lacks the cause: %s", err);
}
END_TEST

/* The mismatch message cuts a long answer text at a character boundary, so
 * the message stays valid UTF-8. */
START_TEST(mismatch_message_is_valid_utf8)
{
  /* 'x' then 40 two-byte characters: byte 60 falls inside a character. */
  char text[128] = "x";
  for (int i = 0; i < 40; i++)
    strcat(text, "\xc3\xa9");
  char json[1024];
  snprintf(json, sizeof json,
           "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": "
           "[{\"context\": \"%s\", \"qas\": [{\"id\": \"q1\", \"question\": \"?\", "
           "\"answers\": [{\"answer_start\": 0, \"text\": \"%sz\"}]}]}]}]}",
           text, text);
  const char *path = scratch_file("long_mismatch.json", json);
  sdq_squad sq;
  char err[1024] = "";
  ck_assert_int_eq(sdq_squad_load(&sq, path, NULL, 0, err, sizeof err), -1);
  sdq_squad_free(&sq);
  size_t bad = 0;
  ck_assert_msg(sdq_utf8_valid(err, strlen(err), &bad),
                "the error message has invalid UTF-8 at byte %zu", bad);
}
END_TEST

/* Python's str.lower() makes a capital sigma final when only case-ignorable
 * characters such as '.' or '\'' separate it from the cased letter before it.
 * So the official definition scores "ας" against "Α.Σ" as an exact match. */
START_TEST(final_sigma_after_case_ignorable)
{
  ck_assert_double_eq(sdq_squad_exact_match("\xce\xb1\xcf\x82", "\xce\x91.\xce\xa3"), 1.0);
  ck_assert_double_eq(sdq_squad_exact_match("\xce\xb1\xcf\x82", "\xce\x91'\xce\xa3"), 1.0);
  ck_assert_double_eq(sdq_squad_f1("\xce\xb1\xcf\x82", "\xce\x91.\xce\xa3"), 1.0);
}
END_TEST

/* Loads path, expecting failure, and returns the message (static buffer). */
static const char *load_error(const char *path)
{
  static char err[1024];
  sdq_squad sq;
  err[0] = '\0';
  int rc = sdq_squad_load(&sq, path, NULL, 0, err, sizeof err);
  sdq_squad_free(&sq);
  ck_assert_msg(rc == -1, "%s loaded, but it should fail", path);
  return err;
}

/* A directory given as the data file is named as such. */
START_TEST(directory_message)
{
  const char *err = load_error(scratch);
  ck_assert_msg(strstr(err, "is a directory") != NULL, "unclear message: %s", err);
  ck_assert_msg(strstr(err, "invalid JSON") == NULL, "reported as bad JSON: %s", err);
}
END_TEST

/* A UTF-8 byte-order mark is named, instead of an invalid token at 1:1. */
START_TEST(byte_order_mark_message)
{
  const char *path = scratch_file("bom.json", "\xEF\xBB\xBF{\"version\": \"1.1\", \"data\": []}");
  const char *err = load_error(path);
  ck_assert_msg(strstr(err, "byte-order mark") != NULL, "unclear message: %s", err);
}
END_TEST

/* A \u0000 escape is explained without jansson's flag name. */
START_TEST(nul_escape_message)
{
  const char *path = scratch_file(
      "nul.json", "{\"version\": \"1.1\", \"data\": [{\"title\": \"a\\u0000b\", "
                  "\"paragraphs\": []}]}");
  const char *err = load_error(path);
  ck_assert_msg(strstr(err, "JSON_ALLOW_NUL") == NULL, "jansson's flag name leaks: %s", err);
  ck_assert_msg(strstr(err, "\\u0000") != NULL, "the message does not name \\u0000: %s", err);
}
END_TEST

/* A numeric version is shown as the JSON value, not as an empty string. */
START_TEST(numeric_version_warning)
{
  const char *path = scratch_file("numeric_version.json", "{\"version\": 1.1, \"data\": []}");
  sdq_squad sq;
  char err[512] = "", warning[512] = "";
  ck_assert_int_eq(sdq_squad_load(&sq, path, warning, sizeof warning, err, sizeof err), 0);
  sdq_squad_free(&sq);
  ck_assert_msg(strstr(warning, "found 1.1") != NULL, "warning does not show the value: %s",
                warning);
}
END_TEST

/* Control characters of a title are escaped in messages, so a data file
 * cannot send terminal control sequences to stderr. */
START_TEST(title_control_characters_escaped)
{
  const char *path = scratch_file(
      "control_title.json",
      "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\\u001b[31m\\nX\\u0085\", "
      "\"paragraphs\": [{\"context\": \"Paris\", \"qas\": [{\"id\": \"q1\", "
      "\"question\": \"\", \"answers\": [{\"answer_start\": 0, \"text\": \"Paris\"}]}]}]}]}");
  const char *err = load_error(path);
  for (const char *p = err; *p; p++)
    ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7F, "raw control byte 0x%02X in: %s",
                  (unsigned char)*p, err);
  ck_assert_msg(strstr(err, "\\x1B[31m\\nX\\u0085") != NULL, "title not escaped: %s", err);
}
END_TEST

/* Paragraphs without questions give no questions either: scoring fails. */
START_TEST(scoring_empty_qas_is_an_error)
{
  const char *data = scratch_file(
      "empty_qas.json",
      "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": "
      "[{\"context\": \"Paris\", \"qas\": []}]}]}");
  sdq_squad sq;
  char err[512] = "";
  ck_assert_int_eq(sdq_squad_load(&sq, data, NULL, 0, err, sizeof err), 0);
  sdq_squad_score score;
  const char *none[1] = {NULL};
  int rc = sdq_squad_score_all(&sq, none, &score, err, sizeof err);
  sdq_squad_free(&sq);
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "no questions") != NULL, "unclear message: %s", err);
}
END_TEST

int main(void)
{
  snprintf(scratch, sizeof scratch, "%s/sdq-squad-edge-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(scratch) == NULL) {
    fprintf(stderr, "test_squad_edge_cases: failed to create a scratch folder: %s\n", strerror(errno));
    return 1;
  }

  Suite *s = suite_create("squad_edge_cases");
  TCase *tc = tcase_create("bad input");
  tcase_add_test(tc, empty_question_rejected);
  tcase_add_test(tc, scoring_zero_questions_is_an_error);
  tcase_add_test(tc, missing_file_message);
  tcase_add_test(tc, mismatch_message_is_valid_utf8);
  tcase_add_test(tc, final_sigma_after_case_ignorable);
  tcase_add_test(tc, directory_message);
  tcase_add_test(tc, byte_order_mark_message);
  tcase_add_test(tc, nul_escape_message);
  tcase_add_test(tc, numeric_version_warning);
  tcase_add_test(tc, title_control_characters_escaped);
  tcase_add_test(tc, scoring_empty_qas_is_an_error);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);

  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0)
    fprintf(stderr, "test_squad_edge_cases: failed to remove %s\n", scratch);
  return failed == 0 ? 0 : 1;
}
