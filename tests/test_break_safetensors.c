/* test_break_safetensors.c - regression test: the safetensors writer must not replace a path that is not a regular file. */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];

/* sdq_safetensors_write renames its temporary file over path whatever path
 * is. Run as root with path /dev/null (a usual way to discard an output),
 * that replaces the device node with a regular file. A FIFO shows the same
 * thing without root: after the call it must still be a FIFO, and the call
 * must fail with a message saying path is not a regular file. */
START_TEST(write_refuses_non_regular_file)
{
  char path[8192];
  snprintf(path, sizeof path, "%s/out.fifo", scratch);
  ck_assert_msg(mkfifo(path, 0600) == 0, "mkfifo %s: %s", path, strerror(errno));

  const float data[2] = {1.0f, 2.0f};
  sdq_st_write_tensor t = {.name = "w", .ndim = 1, .shape = {2}, .data = data};
  char err[512] = "";
  int rc = sdq_safetensors_write(path, &t, 1, NULL, 0, err, sizeof err);

  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert_msg(S_ISFIFO(sb.st_mode),
                "sdq_safetensors_write replaced the FIFO %s with a regular file (rc %d)",
                path, rc);
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "regular file") != NULL, "unclear message: %s", err);
}
END_TEST

int main(void)
{
  snprintf(scratch, sizeof scratch, "%s/sdq-break-st-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(scratch) == NULL) {
    fprintf(stderr, "test_break_safetensors: failed to create a scratch folder: %s\n",
            strerror(errno));
    return 1;
  }
  Suite *s = suite_create("break_safetensors");
  TCase *tc = tcase_create("writer");
  tcase_add_test(tc, write_refuses_non_regular_file);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);

  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0)
    fprintf(stderr, "test_break_safetensors: failed to remove %s\n", scratch);
  return failed == 0 ? 0 : 1;
}
