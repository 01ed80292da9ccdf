/* quant_neondot.c - qgemm_i8_nt with the Armv8.2 dot-product instruction
 * (sdot, vdotq_s32); compiled with -march=armv8.2-a+dotprod and registered
 * only when the CPU reports asimddp. Every other kernel of the neondot
 * table is the NEON one. */
#include "config.h"

#include <arm_neon.h>

#include "kernels/arm/neon_internal.h"

/* 4 x 4 tile: each vdotq_s32 adds four 4-element int8 dot products into the
 * four int32 lanes; the lanes are summed at the end. */
static void dot_tile_neondot(const int8_t *a, size_t lda, const int8_t *w,
                             size_t ldw, int kp, int32_t out[4][4]) {
  int32x4_t acc[4][4];
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      acc[r][c] = vdupq_n_s32(0);

  for (int k = 0; k < kp; k += 16) {
    int8x16_t av[4], wv[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      av[i] = vld1q_s8(a + i * lda + k);
      wv[i] = vld1q_s8(w + i * ldw + k);
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++)
        acc[r][c] = vdotq_s32(acc[r][c], av[r], wv[c]);
  }

  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      out[r][c] = vaddvq_s32(acc[r][c]);
}

static int qgemm_i8_nt_neondot(int M, const float *A, int lda, int act_bits,
                               const sdq_qmatrix *W, float beta, float *C,
                               int ldc) {
  return sdq_neon_qgemm_i8(M, A, lda, act_bits, W, beta, C, ldc,
                           dot_tile_neondot);
}

void sdq_register_neondot(sdq_kernel_table *t) {
  t->qgemm_i8_nt = qgemm_i8_nt_neondot;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_NEONDOT;
}
