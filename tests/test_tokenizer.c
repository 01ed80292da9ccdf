/* test_tokenizer.c - GPT-2 tokenizer: known ids, byte-exact round trips on
 * invalid UTF-8 and random bytes, long inputs, the cache, and the loader's
 * checks. The token for token comparison with the npm reference is in
 * test_tokenizer_reference.c. Needs data/gpt2-tokenizer in $SDQ_SRCDIR
 * (scripts/bootstrap installs it); skips with 77 without it. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/tokenizer.h"

static char vocab_dir[4096];
static sdq_tokenizer *tok;

static void load_gpt2(void) {
  char err[512];
  ck_assert_msg(sdq_tokenizer_load(&tok, vocab_dir, err, sizeof err) == 0, "%s", err);
}

static void free_gpt2(void) {
  sdq_tokenizer_free(tok);
  tok = NULL;
}

/* Encodes text and checks the ids against expected[0..n). */
static void check_ids(const char *text, size_t len, unsigned flags, const int32_t *expected,
                      size_t n) {
  char err[512];
  int32_t *ids;
  size_t n_ids;
  ck_assert_msg(sdq_tokenizer_encode(tok, text, len, flags, &ids, &n_ids, err, sizeof err) == 0,
                "%s", err);
  ck_assert_msg(n_ids == n, "\"%s\": %zu ids, expected %zu", text, n_ids, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(ids[i] == expected[i], "\"%s\": id %zu is %d, expected %d", text, i, ids[i],
                  expected[i]);
  free(ids);
}

#define CHECK_IDS(text, flags, ...)                                                        \
  do {                                                                                     \
    static const int32_t expected_[] = {__VA_ARGS__};                                      \
    check_ids(text, sizeof(text) - 1, flags, expected_, sizeof expected_ / sizeof *expected_); \
  } while (0)

/* Checks decode(encode(bytes)) == bytes and returns the token count. */
static size_t check_round_trip(const char *bytes, size_t len) {
  char err[512];
  int32_t *ids;
  size_t n_ids;
  ck_assert_msg(sdq_tokenizer_encode(tok, bytes, len, 0, &ids, &n_ids, err, sizeof err) == 0, "%s",
                err);
  char *out;
  size_t out_len;
  ck_assert_msg(sdq_tokenizer_decode(tok, ids, n_ids, &out, &out_len, err, sizeof err) == 0, "%s",
                err);
  ck_assert_uint_eq(out_len, len);
  ck_assert_msg(memcmp(out, bytes, len) == 0, "decoded bytes differ from the %zu input bytes", len);
  free(out);
  free(ids);
  return n_ids;
}

/* ------------------------------------------------------------ known ids */

/* Ids checked by hand with the npm package gpt-3-encoder 1.1.4. */
START_TEST(known_ids_english) {
  CHECK_IDS("Hello world", 0, 15496, 995);
  CHECK_IDS(" Hello", 0, 18435);
  CHECK_IDS("I'm here", 0, 40, 1101, 994);
  CHECK_IDS("don't you'll they've we'd", 0, 9099, 470, 345, 1183, 484, 1053, 356, 1549);
  CHECK_IDS("'S", 0, 6, 50);
  CHECK_IDS("1234567", 0, 10163, 2231, 3134);
}
END_TEST

START_TEST(known_ids_whitespace) {
  /* "\s+(?!\S)" leaves the last space of a run to the next word. */
  CHECK_IDS("   spaces\n\n\nnew", 0, 220, 220, 9029, 628, 198, 3605);
  CHECK_IDS("a  \n  b\t\t \n", 0, 64, 220, 220, 198, 220, 275, 197, 197, 220, 198);
}
END_TEST

START_TEST(known_ids_unicode) {
  CHECK_IDS("\xc3\xa9", 0, 2634);            /* é precomposed */
  CHECK_IDS("e\xcc\x81", 0, 68, 136, 223);   /* e + combining acute: the mark splits off */
  CHECK_IDS("\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe4\xb8\x96\xe7\x95\x8c",
            0, 46036, 22174, 28618, 2515, 94, 31676, 10310, 244, 45911, 234); /* こんにちは世界 */
}
END_TEST

START_TEST(endoftext_ordinary_by_default) {
  CHECK_IDS("<|endoftext|>", 0, 27, 91, 437, 1659, 5239, 91, 29);
  ck_assert_int_eq(sdq_tokenizer_eot(tok), 50256);
  CHECK_IDS("<|endoftext|>", SDQ_TOKENIZE_ALLOW_SPECIAL, 50256);
  CHECK_IDS("Hello<|endoftext|><|endoftext|> world", SDQ_TOKENIZE_ALLOW_SPECIAL, 15496, 50256,
            50256, 995);
}
END_TEST

START_TEST(empty_input) {
  char err[512];
  int32_t *ids = (int32_t *)&err;
  size_t n = 99;
  ck_assert_int_eq(sdq_tokenizer_encode(tok, "", 0, 0, &ids, &n, err, sizeof err), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(ids);
  char *out;
  size_t out_len;
  ck_assert_int_eq(sdq_tokenizer_decode(tok, NULL, 0, &out, &out_len, err, sizeof err), 0);
  ck_assert_uint_eq(out_len, 0);
  ck_assert_str_eq(out, "");
  free(out);
}
END_TEST

START_TEST(vocab_lookup) {
  ck_assert_int_eq(sdq_tokenizer_vocab_size(tok), 50257);
  ck_assert_int_eq(sdq_tokenizer_token_id(tok, " Hello", 6), 18435);
  ck_assert_int_eq(sdq_tokenizer_token_id(tok, "no such token", 13), -1);
  size_t len;
  const char *b = sdq_tokenizer_token_bytes(tok, 18435, &len);
  ck_assert_uint_eq(len, 6);
  ck_assert(memcmp(b, " Hello", 6) == 0);
  ck_assert_ptr_null(sdq_tokenizer_token_bytes(tok, 50257, &len));
  ck_assert_ptr_null(sdq_tokenizer_token_bytes(tok, -1, &len));
  /* Token 198 is "\n" and token 188 is the byte 0x00. */
  b = sdq_tokenizer_token_bytes(tok, 198, &len);
  ck_assert(len == 1 && b[0] == '\n');
  b = sdq_tokenizer_token_bytes(tok, 188, &len);
  ck_assert(len == 1 && b[0] == '\0');
}
END_TEST

/* -------------------------------------------------------------- decoding */

START_TEST(decode_known_ids) {
  char err[512];
  const int32_t ids[] = {15496, 995, 50256};
  char *out;
  size_t len;
  ck_assert_msg(sdq_tokenizer_decode(tok, ids, 3, &out, &len, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(out, "Hello world<|endoftext|>");
  ck_assert_uint_eq(len, strlen("Hello world<|endoftext|>"));
  free(out);
}
END_TEST

START_TEST(decode_rejects_bad_id) {
  char err[512];
  char *out = (char *)err;
  size_t len;
  const int32_t too_big[] = {15496, 50257};
  ck_assert_int_eq(sdq_tokenizer_decode(tok, too_big, 2, &out, &len, err, sizeof err), -1);
  ck_assert_ptr_null(out);
  ck_assert_msg(strstr(err, "50257") && strstr(err, "position 1"), "message: %s", err);
  const int32_t negative[] = {-7};
  ck_assert_int_eq(sdq_tokenizer_decode(tok, negative, 1, &out, &len, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "-7") && strstr(err, "position 0"), "message: %s", err);
}
END_TEST

/* ---------------------------------------------------------- invalid UTF-8 */

START_TEST(invalid_utf8_bytes_are_byte_tokens) {
  /* Each of these is invalid from its first byte: a lone continuation byte,
   * an overlong NUL, a surrogate, a code point above U+10FFFF, a byte that
   * never occurs in UTF-8, and a 3-byte sequence cut short. */
  static const char *cases[] = {"\x80", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",
                                "\xe3\x81"};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const char *s = cases[c];
    size_t len = strlen(s);
    char err[512];
    int32_t *ids;
    size_t n;
    ck_assert_msg(sdq_tokenizer_encode(tok, s, len, 0, &ids, &n, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(n, len);
    for (size_t i = 0; i < len; i++)
      ck_assert_int_eq(ids[i], sdq_tokenizer_token_id(tok, s + i, 1));
    free(ids);
    check_round_trip(s, len);
  }
}
END_TEST

START_TEST(invalid_utf8_between_words) {
  /* The valid runs on either side encode as if alone. */
  const int32_t expected[] = {15496, sdq_tokenizer_token_id(tok, "\xff", 1), 995};
  check_ids("Hello\xff world", 12, 0, expected, 3);
  static const char mixed[] = "caf\xc3 \xa9 na\xefve\xe2\x82";
  check_round_trip(mixed, sizeof mixed - 1);
}
END_TEST

START_TEST(random_bytes_round_trip) {
  /* Fixed seed so a failure reproduces; the loop index is in the message. */
  srand(12345);
  char buf[4096];
  for (int round = 0; round < 300; round++) {
    size_t len = (size_t)(rand() % (int)sizeof buf);
    int mode = round % 3; /* 0: any byte, 1: mostly >= 0x80, 2: mostly ASCII letters */
    for (size_t i = 0; i < len; i++) {
      int r = rand();
      int byte = r >> 8;
      if (mode == 1 && r % 4 != 0)
        byte |= 0x80;
      else if (mode == 2 && r % 8 != 0)
        byte = 'a' + byte % 26;
      buf[i] = (char)byte;
    }
    check_round_trip(buf, len);
  }
}
END_TEST

/* ----------------------------------------------------------- long inputs */

/* One pre-token of a million bytes runs the BPE on a single huge word. The
 * heap keeps that O(n log n), and a quadratic merge loop would exceed the
 * test case's 120 s timeout. */
START_TEST(long_single_pretokens) {
  const size_t n = 1u << 20;
  char *buf = malloc(n);
  ck_assert_ptr_nonnull(buf);
  memset(buf, 'a', n);
  check_round_trip(buf, n);
  memset(buf, ' ', n);
  check_round_trip(buf, n);
  for (size_t i = 0; i + 1 < n; i += 2)
    memcpy(buf + i, "\xc3\xa9", 2); /* é repeated */
  check_round_trip(buf, n);
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)('a' + (i * 7919 % 26));
  check_round_trip(buf, n);
  free(buf);
}
END_TEST

/* A pre-token one byte over the limit is refused with its offset and
 * length; the limit itself was encoded above. */
START_TEST(overlong_pretoken_names_offset_and_length) {
  const size_t n = 3 + SDQ_TOKENIZER_MAX_PRETOKEN + 1;
  char *buf = malloc(n), err[512] = "";
  ck_assert_ptr_nonnull(buf);
  memcpy(buf, "ab ", 3);
  memset(buf + 3, 'z', n - 3);
  int32_t *ids = NULL;
  size_t n_ids = 0;
  ck_assert_int_eq(sdq_tokenizer_encode(tok, buf, n, 0, &ids, &n_ids, err, sizeof err), -1);
  ck_assert_ptr_null(ids);
  char want[128];
  snprintf(want, sizeof want, "byte offset 2: a pre-token");
  ck_assert_msg(strstr(err, want) != NULL, "message lacks '%s': %s", want, err);
  snprintf(want, sizeof want, "of %zu bytes is longer than the tokenizer's limit of %zu bytes",
           SDQ_TOKENIZER_MAX_PRETOKEN + 2, SDQ_TOKENIZER_MAX_PRETOKEN);
  ck_assert_msg(strstr(err, want) != NULL, "message lacks '%s': %s", want, err);
  free(buf);
}
END_TEST

/* A cache that fills up and empties itself must not change the ids:
 * 50,000 distinct numbers exceed its 32,768 entries. */
START_TEST(cache_overflow_keeps_ids) {
  const size_t words = 50000;
  char *text = malloc(words * 8 + 1);
  ck_assert_ptr_nonnull(text);
  size_t len = 0;
  for (size_t i = 0; i < words; i++)
    len += (size_t)sprintf(text + len, " w%05zux", i);

  char err[512];
  int32_t *first, *second;
  size_t n_first, n_second;
  ck_assert_int_eq(sdq_tokenizer_encode(tok, text, len, 0, &first, &n_first, err, sizeof err), 0);
  ck_assert_int_eq(sdq_tokenizer_encode(tok, text, len, 0, &second, &n_second, err, sizeof err), 0);
  ck_assert_uint_eq(n_first, n_second);
  ck_assert(memcmp(first, second, n_first * sizeof *first) == 0);

  /* Pre-tokens never cross the words, so a fresh tokenizer encoding word
   * by word, its cache filling in another order, gives the same ids. */
  sdq_tokenizer *fresh;
  ck_assert_msg(sdq_tokenizer_load(&fresh, vocab_dir, err, sizeof err) == 0, "%s", err);
  size_t at = 0;
  for (size_t i = 0; i < words; i++) {
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(sdq_tokenizer_encode(fresh, text + 8 * i, 8, 0, &ids, &n, err, sizeof err), 0);
    ck_assert_msg(at + n <= n_first && memcmp(&first[at], ids, n * sizeof *ids) == 0,
                  "word %zu differs", i);
    at += n;
    free(ids);
  }
  ck_assert_uint_eq(at, n_first);
  sdq_tokenizer_free(fresh);
  free(first);
  free(second);
  free(text);
}
END_TEST

/* --------------------------------------------------------------- loader */

static char tmp_dir[256];

/* Writes name in tmp_dir with contents. */
static void write_file(const char *name, const char *contents) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fputs(contents, f);
  fclose(f);
}

static void remove_file(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
  unlink(path);
}

/* A small vocabulary in GPT-2's format: the 256 bytes in GPT-2's byte
 * alphabet, then "he", "ll", "hell", "hello" and extra entries. */
static char *small_vocab(const char *extra) {
  size_t cap = 8192 + strlen(extra);
  char *json = malloc(cap);
  size_t len = (size_t)sprintf(json, "{");
  int next = 0x100;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = printable ? b : next++;
    char ch[8];
    if (cp == '"' || cp == '\\')
      sprintf(ch, "\\%c", cp);
    else if (cp < 0x80)
      sprintf(ch, "%c", cp);
    else
      sprintf(ch, "%c%c", 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F));
    len += (size_t)sprintf(json + len, "\"%s\": %d, ", ch, b);
  }
  sprintf(json + len, "\"he\": 256, \"ll\": 257, \"hell\": 258, \"hello\": 259%s}", extra);
  return json;
}

static const char small_merges[] = "#version: 0.2\nh e\nl l\nhe ll\nhell o\n";

/* Loads tmp_dir; expects failure with a message containing each of the
 * fragments. */
static void expect_load_error(const char *frag1, const char *frag2) {
  sdq_tokenizer *t = NULL;
  char err[512] = "";
  ck_assert_int_eq(sdq_tokenizer_load(&t, tmp_dir, err, sizeof err), -1);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr(err, frag1), "message \"%s\" lacks \"%s\"", err, frag1);
  if (frag2)
    ck_assert_msg(strstr(err, frag2), "message \"%s\" lacks \"%s\"", err, frag2);
}

static void make_tmp_dir(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/sdq-tok-XXXXXX", base && *base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void remove_tmp_dir(void) {
  const char *names[] = {"encoder.json", "vocab.bpe", "vocab.json", "merges.txt"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    remove_file(names[i]);
  rmdir(tmp_dir);
}

START_TEST(load_small_vocabulary) {
  char *json = small_vocab("");
  write_file("encoder.json", json);
  write_file("vocab.bpe", small_merges);
  sdq_tokenizer *t;
  char err[512];
  ck_assert_msg(sdq_tokenizer_load(&t, tmp_dir, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(sdq_tokenizer_vocab_size(t), 260);
  ck_assert_int_eq(sdq_tokenizer_eot(t), -1);
  int32_t *ids;
  size_t n;
  ck_assert_int_eq(sdq_tokenizer_encode(t, "hellohe", 7, 0, &ids, &n, err, sizeof err), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(ids[0], 259);
  ck_assert_int_eq(ids[1], 256);
  free(ids);
  /* "lll": the pair (l, l) merges leftmost first, as GPT-2 does. */
  ck_assert_int_eq(sdq_tokenizer_encode(t, "lll", 3, 0, &ids, &n, err, sizeof err), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(ids[0], 257);
  ck_assert_int_eq(ids[1], 'l');
  free(ids);
  ck_assert_int_eq(sdq_tokenizer_encode(t, "<|endoftext|>", 13, SDQ_TOKENIZE_ALLOW_SPECIAL, &ids,
                                        &n, err, sizeof err),
                   -1);
  ck_assert_msg(strstr(err, "<|endoftext|>"), "message: %s", err);
  sdq_tokenizer_free(t);

  /* The Hugging Face file names load the same files. */
  remove_file("encoder.json");
  remove_file("vocab.bpe");
  write_file("vocab.json", json);
  write_file("merges.txt", small_merges);
  ck_assert_msg(sdq_tokenizer_load(&t, tmp_dir, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(sdq_tokenizer_vocab_size(t), 260);
  sdq_tokenizer_free(t);
  free(json);
}
END_TEST

START_TEST(load_rejects_missing_files) {
  expect_load_error("no tokenizer files", "encoder.json");
  sdq_tokenizer *t = NULL;
  char err[512];
  ck_assert_int_eq(sdq_tokenizer_load(&t, "/nonexistent/sdq", err, sizeof err), -1);
  ck_assert_msg(strstr(err, "directory not found"), "message: %s", err);
  write_file("encoder.json", "{}");
  expect_load_error("vocab.bpe", "missing");
}
END_TEST

START_TEST(load_rejects_bad_vocabulary) {
  write_file("vocab.bpe", small_merges);

  write_file("encoder.json", "{\"a\": 0,\n \"b\": }");
  expect_load_error("encoder.json: line 2", NULL);
  write_file("encoder.json", "[1, 2]");
  expect_load_error("JSON object", NULL);

  char *json = small_vocab(", \"xz\": \"260\"");
  write_file("encoder.json", json);
  free(json);
  expect_load_error("key \"xz\"", "integer");

  json = small_vocab(", \"he\": 260");
  write_file("encoder.json", json);
  free(json);
  expect_load_error("duplicate object key", "line 1");

  json = small_vocab(", \"xy\": 270");
  write_file("encoder.json", json);
  free(json);
  expect_load_error("key \"xy\"", "id 270 is outside 0..260");

  json = small_vocab(", \"xy\": 259");
  write_file("encoder.json", json);
  free(json);
  expect_load_error("id 259 is already used", "xy");

  json = small_vocab(", \"x\\u20acy\": 260");
  write_file("encoder.json", json);
  free(json);
  expect_load_error("byte alphabet", "id 260");
}
END_TEST

START_TEST(load_rejects_bad_merges) {
  char *json = small_vocab(", \"lo\": 260");
  write_file("encoder.json", json);
  free(json);

  write_file("vocab.bpe", "#version: 0.2\nh e\nl l l\n");
  expect_load_error("line 3", "two tokens");
  write_file("vocab.bpe", "#version: 0.2\nh e\n\nl l\n");
  expect_load_error("line 3 is empty", NULL);
  write_file("vocab.bpe", "h e\nhe q\n");
  expect_load_error("line 2", "merged token \"heq\"");
  write_file("vocab.bpe", "h e\nhe lll\n");
  expect_load_error("line 2", "token \"lll\" is not in the vocabulary");
  write_file("vocab.bpe", "h e\nhe ll\n");
  expect_load_error("line 2", "\"ll\" is used before");
  write_file("vocab.bpe", "h e\nl o\nl l\nhe ll\nhell o\nh e\n");
  expect_load_error("line 6", "already produced");

  /* CRLF line ends, no #version line and blank lines at the end are fine. */
  write_file("vocab.bpe", "h e\r\nl l\r\nhe ll\r\nhell o\r\n\r\n\n");
  sdq_tokenizer *t;
  char err[512];
  ck_assert_msg(sdq_tokenizer_load(&t, tmp_dir, err, sizeof err) == 0, "%s", err);
  sdq_tokenizer_free(t);
}
END_TEST

START_TEST(find_dir_order) {
  unsetenv("SDQ_VOCAB");
  ck_assert_str_eq(sdq_tokenizer_find_dir("/explicit"), "/explicit");
  const char *dflt = sdq_tokenizer_find_dir(NULL);
  ck_assert_ptr_nonnull(dflt);
  setenv("SDQ_VOCAB", "/from/env", 1);
  ck_assert_str_eq(sdq_tokenizer_find_dir(NULL), "/from/env");
  ck_assert_str_eq(sdq_tokenizer_find_dir("/explicit"), "/explicit");
  setenv("SDQ_VOCAB", "", 1);
  ck_assert_str_eq(sdq_tokenizer_find_dir(NULL), dflt);
  unsetenv("SDQ_VOCAB");
}
END_TEST

int main(void) {
  const char *src = getenv("SDQ_SRCDIR");
  snprintf(vocab_dir, sizeof vocab_dir, "%s/data/gpt2-tokenizer", src && *src ? src : ".");
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/encoder.json", vocab_dir);
  if (access(probe, R_OK) != 0) {
    printf("SKIP: %s not found; run scripts/bootstrap to install GPT-2's tokenizer files\n", probe);
    return 77;
  }

  Suite *s = suite_create("tokenizer");
  TCase *gpt2 = tcase_create("gpt2");
  tcase_add_unchecked_fixture(gpt2, load_gpt2, free_gpt2);
  tcase_set_timeout(gpt2, 120);
  tcase_add_test(gpt2, known_ids_english);
  tcase_add_test(gpt2, known_ids_whitespace);
  tcase_add_test(gpt2, known_ids_unicode);
  tcase_add_test(gpt2, endoftext_ordinary_by_default);
  tcase_add_test(gpt2, empty_input);
  tcase_add_test(gpt2, vocab_lookup);
  tcase_add_test(gpt2, decode_known_ids);
  tcase_add_test(gpt2, decode_rejects_bad_id);
  tcase_add_test(gpt2, invalid_utf8_bytes_are_byte_tokens);
  tcase_add_test(gpt2, invalid_utf8_between_words);
  tcase_add_test(gpt2, random_bytes_round_trip);
  tcase_add_test(gpt2, long_single_pretokens);
  tcase_add_test(gpt2, overlong_pretoken_names_offset_and_length);
  tcase_add_test(gpt2, cache_overflow_keeps_ids);
  suite_add_tcase(s, gpt2);

  TCase *loader = tcase_create("loader");
  tcase_add_checked_fixture(loader, make_tmp_dir, remove_tmp_dir);
  tcase_add_test(loader, load_small_vocabulary);
  tcase_add_test(loader, load_rejects_missing_files);
  tcase_add_test(loader, load_rejects_bad_vocabulary);
  tcase_add_test(loader, load_rejects_bad_merges);
  tcase_add_test(loader, find_dir_order);
  suite_add_tcase(s, loader);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
