/* gemm_avx512.c - AVX-512 fp32 GEMMs: a 12x32 register-tile micro-kernel inside
 * the blocked driver of sgemm_blocked.h. */
#include "config.h"

#include <immintrin.h>

#include "internal.h"
#include "x86/sgemm_blocked.h"

#define MR 12
#define NR 32

/* One k step of row i: two FMAs into the row's accumulators. */
#define ROW_FMA(i)                                                           \
  do {                                                                       \
    __m512 ai = _mm512_set1_ps(a[i]);                                        \
    c##i##_0 = _mm512_fmadd_ps(ai, b0, c##i##_0);                            \
    c##i##_1 = _mm512_fmadd_ps(ai, b1, c##i##_1);                            \
  } while (0)

#define ZERO_ROW(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps()

/* The micro-kernel (contract in sgemm_blocked.h): 24 accumulators of 16
 * floats hold the 12x32 tile, named so they stay in registers; per k, two
 * loads of B and twelve broadcasts of A (folded into the FMAs as embedded
 * broadcasts). */
static void sgemm_avx512_12x32(int kc, const float *a, const float *b,
                               float *c, int ldc, float beta, int mr, int nr) {
  ZERO_ROW(0); ZERO_ROW(1); ZERO_ROW(2); ZERO_ROW(3); ZERO_ROW(4); ZERO_ROW(5);
  ZERO_ROW(6); ZERO_ROW(7); ZERO_ROW(8); ZERO_ROW(9); ZERO_ROW(10); ZERO_ROW(11);

  /* The C tile is written (and read when beta != 0) only after the k loop,
   * so its lines are fetched now and the misses overlap with the products. */
  for (int i = 0; i < mr; i++) {
    _mm_prefetch((const char *)(c + (ptrdiff_t)i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + (ptrdiff_t)i * ldc + 16), _MM_HINT_T0);
  }

  for (int p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b);
    __m512 b1 = _mm512_loadu_ps(b + 16);
    ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5);
    ROW_FMA(6); ROW_FMA(7); ROW_FMA(8); ROW_FMA(9); ROW_FMA(10); ROW_FMA(11);
    a += MR;
    b += NR;
  }

  __m512 acc[MR][2] = {{c0_0, c0_1}, {c1_0, c1_1}, {c2_0, c2_1},
                       {c3_0, c3_1}, {c4_0, c4_1}, {c5_0, c5_1},
                       {c6_0, c6_1}, {c7_0, c7_1}, {c8_0, c8_1},
                       {c9_0, c9_1}, {c10_0, c10_1}, {c11_0, c11_1}};

  /* Full rows use masked stores for a partial width, so only edge rows
   * below mr are skipped; nothing outside the mr x nr corner is touched. */
  __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
  __m512 vbeta = _mm512_set1_ps(beta);
  for (int i = 0; i < mr; i++) {
    float *ci = c + (ptrdiff_t)i * ldc;
    if (beta != 0.0f) {
      acc[i][0] = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m0, ci), acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m1, ci + 16), acc[i][1]);
    }
    _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
    _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
  }
}

static float dot_avx512(int K, const float *x, const float *y) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int k = 0;
  for (; k + 32 <= K; k += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(y + k + 16), s1);
  }
  for (; k < K; k += 16) {
    __mmask16 m = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k),
                         _mm512_maskz_loadu_ps(m, y + k), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

#define ROW_FMA16(j) acc##j = _mm512_fmadd_ps(ak, _mm512_loadu_ps(bk + 16 * (j)), acc##j)

/* out[0..128) = sum_k a[k*a_stride] * b[k*ldb + 0..128), in 8 registers. */
static void row128_avx512(int K, const float *a, ptrdiff_t a_stride,
                          const float *b, ptrdiff_t ldb, float *out) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  __m512 acc4 = _mm512_setzero_ps(), acc5 = _mm512_setzero_ps();
  __m512 acc6 = _mm512_setzero_ps(), acc7 = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m512 ak = _mm512_set1_ps(a[k * a_stride]);
    const float *bk = b + k * ldb;
    ROW_FMA16(0); ROW_FMA16(1); ROW_FMA16(2); ROW_FMA16(3);
    ROW_FMA16(4); ROW_FMA16(5); ROW_FMA16(6); ROW_FMA16(7);
  }
  _mm512_storeu_ps(out, acc0);
  _mm512_storeu_ps(out + 16, acc1);
  _mm512_storeu_ps(out + 32, acc2);
  _mm512_storeu_ps(out + 48, acc3);
  _mm512_storeu_ps(out + 64, acc4);
  _mm512_storeu_ps(out + 80, acc5);
  _mm512_storeu_ps(out + 96, acc6);
  _mm512_storeu_ps(out + 112, acc7);
}

/* out[0..nw) = sum_k a[k*a_stride] * b[k*ldb + 0..nw), nw <= SGEMM_ROW_CHUNK
 * (128): a full chunk in registers, else 16 columns at a time with masked
 * loads, so nothing past b[nw-1] is read. */
static void row_avx512(int K, const float *a, ptrdiff_t a_stride,
                       const float *b, ptrdiff_t ldb, int nw, float *out) {
  if (nw == 128) {
    row128_avx512(K, a, a_stride, b, ldb, out);
    return;
  }
  for (int n0 = 0; n0 < nw; n0 += 16) {
    int w = nw - n0 < 16 ? nw - n0 : 16;
    __mmask16 mask = (__mmask16)((1u << w) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < K; k++)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k * a_stride]),
                            _mm512_maskz_loadu_ps(mask, b + k * ldb + n0), acc);
    _mm512_mask_storeu_ps(out + n0, mask, acc);
  }
}

/* The skinny path's 4x4 tile of dot products (contract in sgemm_blocked.h):
 * 16 accumulators of 16 k each, reduced at the end. */
static void dot4x4_avx512(int K, const float *const x[4],
                          const float *const y[4], float out[16]) {
  __m512 acc[16];
  for (int i = 0; i < 16; i++)
    acc[i] = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 16) {
    __mmask16 m = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
    __m512 xv[4], yv[4];
    for (int i = 0; i < 4; i++) {
      xv[i] = _mm512_maskz_loadu_ps(m, x[i] + k);
      yv[i] = _mm512_maskz_loadu_ps(m, y[i] + k);
    }
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++)
        acc[4 * i + j] = _mm512_fmadd_ps(xv[i], yv[j], acc[4 * i + j]);
  }
  for (int i = 0; i < 16; i++)
    out[i] = _mm512_reduce_add_ps(acc[i]);
}

#define TN_MW 32
#define TN_NW 8

/* The skinny sgemm_tn tile (contract in sgemm_blocked.h; adds to out): 32 rows of C
 * (two vectors along m) times 8 columns in 16 accumulators. */
static void tn_tile_avx512(int K, const float *a, ptrdiff_t lda, int mw,
                           const float *b, float *out) {
  __mmask16 m0 = mw >= 16 ? 0xffff : (__mmask16)((1u << mw) - 1);
  __mmask16 m1 = mw >= 32 ? 0xffff : mw <= 16 ? 0 : (__mmask16)((1u << (mw - 16)) - 1);
  __m512 acc[TN_NW][2];
  for (int j = 0; j < TN_NW; j++) {
    acc[j][0] = _mm512_loadu_ps(out + j * TN_MW);
    acc[j][1] = _mm512_loadu_ps(out + j * TN_MW + 16);
  }
  for (int k = 0; k < K; k++) {
    const float *ak = a + k * lda, *bk = b + k * TN_NW;
    __m512 a0 = _mm512_maskz_loadu_ps(m0, ak);
    __m512 a1 = _mm512_maskz_loadu_ps(m1, ak + 16);
    for (int j = 0; j < TN_NW; j++) {
      __m512 bj = _mm512_set1_ps(bk[j]);
      acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
    }
  }
  for (int j = 0; j < TN_NW; j++) {
    _mm512_storeu_ps(out + j * TN_MW, acc[j][0]);
    _mm512_storeu_ps(out + j * TN_MW + 16, acc[j][1]);
  }
}

/* Cache blocks, the fastest measured on a Zen 4 EPYC (32 KB L1d, 1 MB L2
 * per core, shared L3) on the GPT-2 shapes. kc = 768 covers K = 768 in one
 * pass, so C is written once. The mc x kc packed A block (288 KB) and the
 * kc x NR B panel in use (96 KB) stay in L2, and each thread's kc x nc B
 * block (3 MB) stays in L3. Raising kc from 192 to 768 gained 10-15% on one
 * core; mc from 48 to 240 and nc from 768 to 2048 changed less than the
 * run-to-run noise.
 * NOTE: tuned on this one CPU model only. */
static const struct sgemm_kernel kernel_avx512 = {
    .mr = MR, .nr = NR, .mc = 96, .kc = 768, .nc = 1024,
    .ukr = sgemm_avx512_12x32, .dot = dot_avx512, .row = row_avx512,
    .dot4x4 = dot4x4_avx512, .tn_tile = tn_tile_avx512,
    .tn_mw = TN_MW, .tn_nw = TN_NW,
};

static void sgemm_nt_avx512(int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C,
                            int ldc) {
  sgemm_blocked_nt(&kernel_avx512, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void sgemm_nn_avx512(int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C,
                            int ldc) {
  sgemm_blocked_nn(&kernel_avx512, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void sgemm_tn_avx512(int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C,
                            int ldc) {
  sgemm_blocked_tn(&kernel_avx512, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sdq_register_gemm_avx512(sdq_kernel_table *t) {
  t->sgemm_nt = sgemm_nt_avx512;
  t->sgemm_nn = sgemm_nn_avx512;
  t->sgemm_tn = sgemm_tn_avx512;
  t->impl[SDQ_K_SGEMM_NT] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_SGEMM_NN] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_SGEMM_TN] = SDQ_ISA_AVX512;
}
