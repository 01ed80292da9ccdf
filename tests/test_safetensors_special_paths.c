/* test_safetensors_special_paths.c - the safetensors writer given an output path that is not a regular file. */
#define _DEFAULT_SOURCE 1 /* mknod, makedev */

#include "model/safetensors.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char scratch[4096];

/* The writer renames its temporary file over path, which as root would turn
 * /dev/null (a usual way to discard an output) into a regular file. A FIFO
 * checks the same rule without root: after the call it must still be a FIFO,
 * and the call must fail with a message saying path is not a regular file. */
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

/* A directory is not replaced either, and the message names its kind. */
START_TEST(write_refuses_directory)
{
  char path[8192];
  snprintf(path, sizeof path, "%s/out.dir", scratch);
  ck_assert_msg(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));

  const float data[1] = {1.0f};
  sdq_st_write_tensor t = {.name = "w", .ndim = 1, .shape = {1}, .data = data};
  char err[512] = "";
  int rc = sdq_safetensors_write(path, &t, 1, NULL, 0, err, sizeof err);

  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert_msg(S_ISDIR(sb.st_mode), "%s is no longer a directory", path);
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "is not a regular file") != NULL, "unclear message: %s", err);
  ck_assert_msg(strstr(err, "directory") != NULL, "message does not name the kind: %s", err);
}
END_TEST

/* A character device made with mknod (a copy of /dev/null, major 1 minor 3)
 * replaces /dev/null itself in this test. Making it needs root; otherwise the test
 * passes without checking anything, and the FIFO test above still runs. */
START_TEST(write_refuses_device_node)
{
  char path[8192];
  snprintf(path, sizeof path, "%s/null", scratch);
  if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) != 0) {
    fprintf(stderr, "write_refuses_device_node: not checked, mknod failed: %s\n",
            strerror(errno));
    return;
  }

  const float data[1] = {1.0f};
  sdq_st_write_tensor t = {.name = "w", .ndim = 1, .shape = {1}, .data = data};
  char err[512] = "";
  int rc = sdq_safetensors_write(path, &t, 1, NULL, 0, err, sizeof err);

  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert_msg(S_ISCHR(sb.st_mode), "the device node %s was replaced (rc %d)", path, rc);
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err, "character device") != NULL, "unclear message: %s", err);
}
END_TEST

/* A symbolic link to a regular file is still a valid output path. */
START_TEST(write_through_symlink_to_file)
{
  char target[8192], link[8192];
  snprintf(target, sizeof target, "%s/target.safetensors", scratch);
  snprintf(link, sizeof link, "%s/link.safetensors", scratch);
  FILE *f = fopen(target, "wb");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(symlink(target, link), 0);

  const float data[1] = {1.0f};
  sdq_st_write_tensor t = {.name = "w", .ndim = 1, .shape = {1}, .data = data};
  char err[512] = "";
  ck_assert_msg(sdq_safetensors_write(link, &t, 1, NULL, 0, err, sizeof err) == 0,
                "write through a link to a regular file failed: %s", err);
}
END_TEST

int main(void)
{
  snprintf(scratch, sizeof scratch, "%s/sdq-st-paths-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(scratch) == NULL) {
    fprintf(stderr, "test_safetensors_special_paths: failed to create a scratch folder: %s\n",
            strerror(errno));
    return 1;
  }
  Suite *s = suite_create("safetensors_special_paths");
  TCase *tc = tcase_create("writer");
  tcase_add_test(tc, write_refuses_non_regular_file);
  tcase_add_test(tc, write_refuses_directory);
  tcase_add_test(tc, write_refuses_device_node);
  tcase_add_test(tc, write_through_symlink_to_file);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);

  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0)
    fprintf(stderr, "test_safetensors_special_paths: failed to remove %s\n", scratch);
  return failed == 0 ? 0 : 1;
}
