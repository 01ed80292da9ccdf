/* test_train_files.c - sdq_write_file_bytes and sdq_json_write_file given
 * regular files, symbolic links, FIFOs, device nodes, directories and "-";
 * sdq_remove_stale_temps given temporary files of dead and live processes. */
#define _DEFAULT_SOURCE 1 /* mknod, makedev */

#include "config.h"

#include "train/files.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char scratch[4096];

static void setup(void) {
  snprintf(scratch, sizeof scratch, "/tmp/sdq-test-files-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void teardown(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", scratch);
}

static size_t read_text(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return n;
}

/* A new path and an existing regular file both end up holding the bytes,
 * and no temporary file is left next to them. */
START_TEST(regular_file_is_replaced)
{
  char path[4200], buf[64];
  snprintf(path, sizeof path, "%s/out.txt", scratch);
  char err[512] = "";
  ck_assert_int_eq(sdq_write_file_bytes(path, "first", 5, err, sizeof err), 0);
  ck_assert_int_eq(sdq_write_file_bytes(path, "second", 6, err, sizeof err), 0);
  read_text(path, buf, sizeof buf);
  ck_assert_str_eq(buf, "second");

  char cmd[4300];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", scratch);
  ck_assert_msg(system(cmd) == 0, "a temporary file was left in %s", scratch);
}
END_TEST

/* A symbolic link stays a link; the file it points to gets the new bytes. */
START_TEST(symlink_is_kept_and_target_written)
{
  char target[4200], link[4200], buf[64];
  snprintf(target, sizeof target, "%s/real.json", scratch);
  snprintf(link, sizeof link, "%s/link.json", scratch);
  char err[512] = "";
  ck_assert_int_eq(sdq_write_file_bytes(target, "old", 3, err, sizeof err), 0);
  ck_assert_int_eq(symlink("real.json", link), 0);

  json_t *v = json_pack("{s:i}", "k", 7);
  ck_assert_msg(sdq_json_write_file(link, v, err, sizeof err) == 0, "%s", err);
  json_decref(v);

  struct stat sb;
  ck_assert_int_eq(lstat(link, &sb), 0);
  ck_assert_msg(S_ISLNK(sb.st_mode), "%s is no longer a symbolic link", link);
  read_text(target, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "\"k\": 7") != NULL, "target holds: %s", buf);
}
END_TEST

/* A dangling link is rejected with a message and stays a link. */
START_TEST(dangling_symlink_rejected)
{
  char link[4200];
  snprintf(link, sizeof link, "%s/dangling", scratch);
  ck_assert_int_eq(symlink("missing/nothing", link), 0);
  char err[512] = "";
  ck_assert_int_eq(sdq_write_file_bytes(link, "x", 1, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "symbolic link") != NULL, "unclear message: %s", err);
  struct stat sb;
  ck_assert_int_eq(lstat(link, &sb), 0);
  ck_assert(S_ISLNK(sb.st_mode));
}
END_TEST

/* A FIFO is written in place: a reader on the other end gets the bytes and
 * the path is still a FIFO afterwards. */
START_TEST(fifo_is_written_in_place)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/out.fifo", scratch);
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  int pipefd[2];
  ck_assert_int_eq(pipe(pipefd), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) { /* reader: copy what the FIFO delivers into the pipe */
    close(pipefd[0]);
    int fd = open(path, O_RDONLY);
    char b[64];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, b, sizeof b)) > 0)
      if (write(pipefd[1], b, (size_t)n) != n)
        _exit(1);
    _exit(fd >= 0 ? 0 : 1);
  }
  close(pipefd[1]);
  char err[512] = "";
  int rc = sdq_write_file_bytes(path, "through", 7, err, sizeof err);
  char got[64] = "";
  ssize_t n = read(pipefd[0], got, sizeof got - 1);
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_int_eq(n, 7);
  ck_assert_str_eq(got, "through");
  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert_msg(S_ISFIFO(sb.st_mode), "the FIFO %s was replaced", path);
}
END_TEST

/* A copy of /dev/null made with mknod stays a device node. Making it needs
 * root; without root the test says so and checks nothing. */
START_TEST(device_node_is_written_in_place)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/null", scratch);
  if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) != 0) {
    fprintf(stderr, "device_node_is_written_in_place: not checked, mknod failed: %s\n",
            strerror(errno));
    return;
  }
  char err[512] = "";
  ck_assert_msg(sdq_write_file_bytes(path, "gone", 4, err, sizeof err) == 0, "%s", err);
  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert_msg(S_ISCHR(sb.st_mode), "the device node %s was replaced", path);
}
END_TEST

/* A directory is rejected with a message that names its kind. */
START_TEST(directory_rejected)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/out.dir", scratch);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  char err[512] = "";
  ck_assert_int_eq(sdq_write_file_bytes(path, "x", 1, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a regular file") && strstr(err, "directory"),
                "unclear message: %s", err);
  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert(S_ISDIR(sb.st_mode));
}
END_TEST

/* "-" writes to standard output (redirected here to a file). */
START_TEST(dash_writes_stdout)
{
  char path[4200], buf[64];
  snprintf(path, sizeof path, "%s/stdout.txt", scratch);
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  dup2(fd, STDOUT_FILENO);
  close(fd);
  char err[512] = "";
  int rc = sdq_write_file_bytes("-", "dash", 4, err, sizeof err);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  ck_assert_msg(rc == 0, "%s", err);
  read_text(path, buf, sizeof buf);
  ck_assert_str_eq(buf, "dash");
  struct stat sb;
  ck_assert_int_ne(lstat("-", &sb), 0); /* no file named "-" was made */
}
END_TEST

static void make_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

/* Only "<target>.tmp.<PID>.<N>" files of a PID that is not running go; the
 * names and sizes of the removed files are reported. */
START_TEST(stale_temps_of_dead_processes_removed)
{
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(child, NULL, 0), child);

  char target[4200], dead[4300], mine[4300], parent[4300], other[4300], odd[4300];
  snprintf(target, sizeof target, "%s/ck.safetensors", scratch);
  snprintf(dead, sizeof dead, "%s.tmp.%ld.3", target, (long)child);
  snprintf(mine, sizeof mine, "%s.tmp.%ld.0", target, (long)getpid());
  snprintf(parent, sizeof parent, "%s.tmp.%ld.0", target, (long)getppid());
  snprintf(other, sizeof other, "%s/other.json.tmp.%ld.3", scratch, (long)child);
  snprintf(odd, sizeof odd, "%s.tmp.%ld.3x", target, (long)child);
  make_file(dead, "12345");
  make_file(mine, "a");
  make_file(parent, "b");
  make_file(other, "c");
  make_file(odd, "d");

  char removed[256], err[512] = "";
  unsigned long long bytes = 0;
  ck_assert_int_eq(sdq_remove_stale_temps(target, removed, sizeof removed, &bytes, err,
                                          sizeof err), 1);
  ck_assert_str_eq(removed, strrchr(dead, '/') + 1);
  ck_assert_uint_eq(bytes, 5);
  struct stat sb;
  ck_assert_int_ne(lstat(dead, &sb), 0);
  ck_assert_int_eq(lstat(mine, &sb), 0);
  ck_assert_int_eq(lstat(parent, &sb), 0);
  ck_assert_int_eq(lstat(other, &sb), 0);
  ck_assert_int_eq(lstat(odd, &sb), 0);

  snprintf(target, sizeof target, "%s/missing/ck.safetensors", scratch);
  ck_assert_int_eq(sdq_remove_stale_temps(target, NULL, 0, NULL, err, sizeof err), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train_files");
  TCase *tc = tcase_create("write");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, regular_file_is_replaced);
  tcase_add_test(tc, symlink_is_kept_and_target_written);
  tcase_add_test(tc, dangling_symlink_rejected);
  tcase_add_test(tc, fifo_is_written_in_place);
  tcase_add_test(tc, device_node_is_written_in_place);
  tcase_add_test(tc, directory_rejected);
  tcase_add_test(tc, dash_writes_stdout);
  tcase_add_test(tc, stale_temps_of_dead_processes_removed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
