/* test_tokenizer_reference.c - the C tokenizer against the npm package
 * gpt-3-encoder, id for id, through node and tests/tokenizer_reference.js.
 * The texts are tests/tokenizer_cases/ and generated ones: random mixes of
 * scripts, emoji, digits, white space and contractions, the same mixes with
 * corrupted bytes, and random bytes. Skips with 77 when node, the package or
 * the tokenizer files are missing (scripts/bootstrap installs all three). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/tokenizer.h"

/* Fixed so a failure reproduces; the failing file is kept and named. */
#define SEED 20240229u

static char src_dir[4096];
static sdq_tokenizer *tok;
static char tmp_dir[256];

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint32_t rng_next(void) {
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t rng_below(uint32_t n) { return rng_next() % n; }

struct text {
  char *p;
  size_t len, cap;
};

static void text_add(struct text *t, const void *bytes, size_t n) {
  if (n == 0)
    return;
  if (t->len + n > t->cap) {
    t->cap = (t->len + n) * 2 + 64;
    t->p = realloc(t->p, t->cap);
    ck_assert_ptr_nonnull(t->p);
  }
  memcpy(t->p + t->len, bytes, n);
  t->len += n;
}

static void text_add_str(struct text *t, const char *s) { text_add(t, s, strlen(s)); }

static void text_add_cp(struct text *t, uint32_t cp) {
  unsigned char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (unsigned char)(0xC0 | cp >> 6);
    b[1] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xE0 | cp >> 12);
    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (unsigned char)(0xF0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  text_add(t, b, n);
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  struct text t = {0};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    text_add(&t, buf, n);
  fclose(f);
  text_add(&t, "", 1);
  *len = t.len - 1;
  return t.p;
}

static void write_all(const char *path, const char *bytes, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

/* Runs the reference on files[0..n) and returns its output, one line per
 * file. Fails the test when node fails. */
static char *run_reference(char **files, size_t n, int allow_special) {
  struct text cmd = {0};
  text_add_str(&cmd, "node '");
  text_add_str(&cmd, src_dir);
  text_add_str(&cmd, "/tests/tokenizer_reference.js'");
  if (allow_special)
    text_add_str(&cmd, " --allow-special");
  for (size_t i = 0; i < n; i++) {
    text_add_str(&cmd, " '");
    text_add_str(&cmd, files[i]);
    text_add_str(&cmd, "'");
  }
  text_add(&cmd, "", 1);
  FILE *p = popen(cmd.p, "r");
  ck_assert_msg(p != NULL, "cannot run: %s", cmd.p);
  struct text out = {0};
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0)
    text_add(&out, buf, got);
  text_add(&out, "", 1);
  int status = pclose(p);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reference failed (status %d): %s",
                status, cmd.p);
  free(cmd.p);
  return out.p;
}

/* Compares the C encoding of each file with the reference's output lines.
 * Returns the number of files that differ; each difference is printed with
 * the file, the first differing position and the ids there. */
static int compare_files(char **files, size_t n, int allow_special) {
  char *ref = run_reference(files, n, allow_special);
  char *line = ref;
  int differing = 0;
  for (size_t f = 0; f < n; f++) {
    char *eol = strchr(line, '\n');
    ck_assert_msg(eol != NULL, "the reference printed %zu lines for %zu files", f, n);
    *eol = '\0';

    size_t len;
    char *bytes = read_all(files[f], &len);
    char err[512];
    int32_t *ids;
    size_t n_ids;
    ck_assert_msg(sdq_tokenizer_encode(tok, bytes, len, allow_special ? SDQ_TOKENIZE_ALLOW_SPECIAL : 0,
                                       &ids, &n_ids, err, sizeof err) == 0,
                  "%s: %s", files[f], err);

    size_t i = 0;
    char *p = line, *end;
    for (long ref_id; (ref_id = strtol(p, &end, 10)), end != p; p = end, i++) {
      if (i >= n_ids || ids[i] != ref_id) {
        printf("%s%s: token %zu: C %ld, reference %ld\n", files[f],
               allow_special ? " (--allow-special)" : "", i, i < n_ids ? (long)ids[i] : -1L, ref_id);
        break;
      }
    }
    if (end == p && i != n_ids)
      printf("%s%s: C has %zu tokens, reference %zu\n", files[f],
             allow_special ? " (--allow-special)" : "", n_ids, i);
    if (end != p || i != n_ids)
      differing++;
    free(ids);
    free(bytes);
    line = eol + 1;
  }
  free(ref);
  return differing;
}

/* ---------------------------------------------------- generated texts */

static const char *const words[] = {
    "the", "The", "THE", "quantization", "GPT", "token", "a", "I", "world", "Hello",
    "naïve", "don", "rock", "ll", "x", "foo_bar", "CamelCase", "http", "www", "com"};
static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'"};
static const char *const blanks[] = {" ", "  ", "   ", "      ", "\n", "\n\n", "\n\n\n", "\t",
                                     "\t\t", "\r\n", " \n ", "\v", "\f"};
static const char punctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/* Code point ranges assigned since Unicode 6 or earlier, so PCRE2's tables
 * and node's agree on which are letters, digits and white space. */
static const uint32_t ranges[][2] = {
    {0x00C0, 0x00FF},   {0x0100, 0x017F},   {0x0391, 0x03C9},   {0x0410, 0x044F},
    {0x05D0, 0x05EA},   {0x0627, 0x064A},   {0x0660, 0x0669},   {0x0905, 0x0939},
    {0x093E, 0x094D},   {0x0966, 0x096F},   {0x0E01, 0x0E2E},   {0x0300, 0x036F},
    {0x3041, 0x3096},   {0x30A1, 0x30FA},   {0x4E00, 0x9FA5},   {0xAC00, 0xD7A3},
    {0x1F600, 0x1F64F}, {0x1F300, 0x1F5FF}, {0x1F3FB, 0x1F3FF}, {0x1F1E6, 0x1F1FF},
    {0x2160, 0x2182},   {0x00B2, 0x00B3},   {0x2500, 0x257F},   {0x2200, 0x22FF},
    {0x1D400, 0x1D454}, {0x0001, 0x001F},   {0xFF10, 0xFF5A},   {0x2010, 0x2027}};
static const uint32_t special_spaces[] = {0x00A0, 0x0085, 0x1680, 0x2000, 0x2005, 0x200A, 0x200B,
                                          0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF, 0x200D,
                                          0xFE0F};

static void add_random_piece(struct text *t) {
  switch (rng_below(10)) {
  case 0:
  case 1:
    text_add_str(t, rng_below(2) ? " " : "");
    text_add_str(t, words[rng_below(sizeof words / sizeof *words)]);
    break;
  case 2:
    text_add_str(t, blanks[rng_below(sizeof blanks / sizeof *blanks)]);
    break;
  case 3:
    for (uint32_t k = 1 + rng_below(12); k > 0; k--)
      text_add_cp(t, '0' + rng_below(10));
    break;
  case 4:
    for (uint32_t k = 1 + rng_below(4); k > 0; k--)
      text_add_cp(t, (unsigned char)punctuation[rng_below(sizeof punctuation - 1)]);
    break;
  case 5:
    text_add_str(t, contractions[rng_below(sizeof contractions / sizeof *contractions)]);
    break;
  case 6:
  case 7: {
    const uint32_t *r = ranges[rng_below(sizeof ranges / sizeof *ranges)];
    for (uint32_t k = 1 + rng_below(5); k > 0; k--)
      text_add_cp(t, r[0] + rng_below(r[1] - r[0] + 1));
    break;
  }
  case 8:
    text_add_cp(t, special_spaces[rng_below(sizeof special_spaces / sizeof *special_spaces)]);
    break;
  default:
    text_add_str(t, rng_below(4) ? " " : "<|endoftext|>");
    break;
  }
}

static char *new_file_name(const char *kind, int i) {
  char *path = malloc(strlen(tmp_dir) + 64);
  ck_assert_ptr_nonnull(path);
  sprintf(path, "%s/%s-%03d.txt", tmp_dir, kind, i);
  return path;
}

/* Writes count generated texts of one kind and returns their paths.
 * kind: "mix" (valid UTF-8), "corrupt" (a mix with bytes changed, inserted
 * or deleted) or "bytes" (uniform random bytes). */
static char **generate(const char *kind, int count) {
  char **files = calloc((size_t)count, sizeof *files);
  ck_assert_ptr_nonnull(files);
  for (int i = 0; i < count; i++) {
    struct text t = {0};
    if (!strcmp(kind, "bytes")) {
      for (uint32_t k = rng_below(600); k > 0; k--) {
        unsigned char b = (unsigned char)rng_next();
        text_add(&t, &b, 1);
      }
    } else {
      for (uint32_t k = 1 + rng_below(80); k > 0; k--)
        add_random_piece(&t);
    }
    if (!strcmp(kind, "corrupt") && t.len > 0) {
      for (uint32_t k = 1 + rng_below(6); k > 0; k--) {
        size_t at = rng_below((uint32_t)t.len);
        unsigned char b = (unsigned char)(0x80 | rng_next());
        uint32_t edit = rng_below(3); /* 0: replace, 1: insert, 2: delete */
        if (edit == 0) {
          t.p[at] = (char)b;
        } else if (edit == 1) {
          text_add(&t, "", 1);
          memmove(t.p + at + 1, t.p + at, t.len - 1 - at);
          t.p[at] = (char)b;
        } else if (t.len > 1) {
          memmove(t.p + at, t.p + at + 1, t.len - at - 1);
          t.len--;
        }
      }
    }
    files[i] = new_file_name(kind, i);
    write_all(files[i], t.p ? t.p : "", t.len);
    free(t.p);
  }
  return files;
}

static void free_files(char **files, int count, int keep) {
  for (int i = 0; i < count; i++) {
    if (!keep)
      unlink(files[i]);
    free(files[i]);
  }
  free(files);
}

/* --------------------------------------------------------------- tests */

static void setup(void) {
  char err[512], dir[4200];
  snprintf(dir, sizeof dir, "%s/data/gpt2-tokenizer", src_dir);
  ck_assert_msg(sdq_tokenizer_load(&tok, dir, err, sizeof err) == 0, "%s", err);
  const char *base = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/sdq-tokref-XXXXXX", base && *base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void teardown(void) {
  sdq_tokenizer_free(tok);
  rmdir(tmp_dir); /* fails, and so keeps the files, when a test kept them */
}

static void check_kind(const char *kind, int count, int allow_special) {
  char **files = generate(kind, count);
  int differing = compare_files(files, (size_t)count, allow_special);
  if (differing)
    printf("kept the %s texts in %s (seed %u)\n", kind, tmp_dir, SEED);
  free_files(files, count, differing);
  ck_assert_msg(differing == 0, "%d of %d %s texts differ from the reference", differing, count,
                kind);
}

START_TEST(case_files_match_reference) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/tests/tokenizer_cases", src_dir);
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  char *files[256];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < 256) {
    if (e->d_name[0] == '.')
      continue;
    files[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
    sprintf(files[n], "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  ck_assert_msg(n >= 5, "only %zu files in %s", n, dir);
  int differing = compare_files(files, n, 0) + compare_files(files, n, 1);
  for (size_t i = 0; i < n; i++)
    free(files[i]);
  ck_assert_msg(differing == 0, "%d case files differ from the reference", differing);
}
END_TEST

START_TEST(random_mixes_match_reference) {
  rng_state = SEED;
  check_kind("mix", 200, 0);
  check_kind("mix", 50, 1);
}
END_TEST

START_TEST(corrupted_mixes_match_reference) {
  rng_state = SEED + 1;
  check_kind("corrupt", 150, 0);
}
END_TEST

START_TEST(random_bytes_match_reference) {
  rng_state = SEED + 2;
  check_kind("bytes", 100, 0);
}
END_TEST

/* Returns 0 when node and the package work, or prints why not and returns
 * 77 (skip) or 1 (a broken reference script). */
static int probe_reference(void) {
  if (system("node --version >/dev/null 2>&1") != 0) {
    printf("SKIP: node not found; install it (apt-get install nodejs npm) to compare with the "
           "reference tokenizer\n");
    return 77;
  }
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "node '%s/tests/tokenizer_reference.js' /dev/null >/dev/null", src_dir);
  int status = system(cmd);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    printf("SKIP: the npm package gpt-3-encoder is not installed; run scripts/bootstrap\n");
    return 77;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("FAIL: %s exited with status %d\n", cmd, status);
    return 1;
  }
  return 0;
}

int main(void) {
  const char *src = getenv("SDQ_SRCDIR");
  snprintf(src_dir, sizeof src_dir, "%s", src && *src ? src : ".");
  if (strchr(src_dir, '\'')) {
    printf("FAIL: SDQ_SRCDIR contains a single quote, which the node command line cannot take\n");
    return 1;
  }
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/data/gpt2-tokenizer/encoder.json", src_dir);
  if (access(probe, R_OK) != 0) {
    printf("SKIP: %s not found; run scripts/bootstrap to install GPT-2's tokenizer files\n", probe);
    return 77;
  }
  int rc = probe_reference();
  if (rc != 0)
    return rc;

  Suite *s = suite_create("tokenizer_reference");
  TCase *tc = tcase_create("reference");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, case_files_match_reference);
  tcase_add_test(tc, random_mixes_match_reference);
  tcase_add_test(tc, corrupted_mixes_match_reference);
  tcase_add_test(tc, random_bytes_match_reference);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
