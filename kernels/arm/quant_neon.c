/* quant_neon.c - NEON quantization kernels: quantize_rows, fake quantization
 * and its STE backward, the packed-weight GEMMs qgemm_f32_nt/nn, and the
 * integer GEMM qgemm_i8_nt (vmull_s8 + vpadalq_s16; quant_neondot.c swaps
 * in sdot). Scales come from sdq_row_scale and rounding is FRINTN (half to
 * even, as rintf in the default environment), so the integers equal the
 * scalar reference's bit for bit. */
#include "config.h"

#include <arm_neon.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/arm/neon_internal.h"
#include "kernels/scalar/quant_scalar.h"
#include "kernels/sdq_pack.h"

/* OpenMP shares out whole rows. Below this many elements the row loops run
 * on the calling thread. */
#define PARALLEL_MIN_ELEMS 8192

/* --------------------------------------------------------- quantization */

/* Returns max |x[0..n)|, or NaN when the row contains NaN or +-inf. FMAX
 * propagates NaN, and an infinite maximum marks an infinite element. */
static float row_maxabs(const float *x, int n) {
  float32x4_t m = vdupq_n_f32(0.0f);
  int k = 0;
  for (; k + 4 <= n; k += 4)
    m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
  float r = vmaxvq_f32(m);
  for (; k < n; k++) {
    float a = fabsf(x[k]);
    r = a > r || isnan(a) ? a : r;
  }
  return r <= FLT_MAX ? r : NAN;
}

/* clamp(rint(x * inv), -qmax, qmax) for four lanes, as floats. */
static float32x4_t quant4(float32x4_t x, float inv, float32x4_t lo,
                          float32x4_t hi) {
  return vminq_f32(vmaxq_f32(vrndnq_f32(vmulq_n_f32(x, inv)), lo), hi);
}

/* The scalar form of quant4 for the tail of a row. */
static float quant1(float x, float inv, int qmax) {
  float r = rintf(x * inv);
  return r > (float)qmax ? (float)qmax : r < (float)-qmax ? (float)-qmax : r;
}

/* Quantizes one row x[n] to q[n] with the given reciprocal scale. */
static void quantize_row(const float *x, int n, float inv, int qmax,
                         int8_t *q) {
  float32x4_t lo = vdupq_n_f32((float)-qmax), hi = vdupq_n_f32((float)qmax);
  int k = 0;
  for (; k + 16 <= n; k += 16) {
    int32x4_t i0 = vcvtq_s32_f32(quant4(vld1q_f32(x + k), inv, lo, hi));
    int32x4_t i1 = vcvtq_s32_f32(quant4(vld1q_f32(x + k + 4), inv, lo, hi));
    int32x4_t i2 = vcvtq_s32_f32(quant4(vld1q_f32(x + k + 8), inv, lo, hi));
    int32x4_t i3 = vcvtq_s32_f32(quant4(vld1q_f32(x + k + 12), inv, lo, hi));
    int16x8_t h0 = vcombine_s16(vmovn_s32(i0), vmovn_s32(i1));
    int16x8_t h1 = vcombine_s16(vmovn_s32(i2), vmovn_s32(i3));
    vst1q_s8(q + k, vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
  }
  for (; k < n; k++)
    q[k] = (int8_t)quant1(x[k], inv, qmax);
}

/* Quantizes one row per token/channel: writes q[cols] and *scale; returns 1
 * for a row containing NaN/inf (scale NaN, q zero), else 0. */
static int quantize_one(const float *x, int cols, int qmax, int8_t *q,
                        float *scale) {
  float maxabs = row_maxabs(x, cols);
  if (isnan(maxabs)) {
    *scale = NAN;
    memset(q, 0, (size_t)cols);
    return 1;
  }
  float inv;
  sdq_row_scale(maxabs, qmax, scale, &inv);
  quantize_row(x, cols, inv, qmax, q);
  return 0;
}

static int quantize_rows_neon(const float *x, int rows, int cols, int ld,
                              int bits, int8_t *q, float *scale) {
  int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) \
    if ((long)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int r = 0; r < rows; r++)
    bad += quantize_one(x + (size_t)r * ld, cols, qmax,
                        q + (size_t)r * cols, &scale[r]);
  return bad;
}

/* y[n] = s * (float)q with q = clamp(rint(x * inv), -qmax, qmax). Going
 * through the integer turns rint's -0 into +0, as in the scalar reference. */
static void fake_quant_row(const float *x, int n, float s, float inv, int qmax,
                           float *y) {
  float32x4_t lo = vdupq_n_f32((float)-qmax), hi = vdupq_n_f32((float)qmax);
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    int32x4_t q = vcvtq_s32_f32(quant4(vld1q_f32(x + k), inv, lo, hi));
    vst1q_f32(y + k, vmulq_n_f32(vcvtq_f32_s32(q), s));
  }
  for (; k < n; k++)
    y[k] = s * (float)(int)quant1(x[k], inv, qmax);
}

/* As the scalar reference: with scale_in, a NaN, infinite or negative scale
 * is treated like a row containing NaN, and a scale whose reciprocal overflows
 * quantizes everything to 0. */
static int fake_quant_neon(const float *x, int rows, int cols, int ld,
                           int bits, const float *scale_in, float *y,
                           float *scale_out) {
  int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) \
    if ((long)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * ld;
    float *yr = y + (size_t)r * ld;
    float maxabs = row_maxabs(xr, cols);
    float s = NAN, inv = 0.0f;

    if (isnan(maxabs)) {
      s = NAN;
    } else if (scale_in == NULL) {
      sdq_row_scale(maxabs, qmax, &s, &inv);
    } else if (scale_in[r] >= 0.0f && scale_in[r] <= FLT_MAX) {
      s = scale_in[r];
      inv = 1.0f / s;
      if (!(inv <= FLT_MAX))
        inv = 0.0f;
    }

    if (isnan(s)) {
      for (int k = 0; k < cols; k++)
        yr[k] = NAN;
      bad++;
    } else {
      fake_quant_row(xr, cols, s, inv, qmax, yr);
    }
    if (scale_out)
      scale_out[r] = s;
  }
  return bad;
}

/* STE: dx = dy where |x| <= qmax * scale[row], else 0 (a NaN scale passes
 * nothing). */
static void fake_quant_backward_neon(const float *x, const float *dy, int rows,
                                     int cols, int ld, int bits,
                                     const float *scale, float *dx) {
  int qmax = sdq_qmax(bits);

#pragma omp parallel for schedule(static) \
    if ((long)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int r = 0; r < rows; r++) {
    size_t off = (size_t)r * ld;
    float limit = (float)qmax * scale[r];
    float32x4_t vlim = vdupq_n_f32(limit);
    int k = 0;
    for (; k + 4 <= cols; k += 4) {
      uint32x4_t pass = vcleq_f32(vabsq_f32(vld1q_f32(x + off + k)), vlim);
      uint32x4_t g = vreinterpretq_u32_f32(vld1q_f32(dy + off + k));
      vst1q_f32(dx + off + k, vreinterpretq_f32_u32(vandq_u32(g, pass)));
    }
    for (; k < cols; k++)
      dx[off + k] = fabsf(x[off + k]) <= limit ? dy[off + k] : 0.0f;
  }
}

/* ------------------------------------------------- unpacking (sdq_pack.h) */

/* Unpacks one packed group of 64 fields at src to the signed values
 * q = u - sdq_pack_offset(bits); odd bits use the next even layout. */
static void unpack_group_s8(const uint8_t *src, int bits, int8_t *q) {
  uint8x16_t u0, u1, u2, u3;
  const uint8x16_t m2 = vdupq_n_u8(0x03), m4 = vdupq_n_u8(0x0f);
  const int layout = sdq_pack_container_bits(bits);

  switch (layout) {
  case 8:
    u0 = vld1q_u8(src);
    u1 = vld1q_u8(src + 16);
    u2 = vld1q_u8(src + 32);
    u3 = vld1q_u8(src + 48);
    break;
  case 2: {
    uint8x16_t b = vld1q_u8(src);
    u0 = vandq_u8(b, m2);
    u1 = vandq_u8(vshrq_n_u8(b, 2), m2);
    u2 = vandq_u8(vshrq_n_u8(b, 4), m2);
    u3 = vshrq_n_u8(b, 6);
    break;
  }
  default: { /* 4 and 6: the 4-bit nibbles come first */
    uint8x16_t b0 = vld1q_u8(src), b1 = vld1q_u8(src + 16);
    u0 = vandq_u8(b0, m4);
    u1 = vandq_u8(b1, m4);
    u2 = vshrq_n_u8(b0, 4);
    u3 = vshrq_n_u8(b1, 4);
    if (layout == 6) { /* the high 2 bits follow in the 2-bit layout */
      uint8x16_t h = vld1q_u8(src + 32);
      u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(h, m2), 4));
      u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), m2), 4));
      u2 = vorrq_u8(u2, vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), m2), 4));
      u3 = vorrq_u8(u3, vshlq_n_u8(vshrq_n_u8(h, 6), 4));
    }
    break;
  }
  }

  const uint8x16_t off = vdupq_n_u8((uint8_t)sdq_pack_offset(bits));
  vst1q_s8(q, vreinterpretq_s8_u8(vsubq_u8(u0, off)));
  vst1q_s8(q + 16, vreinterpretq_s8_u8(vsubq_u8(u1, off)));
  vst1q_s8(q + 32, vreinterpretq_s8_u8(vsubq_u8(u2, off)));
  vst1q_s8(q + 48, vreinterpretq_s8_u8(vsubq_u8(u3, off)));
}

/* Unpacks W[row, k0 : k0+len) to int8 (padding beyond cols reads as 0). */
static void unpack_slice(const sdq_qmatrix *W, int row, int k0, int len,
                         int8_t *q) {
  const int bits = W->bits;
  const size_t group_bytes = sdq_packed_group_bytes(bits);
  const uint8_t *src =
      W->packed + (size_t)row * sdq_packed_row_bytes(W->cols, bits);
  int8_t group[SDQ_PACK_GROUP];
  int k = k0;
  while (k < k0 + len) {
    int g = k / SDQ_PACK_GROUP, j = k % SDQ_PACK_GROUP;
    int take = SDQ_PACK_GROUP - j;
    if (take > k0 + len - k)
      take = k0 + len - k;
    if (j == 0 && take == SDQ_PACK_GROUP) {
      unpack_group_s8(src + (size_t)g * group_bytes, bits, q + (k - k0));
    } else {
      unpack_group_s8(src + (size_t)g * group_bytes, bits, group);
      memcpy(q + (k - k0), group + j, (size_t)take);
    }
    k += take;
  }
}

/* Widens q[0..n) to floats times s, writing out[i * stride]. */
static void dequant_strided(const int8_t *q, int n, float s, float *out,
                            int stride) {
  for (int i = 0; i < n; i++)
    out[(size_t)i * stride] = s * (float)q[i];
}

/* ----------------------------------------------- fp32 x packed-weight GEMM */

/* B panel of Y = X*W^T: column j of op(B) is W row j, dequantized. */
static void pack_b_qmatrix_t(const void *src, int p0, int kc, int j0, int nr,
                             float *dst) {
  const sdq_qmatrix *W = src;
  int8_t q[256];
  for (int c = 0; c < SDQ_NEON_NR; c++) {
    if (c >= nr) {
      for (int k = 0; k < kc; k++)
        dst[k * SDQ_NEON_NR + c] = 0.0f;
      continue;
    }
    for (int k = 0; k < kc; k += 256) {
      int len = kc - k < 256 ? kc - k : 256;
      unpack_slice(W, j0 + c, p0 + k, len, q);
      dequant_strided(q, len, W->scale[j0 + c], dst + (size_t)k * SDQ_NEON_NR + c,
                      SDQ_NEON_NR);
    }
  }
}

/* B panel of dX = dY*W: row k of op(B) is W row k, dequantized. */
static void pack_b_qmatrix_n(const void *src, int p0, int kc, int j0, int nr,
                             float *dst) {
  const sdq_qmatrix *W = src;
  int8_t q[SDQ_NEON_NR];
  for (int k = 0; k < kc; k++) {
    float *d = dst + (size_t)k * SDQ_NEON_NR;
    unpack_slice(W, p0 + k, j0, nr, q);
    dequant_strided(q, nr, W->scale[p0 + k], d, 1);
    for (int c = nr; c < SDQ_NEON_NR; c++)
      d[c] = 0.0f;
  }
}

static void qgemm_f32_nt_neon(int M, const float *A, int lda,
                              const sdq_qmatrix *W, float beta, float *C,
                              int ldc) {
  sdq_neon_dense a = {A, lda};
  sdq_neon_gemm(M, W->rows, W->cols, sdq_neon_pack_a_rows, &a,
                pack_b_qmatrix_t, W, beta, C, ldc);
}

static void qgemm_f32_nn_neon(int M, const float *A, int lda,
                              const sdq_qmatrix *W, float beta, float *C,
                              int ldc) {
  sdq_neon_dense a = {A, lda};
  sdq_neon_gemm(M, W->cols, W->rows, sdq_neon_pack_a_rows, &a,
                pack_b_qmatrix_n, W, beta, C, ldc);
}

/* ------------------------------------------------------ integer GEMM */

/* Plain NEON 4x4 tile: vmull_s8 + vmlal_high_s8 add two products of at most
 * 127 * 127 in int16 (<= 32258, no overflow), vpadalq_s16 widens to int32. */
static void dot_tile_neon(const int8_t *a, size_t lda, const int8_t *w,
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
      for (int c = 0; c < 4; c++) {
        int16x8_t p = vmull_s8(vget_low_s8(av[r]), vget_low_s8(wv[c]));
        p = vmlal_high_s8(p, av[r], wv[c]);
        acc[r][c] = vpadalq_s16(acc[r][c], p);
      }
  }

  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      out[r][c] = vaddvq_s32(acc[r][c]);
}

int sdq_neon_qgemm_i8(int M, const float *A, int lda, int act_bits,
                      const sdq_qmatrix *W, float beta, float *C, int ldc,
                      sdq_neon_dot_tile_fn dot_tile) {
  int qmax = sdq_qmax(act_bits);
  if (qmax == 0)
    return -1;
  if (M <= 0)
    return 0;

  const int N = W->rows, K = W->cols, kp = sdq_pack_cols_padded(K);
  const int mp = (M + 3) / 4 * 4;

  /* 1. quantize A per token into mp rows of kp bytes. The padding (columns
   * K..kp-1 and rows M..mp-1) is zero, so every tile can be a whole 4 x 4. */
  int8_t *qa = aligned_alloc(64, (size_t)mp * kp);
  float *scale_a = malloc((size_t)M * sizeof *scale_a);
  if (!qa || !scale_a) {
    free(qa);
    free(scale_a);
    return -1;
  }
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) \
    if ((long)M * K >= PARALLEL_MIN_ELEMS)
  for (int m = 0; m < mp; m++) {
    int8_t *row = qa + (size_t)m * kp;
    if (m < M) {
      bad += quantize_one(A + (size_t)m * lda, K, qmax, row, &scale_a[m]);
      memset(row + K, 0, (size_t)(kp - K));
    } else {
      memset(row, 0, (size_t)kp);
    }
  }

  /* 2. per strip of 4 W rows: unpack them once, then take the int32 dot
   * products with every row of qa and rescale. The layout pads each row with
   * q = 0, and a short last strip gets zero rows. */
  int nstrips = (N + 3) / 4, failed = 0;
#pragma omp parallel if ((long)M * N * K >= 64L * 64 * 64)
  {
    int8_t *qw = aligned_alloc(64, (size_t)4 * kp);
    if (!qw) {
#pragma omp atomic write
      failed = 1;
    }

#pragma omp for schedule(static)
    for (int s = 0; s < nstrips; s++) {
      if (!qw)
        continue;
      int n0 = s * 4, nw = N - n0 < 4 ? N - n0 : 4;
      for (int c = 0; c < 4; c++) {
        if (c < nw)
          unpack_slice(W, n0 + c, 0, kp, qw + (size_t)c * kp);
        else
          memset(qw + (size_t)c * kp, 0, (size_t)kp);
      }

      for (int m0 = 0; m0 < M; m0 += 4) {
        int32_t acc[4][4];
        dot_tile(qa + (size_t)m0 * kp, (size_t)kp, qw, (size_t)kp, kp, acc);
        int ma = M - m0 < 4 ? M - m0 : 4;
        for (int r = 0; r < ma; r++) {
          float *crow = C + (size_t)(m0 + r) * ldc + n0;
          for (int c = 0; c < nw; c++)
            crow[c] = sdq_i8_rescale(acc[r][c], scale_a[m0 + r],
                                     W->scale[n0 + c], beta, &crow[c]);
        }
      }
    }
    free(qw);
  }

  free(qa);
  free(scale_a);
  return failed ? -1 : bad;
}

static int qgemm_i8_nt_neon(int M, const float *A, int lda, int act_bits,
                            const sdq_qmatrix *W, float beta, float *C,
                            int ldc) {
  return sdq_neon_qgemm_i8(M, A, lda, act_bits, W, beta, C, ldc,
                           dot_tile_neon);
}

void sdq_neon_register_quant(sdq_kernel_table *t) {
  t->quantize_rows = quantize_rows_neon;
  t->fake_quant = fake_quant_neon;
  t->fake_quant_backward = fake_quant_backward_neon;
  t->qgemm_f32_nt = qgemm_f32_nt_neon;
  t->qgemm_f32_nn = qgemm_f32_nn_neon;
  t->qgemm_i8_nt = qgemm_i8_nt_neon;
  t->impl[SDQ_K_QUANTIZE_ROWS] = SDQ_ISA_NEON;
  t->impl[SDQ_K_FAKE_QUANT] = SDQ_ISA_NEON;
  t->impl[SDQ_K_FAKE_QUANT_BACKWARD] = SDQ_ISA_NEON;
  t->impl[SDQ_K_QGEMM_F32_NT] = SDQ_ISA_NEON;
  t->impl[SDQ_K_QGEMM_F32_NN] = SDQ_ISA_NEON;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_NEON;
}
