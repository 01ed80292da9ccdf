/* gemm_avx2.c - AVX2+FMA fp32 GEMMs: a 6x16 register-tile micro-kernel inside
 * the blocked driver of sgemm_blocked.h. */
#include "config.h"

#include <immintrin.h>

#include "internal.h"
#include "x86/sgemm_blocked.h"

#define MR 6
#define NR 16

/* One k step of row i: two FMAs into the row's accumulators. */
#define ROW_FMA(i)                                                           \
  do {                                                                       \
    __m256 ai = _mm256_broadcast_ss(a + (i));                                \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                              \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                              \
  } while (0)

/* The micro-kernel (contract in sgemm_blocked.h): 12 accumulators of 8
 * floats hold the 6x16 tile, named so they stay in registers; per k, two
 * loads of B and six broadcasts of A. */
static void sgemm_avx2_6x16(int kc, const float *a, const float *b, float *c,
                            int ldc, float beta, int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

  /* The C tile is written (and read when beta != 0) only after the k loop,
   * so its lines (two per row when a row straddles a line boundary) are
   * fetched now and the misses overlap with the products. */
  for (int i = 0; i < mr; i++) {
    _mm_prefetch((const char *)(c + (ptrdiff_t)i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + (ptrdiff_t)i * ldc + NR - 1), _MM_HINT_T0);
  }

  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b);
    __m256 b1 = _mm256_loadu_ps(b + 8);
    ROW_FMA(0);
    ROW_FMA(1);
    ROW_FMA(2);
    ROW_FMA(3);
    ROW_FMA(4);
    ROW_FMA(5);
    a += MR;
    b += NR;
  }

  __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                       {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    __m256 vbeta = _mm256_set1_ps(beta);
    for (int i = 0; i < MR; i++) {
      float *ci = c + (ptrdiff_t)i * ldc;
      __m256 r0 = acc[i][0], r1 = acc[i][1];
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci), r0);
        r1 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci + 8), r1);
      }
      _mm256_storeu_ps(ci, r0);
      _mm256_storeu_ps(ci + 8, r1);
    }
    return;
  }

  /* Edge tile: spill the registers and copy the valid corner. */
  float tile[MR * NR];
  for (int i = 0; i < MR; i++) {
    _mm256_storeu_ps(tile + i * NR, acc[i][0]);
    _mm256_storeu_ps(tile + i * NR + 8, acc[i][1]);
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++)
      sgemm_store_beta(&c[(ptrdiff_t)i * ldc + j], beta, tile[i * NR + j]);
}

static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static float dot_avx2(int K, const float *x, const float *y) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), s1);
  }
  for (; k + 8 <= K; k += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
  float sum = hsum256(_mm256_add_ps(s0, s1));
  for (; k < K; k++)
    sum += x[k] * y[k];
  return sum;
}

#define ROW_FMA8(j) acc##j = _mm256_fmadd_ps(ak, _mm256_loadu_ps(bk + 8 * (j)), acc##j)

/* out[0..64) = sum_k a[k*a_stride] * b[k*ldb + 0..64), in 8 registers. */
static void row64_avx2(int K, const float *a, ptrdiff_t a_stride,
                       const float *b, ptrdiff_t ldb, float *out) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  __m256 acc4 = _mm256_setzero_ps(), acc5 = _mm256_setzero_ps();
  __m256 acc6 = _mm256_setzero_ps(), acc7 = _mm256_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m256 ak = _mm256_set1_ps(a[k * a_stride]);
    const float *bk = b + k * ldb;
    ROW_FMA8(0); ROW_FMA8(1); ROW_FMA8(2); ROW_FMA8(3);
    ROW_FMA8(4); ROW_FMA8(5); ROW_FMA8(6); ROW_FMA8(7);
  }
  _mm256_storeu_ps(out, acc0);
  _mm256_storeu_ps(out + 8, acc1);
  _mm256_storeu_ps(out + 16, acc2);
  _mm256_storeu_ps(out + 24, acc3);
  _mm256_storeu_ps(out + 32, acc4);
  _mm256_storeu_ps(out + 40, acc5);
  _mm256_storeu_ps(out + 48, acc6);
  _mm256_storeu_ps(out + 56, acc7);
}

/* out[0..nw) = sum_k a[k*a_stride] * b[k*ldb + 0..nw), nw <= SGEMM_ROW_CHUNK:
 * 64 columns at a time, then 8 at a time with a masked load for the last
 * group, so nothing past b[nw-1] is read. */
static void row_avx2(int K, const float *a, ptrdiff_t a_stride, const float *b,
                     ptrdiff_t ldb, int nw, float *out) {
  int n0 = 0;
  for (; n0 + 64 <= nw; n0 += 64)
    row64_avx2(K, a, a_stride, b + n0, ldb, out + n0);

  for (; n0 < nw; n0 += 8) {
    int w = nw - n0 < 8 ? nw - n0 : 8;
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(w),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc = _mm256_setzero_ps();
    for (int k = 0; k < K; k++)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a[k * a_stride]),
                            _mm256_maskload_ps(b + k * ldb + n0, mask), acc);
    _mm256_maskstore_ps(out + n0, mask, acc);
  }
}

/* Lanes k < w of an 8-float vector (w in 1..8), as a maskload mask. */
static inline __m256i lanes_below(int w) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(w),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Rows i0, i0+1 of the skinny path's 4x4 dot-product tile: 8 accumulators
 * (the 16 of a full tile would not leave registers for the loads). */
static void dot2x4_avx2(int K, const float *x0, const float *x1,
                        const float *const y[4], float out[8]) {
  __m256 acc[8];
  for (int i = 0; i < 8; i++)
    acc[i] = _mm256_setzero_ps();
  for (int k = 0; k < K; k += 8) {
    __m256i m = lanes_below(K - k < 8 ? K - k : 8);
    __m256 a0 = _mm256_maskload_ps(x0 + k, m), a1 = _mm256_maskload_ps(x1 + k, m);
    for (int j = 0; j < 4; j++) {
      __m256 yj = _mm256_maskload_ps(y[j] + k, m);
      acc[j] = _mm256_fmadd_ps(a0, yj, acc[j]);
      acc[4 + j] = _mm256_fmadd_ps(a1, yj, acc[4 + j]);
    }
  }
  for (int i = 0; i < 8; i++)
    out[i] = hsum256(acc[i]);
}

/* The skinny path's 4x4 tile of dot products (contract in sgemm_blocked.h). */
static void dot4x4_avx2(int K, const float *const x[4], const float *const y[4],
                        float out[16]) {
  dot2x4_avx2(K, x[0], x[1], y, out);
  dot2x4_avx2(K, x[2], x[3], y, out + 8);
}

#define TN_MW 16
#define TN_NW 6

/* The skinny sgemm_tn tile (contract in sgemm_blocked.h; adds to out): 16 rows of C
 * (two vectors along m) times 6 columns in 12 accumulators. */
static void tn_tile_avx2(int K, const float *a, ptrdiff_t lda, int mw,
                         const float *b, float *out) {
  __m256i m0 = lanes_below(mw >= 8 ? 8 : mw);
  __m256i m1 = mw <= 8 ? _mm256_setzero_si256() : lanes_below(mw - 8 >= 8 ? 8 : mw - 8);
  __m256 acc[TN_NW][2];
  for (int j = 0; j < TN_NW; j++) {
    acc[j][0] = _mm256_loadu_ps(out + j * TN_MW);
    acc[j][1] = _mm256_loadu_ps(out + j * TN_MW + 8);
  }
  for (int k = 0; k < K; k++) {
    const float *ak = a + k * lda, *bk = b + k * TN_NW;
    __m256 a0 = _mm256_maskload_ps(ak, m0);
    __m256 a1 = _mm256_maskload_ps(ak + 8, m1);
    for (int j = 0; j < TN_NW; j++) {
      __m256 bj = _mm256_broadcast_ss(bk + j);
      acc[j][0] = _mm256_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(a1, bj, acc[j][1]);
    }
  }
  for (int j = 0; j < TN_NW; j++) {
    _mm256_storeu_ps(out + j * TN_MW, acc[j][0]);
    _mm256_storeu_ps(out + j * TN_MW + 8, acc[j][1]);
  }
}

/* Cache blocks, the fastest measured on a Zen 4 EPYC (32 KB L1d, 1 MB L2
 * per core, shared L3) on the GPT-2 shapes. kc = 768 covers K = 768 in one
 * pass. The mc x kc packed A block (432 KB) and the kc x NR B panel in use
 * (48 KB) stay in L2, and each thread's kc x nc B block (3 MB) stays in L3.
 * NOTE: tuned on this one CPU model only. */
static const struct sgemm_kernel kernel_avx2 = {
    .mr = MR, .nr = NR, .mc = 144, .kc = 768, .nc = 1024,
    .ukr = sgemm_avx2_6x16, .dot = dot_avx2, .row = row_avx2,
    .dot4x4 = dot4x4_avx2, .tn_tile = tn_tile_avx2,
    .tn_mw = TN_MW, .tn_nw = TN_NW,
};

static void sgemm_nt_avx2(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  sgemm_blocked_nt(&kernel_avx2, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void sgemm_nn_avx2(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  sgemm_blocked_nn(&kernel_avx2, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void sgemm_tn_avx2(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  sgemm_blocked_tn(&kernel_avx2, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sdq_register_gemm_avx2(sdq_kernel_table *t) {
  t->sgemm_nt = sgemm_nt_avx2;
  t->sgemm_nn = sgemm_nn_avx2;
  t->sgemm_tn = sgemm_tn_avx2;
  t->impl[SDQ_K_SGEMM_NT] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_SGEMM_NN] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_SGEMM_TN] = SDQ_ISA_AVX2;
}
