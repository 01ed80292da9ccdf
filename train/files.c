/* files.c - atomic JSON writes and folder creation (see files.h). */
#include "config.h"

#include "train/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sdq_json_write_file(const char *path, const json_t *value, char *err, size_t errlen) {
  char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  if (!text) {
    snprintf(err, errlen, "%s: could not serialise the JSON (out of memory)", path);
    return -1;
  }
  size_t len = strlen(text);
  size_t plen = strlen(path) + 32;
  char *tmp = malloc(plen);
  if (!tmp) {
    free(text);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  int ok = fd >= 0;
  if (ok)
    ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
  if (ok)
    ok = fsync(fd) == 0;
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = 0;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp);
    snprintf(err, errlen, "%s: could not write the file: %s", path, strerror(saved));
  }
  free(tmp);
  free(text);
  return ok ? 0 : -1;
}

int sdq_mkdir_p(const char *path, char *err, size_t errlen) {
  char *p = strdup(path);
  if (!p) {
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c != '/' && c != '\0')
      continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "%s: could not create the folder: %s", p, strerror(errno));
      free(p);
      return -1;
    }
    *s = c;
    if (c == '\0')
      break;
  }
  free(p);
  return 0;
}
