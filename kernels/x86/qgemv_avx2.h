/* qgemv_avx2.h - AVX2 qgemm_f32_nt for one row of A (the decode GEMV):
 * C[0, n] = beta * C[0, n] + scale[n] * sum_k x[k] * q[n, k], streaming every
 * packed W byte once.
 *
 * Each 32-byte chunk of a packed row is loaded once. Its fields are first
 * turned into signed bytes q, one vector per field position f: a shift and
 * a mask isolate the field and vpshufb looks up q = u - offset (8 bits only
 * flip the top bit). Slot s of the chunk (qgemv_common.h) is then byte
 * b = s / F of every dword of field vector f = s % F: vpshufb moves it to
 * the top byte with zeros below, which converts to q * 2^24 exactly, and xp
 * is built with the factor 2^-24 so that each product is x * q. (vpermps on
 * ymm reads only 3 index bits, too few for a 16-entry table.)
 * NOTE: 6 bits (two sub-layouts per group) is left to the caller's general
 * path, which unpacks each group to bytes first and took 6 times as long as
 * this 8-bit path for 768 x 3072 on one core of the 2-core EPYC.
 * Four W rows share a block; the per-channel scale is applied once per row.
 *
 * Include after <immintrin.h> and sdq_pack.h, in a file compiled with AVX2
 * and FMA. Every function is static.
 */
#ifndef SDQ_QGEMV_AVX2_H
#define SDQ_QGEMV_AVX2_H

#include <immintrin.h>

#include "qgemv_common.h"

/* W rows per block. */
#define QGEMV256_ROWS 4

/* Below this many packed bytes the GEMV runs on one thread: waking the team
 * costs more than the second core's share of the bandwidth saves. */
#define QGEMV256_PARALLEL_MIN_BYTES (128 * 1024)

/* Software prefetch distance in bytes, in address order over the block (the
 * rows of a block are read side by side). */
#define QGEMV256_PREFETCH_BYTES 8192

/* Accumulates one chunk w of one row into acc[0..1]. */
static inline __attribute__((always_inline)) void
qgemv256_chunk(const float *xc, __m256i w, int cbits, __m256i table,
               __m256 acc[2]) {
  const int F = 8 / cbits, S = 32 / cbits;
  const __m256i field_mask = _mm256_set1_epi8((char)((1 << cbits) - 1));
  __m256i q[4];
  if (cbits == 8) {
    q[0] = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80));
  } else {
#pragma GCC unroll 4
    for (int f = 0; f < F; f++) {
      const __m256i u = _mm256_and_si256(
          f == 0 ? w : _mm256_srli_epi16(w, cbits * f), field_mask);
      q[f] = _mm256_shuffle_epi8(table, u);
    }
  }
#pragma GCC unroll 16
  for (int s = 0; s < S; s++) {
    /* per 128-bit lane: dword j takes byte 4 j + b into its top byte */
    const __m256i ctrl = _mm256_add_epi32(
        _mm256_setr_epi32(0x00808080, 0x04808080, 0x08808080, 0x0c808080,
                          0x00808080, 0x04808080, 0x08808080, 0x0c808080),
        _mm256_set1_epi32((s / F) << 24));
    const __m256 v = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(q[s % F], ctrl));
    acc[s & 1] = _mm256_fmadd_ps(_mm256_load_ps(xc + 8 * s), v, acc[s & 1]);
  }
}

/* dot[r] = sum_k x[k] * q[r, k] for the R (1..4) consecutive packed rows
 * starting at w. */
static inline __attribute__((always_inline)) void
qgemv256_block(const float *xp, const uint8_t *w, size_t row_bytes, int R,
               int cbits, __m256i table, float dot[QGEMV256_ROWS]) {
  const int S = 32 / cbits;
  const size_t chunks = row_bytes / 32;
  __m256 acc[QGEMV256_ROWS][2];
#pragma GCC unroll 4
  for (int r = 0; r < QGEMV256_ROWS; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();

  size_t c = 0;
  for (; c < chunks; c++) {
    const float *xc = xp + c * (size_t)(8 * S);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      _mm_prefetch((const char *)w + QGEMV256_PREFETCH_BYTES +
                       32 * ((size_t)R * c + (size_t)r),
                   _MM_HINT_T0);
      const __m256i wv = _mm256_loadu_si256(
          (const __m256i *)(w + (size_t)r * row_bytes + 32 * c));
      qgemv256_chunk(xc, wv, cbits, table, acc[r]);
    }
  }
  if (row_bytes % 32 != 0) {
    /* 2 bits with an odd number of groups: the upper 16 bytes are zero and
     * meet zeros of xp */
    const float *xc = xp + c * (size_t)(8 * S);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m256i wv = _mm256_zextsi128_si256(_mm_loadu_si128(
          (const __m128i *)(w + (size_t)r * row_bytes + 32 * c)));
      qgemv256_chunk(xc, wv, cbits, table, acc[r]);
    }
  }

#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    const __m256 v = _mm256_add_ps(acc[r][0], acc[r][1]);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    dot[r] = _mm_cvtss_f32(h);
  }
}

/* dot[0..R) for the R (1..4) rows starting at w, with cbits a constant in
 * each branch (the OpenMP body below is outlined before inlining, so a
 * cbits passed through it would stay a variable). */
static inline void qgemv256_block_any(const float *xp, const uint8_t *w,
                                      size_t row_bytes, int R, int cbits,
                                      __m256i table,
                                      float dot[QGEMV256_ROWS]) {
#define QGEMV256_CASE(cb)                                                      \
  if (R == QGEMV256_ROWS)                                                      \
    qgemv256_block(xp, w, row_bytes, QGEMV256_ROWS, cb, table, dot);           \
  else                                                                         \
    for (int r = 0; r < R; r++)                                                \
      qgemv256_block(xp, w + (size_t)r * row_bytes, row_bytes, 1, cb, table,   \
                     dot + r);
  switch (cbits) {
  case 2: QGEMV256_CASE(2) break;
  case 4: QGEMV256_CASE(4) break;
  default: QGEMV256_CASE(8) break;
  }
#undef QGEMV256_CASE
}

/* The one-row GEMV over all W rows for container width cbits (2, 4, 8). */
static void qgemv256_rows(const float *xp, const sdq_qmatrix *W, float beta,
                          float *C, int cbits) {
  const int N = W->rows;
  const size_t row_bytes = sdq_packed_row_bytes(W->cols, W->bits);
  const int blocks = (N + QGEMV256_ROWS - 1) / QGEMV256_ROWS;
  const int offset = 1 << (cbits - 1);
  int8_t t[32];
  for (int i = 0; i < 32; i++)
    t[i] = (int8_t)((i & 15 & ((1 << cbits) - 1)) - offset);
  const __m256i table = _mm256_loadu_si256((const __m256i *)t);

#pragma omp parallel for schedule(static) \
    if ((double)N * (double)row_bytes >= QGEMV256_PARALLEL_MIN_BYTES)
  for (int blk = 0; blk < blocks; blk++) {
    const int n0 = blk * QGEMV256_ROWS;
    const int R = N - n0 < QGEMV256_ROWS ? N - n0 : QGEMV256_ROWS;
    float dot[QGEMV256_ROWS];
    qgemv256_block_any(xp, W->packed + (size_t)n0 * row_bytes, row_bytes, R,
                       cbits, table, dot);
    for (int r = 0; r < R; r++) {
      const float v = W->scale[n0 + r] * dot[r];
      C[n0 + r] = beta == 0.0f ? v : beta * C[n0 + r] + v;
    }
  }
}

/* qgemm_f32_nt for M == 1: C[0, 0..N) from x[0..K). Returns 0, or -1 without
 * touching C when it does not handle W (6-bit containers) or the xp buffer
 * cannot be allocated; the caller then runs its general path. */
static int qgemv_f32_nt_avx2(const float *x, const sdq_qmatrix *W, float beta,
                             float *C) {
  const int cbits = sdq_pack_container_bits(W->bits);
  if (cbits == 6)
    return -1;
  const size_t need = qgemv_xp_floats(W->cols, cbits, 8);
  float stack_xp[QGEMV_XP_STACK_FLOATS] __attribute__((aligned(64)));
  float *xp = need <= QGEMV_XP_STACK_FLOATS
                  ? stack_xp
                  : aligned_alloc(64, need * sizeof(float));
  if (xp == NULL)
    return -1;

  switch (cbits) {
  case 2: qgemv_permute_x(x, W->cols, 2, 8, 0x1p-24f, xp); break;
  case 4: qgemv_permute_x(x, W->cols, 4, 8, 0x1p-24f, xp); break;
  default: qgemv_permute_x(x, W->cols, 8, 8, 0x1p-24f, xp); break;
  }
  qgemv256_rows(xp, W, beta, C, cbits);

  if (xp != stack_xp)
    free(xp);
  return 0;
}

#endif /* SDQ_QGEMV_AVX2_H */
