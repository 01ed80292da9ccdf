/* vecmath_avx512.c - AVX-512 vector math: exp, GELU (tanh form), row softmax
 * and LayerNorm, with SLEEF's 16-lane exp and tanh (1.0-ULP) and masked
 * loads and stores for row tails. Long arrays and many rows are split over
 * OpenMP threads. Same algorithms as vecmath_avx2.c. */
#include "config.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "internal.h"
#include "scalar/fp32_scalar.h"

#define W 16 /* lanes */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEFF 0.044715f
/* |x| from which GELU is saturated; see vecmath_scalar.c. */
#define GELU_SATURATION 10.0f

#define PARALLEL_MIN_ELEMENTS (1 << 16)
#define ELEMENT_BLOCK 4096

/* Lanes [0, n) set, n <= W. */
static inline __mmask16 tail_mask(size_t n) {
  return n >= W ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* ------------------------------------------------------------ element-wise */

/* max(-10, x) keeps gelu(-inf) at 0 and lets NaN through. */
static inline __m512 gelu16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-GELU_SATURATION), x);
  __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_SQRT_2_OVER_PI),
                           _mm512_fmadd_ps(_mm512_set1_ps(GELU_COEFF), x3, x));
  __m512 t = Sleef_tanhf16_u10avx512f(u);
  __m512 half_x = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
  return _mm512_fmadd_ps(half_x, t, half_x);
}

/* GELU'(x), see vecmath_scalar.c; x is clamped to [-10, 10] first
 * (NaN passes through), which makes GELU'(-inf) 0 and GELU'(+inf) 1. */
static inline __m512 gelu_grad16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(GELU_SATURATION),
                    _mm512_max_ps(_mm512_set1_ps(-GELU_SATURATION), x));
  __m512 x2 = _mm512_mul_ps(x, x);
  __m512 inner = _mm512_fmadd_ps(_mm512_set1_ps(GELU_COEFF), _mm512_mul_ps(x2, x), x);
  __m512 t = Sleef_tanhf16_u10avx512f(_mm512_mul_ps(_mm512_set1_ps(GELU_SQRT_2_OVER_PI), inner));
  __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_SQRT_2_OVER_PI),
                            _mm512_fmadd_ps(_mm512_set1_ps(3.0f * GELU_COEFF), x2,
                                            _mm512_set1_ps(1.0f)));
  __m512 half = _mm512_set1_ps(0.5f);
  __m512 one_minus_t2 = _mm512_fnmadd_ps(t, t, _mm512_set1_ps(1.0f));
  __m512 left = _mm512_fmadd_ps(half, t, half);
  return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(half, x), one_minus_t2), du, left);
}

static void exp_range(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i += W) {
    __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, Sleef_expf16_u10avx512f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

static void gelu_range(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i += W) {
    __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

static void gelu_backward_range(const float *x, const float *dy, float *dx,
                                size_t n) {
  for (size_t i = 0; i < n; i += W) {
    __mmask16 m = tail_mask(n - i);
    __m512 g = gelu_grad16(_mm512_maskz_loadu_ps(m, x + i));
    _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), g));
  }
}

static void vexp_avx512(const float *x, float *y, size_t n) {
  long blocks = (long)((n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (long b = 0; b < blocks; b++) {
    size_t i = (size_t)b * ELEMENT_BLOCK;
    exp_range(x + i, y + i, n - i < ELEMENT_BLOCK ? n - i : ELEMENT_BLOCK);
  }
}

static void gelu_forward_avx512(const float *x, float *y, size_t n) {
  long blocks = (long)((n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (long b = 0; b < blocks; b++) {
    size_t i = (size_t)b * ELEMENT_BLOCK;
    gelu_range(x + i, y + i, n - i < ELEMENT_BLOCK ? n - i : ELEMENT_BLOCK);
  }
}

static void gelu_backward_avx512(const float *x, const float *dy, float *dx,
                                 size_t n) {
  long blocks = (long)((n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (long b = 0; b < blocks; b++) {
    size_t i = (size_t)b * ELEMENT_BLOCK;
    gelu_backward_range(x + i, dy + i, dx + i,
                        n - i < ELEMENT_BLOCK ? n - i : ELEMENT_BLOCK);
  }
}

/* ---------------------------------------------------------------- softmax */

static void softmax_row(const float *x, float *y, int cols) {
  /* 1. Row max (masked-off lanes read as -inf); a NaN makes the row NaN, as
   * in the scalar reference. */
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  __mmask16 nan_lanes = 0;
  for (int c = 0; c < cols; c += W) {
    __mmask16 m = tail_mask((size_t)(cols - c));
    __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, x + c);
    vmax = _mm512_max_ps(vmax, v);
    nan_lanes |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  float max = nan_lanes ? NAN : _mm512_reduce_max_ps(vmax);

  /* 2. y = exp(x - max) and its sum (masked lanes add zero). */
  __m512 vm = _mm512_set1_ps(max);
  __m512 vsum = _mm512_setzero_ps();
  for (int c = 0; c < cols; c += W) {
    __mmask16 m = tail_mask((size_t)(cols - c));
    __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), vm));
    _mm512_mask_storeu_ps(y + c, m, e);
    vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
  }

  /* 3. Normalize. */
  __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  for (int c = 0; c < cols; c += W) {
    __mmask16 m = tail_mask((size_t)(cols - c));
    _mm512_mask_storeu_ps(y + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + c), inv));
  }
}

static void softmax_rows_avx512(const float *x, float *y, int rows, int cols,
                                int ld) {
  if (cols <= 0)
    return;
#pragma omp parallel for schedule(static) if ((long)rows * cols >= PARALLEL_MIN_ELEMENTS)
  for (int r = 0; r < rows; r++)
    softmax_row(x + (size_t)r * ld, y + (size_t)r * ld, cols);
}

/* -------------------------------------------------------------- LayerNorm */

static void layernorm_row(const float *x, const float *gamma, const float *beta,
                          float *y, float *mean_out, float *rstd_out, int C,
                          float eps) {
  /* 1. Mean. */
  __m512 vsum = _mm512_setzero_ps();
  for (int c = 0; c < C; c += W)
    vsum = _mm512_add_ps(vsum, _mm512_maskz_loadu_ps(tail_mask((size_t)(C - c)), x + c));
  float mean = _mm512_reduce_add_ps(vsum) / (float)C;

  /* 2. Variance around the mean (biased) and rstd. */
  __m512 vm = _mm512_set1_ps(mean);
  __m512 vvar = _mm512_setzero_ps();
  for (int c = 0; c < C; c += W) {
    __mmask16 m = tail_mask((size_t)(C - c));
    __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + c), vm);
    vvar = _mm512_fmadd_ps(d, d, vvar);
  }
  float var = _mm512_reduce_add_ps(vvar) / (float)C;
  if (!(var <= FLT_MAX)) {
    /* The fp32 variance overflowed (|x| from about 1e19 on) or the row contains
     * NaN or inf: the scalar reference redoes such a row in double. */
    sdq_layernorm_forward_scalar(x, gamma, beta, y, mean_out, rstd_out, 1, C, eps);
    return;
  }
  float rstd = 1.0f / sqrtf(var + eps);

  /* 3. y = (x - mean) * rstd * gamma + beta. */
  __m512 vs = _mm512_set1_ps(rstd);
  for (int c = 0; c < C; c += W) {
    __mmask16 m = tail_mask((size_t)(C - c));
    __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), vm), vs);
    _mm512_mask_storeu_ps(y + c, m,
                          _mm512_fmadd_ps(norm, _mm512_maskz_loadu_ps(m, gamma + c),
                                          _mm512_maskz_loadu_ps(m, beta + c)));
  }
  if (mean_out != NULL)
    *mean_out = mean;
  if (rstd_out != NULL)
    *rstd_out = rstd;
}

static void layernorm_forward_avx512(const float *x, const float *gamma,
                                     const float *beta, float *y, float *mean,
                                     float *rstd, int rows, int C, float eps) {
  if (C <= 0)
    return;
#pragma omp parallel for schedule(static) if ((long)rows * C >= PARALLEL_MIN_ELEMENTS)
  for (int r = 0; r < rows; r++)
    layernorm_row(x + (size_t)r * C, gamma, beta, y + (size_t)r * C,
                  mean ? mean + r : NULL, rstd ? rstd + r : NULL, C, eps);
}

/* dx of one row (formula in vecmath_scalar.c); dx may alias dy. */
static void layernorm_backward_row(const float *dy, const float *x,
                                   const float *gamma, float mean, float rstd,
                                   float *dx, int C) {
  __m512 vm = _mm512_set1_ps(mean), vs = _mm512_set1_ps(rstd);

  /* 1. The row means of g = dy * gamma and of g * norm (masked lanes are
   * zero, so they add nothing). */
  __m512 g_sum = _mm512_setzero_ps(), gn_sum = _mm512_setzero_ps();
  for (int c = 0; c < C; c += W) {
    __mmask16 m = tail_mask((size_t)(C - c));
    __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), vm), vs);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + c),
                             _mm512_maskz_loadu_ps(m, gamma + c));
    g_sum = _mm512_add_ps(g_sum, g);
    gn_sum = _mm512_fmadd_ps(g, norm, gn_sum);
  }
  __m512 g_mean = _mm512_set1_ps(_mm512_reduce_add_ps(g_sum) / (float)C);
  __m512 gn_mean = _mm512_set1_ps(_mm512_reduce_add_ps(gn_sum) / (float)C);

  /* 2. dx = rstd * (g - mean(g) - norm * mean(g * norm)). */
  for (int c = 0; c < C; c += W) {
    __mmask16 m = tail_mask((size_t)(C - c));
    __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), vm), vs);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + c),
                             _mm512_maskz_loadu_ps(m, gamma + c));
    __m512 t = _mm512_fnmadd_ps(norm, gn_mean, _mm512_sub_ps(g, g_mean));
    _mm512_mask_storeu_ps(dx + c, m, _mm512_mul_ps(vs, t));
  }
}

/* dgamma[c0..c0+16) += sum_r dy * norm, dbeta += sum_r dy over all rows, for
 * the columns set in m. */
static void layernorm_param_grads(const float *dy, const float *x,
                                  const float *mean, const float *rstd,
                                  float *dgamma, float *dbeta, int rows, int C,
                                  int c0, __mmask16 m) {
  __m512 dg = _mm512_setzero_ps(), db = _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) {
    __m512 d = _mm512_maskz_loadu_ps(m, dy + (size_t)r * C + c0);
    __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + (size_t)r * C + c0),
                                              _mm512_set1_ps(mean[r])),
                                _mm512_set1_ps(rstd[r]));
    dg = _mm512_fmadd_ps(d, norm, dg);
    db = _mm512_add_ps(db, d);
  }
  if (dgamma != NULL)
    _mm512_mask_storeu_ps(dgamma + c0, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, dgamma + c0), dg));
  if (dbeta != NULL)
    _mm512_mask_storeu_ps(dbeta + c0, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, dbeta + c0), db));
}

/* Two passes so both parallelize without a reduction: dgamma/dbeta by
 * columns (each thread owns a set of 16-column groups), then dx by rows.
 * The parameter gradients come first because dx may alias dy.
 * NOTE: dx must not alias x. */
static void layernorm_backward_avx512(const float *dy, const float *x,
                                      const float *gamma, const float *mean,
                                      const float *rstd, float *dx,
                                      float *dgamma, float *dbeta, int rows,
                                      int C) {
  if (C <= 0)
    return;
  int parallel = (long)rows * C >= PARALLEL_MIN_ELEMENTS;

  if (dgamma != NULL || dbeta != NULL) {
    int groups = (C + W - 1) / W;
#pragma omp parallel for schedule(static) if (parallel)
    for (int gidx = 0; gidx < groups; gidx++) {
      int c0 = gidx * W;
      layernorm_param_grads(dy, x, mean, rstd, dgamma, dbeta, rows, C, c0,
                            tail_mask((size_t)(C - c0)));
    }
  }

#pragma omp parallel for schedule(static) if (parallel)
  for (int r = 0; r < rows; r++)
    layernorm_backward_row(dy + (size_t)r * C, x + (size_t)r * C, gamma,
                           mean[r], rstd[r], dx + (size_t)r * C, C);
}

void sdq_register_vecmath_avx512(sdq_kernel_table *t) {
  t->vexp = vexp_avx512;
  t->gelu_forward = gelu_forward_avx512;
  t->gelu_backward = gelu_backward_avx512;
  t->softmax_rows = softmax_rows_avx512;
  t->layernorm_forward = layernorm_forward_avx512;
  t->layernorm_backward = layernorm_backward_avx512;
  t->impl[SDQ_K_EXP] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_GELU_FORWARD] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_GELU_BACKWARD] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_SOFTMAX] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_LAYERNORM_FORWARD] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_LAYERNORM_BACKWARD] = SDQ_ISA_AVX512;
}
