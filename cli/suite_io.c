/* suite_io.c - atomic writes of raw bytes and in-memory text buffers for
 * the suite's report. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/suite.h"

int sdq_write_file_atomic(const char *path, const void *data, size_t len,
                          char *err, size_t errlen) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }

  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    return -1;
  }
  int ok = fwrite(data, 1, len, f) == len;
  ok = (fflush(f) == 0) && ok;
  ok = (fsync(fileno(f)) == 0 || errno == EINVAL) && ok;
  if (fclose(f) != 0)
    ok = 0;
  if (!ok) {
    snprintf(err, errlen, "%s: write failed: %s (is the disk full?)", tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }

  if (rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

int sdq_buf_printf(sdq_buf *b, const char *fmt, ...) {
  if (b->failed)
    return -1;

  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) {
    b->failed = 1;
    return -1;
  }

  if (b->len + (size_t)need + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + (size_t)need + 1)
      cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
      b->failed = 1;
      return -1;
    }
    b->data = data;
    b->cap = cap;
  }

  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)need;
  return 0;
}

void sdq_buf_free(sdq_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}
