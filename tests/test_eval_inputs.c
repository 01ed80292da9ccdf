/* test_eval_inputs.c - the inputs of 'sdq eval' and 'sdq train' read by the
 * library: question id lists (sdq_select_questions) and configuration
 * arguments (sdq_resolve_config, sdq_parse_bits_list,
 * sdq_check_distinct_configs, sdq_bitconfig_load) on long lines, repeated
 * entries, byte order marks, NUL bytes, directories, FIFOs and devices. */
#define _POSIX_C_SOURCE 200809L

#include "train/evaluate.h"
#include "train/setup.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Every test writes its files into this folder (made in main, removed after). */
static char scratch[4096];

static const char *scratch_path(const char *name) {
  static char path[2][8192];
  static int which;
  which ^= 1;
  snprintf(path[which], sizeof path[which], "%s/%s", scratch, name);
  return path[which];
}

/* Writes len bytes of text (which may hold NUL bytes) to scratch/name. */
static const char *scratch_bytes(const char *name, const char *text, size_t len) {
  const char *path = scratch_path(name);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
  ck_assert_uint_eq(fwrite(text, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

static const char *scratch_file(const char *name, const char *text) {
  return scratch_bytes(name, text, strlen(text));
}

/* A data set of three questions: q1, q2, q3. */
static void load_three(sdq_squad *sq) {
  const char *path = scratch_file(
      "three.json",
      "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{\"context\": "
      "\"Paris is big.\", \"qas\": ["
      "{\"id\": \"q1\", \"question\": \"Which?\", \"answers\": [{\"answer_start\": 0, "
      "\"text\": \"Paris\"}]},"
      "{\"id\": \"q2\", \"question\": \"What?\", \"answers\": [{\"answer_start\": 9, "
      "\"text\": \"big\"}]},"
      "{\"id\": \"q3\", \"question\": \"Is it?\", \"answers\": [{\"answer_start\": 6, "
      "\"text\": \"is\"}]}]}]}]}");
  char err[512] = "";
  ck_assert_msg(sdq_squad_load(sq, path, NULL, 0, err, sizeof err) == 0, "%s", err);
}

/* Runs sdq_select_questions on an id file holding len bytes of text. On
 * success returns the ids selected, joined by ','; on failure returns NULL
 * and leaves the message in err. */
static char *select_ids(const char *text, size_t len, char *err, size_t errlen) {
  sdq_squad sq;
  load_three(&sq);
  const char *ids = scratch_bytes("ids.txt", text, len);
  size_t n = 0;
  err[0] = '\0';
  size_t *sel = sdq_select_questions(&sq, ids, 0, &n, err, errlen);
  char *joined = NULL;
  if (sel) {
    joined = calloc(1, 64);
    for (size_t i = 0; i < n; i++) {
      strcat(joined, i ? "," : "");
      strcat(joined, sq.questions[sel[i]].id);
    }
  }
  free(sel);
  sdq_squad_free(&sq);
  return joined;
}

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* A comment longer than any fixed buffer stays one comment: the id written
 * at its end is not selected, and the next line is read as line 2. */
START_TEST(long_comment_line_is_one_line) {
  char *y = repeat('y', 5000), text[6000], err[1024];
  snprintf(text, sizeof text, "#%sq1\nq2\nnope\n", y);
  char *got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got == NULL, "an unknown id on line 3 was accepted (selected %s)", got);
  ck_assert_msg(strstr(err, "ids.txt:3: question id 'nope'") != NULL,
                "the message does not name line 3: %s", err);
  snprintf(text, sizeof text, "#%sq1\nq2\n", y);
  got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_str_eq(got, "q2");
  free(got);
  free(y);
}
END_TEST

/* An id after a long run of spaces is read whole, and an over-long unknown
 * id is reported with its own line number. */
START_TEST(long_leading_space_and_long_id) {
  char *sp = repeat(' ', 3000), *x = repeat('x', 3000), text[7000], err[8192];
  snprintf(text, sizeof text, "%sq3\n", sp);
  char *got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_str_eq(got, "q3");
  free(got);
  snprintf(text, sizeof text, "q1\n%s\n", x);
  got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got == NULL, "an unknown 3000-byte id was accepted");
  ck_assert_msg(strstr(err, "ids.txt:2: question id 'xxxx") != NULL,
                "the message does not name line 2: %.200s", err);
  ck_assert_msg(strstr(err, "ids.txt:3:") == NULL, "the id was split across lines: %.200s",
                err);
  free(sp);
  free(x);
}
END_TEST

/* A repeated id would count twice in EM/F1 but appear once in the
 * prediction file, so it is rejected with both line numbers. */
START_TEST(repeated_id_names_both_lines) {
  char err[1024];
  const char *text = "q1\n# again:\n\nq2\n  q1  \r\n";
  char *got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got == NULL, "a repeated id was accepted (selected %s)", got);
  ck_assert_msg(strstr(err, "ids.txt:5: id q1 already listed at line 1") != NULL,
                "unexpected message: %s", err);
}
END_TEST

/* A UTF-8 byte order mark before the first id is skipped; one elsewhere is
 * part of the id and therefore unknown. */
START_TEST(byte_order_mark_skipped_at_start_only) {
  char err[1024];
  const char *text = "\xEF\xBB\xBFq2\r\nq1\r\n";
  char *got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_str_eq(got, "q2,q1");
  free(got);
  text = "q2\n\xEF\xBB\xBFq1\n";
  got = select_ids(text, strlen(text), err, sizeof err);
  ck_assert_msg(got == NULL, "a byte order mark on line 2 was dropped silently");
  ck_assert_msg(strstr(err, "ids.txt:2:") != NULL, "the message does not name line 2: %s",
                err);
}
END_TEST

/* A NUL byte is an error naming its line, also inside a comment. */
START_TEST(nul_byte_names_the_line) {
  char err[1024];
  static const char text[] = "q1\nq2\0junk\nq3\n";
  char *got = select_ids(text, sizeof text - 1, err, sizeof err);
  ck_assert_msg(got == NULL, "a line with a NUL byte was accepted (selected %s)", got);
  ck_assert_msg(strstr(err, "ids.txt:2:") && strstr(err, "NUL"), "unexpected message: %s",
                err);
  static const char comment[] = "q1\n# note \0 here\nq3\n";
  got = select_ids(comment, sizeof comment - 1, err, sizeof err);
  ck_assert_msg(got == NULL, "a comment with a NUL byte was accepted (selected %s)", got);
  ck_assert_msg(strstr(err, "ids.txt:2:") != NULL, "unexpected message: %s", err);
}
END_TEST

START_TEST(directory_as_id_list) {
  sdq_squad sq;
  load_three(&sq);
  const char *dir = scratch_path("ids-dir");
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  char err[1024] = "";
  size_t n = 0;
  size_t *sel = sdq_select_questions(&sq, dir, 0, &n, err, sizeof err);
  sdq_squad_free(&sq);
  ck_assert_msg(sel == NULL, "a directory was accepted as an id list");
  ck_assert_msg(strstr(err, dir) && strstr(err, "is a directory"), "unexpected message: %s",
                err);
}
END_TEST

/* Resolves arg for a 2-layer model; returns the sdq_resolve_config code. */
static int resolve(const char *arg, sdq_bitconfig *cfg, char *name, char *err, size_t errlen) {
  err[0] = '\0';
  return sdq_resolve_config(arg, 2, cfg, name, 256, err, errlen);
}

/* A directory, a FIFO and a device are errors naming the path; none of
 * them reads as an empty file (every layer fp32), and the FIFO is not
 * waited on. */
START_TEST(configuration_must_be_a_regular_file) {
  const char *dir = scratch_path("cfg-dir");
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  const char *fifo = scratch_path("cfg-fifo");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  const char *paths[] = {dir, fifo, "/dev/null"};
  const char *kinds[] = {"is a directory", "is a FIFO", "is a device"};
  for (int i = 0; i < 3; i++) {
    sdq_bitconfig cfg;
    char name[256], err[1024];
    ck_assert_msg(resolve(paths[i], &cfg, name, err, sizeof err) == -1,
                  "%s was accepted as a configuration", paths[i]);
    ck_assert_msg(strstr(err, paths[i]) && strstr(err, kinds[i]), "unexpected message: %s",
                  err);
    memset(&cfg, 0, sizeof cfg);
    ck_assert_msg(sdq_bitconfig_load(&cfg, paths[i], 2, err, sizeof err) == -1,
                  "sdq_bitconfig_load accepted %s", paths[i]);
    ck_assert_msg(strstr(err, paths[i]) != NULL, "unexpected message: %s", err);
  }
}
END_TEST

/* A directory in the current folder named like a shipped configuration is
 * reported with the shipped file's path instead of being read as empty. */
START_TEST(directory_shadowing_a_shipped_name) {
  char cwd[4096];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  ck_assert_int_eq(chdir(scratch), 0);
  ck_assert_int_eq(mkdir("all-4", 0700), 0);
  sdq_bitconfig cfg;
  char name[256], err[1024];
  int rc = resolve("all-4", &cfg, name, err, sizeof err);
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert_msg(rc == -1, "the directory all-4 was read as a configuration");
  ck_assert_msg(strstr(err, "all-4' is a directory") && strstr(err, "configs/all-4.cfg"),
                "unexpected message: %s", err);
}
END_TEST

/* A rule over a block set covers every block of the set, also for models
 * with more than 64 blocks; an over-long line or a NUL byte names the file's
 * line. */
START_TEST(block_sets_and_long_lines) {
  const char *path = scratch_file("back.cfg", "* 8\nh.{back}.* 4\n");
  char err[2048] = "";
  sdq_bitconfig cfg;
  ck_assert_msg(sdq_resolve_config(path, 160, &cfg, (char[256]){0}, 256, err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(cfg.layers[79 * SDQ_LIN_COUNT].w_bits, 8);
  ck_assert_int_eq(cfg.layers[80 * SDQ_LIN_COUNT].w_bits, 4);
  ck_assert_int_eq(cfg.layers[159 * SDQ_LIN_COUNT + SDQ_LIN_COUNT - 1].w_bits, 4);
  sdq_bitconfig_free(&cfg);

  char *pad = repeat(' ', 2000), body[2100], name[256];
  snprintf(body, sizeof body, "* 8\n# fine\nh.{last}.*%s4\n", pad);
  path = scratch_file("long.cfg", body);
  ck_assert_int_eq(resolve(path, &cfg, name, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "long.cfg:3: line longer than 1023 bytes") != NULL,
                "unexpected message: %s", err);
  static const char nul[] = "* 8\n* 4\0\n";
  path = scratch_bytes("nul.cfg", nul, sizeof nul - 1);
  ck_assert_int_eq(resolve(path, &cfg, name, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "nul.cfg:2:") && strstr(err, "NUL"), "unexpected message: %s", err);
  free(pad);
}
END_TEST

/* 16 runs at full precision like 32; its name says 16 bits, not fp32. */
START_TEST(sixteen_bits_named_honestly) {
  sdq_bitconfig cfg;
  char name[256], err[1024];
  ck_assert_msg(resolve("16", &cfg, name, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(name, "16bit");
  sdq_bitconfig_free(&cfg);
  ck_assert_msg(resolve("32", &cfg, name, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(name, "fp32");
  sdq_bitconfig_free(&cfg);
  int bits[8];
  ck_assert_int_eq(sdq_parse_bits_list("4,16,8", bits, 8, err, sizeof err), 3);
  ck_assert_int_eq(sdq_parse_bits_list("16,32", bits, 8, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "16 and 32") != NULL, "unexpected message: %s", err);
  ck_assert_int_eq(sdq_parse_bits_list("fp32,16", bits, 8, err, sizeof err), -1);
}
END_TEST

/* Resolves args[0 .. n-1] and runs sdq_check_distinct_configs on them. */
static int distinct(const char *const *args, int n, char *err, size_t errlen) {
  sdq_bitconfig cfgs[4];
  static char buf[4][256];
  char *names[4];
  for (int i = 0; i < n; i++) {
    names[i] = buf[i];
    ck_assert_msg(resolve(args[i], &cfgs[i], buf[i], err, errlen) == 0, "%s: %s", args[i], err);
  }
  int rc = sdq_check_distinct_configs(cfgs, names, args, n, err, errlen);
  for (int i = 0; i < n; i++)
    sdq_bitconfig_free(&cfgs[i]);
  return rc;
}

START_TEST(duplicate_configurations_rejected) {
  char err[1024];
  const char *same[] = {"4", "all-4"};
  ck_assert_int_eq(distinct(same, 2, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'4' and 'all-4'") && strstr(err, "same bits"),
                "unexpected message: %s", err);
  const char *twice[] = {"8", "all-4", "all-4"};
  ck_assert_int_eq(distinct(twice, 3, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'all-4' is given twice") != NULL, "unexpected message: %s", err);
  const char *full[] = {"16", "fp32"};
  ck_assert_int_eq(distinct(full, 2, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'16' and 'fp32'") && strstr(err, "full precision"),
                "unexpected message: %s", err);

  /* Two files of one name in different folders would write one file. */
  const char *a = scratch_file("mix.cfg", "* 5\n");
  char a_copy[8192];
  snprintf(a_copy, sizeof a_copy, "%s", a);
  ck_assert_int_eq(mkdir(scratch_path("other"), 0700), 0);
  const char *b = scratch_file("other/mix.cfg", "* 6\n");
  const char *same_name[] = {a_copy, b};
  ck_assert_int_eq(distinct(same_name, 2, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "both get the name 'mix'") != NULL, "unexpected message: %s", err);

  const char *fine[] = {"4", "8", "fp32", a_copy};
  ck_assert_msg(distinct(fine, 4, err, sizeof err) == 0, "distinct configurations rejected: %s",
                err);
}
END_TEST

/* The shape of a fresh model (--init): n_positions and n_ctx must agree,
 * every message names the file, and a vocab_size below the tokenizer's is
 * refused before any training. */
START_TEST(init_config_checked) {
  char err[1024] = "";
  sdq_gpt2_config cfg;
  const char *path = scratch_file("init.json", "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 8, "
                                  "\"n_positions\": 1073741824, \"n_ctx\": 16, \"vocab_size\": 30}");
  ck_assert_int_eq(sdq_read_model_config(path, &cfg, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "init.json: ") && strstr(err, "\"n_positions\" is 1073741824") &&
                    strstr(err, "\"n_ctx\" is 16"), "%s", err);

  path = scratch_file("init.json", "{\"n_layer\": 1, \"n_head\": 3, \"n_embd\": 8, "
                      "\"n_positions\": 16, \"vocab_size\": 30}");
  ck_assert_int_eq(sdq_read_model_config(path, &cfg, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "init.json: \"n_head\" is 3"), "%s", err);

  path = scratch_file("init.json", "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 8, "
                      "\"n_ctx\": 16, \"vocab_size\": 30, \"activation_function\": \"relu\"}");
  ck_assert_int_eq(sdq_read_model_config(path, &cfg, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "init.json: \"activation_function\" is \"relu\""), "%s", err);

  /* Either name of the context length alone gives n_ctx. */
  path = scratch_file("init.json", "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 8, "
                      "\"n_positions\": 16, \"n_ctx\": 16, \"vocab_size\": 30}");
  ck_assert_msg(sdq_read_model_config(path, &cfg, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(cfg.n_ctx, 16);

  sdq_gpt2 *m = sdq_open_model(NULL, path, 1, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_tokenizer *tok = NULL;
  ck_assert_msg(sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(NULL), err, sizeof err) == 0,
                "%s", err);
  ck_assert_int_eq(sdq_check_model_vocab(m, tok, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "vocab_size of 30") && strstr(err, "50257"), "%s", err);
  sdq_gpt2_free(m);

  path = scratch_file("init.json", "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 8, "
                      "\"n_positions\": 16, \"vocab_size\": 50304}");
  m = sdq_open_model(NULL, path, 1, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  ck_assert_msg(sdq_check_model_vocab(m, tok, err, sizeof err) == 0, "%s", err);
  sdq_gpt2_free(m);
  sdq_tokenizer_free(tok);
}
END_TEST

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(scratch, sizeof scratch, "%s/sdq-eval-inputs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(scratch)) {
    perror("mkdtemp");
    return 1;
  }
  Suite *s = suite_create("eval_inputs");
  TCase *tc = tcase_create("inputs");
  tcase_add_test(tc, long_comment_line_is_one_line);
  tcase_add_test(tc, long_leading_space_and_long_id);
  tcase_add_test(tc, repeated_id_names_both_lines);
  tcase_add_test(tc, byte_order_mark_skipped_at_start_only);
  tcase_add_test(tc, nul_byte_names_the_line);
  tcase_add_test(tc, directory_as_id_list);
  tcase_add_test(tc, configuration_must_be_a_regular_file);
  tcase_add_test(tc, directory_shadowing_a_shipped_name);
  tcase_add_test(tc, block_sets_and_long_lines);
  tcase_add_test(tc, sixteen_bits_named_honestly);
  tcase_add_test(tc, duplicate_configurations_rejected);
  tcase_add_test(tc, init_config_checked);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", scratch);
  return failed ? 1 : 0;
}
