/* quant_avx512_i8gemm.h - the blocked integer GEMM (qgemm_i8_nt) of the
 * AVX-512 and AVX-512 VNNI variants: packed panels and an 8x48 register tile.
 *
 * Included by quant_avx512_impl.h after dot_u8s8 and unpack_u8_avx512; every
 * function is static. The GEMM works in three steps:
 *   1. A is quantized per token and packed into A panels of I8_MR rows:
 *      panel byte (kk * I8_MR + i) * 4 + b contains qa[m0 + i][4 kk + b], so the
 *      micro-kernel broadcasts one 32-bit word (4 consecutive k) per row.
 *   2. W comes as the strips of I8_NR = 48 channels cached with the matrix
 *      (kernels/qmatrix_strips.h, built on the first call): strip dword
 *      (kk * I8_NV + j) * 16 + lane contains the unsigned fields
 *      u[n0 + 16 j + lane][4 kk .. 4 kk + 3]. Channels past N are 0.
 *   3. The micro-kernel keeps I8_MR x I8_NV zmm int32 accumulators and adds
 *      4 products per lane and k step (vpdpbusd, or vpmaddubsw + vpmaddwd);
 *      the whole K runs in registers, so each output is rescaled once, in the
 *      scalar reference's order, after subtracting offset * sum(qa[m]).
 */
#ifndef SDQ_QUANT_AVX512_I8GEMM_H
#define SDQ_QUANT_AVX512_I8GEMM_H

#ifdef _OPENMP
#include <omp.h>
#endif

#include "qmatrix_strips.h"

/* Register tile: I8_MR rows of A times I8_NV vectors of 16 channels. */
#define I8_MR 8
#define I8_NV 3
#define I8_NR (16 * I8_NV)
_Static_assert(I8_NR == SDQ_I8_STRIP_N, "the tile spans one cached strip");

/* Target bytes of one thread's block of W strips (kept in the 1 MiB L2). */
#define I8_W_BLOCK_BYTES (384 * 1024)

/* Below this many multiply-adds (M * N * K) the GEMM runs on one thread. */
#define I8_PARALLEL_MIN_MACS (1 << 21)

/* Transposes the 16x16 dwords of r in place, so that afterwards r[d]
 * contains dword d of each original r[0..15], in order. */
SDQ_INLINE void transpose16x16_epi32(__m512i r[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 8; i++) {
    a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  /* b[4 i + c], 128-bit lane L: dword 4 L + c of rows 4 i .. 4 i + 3 */
  for (int i = 0; i < 4; i++) {
    b[4 * i + 0] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int c = 0; c < 4; c++) {
    const __m512i s0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x88);
    const __m512i s1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xdd);
    const __m512i s2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x88);
    const __m512i s3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xdd);
    r[0 + c] = _mm512_shuffle_i32x4(s0, s2, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(s1, s3, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(s0, s2, 0xdd);
    r[12 + c] = _mm512_shuffle_i32x4(s1, s3, 0xdd);
  }
}

/* Quantizes rows m0 .. m0 + I8_MR - 1 of A (rows >= M become 0) per token
 * to act_bits and stores them as one A panel. Writes scale_a[m] and
 * sum_a[m] = sum of qa[m, k] for the rows < M. rows is 64-aligned scratch
 * for I8_MR * Kp bytes. Returns the number of rows containing NaN or +-inf. */
static int i8_quantize_a_panel(const float *A, int lda, int M, int K, int Kp,
                               int m0, int act_bits, int8_t *rows,
                               float *scale_a, int32_t *sum_a,
                               uint8_t *panel) {
  int bad = 0;
  for (int i = 0; i < I8_MR; i++) {
    const int m = m0 + i;
    int8_t *q = rows + (size_t)i * (size_t)Kp;
    if (m >= M) {
      memset(q, 0, (size_t)Kp);
      continue;
    }
    sum_a[m] = quantize_row_sum_avx512(A + (size_t)m * (size_t)lda, K, Kp,
                                       act_bits, q, &scale_a[m]);
    bad += isnan(scale_a[m]) ? 1 : 0;
  }

  /* 16 words (64 k) of the 8 rows at a time: a 16x16 dword transpose with
   * 8 zero rows leaves word kk of row i in lane i of r[kk]; two such halves
   * make one 64-byte piece of the panel */
  for (int k0 = 0; k0 < Kp; k0 += 64) {
    __m512i r[16];
    for (int i = 0; i < 16; i++)
      r[i] = i < I8_MR ? _mm512_load_si512(rows + (size_t)i * (size_t)Kp + k0)
                       : _mm512_setzero_si512();
    transpose16x16_epi32(r);
    for (int t = 0; t < 8; t++)
      _mm512_store_si512(panel + (size_t)k0 * I8_MR + 64 * t,
                         _mm512_shuffle_i32x4(r[2 * t], r[2 * t + 1], 0x44));
  }
  return bad;
}

/* The micro-kernel: out[i][j] = sum over kk < kks of the 4-product dots of
 * A panel word (kk, i) with W strip dwords (kk, j), as int32 vectors. The
 * 24 accumulators are named variables so that GCC keeps them in registers
 * (an indexed array is spilled to the stack on every step). */
__attribute__((noinline)) static void i8_kernel_8x48(const uint8_t *ap, const uint8_t *wp, int kks,
                           __m512i out[I8_MR][I8_NV]) {
#define I8_ROW_INIT(i)                                                         \
  __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = c##i##0,                 \
          c##i##2 = c##i##0;
#define I8_ROW_STEP(i)                                                         \
  {                                                                            \
    int32_t word;                                                              \
    memcpy(&word, ap + 4 * (i), 4);                                            \
    const __m512i a = _mm512_set1_epi32(word);                                 \
    c##i##0 = dot_u8s8(c##i##0, w0, a, 0);                                     \
    c##i##1 = dot_u8s8(c##i##1, w1, a, 0);                                     \
    c##i##2 = dot_u8s8(c##i##2, w2, a, 0);                                     \
  }
#define I8_ROW_OUT(i)                                                          \
  out[i][0] = c##i##0;                                                         \
  out[i][1] = c##i##1;                                                         \
  out[i][2] = c##i##2;
  I8_ROW_INIT(0) I8_ROW_INIT(1) I8_ROW_INIT(2) I8_ROW_INIT(3)
  I8_ROW_INIT(4) I8_ROW_INIT(5) I8_ROW_INIT(6) I8_ROW_INIT(7)
  for (int kk = 0; kk < kks; kk++) {
    const __m512i w0 = _mm512_load_si512(wp);
    const __m512i w1 = _mm512_load_si512(wp + 64);
    const __m512i w2 = _mm512_load_si512(wp + 128);
    I8_ROW_STEP(0) I8_ROW_STEP(1) I8_ROW_STEP(2) I8_ROW_STEP(3)
    I8_ROW_STEP(4) I8_ROW_STEP(5) I8_ROW_STEP(6) I8_ROW_STEP(7)
    wp += 64 * I8_NV;
    ap += 4 * I8_MR;
  }
  I8_ROW_OUT(0) I8_ROW_OUT(1) I8_ROW_OUT(2) I8_ROW_OUT(3)
  I8_ROW_OUT(4) I8_ROW_OUT(5) I8_ROW_OUT(6) I8_ROW_OUT(7)
#undef I8_ROW_INIT
#undef I8_ROW_STEP
#undef I8_ROW_OUT
}

/* Writes rows m0 .. m0 + mr - 1 and channels n0 .. min(N, n0 + I8_NR) - 1
 * of C from the tile: C = ((float)(acc - offset * sum_a) * scale_a) *
 * scale_w, or beta * C + that with one rounding (as sdq_i8_rescale). */
SDQ_INLINE void i8_store_tile(__m512i acc[I8_MR][I8_NV], int mr, int n0,
                              int N, int offset, const float *scale_a,
                              const int32_t *sum_a, const float *scale_w,
                              float beta, float *C, int ldc) {
  __mmask16 mask[I8_NV];
  __m512 sw[I8_NV];
  for (int j = 0; j < I8_NV; j++) {
    mask[j] = tail_mask16(N - n0 - 16 * j);
    sw[j] = _mm512_maskz_loadu_ps(mask[j], scale_w + n0 + 16 * j);
  }
  for (int i = 0; i < mr; i++) {
    const __m512i corr = _mm512_set1_epi32(offset * sum_a[i]);
    const __m512 sa = _mm512_set1_ps(scale_a[i]);
    float *c = C + (size_t)i * (size_t)ldc + n0;
    for (int j = 0; j < I8_NV; j++) {
      if (mask[j] == 0)
        break;
      const __m512 t = _mm512_mul_ps(
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], corr)),
                        sa),
          sw[j]);
      if (beta == 0.0f)
        _mm512_mask_storeu_ps(c + 16 * j, mask[j], t);
      else
        _mm512_mask_storeu_ps(
            c + 16 * j, mask[j],
            _mm512_fmadd_ps(_mm512_set1_ps(beta),
                            _mm512_maskz_loadu_ps(mask[j], c + 16 * j), t));
    }
  }
}

/* Computes qgemm_i8_nt for W with container width cbits (the steps of the
 * file comment). Returns the number of rows of A containing NaN or +-inf, or
 * -1 when the workspace or W's strips cannot be allocated. */
static int i8_gemm_blocked(int M, const float *A, int lda, int act_bits,
                           const sdq_qmatrix *W, int cbits, float beta,
                           float *C, int ldc) {
  const int N = W->rows, K = W->cols, Kp = sdq_pack_cols_padded(K);
  const int offset = 1 << (cbits - 1);
  const int kks = Kp / 4;
  const size_t strip_bytes = (size_t)Kp * I8_NR;
  const size_t apanel_bytes = (size_t)Kp * I8_MR;
  const int mpanels = (M + I8_MR - 1) / I8_MR;
  const int strips = (N + I8_NR - 1) / I8_NR;
#ifdef _OPENMP
  const int threads = (double)M * N * K >= I8_PARALLEL_MIN_MACS && !omp_in_parallel()
                          ? omp_get_max_threads()
                          : 1;
#else
  const int threads = 1;
#endif

  /* 2. the W strips are built once per matrix and cached with it */
  const uint8_t *wstrips = sdq_qmatrix_i8_strips(W);
  if (wstrips == NULL)
    return -1;

  /* cache blocks: up to sb strips of W stay in L2 while every A panel (in
   * L1) passes over them, so C is written in runs of the block's channels.
   * Work items are such blocks, times ranges of panels when N is small. */
  int sb = (int)(I8_W_BLOCK_BYTES / strip_bytes);
  if (sb < 1)
    sb = 1;
  const sdq_i8_split sp = sdq_i8_split_work(strips, mpanels, sb, threads);

  /* workspace: the A panels, one panel of rows per thread, scale_a, sum_a */
  const size_t abytes = apanel_bytes * (size_t)mpanels;
  const size_t rbytes = abytes + apanel_bytes * (size_t)threads;
  uint8_t *work = sdq_i8_workspace_take(
      rbytes + (size_t)M * (sizeof(float) + sizeof(int32_t)));
  if (work == NULL)
    return -1;
  float *scale_a = (float *)(work + rbytes);
  int32_t *sum_a = (int32_t *)(scale_a + M);
  uint8_t *apanels = work;
  int bad = 0;

#pragma omp parallel num_threads(threads) if (threads > 1) reduction(+ : bad)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    int8_t *rows = (int8_t *)(work + abytes + apanel_bytes * (size_t)tid);

    /* 1. A panels */
#pragma omp for schedule(dynamic, 4)
    for (int p = 0; p < mpanels; p++)
      bad += i8_quantize_a_panel(A, lda, M, K, Kp, p * I8_MR, act_bits, rows,
                                 scale_a, sum_a,
                                 apanels + apanel_bytes * (size_t)p);

    /* 3. work items, taken dynamically */
#pragma omp for schedule(dynamic, 1)
    for (int w = 0; w < sp.chunks * sp.parts; w++) {
      const int s0 = w / sp.parts * sp.chunk, part = w % sp.parts;
      const int s1 = s0 + sp.chunk < strips ? s0 + sp.chunk : strips;
      const int p_begin = (int)((long)mpanels * part / sp.parts);
      const int p_end = (int)((long)mpanels * (part + 1) / sp.parts);
      for (int p = p_begin; p < p_end; p++) {
        const int m0 = p * I8_MR;
        const int mr = M - m0 < I8_MR ? M - m0 : I8_MR;
        const uint8_t *ap = apanels + apanel_bytes * (size_t)p;
        for (int s = s0; s < s1; s++) {
          __m512i acc[I8_MR][I8_NV];
          i8_kernel_8x48(ap, wstrips + strip_bytes * (size_t)s, kks, acc);
          i8_store_tile(acc, mr, s * I8_NR, N, offset, scale_a + m0,
                        sum_a + m0, W->scale, beta,
                        C + (size_t)m0 * (size_t)ldc, ldc);
        }
      }
    }
  }

  sdq_i8_workspace_give(work);
  return bad;
}

#endif /* SDQ_QUANT_AVX512_I8GEMM_H */
