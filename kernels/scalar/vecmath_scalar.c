/* vecmath_scalar.c - portable reference vector math: exp, GELU (tanh form),
 * row softmax and LayerNorm, forward and backward. exp and tanh come from
 * SLEEF's scalar functions (1.0-ULP), the same accuracy class as the SIMD
 * variants. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <sleef.h>

#include "scalar/fp32_scalar.h"

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEFF 0.044715f

/* From |x| = 10 on, tanh(sqrt(2/pi) (x + c x^3)) is exactly +-1 in fp32, so
 * GELU is 0 (x <= -10) and GELU' is 0 or 1. Clamping x there leaves every
 * finite result unchanged (up to the sign of a zero) and keeps +-inf from
 * producing inf * 0 = NaN. Every variant uses this clamp. */
#define GELU_SATURATION 10.0f

void sdq_vexp_scalar(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    y[i] = Sleef_expf_u10(x[i]);
}

/* gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + c x^3); gelu(-inf) = 0,
 * gelu(+inf) = +inf. */
void sdq_gelu_forward_scalar(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i] < -GELU_SATURATION ? -GELU_SATURATION : x[i]; /* NaN stays */
    float u = GELU_SQRT_2_OVER_PI * (v + GELU_COEFF * v * v * v);
    y[i] = 0.5f * v * (1.0f + Sleef_tanhf_u10(u));
  }
}

/* GELU'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2) with
 * t = tanh(sqrt(2/pi) (x + c x^3)); GELU'(-inf) = 0, GELU'(+inf) = 1.
 * dx may alias dy (read before write). */
void sdq_gelu_backward_scalar(const float *x, const float *dy, float *dx,
                              size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    if (v < -GELU_SATURATION)
      v = -GELU_SATURATION;
    else if (v > GELU_SATURATION)
      v = GELU_SATURATION;
    float u = GELU_SQRT_2_OVER_PI * (v + GELU_COEFF * v * v * v);
    float t = Sleef_tanhf_u10(u);
    float du = GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_COEFF * v * v);
    float grad = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
    dx[i] = dy[i] * grad;
  }
}

/* Each row: y = exp(x - max) / sum. A row containing NaN gives NaN, and so
 * does a row of only -inf (its max is -inf and -inf - -inf is NaN). */
void sdq_softmax_rows_scalar(const float *x, float *y, int rows, int cols,
                             int ld) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * ld;
    float *yr = y + (size_t)r * ld;

    float max = -INFINITY;
    for (int c = 0; c < cols; c++)
      max = xr[c] > max ? xr[c] : max;

    float sum = 0.0f;
    for (int c = 0; c < cols; c++) {
      yr[c] = Sleef_expf_u10(xr[c] - max);
      sum += yr[c];
    }

    float inv = 1.0f / sum;
    for (int c = 0; c < cols; c++)
      yr[c] *= inv;
  }
}

/* One LayerNorm row with the statistics and the output in double. Every
 * squared fp32 value and every sum of them fits in double, so this row gets
 * its true mean and rstd when the fp32 variance overflows (|x| from about
 * 1e19 on). A row containing NaN or inf still gives NaN. */
static void layernorm_row_double(const float *x, const float *gamma,
                                 const float *beta, float *y, float *mean,
                                 float *rstd, int C, float eps) {
  double sum = 0.0;
  for (int c = 0; c < C; c++)
    sum += x[c];
  double m = sum / C;

  double var = 0.0;
  for (int c = 0; c < C; c++)
    var += (x[c] - m) * (x[c] - m);
  double s = 1.0 / sqrt(var / C + eps);

  for (int c = 0; c < C; c++)
    y[c] = (float)((x[c] - m) * s * gamma[c] + beta[c]);
  *mean = (float)m;
  *rstd = (float)s;
}

/* Per row of x[rows, C]: mean, variance (two passes, biased: divided by C)
 * and rstd = 1/sqrt(var + eps); y = (x - mean) * rstd * gamma + beta.
 * A row whose fp32 variance is not finite (it overflowed, or the row contains
 * NaN or inf) is redone in double by layernorm_row_double. The SIMD variants
 * call this function for such rows, so every variant returns the same
 * numbers for them. */
void sdq_layernorm_forward_scalar(const float *x, const float *gamma,
                                  const float *beta, float *y, float *mean,
                                  float *rstd, int rows, int C, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * C;
    float *yr = y + (size_t)r * C;
    float m_out, s_out;

    float sum = 0.0f;
    for (int c = 0; c < C; c++)
      sum += xr[c];
    float m = sum / (float)C;

    float var = 0.0f;
    for (int c = 0; c < C; c++) {
      float d = xr[c] - m;
      var += d * d;
    }
    var /= (float)C;
    if (!(var <= FLT_MAX)) {
      layernorm_row_double(xr, gamma, beta, yr, &m_out, &s_out, C, eps);
    } else {
      float s = 1.0f / sqrtf(var + eps);
      for (int c = 0; c < C; c++)
        yr[c] = (xr[c] - m) * s * gamma[c] + beta[c];
      m_out = m;
      s_out = s;
    }

    if (mean != NULL)
      mean[r] = m_out;
    if (rstd != NULL)
      rstd[r] = s_out;
  }
}

/* With norm = (x - mean) * rstd and g = dy * gamma, per row:
 * dx = rstd * (g - mean(g) - norm * mean(g * norm)); dgamma += dy * norm;
 * dbeta += dy. dx may alias dy (each row's sums are taken before its dx is
 * written). */
void sdq_layernorm_backward_scalar(const float *dy, const float *x,
                                   const float *gamma, const float *mean,
                                   const float *rstd, float *dx, float *dgamma,
                                   float *dbeta, int rows, int C) {
  for (int r = 0; r < rows; r++) {
    const float *dyr = dy + (size_t)r * C;
    const float *xr = x + (size_t)r * C;
    float *dxr = dx + (size_t)r * C;
    float m = mean[r], s = rstd[r];

    /* 1. The two row means the input gradient needs, and the parameter
     * gradients. */
    float g_mean = 0.0f, g_norm_mean = 0.0f;
    for (int c = 0; c < C; c++) {
      float norm = (xr[c] - m) * s;
      float g = dyr[c] * gamma[c];
      g_mean += g;
      g_norm_mean += g * norm;
      if (dgamma != NULL)
        dgamma[c] += dyr[c] * norm;
      if (dbeta != NULL)
        dbeta[c] += dyr[c];
    }
    g_mean /= (float)C;
    g_norm_mean /= (float)C;

    /* 2. The input gradient. */
    for (int c = 0; c < C; c++) {
      float norm = (xr[c] - m) * s;
      float g = dyr[c] * gamma[c];
      dxr[c] = s * (g - g_mean - norm * g_norm_mean);
    }
  }
}
