/* quant_scalar.h - portable references of the quantization kernels and the
 * per-row scale rule every variant shares. */
#ifndef SDQ_QUANT_SCALAR_H
#define SDQ_QUANT_SCALAR_H

#include <float.h>
#include <stdint.h>

#include "sdq_kernels.h"

/* Sets *scale = maxabs / qmax and *inv = 1 / *scale in fp32, the values every
 * variant uses for a row whose largest magnitude is maxabs (finite, >= 0).
 * When 1 / scale is not finite (maxabs is 0, or so small that the row holds
 * only subnormals below about qmax * 2^-128), the row is treated as all-zero:
 * *scale = 0 and *inv = 0, so every q is 0. */
static inline void sdq_row_scale(float maxabs, int qmax, float *scale,
                                 float *inv) {
  const float s = maxabs / (float)qmax;
  const float r = 1.0f / s;
  if (r <= FLT_MAX) {
    *scale = s;
    *inv = r;
  } else {
    *scale = 0.0f;
    *inv = 0.0f;
  }
}

/* Returns 1 when x is NaN or +-inf. */
static inline int sdq_nonfinite(float x) { return !(x - x == 0.0f); }

/* The scalar variants; the contracts are the typedefs in sdq_kernels.h. */
int sdq_quantize_rows_scalar(const float *x, int rows, int cols, int ld,
                             int bits, int8_t *q, float *scale);
int sdq_fake_quant_scalar(const float *x, int rows, int cols, int ld, int bits,
                          const float *scale_in, float *y, float *scale_out);
void sdq_fake_quant_backward_scalar(const float *x, const float *dy, int rows,
                                    int cols, int ld, int bits,
                                    const float *scale, float *dx);
void sdq_qgemm_f32_nt_scalar(int M, const float *A, int lda,
                             const sdq_qmatrix *W, float beta, float *C,
                             int ldc);
void sdq_qgemm_f32_nn_scalar(int M, const float *A, int lda,
                             const sdq_qmatrix *W, float beta, float *C,
                             int ldc);
int sdq_qgemm_i8_nt_scalar(int M, const float *A, int lda, int act_bits,
                           const sdq_qmatrix *W, float beta, float *C, int ldc);

/* Writes the rescaled integer dot product as every variant computes it:
 * t = ((float)acc * scale_a) * scale_w, then C = t when beta == 0, else
 * C = beta * C + t rounded once (fused multiply-add), so the SIMD variants,
 * which use FMA instructions, give the same bits. */
static inline float sdq_i8_rescale(int32_t acc, float scale_a, float scale_w,
                                   float beta, const float *c) {
  const float t = ((float)acc * scale_a) * scale_w;
  return beta == 0.0f ? t : __builtin_fmaf(beta, *c, t);
}

#endif
