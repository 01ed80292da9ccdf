/* vecmath_avx2.c - AVX2+FMA vector math: exp, GELU (tanh form), row softmax
 * and LayerNorm, with SLEEF's 8-lane exp and tanh (1.0-ULP). Long arrays and
 * many rows are split over OpenMP threads. */
#include "config.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "internal.h"
#include "scalar/fp32_scalar.h"

#define W 8 /* lanes */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEFF 0.044715f
/* |x| from which GELU is saturated; see vecmath_scalar.c. */
#define GELU_SATURATION 10.0f

/* Element-wise kernels run on threads from this many elements on, in blocks
 * of ELEMENT_BLOCK. */
#define PARALLEL_MIN_ELEMENTS (1 << 16)
#define ELEMENT_BLOCK 4096

/* Lanes [0, n) set, for a tail of n < W elements. */
static inline __m256i tail_mask(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* ------------------------------------------------------------ element-wise */

/* max(-10, x) keeps gelu(-inf) at 0 and lets NaN through. */
static inline __m256 gelu8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-GELU_SATURATION), x);
  __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_SQRT_2_OVER_PI),
                           _mm256_fmadd_ps(_mm256_set1_ps(GELU_COEFF), x3, x));
  __m256 t = Sleef_tanhf8_u10avx2(u);
  __m256 half_x = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
  return _mm256_fmadd_ps(half_x, t, half_x);
}

/* GELU'(x), see vecmath_scalar.c; x is clamped to [-10, 10] first
 * (NaN passes through), which makes GELU'(-inf) 0 and GELU'(+inf) 1. */
static inline __m256 gelu_grad8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(GELU_SATURATION),
                    _mm256_max_ps(_mm256_set1_ps(-GELU_SATURATION), x));
  __m256 x2 = _mm256_mul_ps(x, x);
  __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(GELU_COEFF), _mm256_mul_ps(x2, x), x);
  __m256 t = Sleef_tanhf8_u10avx2(_mm256_mul_ps(_mm256_set1_ps(GELU_SQRT_2_OVER_PI), inner));
  __m256 du = _mm256_mul_ps(_mm256_set1_ps(GELU_SQRT_2_OVER_PI),
                            _mm256_fmadd_ps(_mm256_set1_ps(3.0f * GELU_COEFF), x2,
                                            _mm256_set1_ps(1.0f)));
  __m256 half = _mm256_set1_ps(0.5f);
  __m256 one_minus_t2 = _mm256_fnmadd_ps(t, t, _mm256_set1_ps(1.0f));
  __m256 left = _mm256_fmadd_ps(half, t, half);
  return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), one_minus_t2), du, left);
}

static void exp_range(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + W <= n; i += W)
    _mm256_storeu_ps(y + i, Sleef_expf8_u10avx2(_mm256_loadu_ps(x + i)));
  if (i < n) {
    __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, Sleef_expf8_u10avx2(_mm256_maskload_ps(x + i, m)));
  }
}

static void gelu_range(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + W <= n; i += W)
    _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, gelu8(_mm256_maskload_ps(x + i, m)));
  }
}

static void gelu_backward_range(const float *x, const float *dy, float *dx,
                                size_t n) {
  size_t i = 0;
  for (; i + W <= n; i += W) {
    __m256 g = gelu_grad8(_mm256_loadu_ps(x + i));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), g));
  }
  if (i < n) {
    __m256i m = tail_mask(n - i);
    __m256 g = gelu_grad8(_mm256_maskload_ps(x + i, m));
    _mm256_maskstore_ps(dx + i, m, _mm256_mul_ps(_mm256_maskload_ps(dy + i, m), g));
  }
}

static void vexp_avx2(const float *x, float *y, size_t n) {
  long blocks = (long)((n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (long b = 0; b < blocks; b++) {
    size_t i = (size_t)b * ELEMENT_BLOCK;
    exp_range(x + i, y + i, n - i < ELEMENT_BLOCK ? n - i : ELEMENT_BLOCK);
  }
}

static void gelu_forward_avx2(const float *x, float *y, size_t n) {
  long blocks = (long)((n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (long b = 0; b < blocks; b++) {
    size_t i = (size_t)b * ELEMENT_BLOCK;
    gelu_range(x + i, y + i, n - i < ELEMENT_BLOCK ? n - i : ELEMENT_BLOCK);
  }
}

static void gelu_backward_avx2(const float *x, const float *dy, float *dx,
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
  int full = cols / W * W;
  __m256i m = tail_mask((size_t)(cols - full));

  /* 1. Row max (masked-off tail lanes read as -inf). A NaN anywhere makes
   * the max NaN, so the row comes out NaN as in the scalar reference. */
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  __m256 has_nan = _mm256_setzero_ps();
  for (int c = 0; c < full; c += W) {
    __m256 v = _mm256_loadu_ps(x + c);
    vmax = _mm256_max_ps(vmax, v);
    has_nan = _mm256_or_ps(has_nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (full < cols) {
    __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
                                _mm256_maskload_ps(x + full, m),
                                _mm256_castsi256_ps(m));
    vmax = _mm256_max_ps(vmax, v);
    has_nan = _mm256_or_ps(has_nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  float max = _mm256_movemask_ps(has_nan) ? NAN : hmax(vmax);

  /* 2. y = exp(x - max) and its sum. */
  __m256 vm = _mm256_set1_ps(max);
  __m256 vsum = _mm256_setzero_ps();
  for (int c = 0; c < full; c += W) {
    __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm));
    _mm256_storeu_ps(y + c, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  if (full < cols) {
    __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_maskload_ps(x + full, m), vm));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(y + full, m, e);
    vsum = _mm256_add_ps(vsum, e);
  }

  /* 3. Normalize. */
  __m256 inv = _mm256_set1_ps(1.0f / hsum(vsum));
  for (int c = 0; c < full; c += W)
    _mm256_storeu_ps(y + c, _mm256_mul_ps(_mm256_loadu_ps(y + c), inv));
  if (full < cols)
    _mm256_maskstore_ps(y + full, m, _mm256_mul_ps(_mm256_maskload_ps(y + full, m), inv));
}

static void softmax_rows_avx2(const float *x, float *y, int rows, int cols,
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
  int full = C / W * W;
  __m256i m = tail_mask((size_t)(C - full));

  /* 1. Mean. */
  __m256 vsum = _mm256_setzero_ps();
  for (int c = 0; c < full; c += W)
    vsum = _mm256_add_ps(vsum, _mm256_loadu_ps(x + c));
  if (full < C)
    vsum = _mm256_add_ps(vsum, _mm256_maskload_ps(x + full, m));
  float mean = hsum(vsum) / (float)C;

  /* 2. Variance around the mean (biased) and rstd. */
  __m256 vm = _mm256_set1_ps(mean);
  __m256 vvar = _mm256_setzero_ps();
  for (int c = 0; c < full; c += W) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + c), vm);
    vvar = _mm256_fmadd_ps(d, d, vvar);
  }
  if (full < C) {
    __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, m), vm),
                             _mm256_castsi256_ps(m));
    vvar = _mm256_fmadd_ps(d, d, vvar);
  }
  float var = hsum(vvar) / (float)C;
  if (!(var <= FLT_MAX)) {
    /* The fp32 variance overflowed (|x| from about 1e19 on) or the row contains
     * NaN or inf: the scalar reference redoes such a row in double. */
    sdq_layernorm_forward_scalar(x, gamma, beta, y, mean_out, rstd_out, 1, C, eps);
    return;
  }
  float rstd = 1.0f / sqrtf(var + eps);

  /* 3. y = (x - mean) * rstd * gamma + beta. */
  __m256 vs = _mm256_set1_ps(rstd);
  for (int c = 0; c < full; c += W) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vs);
    _mm256_storeu_ps(y + c, _mm256_fmadd_ps(norm, _mm256_loadu_ps(gamma + c),
                                            _mm256_loadu_ps(beta + c)));
  }
  if (full < C) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, m), vm), vs);
    _mm256_maskstore_ps(y + full, m,
                        _mm256_fmadd_ps(norm, _mm256_maskload_ps(gamma + full, m),
                                        _mm256_maskload_ps(beta + full, m)));
  }
  if (mean_out != NULL)
    *mean_out = mean;
  if (rstd_out != NULL)
    *rstd_out = rstd;
}

static void layernorm_forward_avx2(const float *x, const float *gamma,
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
  int full = C / W * W;
  __m256i m = tail_mask((size_t)(C - full));
  __m256 vm = _mm256_set1_ps(mean), vs = _mm256_set1_ps(rstd);

  /* 1. The row means of g = dy * gamma and of g * norm (masked lanes load
   * as zero, so they add nothing). */
  __m256 g_sum = _mm256_setzero_ps(), gn_sum = _mm256_setzero_ps();
  for (int c = 0; c < full; c += W) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vs);
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + c), _mm256_loadu_ps(gamma + c));
    g_sum = _mm256_add_ps(g_sum, g);
    gn_sum = _mm256_fmadd_ps(g, norm, gn_sum);
  }
  if (full < C) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, m), vm), vs);
    __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + full, m),
                             _mm256_maskload_ps(gamma + full, m));
    g_sum = _mm256_add_ps(g_sum, g);
    gn_sum = _mm256_fmadd_ps(g, norm, gn_sum);
  }
  __m256 g_mean = _mm256_set1_ps(hsum(g_sum) / (float)C);
  __m256 gn_mean = _mm256_set1_ps(hsum(gn_sum) / (float)C);

  /* 2. dx = rstd * (g - mean(g) - norm * mean(g * norm)). */
  for (int c = 0; c < full; c += W) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vs);
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + c), _mm256_loadu_ps(gamma + c));
    __m256 t = _mm256_fnmadd_ps(norm, gn_mean, _mm256_sub_ps(g, g_mean));
    _mm256_storeu_ps(dx + c, _mm256_mul_ps(vs, t));
  }
  if (full < C) {
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, m), vm), vs);
    __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + full, m),
                             _mm256_maskload_ps(gamma + full, m));
    __m256 t = _mm256_fnmadd_ps(norm, gn_mean, _mm256_sub_ps(g, g_mean));
    _mm256_maskstore_ps(dx + full, m, _mm256_mul_ps(vs, t));
  }
}

/* dgamma[c0..c0+8) += sum_r dy * norm, dbeta += sum_r dy over all rows, for
 * the columns set in m. */
static void layernorm_param_grads(const float *dy, const float *x,
                                  const float *mean, const float *rstd,
                                  float *dgamma, float *dbeta, int rows, int C,
                                  int c0, __m256i m) {
  __m256 dg = _mm256_setzero_ps(), db = _mm256_setzero_ps();
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * C + c0;
    const float *dyr = dy + (size_t)r * C + c0;
    __m256 d = _mm256_maskload_ps(dyr, m);
    __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xr, m),
                                              _mm256_set1_ps(mean[r])),
                                _mm256_set1_ps(rstd[r]));
    dg = _mm256_fmadd_ps(d, norm, dg);
    db = _mm256_add_ps(db, d);
  }
  if (dgamma != NULL)
    _mm256_maskstore_ps(dgamma + c0, m,
                        _mm256_add_ps(_mm256_maskload_ps(dgamma + c0, m), dg));
  if (dbeta != NULL)
    _mm256_maskstore_ps(dbeta + c0, m,
                        _mm256_add_ps(_mm256_maskload_ps(dbeta + c0, m), db));
}

/* Two passes so both parallelize without a reduction: dgamma/dbeta by
 * columns (each thread owns a set of 8-column groups), then dx by rows.
 * The parameter gradients come first because dx may alias dy.
 * NOTE: dx must not alias x. */
static void layernorm_backward_avx2(const float *dy, const float *x,
                                    const float *gamma, const float *mean,
                                    const float *rstd, float *dx, float *dgamma,
                                    float *dbeta, int rows, int C) {
  if (C <= 0)
    return;
  int parallel = (long)rows * C >= PARALLEL_MIN_ELEMENTS;

  if (dgamma != NULL || dbeta != NULL) {
    int groups = (C + W - 1) / W;
#pragma omp parallel for schedule(static) if (parallel)
    for (int gidx = 0; gidx < groups; gidx++) {
      int c0 = gidx * W;
      __m256i m = tail_mask((size_t)(C - c0 < W ? C - c0 : W));
      layernorm_param_grads(dy, x, mean, rstd, dgamma, dbeta, rows, C, c0, m);
    }
  }

#pragma omp parallel for schedule(static) if (parallel)
  for (int r = 0; r < rows; r++)
    layernorm_backward_row(dy + (size_t)r * C, x + (size_t)r * C, gamma,
                           mean[r], rstd[r], dx + (size_t)r * C, C);
}

void sdq_register_vecmath_avx2(sdq_kernel_table *t) {
  t->vexp = vexp_avx2;
  t->gelu_forward = gelu_forward_avx2;
  t->gelu_backward = gelu_backward_avx2;
  t->softmax_rows = softmax_rows_avx2;
  t->layernorm_forward = layernorm_forward_avx2;
  t->layernorm_backward = layernorm_backward_avx2;
  t->impl[SDQ_K_EXP] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_GELU_FORWARD] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_GELU_BACKWARD] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_SOFTMAX] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_LAYERNORM_FORWARD] = SDQ_ISA_AVX2;
  t->impl[SDQ_K_LAYERNORM_BACKWARD] = SDQ_ISA_AVX2;
}
