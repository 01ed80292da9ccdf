/* vecmath_neon.c - NEON vector math: exp, GELU (tanh form) forward and
 * backward, row softmax and LayerNorm, with SLEEF's AdvSIMD exp and tanh
 * (1.0-ULP versions, like the scalar reference's Sleef_expf_u10). */
#include "config.h"

#include <arm_neon.h>
#include <float.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "kernels/arm/neon_internal.h"
#include "kernels/scalar/fp32_scalar.h"

/* Element-wise kernels split n into chunks of this many floats per OpenMP
 * iteration; below two chunks they run on the calling thread. */
#define CHUNK 4096

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f

/* From |x| = 10 on, tanh(sqrt(2/pi) (x + 0.044715 x^3)) is exactly +-1 in
 * fp32. Every variant clamps x there (see vecmath_scalar.c), which changes
 * no finite result beyond the sign of a zero and keeps +-inf finite. */
#define GELU_SATURATION 10.0f

/* Loads the n < 4 remaining floats of x into a register, zero padded. */
static float32x4_t load_tail(const float *x, size_t n) {
  float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(buf, x, n * sizeof *x);
  return vld1q_f32(buf);
}

static void store_tail(float *y, float32x4_t v, size_t n) {
  float buf[4];
  vst1q_f32(buf, v);
  memcpy(y, buf, n * sizeof *y);
}

/* ------------------------------------------------------------------- exp */

static void vexp_range(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1q_f32(y + i, Sleef_expf4_u10advsimd(vld1q_f32(x + i)));
  if (i < n)
    store_tail(y + i, Sleef_expf4_u10advsimd(load_tail(x + i, n - i)), n - i);
}

static void vexp_neon(const float *x, float *y, size_t n) {
  long nchunks = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (long c = 0; c < nchunks; c++) {
    size_t i0 = (size_t)c * CHUNK, len = n - i0 < CHUNK ? n - i0 : CHUNK;
    vexp_range(x + i0, y + i0, len);
  }
}

/* ------------------------------------------------------------------ GELU */

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for four lanes. x is
 * clamped below at -GELU_SATURATION, so gelu(-inf) = 0 (FMAX keeps NaN). */
static float32x4_t gelu4(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-GELU_SATURATION));
  float32x4_t x3 = vmulq_f32(vmulq_f32(x, x), x);
  float32x4_t u = vmulq_n_f32(vfmaq_n_f32(x, x3, GELU_CUBIC),
                              GELU_SQRT_2_OVER_PI);
  float32x4_t t = Sleef_tanhf4_u10advsimd(u);
  return vmulq_f32(vmulq_n_f32(x, 0.5f), vaddq_f32(vdupq_n_f32(1.0f), t));
}

/* dy * GELU'(x), where with u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh(u):
 * GELU'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3*0.044715 x^2).
 * x is clamped to +-GELU_SATURATION, so GELU'(+inf) = 1 and GELU'(-inf) = 0
 * (not inf * 0). */
static float32x4_t gelu_grad4(float32x4_t x, float32x4_t dy) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-GELU_SATURATION)),
                vdupq_n_f32(GELU_SATURATION));
  float32x4_t x2 = vmulq_f32(x, x);
  float32x4_t u = vmulq_n_f32(vfmaq_n_f32(x, vmulq_f32(x2, x), GELU_CUBIC),
                              GELU_SQRT_2_OVER_PI);
  float32x4_t t = Sleef_tanhf4_u10advsimd(u);
  float32x4_t one = vdupq_n_f32(1.0f);
  float32x4_t du = vmulq_n_f32(vfmaq_n_f32(one, x2, 3.0f * GELU_CUBIC),
                               GELU_SQRT_2_OVER_PI);
  float32x4_t sech2 = vfmsq_f32(one, t, t);
  float32x4_t left = vmulq_n_f32(vaddq_f32(one, t), 0.5f);
  float32x4_t right = vmulq_f32(vmulq_n_f32(x, 0.5f), vmulq_f32(sech2, du));
  return vmulq_f32(dy, vaddq_f32(left, right));
}

static void gelu_forward_neon(const float *x, float *y, size_t n) {
  long nchunks = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (long c = 0; c < nchunks; c++) {
    size_t i = (size_t)c * CHUNK, end = n - i < CHUNK ? n : i + CHUNK;
    for (; i + 4 <= end; i += 4)
      vst1q_f32(y + i, gelu4(vld1q_f32(x + i)));
    if (i < end)
      store_tail(y + i, gelu4(load_tail(x + i, end - i)), end - i);
  }
}

static void gelu_backward_neon(const float *x, const float *dy, float *dx,
                               size_t n) {
  long nchunks = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (long c = 0; c < nchunks; c++) {
    size_t i = (size_t)c * CHUNK, end = n - i < CHUNK ? n : i + CHUNK;
    for (; i + 4 <= end; i += 4)
      vst1q_f32(dx + i, gelu_grad4(vld1q_f32(x + i), vld1q_f32(dy + i)));
    if (i < end)
      store_tail(dx + i,
                 gelu_grad4(load_tail(x + i, end - i), load_tail(dy + i, end - i)),
                 end - i);
  }
}

/* --------------------------------------------------------------- softmax */

static float row_max(const float *x, int n) {
  float32x4_t m = vdupq_n_f32(-INFINITY);
  int i = 0;
  for (; i + 4 <= n; i += 4)
    m = vmaxq_f32(m, vld1q_f32(x + i));
  float r = vmaxvq_f32(m);
  for (; i < n; i++)
    r = fmaxf(r, x[i]);
  return r;
}

/* y = exp(x - max) / sum over one row; y may alias x. */
static void softmax_row(const float *x, float *y, int n) {
  float mx = row_max(x, n);
  float32x4_t vmx = vdupq_n_f32(mx), acc = vdupq_n_f32(0.0f);
  int i = 0;

  /* 1. y = exp(x - max), summed on the way */
  for (; i + 4 <= n; i += 4) {
    float32x4_t e = Sleef_expf4_u10advsimd(vsubq_f32(vld1q_f32(x + i), vmx));
    acc = vaddq_f32(acc, e);
    vst1q_f32(y + i, e);
  }
  float sum = vaddvq_f32(acc);
  if (i < n) {
    int rest = n - i;
    float32x4_t e =
        Sleef_expf4_u10advsimd(vsubq_f32(load_tail(x + i, (size_t)rest), vmx));
    float buf[4];
    vst1q_f32(buf, e);
    for (int k = 0; k < rest; k++) {
      sum += buf[k];
      y[i + k] = buf[k];
    }
  }

  /* 2. normalise */
  float32x4_t inv = vdupq_n_f32(1.0f / sum);
  for (i = 0; i + 4 <= n; i += 4)
    vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), inv));
  for (; i < n; i++)
    y[i] *= vgetq_lane_f32(inv, 0);
}

static void softmax_rows_neon(const float *x, float *y, int rows, int cols,
                              int ld) {
#pragma omp parallel for schedule(static) if ((long)rows * cols >= 2 * CHUNK)
  for (int r = 0; r < rows; r++)
    softmax_row(x + (size_t)r * ld, y + (size_t)r * ld, cols);
}

/* ------------------------------------------------------------- LayerNorm */

static float row_sum(const float *x, int n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4)
    acc = vaddq_f32(acc, vld1q_f32(x + i));
  float s = vaddvq_f32(acc);
  for (; i < n; i++)
    s += x[i];
  return s;
}

/* Sum of (x - mean)^2 over one row. */
static float row_sq_dev(const float *x, int n, float mean) {
  float32x4_t acc = vdupq_n_f32(0.0f), vm = vdupq_n_f32(mean);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    float32x4_t d = vsubq_f32(vld1q_f32(x + i), vm);
    acc = vfmaq_f32(acc, d, d);
  }
  float s = vaddvq_f32(acc);
  for (; i < n; i++)
    s += (x[i] - mean) * (x[i] - mean);
  return s;
}

static void layernorm_forward_neon(const float *x, const float *gamma,
                                   const float *beta, float *y, float *mean,
                                   float *rstd, int rows, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)rows * C >= 2 * CHUNK)
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * C;
    float *yr = y + (size_t)r * C;

    /* 1. mean and variance (two passes, as the scalar reference) */
    float m = row_sum(xr, C) / (float)C;
    float var = row_sq_dev(xr, C, m) / (float)C;
    if (!(var <= FLT_MAX)) {
      /* the fp32 sums overflowed or met NaN/inf: the scalar reference
       * redoes such a row in double, as every variant does */
      sdq_layernorm_forward_scalar(xr, gamma, beta, yr, mean ? &mean[r] : NULL,
                                   rstd ? &rstd[r] : NULL, 1, C, eps);
      continue;
    }
    float s = 1.0f / sqrtf(var + eps);

    /* 2. y = (x - mean) * rstd * gamma + beta */
    float32x4_t vm = vdupq_n_f32(m), vs = vdupq_n_f32(s);
    int i = 0;
    for (; i + 4 <= C; i += 4) {
      float32x4_t n = vmulq_f32(vsubq_f32(vld1q_f32(xr + i), vm), vs);
      vst1q_f32(yr + i, vfmaq_f32(vld1q_f32(beta + i), n, vld1q_f32(gamma + i)));
    }
    for (; i < C; i++)
      yr[i] = (xr[i] - m) * s * gamma[i] + beta[i];

    if (mean)
      mean[r] = m;
    if (rstd)
      rstd[r] = s;
  }
}

/* dx for one row: with n = (x - mean) * rstd and g = dy * gamma,
 * dx = rstd * (g - mean(g) - n * mean(g * n)). */
static void layernorm_dx_row(const float *dy, const float *x,
                             const float *gamma, float m, float s, float *dx,
                             int C) {
  float32x4_t vm = vdupq_n_f32(m), vs = vdupq_n_f32(s);
  float32x4_t acc_g = vdupq_n_f32(0.0f), acc_gn = vdupq_n_f32(0.0f);
  int i = 0;

  /* 1. the two row means */
  for (; i + 4 <= C; i += 4) {
    float32x4_t n = vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), vs);
    float32x4_t g = vmulq_f32(vld1q_f32(dy + i), vld1q_f32(gamma + i));
    acc_g = vaddq_f32(acc_g, g);
    acc_gn = vfmaq_f32(acc_gn, g, n);
  }
  float sum_g = vaddvq_f32(acc_g), sum_gn = vaddvq_f32(acc_gn);
  for (int k = i; k < C; k++) {
    float n = (x[k] - m) * s, g = dy[k] * gamma[k];
    sum_g += g;
    sum_gn += g * n;
  }
  float mean_g = sum_g / (float)C, mean_gn = sum_gn / (float)C;

  /* 2. dx */
  float32x4_t vmg = vdupq_n_f32(mean_g), vmgn = vdupq_n_f32(mean_gn);
  for (i = 0; i + 4 <= C; i += 4) {
    float32x4_t n = vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), vs);
    float32x4_t g = vmulq_f32(vld1q_f32(dy + i), vld1q_f32(gamma + i));
    float32x4_t d = vfmsq_f32(vsubq_f32(g, vmg), n, vmgn);
    vst1q_f32(dx + i, vmulq_f32(d, vs));
  }
  for (; i < C; i++) {
    float n = (x[i] - m) * s, g = dy[i] * gamma[i];
    dx[i] = (g - mean_g - n * mean_gn) * s;
  }
}

static void layernorm_backward_neon(const float *dy, const float *x,
                                    const float *gamma, const float *mean,
                                    const float *rstd, float *dx,
                                    float *dgamma, float *dbeta, int rows,
                                    int C) {
  int par = (long)rows * C >= 2 * CHUNK;

  /* 1. dgamma += sum_r dy * n, dbeta += sum_r dy, before dx is written
   * (dx may alias dy). Columns are split into blocks of four so threads
   * never write the same element. */
  if (dgamma || dbeta) {
    int nblocks = (C + 3) / 4;
#pragma omp parallel for schedule(static) if (par)
    for (int b = 0; b < nblocks; b++) {
      int c0 = b * 4;
      if (c0 + 4 <= C) {
        float32x4_t acc_g = vdupq_n_f32(0.0f), acc_b = vdupq_n_f32(0.0f);
        for (int r = 0; r < rows; r++) {
          float32x4_t d = vld1q_f32(dy + (size_t)r * C + c0);
          float32x4_t n = vmulq_n_f32(vsubq_f32(vld1q_f32(x + (size_t)r * C + c0),
                                                vdupq_n_f32(mean[r])),
                                      rstd[r]);
          acc_g = vfmaq_f32(acc_g, d, n);
          acc_b = vaddq_f32(acc_b, d);
        }
        if (dgamma)
          vst1q_f32(dgamma + c0, vaddq_f32(vld1q_f32(dgamma + c0), acc_g));
        if (dbeta)
          vst1q_f32(dbeta + c0, vaddq_f32(vld1q_f32(dbeta + c0), acc_b));
      } else {
        for (int c = c0; c < C; c++) {
          float sg = 0.0f, sb = 0.0f;
          for (int r = 0; r < rows; r++) {
            float d = dy[(size_t)r * C + c];
            sg += d * ((x[(size_t)r * C + c] - mean[r]) * rstd[r]);
            sb += d;
          }
          if (dgamma)
            dgamma[c] += sg;
          if (dbeta)
            dbeta[c] += sb;
        }
      }
    }
  }

  /* 2. dx, one row per iteration */
#pragma omp parallel for schedule(static) if (par)
  for (int r = 0; r < rows; r++)
    layernorm_dx_row(dy + (size_t)r * C, x + (size_t)r * C, gamma, mean[r],
                     rstd[r], dx + (size_t)r * C, C);
}

void sdq_neon_register_vecmath(sdq_kernel_table *t) {
  t->vexp = vexp_neon;
  t->gelu_forward = gelu_forward_neon;
  t->gelu_backward = gelu_backward_neon;
  t->softmax_rows = softmax_rows_neon;
  t->layernorm_forward = layernorm_forward_neon;
  t->layernorm_backward = layernorm_backward_neon;
  t->impl[SDQ_K_EXP] = SDQ_ISA_NEON;
  t->impl[SDQ_K_GELU_FORWARD] = SDQ_ISA_NEON;
  t->impl[SDQ_K_GELU_BACKWARD] = SDQ_ISA_NEON;
  t->impl[SDQ_K_SOFTMAX] = SDQ_ISA_NEON;
  t->impl[SDQ_K_LAYERNORM_FORWARD] = SDQ_ISA_NEON;
  t->impl[SDQ_K_LAYERNORM_BACKWARD] = SDQ_ISA_NEON;
}
