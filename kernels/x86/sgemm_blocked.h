/* sgemm_blocked.h - the ISA-independent part of the SIMD fp32 GEMMs: BLIS-style
 * cache blocking, packing and OpenMP around a register-tile micro-kernel, plus
 * a streaming path for very few rows.
 *
 * Included by each x86 GEMM file (and so compiled with that file's -m flags);
 * the file supplies the micro-kernel and the two small-M helpers.
 *
 * Loops, for C[M,N] = beta*C + op(A)[M,K] * op(B)[K,N]:
 *   jc over N in blocks of nc     B block (kc x nc) packed once, shared
 *     pc over K in blocks of kc   by all threads; beta applies at pc == 0
 *       ic over M in blocks of mc A block (mc x kc) packed per thread
 *         jr over NR-wide panels, ir over MR-tall panels: micro-kernel
 * The (ic, jr range) tasks are spread over the OpenMP threads. Each C element
 * is summed in the same order whatever the thread count, so results do not
 * depend on it. */
#ifndef SDQ_SGEMM_BLOCKED_H
#define SDQ_SGEMM_BLOCKED_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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

struct sgemm_kernel {
  int mr, nr;     /* register tile */
  int mc, kc, nc; /* cache blocks: mc multiple of mr, nc multiple of nr */
  sgemm_ukr_fn ukr;
  sgemm_dot_fn dot;
  sgemm_row_fn row;
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

static inline void sgemm_store_beta(float *c, float beta, float value) {
  *c = beta == 0.0f ? value : beta * *c + value;
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
      for (int r = 0; r < rows; r++) {
        const float *row = src + r * op->a_rs;
        for (int p = 0; p < kc; p++)
          panel[(size_t)p * mr + r] = row[p];
      }
      for (int r = rows; r < mr; r++)
        for (int p = 0; p < kc; p++)
          panel[(size_t)p * mr + r] = 0.0f;
    } else {
      /* Columns contiguous in m (sgemm_tn): copy MR values per k. */
      for (int p = 0; p < kc; p++) {
        const float *col = src + p * op->a_cs;
        float *out = panel + (size_t)p * mr;
        int r = 0;
        for (; r < rows; r++)
          out[r] = col[r * op->a_rs];
        for (; r < mr; r++)
          out[r] = 0.0f;
      }
    }
  }
}

/* Packs the NR-wide panel starting at column n0 (nr_valid columns), rows
 * [p0, p0+kc) of op(B); columns past N are zero. */
static void sgemm_pack_b_panel(const struct sgemm_operands *op, int nr, int n0,
                               int nr_valid, int p0, int kc, float *panel) {
  const float *src = op->B + p0 * op->b_rs + n0 * op->b_cs;
  if (op->b_cs == 1) {
    /* Rows of op(B) contiguous in n (sgemm_nn, sgemm_tn). */
    for (int p = 0; p < kc; p++) {
      const float *row = src + p * op->b_rs;
      float *out = panel + (size_t)p * nr;
      memcpy(out, row, (size_t)nr_valid * sizeof(float));
      for (int j = nr_valid; j < nr; j++)
        out[j] = 0.0f;
    }
  } else {
    /* Columns of op(B) contiguous in k (sgemm_nt: B is stored [N, K]):
     * NR read streams, one contiguous write stream. */
    for (int p = 0; p < kc; p++) {
      float *out = panel + (size_t)p * nr;
      const float *in = src + p * op->b_rs;
      int j = 0;
      for (; j < nr_valid; j++)
        out[j] = in[j * op->b_cs];
      for (; j < nr; j++)
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

static inline int sgemm_round_up(int x, int to) { return (x + to - 1) / to * to; }

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

  int parallel = (double)M * N * K >= SGEMM_PARALLEL_MIN_MACS;
  int threads = 1;
#ifdef _OPENMP
  if (parallel && !omp_in_parallel())
    threads = omp_get_max_threads();
#endif

  /* 1. Block sizes. The M blocks are balanced over the threads; when there
   * are fewer M blocks than threads, each block's NR panels are split too. */
  int kc_max = K < kern->kc ? K : kern->kc;
  int nc_max = sgemm_round_up(N < kern->nc ? N : kern->nc, NR);
  int m_blocks = (M + kern->mc - 1) / kern->mc;
  m_blocks = sgemm_round_up(m_blocks, threads);
  if (m_blocks > (M + MR - 1) / MR)
    m_blocks = (M + MR - 1) / MR;
  int mc = sgemm_round_up((M + m_blocks - 1) / m_blocks, MR);
  m_blocks = (M + mc - 1) / mc;
  int n_splits = m_blocks >= threads ? 1 : (threads + m_blocks - 1) / m_blocks;

  /* 2. Buffers: one shared B block, one A block per thread. */
  size_t b_size = (size_t)kc_max * nc_max;
  size_t a_size = (size_t)mc * kc_max;
  float *bbuf = aligned_alloc(64, sgemm_round_up((int)(b_size * sizeof(float)), 64));
  float *abuf = aligned_alloc(64, (size_t)threads *
                                      sgemm_round_up((int)(a_size * sizeof(float)), 64));
  if (bbuf == NULL || abuf == NULL) {
    /* NOTE: out of memory only costs speed: the streaming path needs none. */
    free(bbuf);
    free(abuf);
    sgemm_small(kern, op);
    return;
  }
  size_t a_stride = (size_t)sgemm_round_up((int)(a_size * sizeof(float)), 64) / sizeof(float);

  /* 3. The loops. */
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    float *apack = abuf + (size_t)tid * a_stride;

    for (int jc = 0; jc < N; jc += kern->nc) {
      int nc = N - jc < kern->nc ? N - jc : kern->nc;
      int n_panels = (nc + NR - 1) / NR;

      for (int pc = 0; pc < K; pc += kern->kc) {
        int kc = K - pc < kern->kc ? K - pc : kern->kc;
        float beta = pc == 0 ? op->beta : 1.0f;

#pragma omp for schedule(static)
        for (int jp = 0; jp < n_panels; jp++) {
          int n0 = jp * NR;
          int valid = nc - n0 < NR ? nc - n0 : NR;
          sgemm_pack_b_panel(op, NR, jc + n0, valid, pc, kc,
                             bbuf + (size_t)n0 * kc);
        }

        int panels_per_split = (n_panels + n_splits - 1) / n_splits;
#pragma omp for schedule(static)
        for (int task = 0; task < m_blocks * n_splits; task++) {
          int ib = task / n_splits, js = task % n_splits;
          int ic = ib * mc;
          int mcur = M - ic < mc ? M - ic : mc;
          int jp_begin = js * panels_per_split;
          int jp_end = jp_begin + panels_per_split < n_panels
                           ? jp_begin + panels_per_split
                           : n_panels;
          if (jp_begin >= jp_end)
            continue;

          sgemm_pack_a(op, MR, ic, mcur, pc, kc, apack);
          for (int jp = jp_begin; jp < jp_end; jp++) {
            int n0 = jp * NR;
            int nr = nc - n0 < NR ? nc - n0 : NR;
            const float *bpanel = bbuf + (size_t)n0 * kc;
            for (int i0 = 0; i0 < mcur; i0 += MR) {
              int mr = mcur - i0 < MR ? mcur - i0 : MR;
              float *c = op->C + (ic + i0) * op->ldc + jc + n0;
              kern->ukr(kc, apack + (size_t)i0 * kc, bpanel, c, (int)op->ldc,
                        beta, mr, nr);
            }
          }
        }
      }
    }
  }

  free(bbuf);
  free(abuf);
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
