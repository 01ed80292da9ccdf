/* neon_internal.h - private helpers shared by the AArch64 NEON variant files.
 *
 * The fp32 GEMMs (sgemm_nt/nn/tn, qgemm_f32_nt/nn) all run through one
 * blocked driver, sdq_neon_gemm, which takes the functions that pack A and B panels.
 * Packing is where the variants differ: a plain row-major matrix, a
 * transposed one, or packed quantized weights dequantized on the fly.
 */
#ifndef SDQ_KERNELS_ARM_NEON_INTERNAL_H
#define SDQ_KERNELS_ARM_NEON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Register tile of the fp32 micro-kernel: MR rows of C by NR columns
 * (8 x 12 = 24 accumulator registers of 4 floats). */
#define SDQ_NEON_MR 8
#define SDQ_NEON_NR 12

/* Writes the A panel op(A)[i0 : i0+mr, p0 : p0+kc] as kc groups of
 * SDQ_NEON_MR floats (group k is column p0+k of rows i0..i0+MR-1); rows
 * mr..MR-1 are written as zero. src is the caller's description of A. */
typedef void (*sdq_neon_pack_a_fn)(const void *src, int i0, int mr, int p0,
                                   int kc, float *dst);

/* Writes the B panel op(B)[p0 : p0+kc, j0 : j0+nr] as kc groups of
 * SDQ_NEON_NR floats (group k is row p0+k, columns j0..j0+NR-1); columns
 * nr..NR-1 are written as zero. */
typedef void (*sdq_neon_pack_b_fn)(const void *src, int p0, int kc, int j0,
                                   int nr, float *dst);

/* C[M,N] = beta*C + op(A)[M,K] * op(B)[K,N], where op(A) and op(B) are only
 * seen through pack_a and pack_b. Blocks of C are shared out to OpenMP
 * threads when the product is large enough. beta == 0 never reads C.
 * Allocates its packing buffers per call; when that fails it still
 * computes the product, single-threaded with small stack buffers. */
void sdq_neon_gemm(int M, int N, int K, sdq_neon_pack_a_fn pack_a,
                   const void *a, sdq_neon_pack_b_fn pack_b, const void *b,
                   float beta, float *C, int ldc);

/* A row-major fp32 matrix and its leading dimension, as the src of
 * sdq_neon_pack_a_rows. */
typedef struct sdq_neon_dense {
  const float *p;
  int ld;
} sdq_neon_dense;

/* Packs A panels of a row-major A[M,K] (src is a sdq_neon_dense). */
void sdq_neon_pack_a_rows(const void *src, int i0, int mr, int p0, int kc,
                          float *dst);

/* Integer tile: out[r][c] = sum over k < kp of a[r*lda + k] * w[c*ldw + k]
 * for r, c in 0..3 (int8 inputs, int32 sums). kp is a multiple of 64 and
 * every |value| is at most 127. */
typedef void (*sdq_neon_dot_tile_fn)(const int8_t *a, size_t lda,
                                     const int8_t *w, size_t ldw, int kp,
                                     int32_t out[4][4]);

/* Computes qgemm_i8_nt (contract in sdq_kernels.h) with the given 4 x 4 dot
 * tile. A is quantized per token by the NEON quantize_rows code, and the
 * packed W rows are unpacked four at a time. Each output is rescaled with
 * sdq_i8_rescale, so every dot_tile gives the scalar reference's bits. */
int sdq_neon_qgemm_i8(int M, const float *A, int lda, int act_bits,
                      const struct sdq_qmatrix *W, float beta, float *C,
                      int ldc, sdq_neon_dot_tile_fn dot_tile);

/* Registration of each NEON file's kernels (neon.c calls all of them). */
void sdq_neon_register_gemm(sdq_kernel_table *t);
void sdq_neon_register_vecmath(sdq_kernel_table *t);
void sdq_neon_register_quant(sdq_kernel_table *t);

#endif
