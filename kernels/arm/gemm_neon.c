/* gemm_neon.c - NEON fp32 GEMM: an 8x12 micro-kernel, the blocked driver
 * around it, and sgemm_nt/nn/tn built on that driver. */
#include "config.h"

#include <arm_neon.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/arm/neon_internal.h"

/* Cache blocking: all threads share one packed KC x NC block of B (1.5 MiB).
 * The MC x KC blocks of A (96 KiB) are packed one after the other. */
#define KC 256
#define MC 96    /* a multiple of SDQ_NEON_MR */
#define NC 1536  /* a multiple of SDQ_NEON_NR */

/* Products with fewer multiply-adds run on the calling thread.
 * NOTE: an estimate of where waking an OpenMP team pays off, not measured on
 * Arm hardware. */
#define PARALLEL_MIN_WORK (64L * 64 * 64)

enum { MR = SDQ_NEON_MR, NR = SDQ_NEON_NR };

static int min_int(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* c[0..n) = acc (beta == 0) or beta*c + acc, for a row of a partial tile. */
static void store_row_partial(float *c, const float *acc, int n, float beta) {
  for (int j = 0; j < n; j++)
    c[j] = beta == 0.0f ? acc[j] : beta * c[j] + acc[j];
}

/* One full row of the tile: 12 floats from three registers. */
static void store_row_full(float *c, float32x4_t x0, float32x4_t x1,
                           float32x4_t x2, float beta) {
  if (beta != 0.0f) {
    x0 = vfmaq_n_f32(x0, vld1q_f32(c), beta);
    x1 = vfmaq_n_f32(x1, vld1q_f32(c + 4), beta);
    x2 = vfmaq_n_f32(x2, vld1q_f32(c + 8), beta);
  }
  vst1q_f32(c, x0);
  vst1q_f32(c + 4, x1);
  vst1q_f32(c + 8, x2);
}

/* Micro-kernel sgemm_neon_8x12: C[mr, nr] = beta*C + Ap * Bp over kc steps,
 * where Ap is an A panel (kc x MR) and Bp a B panel (kc x NR) as the pack
 * functions write them. Row r of C uses lane r%4 of A register r/4. */
static void sgemm_neon_8x12(int kc, const float *restrict ap,
                            const float *restrict bp, float *c, int ldc,
                            float beta, int mr, int nr) {
  float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00;
  float32x4_t c10 = c00, c11 = c00, c12 = c00;
  float32x4_t c20 = c00, c21 = c00, c22 = c00;
  float32x4_t c30 = c00, c31 = c00, c32 = c00;
  float32x4_t c40 = c00, c41 = c00, c42 = c00;
  float32x4_t c50 = c00, c51 = c00, c52 = c00;
  float32x4_t c60 = c00, c61 = c00, c62 = c00;
  float32x4_t c70 = c00, c71 = c00, c72 = c00;

/* Row r of the tile += A[r] * (b0 b1 b2), A[r] being lane `lane` of av. */
#define FMA_ROW(r, av, lane)                          \
  do {                                                \
    c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane); \
    c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane); \
    c##r##2 = vfmaq_laneq_f32(c##r##2, b2, av, lane); \
  } while (0)

  for (int p = 0; p < kc; p++) {
    float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);
    float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4),
                b2 = vld1q_f32(bp + 8);
    FMA_ROW(0, a0, 0);
    FMA_ROW(1, a0, 1);
    FMA_ROW(2, a0, 2);
    FMA_ROW(3, a0, 3);
    FMA_ROW(4, a1, 0);
    FMA_ROW(5, a1, 1);
    FMA_ROW(6, a1, 2);
    FMA_ROW(7, a1, 3);
    ap += MR;
    bp += NR;
  }
#undef FMA_ROW

  if (mr == MR && nr == NR) {
    store_row_full(c + 0 * ldc, c00, c01, c02, beta);
    store_row_full(c + 1 * ldc, c10, c11, c12, beta);
    store_row_full(c + 2 * ldc, c20, c21, c22, beta);
    store_row_full(c + 3 * ldc, c30, c31, c32, beta);
    store_row_full(c + 4 * ldc, c40, c41, c42, beta);
    store_row_full(c + 5 * ldc, c50, c51, c52, beta);
    store_row_full(c + 6 * ldc, c60, c61, c62, beta);
    store_row_full(c + 7 * ldc, c70, c71, c72, beta);
    return;
  }

  float tile[MR][NR];
  float32x4_t rows[MR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22},
                             {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52},
                             {c60, c61, c62}, {c70, c71, c72}};
  for (int r = 0; r < mr; r++) {
    vst1q_f32(tile[r], rows[r][0]);
    vst1q_f32(tile[r] + 4, rows[r][1]);
    vst1q_f32(tile[r] + 8, rows[r][2]);
    store_row_partial(c + (size_t)r * ldc, tile[r], nr, beta);
  }
}

/* C = beta*C, for K == 0 (beta == 0 writes zeros without reading C). */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
  for (int i = 0; i < M; i++) {
    float *c = C + (size_t)i * ldc;
    if (beta == 0.0f)
      memset(c, 0, (size_t)N * sizeof *c);
    else
      for (int j = 0; j < N; j++)
        c[j] *= beta;
  }
}

/* Runs the blocked loops. ap has room for mc_blk x kc_blk floats and bp for
 * kc_blk x nc_blk floats. With parallel set, OpenMP threads share the
 * packing and the tiles of each block. */
static void gemm_blocked(int M, int N, int K, sdq_neon_pack_a_fn pack_a,
                         const void *a, sdq_neon_pack_b_fn pack_b,
                         const void *b, float beta, float *C, int ldc,
                         float *ap, float *bp, int mc_blk, int nc_blk,
                         int kc_blk, int parallel) {
  int use_team = parallel && (long)M * N * K >= PARALLEL_MIN_WORK;

#pragma omp parallel if (use_team)
  for (int jc = 0; jc < N; jc += nc_blk) {
    int nc = min_int(nc_blk, N - jc);
    int npanels = (nc + NR - 1) / NR;

    for (int pc = 0; pc < K; pc += kc_blk) {
      int kc = min_int(kc_blk, K - pc);
      float beta_blk = pc == 0 ? beta : 1.0f;

      /* 1. pack the KC x NC block of B, one NR-wide panel per iteration */
#pragma omp for schedule(static)
      for (int jp = 0; jp < npanels; jp++) {
        int j0 = jc + jp * NR;
        pack_b(b, pc, kc, j0, min_int(NR, N - j0), bp + (size_t)jp * NR * kc);
      }

      for (int ic = 0; ic < M; ic += mc_blk) {
        int mc = min_int(mc_blk, M - ic);
        int mpanels = (mc + MR - 1) / MR;

        /* 2. pack the MC x KC block of A */
#pragma omp for schedule(static)
        for (int ip = 0; ip < mpanels; ip++) {
          int i0 = ic + ip * MR;
          pack_a(a, i0, min_int(MR, M - i0), pc, kc, ap + (size_t)ip * MR * kc);
        }

        /* 3. every MR x NR tile of this block of C */
#pragma omp for collapse(2) schedule(static)
        for (int jp = 0; jp < npanels; jp++)
          for (int ip = 0; ip < mpanels; ip++) {
            int i0 = ic + ip * MR, j0 = jc + jp * NR;
            sgemm_neon_8x12(kc, ap + (size_t)ip * MR * kc,
                            bp + (size_t)jp * NR * kc,
                            C + (size_t)i0 * ldc + j0, ldc, beta_blk,
                            min_int(MR, M - i0), min_int(NR, N - j0));
          }
      }
    }
  }
}

void sdq_neon_gemm(int M, int N, int K, sdq_neon_pack_a_fn pack_a,
                   const void *a, sdq_neon_pack_b_fn pack_b, const void *b,
                   float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }

  int kc = min_int(K, KC);
  int mc = min_int(round_up(M, MR), MC);
  int nc = min_int(round_up(N, NR), NC);
  size_t abytes = (size_t)round_up(mc * kc * (int)sizeof(float), 64);
  size_t bbytes = (size_t)round_up(nc * kc * (int)sizeof(float), 64);
  float *ap = aligned_alloc(64, abytes);
  float *bp = aligned_alloc(64, bbytes);

  if (ap && bp) {
    gemm_blocked(M, N, K, pack_a, a, pack_b, b, beta, C, ldc, ap, bp, mc, nc,
                 kc, 1);
  } else {
    /* Out of memory: one tile at a time through 5 KiB of stack. */
    enum { KC_SMALL = 64 };
    float ap_small[MR * KC_SMALL], bp_small[NR * KC_SMALL];
    gemm_blocked(M, N, K, pack_a, a, pack_b, b, beta, C, ldc, ap_small,
                 bp_small, MR, NR, KC_SMALL, 0);
  }
  free(ap);
  free(bp);
}

/* ------------------------------------------------------ packing of fp32 */

typedef sdq_neon_dense dense;

/* op(A) = A, A[M,K] row-major: column k of the panel is strided in memory. */
void sdq_neon_pack_a_rows(const void *src, int i0, int mr, int p0, int kc,
                          float *dst) {
  const dense *a = src;
  for (int r = 0; r < MR; r++) {
    if (r >= mr) {
      for (int k = 0; k < kc; k++)
        dst[k * MR + r] = 0.0f;
      continue;
    }
    const float *row = a->p + (size_t)(i0 + r) * a->ld + p0;
    for (int k = 0; k < kc; k++)
      dst[k * MR + r] = row[k];
  }
}

/* op(A) = A^T, A[K,M] row-major: each group of the panel is contiguous. */
static void pack_a_t(const void *src, int i0, int mr, int p0, int kc,
                     float *dst) {
  const dense *a = src;
  for (int k = 0; k < kc; k++) {
    const float *row = a->p + (size_t)(p0 + k) * a->ld + i0;
    float *d = dst + (size_t)k * MR;
    if (mr == MR) {
      vst1q_f32(d, vld1q_f32(row));
      vst1q_f32(d + 4, vld1q_f32(row + 4));
    } else {
      int r = 0;
      for (; r < mr; r++)
        d[r] = row[r];
      for (; r < MR; r++)
        d[r] = 0.0f;
    }
  }
}

/* op(B) = B^T, B[N,K] row-major (the weight of Y = X*W^T). */
static void pack_b_t(const void *src, int p0, int kc, int j0, int nr,
                     float *dst) {
  const dense *b = src;
  for (int c = 0; c < NR; c++) {
    if (c >= nr) {
      for (int k = 0; k < kc; k++)
        dst[k * NR + c] = 0.0f;
      continue;
    }
    const float *row = b->p + (size_t)(j0 + c) * b->ld + p0;
    for (int k = 0; k < kc; k++)
      dst[k * NR + c] = row[k];
  }
}

/* op(B) = B, B[K,N] row-major: each group of the panel is contiguous. */
static void pack_b_n(const void *src, int p0, int kc, int j0, int nr,
                     float *dst) {
  const dense *b = src;
  for (int k = 0; k < kc; k++) {
    const float *row = b->p + (size_t)(p0 + k) * b->ld + j0;
    float *d = dst + (size_t)k * NR;
    if (nr == NR) {
      vst1q_f32(d, vld1q_f32(row));
      vst1q_f32(d + 4, vld1q_f32(row + 4));
      vst1q_f32(d + 8, vld1q_f32(row + 8));
    } else {
      int c = 0;
      for (; c < nr; c++)
        d[c] = row[c];
      for (; c < NR; c++)
        d[c] = 0.0f;
    }
  }
}

/* ------------------------------------------------------------ the kernels */

static void sgemm_nt_neon(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C,
                          int ldc) {
  dense a = {A, lda}, b = {B, ldb};
  sdq_neon_gemm(M, N, K, sdq_neon_pack_a_rows, &a, pack_b_t, &b, beta, C, ldc);
}

static void sgemm_nn_neon(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C,
                          int ldc) {
  dense a = {A, lda}, b = {B, ldb};
  sdq_neon_gemm(M, N, K, sdq_neon_pack_a_rows, &a, pack_b_n, &b, beta, C, ldc);
}

static void sgemm_tn_neon(int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C,
                          int ldc) {
  dense a = {A, lda}, b = {B, ldb};
  sdq_neon_gemm(M, N, K, pack_a_t, &a, pack_b_n, &b, beta, C, ldc);
}

void sdq_neon_register_gemm(sdq_kernel_table *t) {
  t->sgemm_nt = sgemm_nt_neon;
  t->sgemm_nn = sgemm_nn_neon;
  t->sgemm_tn = sgemm_tn_neon;
  t->impl[SDQ_K_SGEMM_NT] = SDQ_ISA_NEON;
  t->impl[SDQ_K_SGEMM_NN] = SDQ_ISA_NEON;
  t->impl[SDQ_K_SGEMM_TN] = SDQ_ISA_NEON;
}
