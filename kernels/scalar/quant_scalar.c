/* quant_scalar.c - portable reference of quantize_rows, fake quantization
 * and its straight-through backward. */
#include "quant_scalar.h"

#include <math.h>
#include <string.h>

/* Returns max |x[0..cols)|, or NaN when the row contains NaN or +-inf. */
static float row_maxabs(const float *x, int cols) {
  float m = 0.0f;
  for (int k = 0; k < cols; k++) {
    if (sdq_nonfinite(x[k]))
      return NAN;
    const float a = fabsf(x[k]);
    if (a > m)
      m = a;
  }
  return m;
}

/* Returns clamp(rint(v), -qmax, qmax); v is finite. */
static int8_t quantize_value(float v, int qmax) {
  float r = rintf(v);
  if (r > (float)qmax)
    r = (float)qmax;
  if (r < (float)-qmax)
    r = (float)-qmax;
  return (int8_t)r;
}

int sdq_quantize_rows_scalar(const float *x, int rows, int cols, int ld,
                             int bits, int8_t *q, float *scale) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    int8_t *qr = q + (size_t)r * (size_t)cols;
    const float maxabs = row_maxabs(xr, cols);
    if (isnan(maxabs)) {
      scale[r] = NAN;
      memset(qr, 0, (size_t)cols);
      bad++;
      continue;
    }

    float inv;
    sdq_row_scale(maxabs, qmax, &scale[r], &inv);
    for (int k = 0; k < cols; k++)
      qr[k] = quantize_value(xr[k] * inv, qmax);
  }
  return bad;
}

/* Rows that sdq_fake_quant_row_scale rejects get y = NaN and scale_out NaN
 * and are counted in the return value. */
int sdq_fake_quant_scalar(const float *x, int rows, int cols, int ld, int bits,
                          const float *scale_in, float *y, float *scale_out) {
  const int qmax = sdq_qmax(bits);
  if (qmax == 0)
    return -1;

  int bad = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ld;
    float *yr = y + (size_t)r * (size_t)ld;
    float s, inv = 0.0f;
    const int row_bad =
        sdq_fake_quant_row_scale(row_maxabs(xr, cols), scale_in, r, qmax, &s,
                                 &inv);

    if (row_bad) {
      for (int k = 0; k < cols; k++)
        yr[k] = NAN;
      bad++;
    } else {
      for (int k = 0; k < cols; k++)
        yr[k] = s * (float)quantize_value(xr[k] * inv, qmax);
    }
    if (scale_out != NULL)
      scale_out[r] = s;
  }
  return bad;
}

void sdq_fake_quant_backward_scalar(const float *x, const float *dy, int rows,
                                    int cols, int ld, int bits,
                                    const float *scale, float *dx) {
  const int qmax = sdq_qmax(bits);
  for (int r = 0; r < rows; r++) {
    const size_t off = (size_t)r * (size_t)ld;
    const float limit = (float)qmax * scale[r];
    for (int k = 0; k < cols; k++)
      dx[off + k] = fabsf(x[off + k]) <= limit ? dy[off + k] : 0.0f;
  }
}
