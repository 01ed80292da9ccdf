/* qgemv_avx512.h - AVX-512 qgemm_f32_nt for one row of A (the decode GEMV):
 * C[0, n] = beta * C[0, n] + scale[n] * sum_k x[k] * q[n, k], streaming every
 * packed W byte once.
 *
 * Each 64-byte chunk of a packed row is loaded once and its values are taken
 * slot by slot (qgemv_common.h) against the permuted activation row xp:
 *   2 and 4 bits: vpermps with a 16-entry table; it reads only the low 4
 *                 bits of each dword, so shifting the dword right by
 *                 cbits * s selects slot s with no mask, and the table
 *                 returns q = u - offset directly (for 2 bits the table
 *                 ignores the neighbouring field in bits 2..3).
 *   8 bits:       u XOR 0x80 is q as a signed byte; vpshufb moves byte s of
 *                 each dword to its top byte with zeros below, which
 *                 converts to q * 2^24 exactly, and xp is built with the
 *                 factor 2^-24 so that each product is x * q.
 * NOTE: 6 bits (two sub-layouts per group) is left to the caller's general
 * path, which unpacks each group to bytes first and took twice as long as
 * this 8-bit path for 768 x 3072 on one core of the 2-core EPYC.
 * Four W rows share each xp load; the per-channel scale is applied once per
 * row at the end.
 *
 * Include after <immintrin.h> and sdq_pack.h, in a file compiled with
 * AVX-512 F/BW. Every function is static.
 */
#ifndef SDQ_QGEMV_AVX512_H
#define SDQ_QGEMV_AVX512_H

#include <immintrin.h>

#include "qgemv_common.h"

/* W rows per register block. */
#ifndef QGEMV512_ROWS
#define QGEMV512_ROWS 4
#endif

/* Below this many packed bytes the GEMV runs on one thread: waking the team
 * costs more than the second core's share of the bandwidth saves. */
#define QGEMV512_PARALLEL_MIN_BYTES (128 * 1024)

/* Software prefetch distance in bytes. A block of rows is one contiguous
 * stretch of memory, but the kernel reads its rows side by side; prefetching
 * that stretch in address order keeps the DRAM stream sequential. */
#ifndef QGEMV512_PREFETCH_BYTES
#define QGEMV512_PREFETCH_BYTES 8192
#endif

/* Returns the 16 values of slot s (see the file comment) of chunk w, which
 * for 8 bits has already been XORed with 0x80. */
static inline __attribute__((always_inline)) __m512
qgemv512_slot(__m512i w, int s, int cbits, __m512 table) {
  if (cbits == 8) {
    /* per 128-bit lane: dword j takes byte 4 j + s into its top byte */
    const __m512i ctrl = _mm512_add_epi32(
        _mm512_set4_epi32(0x0c808080, 0x08808080, 0x04808080, 0x00808080),
        _mm512_set1_epi32(s << 24));
    return _mm512_cvtepi32_ps(_mm512_shuffle_epi8(w, ctrl));
  }
  const __m512i idx = s == 0 ? w : _mm512_srli_epi32(w, (unsigned)(cbits * s));
  return _mm512_permutexvar_ps(idx, table);
}

/* Writes xp as qgemv_permute_x does for 16-dword vectors, one gather per
 * slot of every chunk. */
static inline __attribute__((always_inline)) void
qgemv512_permute_x(const float *x, int K, int cbits, float prescale,
                   float *xp) {
  const int F = 8 / cbits, S = 32 / cbits, G = 8 * cbits;
  const int chunk_values = 64 * F;
  const int chunks = (int)(qgemv_xp_floats(K, cbits, 16) / (size_t)chunk_values);
  int32_t idx[16 * 16];
  for (int s = 0; s < S; s++)
    for (int d = 0; d < 16; d++) {
      const int p = 4 * d + s / F;
      idx[16 * s + d] = 64 * (p / G) + G * (s % F) + p % G;
    }

  const __m512 scale = _mm512_set1_ps(prescale);
  for (int c = 0; c < chunks; c++) {
    const int k0 = c * chunk_values; /* < K: chunks start inside the row */
    const __m512i left = _mm512_set1_epi32(K - k0);
    for (int s = 0; s < S; s++) {
      const __m512i vi = _mm512_loadu_si512(idx + 16 * s);
      const __mmask16 in = _mm512_cmplt_epi32_mask(vi, left);
      const __m512 v =
          _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, vi, x + k0, 4);
      _mm512_store_ps(xp + ((size_t)c * S + s) * 16, _mm512_mul_ps(v, scale));
    }
  }
}

/* Accumulates one chunk (loaded as wv[0..R)) of R rows into acc. */
static inline __attribute__((always_inline)) void
qgemv512_chunk(const float *xc, const __m512i *wv, int R, int cbits,
               __m512 table, __m512 acc[2][QGEMV512_ROWS]) {
  const int S = 32 / cbits;
  __m512i w[QGEMV512_ROWS];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
    w[r] = cbits == 8 ? _mm512_xor_si512(wv[r], _mm512_set1_epi8((char)0x80))
                      : wv[r];
#pragma GCC unroll 16
  for (int s = 0; s < S; s++) {
    const __m512 xv = _mm512_load_ps(xc + 16 * s);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
      acc[s & 1][r] =
          _mm512_fmadd_ps(xv, qgemv512_slot(w[r], s, cbits, table),
                          acc[s & 1][r]);
  }
}

/* dot[r] = sum_k x[k] * q[r, k] for the R (1..4) consecutive packed rows
 * starting at w. */
static inline __attribute__((always_inline)) void
qgemv512_block(const float *xp, const uint8_t *w, size_t row_bytes, int R,
               int cbits, __m512 table, float dot[QGEMV512_ROWS]) {
  const int S = 32 / cbits;
  const size_t chunks = row_bytes / 64;
  const unsigned tail = (unsigned)(row_bytes % 64);
  __m512 acc[2][QGEMV512_ROWS];
#pragma GCC unroll 4
  for (int r = 0; r < QGEMV512_ROWS; r++)
    acc[0][r] = acc[1][r] = _mm512_setzero_ps();

  size_t c = 0;
  for (; c < chunks; c++) {
    __m512i wv[QGEMV512_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      if (QGEMV512_PREFETCH_BYTES > 0)
        _mm_prefetch((const char *)w + QGEMV512_PREFETCH_BYTES +
                         64 * ((size_t)R * c + (size_t)r),
                     _MM_HINT_T0);
      wv[r] = _mm512_loadu_si512(w + (size_t)r * row_bytes + 64 * c);
    }
    qgemv512_chunk(xp + c * (size_t)(16 * S), wv, R, cbits, table, acc);
  }
  if (tail != 0) {
    /* 2 and 4 bits only; the zero bytes past the row meet zeros of xp */
    const __mmask16 mask = (__mmask16)((1u << (tail / 4)) - 1u);
    __m512i wv[QGEMV512_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
      wv[r] = _mm512_maskz_loadu_epi32(mask,
                                       w + (size_t)r * row_bytes + 64 * c);
    qgemv512_chunk(xp + c * (size_t)(16 * S), wv, R, cbits, table, acc);
  }

#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
    dot[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][r], acc[1][r]));
}

/* dot[0..R) for the R (1..4) rows starting at w, with cbits a constant in
 * each branch (the OpenMP body below is outlined before inlining, so a
 * cbits passed through it would stay a variable). */
static inline void qgemv512_block_any(const float *xp, const uint8_t *w,
                                      size_t row_bytes, int R, int cbits,
                                      __m512 table,
                                      float dot[QGEMV512_ROWS]) {
#define QGEMV512_CASE(cb)                                                      \
  if (R == QGEMV512_ROWS)                                                      \
    qgemv512_block(xp, w, row_bytes, QGEMV512_ROWS, cb, table, dot);           \
  else                                                                         \
    for (int r = 0; r < R; r++)                                                \
      qgemv512_block(xp, w + (size_t)r * row_bytes, row_bytes, 1, cb, table,   \
                     dot + r);
  switch (cbits) {
  case 2: QGEMV512_CASE(2) break;
  case 4: QGEMV512_CASE(4) break;
  default: QGEMV512_CASE(8) break;
  }
#undef QGEMV512_CASE
}

/* The one-row GEMV over all W rows for container width cbits (2, 4, 8). */
static void qgemv512_rows(const float *xp, const sdq_qmatrix *W, float beta,
                          float *C, int cbits) {
  const int N = W->rows;
  const size_t row_bytes = sdq_packed_row_bytes(W->cols, W->bits);
  const int blocks = (N + QGEMV512_ROWS - 1) / QGEMV512_ROWS;
  const int offset = 1 << (cbits - 1);
  __m512 table = _mm512_setzero_ps();
  if (cbits != 8) {
    float t[16];
    for (int i = 0; i < 16; i++)
      t[i] = (float)((i & ((1 << cbits) - 1)) - offset);
    table = _mm512_loadu_ps(t);
  }

#pragma omp parallel for schedule(static) \
    if ((double)N * (double)row_bytes >= QGEMV512_PARALLEL_MIN_BYTES)
  for (int blk = 0; blk < blocks; blk++) {
    const int n0 = blk * QGEMV512_ROWS;
    const int R = N - n0 < QGEMV512_ROWS ? N - n0 : QGEMV512_ROWS;
    float dot[QGEMV512_ROWS];
    qgemv512_block_any(xp, W->packed + (size_t)n0 * row_bytes, row_bytes, R,
                       cbits, table, dot);
    for (int r = 0; r < R; r++) {
      const float t = W->scale[n0 + r] * dot[r];
      C[n0 + r] = beta == 0.0f ? t : beta * C[n0 + r] + t;
    }
  }
}

/* qgemm_f32_nt for M == 1: C[0, 0..N) from x[0..K). Returns 0, or -1 without
 * touching C when it does not handle W (6-bit containers) or the xp buffer
 * cannot be allocated; the caller then runs its general path. */
static int qgemv_f32_nt_avx512(const float *x, const sdq_qmatrix *W,
                               float beta, float *C) {
  const int cbits = sdq_pack_container_bits(W->bits);
  if (cbits == 6)
    return -1;
  const size_t need = qgemv_xp_floats(W->cols, cbits, 16);
  float stack_xp[QGEMV_XP_STACK_FLOATS] __attribute__((aligned(64)));
  float *xp = need <= QGEMV_XP_STACK_FLOATS
                  ? stack_xp
                  : aligned_alloc(64, need * sizeof(float));
  if (xp == NULL)
    return -1;

  switch (cbits) {
  case 2:
    qgemv512_permute_x(x, W->cols, 2, 1.0f, xp);
    qgemv512_rows(xp, W, beta, C, 2);
    break;
  case 4:
    qgemv512_permute_x(x, W->cols, 4, 1.0f, xp);
    qgemv512_rows(xp, W, beta, C, 4);
    break;
  default:
    qgemv512_permute_x(x, W->cols, 8, 0x1p-24f, xp);
    qgemv512_rows(xp, W, beta, C, 8);
    break;
  }

  if (xp != stack_xp)
    free(xp);
  return 0;
}

#endif /* SDQ_QGEMV_AVX512_H */
