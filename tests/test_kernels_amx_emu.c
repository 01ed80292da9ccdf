/* test_kernels_amx_emu.c - the AMX tile model (amx_emu.h) on hand-computed
 * cases, and the AMX integer GEMM (quant_amx.c) running on that model against
 * the scalar reference and the AVX-512 VNNI kernel, bit for bit.
 *
 * This checks the AMX kernel's blocking, packing, edge tiles and threading
 * on any CPU with AVX-512 VNNI; it cannot check the real tile instructions,
 * which test_kernels_qgemm runs on machines with AMX. Skips (77) when the
 * CPU lacks AVX-512 VNNI, which the AMX kernel's other code needs. */
#include "config.h"

#define SDQ_AMX_EMULATE 1

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"
#include "sdq_pack.h"
#include "tests/kernel_test_util.h"
#include "x86/amx_tile.h"

/* ---------------------------------------------------- the tile model */

/* A configuration with the given rows and colsb for tiles 0..2 (palette 1). */
static amx_tilecfg config3(int rows0, int colsb0, int rows1, int colsb1,
                           int rows2, int colsb2) {
  amx_tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  cfg.rows[0] = (uint8_t)rows0;
  cfg.colsb[0] = (uint16_t)colsb0;
  cfg.rows[1] = (uint8_t)rows1;
  cfg.colsb[1] = (uint16_t)colsb1;
  cfg.rows[2] = (uint8_t)rows2;
  cfg.colsb[2] = (uint16_t)colsb2;
  return cfg;
}

START_TEST(tilecfg_matches_ldtilecfg_layout) {
  ck_assert_uint_eq(offsetof(amx_tilecfg, palette_id), 0);
  ck_assert_uint_eq(offsetof(amx_tilecfg, start_row), 1);
  ck_assert_uint_eq(offsetof(amx_tilecfg, colsb), 16);
  ck_assert_uint_eq(offsetof(amx_tilecfg, rows), 48);
  ck_assert_uint_eq(sizeof(amx_tilecfg), 64);
}
END_TEST

/* C (tile 0, 2 x 2 int32) = C_in + A (tile 1, 2 rows x 8 bytes) * B (tile 2,
 * 2 rows x 8 bytes in the VNNI layout), computed by hand below. */
static const int8_t hand_a[2][8] = {{1, 2, 3, 4, -1, -2, -3, -4},
                                    {127, -128, 0, 5, 10, 0, 0, -7}};
static const int8_t hand_b[2][8] = {{1, 1, 1, 1, 2, -1, 0, 3},
                                    {-5, 4, 2, 1, -128, 127, 1, 2}};
static const int32_t hand_c_in[2][2] = {{100, -100}, {0, 7}};

/* Runs one hand case through TDPB<a>SD and returns C in c. The store must
 * leave the output bytes past colsb (8 per row) untouched. */
static void run_hand_case(int a_signed, int32_t c[2][2]) {
  const amx_tilecfg cfg = config3(2, 8, 2, 8, 2, 8);
  amx_emu_loadconfig(&cfg);
  amx_emu_loadd(0, hand_c_in, 8);
  amx_emu_loadd(1, hand_a, 8);
  amx_emu_loadd(2, hand_b, 8);
  amx_emu_dp(a_signed ? "TDPBSSD" : "TDPBUSD", 0, 1, 2, a_signed, 1);

  int32_t out[2][4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      out[i][j] = 0x5a5a5a5a;
  amx_emu_stored(0, out, sizeof out[0]);
  amx_emu_release();
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(out[i][2], 0x5a5a5a5a);
    ck_assert_int_eq(out[i][3], 0x5a5a5a5a);
    c[i][0] = out[i][0];
    c[i][1] = out[i][1];
  }
}

/* Worked out by hand, e.g. C[0][1] signed = -100 + (1*2 + 2*-1 + 3*0 + 4*3)
 * + (-1*-128 + -2*127 + -3*1 + -4*2) = -100 + 12 - 137. */
START_TEST(emu_dpbssd_hand_case) {
  int32_t c[2][2];
  run_hand_case(1, c);
  ck_assert_int_eq(c[0][0], 97);
  ck_assert_int_eq(c[0][1], -225);
  ck_assert_int_eq(c[1][0], -53);
  ck_assert_int_eq(c[1][1], -890);
}
END_TEST

/* The same bytes with A unsigned: -1 reads as 255, -128 as 128, and so on;
 * e.g. C[0][0] = 100 + 10 + (255*-5 + 254*4 + 253*2 + 252*1) = 609. */
START_TEST(emu_dpbusd_hand_case) {
  int32_t c[2][2];
  run_hand_case(0, c);
  ck_assert_int_eq(c[0][0], 609);
  ck_assert_int_eq(c[0][1], 287);
  ck_assert_int_eq(c[1][0], 459);
  ck_assert_int_eq(c[1][1], -634);
}
END_TEST

START_TEST(emu_dp_sum_wraps_int32) {
  const amx_tilecfg cfg = config3(1, 4, 1, 4, 1, 4);
  const int32_t c_in = INT32_MAX;
  const int8_t a[4] = {127, 127, 127, 127}, b[4] = {127, 127, 127, 127};
  amx_emu_loadconfig(&cfg);
  amx_emu_loadd(0, &c_in, 4);
  amx_emu_loadd(1, a, 4);
  amx_emu_loadd(2, b, 4);
  amx_emu_dp("TDPBSSD", 0, 1, 2, 1, 1);
  int32_t c;
  amx_emu_stored(0, &c, 4);
  amx_emu_release();
  /* INT32_MAX + 4 * 127 * 127 wraps to INT32_MIN + 64515 */
  ck_assert_int_eq(c, INT32_MIN + 64515);
}
END_TEST

/* Full 16 x 64-byte tiles, A loaded with a stride of 80 bytes: A[m][k] =
 * m - 8 and B[r][4 n + b] = n + 1, so C[m][n] = 64 (m - 8) (n + 1). */
START_TEST(emu_full_tile_dp) {
  const amx_tilecfg cfg = config3(16, 64, 16, 64, 16, 64);
  int8_t a[16][80], b[16][64];
  for (int m = 0; m < 16; m++)
    for (int k = 0; k < 80; k++)
      a[m][k] = (int8_t)(k < 64 ? m - 8 : 100); /* bytes past 64: not loaded */
  for (int r = 0; r < 16; r++)
    for (int j = 0; j < 64; j++)
      b[r][j] = (int8_t)(j / 4 + 1);
  amx_emu_loadconfig(&cfg);
  amx_emu_zero(0);
  amx_emu_loadd(1, a, sizeof a[0]);
  amx_emu_loadd(2, b, sizeof b[0]);
  amx_emu_dp("TDPBSSD", 0, 1, 2, 1, 1);
  int32_t c[16][16];
  amx_emu_stored(0, c, sizeof c[0]);
  amx_emu_release();
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++)
      ck_assert_msg(c[m][n] == 64 * (m - 8) * (n + 1), "C[%d][%d] = %d", m, n,
                    c[m][n]);
}
END_TEST

/* Each of these is a #UD or #GP on the hardware; the model aborts. */
START_TEST(emu_rejects_dp_without_config) {
  amx_emu_release();
  amx_emu_dp("TDPBSSD", 0, 1, 2, 1, 1);
}
END_TEST

START_TEST(emu_rejects_mismatched_k) {
  const amx_tilecfg cfg = config3(2, 8, 2, 12, 2, 8); /* A has 3 dwords */
  amx_emu_loadconfig(&cfg);
  amx_emu_dp("TDPBSSD", 0, 1, 2, 1, 1);
}
END_TEST

START_TEST(emu_rejects_17_rows) {
  const amx_tilecfg cfg = config3(17, 64, 16, 64, 16, 64);
  amx_emu_loadconfig(&cfg);
}
END_TEST

START_TEST(emu_rejects_same_tile_twice) {
  const amx_tilecfg cfg = config3(16, 64, 16, 64, 16, 64);
  amx_emu_loadconfig(&cfg);
  amx_emu_dp("TDPBSSD", 0, 1, 1, 1, 1);
}
END_TEST

/* ------------------------------------------- the AMX GEMM on the model */

/* Activations with lda = K + 5 and C with ldc = N + 3, so the kernel must
 * honour both strides and leave the columns past N alone. */
typedef struct i8_case {
  int M, N, K, lda, ldc;
  float *A, *w, *c_init;
} i8_case;

static void i8_case_init(i8_case *c, int M, int N, int K, uint64_t seed) {
  kt_rng rng;
  kt_rng_seed(&rng, seed);
  c->M = M;
  c->N = N;
  c->K = K;
  c->lda = K + 5;
  c->ldc = N + 3;
  c->A = kt_alloc_misaligned((size_t)M * c->lda);
  c->w = kt_alloc_misaligned((size_t)N * K);
  c->c_init = kt_alloc_misaligned((size_t)M * c->ldc);
  kt_fill_uniform(&rng, c->A, (size_t)M * c->lda, -1.0f, 1.0f);
  kt_fill_uniform(&rng, c->w, (size_t)N * K, -0.05f, 0.05f);
  kt_fill_uniform(&rng, c->c_init, (size_t)M * c->ldc, -1.0f, 1.0f);
  if (M > 1)
    c->A[c->lda + K - 1] = 4.0f; /* one token with an outlier at the end */
  if (N > 2)
    c->w[2 * (size_t)K] = 1.0f; /* one outlier channel */
}

static void i8_case_free(i8_case *c) {
  kt_free(c->A);
  kt_free(c->w);
  kt_free(c->c_init);
}

static float *copy_c(const i8_case *c) {
  float *out = kt_alloc_misaligned((size_t)c->M * c->ldc);
  memcpy(out, c->c_init, sizeof(float) * (size_t)c->M * c->ldc);
  return out;
}

/* Runs the emulated AMX GEMM and the scalar and VNNI kernels on one case
 * with beta, and requires every float of C (ldc wide) to be bit-identical. */
static void check_case(const i8_case *c, int bits, int act_bits, float beta) {
  char err[256] = "";
  sdq_qmatrix W;
  ck_assert_msg(sdq_qmatrix_init(&W, c->w, c->N, c->K, c->K, bits, err,
                                 sizeof err) == 0,
                "sdq_qmatrix_init failed: %s", err);

  const size_t n = (size_t)c->M * c->ldc;
  float *want = copy_c(c);
  float *got = copy_c(c);
  float *vnni = copy_c(c);
  if (beta == 0.0f)
    for (size_t i = 0; i < n; i++)
      want[i] = got[i] = vnni[i] = NAN; /* beta == 0 must not read C */
  const sdq_kernel_table *scalar = sdq_kernel_table_for(SDQ_ISA_SCALAR);
  const sdq_kernel_table *avx512vnni = sdq_kernel_table_for(SDQ_ISA_AVX512VNNI);
  ck_assert_int_eq(scalar->qgemm_i8_nt(c->M, c->A, c->lda, act_bits, &W, beta,
                                       want, c->ldc),
                   0);
  ck_assert_int_eq(sdq_qgemm_i8_nt_amx_emulated(c->M, c->A, c->lda, act_bits,
                                                &W, beta, got, c->ldc),
                   0);
  ck_assert_int_eq(avx512vnni->qgemm_i8_nt(c->M, c->A, c->lda, act_bits, &W,
                                           beta, vnni, c->ldc),
                   0);

  for (int m = 0; m < c->M; m++)
    for (int j = 0; j < c->ldc; j++) {
      const size_t i = (size_t)m * c->ldc + j;
      ck_assert_msg(memcmp(&got[i], &want[i], sizeof(float)) == 0,
                    "AMX (emulated) %dx%dx%d w%d/a%d beta %g: C[%d,%d] = %.9g, "
                    "scalar %.9g%s",
                    c->M, c->N, c->K, bits, act_bits, (double)beta, m, j,
                    (double)got[i], (double)want[i],
                    j >= c->N ? " (column past N must be untouched)" : "");
      ck_assert_msg(memcmp(&got[i], &vnni[i], sizeof(float)) == 0,
                    "AMX (emulated) %dx%dx%d w%d/a%d: C[%d,%d] = %.9g, "
                    "avx512vnni %.9g",
                    c->M, c->N, c->K, bits, act_bits, m, j, (double)got[i],
                    (double)vnni[i]);
    }

  kt_free(want);
  kt_free(got);
  kt_free(vnni);
  sdq_qmatrix_free(&W);
}

/* M around the 16-row tile and the 32-row block, N around the 16-channel
 * strip and the 32-channel block, K around the 64-byte tile row. */
static const int kM[] = {1, 15, 16, 17, 33};
static const int kN[] = {1, 17, 50};
static const int kK[] = {1, 63, 65, 200};

START_TEST(amx_emu_awkward_shapes_8_and_4_bits) {
  uint64_t seed = 1;
  for (size_t im = 0; im < sizeof kM / sizeof kM[0]; im++)
    for (size_t in = 0; in < sizeof kN / sizeof kN[0]; in++)
      for (size_t ik = 0; ik < sizeof kK / sizeof kK[0]; ik++) {
        i8_case c;
        i8_case_init(&c, kM[im], kN[in], kK[ik], seed++);
        check_case(&c, 8, 8, 0.0f);
        check_case(&c, 4, 8, 0.0f);
        check_case(&c, 4, 6, 0.5f);
        i8_case_free(&c);
      }
}
END_TEST

START_TEST(amx_emu_every_bits_and_beta) {
  i8_case c;
  i8_case_init(&c, 37, 70, 200, 99);
  for (int bits = 2; bits <= 8; bits++)
    for (int act_bits = 2; act_bits <= 8; act_bits += 3)
      check_case(&c, bits, act_bits, bits % 2 ? 0.75f : 0.0f);
  i8_case_free(&c);
}
END_TEST

/* Large enough (M * N * K >= 2^21) for the OpenMP split over W blocks and
 * row blocks, where each thread must load its own tile configuration. */
START_TEST(amx_emu_threaded_shape) {
  i8_case c;
  i8_case_init(&c, 70, 300, 700, 7);
  check_case(&c, 4, 8, 0.0f);
  check_case(&c, 8, 8, -1.5f);
  i8_case_free(&c);
}
END_TEST

START_TEST(amx_emu_nan_rows_and_bad_bits) {
  i8_case c;
  i8_case_init(&c, 20, 9, 70, 3);
  c.A[(size_t)1 * c.lda + 3] = NAN;
  c.A[(size_t)18 * c.lda + 69] = -INFINITY;
  char err[256] = "";
  sdq_qmatrix W;
  ck_assert_int_eq(sdq_qmatrix_init(&W, c.w, c.N, c.K, c.K, 4, err, sizeof err), 0);
  float *out = copy_c(&c);
  ck_assert_int_eq(
      sdq_qgemm_i8_nt_amx_emulated(c.M, c.A, c.lda, 8, &W, 0.0f, out, c.ldc), 2);
  for (int m = 0; m < c.M; m++)
    for (int n = 0; n < c.N; n++) {
      const int bad_row = m == 1 || m == 18;
      ck_assert_msg(bad_row == !!isnan(out[(size_t)m * c.ldc + n]),
                    "C[%d,%d] = %g", m, n, (double)out[(size_t)m * c.ldc + n]);
    }
  ck_assert_int_eq(
      sdq_qgemm_i8_nt_amx_emulated(c.M, c.A, c.lda, 1, &W, 0.0f, out, c.ldc), -1);
  ck_assert_int_eq(
      sdq_qgemm_i8_nt_amx_emulated(c.M, c.A, c.lda, 9, &W, 0.0f, out, c.ldc), -1);
  kt_free(out);
  sdq_qmatrix_free(&W);
  i8_case_free(&c);
}
END_TEST

static Suite *amx_emu_suite(void) {
  Suite *s = suite_create("kernels_amx_emu");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, tilecfg_matches_ldtilecfg_layout);
  tcase_add_test(tc, emu_dpbssd_hand_case);
  tcase_add_test(tc, emu_dpbusd_hand_case);
  tcase_add_test(tc, emu_dp_sum_wraps_int32);
  tcase_add_test(tc, emu_full_tile_dp);
  tcase_add_test_raise_signal(tc, emu_rejects_dp_without_config, SIGABRT);
  tcase_add_test_raise_signal(tc, emu_rejects_mismatched_k, SIGABRT);
  tcase_add_test_raise_signal(tc, emu_rejects_17_rows, SIGABRT);
  tcase_add_test_raise_signal(tc, emu_rejects_same_tile_twice, SIGABRT);
  suite_add_tcase(s, tc);

  tc = tcase_create("gemm");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, amx_emu_awkward_shapes_8_and_4_bits);
  tcase_add_test(tc, amx_emu_every_bits_and_beta);
  tcase_add_test(tc, amx_emu_threaded_shape);
  tcase_add_test(tc, amx_emu_nan_rows_and_bad_bits);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!sdq_isa_supported(SDQ_ISA_AVX512VNNI)) {
    printf("skipped: this CPU or build lacks AVX-512 VNNI, which the AMX "
           "kernel's packing and rescaling use\n");
    return 77;
  }
  SRunner *sr = srunner_create(amx_emu_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
