/* test_kernels_quant.c - quantize_rows, fake quantization, STE backward,
 * packing and sdq_qmatrix on every ISA variant this machine supports. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"
#include "sdq_pack.h"

static const int kShapes[] = {1, 3, 17, 63, 65, 127, 769, 3073};
#define N_SHAPES (int)(sizeof(kShapes) / sizeof(kShapes[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static float rng_uniform(void) {
  return (float)rng_next() / 2147483648.0f - 1.0f;
}

static void fill_uniform(float *x, size_t n, float amplitude) {
  for (size_t i = 0; i < n; i++)
    x[i] = amplitude * rng_uniform();
}

/* Returns the table of isa, or NULL when this machine or build lacks it. */
static const sdq_kernel_table *table(sdq_isa isa) {
  return sdq_kernel_table_for(isa);
}

static int same_float_bits(float a, float b) {
  return memcmp(&a, &b, sizeof(float)) == 0;
}

/* ---------------------------------------------------------------- packing */

START_TEST(pack_roundtrip_all_bits) {
  for (int bits = 2; bits <= 8; bits++) {
    const int qmax = sdq_qmax(bits);
    for (int s = 0; s < N_SHAPES; s++) {
      const int cols = kShapes[s];
      int8_t *q = malloc((size_t)cols), *back = malloc((size_t)cols);
      uint8_t *packed = malloc(sdq_packed_row_bytes(cols, bits));
      for (int k = 0; k < cols; k++)
        q[k] = (int8_t)((int)(rng_next() % (uint32_t)(2 * qmax + 1)) - qmax);
      q[0] = (int8_t)qmax;
      q[cols - 1] = (int8_t)-qmax;

      sdq_pack_row(q, cols, bits, packed);
      sdq_unpack_row(packed, cols, bits, back);
      ck_assert_msg(memcmp(q, back, (size_t)cols) == 0,
                    "pack/unpack round trip differs for bits=%d cols=%d", bits,
                    cols);

      /* the padding of the last group contains q = 0 (u = offset) */
      const int groups = sdq_pack_cols_padded(cols) / SDQ_PACK_GROUP;
      uint8_t u[SDQ_PACK_GROUP];
      sdq_unpack_group_u8(packed + (size_t)(groups - 1) *
                                       sdq_packed_group_bytes(bits),
                          bits, u);
      for (int j = cols - (groups - 1) * SDQ_PACK_GROUP; j < SDQ_PACK_GROUP;
           j++)
        ck_assert_msg(u[j] == sdq_pack_offset(bits),
                      "padding field %d is %d, expected %d (bits=%d cols=%d)",
                      j, u[j], sdq_pack_offset(bits), bits, cols);
      free(q);
      free(back);
      free(packed);
    }
  }
}
END_TEST

START_TEST(pack_layout_4bit_documented) {
  /* value j of a group sits in byte j % 32, nibble j / 32 */
  int8_t q[SDQ_PACK_GROUP];
  uint8_t packed[32];
  for (int j = 0; j < SDQ_PACK_GROUP; j++)
    q[j] = (int8_t)(j % 15 - 7);
  sdq_pack_row(q, SDQ_PACK_GROUP, 4, packed);
  for (int j = 0; j < SDQ_PACK_GROUP; j++) {
    const int field = (packed[j % 32] >> (4 * (j / 32))) & 0x0f;
    ck_assert_int_eq(field, q[j] + 8);
  }
  ck_assert_uint_eq(sdq_packed_row_bytes(65, 2), 32);
  ck_assert_uint_eq(sdq_packed_row_bytes(64, 6), 48);
  ck_assert_uint_eq(sdq_packed_row_bytes(1, 3), 32);
  ck_assert_uint_eq(sdq_packed_row_bytes(1, 7), 64);
}
END_TEST

/* -------------------------------------------------------- quantize_rows */

START_TEST(qmax_values) {
  ck_assert_int_eq(sdq_qmax(2), 1);
  ck_assert_int_eq(sdq_qmax(4), 7);
  ck_assert_int_eq(sdq_qmax(8), 127);
  ck_assert_int_eq(sdq_qmax(1), 0);
  ck_assert_int_eq(sdq_qmax(9), 0);
}
END_TEST

START_TEST(quantize_scalar_definition) {
  const sdq_kernel_table *ref = table(SDQ_ISA_SCALAR);
  const int rows = 5, cols = 70;
  float x[5 * 70], scale[5];
  int8_t q[5 * 70];
  fill_uniform(x, sizeof(x) / sizeof(x[0]), 3.0f);
  for (int bits = 2; bits <= 8; bits++) {
    const int qmax = sdq_qmax(bits);
    ck_assert_int_eq(ref->quantize_rows(x, rows, cols, cols, bits, q, scale), 0);
    for (int r = 0; r < rows; r++) {
      float maxabs = 0.0f;
      for (int k = 0; k < cols; k++)
        maxabs = fmaxf(maxabs, fabsf(x[r * cols + k]));
      ck_assert_msg(same_float_bits(scale[r], maxabs / (float)qmax),
                    "scale of row %d is %g, expected max|x|/qmax = %g", r,
                    (double)scale[r], (double)(maxabs / (float)qmax));
      const float inv = 1.0f / scale[r];
      for (int k = 0; k < cols; k++) {
        float e = rintf(x[r * cols + k] * inv);
        e = fminf(fmaxf(e, (float)-qmax), (float)qmax);
        ck_assert_int_eq(q[r * cols + k], (int)e);
        /* MinMax never clips, so the error is at most half a step */
        ck_assert_float_le(fabsf(x[r * cols + k] - scale[r] * q[r * cols + k]),
                           0.5f * scale[r] * (1.0f + 1e-5f));
      }
    }
  }
}
END_TEST

/* Quantizes rows x cols with every variant and compares q and scale bit for
 * bit with the scalar reference; x starts one float past an aligned
 * address and rows are ld = cols + 5 apart. */
static void check_quantize_matches_scalar(int rows, int cols, int bits) {
  const int ld = cols + 5;
  float *buf = malloc(((size_t)rows * (size_t)ld + 1) * sizeof(float));
  float *x = buf + 1;
  fill_uniform(x, (size_t)rows * (size_t)ld, 2.0f);
  if (rows > 1)
    x[(size_t)ld + cols / 2] = 1000.0f; /* one huge outlier in row 1 */

  int8_t *q_ref = malloc((size_t)rows * (size_t)cols);
  int8_t *q = malloc((size_t)rows * (size_t)cols);
  float *s_ref = malloc((size_t)rows * sizeof(float));
  float *s = malloc((size_t)rows * sizeof(float));
  ck_assert_int_eq(table(SDQ_ISA_SCALAR)->quantize_rows(x, rows, cols, ld, bits,
                                                        q_ref, s_ref),
                   0);
  for (int isa = SDQ_ISA_SCALAR + 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    memset(q, 0x55, (size_t)rows * (size_t)cols);
    ck_assert_int_eq(t->quantize_rows(x, rows, cols, ld, bits, q, s), 0);
    ck_assert_msg(memcmp(q, q_ref, (size_t)rows * (size_t)cols) == 0,
                  "%s: quantize_rows q differs from scalar (%dx%d, bits=%d)",
                  sdq_isa_name((sdq_isa)isa), rows, cols, bits);
    ck_assert_msg(memcmp(s, s_ref, (size_t)rows * sizeof(float)) == 0,
                  "%s: quantize_rows scale differs from scalar (%dx%d, "
                  "bits=%d)",
                  sdq_isa_name((sdq_isa)isa), rows, cols, bits);
  }
  free(buf);
  free(q_ref);
  free(q);
  free(s_ref);
  free(s);
}

START_TEST(quantize_isas_match_scalar) {
  for (int s = 0; s < N_SHAPES; s++)
    for (int bits = 2; bits <= 8; bits++)
      check_quantize_matches_scalar(kShapes[(s + bits) % N_SHAPES], kShapes[s],
                                    bits);
}
END_TEST

/* Rows: 0 all zero, 1 one outlier, 2 subnormals only, 3 NaN, 4 +inf,
 * 5 -inf, 6 smallest normal plus zeros, 7 largest finite values. */
static void fill_edge_rows(float *x, int cols) {
  memset(x, 0, sizeof(float) * 8 * (size_t)cols);
  for (int k = 0; k < cols; k++) {
    x[1 * cols + k] = 0.01f * (float)(k % 7);
    x[2 * cols + k] = (k % 2 ? -1.0f : 1.0f) * 1e-40f * (float)(k % 5 + 1);
    x[3 * cols + k] = 1.0f;
    x[4 * cols + k] = -2.0f;
    x[5 * cols + k] = 0.5f;
    x[7 * cols + k] = (k % 2 ? -FLT_MAX : FLT_MAX);
  }
  x[1 * cols + cols / 2] = 1e6f;
  x[3 * cols + cols - 1] = NAN;
  x[4 * cols + 0] = INFINITY;
  x[5 * cols + cols / 2] = -INFINITY;
  x[6 * cols + 0] = FLT_MIN;
}

START_TEST(quantize_edge_rows) {
  const int rows = 8, cols = 37;
  float x[8 * 37], scale[8];
  int8_t q[8 * 37];
  fill_edge_rows(x, cols);
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    const int qmax = 127;
    memset(q, 0x55, sizeof(q));
    ck_assert_msg(t->quantize_rows(x, rows, cols, cols, 8, q, scale) == 3,
                  "%s: expected 3 NaN/inf rows", name);

    /* all-zero row and subnormal-only row: scale 0, q 0 */
    for (int r = 0; r <= 2; r += 2) {
      ck_assert_msg(scale[r] == 0.0f, "%s: row %d scale %g, expected 0", name,
                    r, (double)scale[r]);
      for (int k = 0; k < cols; k++)
        ck_assert_msg(q[r * cols + k] == 0, "%s: row %d q[%d] = %d", name, r,
                      k, q[r * cols + k]);
    }

    /* outlier: it maps to qmax and every small value to 0 */
    ck_assert_msg(q[cols + cols / 2] == qmax, "%s: outlier q = %d", name,
                  q[cols + cols / 2]);
    ck_assert_msg(q[cols + 1] == 0, "%s: small value next to outlier q = %d",
                  name, q[cols + 1]);

    /* NaN / inf rows: scale NaN, q 0 */
    for (int r = 3; r <= 5; r++) {
      ck_assert_msg(isnan(scale[r]), "%s: row %d scale %g, expected NaN", name,
                    r, (double)scale[r]);
      for (int k = 0; k < cols; k++)
        ck_assert_msg(q[r * cols + k] == 0, "%s: row %d q[%d] = %d", name, r,
                      k, q[r * cols + k]);
    }

    /* FLT_MIN / 127 is subnormal and its reciprocal overflows: zero row */
    ck_assert_msg(scale[6] == 0.0f && q[6 * cols] == 0,
                  "%s: FLT_MIN row scale %g q %d", name, (double)scale[6],
                  q[6 * cols]);

    /* FLT_MAX values still quantize to +-qmax */
    ck_assert_msg(q[7 * cols] == qmax && q[7 * cols + 1] == -qmax,
                  "%s: FLT_MAX row q = %d, %d", name, q[7 * cols],
                  q[7 * cols + 1]);
  }
}
END_TEST

START_TEST(quantize_rejects_bits) {
  float x[4] = {1, 2, 3, 4}, scale[1];
  int8_t q[4];
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    ck_assert_msg(t->quantize_rows(x, 1, 4, 4, 1, q, scale) == -1,
                  "%s: bits 1 accepted", name);
    ck_assert_msg(t->quantize_rows(x, 1, 4, 4, 9, q, scale) == -1,
                  "%s: bits 9 accepted", name);
    ck_assert_msg(t->fake_quant(x, 1, 4, 4, 1, NULL, x, NULL) == -1,
                  "%s: fake_quant bits 1 accepted", name);
    ck_assert_msg(t->fake_quant(x, 1, 4, 4, 9, NULL, x, NULL) == -1,
                  "%s: fake_quant bits 9 accepted", name);
  }
}
END_TEST

/* ---------------------------------------------------- fake quantization */

START_TEST(fake_quant_equals_dequantized_q) {
  const int rows = 9, cols = 131, ld = 140;
  float *x = malloc(sizeof(float) * rows * ld), *y = malloc(sizeof(float) * rows * ld);
  float scale[9], scale_out[9];
  int8_t *q = malloc((size_t)rows * cols);
  fill_uniform(x, (size_t)rows * ld, 4.0f);
  for (int bits = 2; bits <= 8; bits++) {
    table(SDQ_ISA_SCALAR)->quantize_rows(x, rows, cols, ld, bits, q, scale);
    for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
      const sdq_kernel_table *t = table((sdq_isa)isa);
      if (t == NULL)
        continue;
      ck_assert_int_eq(t->fake_quant(x, rows, cols, ld, bits, NULL, y, scale_out), 0);
      for (int r = 0; r < rows; r++) {
        ck_assert_msg(same_float_bits(scale_out[r], scale[r]),
                      "%s: fake_quant scale differs (row %d, bits %d)",
                      sdq_isa_name((sdq_isa)isa), r, bits);
        for (int k = 0; k < cols; k++)
          ck_assert_msg(same_float_bits(y[r * ld + k],
                                        scale[r] * (float)q[r * cols + k]),
                        "%s: fake_quant y[%d,%d] = %g, expected scale*q = %g "
                        "(bits %d)",
                        sdq_isa_name((sdq_isa)isa), r, k, (double)y[r * ld + k],
                        (double)(scale[r] * (float)q[r * cols + k]), bits);
      }
    }
  }
  free(x);
  free(y);
  free(q);
}
END_TEST

START_TEST(fake_quant_given_scale_clips) {
  const int rows = 6, cols = 77, ld = 80;
  float x[6 * 80], y_ref[6 * 80], y[6 * 80], dy[6 * 80], dx_ref[6 * 80],
      dx[6 * 80];
  float scale_in[6] = {0.01f, 0.1f, 0.0f, 1.0f, NAN, -1.0f}, s_out[6];
  fill_uniform(x, sizeof(x) / sizeof(x[0]), 3.0f);
  fill_uniform(dy, sizeof(dy) / sizeof(dy[0]), 1.0f);
  const sdq_kernel_table *ref = table(SDQ_ISA_SCALAR);
  const int bits = 4, qmax = 7;

  /* rows 4 and 5 have an invalid scale_in and count as bad rows */
  ck_assert_int_eq(ref->fake_quant(x, rows, cols, ld, bits, scale_in, y_ref, s_out), 2);
  for (int k = 0; k < cols; k++) {
    const float clip = qmax * scale_in[0];
    ck_assert_float_le(fabsf(y_ref[k]), clip * (1.0f + 1e-6f));
    ck_assert_float_eq(y_ref[2 * ld + k], 0.0f);
    ck_assert(isnan(y_ref[4 * ld + k]));
  }
  ck_assert(isnan(s_out[5]));
  ref->fake_quant_backward(x, dy, rows, cols, ld, bits, scale_in, dx_ref);
  for (int r = 0; r < 4; r++)
    for (int k = 0; k < cols; k++) {
      const int pass = fabsf(x[r * ld + k]) <= qmax * scale_in[r];
      ck_assert_float_eq(dx_ref[r * ld + k], pass ? dy[r * ld + k] : 0.0f);
    }

  for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    ck_assert_int_eq(t->fake_quant(x, rows, cols, ld, bits, scale_in, y, s_out), 2);
    t->fake_quant_backward(x, dy, rows, cols, ld, bits, scale_in, dx);
    for (int r = 0; r < rows; r++)
      for (int k = 0; k < cols; k++) {
        ck_assert_msg(same_float_bits(y[r * ld + k], y_ref[r * ld + k]) ||
                          (isnan(y[r * ld + k]) && isnan(y_ref[r * ld + k])),
                      "%s: clipped fake_quant y[%d,%d] = %g, scalar %g", name,
                      r, k, (double)y[r * ld + k], (double)y_ref[r * ld + k]);
        ck_assert_msg(same_float_bits(dx[r * ld + k], dx_ref[r * ld + k]),
                      "%s: STE dx[%d,%d] = %g, scalar %g", name, r, k,
                      (double)dx[r * ld + k], (double)dx_ref[r * ld + k]);
      }
  }
}
END_TEST

START_TEST(fake_quant_nan_rows) {
  const int cols = 33;
  float x[8 * 33], y[8 * 33], s[8];
  fill_edge_rows(x, cols);
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    const char *name = sdq_isa_name((sdq_isa)isa);
    ck_assert_msg(t->fake_quant(x, 8, cols, cols, 6, NULL, y, s) == 3,
                  "%s: expected 3 NaN/inf rows", name);
    for (int k = 0; k < cols; k++) {
      ck_assert_msg(isnan(y[3 * cols + k]) && isnan(y[5 * cols + k]),
                    "%s: NaN/inf row output not NaN at column %d", name, k);
      ck_assert_msg(y[k] == 0.0f && y[2 * cols + k] == 0.0f,
                    "%s: zero/subnormal row output not 0 at column %d", name,
                    k);
    }
  }
}
END_TEST

START_TEST(ste_backward_matches_scalar) {
  const int rows = 17, cols = 769, ld = 770;
  float *x = malloc(sizeof(float) * rows * ld), *dy = malloc(sizeof(float) * rows * ld);
  float *dx_ref = malloc(sizeof(float) * rows * ld), *dx = malloc(sizeof(float) * rows * ld);
  float scale[17];
  fill_uniform(x, (size_t)rows * ld, 1.0f);
  fill_uniform(dy, (size_t)rows * ld, 1.0f);
  for (int r = 0; r < rows; r++)
    scale[r] = 0.002f * (float)(r + 1);
  table(SDQ_ISA_SCALAR)->fake_quant_backward(x, dy, rows, cols, ld, 6, scale, dx_ref);
  int passed = 0;
  for (int r = 0; r < rows; r++)
    for (int k = 0; k < cols; k++)
      passed += dx_ref[r * ld + k] != 0.0f;
  ck_assert_msg(passed > 0 && passed < rows * cols,
                "test data must both clip and pass (%d passed)", passed);
  for (int isa = 1; isa < SDQ_ISA_COUNT; isa++) {
    const sdq_kernel_table *t = table((sdq_isa)isa);
    if (t == NULL)
      continue;
    t->fake_quant_backward(x, dy, rows, cols, ld, 6, scale, dx);
    for (int r = 0; r < rows; r++)
      ck_assert_msg(memcmp(dx + r * ld, dx_ref + r * ld, sizeof(float) * cols) == 0,
                    "%s: STE backward row %d differs from scalar",
                    sdq_isa_name((sdq_isa)isa), r);
  }
  free(x);
  free(dy);
  free(dx_ref);
  free(dx);
}
END_TEST

/* ------------------------------------------------------------ qmatrix */

START_TEST(qmatrix_dequantize_matches_q) {
  const int rows = 19, cols = 130, ld = 133;
  float *w = malloc(sizeof(float) * rows * ld), *d = malloc(sizeof(float) * rows * cols);
  float scale[19];
  int8_t *q = malloc((size_t)rows * cols);
  char err[256];
  fill_uniform(w, (size_t)rows * ld, 0.2f);
  for (int bits = 2; bits <= 8; bits++) {
    sdq_qmatrix m;
    ck_assert_int_eq(sdq_qmatrix_init(&m, w, rows, cols, ld, bits, err, sizeof(err)), 0);
    table(SDQ_ISA_SCALAR)->quantize_rows(w, rows, cols, ld, bits, q, scale);
    sdq_qmatrix_dequantize(&m, d);
    for (int r = 0; r < rows; r++) {
      int32_t sum = 0;
      for (int k = 0; k < cols; k++) {
        sum += q[r * cols + k];
        ck_assert_msg(same_float_bits(d[r * cols + k], scale[r] * (float)q[r * cols + k]),
                      "dequantized w[%d,%d] differs at bits %d", r, k, bits);
      }
      ck_assert_int_eq(m.qsum[r], sum);
      ck_assert(same_float_bits(m.scale[r], scale[r]));
    }
    ck_assert_uint_eq((uintptr_t)m.packed % 64, 0);
    sdq_qmatrix_free(&m);
    ck_assert_ptr_null(m.packed);
  }
  free(w);
  free(d);
  free(q);
}
END_TEST

START_TEST(qmatrix_init_errors) {
  float w[4 * 10];
  char err[256];
  sdq_qmatrix m;
  fill_uniform(w, 40, 1.0f);
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 4, 10, 10, 1, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "bits = 1") != NULL, "message: %s", err);
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 4, 10, 10, 9, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "bits = 9") != NULL, "message: %s", err);
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 0, 10, 10, 4, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "rows = 0") != NULL, "message: %s", err);
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 4, 10, 9, 4, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "ld = 9") != NULL, "message: %s", err);

  w[2 * 10 + 5] = NAN;
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 4, 10, 10, 4, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "row 2, column 5") != NULL, "message: %s", err);
  w[2 * 10 + 5] = 0.0f;
  w[3 * 10 + 9] = -INFINITY;
  ck_assert_int_eq(sdq_qmatrix_init(&m, w, 4, 10, 10, 4, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, "row 3, column 9") != NULL, "message: %s", err);
  ck_assert_ptr_null(m.packed);
}
END_TEST

static Suite *quant_suite(void) {
  Suite *s = suite_create("kernels_quant");
  TCase *tc = tcase_create("pack");
  tcase_add_test(tc, pack_roundtrip_all_bits);
  tcase_add_test(tc, pack_layout_4bit_documented);
  suite_add_tcase(s, tc);

  tc = tcase_create("quantize");
  tcase_add_test(tc, qmax_values);
  tcase_add_test(tc, quantize_scalar_definition);
  tcase_add_test(tc, quantize_isas_match_scalar);
  tcase_add_test(tc, quantize_edge_rows);
  tcase_add_test(tc, quantize_rejects_bits);
  suite_add_tcase(s, tc);

  tc = tcase_create("fake_quant");
  tcase_add_test(tc, fake_quant_equals_dequantized_q);
  tcase_add_test(tc, fake_quant_given_scale_clips);
  tcase_add_test(tc, fake_quant_nan_rows);
  tcase_add_test(tc, ste_backward_matches_scalar);
  suite_add_tcase(s, tc);

  tc = tcase_create("qmatrix");
  tcase_add_test(tc, qmatrix_dequantize_matches_q);
  tcase_add_test(tc, qmatrix_init_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  char isas[256] = "";
  for (int isa = 0; isa < SDQ_ISA_COUNT; isa++)
    if (sdq_kernel_table_for((sdq_isa)isa) != NULL) {
      strncat(isas, " ", sizeof(isas) - strlen(isas) - 1);
      strncat(isas, sdq_isa_name((sdq_isa)isa), sizeof(isas) - strlen(isas) - 1);
    }
  fprintf(stderr, "test_kernels_quant: variants tested:%s\n", isas);

  SRunner *sr = srunner_create(quant_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
