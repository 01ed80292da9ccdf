/* quant_avx2.c - AVX2 + FMA variants of the quantization kernels; the
 * integer GEMM uses vpmaddubsw + vpmaddwd (vpmaddwd on int16 for 8-bit
 * weights with 8-bit activations). Every result is bit-identical to the
 * scalar reference except the fp32 GEMM sums (summation order). */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"
#include "qmatrix_strips.h"
#include "scalar/quant_scalar.h"
#include "sdq_pack.h"
#include "x86/qgemv_avx2.h"

#define SDQ_INLINE static inline __attribute__((always_inline))

/* Rows of A per work item of the integer GEMM (they share the W tile). */
#define I8_M_BLOCK 64

/* Below this many multiply-adds (or values, for quantization) a call runs
 * on one thread: waking the team costs more than it saves. */
#define QUANT_PARALLEL_MIN_WORK (1 << 21)

/* Returns a load/store mask enabling the first n (clamped to 0..8) lanes. */
static inline __m256i tail_mask8(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ------------------------------------------------- quantize and fake quant */

/* Returns max|x[0..cols)|, or NaN when the row contains NaN or +-inf. */
static float row_maxabs_avx2(const float *x, int cols) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 big = _mm256_set1_ps(FLT_MAX);
  __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (int k = 0; k < cols; k += 8) {
    __m256 v = _mm256_maskload_ps(x + k, tail_mask8(cols - k));
    v = _mm256_andnot_ps(sign, v);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, big, _CMP_NLE_UQ));
    m = _mm256_max_ps(m, v);
  }
  if (_mm256_movemask_ps(bad))
    return NAN;
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

/* clamp(rint(x * inv), -qmax, qmax) in fp32, rounding in the current mode
 * exactly like rintf() in the scalar reference. */
SDQ_INLINE __m256 quantize_ps(__m256 x, __m256 inv, __m256 qmax) {
  const __m256 r =
      _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_CUR_DIRECTION);
  return _mm256_max_ps(_mm256_min_ps(r, qmax),
                       _mm256_sub_ps(_mm256_setzero_ps(), qmax));
}

static void quantize_row_avx2(const float *x, int cols, float inv, int qmax,
                              int8_t *q) {
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256 vqmax = _mm256_set1_ps((float)qmax);
  for (int k = 0; k < cols; k += 8) {
    const __m256i mask = tail_mask8(cols - k);
    const __m256i i32 = _mm256_cvtps_epi32(
        quantize_ps(_mm256_maskload_ps(x + k, mask), vinv, vqmax));
    const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32),
                                        _mm256_extracti128_si256(i32, 1));
    const __m128i i8 = _mm_packs_epi16(i16, i16);
    if (cols - k >= 8) {
      _mm_storel_epi64((__m128i *)(q + k), i8);
    } else {
      int8_t tmp[16];
      _mm_storeu_si128((__m128i *)tmp, i8);
      memcpy(q + k, tmp, (size_t)(cols - k));
    }
  }
}

static int quantize_rows_avx2(const float *x, int rows, int cols, int ld,
                              int bits, int8_t *q, float *scale) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    int8_t *qr = q + (size_t)r * (size_t)cols;
    const float maxabs = row_maxabs_avx2(xr, cols);
    if (isnan(maxabs)) {
      scale[r] = NAN;
      memset(qr, 0, (size_t)cols);
      bad++;
      continue;
    }
    float inv;
    sdq_row_scale(maxabs, qmax, &scale[r], &inv);
    quantize_row_avx2(xr, cols, inv, qmax, qr);
  }
  return bad;
}

static int fake_quant_avx2(const float *x, int rows, int cols, int ld, int bits,
                           const float *scale_in, float *y, float *scale_out) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  const __m256 vqmax = _mm256_set1_ps((float)qmax);
  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    float *yr = y + (size_t)r * (size_t)ld;
    float s, inv = 0.0f;
    const int row_bad = sdq_fake_quant_row_scale(row_maxabs_avx2(xr, cols),
                                                 scale_in, r, qmax, &s, &inv);
    if (scale_out != NULL)
      scale_out[r] = s;
    if (row_bad) {
      for (int k = 0; k < cols; k++)
        yr[k] = NAN;
      bad++;
      continue;
    }

    const __m256 vs = _mm256_set1_ps(s), vinv = _mm256_set1_ps(inv);
    for (int k = 0; k < cols; k += 8) {
      const __m256i mask = tail_mask8(cols - k);
      const __m256 v = quantize_ps(_mm256_maskload_ps(xr + k, mask), vinv, vqmax);
      /* the round trip through int32 turns -0 into +0, as scale * q does */
      const __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtps_epi32(v));
      _mm256_maskstore_ps(yr + k, mask, _mm256_mul_ps(vs, qf));
    }
  }
  return bad;
}

static void fake_quant_backward_avx2(const float *x, const float *dy, int rows,
                                     int cols, int ld, int bits,
                                     const float *scale, float *dx) {
  const int qmax = sdq_qmax(bits);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int r = 0; r < rows; r++) {
    const size_t off = (size_t)r * (size_t)ld;
    const __m256 limit = _mm256_set1_ps((float)qmax * scale[r]);
    for (int k = 0; k < cols; k += 8) {
      const __m256i mask = tail_mask8(cols - k);
      const __m256 ax =
          _mm256_andnot_ps(sign, _mm256_maskload_ps(x + off + k, mask));
      const __m256 pass = _mm256_cmp_ps(ax, limit, _CMP_LE_OQ);
      const __m256 g = _mm256_maskload_ps(dy + off + k, mask);
      _mm256_maskstore_ps(dx + off + k, mask, _mm256_and_ps(pass, g));
    }
  }
}

/* ------------------------------------------------------------ unpacking */

/* Unpacks the 64 unsigned fields u = q + offset of the packed group at src
 * into u[0] (k = 0..31) and u[1] (k = 32..63), for the container width
 * cbits (see sdq_pack.h). */
SDQ_INLINE void unpack_u8_avx2(const uint8_t *src, int cbits, __m256i u[2]) {
  const __m256i lo4 = _mm256_set1_epi8(0x0f);
  const __m256i lo2 = _mm256_set1_epi8(0x03);
  if (cbits == 8) {
    u[0] = _mm256_loadu_si256((const __m256i *)src);
    u[1] = _mm256_loadu_si256((const __m256i *)(src + 32));
    return;
  }

  __m256i nib0 = _mm256_setzero_si256(), nib1 = _mm256_setzero_si256();
  if (cbits == 4 || cbits == 6) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)src);
    nib0 = _mm256_and_si256(v, lo4);
    nib1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    if (cbits == 4) {
      u[0] = nib0;
      u[1] = nib1;
      return;
    }
    src += 32;
  }
  /* per-lane shifts (0 | 2) give k = 0..15 | 16..31, (4 | 6) k = 32..63 */
  const __m256i b =
      _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)src));
  const __m256i two0 = _mm256_and_si256(
      _mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), lo2);
  const __m256i two1 = _mm256_and_si256(
      _mm256_srlv_epi32(b, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), lo2);
  if (cbits == 2) {
    u[0] = two0;
    u[1] = two1;
    return;
  }
  u[0] = _mm256_or_si256(nib0, _mm256_slli_epi16(two0, 4));
  u[1] = _mm256_or_si256(nib1, _mm256_slli_epi16(two1, 4));
}

/* Converts the 32 fields of u to fp32 q = u - offset, 8 per vector. */
SDQ_INLINE void fields_to_ps(__m256i u, __m256i offset, __m256 f[4]) {
  const __m128i lo = _mm256_castsi256_si128(u);
  const __m128i hi = _mm256_extracti128_si256(u, 1);
  f[0] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(lo), offset));
  f[1] = _mm256_cvtepi32_ps(
      _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), offset));
  f[2] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(hi), offset));
  f[3] = _mm256_cvtepi32_ps(
      _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), offset));
}

static inline float hsum_ps(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

/* ------------------------------------------------------ qgemm_f32_nt */

/* Dot products of mr (1..4) rows of A with one packed W row into out[0..mr);
 * the last group loads A under a mask, so A is never read past K. */
SDQ_INLINE void f32_nt_row(const float *A, int lda, int mr,
                           const uint8_t *wrow, int K, int cbits,
                           float out[4]) {
  const __m256i offset = _mm256_set1_epi32(1 << (cbits - 1));
  const size_t group_bytes = 8u * (size_t)cbits;
  __m256 acc[4][2];
  for (int i = 0; i < 4; i++)
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();

  for (int k0 = 0; k0 < K; k0 += SDQ_PACK_GROUP, wrow += group_bytes) {
    __m256i u[2];
    unpack_u8_avx2(wrow, cbits, u);
    for (int h = 0; h < 2; h++) {
      __m256 f[4];
      fields_to_ps(u[h], offset, f);
      const int kh = k0 + 32 * h;
      for (int i = 0; i < mr; i++) {
        const float *a = A + (size_t)i * (size_t)lda + kh;
        for (int j = 0; j < 4; j++) {
          const __m256 av = kh + 32 <= K
                                ? _mm256_loadu_ps(a + 8 * j)
                                : _mm256_maskload_ps(a + 8 * j,
                                                     tail_mask8(K - kh - 8 * j));
          acc[i][j & 1] = _mm256_fmadd_ps(av, f[j], acc[i][j & 1]);
        }
      }
    }
  }
  for (int i = 0; i < mr; i++)
    out[i] = hsum_ps(_mm256_add_ps(acc[i][0], acc[i][1]));
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

/* --------------------------------- dequantized blocks for many rows of A */

/* From this many rows of A on, the fp32 GEMMs dequantize W in blocks of
 * rows and hand each block to the AVX2 sgemm; below it the direct kernels
 * read the packed rows. */
#define F32_BLOCKED_MIN_M 16

/* Floats of dequantized W per block (1 MiB), but at least this many rows so
 * that each sgemm call stays wide. */
#define F32_W_BLOCK_FLOATS (256 * 1024)
#define F32_W_BLOCK_MIN_ROWS 256

/* out[n - n0, k] = scale[n] * q[n, k] for rows n0 .. n0 + rows - 1 (row
 * stride K). */
SDQ_INLINE void dequantize_rows_avx2(const sdq_qmatrix *W, int n0, int rows,
                                     int cbits, float *out) {
  const int K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  const size_t group_bytes = 8u * (size_t)cbits;
  const __m256i offset = _mm256_set1_epi32(1 << (cbits - 1));

#pragma omp parallel for schedule(static) \
    if ((double)rows * K >= QUANT_PARALLEL_MIN_WORK)
  for (int r = 0; r < rows; r++) {
    const uint8_t *src = W->packed + (size_t)(n0 + r) * row_bytes;
    const __m256 s = _mm256_set1_ps(W->scale[n0 + r]);
    float *dst = out + (size_t)r * (size_t)K;
    for (int k0 = 0; k0 < K; k0 += SDQ_PACK_GROUP, src += group_bytes) {
      __m256i u[2];
      unpack_u8_avx2(src, cbits, u);
      for (int h = 0; h < 2; h++) {
        __m256 f[4];
        fields_to_ps(u[h], offset, f);
        for (int j = 0; j < 4; j++) {
          const int k = k0 + 32 * h + 8 * j;
          if (k + 8 <= K)
            _mm256_storeu_ps(dst + k, _mm256_mul_ps(s, f[j]));
          else if (k < K)
            _mm256_maskstore_ps(dst + k, tail_mask8(K - k),
                                _mm256_mul_ps(s, f[j]));
        }
      }
    }
  }
}

/* qgemm_f32_nt (nn == 0) or qgemm_f32_nn (nn == 1) through the AVX2 sgemm
 * on dequantized blocks of W rows; the nn product sums the blocks in C
 * (beta applies to the first). Returns 0, or -1 when the block buffer
 * cannot be allocated (nothing was written then). */
SDQ_INLINE int f32_blocked(int M, const float *A, int lda,
                           const sdq_qmatrix *W, float beta, float *C,
                           int ldc, int cbits, int nn) {
  const sdq_kernel_table *t = sdq_kernel_table_for(SDQ_ISA_AVX2);
  const int N = W->rows, K = W->cols;
  int nb = F32_W_BLOCK_FLOATS / K;
  if (nb < F32_W_BLOCK_MIN_ROWS)
    nb = F32_W_BLOCK_MIN_ROWS;
  if (nb > N)
    nb = N;
  float *wd = malloc((size_t)nb * (size_t)K * sizeof(float));
  if (t == NULL || wd == NULL) {
    free(wd);
    return -1;
  }
  for (int n0 = 0; n0 < N; n0 += nb) {
    const int rows = N - n0 < nb ? N - n0 : nb;
    dequantize_rows_avx2(W, n0, rows, cbits, wd);
    if (nn)
      t->sgemm_nn(M, K, rows, A + n0, lda, wd, K, n0 == 0 ? beta : 1.0f, C,
                  ldc);
    else
      t->sgemm_nt(M, rows, K, A, lda, wd, K, beta, C + n0, ldc);
  }
  free(wd);
  return 0;
}

static void qgemm_f32_nt_avx2(int M, const float *A, int lda,
                              const sdq_qmatrix *W, float beta, float *C,
                              int ldc) {
  if (M >= F32_BLOCKED_MIN_M &&
      f32_blocked(M, A, lda, W, beta, C, ldc,
                  sdq_pack_container_bits(W->bits), 0) == 0)
    return;
  if (M == 1 && qgemv_f32_nt_avx2(A, W, beta, C) == 0)
    return;
  switch (sdq_pack_container_bits(W->bits)) {
  case 2: f32_nt_impl(M, A, lda, W, beta, C, ldc, 2); break;
  case 4: f32_nt_impl(M, A, lda, W, beta, C, ldc, 4); break;
  case 6: f32_nt_impl(M, A, lda, W, beta, C, ldc, 6); break;
  default: f32_nt_impl(M, A, lda, W, beta, C, ldc, 8); break;
  }
}

/* ------------------------------------------------------ qgemm_f32_nn */

/* Rows of A (and C) per register tile of the nn kernel. */
#define NN_MR 3

/* C[m0..m0+mr, k0..k0+32) = beta*C + sum_n A[m,n] * scale[n] * q[n,k] for
 * half h of group g: mr x 32 accumulators stay in registers while each W
 * row's half-group is unpacked once for all mr rows. */
SDQ_INLINE void f32_nn_tile(const float *A, int lda, int mr,
                            const sdq_qmatrix *W, int g, int h, int cbits,
                            float beta, float *C, int ldc) {
  const int N = W->rows, K = W->cols;
  const size_t row_bytes = sdq_packed_row_bytes(K, W->bits);
  const size_t group_bytes = 8u * (size_t)cbits;
  const __m256i offset = _mm256_set1_epi32(1 << (cbits - 1));
  const int k0 = g * SDQ_PACK_GROUP + 32 * h;
  __m256i mask[4];
  for (int j = 0; j < 4; j++)
    mask[j] = tail_mask8(K - k0 - 8 * j);

  __m256 acc[NN_MR][4];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = beta == 0.0f
                      ? _mm256_setzero_ps()
                      : _mm256_mul_ps(_mm256_set1_ps(beta),
                                      _mm256_maskload_ps(
                                          C + (size_t)i * (size_t)ldc + k0 +
                                              8 * j,
                                          mask[j]));

  const uint8_t *src = W->packed + (size_t)g * group_bytes;
  for (int n = 0; n < N; n++, src += row_bytes) {
    __m256i u[2];
    __m256 f[4];
    unpack_u8_avx2(src, cbits, u);
    fields_to_ps(u[h], offset, f);
    const float s = W->scale[n];
    for (int i = 0; i < mr; i++) {
      const __m256 coef = _mm256_set1_ps(A[(size_t)i * (size_t)lda + n] * s);
      for (int j = 0; j < 4; j++)
        acc[i][j] = _mm256_fmadd_ps(coef, f[j], acc[i][j]);
    }
  }

  for (int i = 0; i < mr; i++)
    for (int j = 0; j < 4; j++)
      _mm256_maskstore_ps(C + (size_t)i * (size_t)ldc + k0 + 8 * j, mask[j],
                          acc[i][j]);
}

SDQ_INLINE void f32_nn_impl(int M, const float *A, int lda,
                            const sdq_qmatrix *W, float beta, float *C,
                            int ldc, int cbits) {
  const int halves = (W->cols + 31) / 32;
  const int mtiles = (M + NN_MR - 1) / NN_MR;

#pragma omp parallel for collapse(2) schedule(static) \
    if ((double)M * W->rows * W->cols >= QUANT_PARALLEL_MIN_WORK)
  for (int t = 0; t < mtiles; t++)
    for (int hg = 0; hg < halves; hg++) {
      const int m0 = t * NN_MR;
      const int mr = M - m0 < NN_MR ? M - m0 : NN_MR;
      const float *a = A + (size_t)m0 * (size_t)lda;
      float *c = C + (size_t)m0 * (size_t)ldc;
      if (mr == NN_MR)
        f32_nn_tile(a, lda, NN_MR, W, hg / 2, hg % 2, cbits, beta, c, ldc);
      else
        f32_nn_tile(a, lda, mr, W, hg / 2, hg % 2, cbits, beta, c, ldc);
    }
}

static void qgemm_f32_nn_avx2(int M, const float *A, int lda,
                              const sdq_qmatrix *W, float beta, float *C,
                              int ldc) {
  if (M >= F32_BLOCKED_MIN_M &&
      f32_blocked(M, A, lda, W, beta, C, ldc,
                  sdq_pack_container_bits(W->bits), 1) == 0)
    return;
  switch (sdq_pack_container_bits(W->bits)) {
  case 2: f32_nn_impl(M, A, lda, W, beta, C, ldc, 2); break;
  case 4: f32_nn_impl(M, A, lda, W, beta, C, ldc, 4); break;
  case 6: f32_nn_impl(M, A, lda, W, beta, C, ldc, 6); break;
  default: f32_nn_impl(M, A, lda, W, beta, C, ldc, 8); break;
  }
}

/* ------------------------------------------------------- qgemm_i8_nt */

/* Integer dot products of the unblocked GEMM (few rows of A; the blocked
 * one below has its own kernels) with vpmaddubsw (u8 x s8 pairs summed
 * into int16 with saturation) and vpmaddwd. Weights enter as the unsigned operand
 * u = q + offset and activations as the signed operand qa, so the kernel
 * subtracts offset * sum(qa[m]). A pair is at most 2 * u_max * |qa|_max:
 * with 2..6-bit containers u <= 63, and with an 8-bit container but
 * act_bits <= 7 (|qa| <= 63) it is at most 2 * 255 * 63 = 32130, both below
 * 32767. With an 8-bit container and 8-bit activations 2 * 255 * 127 would
 * saturate, so that case multiplies |q| (<= 127) by qa with the sign of q
 * moved onto it (vpsignb): pairs stay within 2 * 127 * 127 = 32258 and the
 * sum is the signed dot product itself (no offset term). */
SDQ_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i a, int sign_trick) {
  const __m256i ones = _mm256_set1_epi16(1);
  if (sign_trick) {
    const __m256i q = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
    return _mm256_add_epi32(
        acc, _mm256_madd_epi16(
                 _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(a, q)),
                 ones));
  }
  return _mm256_add_epi32(acc,
                          _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), ones));
}

/* Returns the lane sums of a, b, c, d as one vector [a b c d]. */
SDQ_INLINE __m128i reduce4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i abcd =
      _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd),
                       _mm256_extracti128_si256(abcd, 1));
}

/* Rows of A per register tile; 2 x 4 accumulators leave registers for the
 * operands (AVX2 has 16). */
#define I8_MR 2

/* C[m0.., n0..n0+nr) for mr (1..2) quantized rows of A (qa, padded rows of
 * Kp bytes) and nr (1..4) packed W rows starting at wrow. */
SDQ_INLINE void i8_tile(const int8_t *qa, int Kp, const float *scale_a,
                        const int32_t *sum_a, int mr, const uint8_t *wrow,
                        size_t row_bytes, const float *scale_w, int nr,
                        int cbits, int sign_trick, float beta, float *C,
                        int ldc) {
  const size_t group_bytes = 8u * (size_t)cbits;
  const int groups = Kp / SDQ_PACK_GROUP;
  __m256i acc[I8_MR][4];
  for (int i = 0; i < I8_MR; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = _mm256_setzero_si256();

  for (int g = 0; g < groups; g++) {
    __m256i a[I8_MR][2];
    for (int i = 0; i < mr; i++) {
      const int8_t *p = qa + (size_t)i * (size_t)Kp + (size_t)g * SDQ_PACK_GROUP;
      a[i][0] = _mm256_load_si256((const __m256i *)p);
      a[i][1] = _mm256_load_si256((const __m256i *)(p + 32));
    }
    for (int j = 0; j < nr; j++) {
      __m256i u[2];
      unpack_u8_avx2(wrow + (size_t)j * row_bytes + (size_t)g * group_bytes,
                     cbits, u);
      for (int i = 0; i < mr; i++) {
        acc[i][j] = dot_u8s8(acc[i][j], u[0], a[i][0], sign_trick);
        acc[i][j] = dot_u8s8(acc[i][j], u[1], a[i][1], sign_trick);
      }
    }
  }

  const int offset = sign_trick ? 0 : 1 << (cbits - 1);
  const __m128i nmask =
      _mm_cmpgt_epi32(_mm_set1_epi32(nr), _mm_setr_epi32(0, 1, 2, 3));
  const __m128 sw = _mm_maskload_ps(scale_w, nmask);
  for (int i = 0; i < mr; i++) {
    __m128i dot = reduce4_epi32(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    dot = _mm_sub_epi32(dot, _mm_set1_epi32(offset * sum_a[i]));
    const __m128 t = _mm_mul_ps(
        _mm_mul_ps(_mm_cvtepi32_ps(dot), _mm_set1_ps(scale_a[i])), sw);
    float *c = C + (size_t)i * (size_t)ldc;
    if (beta == 0.0f)
      _mm_maskstore_ps(c, nmask, t);
    else
      _mm_maskstore_ps(c, nmask,
                       _mm_fmadd_ps(_mm_set1_ps(beta), _mm_maskload_ps(c, nmask),
                                    t));
  }
}

/* The GEMM for M < I8B_MIN_M: reads the packed W rows directly for every
 * tile of A rows, so that a few tokens (decoding) build no cached strips. */
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
      for (int m0 = b * I8_M_BLOCK; m0 < m_end; m0 += I8_MR) {
        const int mr = m_end - m0 < I8_MR ? m_end - m0 : I8_MR;
        const int8_t *q = qa + (size_t)m0 * (size_t)Kp;
        float *c = C + (size_t)m0 * (size_t)ldc + n0;
        if (mr == I8_MR && nr == 4)
          i8_tile(q, Kp, scale_a + m0, sum_a + m0, I8_MR, wrow, row_bytes,
                  W->scale + n0, 4, cbits, sign_trick, beta, c, ldc);
        else
          i8_tile(q, Kp, scale_a + m0, sum_a + m0, mr, wrow, row_bytes,
                  W->scale + n0, nr, cbits, sign_trick, beta, c, ldc);
      }
    }
}

/* ---------------------------------- blocked integer GEMM over cached strips */

/* From this many rows of A on, qgemm_i8_nt runs the blocked GEMM below on
 * the W strips cached with the matrix (kernels/qmatrix_strips.h); fewer
 * rows read the packed rows directly (i8_gemm) and build no cache.
 *
 * The strips contain u = q + offset in [0, 2^c - 1] for the container width
 * c. vpmaddubsw + vpmaddwd + vpaddd (3 instructions per 32 products) is
 * exact while no u8 x s8 pair exceeds 32767. That holds for u <= 63 (c <= 6)
 * and for |qa| <= 63 (act_bits <= 7, 2 * 255 * 63 = 32130).
 * 8-bit weights with 8-bit activations (2 * 255 * 127 = 64770) take the wide
 * kernel instead: vpmaddwd on zero-extended u and int16 qa, 2 instructions
 * per 16 products. On a Zen 4 EPYC it ran at about 0.7 times the speed.
 * NOTE: a copy of the strips pre-widened to int16 would save the two
 * vpmovzxbw per k-quad of the wide kernel, at 2 bytes per weight. */
#define I8B_MIN_M 4

/* Register tile: I8B_MR rows of A times 16 channels (two ymm of 8 int32
 * sums), 8 accumulators; a 48-channel strip is three such column blocks. */
#define I8B_MR 4
#define I8B_NC 16
_Static_assert(SDQ_I8_STRIP_N % I8B_NC == 0, "column blocks tile a strip");

/* Bytes of one k-quad of a strip (SDQ_I8_STRIP_N dwords). */
#define I8B_KQ_BYTES (4 * SDQ_I8_STRIP_N)

/* Target bytes of one thread's block of W strips: the block stays in L2
 * while every tile of A rows (in L1) passes over it, so C is written in
 * runs of the block's channels. */
#define I8B_W_BLOCK_BYTES (384 * 1024)

/* Below this many multiply-adds (M * N * K) the GEMM runs on one thread. */
#define I8B_PARALLEL_MIN_MACS (1 << 21)

/* The micro-kernel: out[i][j] (8 int32 lanes, channels 8 j + lane of the
 * column block at wp) = sum over the kks k-quads of the quad of row i of A
 * (qa + i * Kp, 4 bytes per quad) times the quads of the 16 channels, by
 * vpmaddubsw + vpmaddwd (the caller makes sure no pair saturates). The
 * accumulators are named variables so that GCC keeps them in registers. */
__attribute__((noinline)) static void i8b_kernel_4x16(const int8_t *qa, size_t Kp,
                                const uint8_t *wp, int kks,
                                __m256i out[I8B_MR][2]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t *a0 = qa, *a1 = qa + Kp, *a2 = qa + 2 * Kp, *a3 = qa + 3 * Kp;
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00,
          c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int kk = 0; kk < kks; kk++, wp += I8B_KQ_BYTES) {
    const __m256i w0 = _mm256_load_si256((const __m256i *)wp);
    const __m256i w1 = _mm256_load_si256((const __m256i *)(wp + 32));
#define I8B_ROW(i)                                                             \
  {                                                                            \
    int32_t word;                                                              \
    memcpy(&word, a##i + 4 * (size_t)kk, 4);                                   \
    const __m256i a = _mm256_set1_epi32(word);                                 \
    c##i##0 = _mm256_add_epi32(                                                \
        c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(w0, a), ones));        \
    c##i##1 = _mm256_add_epi32(                                                \
        c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(w1, a), ones));        \
  }
    I8B_ROW(0) I8B_ROW(1) I8B_ROW(2) I8B_ROW(3)
#undef I8B_ROW
  }
  out[0][0] = c00; out[0][1] = c01; out[1][0] = c10; out[1][1] = c11;
  out[2][0] = c20; out[2][1] = c21; out[3][0] = c30; out[3][1] = c31;
}

/* The micro-kernel for 8-bit fields with 8-bit activations, where the
 * u8 x s8 pairs of vpmaddubsw could saturate (2 * 255 * 127 > 32767): the
 * fields are zero-extended to int16 and vpmaddwd multiplies them with the
 * int16 activations (qa16 rows of Kp), exactly. The 8 channels of the
 * column block at wp land in out[i][0] in channel order. */
__attribute__((noinline)) static void i8b_kernel_4x8_wide(const int16_t *qa16, size_t Kp,
                                    const uint8_t *wp, int kks,
                                    __m256i out[I8B_MR][2]) {
  const int16_t *a0 = qa16, *a1 = qa16 + Kp, *a2 = qa16 + 2 * Kp,
                *a3 = qa16 + 3 * Kp;
  /* c: channels 0..3, d: channels 4..7, two partial sums (k 0-1, k 2-3) each */
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, d0 = c0,
          d1 = c0, d2 = c0, d3 = c0;
  for (int kk = 0; kk < kks; kk++, wp += I8B_KQ_BYTES) {
    const __m256i w0 = _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i *)wp));
    const __m256i w1 =
        _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i *)(wp + 16)));
#define I8B_ROW(i)                                                             \
  {                                                                            \
    int64_t word;                                                              \
    memcpy(&word, a##i + 4 * (size_t)kk, 8);                                   \
    const __m256i a = _mm256_set1_epi64x(word);                                \
    c##i = _mm256_add_epi32(_mm256_madd_epi16(w0, a), c##i);                   \
    d##i = _mm256_add_epi32(_mm256_madd_epi16(w1, a), d##i);                   \
  }
    I8B_ROW(0) I8B_ROW(1) I8B_ROW(2) I8B_ROW(3)
#undef I8B_ROW
  }
  /* hadd gives channels [0 1 4 5 | 2 3 6 7]; the permute restores order */
  out[0][0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(c0, d0), 0xd8);
  out[1][0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(c1, d1), 0xd8);
  out[2][0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(c2, d2), 0xd8);
  out[3][0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(c3, d3), 0xd8);
}

/* Writes rows 0 .. mr - 1 and channels n0 .. min(N, n0 + 8 nv) - 1 of C
 * (already offset to row m0) from the tile's nv (1 or 2) vectors per row,
 * rescaled in the scalar reference's order: ((float)(acc - offset * sum_a)
 * * scale_a) * scale_w, then beta * C + that with one rounding when
 * beta != 0. */
SDQ_INLINE void i8b_store_tile(__m256i acc[I8B_MR][2], int mr, int nv, int n0,
                               int N, int offset, const float *scale_a,
                               const int32_t *sum_a, const float *scale_w,
                               float beta, float *C, int ldc) {
  __m256i mask[2];
  __m256 sw[2];
  for (int j = 0; j < nv; j++) {
    mask[j] = tail_mask8(N - n0 - 8 * j);
    sw[j] = _mm256_maskload_ps(scale_w + n0 + 8 * j, mask[j]);
  }
  const int full = N - n0 >= 8 * nv;
  for (int i = 0; i < mr; i++) {
    const __m256i corr = _mm256_set1_epi32(offset * sum_a[i]);
    const __m256 sa = _mm256_set1_ps(scale_a[i]);
    float *c = C + (size_t)i * (size_t)ldc + n0;
    for (int j = 0; j < nv; j++) {
      const __m256 t = _mm256_mul_ps(
          _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], corr)),
                        sa),
          sw[j]);
      if (full) {
        _mm256_storeu_ps(
            c + 8 * j,
            beta == 0.0f ? t
                         : _mm256_fmadd_ps(_mm256_set1_ps(beta),
                                           _mm256_loadu_ps(c + 8 * j), t));
      } else {
        _mm256_maskstore_ps(
            c + 8 * j, mask[j],
            beta == 0.0f
                ? t
                : _mm256_fmadd_ps(_mm256_set1_ps(beta),
                                  _mm256_maskload_ps(c + 8 * j, mask[j]), t));
      }
    }
  }
}

/* Quantizes row m of A per token into row m of qa (Kp bytes, zero-padded)
 * and writes scale_a[m] and sum_a[m]. Returns 1 when the row contains NaN
 * or +-inf, else 0. */
static int i8b_quantize_rows(const float *A, int lda, int K, int Kp,
                             int act_bits, int m, int8_t *qa, float *scale_a,
                             int32_t *sum_a) {
  int8_t *q = qa + (size_t)m * (size_t)Kp;
  const int bad = quantize_rows_avx2(A + (size_t)m * (size_t)lda, 1, K, lda,
                                     act_bits, q, scale_a + m);
  memset(q + K, 0, (size_t)(Kp - K));
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  __m256i sum = _mm256_setzero_si256();
  for (int k = 0; k < Kp; k += 32) {
    /* |q| <= 127: pairs of 1 * q fit int16 */
    const __m256i v = _mm256_load_si256((const __m256i *)(q + k));
    sum = _mm256_add_epi32(
        sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
  }
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(sum),
                            _mm256_extracti128_si256(sum, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  sum_a[m] = _mm_cvtsi128_si32(h);
  return bad;
}

/* qgemm_i8_nt on the cached strips: 1. quantize A per token into padded
 * rows (widened to int16 when wide); 2. get (or build) W's strips; 3. each
 * thread takes a contiguous range of strips (and of rows when strips are
 * fewer than threads) and runs the micro-kernel for each tile of rows over
 * a cache block of strips, the whole K in registers. wide selects the int16 kernel, which
 * 8-bit fields with 8-bit activations need. Returns the number of rows of A
 * containing NaN or +-inf, or -1 when memory ran out. */
SDQ_INLINE int i8b_gemm(int M, const float *A, int lda, int act_bits,
                        const sdq_qmatrix *W, int cbits, int wide, float beta,
                        float *C, int ldc) {
  const int N = W->rows, K = W->cols, Kp = sdq_pack_cols_padded(K);
  const int offset = 1 << (cbits - 1);
  const int kks = Kp / 4;
  const int nc = wide ? 8 : I8B_NC; /* channels per column block */
  const size_t strip_bytes = (size_t)Kp * SDQ_I8_STRIP_N;
  const size_t arow_bytes = (size_t)Kp * (wide ? 2 : 1);
  const int strips = (N + SDQ_I8_STRIP_N - 1) / SDQ_I8_STRIP_N;
  const int mtiles = (M + I8B_MR - 1) / I8B_MR;
  const int mpad = mtiles * I8B_MR;
#ifdef _OPENMP
  const int threads =
      (double)M * N * K >= I8B_PARALLEL_MIN_MACS && !omp_in_parallel()
          ? omp_get_max_threads()
          : 1;
#else
  const int threads = 1;
#endif

  const uint8_t *wstrips = sdq_qmatrix_i8_strips(W);
  /* workspace: qa, qa16 (wide only), scale_a, sum_a; rows up to a whole
   * tile (zeros), so the kernel never reads past them */
  const size_t qbytes = (size_t)mpad * (size_t)Kp;
  const size_t wbytes = wide ? 2 * qbytes : 0;
  uint8_t *work =
      wstrips == NULL
          ? NULL
          : sdq_i8_workspace_take(qbytes + wbytes + (size_t)M * (sizeof(float) +
                                                                 sizeof(int32_t)));
  if (work == NULL)
    return -1;
  int8_t *qa = (int8_t *)work;
  int16_t *qa16 = (int16_t *)(work + qbytes);
  float *scale_a = (float *)(work + qbytes + wbytes);
  int32_t *sum_a = (int32_t *)(scale_a + M);
  memset(qa + (size_t)M * (size_t)Kp, 0, (size_t)(mpad - M) * (size_t)Kp);
  if (wide)
    memset(qa16 + (size_t)M * (size_t)Kp, 0,
           (size_t)(mpad - M) * (size_t)Kp * 2);
  const uint8_t *arows = wide ? (const uint8_t *)qa16 : (const uint8_t *)qa;

  int sb = (int)(I8B_W_BLOCK_BYTES / strip_bytes);
  if (sb < 1)
    sb = 1;
  const sdq_i8_split sp = sdq_i8_split_work(strips, mtiles, sb, threads);
  int bad = 0;

#pragma omp parallel num_threads(threads) if (threads > 1) reduction(+ : bad)
  {
    /* 1. */
#pragma omp for schedule(dynamic, 16)
    for (int m = 0; m < M; m++) {
      bad += i8b_quantize_rows(A, lda, K, Kp, act_bits, m, qa, scale_a, sum_a);
      if (wide)
        for (int k = 0; k < Kp; k += 16)
          _mm256_store_si256(
              (__m256i *)(qa16 + (size_t)m * (size_t)Kp + k),
              _mm256_cvtepi8_epi16(_mm_load_si128(
                  (const __m128i *)(qa + (size_t)m * (size_t)Kp + k))));
    }

    /* 3. work items (chunks of strips times ranges of row tiles), taken
     * dynamically */
#pragma omp for schedule(dynamic, 1)
    for (int w = 0; w < sp.chunks * sp.parts; w++) {
      const int s0 = w / sp.parts * sp.chunk, part = w % sp.parts;
      const int s1 = s0 + sp.chunk < strips ? s0 + sp.chunk : strips;
      const int t_begin = (int)((long)mtiles * part / sp.parts);
      const int t_end = (int)((long)mtiles * (part + 1) / sp.parts);
      for (int t = t_begin; t < t_end; t++) {
        const int m0 = t * I8B_MR;
        const int mr = M - m0 < I8B_MR ? M - m0 : I8B_MR;
        const uint8_t *ap = arows + arow_bytes * (size_t)m0;
        for (int s = s0; s < s1; s++) {
          for (int cb = 0; cb < SDQ_I8_STRIP_N; cb += nc) {
            const int n0 = s * SDQ_I8_STRIP_N + cb;
            if (n0 >= N)
              break;
            const uint8_t *wp = wstrips + strip_bytes * (size_t)s + 4 * cb;
            __m256i acc[I8B_MR][2];
            if (wide)
              i8b_kernel_4x8_wide((const int16_t *)ap, (size_t)Kp, wp, kks,
                                  acc);
            else
              i8b_kernel_4x16((const int8_t *)ap, (size_t)Kp, wp, kks, acc);
            i8b_store_tile(acc, mr, wide ? 1 : 2, n0, N, offset,
                           scale_a + m0, sum_a + m0, W->scale, beta,
                           C + (size_t)m0 * (size_t)ldc, ldc);
          }
        }
      }
    }
  }

  sdq_i8_workspace_give(work);
  return bad;
}

static int qgemm_i8_nt_avx2(int M, const float *A, int lda, int act_bits,
                            const sdq_qmatrix *W, float beta, float *C,
                            int ldc) {
  const int K = W->cols, Kp = sdq_pack_cols_padded(K);
  if (sdq_qmax(act_bits) == 0)
    return -1;
  if (M <= 0)
    return 0;

  const int cbits = sdq_pack_container_bits(W->bits);
  if (M >= I8B_MIN_M) {
    switch (cbits) {
    case 2: return i8b_gemm(M, A, lda, act_bits, W, 2, 0, beta, C, ldc);
    case 4: return i8b_gemm(M, A, lda, act_bits, W, 4, 0, beta, C, ldc);
    case 6: return i8b_gemm(M, A, lda, act_bits, W, 6, 0, beta, C, ldc);
    default:
      return act_bits == 8
                 ? i8b_gemm(M, A, lda, act_bits, W, 8, 1, beta, C, ldc)
                 : i8b_gemm(M, A, lda, act_bits, W, 8, 0, beta, C, ldc);
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
    int8_t *q = qa + (size_t)m * (size_t)Kp;
    bad += quantize_rows_avx2(A + (size_t)m * (size_t)lda, 1, K, lda, act_bits,
                              q, scale_a + m);
    memset(q + K, 0, (size_t)(Kp - K));
    int32_t sum = 0;
    for (int k = 0; k < K; k++)
      sum += q[k];
    sum_a[m] = sum;
  }

  /* 2. int32 dot products, offset correction and rescale */
  switch (cbits) {
  case 2: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 2, 0, beta, C, ldc); break;
  case 4: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 4, 0, beta, C, ldc); break;
  case 6: i8_gemm(M, qa, Kp, scale_a, sum_a, W, 6, 0, beta, C, ldc); break;
  default:
    if (act_bits == 8)
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

void sdq_register_quant_avx2(sdq_kernel_table *t) {
  t->quantize_rows = quantize_rows_avx2;
  t->fake_quant = fake_quant_avx2;
  t->fake_quant_backward = fake_quant_backward_avx2;
  t->qgemm_f32_nt = qgemm_f32_nt_avx2;
  t->qgemm_f32_nn = qgemm_f32_nn_avx2;
  t->qgemm_i8_nt = qgemm_i8_nt_avx2;
  t->impl[SDQ_K_QUANTIZE_ROWS] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_FAKE_QUANT] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_FAKE_QUANT_BACKWARD] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_QGEMM_F32_NT] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_QGEMM_F32_NN] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_AVX2;
}
