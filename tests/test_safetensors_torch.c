/* test_safetensors_torch.c - Check tests comparing the safetensors reader and writer with PyTorch (tests/safetensors_reference.py). */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Skip status understood by the automake test driver. */
#define SKIP_STATUS 77

static char scratch[4096];
static char python[1024];
static char script[4096];

static int run(const char *command)
{
  int status = system(command);
  if (status == -1 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  ck_assert_int_ge(size, 0);
  rewind(f);
  unsigned char *buf = malloc((size_t)size + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return buf;
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
  if (len > 0)
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

static uint32_t f32_bits(float f)
{
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

START_TEST(reader_matches_torch)
{
  char folder[4200], command[16384], path[4300];
  snprintf(folder, sizeof folder, "%s/ref", scratch);
  snprintf(command, sizeof command, "mkdir -p '%s' && '%s' '%s' write '%s'", folder, python,
           script, folder);
  ck_assert_msg(run(command) == 0, "failed: %s", command);

  snprintf(path, sizeof path, "%s/reference.safetensors", folder);
  sdq_safetensors st = {0};
  char err[512];
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(st.n_tensors, 11);
  ck_assert_str_eq(sdq_safetensors_metadata(&st, "source"), "safetensors_reference.py");
  ck_assert_str_eq(sdq_safetensors_metadata(&st, "format"), "pt");

  const sdq_st_tensor *all = sdq_safetensors_find(&st, "f16.all");
  ck_assert_ptr_nonnull(all);
  ck_assert_int_eq(all->dtype, SDQ_ST_F16);
  ck_assert_uint_eq(all->numel, 65536);
  ck_assert_int_eq(sdq_safetensors_find(&st, "bf16.all")->dtype, SDQ_ST_BF16);

  size_t compared = 0;
  for (size_t i = 0; i < st.n_tensors; i++) {
    const sdq_st_tensor *t = &st.tensors[i];
    char expected_path[4500];
    snprintf(expected_path, sizeof expected_path, "%s/%s.f32", folder, t->name);
    size_t expected_len;
    unsigned char *expected_bytes = read_bytes(expected_path, &expected_len);
    ck_assert_msg(expected_len == 4 * t->numel, "%s: %zu bytes of reference for %zu elements",
                  t->name, expected_len, t->numel);

    float *got = malloc(4 * t->numel + 4);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(sdq_safetensors_read_f32(&st, t, got, t->numel, err, sizeof err) == 0, "%s", err);
    for (size_t k = 0; k < t->numel; k++) {
      float want;
      memcpy(&want, expected_bytes + 4 * k, 4);
      if (isnan(want)) {
        /* x86 F16C quiets signalling NaNs; sdq keeps the payload as is. */
        ck_assert_msg(isnan(got[k]) && signbit(got[k]) == signbit(want),
                      "%s[%zu]: torch gives NaN 0x%08x, sdq 0x%08x", t->name, k,
                      f32_bits(want), f32_bits(got[k]));
      } else {
        ck_assert_msg(f32_bits(got[k]) == f32_bits(want),
                      "%s[%zu]: torch gives 0x%08x (%g), sdq 0x%08x (%g)", t->name, k,
                      f32_bits(want), want, f32_bits(got[k]), got[k]);
      }
      compared++;
    }
    free(got);
    free(expected_bytes);
  }
  ck_assert_uint_gt(compared, 2 * 65536);
  sdq_safetensors_close(&st);
}
END_TEST

START_TEST(torch_parses_writer_output)
{
  char folder[4200], command[16384], path[4300];
  snprintf(folder, sizeof folder, "%s/out", scratch);
  snprintf(command, sizeof command, "mkdir -p '%s'", folder);
  ck_assert_int_eq(run(command), 0);

  enum { N = 257 };
  static float lora_a[8 * N], lora_b[N * 8];
  uint32_t state = 12345;
  for (int i = 0; i < 8 * N; i++) {
    state = state * 1664525u + 1013904223u;
    lora_a[i] = (float)((int32_t)state) * 0x1p-31f;
    lora_b[i] = -lora_a[i] * 3.0f;
  }
  float special[6] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-45f, 3.4e38f};
  float scalar = -1.5f;
  sdq_st_write_tensor tensors[] = {
    {.name = "h.3.mlp.c_fc.lora_B.bits4", .ndim = 2, .shape = {N, 8}, .data = lora_b},
    {.name = "h.3.mlp.c_fc.lora_A.bits4", .ndim = 2, .shape = {8, N}, .data = lora_a},
    {.name = "special", .ndim = 1, .shape = {6}, .data = special},
    {.name = "scalar", .ndim = 0, .data = &scalar},
    {.name = "empty", .ndim = 3, .shape = {2, 0, 3}, .data = NULL},
  };
  size_t n = sizeof tensors / sizeof tensors[0];
  sdq_st_metadata meta[] = {{"lora_rank", "8"}};
  snprintf(path, sizeof path, "%s/adapters.safetensors", folder);
  char err[512];
  ck_assert_msg(sdq_safetensors_write(path, tensors, n, meta, 1, err, sizeof err) == 0, "%s", err);

  size_t numel[5] = {8 * N, 8 * N, 6, 1, 0};
  for (size_t i = 0; i < n; i++) {
    char expected_path[4500];
    snprintf(expected_path, sizeof expected_path, "%s/%s.f32", folder, tensors[i].name);
    write_bytes(expected_path, tensors[i].data, 4 * numel[i]);
  }
  snprintf(command, sizeof command, "'%s' '%s' check '%s' '%s'", python, script, path, folder);
  ck_assert_msg(run(command) == 0, "torch-side check failed: %s", command);

  /* The checker can fail: change one reference value and expect a mismatch. */
  special[5] = nextafterf(special[5], 0.0f);
  char special_path[4500];
  snprintf(special_path, sizeof special_path, "%s/special.f32", folder);
  write_bytes(special_path, special, sizeof special);
  strcat(command, " 2>/dev/null"); /* the expected mismatch message is noise in the log */
  ck_assert_msg(run(command) == 1, "the checker accepted a changed reference: %s", command);
}
END_TEST

static void remove_tree(const char *path)
{
  DIR *dir = opendir(path);
  if (dir == NULL) {
    unlink(path);
    return;
  }
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char child[8192];
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    remove_tree(child);
  }
  closedir(dir);
  rmdir(path);
}

int main(void)
{
  const char *srcdir = getenv("SDQ_SRCDIR");
  snprintf(script, sizeof script, "%s/tests/safetensors_reference.py",
           srcdir != NULL && srcdir[0] != '\0' ? srcdir : ".");
  const char *python_env = getenv("SDQ_PYTHON");
  snprintf(python, sizeof python, "%s",
           python_env != NULL && python_env[0] != '\0' ? python_env : "/usr/bin/python3");

  if (access(script, R_OK) != 0) {
    fprintf(stderr, "test_safetensors_torch: %s not found; set SDQ_SRCDIR to the source tree\n",
            script);
    return 1;
  }
  if (access(python, X_OK) != 0) {
    fprintf(stderr, "test_safetensors_torch: SKIP: %s not found (set SDQ_PYTHON)\n", python);
    return SKIP_STATUS;
  }
  char probe[2048];
  snprintf(probe, sizeof probe, "'%s' -c 'import torch' 2>/dev/null", python);
  if (run(probe) != 0) {
    fprintf(stderr, "test_safetensors_torch: SKIP: %s cannot import torch "
                    "(on Debian: apt-get install python3-torch)\n", python);
    return SKIP_STATUS;
  }

  const char *tmp = getenv("TMPDIR");
  snprintf(scratch, sizeof scratch, "%s/sdq-test-safetensors-torch-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(scratch) == NULL) {
    fprintf(stderr, "test_safetensors_torch: cannot create %s: %s\n", scratch, strerror(errno));
    return 1;
  }

  Suite *s = suite_create("safetensors_torch");
  TCase *tc = tcase_create("torch");
  tcase_add_test(tc, reader_matches_torch);
  tcase_add_test(tc, torch_parses_writer_output);
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);

  SRunner *runner = srunner_create(s);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  remove_tree(scratch);
  return failed == 0 ? 0 : 1;
}
