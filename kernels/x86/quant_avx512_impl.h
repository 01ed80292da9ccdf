/* quant_avx512_impl.h - AVX-512 bodies of the quantization kernels, shared by
 * quant_avx512.c (vpmaddubsw dot products) and quant_avx512vnni.c (vpdpbusd).
 *
 * Include it once per file after defining SDQ_I8_VNNI to 0 or 1; every
 * function is static, so each file gets its own copy compiled with its own
 * -m flags.
 */
#ifndef SDQ_QUANT_AVX512_IMPL_H
#define SDQ_QUANT_AVX512_IMPL_H

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalar/quant_scalar.h"
#include "sdq_pack.h"
#include "x86/qgemv_avx512.h"

#define SDQ_INLINE static inline __attribute__((always_inline))

/* Rows of A per work item of the integer GEMM (they share the W tile). */
#define I8_M_BLOCK 64

/* Below this many multiply-adds (or values, for quantization) a call runs
 * on one thread: waking the team costs more than it saves. */
#define QUANT_PARALLEL_MIN_WORK (1 << 21)

static inline __mmask16 tail_mask16(int n) {
  if (n <= 0)
    return 0;
  return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* ------------------------------------------------------- quantize_rows */

/* Returns max|x[0..cols)|, or NaN when the row contains NaN or +-inf. */
static float row_maxabs_avx512(const float *x, int cols) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 big = _mm512_set1_ps(FLT_MAX);
  __m512 m = _mm512_setzero_ps(), m1 = m, m2 = m, m3 = m;
  __mmask16 bad = 0;
  int k = 0;
  for (; k + 64 <= cols; k += 64) {
    const __m512 v0 = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + k));
    const __m512 v1 = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + k + 16));
    const __m512 v2 = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + k + 32));
    const __m512 v3 = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + k + 48));
    /* NaN compares unordered and +-inf exceeds FLT_MAX */
    bad |= _mm512_cmp_ps_mask(_mm512_max_ps(_mm512_max_ps(v0, v1),
                                            _mm512_max_ps(v2, v3)),
                              big, _CMP_NLE_UQ);
    bad |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
    bad |= _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
    m = _mm512_max_ps(m, v0);
    m1 = _mm512_max_ps(m1, v1);
    m2 = _mm512_max_ps(m2, v2);
    m3 = _mm512_max_ps(m3, v3);
  }
  m = _mm512_max_ps(_mm512_max_ps(m, m1), _mm512_max_ps(m2, m3));
  for (; k < cols; k += 16) {
    __m512 v = _mm512_maskz_loadu_ps(tail_mask16(cols - k), x + k);
    v = _mm512_andnot_ps(sign, v);
    bad |= _mm512_cmp_ps_mask(v, big, _CMP_NLE_UQ);
    m = _mm512_max_ps(m, v);
  }
  return bad ? NAN : _mm512_reduce_max_ps(m);
}

/* clamp(rint(x * inv), -qmax, qmax) in fp32, rounding in the current mode
 * exactly like rintf() in the scalar reference. */
SDQ_INLINE __m512 quantize_ps(__m512 x, __m512 inv, __m512 qmax) {
  const __m512 r =
      _mm512_roundscale_ps(_mm512_mul_ps(x, inv), _MM_FROUND_CUR_DIRECTION);
  return _mm512_max_ps(_mm512_min_ps(r, qmax),
                       _mm512_sub_ps(_mm512_setzero_ps(), qmax));
}

static void quantize_row_avx512(const float *x, int cols, float inv, int qmax,
                                int8_t *q) {
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 vqmax = _mm512_set1_ps((float)qmax);
  for (int k = 0; k < cols; k += 16) {
    const __mmask16 mask = tail_mask16(cols - k);
    const __m512 r = quantize_ps(_mm512_maskz_loadu_ps(mask, x + k), vinv, vqmax);
    _mm512_mask_cvtepi32_storeu_epi8(q + k, mask, _mm512_cvtps_epi32(r));
  }
}

static int quantize_rows_avx512(const float *x, int rows, int cols, int ld,
                                int bits, int8_t *q, float *scale) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    int8_t *qr = q + (size_t)r * (size_t)cols;
    const float maxabs = row_maxabs_avx512(xr, cols);
    if (isnan(maxabs)) {
      scale[r] = NAN;
      memset(qr, 0, (size_t)cols);
      bad++;
      continue;
    }
    float inv;
    sdq_row_scale(maxabs, qmax, &scale[r], &inv);
    quantize_row_avx512(xr, cols, inv, qmax, qr);
  }
  return bad;
}

/* Quantizes x[0..cols) per token to bits into q[0..cols_padded) (zeros past
 * cols), writes the row's scale (NaN for a row containing NaN or +-inf, whose
 * q are then 0) and returns the sum of the q. */
static int32_t quantize_row_sum_avx512(const float *x, int cols,
                                       int cols_padded, int bits, int8_t *q,
                                       float *scale) {
  const int qmax = sdq_qmax(bits);
  const float maxabs = row_maxabs_avx512(x, cols);
  if (isnan(maxabs)) {
    *scale = NAN;
    memset(q, 0, (size_t)cols_padded);
    return 0;
  }
  float inv;
  sdq_row_scale(maxabs, qmax, scale, &inv);
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 vqmax = _mm512_set1_ps((float)qmax);
  /* after two saturating packs (exact, because |q| <= 127) dword 4 L + j
   * of the result contains lane L of input j, and this order undoes that */
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                          14, 3, 7, 11, 15);
  __m512i sum = _mm512_setzero_si512();
  int k = 0;
  for (; k + 64 <= cols; k += 64) {
    __m512i v[4];
    for (int j = 0; j < 4; j++) {
      v[j] = _mm512_cvtps_epi32(
          quantize_ps(_mm512_loadu_ps(x + k + 16 * j), vinv, vqmax));
      sum = _mm512_add_epi32(sum, v[j]);
    }
    const __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]),
                                         _mm512_packs_epi32(v[2], v[3]));
    _mm512_storeu_si512(q + k, _mm512_permutexvar_epi32(order, b));
  }
  for (; k < cols; k += 16) {
    const __mmask16 mask = tail_mask16(cols - k);
    const __m512i v = _mm512_cvtps_epi32(
        quantize_ps(_mm512_maskz_loadu_ps(mask, x + k), vinv, vqmax));
    sum = _mm512_add_epi32(sum, v);
    _mm512_mask_cvtepi32_storeu_epi8(q + k, mask, v);
  }
  memset(q + cols, 0, (size_t)(cols_padded - cols));
  return _mm512_reduce_add_epi32(sum);
}

/* ----------------------------------------------------------- fake quant */

static int fake_quant_avx512(const float *x, int rows, int cols, int ld,
                             int bits, const float *scale_in, float *y,
                             float *scale_out) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  const __m512 vqmax = _mm512_set1_ps((float)qmax);
  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    float *yr = y + (size_t)r * (size_t)ld;
    float s, inv = 0.0f;
    const int row_bad = sdq_fake_quant_row_scale(
        row_maxabs_avx512(xr, cols), scale_in, r, qmax, &s, &inv);
    if (scale_out != NULL)
      scale_out[r] = s;
    if (row_bad) {
      for (int k = 0; k < cols; k++)
        yr[k] = NAN;
      bad++;
      continue;
    }

    const __m512 vs = _mm512_set1_ps(s), vinv = _mm512_set1_ps(inv);
    for (int k = 0; k < cols; k += 16) {
      const __mmask16 mask = tail_mask16(cols - k);
      const __m512 v =
          quantize_ps(_mm512_maskz_loadu_ps(mask, xr + k), vinv, vqmax);
      /* the round trip through int32 turns -0 into +0, as scale * q does */
      const __m512 qf = _mm512_cvtepi32_ps(_mm512_cvtps_epi32(v));
      _mm512_mask_storeu_ps(yr + k, mask, _mm512_mul_ps(vs, qf));
    }
  }
  return bad;
}

static void fake_quant_backward_avx512(const float *x, const float *dy,
                                       int rows, int cols, int ld, int bits,
                                       const float *scale, float *dx) {
  const int qmax = sdq_qmax(bits);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int r = 0; r < rows; r++) {
    const size_t off = (size_t)r * (size_t)ld;
    const __m512 limit = _mm512_set1_ps((float)qmax * scale[r]);
    for (int k = 0; k < cols; k += 16) {
      const __mmask16 mask = tail_mask16(cols - k);
      const __m512 ax =
          _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(mask, x + off + k));
      const __mmask16 pass = _mm512_cmp_ps_mask(ax, limit, _CMP_LE_OQ) & mask;
      _mm512_mask_storeu_ps(dx + off + k, mask,
                            _mm512_maskz_loadu_ps(pass, dy + off + k));
    }
  }
}

/* ------------------------------------------------------------ unpacking */

/* Returns the 64 unsigned fields u = q + offset of the packed group at src,
 * in k order, for the container width cbits (see sdq_pack.h). */
SDQ_INLINE __m512i unpack_u8_avx512(const uint8_t *src, int cbits) {
  const __m512i lo2 = _mm512_set1_epi8(0x03);
  const __m256i lo4 = _mm256_set1_epi8(0x0f);
  /* per-128-bit-lane shifts 0, 2, 4, 6 spread the 2-bit fields in k order */
  const __m512i shifts = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2,
                                          0, 0, 0, 0);
  if (cbits == 8)
    return _mm512_loadu_si512(src);

  __m512i nib = _mm512_setzero_si512(), two = _mm512_setzero_si512();
  if (cbits == 4 || cbits == 6) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)src);
    const __m256i lo = _mm256_and_si256(v, lo4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    nib = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    if (cbits == 4)
      return nib;
    src += 32;
  }
  const __m512i b =
      _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)src));
  two = _mm512_and_si512(_mm512_srlv_epi32(b, shifts), lo2);
  if (cbits == 2)
    return two;
  return _mm512_or_si512(nib, _mm512_slli_epi16(two, 4));
}

/* Converts the 64 fields of u to fp32 q = u - offset, 16 per vector. */
SDQ_INLINE void fields_to_ps(__m512i u, __m512i offset, __m512 f[4]) {
  f[0] = _mm512_cvtepi32_ps(_mm512_sub_epi32(
      _mm512_cvtepu8_epi32(_mm512_castsi512_si128(u)), offset));
  f[1] = _mm512_cvtepi32_ps(_mm512_sub_epi32(
      _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(u, 1)), offset));
  f[2] = _mm512_cvtepi32_ps(_mm512_sub_epi32(
      _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(u, 2)), offset));
  f[3] = _mm512_cvtepi32_ps(_mm512_sub_epi32(
      _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(u, 3)), offset));
}

/* ------------------------------------------------------ qgemm_f32_nt */

/* Dot products of mr (1..4) rows of A with one packed W row; the sums go to
 * out[0..mr). The last group loads A under a mask, so A is never read past
 * K. */
SDQ_INLINE void f32_nt_row(const float *A, int lda, int mr,
                           const uint8_t *wrow, int K, int cbits,
                           float out[4]) {
  const __m512i offset = _mm512_set1_epi32(1 << (cbits - 1));
  const size_t group_bytes = 8u * (size_t)cbits;
  __m512 acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = _mm512_setzero_ps();

  for (int k0 = 0; k0 < K; k0 += SDQ_PACK_GROUP, wrow += group_bytes) {
    __m512 f[4];
    fields_to_ps(unpack_u8_avx512(wrow, cbits), offset, f);
    if (k0 + SDQ_PACK_GROUP <= K) {
      for (int i = 0; i < mr; i++) {
        const float *a = A + (size_t)i * (size_t)lda + k0;
        for (int j = 0; j < 4; j++)
          acc[i][j] = _mm512_fmadd_ps(_mm512_loadu_ps(a + 16 * j), f[j],
                                      acc[i][j]);
      }
    } else {
      for (int i = 0; i < mr; i++) {
        const float *a = A + (size_t)i * (size_t)lda + k0;
        for (int j = 0; j < 4; j++)
          acc[i][j] = _mm512_fmadd_ps(
              _mm512_maskz_loadu_ps(tail_mask16(K - k0 - 16 * j), a + 16 * j),
              f[j], acc[i][j]);
      }
    }
  }

  for (int i = 0; i < mr; i++)
    out[i] = _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]),
                      _mm512_add_ps(acc[i][2], acc[i][3])));
}

SDQ_INLINE void f32_nt_impl(int M, const float *A, int lda,
                            const sdq_qmatrix *W, float beta, float *C,
                            int ldc, int cbits) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);

#pragma omp parallel for schedule(static) \
    if ((double)M * N * K >= QUANT_PARALLEL_MIN_WORK)
  for (int n = 0; n < N; n++) {
    const uint8_t *wrow = W->packed + (size_t)n * row_bytes;
    const float s = W->scale[n];
    for (int m0 = 0; m0 < M; m0 += 4) {
      const int mr = M - m0 < 4 ? M - m0 : 4;
      float out[4];
      if (mr == 4)
        f32_nt_row(A + (size_t)m0 * (size_t)lda, lda, 4, wrow, K, cbits, out);
      else
        f32_nt_row(A + (size_t)m0 * (size_t)lda, lda, mr, wrow, K, cbits, out);
      for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)(m0 + i) * (size_t)ldc + n;
        *c = beta == 0.0f ? s * out[i] : beta * *c + s * out[i];
      }
    }
  }
}

/* ------------------------------------------------- one row of A (GEMV) */

/* Converts the 16 int8 values of v to fp32. */
SDQ_INLINE __m512 i8x16_to_ps(__m128i v) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v));
}

/* Returns the signed q = u - offset of the packed group at src (the 8-bit
 * difference wraps to the right value for every container width). */
SDQ_INLINE __m512i unpack_q_avx512(const uint8_t *src, int cbits) {
  return _mm512_sub_epi8(unpack_u8_avx512(src, cbits),
                         _mm512_set1_epi8((char)(1 << (cbits - 1))));
}

/* Returns sum over k < K of a[k] * q[k] for one packed W row; four
 * independent accumulators keep the FMA latency hidden. */
SDQ_INLINE float f32_dot_packed(const float *a, const uint8_t *wrow, int K,
                                int cbits) {
  const size_t group_bytes = 8u * (size_t)cbits;
  __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
  int k0 = 0;
  for (; k0 + SDQ_PACK_GROUP <= K; k0 += SDQ_PACK_GROUP, wrow += group_bytes) {
    const __m512i q = unpack_q_avx512(wrow, cbits);
    c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k0),
                         i8x16_to_ps(_mm512_castsi512_si128(q)), c0);
    c1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k0 + 16),
                         i8x16_to_ps(_mm512_extracti32x4_epi32(q, 1)), c1);
    c2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k0 + 32),
                         i8x16_to_ps(_mm512_extracti32x4_epi32(q, 2)), c2);
    c3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k0 + 48),
                         i8x16_to_ps(_mm512_extracti32x4_epi32(q, 3)), c3);
  }
  if (k0 < K) {
    const __m512i q = unpack_q_avx512(wrow, cbits);
    const __m128i part[4] = {
        _mm512_castsi512_si128(q), _mm512_extracti32x4_epi32(q, 1),
        _mm512_extracti32x4_epi32(q, 2), _mm512_extracti32x4_epi32(q, 3)};
    for (int j = 0; j < 4; j++)
      c0 = _mm512_fmadd_ps(
          _mm512_maskz_loadu_ps(tail_mask16(K - k0 - 16 * j), a + k0 + 16 * j),
          i8x16_to_ps(part[j]), c0);
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)));
}

/* qgemm_f32_nt for one row of A: one dot product per W row, rows split over
 * the threads in contiguous ranges (memory-bound: each packed byte is read
 * once). */
SDQ_INLINE void f32_nt_gemv(const float *A, const sdq_qmatrix *W, float beta,
                            float *C, int cbits) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);

#pragma omp parallel for schedule(static) \
    if ((double)N * K >= QUANT_PARALLEL_MIN_WORK)
  for (int n = 0; n < N; n++) {
    const float t =
        W->scale[n] * f32_dot_packed(A, W->packed + (size_t)n * row_bytes, K,
                                     cbits);
    C[n] = beta == 0.0f ? t : beta * C[n] + t;
  }
}

/* Columns of C per work item of the one-row nn product: two groups, so a
 * 4-bit item reads whole 64-byte lines of every W row. */
#define NN_GEMV_COLS (2 * SDQ_PACK_GROUP)

/* qgemm_f32_nn for one row of A: C[0, k] = beta * C + sum_n A[n] * scale[n]
 * * q[n, k], with NN_GEMV_COLS columns per work item held in 8 registers
 * while every W row is walked. */
SDQ_INLINE void f32_nn_gemv(const float *A, const sdq_qmatrix *W, float beta,
                            float *C, int cbits) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  const size_t group_bytes = 8u * (size_t)cbits;
  const int items = (K + NN_GEMV_COLS - 1) / NN_GEMV_COLS;

#pragma omp parallel for schedule(static) \
    if ((double)N * K >= QUANT_PARALLEL_MIN_WORK)
  for (int it = 0; it < items; it++) {
    const int k0 = it * NN_GEMV_COLS;
    /* the second group exists in the packed row only when k0 + 64 < K */
    const int two = k0 + SDQ_PACK_GROUP < K;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    __m512 c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    const uint8_t *src =
        W->packed + (size_t)(k0 / SDQ_PACK_GROUP) * group_bytes;
    for (int n = 0; n < N; n++, src += row_bytes) {
      const __m512 coef = _mm512_set1_ps(A[n] * W->scale[n]);
      const __m512i q = unpack_q_avx512(src, cbits);
      c0 = _mm512_fmadd_ps(coef, i8x16_to_ps(_mm512_castsi512_si128(q)), c0);
      c1 = _mm512_fmadd_ps(coef, i8x16_to_ps(_mm512_extracti32x4_epi32(q, 1)),
                           c1);
      c2 = _mm512_fmadd_ps(coef, i8x16_to_ps(_mm512_extracti32x4_epi32(q, 2)),
                           c2);
      c3 = _mm512_fmadd_ps(coef, i8x16_to_ps(_mm512_extracti32x4_epi32(q, 3)),
                           c3);
      if (two) {
        const __m512i r = unpack_q_avx512(src + group_bytes, cbits);
        c4 = _mm512_fmadd_ps(coef, i8x16_to_ps(_mm512_castsi512_si128(r)), c4);
        c5 = _mm512_fmadd_ps(
            coef, i8x16_to_ps(_mm512_extracti32x4_epi32(r, 1)), c5);
        c6 = _mm512_fmadd_ps(
            coef, i8x16_to_ps(_mm512_extracti32x4_epi32(r, 2)), c6);
        c7 = _mm512_fmadd_ps(
            coef, i8x16_to_ps(_mm512_extracti32x4_epi32(r, 3)), c7);
      }
    }
    const __m512 acc[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
    for (int j = 0; j < 8; j++) {
      const __mmask16 mask = tail_mask16(K - k0 - 16 * j);
      if (mask == 0)
        break;
      __m512 v = acc[j];
      if (beta != 0.0f)
        v = _mm512_fmadd_ps(_mm512_set1_ps(beta),
                            _mm512_maskz_loadu_ps(mask, C + k0 + 16 * j), v);
      _mm512_mask_storeu_ps(C + k0 + 16 * j, mask, v);
    }
  }
}

/* --------------------------------- dequantized blocks for many rows of A */

/* From this many rows of A on, the fp32 GEMMs dequantize W in blocks of
 * rows and hand each block to the AVX-512 sgemm (its packing and register
 * tiles then do the work); below it the kernels above read the packed rows
 * directly. */
#define F32_BLOCKED_MIN_M 16

/* Floats of dequantized W per block (1 MiB), but at least this many rows so
 * that each sgemm call stays wide. */
#define F32_W_BLOCK_FLOATS (256 * 1024)
#define F32_W_BLOCK_MIN_ROWS 256

/* out[n - n0, k] = scale[n] * q[n, k] for rows n0 .. n0 + rows - 1 (row
 * stride K). */
SDQ_INLINE void dequantize_rows_avx512(const sdq_qmatrix *W, int n0, int rows,
                                       int cbits, float *out) {
  const int K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  const size_t group_bytes = 8u * (size_t)cbits;
  const __m512i offset = _mm512_set1_epi32(1 << (cbits - 1));

#pragma omp parallel for schedule(static) \
    if ((double)rows * K >= QUANT_PARALLEL_MIN_WORK)
  for (int r = 0; r < rows; r++) {
    const uint8_t *src = W->packed + (size_t)(n0 + r) * row_bytes;
    const __m512 s = _mm512_set1_ps(W->scale[n0 + r]);
    float *dst = out + (size_t)r * (size_t)K;
    for (int k0 = 0; k0 < K; k0 += SDQ_PACK_GROUP, src += group_bytes) {
      __m512 f[4];
      fields_to_ps(unpack_u8_avx512(src, cbits), offset, f);
      for (int j = 0; j < 4; j++)
        _mm512_mask_storeu_ps(dst + k0 + 16 * j,
                              tail_mask16(K - k0 - 16 * j),
                              _mm512_mul_ps(s, f[j]));
    }
  }
}

/* qgemm_f32_nt (nn == 0) or qgemm_f32_nn (nn == 1) through the AVX-512
 * sgemm on dequantized blocks of W rows; the nn product sums the blocks in
 * C (beta applies to the first). Returns 0, or -1 when the block buffer
 * cannot be allocated (nothing was written then). */
SDQ_INLINE int f32_blocked(int M, const float *A, int lda,
                           const sdq_qmatrix *W, float beta, float *C,
                           int ldc, int cbits, int nn) {
  const sdq_kernel_table *t = sdq_kernel_table_for(SDQ_ISA_AVX512);
  const int N = W->rows, K = W->cols;
  int nb = F32_W_BLOCK_FLOATS / K;
  if (nb < F32_W_BLOCK_MIN_ROWS)
    nb = F32_W_BLOCK_MIN_ROWS;
  if (nb > N)
    nb = N;
  /* aligned_alloc wants a multiple of the alignment */
  float *wd = aligned_alloc(
      64, ((size_t)nb * (size_t)K * sizeof(float) + 63) / 64 * 64);
  if (t == NULL || wd == NULL) {
    free(wd);
    return -1;
  }
  for (int n0 = 0; n0 < N; n0 += nb) {
    const int rows = N - n0 < nb ? N - n0 : nb;
    dequantize_rows_avx512(W, n0, rows, cbits, wd);
    if (nn)
      t->sgemm_nn(M, K, rows, A + n0, lda, wd, K, n0 == 0 ? beta : 1.0f, C,
                  ldc);
    else
      t->sgemm_nt(M, rows, K, A, lda, wd, K, beta, C + n0, ldc);
  }
  free(wd);
  return 0;
}

static void qgemm_f32_nt_avx512(int M, const float *A, int lda,
                                const sdq_qmatrix *W, float beta, float *C,
                                int ldc) {
  const int cbits = sdq_pack_container_bits(W->bits);
  if (M >= F32_BLOCKED_MIN_M &&
      f32_blocked(M, A, lda, W, beta, C, ldc, cbits, 0) == 0)
    return;
  if (M == 1 && qgemv_f32_nt_avx512(A, W, beta, C) == 0)
    return;
  if (M == 1) {
    switch (cbits) {
    case 2: f32_nt_gemv(A, W, beta, C, 2); return;
    case 4: f32_nt_gemv(A, W, beta, C, 4); return;
    case 6: f32_nt_gemv(A, W, beta, C, 6); return;
    default: f32_nt_gemv(A, W, beta, C, 8); return;
    }
  }
  switch (sdq_pack_container_bits(W->bits)) {
  case 2: f32_nt_impl(M, A, lda, W, beta, C, ldc, 2); break;
  case 4: f32_nt_impl(M, A, lda, W, beta, C, ldc, 4); break;
  case 6: f32_nt_impl(M, A, lda, W, beta, C, ldc, 6); break;
  default: f32_nt_impl(M, A, lda, W, beta, C, ldc, 8); break;
  }
}

/* ------------------------------------------------------ qgemm_f32_nn */

/* Rows of A (and C) per register tile of the nn kernel. */
#define NN_MR 6

/* C[m0..m0+mr, k0..k0+64) = beta*C + sum_n A[m,n] * scale[n] * q[n,k]:
 * mr x 64 accumulators stay in registers while every W row's group g is
 * unpacked once and used for all mr rows. */
SDQ_INLINE void f32_nn_tile(const float *A, int lda, int mr,
                            const sdq_qmatrix *W, int g, int cbits,
                            float beta, float *C, int ldc) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  const size_t group_bytes = 8u * (size_t)cbits;
  const __m512i offset = _mm512_set1_epi32(1 << (cbits - 1));
  const int k0 = g * SDQ_PACK_GROUP;
  __mmask16 mask[4];
  for (int j = 0; j < 4; j++)
    mask[j] = tail_mask16(K - k0 - 16 * j);

  __m512 acc[NN_MR][4];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = beta == 0.0f
                      ? _mm512_setzero_ps()
                      : _mm512_mul_ps(
                            _mm512_set1_ps(beta),
                            _mm512_maskz_loadu_ps(
                                mask[j], C + (size_t)i * (size_t)ldc + k0 +
                                             16 * j));

  const uint8_t *src = W->packed + (size_t)g * group_bytes;
  for (int n = 0; n < N; n++, src += row_bytes) {
    __m512 f[4];
    fields_to_ps(unpack_u8_avx512(src, cbits), offset, f);
    const float s = W->scale[n];
    for (int i = 0; i < mr; i++) {
      const __m512 coef = _mm512_set1_ps(A[(size_t)i * (size_t)lda + n] * s);
      for (int j = 0; j < 4; j++)
        acc[i][j] = _mm512_fmadd_ps(coef, f[j], acc[i][j]);
    }
  }

  for (int i = 0; i < mr; i++)
    for (int j = 0; j < 4; j++)
      _mm512_mask_storeu_ps(C + (size_t)i * (size_t)ldc + k0 + 16 * j,
                            mask[j], acc[i][j]);
}

SDQ_INLINE void f32_nn_impl(int M, const float *A, int lda,
                            const sdq_qmatrix *W, float beta, float *C,
                            int ldc, int cbits) {
  const int groups = sdq_pack_cols_padded(W->cols) / SDQ_PACK_GROUP;
  const int mtiles = (M + NN_MR - 1) / NN_MR;

#pragma omp parallel for collapse(2) schedule(static) \
    if ((double)M * W->rows * W->cols >= QUANT_PARALLEL_MIN_WORK)
  for (int t = 0; t < mtiles; t++)
    for (int g = 0; g < groups; g++) {
      const int m0 = t * NN_MR;
      const int mr = M - m0 < NN_MR ? M - m0 : NN_MR;
      const float *a = A + (size_t)m0 * (size_t)lda;
      float *c = C + (size_t)m0 * (size_t)ldc;
      if (mr == NN_MR)
        f32_nn_tile(a, lda, NN_MR, W, g, cbits, beta, c, ldc);
      else
        f32_nn_tile(a, lda, mr, W, g, cbits, beta, c, ldc);
    }
}

static void qgemm_f32_nn_avx512(int M, const float *A, int lda,
                                const sdq_qmatrix *W, float beta, float *C,
                                int ldc) {
  const int cbits = sdq_pack_container_bits(W->bits);
  if (M >= F32_BLOCKED_MIN_M &&
      f32_blocked(M, A, lda, W, beta, C, ldc, cbits, 1) == 0)
    return;
  if (M == 1) {
    switch (cbits) {
    case 2: f32_nn_gemv(A, W, beta, C, 2); return;
    case 4: f32_nn_gemv(A, W, beta, C, 4); return;
    case 6: f32_nn_gemv(A, W, beta, C, 6); return;
    default: f32_nn_gemv(A, W, beta, C, 8); return;
    }
  }
  switch (sdq_pack_container_bits(W->bits)) {
  case 2: f32_nn_impl(M, A, lda, W, beta, C, ldc, 2); break;
  case 4: f32_nn_impl(M, A, lda, W, beta, C, ldc, 4); break;
  case 6: f32_nn_impl(M, A, lda, W, beta, C, ldc, 6); break;
  default: f32_nn_impl(M, A, lda, W, beta, C, ldc, 8); break;
  }
}

/* ------------------------------------------------------- qgemm_i8_nt */

/* Integer dot products. Weights enter as the unsigned operand u = q + offset
 * and activations as the signed operand qa, so sum u*qa = dot +
 * offset * sum(qa), and the kernel subtracts offset * sum(qa[m]) per row.
 *
 * vpdpbusd (VNNI) adds four u8*s8 products straight into int32. vpmaddubsw
 * adds pairs into int16 with saturation: a pair is at most
 * 2 * u_max * |qa|_max. With 2..6-bit containers u <= 63, and with an 8-bit
 * container but act_bits <= 7 (|qa| <= 63) a pair is at most 2 * 255 * 63 =
 * 32130, both below 32767. The remaining case, 8-bit container and 8-bit
 * activations (2 * 255 * 127 would saturate), multiplies |q| (<= 127) by
 * qa with the sign of q moved onto it: pairs are at most 2 * 127 * 127 =
 * 32258 and the sum is the signed dot product itself (no offset term). */
SDQ_INLINE __m512i dot_u8s8(__m512i acc, __m512i u, __m512i a, int sign_trick) {
#if SDQ_I8_VNNI
  (void)sign_trick;
  return _mm512_dpbusd_epi32(acc, u, a);
#else
  const __m512i ones = _mm512_set1_epi16(1);
  if (sign_trick) {
    const __m512i q = _mm512_xor_si512(u, _mm512_set1_epi8((char)0x80));
    const __mmask64 neg = _mm512_movepi8_mask(q);
    const __m512i as =
        _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
    return _mm512_add_epi32(
        acc, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(q), as),
                               ones));
  }
  return _mm512_add_epi32(acc,
                          _mm512_madd_epi16(_mm512_maddubs_epi16(u, a), ones));
#endif
}

/* Returns the four lane sums of a, b, c, d as one vector [a b c d]. */
SDQ_INLINE __m128i reduce4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
#define SDQ_HALVES(v)                                                          \
  _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
  const __m256i ab = _mm256_hadd_epi32(SDQ_HALVES(a), SDQ_HALVES(b));
  const __m256i cd = _mm256_hadd_epi32(SDQ_HALVES(c), SDQ_HALVES(d));
#undef SDQ_HALVES
  const __m256i abcd = _mm256_hadd_epi32(ab, cd);
  return _mm_add_epi32(_mm256_castsi256_si128(abcd),
                       _mm256_extracti128_si256(abcd, 1));
}

/* C[m0.., n0..n0+nr) for mr (1..4) quantized rows of A (qa, padded rows of
 * Kp bytes) and nr (1..4) packed W rows starting at wrow. */
SDQ_INLINE void i8_tile(const int8_t *qa, int Kp, const float *scale_a,
                        const int32_t *sum_a, int mr, const uint8_t *wrow,
                        size_t row_bytes, const float *scale_w, int nr,
                        int cbits, int sign_trick, float beta, float *C,
                        int ldc) {
  const size_t group_bytes = 8u * (size_t)cbits;
  const int groups = Kp / SDQ_PACK_GROUP;
  __m512i acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = _mm512_setzero_si512();

  for (int g = 0; g < groups; g++) {
    __m512i a[4];
    for (int i = 0; i < mr; i++)
      a[i] = _mm512_load_si512(qa + (size_t)i * (size_t)Kp +
                               (size_t)g * SDQ_PACK_GROUP);
    for (int j = 0; j < nr; j++) {
      const __m512i u = unpack_u8_avx512(
          wrow + (size_t)j * row_bytes + (size_t)g * group_bytes, cbits);
      for (int i = 0; i < mr; i++)
        acc[i][j] = dot_u8s8(acc[i][j], u, a[i], sign_trick);
    }
  }

  const int offset = sign_trick ? 0 : 1 << (cbits - 1);
  const __mmask8 nmask = (__mmask8)((1u << nr) - 1u);
  const __m128 sw = _mm_maskz_loadu_ps(nmask, scale_w);
  for (int i = 0; i < mr; i++) {
    __m128i dot = reduce4_epi32(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    dot = _mm_sub_epi32(dot, _mm_set1_epi32(offset * sum_a[i]));
    const __m128 t = _mm_mul_ps(
        _mm_mul_ps(_mm_cvtepi32_ps(dot), _mm_set1_ps(scale_a[i])), sw);
    float *c = C + (size_t)i * (size_t)ldc;
    if (beta == 0.0f)
      _mm_mask_storeu_ps(c, nmask, t);
    else
      _mm_mask_storeu_ps(c, nmask,
                         _mm_fmadd_ps(_mm_set1_ps(beta),
                                      _mm_maskz_loadu_ps(nmask, c), t));
  }
}

#include "quant_avx512_i8gemm.h"

/* Below this many rows of A the W strips would cost more to build than the
 * GEMM reuses them, and i8_gemm reads the packed rows directly. */
#define I8_BLOCKED_MIN_M 8

SDQ_INLINE void i8_gemm(int M, const int8_t *qa, int Kp, const float *scale_a,
                        const int32_t *sum_a, const sdq_qmatrix *W, int cbits,
                        int sign_trick, float beta, float *C, int ldc) {
  const int N = W->rows;
  const size_t row_bytes = sdq_packed_row_bytes(W->cols, W->bits);
  const int ntiles = (N + 3) / 4;
  const int mblocks = (M + I8_M_BLOCK - 1) / I8_M_BLOCK;

#pragma omp parallel for collapse(2) schedule(static) \
    if ((double)M * N * Kp >= QUANT_PARALLEL_MIN_WORK)
  for (int b = 0; b < mblocks; b++)
    for (int t = 0; t < ntiles; t++) {
      const int n0 = 4 * t, nr = N - n0 < 4 ? N - n0 : 4;
      const int m_end = M < (b + 1) * I8_M_BLOCK ? M : (b + 1) * I8_M_BLOCK;
      const uint8_t *wrow = W->packed + (size_t)n0 * row_bytes;
      for (int m0 = b * I8_M_BLOCK; m0 < m_end; m0 += 4) {
        const int mr = m_end - m0 < 4 ? m_end - m0 : 4;
        const int8_t *q = qa + (size_t)m0 * (size_t)Kp;
        float *c = C + (size_t)m0 * (size_t)ldc + n0;
        if (mr == 4 && nr == 4)
          i8_tile(q, Kp, scale_a + m0, sum_a + m0, 4, wrow, row_bytes,
                  W->scale + n0, 4, cbits, sign_trick, beta, c, ldc);
        else
          i8_tile(q, Kp, scale_a + m0, sum_a + m0, mr, wrow, row_bytes,
                  W->scale + n0, nr, cbits, sign_trick, beta, c, ldc);
      }
    }
}

static int qgemm_i8_nt_avx512(int M, const float *A, int lda, int act_bits,
                              const sdq_qmatrix *W, float beta, float *C,
                              int ldc) {
  const int K = W->cols, Kp = sdq_pack_cols_padded(K);
  if (sdq_qmax(act_bits) == 0)
    return -1;
  if (M <= 0)
    return 0;

  const int cbits = sdq_pack_container_bits(W->bits);
  const int sign_trick = !SDQ_I8_VNNI && cbits == 8 && act_bits == 8;
  /* NOTE: without VNNI, 8-bit weights with 8-bit activations still take the
   * unblocked i8_gemm below, because the blocked tile has no sign trick
   * (the AVX2 variant's int16 tile would fit here too). */
  if (M >= I8_BLOCKED_MIN_M && !sign_trick) {
    switch (cbits) {
    case 2: return i8_gemm_blocked(M, A, lda, act_bits, W, 2, beta, C, ldc);
    case 4: return i8_gemm_blocked(M, A, lda, act_bits, W, 4, beta, C, ldc);
    case 6: return i8_gemm_blocked(M, A, lda, act_bits, W, 6, beta, C, ldc);
    default: return i8_gemm_blocked(M, A, lda, act_bits, W, 8, beta, C, ldc);
    }
  }

  /* 1. quantize A per token into zero-padded, 64-aligned rows */
  int8_t *qa = aligned_alloc(64, (size_t)M * (size_t)Kp);
  float *scale_a = malloc((size_t)M * sizeof(float));
  int32_t *sum_a = malloc((size_t)M * sizeof(int32_t));
  if (qa == NULL || scale_a == NULL || sum_a == NULL) {
    free(qa);
    free(scale_a);
    free(sum_a);
    return -1;
  }
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) \
    if ((double)M * W->rows * K >= QUANT_PARALLEL_MIN_WORK)
  for (int m = 0; m < M; m++) {
    sum_a[m] = quantize_row_sum_avx512(A + (size_t)m * (size_t)lda, K, Kp,
                                       act_bits, qa + (size_t)m * (size_t)Kp,
                                       &scale_a[m]);
    bad += isnan(scale_a[m]) ? 1 : 0;
  }

  /* 2. int32 dot products, offset correction and rescale */
  switch (cbits) {
  case 2: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 2, 0, beta, C, ldc); break;
  case 4: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 4, 0, beta, C, ldc); break;
  case 6: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 6, 0, beta, C, ldc); break;
  default:
    if (sign_trick)
      i8_gemm(M, qa, Kp, scale_a, sum_a, W, 8, 1, beta, C, ldc);
    else
      i8_gemm(M, qa, Kp, scale_a, sum_a, W, 8, 0, beta, C, ldc);
    break;
  }

  free(qa);
  free(scale_a);
  free(sum_a);
  return bad;
}

#endif /* SDQ_QUANT_AVX512_IMPL_H */
