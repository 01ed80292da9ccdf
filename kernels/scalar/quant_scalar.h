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

/* Chooses the scale s and reciprocal inv of row r for fake quantization, as
 * every variant does: the MinMax scale of maxabs when scale_in is NULL, else
 * scale_in[r]. A scale_in of 0 (or one whose reciprocal overflows) gives
 * inv = 0, so y = 0. Returns 1, with s = NaN, when the row cannot be
 * quantized: maxabs is NaN (the row contains NaN/inf) or scale_in[r] is NaN,
 * infinite or negative. */
static inline int sdq_fake_quant_row_scale(float maxabs, const float *scale_in,
                                           int r, int qmax, float *s,
                                           float *inv) {
  if (maxabs != maxabs) {
    *s = __builtin_nanf("");
    return 1;
  }
  if (scale_in == NULL) {
    sdq_row_scale(maxabs, qmax, s, inv);
    return 0;
  }
  const float given = scale_in[r];
  if (!(given >= 0.0f && given <= FLT_MAX)) {
    *s = __builtin_nanf("");
    return 1;
  }
  *s = given;
  *inv = 1.0f / given;
  if (!(*inv <= FLT_MAX))
    *inv = 0.0f;
  return 0;
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
