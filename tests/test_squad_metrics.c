/* test_squad_metrics.c - SQuAD v1.1 normalization, EM, F1 and score output,
 * checked against hand-computed values of the official definitions. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics.h"

static char *norm(const char *s) {
  char *out = NULL;
  ck_assert_int_eq(sdq_squad_normalize(s, strlen(s), &out, NULL, 0), 0);
  return out;
}

#define ASSERT_NORM(in, expected)                                                          \
  do {                                                                                     \
    char *got_ = norm(in);                                                                 \
    ck_assert_str_eq(got_, expected);                                                      \
    free(got_);                                                                            \
  } while (0)

START_TEST(normalize_ascii_punctuation) {
  ASSERT_NORM("Hello, World!", "hello world");
  ASSERT_NORM("U.S.A.", "usa");
  ASSERT_NORM("rock'n'roll", "rocknroll");
  ASSERT_NORM("snake_case", "snakecase");
}
END_TEST

START_TEST(normalize_articles_whole_words) {
  ASSERT_NORM("The Cat and a dog", "cat and dog");
  ASSERT_NORM("an apple, the end", "apple end");
  ASSERT_NORM("theater another", "theater another");
  /* Punctuation goes first, so "the-end" becomes "theend" (no article). */
  ASSERT_NORM("the-end", "theend");
}
END_TEST

START_TEST(normalize_keeps_unicode_punctuation) {
  /* string.punctuation is ASCII only: the em dash and curly quotes stay, and
   * they are word boundaries for the article rule. */
  ASSERT_NORM("\xE2\x80\x9CThe\xE2\x80\x9D answer", "\xE2\x80\x9C \xE2\x80\x9D answer");
  ASSERT_NORM("1990\xE2\x80\x94" "2000", "1990\xE2\x80\x94" "2000");
}
END_TEST

START_TEST(normalize_unicode_lowercase_and_space) {
  ASSERT_NORM("\xC3\x89" "COLE", "\xC3\xA9" "cole");               /* ÉCOLE -> école */
  ASSERT_NORM("a\xC2\xA0" "b", "b");                            /* NBSP splits; a is an article */
  ASSERT_NORM("\xC4\xB0" "stanbul", "i\xCC\x87" "stanbul");      /* İ -> i + U+0307 */
  ASSERT_NORM("  many   spaces\t\n", "many spaces");
  ASSERT_NORM("\xC3\xA9the", "\xC3\xA9the");                    /* é is a word char */
}
END_TEST

START_TEST(exact_match_cases) {
  ck_assert(sdq_squad_exact_match("The Denver Broncos", "denver broncos!") == 1.0);
  ck_assert(sdq_squad_exact_match("Broncos", "Denver Broncos") == 0.0);
  ck_assert(sdq_squad_exact_match("", "") == 1.0);
  ck_assert(sdq_squad_exact_match("", "the") == 1.0); /* both normalize to "" */
}
END_TEST

START_TEST(f1_hand_computed) {
  /* pred {denver}, gold {denver broncos}: P 1, R 1/2, F1 2/3. */
  ck_assert(fabs(sdq_squad_f1("Denver", "Denver Broncos") - 2.0 / 3.0) < 1e-12);
  /* Repeated tokens count as a multiset: pred {a1 a1 a1 b}, gold {a1 b b}:
   * overlap min(3,1) + min(1,2) = 2; P 2/4, R 2/3, F1 = 4/7. */
  ck_assert(fabs(sdq_squad_f1("x x x y", "x y y") - 4.0 / 7.0) < 1e-12);
  ck_assert(sdq_squad_f1("", "Denver") == 0.0);
  ck_assert(sdq_squad_f1("", "") == 0.0); /* v1.1: no overlap gives 0 */
  ck_assert(sdq_squad_f1("The", "a") == 0.0);
  ck_assert(sdq_squad_f1("Denver Broncos", "the denver broncos.") == 1.0);
}
END_TEST

START_TEST(score_is_max_over_golds) {
  sdq_squad_answer answers[3] = {
      {"Denver Broncos", 0, 0, 14}, {"Broncos", 0, 7, 7}, {"the Broncos team", 0, 0, 16}};
  sdq_squad_question q = {"id1", "Who?", 0, answers, 3};
  double em, f1;
  ck_assert_int_eq(sdq_squad_score_one("Broncos", &q, &em, &f1), 0);
  ck_assert(em == 1.0);
  ck_assert(f1 == 1.0);
  /* "broncos team": vs gold 3 {broncos team}: exact after the article. */
  ck_assert_int_eq(sdq_squad_score_one("Broncos team", &q, &em, &f1), 0);
  ck_assert(em == 1.0);
  /* "denver team": gold 1 F1 1/2, gold 3 F1 1/2, gold 2 0 -> 1/2. */
  ck_assert_int_eq(sdq_squad_score_one("denver team", &q, &em, &f1), 0);
  ck_assert(em == 0.0);
  ck_assert(fabs(f1 - 0.5) < 1e-12);
}
END_TEST

START_TEST(python_float_format) {
  char buf[64];
  sdq_format_python_float(100.0, buf, sizeof buf);
  ck_assert_str_eq(buf, "100.0");
  sdq_format_python_float(0.0, buf, sizeof buf);
  ck_assert_str_eq(buf, "0.0");
  sdq_format_python_float(200.0 / 3.0, buf, sizeof buf);
  ck_assert_str_eq(buf, "66.66666666666667");
  sdq_format_python_float(0.1, buf, sizeof buf);
  ck_assert_str_eq(buf, "0.1");
  sdq_format_python_float(1e-5, buf, sizeof buf);
  ck_assert_str_eq(buf, "1e-05");
  sdq_format_python_float(2.5354777672658466, buf, sizeof buf);
  ck_assert_str_eq(buf, "2.5354777672658466");
}
END_TEST

int main(void) {
  Suite *s = suite_create("squad_metrics");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, normalize_ascii_punctuation);
  tcase_add_test(tc, normalize_articles_whole_words);
  tcase_add_test(tc, normalize_keeps_unicode_punctuation);
  tcase_add_test(tc, normalize_unicode_lowercase_and_space);
  tcase_add_test(tc, exact_match_cases);
  tcase_add_test(tc, f1_hand_computed);
  tcase_add_test(tc, score_is_max_over_golds);
  tcase_add_test(tc, python_float_format);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
