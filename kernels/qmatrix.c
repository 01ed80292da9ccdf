/* qmatrix.c - per-channel quantized, packed weight matrices (sdq_qmatrix). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmatrix_strips.h"
#include "scalar/quant_scalar.h"
#include "sdq_kernels.h"
#include "sdq_pack.h"

/* Rows quantized per pass of sdq_qmatrix_init (bounds its int8 buffer). */
#define QMATRIX_CHUNK_ROWS 64

int sdq_qmax(int bits) {
  if (bits < 2 || bits > 8)
    return 0;
  return (1 << (bits - 1)) - 1;
}

/* Finds the first NaN/inf of w; returns 1 and sets *row, *col, else 0. */
static int find_nonfinite(const float *w, int rows, int cols, int ld, int *row,
                          int *col) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      if (sdq_nonfinite(w[(size_t)r * (size_t)ld + c])) {
        *row = r;
        *col = c;
        return 1;
      }
  return 0;
}

int sdq_qmatrix_init(sdq_qmatrix *m, const float *w, int rows, int cols,
                     int ld, int bits, char *err, size_t errlen) {
  memset(m, 0, sizeof(*m));
  if (sdq_qmax(bits) == 0) {
    snprintf(err, errlen,
             "sdq_qmatrix_init: bits = %d is outside the supported range 2..8",
             bits);
    return -1;
  }
  if (rows <= 0 || cols <= 0 || ld < cols) {
    snprintf(err, errlen,
             "sdq_qmatrix_init: invalid shape rows = %d, cols = %d, ld = %d "
             "(need rows > 0, cols > 0, ld >= cols)",
             rows, cols, ld);
    return -1;
  }
  if (cols > SDQ_QMATRIX_MAX_COLS) {
    snprintf(err, errlen,
             "sdq_qmatrix_init: cols = %d exceeds the maximum %d of the "
             "int32 integer GEMM; split the matrix along K",
             cols, SDQ_QMATRIX_MAX_COLS);
    return -1;
  }
  int bad_row, bad_col;
  if (find_nonfinite(w, rows, cols, ld, &bad_row, &bad_col)) {
    snprintf(err, errlen,
             "sdq_qmatrix_init: weight at row %d, column %d is %g; a weight "
             "matrix must be finite",
             bad_row, bad_col, (double)w[(size_t)bad_row * (size_t)ld + bad_col]);
    return -1;
  }

  const size_t row_bytes = sdq_packed_row_bytes(cols, bits);
  const size_t total = sdq_packed_bytes(rows, cols, bits);
  m->packed = aligned_alloc(64, (total + 63) / 64 * 64);
  m->scale = malloc((size_t)rows * sizeof(float));
  m->qsum = malloc((size_t)rows * sizeof(int32_t));
  int8_t *q = malloc((size_t)QMATRIX_CHUNK_ROWS * (size_t)cols);
  if (m->packed == NULL || m->scale == NULL || m->qsum == NULL || q == NULL) {
    free(q);
    sdq_qmatrix_free(m);
    snprintf(err, errlen,
             "sdq_qmatrix_init: out of memory for a %d x %d matrix at %d bits",
             rows, cols, bits);
    return -1;
  }
  m->rows = rows;
  m->cols = cols;
  m->bits = bits;

  for (int r0 = 0; r0 < rows; r0 += QMATRIX_CHUNK_ROWS) {
    const int n = rows - r0 < QMATRIX_CHUNK_ROWS ? rows - r0 : QMATRIX_CHUNK_ROWS;
    sdq_kernels()->quantize_rows(w + (size_t)r0 * (size_t)ld, n, cols, ld, bits,
                                 q, m->scale + r0);
    for (int r = 0; r < n; r++) {
      const int8_t *qr = q + (size_t)r * (size_t)cols;
      int32_t sum = 0;
      for (int c = 0; c < cols; c++)
        sum += qr[c];
      m->qsum[r0 + r] = sum;
      sdq_pack_row(qr, cols, bits, m->packed + (size_t)(r0 + r) * row_bytes);
    }
  }
  free(q);
  return 0;
}

void sdq_qmatrix_free(sdq_qmatrix *m) {
  if (m == NULL)
    return;
  free(m->packed);
  free(m->scale);
  free(m->qsum);
  free(m->i8_strips);
  memset(m, 0, sizeof(*m));
}

void sdq_qmatrix_dequantize(const sdq_qmatrix *m, float *w) {
  const size_t row_bytes = sdq_packed_row_bytes(m->cols, m->bits);
  int8_t q[SDQ_QMATRIX_MAX_COLS];
  for (int r = 0; r < m->rows; r++) {
    float *wr = w + (size_t)r * (size_t)m->cols;
    sdq_unpack_row(m->packed + (size_t)r * row_bytes, m->cols, m->bits, q);
    for (int c = 0; c < m->cols; c++)
      wr[c] = m->scale[r] * (float)q[c];
  }
}

/* Below this many weights the strips are built on one thread. */
#define STRIPS_PARALLEL_MIN (1 << 20)

const uint8_t *sdq_qmatrix_i8_strips(const sdq_qmatrix *m) {
  uint8_t *strips = __atomic_load_n(&m->i8_strips, __ATOMIC_ACQUIRE);
  if (strips != NULL)
    return strips;

  const int N = m->rows, Kp = sdq_pack_cols_padded(m->cols);
  const int nstrips = (N + SDQ_I8_STRIP_N - 1) / SDQ_I8_STRIP_N;
  const size_t strip_bytes = (size_t)Kp * SDQ_I8_STRIP_N;
  const size_t row_bytes = sdq_packed_row_bytes(m->cols, m->bits);
  const size_t group_bytes = sdq_packed_group_bytes(m->bits);
  strips = aligned_alloc(64, strip_bytes * (size_t)nstrips);
  if (strips == NULL)
    return NULL;

  /* byte (kk * 48 + c) * 4 + b of a strip is column 4 kk + b of channel c;
   * one group of 64 columns fills kk = 16 g .. 16 g + 15 */
#pragma omp parallel for schedule(static) \
    if ((double)N * Kp >= STRIPS_PARALLEL_MIN)
  for (int s = 0; s < nstrips; s++) {
    uint8_t *dst = strips + strip_bytes * (size_t)s;
    for (int c = 0; c < SDQ_I8_STRIP_N; c++) {
      const int n = s * SDQ_I8_STRIP_N + c;
      for (int g = 0; g < Kp / SDQ_PACK_GROUP; g++) {
        uint8_t u[SDQ_PACK_GROUP];
        if (n < N)
          sdq_unpack_group_u8(m->packed + (size_t)n * row_bytes +
                                  (size_t)g * group_bytes,
                              m->bits, u);
        else
          memset(u, 0, sizeof(u));
        for (int q = 0; q < SDQ_PACK_GROUP / 4; q++)
          memcpy(dst + ((size_t)(16 * g + q) * SDQ_I8_STRIP_N + c) * 4,
                 u + 4 * q, 4);
      }
    }
  }

  /* the cache is logically part of the const matrix: publish it once */
  uint8_t *expected = NULL;
  if (!__atomic_compare_exchange_n(&((sdq_qmatrix *)m)->i8_strips, &expected,
                                   strips, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    free(strips);
    return expected;
  }
  return strips;
}

/* The kept workspace: a 64-byte header containing the usable size, then
 * the buffer handed out. Larger buffers are freed rather than kept. */
static void *i8_spare;
#define I8_SPARE_MAX_BYTES ((size_t)32 << 20)

void *sdq_i8_workspace_take(size_t bytes) {
  uint8_t *block = __atomic_exchange_n(&i8_spare, NULL, __ATOMIC_ACQ_REL);
  if (block != NULL) {
    size_t size;
    memcpy(&size, block, sizeof(size));
    if (size >= bytes)
      return block + 64;
    free(block);
  }
  const size_t size = (bytes + 63) / 64 * 64;
  block = aligned_alloc(64, size + 64);
  if (block == NULL)
    return NULL;
  memcpy(block, &size, sizeof(size));
  return block + 64;
}

void sdq_i8_workspace_give(void *p) {
  if (p == NULL)
    return;
  uint8_t *block = (uint8_t *)p - 64;
  size_t size;
  memcpy(&size, block, sizeof(size));
  if (size > I8_SPARE_MAX_BYTES) {
    free(block);
    return;
  }
  uint8_t *old = __atomic_exchange_n(&i8_spare, block, __ATOMIC_ACQ_REL);
  if (old != NULL) {
    /* keep the larger of the two */
    size_t a, b;
    memcpy(&a, block, sizeof(a));
    memcpy(&b, old, sizeof(b));
    if (b > a) {
      uint8_t *back = __atomic_exchange_n(&i8_spare, old, __ATOMIC_ACQ_REL);
      free(back);
    } else {
      free(old);
    }
  }
}
