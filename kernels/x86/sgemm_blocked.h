/* sgemm_blocked.h - the ISA-independent part of the SIMD fp32 GEMMs: BLIS-style
 * cache blocking, packing and OpenMP around a register-tile micro-kernel, plus
 * a streaming path for very few rows and a skinny path for very few columns.
 *
 * Included by each x86 GEMM file (and so compiled with that file's -m flags);
 * the file supplies the micro-kernel, the two small-M helpers and the two
 * skinny-path tiles.
 *
 * C[M,N] = beta*C + op(A)[M,K] * op(B)[K,N] is cut into one slice per OpenMP
 * thread, along N when N > M and along M otherwise. Each thread runs these
 * loops on its slice with its own packing buffers, so no thread waits for
 * another before the end of the call:
 *   jc over N in blocks of nc     B block (kc x nc) packed
 *     pc over K in blocks of kc   beta applies at pc == 0
 *       ic over M in blocks of mc A block (mc x kc) packed
 *         jr over NR-wide panels, ir over MR-tall panels: micro-kernel
 * Each C element is summed in the same order whatever the thread count, so
 * results do not depend on it. */
#ifndef SDQ_SGEMM_BLOCKED_H
#define SDQ_SGEMM_BLOCKED_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Micro-kernel contract: a is a packed MR x kc panel (for each k, MR values
 * of consecutive rows), b a packed kc x NR panel (for each k, NR values of
 * consecutive columns). Writes the top-left mr x nr corner (mr <= MR,
 * nr <= NR) of the MR x NR product into c (row stride ldc):
 * c = product when beta == 0 (c not read), else beta*c + product. */
typedef void (*sgemm_ukr_fn)(int kc, const float *a, const float *b, float *c,
                             int ldc, float beta, int mr, int nr);

/* Returns the dot product of x[0..K) and y[0..K). */
typedef float (*sgemm_dot_fn)(int K, const float *x, const float *y);

/* out[0..nw) = sum over k < K of a[k * a_stride] * b[k * ldb + 0..nw),
 * for nw <= SGEMM_ROW_CHUNK. */
typedef void (*sgemm_row_fn)(int K, const float *a, ptrdiff_t a_stride,
                             const float *b, ptrdiff_t ldb, int nw, float *out);

#define SGEMM_ROW_CHUNK 128

/* out[4 i + j] = dot product over k < K of x[i][k] and y[j][k], for
 * i, j < 4 (the skinny path's 4x4 tile of dot products). */
typedef void (*sgemm_dot4x4_fn)(int K, const float *const x[4],
                                const float *const y[4], float out[16]);

/* The skinny sgemm_tn tile: out[j * tn_mw + i] += sum over k < K (in k
 * order) of a[k * lda + i] * b[k * tn_nw + j], for i < mw (<= tn_mw;
 * nothing past a[k * lda + mw - 1] is read) and j < tn_nw. */
typedef void (*sgemm_tn_tile_fn)(int K, const float *a, ptrdiff_t lda, int mw,
                                 const float *b, float *out);

struct sgemm_kernel {
  int mr, nr;     /* register tile */
  int mc, kc, nc; /* cache blocks: mc multiple of mr, nc multiple of nr */
  sgemm_ukr_fn ukr;
  sgemm_dot_fn dot;
  sgemm_row_fn row;
  sgemm_dot4x4_fn dot4x4;
  sgemm_tn_tile_fn tn_tile;
  int tn_mw, tn_nw; /* tn_tile's tile: tn_mw rows of C, tn_nw columns */
};

/* op(A)[m,k] = A[m*a_rs + k*a_cs]; op(B)[k,n] = B[k*b_rs + n*b_cs]. */
struct sgemm_operands {
  int M, N, K;
  const float *A;
  ptrdiff_t a_rs, a_cs;
  const float *B;
  ptrdiff_t b_rs, b_cs;
  float beta;
  float *C;
  ptrdiff_t ldc;
};

/* Below this many multiply-adds a GEMM runs on one thread. */
#define SGEMM_PARALLEL_MIN_MACS (1 << 18)
/* Up to this many rows the streaming path (no packing) is used. */
#define SGEMM_SMALL_M 4
/* Up to this many columns (a LoRA rank), with at least SGEMM_SKINNY_MIN_K
 * terms per sum, the skinny path is used. */
#define SGEMM_SMALL_N 16
#define SGEMM_SKINNY_MIN_K 32
/* Rows of A per K block of the skinny sgemm_tn (a few hundred KB of A). */
#define SGEMM_SKINNY_TN_KC 32

static inline void sgemm_store_beta(float *c, float beta, float value) {
  *c = beta == 0.0f ? value : beta * *c + value;
}

/* Transposes the 8x8 block in r: afterwards r[q] holds element q of each
 * original r[0..7], in order. */
static inline void sgemm_transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int q = 0; q < 4; q++) {
    r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

/* Writes n rows of src (row i at src + i * stride, contiguous in k) over
 * k in [0, kc) transposed into out: out[p * ld + i] = src[i * stride + p].
 * 8x8 blocks go through registers, 4x4 and pairs through 128-bit registers,
 * the rest one by one. While one group of 8 rows is transposed, the rows
 * 16 ahead (into the next panel for the last groups) are prefetched: the
 * rows are short streams that the hardware prefetchers pick up late. */
static void sgemm_transpose_rows(const float *src, ptrdiff_t stride, int n,
                                 int kc, float *out, int ld) {
#define ROW(i) (src + (ptrdiff_t)(i) * stride)
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
      if (p % 16 == 0)
        for (int q = 0; q < 8; q++)
          _mm_prefetch((const char *)(ROW(i + 16 + q) + p), _MM_HINT_T0);
      __m256 r[8];
      for (int q = 0; q < 8; q++)
        r[q] = _mm256_loadu_ps(ROW(i + q) + p);
      sgemm_transpose8x8(r);
      for (int q = 0; q < 8; q++)
        _mm256_storeu_ps(out + (size_t)(p + q) * ld + i, r[q]);
    }
    for (; p < kc; p++)
      for (int q = 0; q < 8; q++)
        out[(size_t)p * ld + i + q] = ROW(i + q)[p];
  }
  for (; i + 4 <= n; i += 4) {
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
      __m128 r0 = _mm_loadu_ps(ROW(i) + p), r1 = _mm_loadu_ps(ROW(i + 1) + p);
      __m128 r2 = _mm_loadu_ps(ROW(i + 2) + p), r3 = _mm_loadu_ps(ROW(i + 3) + p);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(out + (size_t)p * ld + i, r0);
      _mm_storeu_ps(out + (size_t)(p + 1) * ld + i, r1);
      _mm_storeu_ps(out + (size_t)(p + 2) * ld + i, r2);
      _mm_storeu_ps(out + (size_t)(p + 3) * ld + i, r3);
    }
    for (; p < kc; p++)
      for (int q = 0; q < 4; q++)
        out[(size_t)p * ld + i + q] = ROW(i + q)[p];
  }
  for (; i + 2 <= n; i += 2) {
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
      __m128 r0 = _mm_loadu_ps(ROW(i) + p), r1 = _mm_loadu_ps(ROW(i + 1) + p);
      __m128 lo = _mm_unpacklo_ps(r0, r1), hi = _mm_unpackhi_ps(r0, r1);
      _mm_storel_pi((__m64 *)(out + (size_t)p * ld + i), lo);
      _mm_storeh_pi((__m64 *)(out + (size_t)(p + 1) * ld + i), lo);
      _mm_storel_pi((__m64 *)(out + (size_t)(p + 2) * ld + i), hi);
      _mm_storeh_pi((__m64 *)(out + (size_t)(p + 3) * ld + i), hi);
    }
    for (; p < kc; p++) {
      out[(size_t)p * ld + i] = ROW(i)[p];
      out[(size_t)p * ld + i + 1] = ROW(i + 1)[p];
    }
  }
  for (; i < n; i++)
    for (int p = 0; p < kc; p++)
      out[(size_t)p * ld + i] = ROW(i)[p];
#undef ROW
}

/* Sets out[p * ld + i] = 0 for i in [i0, i1), p in [0, kc). */
static void sgemm_zero_cols(float *out, int ld, int i0, int i1, int kc) {
  if (i0 >= i1)
    return;
  for (int p = 0; p < kc; p++)
    memset(out + (size_t)p * ld + i0, 0, (size_t)(i1 - i0) * sizeof(float));
}

/* Packs rows [m0, m0+mc) x cols [p0, p0+kc) of op(A) into MR-tall panels;
 * rows past M are zero. */
static void sgemm_pack_a(const struct sgemm_operands *op, int mr, int m0,
                         int mc, int p0, int kc, float *dst) {
  for (int i0 = 0; i0 < mc; i0 += mr) {
    int rows = mc - i0 < mr ? mc - i0 : mr;
    float *panel = dst + (size_t)i0 * kc;
    const float *src = op->A + (m0 + i0) * op->a_rs + p0 * op->a_cs;
    if (op->a_cs == 1) {
      /* Rows contiguous in k (sgemm_nt, sgemm_nn): transpose into the panel. */
      sgemm_transpose_rows(src, op->a_rs, rows, kc, panel, mr);
      sgemm_zero_cols(panel, mr, rows, mr, kc);
    } else {
      /* Columns contiguous in m (sgemm_tn, where a_rs == 1): copy MR values
       * per k. */
      for (int p = 0; p < kc; p++) {
        float *out = panel + (size_t)p * mr;
        memcpy(out, src + p * op->a_cs, (size_t)rows * sizeof(float));
        for (int r = rows; r < mr; r++)
          out[r] = 0.0f;
      }
    }
  }
}

/* Packs the NR-wide panel starting at column n0 (nr_valid columns), rows
 * [p0, p0+kc) of op(B), with zeros in the columns past N. It serves
 * sgemm_nt, where B is stored [N, K] (b_rs == 1), so NR rows of B are
 * transposed into the panel. */
static void sgemm_pack_b_panel(const struct sgemm_operands *op, int nr, int n0,
                               int nr_valid, int p0, int kc, float *panel) {
  const float *src = op->B + p0 * op->b_rs + n0 * op->b_cs;
  sgemm_transpose_rows(src, op->b_cs, nr_valid, kc, panel, nr);
  sgemm_zero_cols(panel, nr, nr_valid, nr, kc);
}

/* Packs columns [n0, n0+nc) x rows [p0, p0+kc) of op(B) into NR-wide
 * panels, when the rows of op(B) are contiguous in n (sgemm_nn, sgemm_tn,
 * b_cs == 1). Each row of the block is read once, front to back, which the
 * hardware prefetchers follow better than one short run per row and panel.
 * Columns past N are zero. */
static void sgemm_pack_b_rows(const struct sgemm_operands *op, int NR, int n0,
                              int nc, int p0, int kc, float *dst) {
  int n_panels = (nc + NR - 1) / NR;
  for (int p = 0; p < kc; p++) {
    const float *row = op->B + (ptrdiff_t)(p0 + p) * op->b_rs + n0;
    for (int jp = 0; jp < n_panels; jp++) {
      int j0 = jp * NR;
      int valid = nc - j0 < NR ? nc - j0 : NR;
      float *out = dst + (size_t)j0 * kc + (size_t)p * NR;
      memcpy(out, row + j0, (size_t)valid * sizeof(float));
      for (int j = valid; j < NR; j++)
        out[j] = 0.0f;
    }
  }
}

/* Applies beta to C when K == 0: C = beta*C (C = 0 when beta == 0). */
static void sgemm_scale_only(const struct sgemm_operands *op) {
  for (int m = 0; m < op->M; m++)
    for (int n = 0; n < op->N; n++)
      sgemm_store_beta(&op->C[m * op->ldc + n], op->beta, 0.0f);
}

/* The streaming path: no packing, for few rows (generation with M = 1) and
 * as the fallback when the packing buffers cannot be allocated. Each thread
 * owns a range of output columns. */
static void sgemm_small(const struct sgemm_kernel *kern,
                        const struct sgemm_operands *op) {
  int M = op->M, N = op->N, K = op->K;
  int parallel = (double)M * N * K >= SGEMM_PARALLEL_MIN_MACS;

  if (op->b_rs == 1) {
    /* op(B) columns are contiguous (sgemm_nt): dot products; A rows must be
     * contiguous too, otherwise gather them per row. */
#pragma omp parallel for schedule(static) if (parallel)
    for (int n = 0; n < N; n++) {
      const float *bcol = op->B + n * op->b_cs;
      for (int m = 0; m < M; m++) {
        float sum;
        if (op->a_cs == 1) {
          sum = kern->dot(K, op->A + m * op->a_rs, bcol);
        } else {
          sum = 0.0f;
          for (int k = 0; k < K; k++)
            sum += op->A[m * op->a_rs + k * op->a_cs] * bcol[k];
        }
        sgemm_store_beta(&op->C[m * op->ldc + n], op->beta, sum);
      }
    }
    return;
  }

  /* op(B) rows are contiguous (sgemm_nn, sgemm_tn): each output chunk is a
   * sum of scaled B row segments. */
  int chunks = (N + SGEMM_ROW_CHUNK - 1) / SGEMM_ROW_CHUNK;
#pragma omp parallel for schedule(static) if (parallel)
  for (int j = 0; j < chunks; j++) {
    int n0 = j * SGEMM_ROW_CHUNK;
    int nw = N - n0 < SGEMM_ROW_CHUNK ? N - n0 : SGEMM_ROW_CHUNK;
    float out[SGEMM_ROW_CHUNK];
    for (int m = 0; m < M; m++) {
      kern->row(K, op->A + m * op->a_rs, op->a_cs, op->B + n0 * op->b_cs,
                op->b_rs, nw, out);
      float *c = op->C + m * op->ldc + n0;
      for (int n = 0; n < nw; n++)
        sgemm_store_beta(&c[n], op->beta, out[n]);
    }
  }
}

/* The skinny path for N <= SGEMM_SMALL_N (LoRA-rank outputs), with the
 * vectors along the long K or M dimension instead of the short N:
 * - sgemm_nt and sgemm_nn: C[m,n] is the dot product of row m of A and
 *   column n of op(B), in 4x4 tiles; sgemm_nn first transposes its few B
 *   columns into rows (N x K floats).
 * - sgemm_tn: for each k, a run of A[k, m..] (contiguous in m) times
 *   broadcast B[k, n]; B is copied into zero-padded tn_nw-wide strips.
 * Returns 0, or -1 when the scratch buffer cannot be allocated (nothing
 * written). Each C element is summed in the same order whatever the thread
 * count. */
static int sgemm_skinny(const struct sgemm_kernel *kern,
                        const struct sgemm_operands *op) {
  int M = op->M, N = op->N, K = op->K;
  int parallel = (double)M * N * K >= SGEMM_PARALLEL_MIN_MACS;

  if (op->a_cs == 1) {
    const float *bt = op->B;
    ptrdiff_t ldbt = op->b_cs;
    float *buf = NULL;
    if (op->b_rs != 1) {
      buf = malloc((size_t)N * K * sizeof(float));
      if (buf == NULL)
        return -1;
      sgemm_transpose_rows(op->B, op->b_rs, K, N, buf, K);
      bt = buf;
      ldbt = K;
    }

    int m_tiles = (M + 3) / 4;
#pragma omp parallel for schedule(static) if (parallel)
    for (int t = 0; t < m_tiles; t++) {
      int m0 = 4 * t;
      int mv = M - m0 < 4 ? M - m0 : 4;
      const float *x[4], *y[4];
      for (int i = 0; i < 4; i++)
        x[i] = op->A + (m0 + (i < mv ? i : 0)) * op->a_rs;
      for (int n0 = 0; n0 < N; n0 += 4) {
        int nv = N - n0 < 4 ? N - n0 : 4;
        for (int j = 0; j < 4; j++)
          y[j] = bt + (n0 + (j < nv ? j : 0)) * ldbt;
        float out[16];
        kern->dot4x4(K, x, y, out);
        for (int i = 0; i < mv; i++)
          for (int j = 0; j < nv; j++)
            sgemm_store_beta(&op->C[(m0 + i) * op->ldc + n0 + j], op->beta,
                             out[4 * i + j]);
      }
    }
    free(buf);
    return 0;
  }

  /* sgemm_tn: a_rs == 1, b_cs == 1. The sums run over K in blocks of
   * SGEMM_SKINNY_TN_KC rows of A, each block swept over all M so its rows
   * stream in order; the partial sums wait in acc between blocks. */
  const int MW = kern->tn_mw, NW = kern->tn_nw;
  int n_strips = (N + NW - 1) / NW;
  int m_tiles = (M + MW - 1) / MW;
  float *bp = malloc((size_t)n_strips * K * NW * sizeof(float));
  float *acc = calloc((size_t)m_tiles * n_strips * MW * NW, sizeof(float));
  if (bp == NULL || acc == NULL) {
    free(bp);
    free(acc);
    return -1;
  }
  for (int s = 0; s < n_strips; s++) {
    int n0 = s * NW, nv = N - n0 < NW ? N - n0 : NW;
    for (int k = 0; k < K; k++) {
      float *out = bp + ((size_t)s * K + k) * NW;
      for (int j = 0; j < NW; j++)
        out[j] = j < nv ? op->B[k * op->b_rs + n0 + j] : 0.0f;
    }
  }

#pragma omp parallel if (parallel)
  for (int k0 = 0; k0 < K; k0 += SGEMM_SKINNY_TN_KC) {
    int kb = K - k0 < SGEMM_SKINNY_TN_KC ? K - k0 : SGEMM_SKINNY_TN_KC;
#pragma omp for schedule(static)
    for (int t = 0; t < m_tiles; t++) {
      int m0 = t * MW;
      int mv = M - m0 < MW ? M - m0 : MW;
      for (int s = 0; s < n_strips; s++)
        kern->tn_tile(kb, op->A + k0 * op->a_cs + m0, op->a_cs, mv,
                      bp + ((size_t)s * K + k0) * NW,
                      acc + ((size_t)t * n_strips + s) * MW * NW);
    }
  }

  for (int t = 0; t < m_tiles; t++) {
    int m0 = t * MW;
    int mv = M - m0 < MW ? M - m0 : MW;
    for (int s = 0; s < n_strips; s++) {
      int n0 = s * NW, nv = N - n0 < NW ? N - n0 : NW;
      const float *out = acc + ((size_t)t * n_strips + s) * MW * NW;
      for (int i = 0; i < mv; i++)
        for (int j = 0; j < nv; j++)
          sgemm_store_beta(&op->C[(m0 + i) * op->ldc + n0 + j], op->beta,
                           out[j * MW + i]);
    }
  }
  free(acc);
  free(bp);
  return 0;
}

static inline int sgemm_round_up(int x, int to) { return (x + to - 1) / to * to; }

/* Computes one thread's share of the blocked GEMM: the slice of C rows
 * [m0, m1) x columns [n0, n1) (n0 a multiple of NR), over all of K, with the
 * thread's own packing buffers (apack for an mc x kc block of A, bpack for a
 * kc x nc block of B). A transposed B panel (sgemm_nt) is packed just before
 * its first use, so the micro-kernel finds it in cache. */
static void sgemm_blocked_slice(const struct sgemm_kernel *kern,
                                const struct sgemm_operands *op, int m0, int m1,
                                int n0, int n1, int mc, float *apack,
                                float *bpack) {
  const int MR = kern->mr, NR = kern->nr, K = op->K;

  for (int jc = n0; jc < n1; jc += kern->nc) {
    int nc = n1 - jc < kern->nc ? n1 - jc : kern->nc;
    int n_panels = (nc + NR - 1) / NR;

    for (int pc = 0; pc < K; pc += kern->kc) {
      int kc = K - pc < kern->kc ? K - pc : kern->kc;
      float beta = pc == 0 ? op->beta : 1.0f;
      int transpose_b = op->b_cs != 1;
      if (!transpose_b)
        sgemm_pack_b_rows(op, NR, jc, nc, pc, kc, bpack);

      for (int ic = m0; ic < m1; ic += mc) {
        int mcur = m1 - ic < mc ? m1 - ic : mc;
        sgemm_pack_a(op, MR, ic, mcur, pc, kc, apack);

        for (int jp = 0; jp < n_panels; jp++) {
          int j0 = jp * NR;
          int nr = nc - j0 < NR ? nc - j0 : NR;
          float *bpanel = bpack + (size_t)j0 * kc;
          if (transpose_b && ic == m0)
            sgemm_pack_b_panel(op, NR, jc + j0, nr, pc, kc, bpanel);
          for (int i0 = 0; i0 < mcur; i0 += MR) {
            int mr = mcur - i0 < MR ? mcur - i0 : MR;
            float *c = op->C + (ptrdiff_t)(ic + i0) * op->ldc + jc + j0;
            kern->ukr(kc, apack + (size_t)i0 * kc, bpanel, c, (int)op->ldc,
                      beta, mr, nr);
          }
        }
      }
    }
  }
}

static void sgemm_blocked(const struct sgemm_kernel *kern,
                          const struct sgemm_operands *op) {
  int M = op->M, N = op->N, K = op->K;
  const int MR = kern->mr, NR = kern->nr;

  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    sgemm_scale_only(op);
    return;
  }
  if (M <= SGEMM_SMALL_M) {
    sgemm_small(kern, op);
    return;
  }
  if (N <= SGEMM_SMALL_N && K >= SGEMM_SKINNY_MIN_K && sgemm_skinny(kern, op) == 0)
    return;

  int parallel = (double)M * N * K >= SGEMM_PARALLEL_MIN_MACS;
  int threads = 1;
#ifdef _OPENMP
  if (parallel && !omp_in_parallel())
    threads = omp_get_max_threads();
#endif

  /* 1. Split C between the threads along its longer side, in whole MR
   * rows or NR columns, so the slices differ by at most one tile and no
   * thread needs data packed by another. Every thread packs all of the
   * operand that is not split, which costs little next to the products. */
  int split_n = N > M;
  int units = split_n ? (N + NR - 1) / NR : (M + MR - 1) / MR;
  if (threads > units)
    threads = units;
  int slice_rows = split_n ? M : (units + threads - 1) / threads * MR;
  int slice_cols = split_n ? (units + threads - 1) / threads * NR : N;

  /* 2. Block sizes: the rows of a slice are cut into equal MR multiples of
   * at most kern->mc. */
  int kc_max = K < kern->kc ? K : kern->kc;
  int nc_max = sgemm_round_up(slice_cols < kern->nc ? slice_cols : kern->nc, NR);
  int m_blocks = (slice_rows + kern->mc - 1) / kern->mc;
  int mc = sgemm_round_up((slice_rows + m_blocks - 1) / m_blocks, MR);

  /* 3. Buffers: one A block and one B block per thread. */
  size_t a_stride = (size_t)sgemm_round_up(mc * kc_max, 16);
  size_t b_stride = (size_t)sgemm_round_up(kc_max * nc_max, 16);
  float *buf = aligned_alloc(64, (size_t)threads * (a_stride + b_stride) * sizeof(float));
  if (buf == NULL) {
    /* NOTE: out of memory only costs speed: the streaming path needs none. */
    sgemm_small(kern, op);
    return;
  }

  /* 4. The slices. */
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    float *apack = buf + (size_t)tid * (a_stride + b_stride);
    float *bpack = apack + a_stride;
    int m0 = 0, m1 = M, n0 = 0, n1 = N;
    if (split_n) {
      n0 = tid * slice_cols;
      n1 = n0 + slice_cols < N ? n0 + slice_cols : N;
    } else {
      m0 = tid * slice_rows;
      m1 = m0 + slice_rows < M ? m0 + slice_rows : M;
    }
    if (m0 < m1 && n0 < n1)
      sgemm_blocked_slice(kern, op, m0, m1, n0, n1, mc, apack, bpack);
  }

  free(buf);
}

/* The three layouts of sdq_kernels.h, expressed as operand strides. */
static inline void sgemm_blocked_nt(const struct sgemm_kernel *kern, int M,
                                    int N, int K, const float *A, int lda,
                                    const float *B, int ldb, float beta,
                                    float *C, int ldc) {
  struct sgemm_operands op = {M, N, K, A, lda, 1, B, 1, ldb, beta, C, ldc};
  sgemm_blocked(kern, &op);
}

static inline void sgemm_blocked_nn(const struct sgemm_kernel *kern, int M,
                                    int N, int K, const float *A, int lda,
                                    const float *B, int ldb, float beta,
                                    float *C, int ldc) {
  struct sgemm_operands op = {M, N, K, A, lda, 1, B, ldb, 1, beta, C, ldc};
  sgemm_blocked(kern, &op);
}

static inline void sgemm_blocked_tn(const struct sgemm_kernel *kern, int M,
                                    int N, int K, const float *A, int lda,
                                    const float *B, int ldb, float beta,
                                    float *C, int ldc) {
  struct sgemm_operands op = {M, N, K, A, 1, lda, B, ldb, 1, beta, C, ldc};
  sgemm_blocked(kern, &op);
}

#endif
