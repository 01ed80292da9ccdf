/* suite_io.c - file writes of raw bytes and in-memory text buffers for
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
  return sdq_write_file_bytes(path, data, len, err, errlen);
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
