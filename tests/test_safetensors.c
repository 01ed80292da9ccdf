/* test_safetensors.c - Check tests of the safetensors reader and writer: round trips, dtype conversions, malformed files. */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every test writes its files into this folder (made in main, removed after). */
static char scratch[4096];

static char *scratch_path(const char *name)
{
  static char path[8192];
  snprintf(path, sizeof path, "%s/%s", scratch, name);
  return path;
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
  if (len > 0)
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  ck_assert_int_ge(size, 0);
  rewind(f);
  unsigned char *buf = malloc((size_t)size + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return buf;
}

static void put_le64(unsigned char *p, uint64_t v)
{
  for (int k = 0; k < 8; k++)
    p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t get_le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--)
    v = (v << 8) | p[k];
  return v;
}

/* Writes a safetensors file by hand: the length of header, header, then
 * data_len bytes of data (zeros when data is NULL). */
static void write_raw_safetensors(const char *path, const char *header,
                                  size_t header_len, const void *data,
                                  size_t data_len)
{
  size_t total = 8 + header_len + data_len;
  unsigned char *buf = calloc(total ? total : 1, 1);
  ck_assert_ptr_nonnull(buf);
  put_le64(buf, header_len);
  memcpy(buf + 8, header, header_len);
  if (data != NULL && data_len > 0)
    memcpy(buf + 8 + header_len, data, data_len);
  write_bytes(path, buf, total);
  free(buf);
}

static uint32_t f32_bits(float f)
{
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

static int count_temporaries(void)
{
  DIR *dir = opendir(scratch);
  ck_assert_ptr_nonnull(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL)
    if (strstr(e->d_name, ".tmp.") != NULL)
      n++;
  closedir(dir);
  return n;
}

/* ------------------------------------------------------------ round trip */

START_TEST(write_read_round_trip)
{
  const char *path = scratch_path("round.safetensors");
  float weight[2 * 3] = {1.5f, -0.0f, INFINITY, -INFINITY, 1e-45f, 3.0e38f};
  float bias[3] = {0.25f, NAN, -7.0f};
  float scalar = 42.0f;
  float big[1000];
  for (int i = 0; i < 1000; i++)
    big[i] = (float)i * 0.001f - 0.5f;

  /* Deliberately not in name order: the writer sorts. */
  sdq_st_write_tensor tensors[] = {
    {.name = "lora.weight", .ndim = 2, .shape = {2, 3}, .data = weight},
    {.name = "empty", .ndim = 2, .shape = {0, 5}, .data = NULL},
    {.name = "bias", .ndim = 1, .shape = {3}, .data = bias},
    {.name = "step", .ndim = 0, .shape = {0}, .data = &scalar},
    {.name = "big", .ndim = 3, .shape = {10, 10, 10}, .data = big},
  };
  sdq_st_metadata meta[] = {{"format", "pt"}, {"lora_rank", "8"}, {"alpha", "16"}};
  char err[512] = "";
  ck_assert_msg(sdq_safetensors_write(path, tensors, 5, meta, 3, err, sizeof err) == 0,
                "write failed: %s", err);
  ck_assert_int_eq(count_temporaries(), 0);

  sdq_safetensors st = {0};
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "open failed: %s", err);
  ck_assert_uint_eq(st.n_tensors, 5);
  ck_assert_str_eq(st.tensors[0].name, "bias");
  ck_assert_str_eq(st.tensors[1].name, "big");
  ck_assert_str_eq(st.tensors[2].name, "empty");
  ck_assert_str_eq(st.tensors[3].name, "lora.weight");
  ck_assert_str_eq(st.tensors[4].name, "step");

  const sdq_st_tensor *t = sdq_safetensors_find(&st, "lora.weight");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->dtype, SDQ_ST_F32);
  ck_assert_int_eq(t->ndim, 2);
  ck_assert_uint_eq(t->shape[0], 2);
  ck_assert_uint_eq(t->shape[1], 3);
  ck_assert_uint_eq(t->numel, 6);
  ck_assert_uint_eq(t->nbytes, 24);
  float out[6];
  ck_assert_msg(sdq_safetensors_read_f32(&st, t, out, 6, err, sizeof err) == 0, "%s", err);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(f32_bits(out[i]) == f32_bits(weight[i]), "weight[%d] differs", i);

  t = sdq_safetensors_find(&st, "bias");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, out, 3, err, sizeof err), 0);
  for (int i = 0; i < 3; i++)
    ck_assert_msg(f32_bits(out[i]) == f32_bits(bias[i]), "bias[%d] differs", i);

  t = sdq_safetensors_find(&st, "step");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_uint_eq(t->numel, 1);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, out, 1, err, sizeof err), 0);
  ck_assert_float_eq(out[0], 42.0f);

  t = sdq_safetensors_find(&st, "empty");
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->numel, 0);
  ck_assert_uint_eq(t->nbytes, 0);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, NULL, 0, err, sizeof err), 0);

  t = sdq_safetensors_find(&st, "big");
  ck_assert_ptr_nonnull(t);
  float big_out[1000];
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, big_out, 1000, err, sizeof err), 0);
  ck_assert_mem_eq(big_out, big, sizeof big);

  ck_assert_ptr_null(sdq_safetensors_find(&st, "missing"));
  ck_assert_ptr_null(sdq_safetensors_find(&st, ""));

  ck_assert_uint_eq(st.n_metadata, 3);
  ck_assert_str_eq(sdq_safetensors_metadata(&st, "lora_rank"), "8");
  ck_assert_str_eq(sdq_safetensors_metadata(&st, "alpha"), "16");
  ck_assert_str_eq(sdq_safetensors_metadata(&st, "format"), "pt");
  ck_assert_ptr_null(sdq_safetensors_metadata(&st, "absent"));

  sdq_safetensors_close(&st);
  ck_assert_ptr_null(st.map);
  sdq_safetensors_close(&st); /* closing twice is allowed */
}
END_TEST

START_TEST(writer_header_layout)
{
  const char *path = scratch_path("layout.safetensors");
  float a[1] = {1.0f};
  float b[2] = {2.0f, 3.0f};
  sdq_st_write_tensor tensors[] = {
    {.name = "b", .ndim = 1, .shape = {2}, .data = b},
    {.name = "a", .ndim = 1, .shape = {1}, .data = a},
  };
  char err[512] = "";
  ck_assert_msg(sdq_safetensors_write(path, tensors, 2, NULL, 0, err, sizeof err) == 0, "%s", err);

  size_t len;
  unsigned char *bytes = read_bytes(path, &len);
  uint64_t header_len = get_le64(bytes);
  ck_assert_uint_eq(header_len % 8, 0);
  ck_assert_uint_eq(len, 8 + header_len + 12);

  /* The JSON is compact, keys sorted, then padded with spaces only. */
  char *header = strndup((const char *)bytes + 8, header_len);
  ck_assert_ptr_nonnull(header);
  const char *expect =
    "{\"a\":{\"data_offsets\":[0,4],\"dtype\":\"F32\",\"shape\":[1]},"
    "\"b\":{\"data_offsets\":[4,12],\"dtype\":\"F32\",\"shape\":[2]}}";
  ck_assert_int_eq(strncmp(header, expect, strlen(expect)), 0);
  for (size_t i = strlen(expect); i < header_len; i++)
    ck_assert_msg(header[i] == ' ', "header byte %zu is 0x%02x, not a space", i,
                  (unsigned char)header[i]);

  /* The data section contains a, then b, little-endian. */
  const unsigned char *data = bytes + 8 + header_len;
  const unsigned char one_le[4] = {0x00, 0x00, 0x80, 0x3f};
  ck_assert_mem_eq(data, one_le, 4);
  free(header);
  free(bytes);
}
END_TEST

START_TEST(writer_is_deterministic)
{
  float x[4] = {1, 2, 3, 4}, y[2] = {5, 6};
  sdq_st_write_tensor forward[] = {
    {.name = "x", .ndim = 2, .shape = {2, 2}, .data = x},
    {.name = "y", .ndim = 1, .shape = {2}, .data = y},
  };
  sdq_st_write_tensor backward[] = {forward[1], forward[0]};
  sdq_st_metadata meta_forward[] = {{"k1", "v1"}, {"k2", "v2"}};
  sdq_st_metadata meta_backward[] = {meta_forward[1], meta_forward[0]};
  char err[512];
  const char *p1 = scratch_path("det1.safetensors");
  const char *p1_copy = strdup(p1);
  ck_assert_int_eq(sdq_safetensors_write(p1_copy, forward, 2, meta_forward, 2, err, sizeof err), 0);
  const char *p2 = scratch_path("det2.safetensors");
  ck_assert_int_eq(sdq_safetensors_write(p2, backward, 2, meta_backward, 2, err, sizeof err), 0);

  size_t n1, n2;
  unsigned char *b1 = read_bytes(p1_copy, &n1);
  unsigned char *b2 = read_bytes(p2, &n2);
  ck_assert_uint_eq(n1, n2);
  ck_assert_mem_eq(b1, b2, n1);
  free(b1);
  free(b2);
  free((void *)p1_copy);
}
END_TEST

START_TEST(writer_replaces_atomically)
{
  const char *path = strdup(scratch_path("atomic.safetensors"));
  float v[3] = {1, 2, 3};
  sdq_st_write_tensor good[] = {{.name = "v", .ndim = 1, .shape = {3}, .data = v}};
  char err[512] = "";
  ck_assert_int_eq(sdq_safetensors_write(path, good, 1, NULL, 0, err, sizeof err), 0);
  size_t before_len;
  unsigned char *before = read_bytes(path, &before_len);

  /* A rejected write leaves the old file as it was and no temporary file. */
  sdq_st_write_tensor dup[] = {
    {.name = "v", .ndim = 1, .shape = {3}, .data = v},
    {.name = "v", .ndim = 1, .shape = {3}, .data = v},
  };
  ck_assert_int_eq(sdq_safetensors_write(path, dup, 2, NULL, 0, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'v'") && strstr(err, "twice"), "message: %s", err);
  size_t after_len;
  unsigned char *after = read_bytes(path, &after_len);
  ck_assert_uint_eq(before_len, after_len);
  ck_assert_mem_eq(before, after, before_len);
  ck_assert_int_eq(count_temporaries(), 0);

  /* A successful write replaces it. */
  float w[1] = {9};
  sdq_st_write_tensor other[] = {{.name = "w", .ndim = 1, .shape = {1}, .data = w}};
  ck_assert_int_eq(sdq_safetensors_write(path, other, 1, NULL, 0, err, sizeof err), 0);
  sdq_safetensors st = {0};
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(st.n_tensors, 1);
  ck_assert_str_eq(st.tensors[0].name, "w");
  sdq_safetensors_close(&st);
  free(before);
  free(after);
  free((void *)path);
}
END_TEST

START_TEST(writer_rejects_bad_input)
{
  const char *path = scratch_path("bad-write.safetensors");
  float v[2] = {1, 2};
  char err[512];
  struct {
    sdq_st_write_tensor tensor;
    const char *needle;
  } cases[] = {
    {{.name = "", .ndim = 1, .shape = {2}, .data = v}, "empty name"},
    {{.name = NULL, .ndim = 1, .shape = {2}, .data = v}, "empty name"},
    {{.name = "__metadata__", .ndim = 1, .shape = {2}, .data = v}, "reserved"},
    {{.name = "t", .ndim = -1, .shape = {2}, .data = v}, "ndim -1"},
    {{.name = "t", .ndim = SDQ_ST_MAX_NDIM + 1, .shape = {2}, .data = v}, "ndim 9"},
    {{.name = "t", .ndim = 1, .shape = {2}, .data = NULL}, "NULL"},
    {{.name = "t", .ndim = 2, .shape = {SIZE_MAX, 0}, .data = v}, "JSON integer"},
    {{.name = "t", .ndim = 3, .shape = {1u << 30, 1u << 30, 1u << 30}, .data = v}, "overflow"},
    {{.name = "bad\xff", .ndim = 1, .shape = {2}, .data = v}, "UTF-8"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = '\0';
    ck_assert_int_eq(sdq_safetensors_write(path, &cases[i].tensor, 1, NULL, 0, err, sizeof err), -1);
    ck_assert_msg(strstr(err, cases[i].needle) != NULL, "case %zu: message '%s' lacks '%s'",
                  i, err, cases[i].needle);
    ck_assert_msg(strstr(err, "bad-write.safetensors") != NULL, "case %zu: no path in '%s'", i, err);
  }
  ck_assert_int_eq(access(path, F_OK), -1);

  sdq_st_write_tensor ok[] = {{.name = "t", .ndim = 1, .shape = {2}, .data = v}};
  sdq_st_metadata dup_meta[] = {{"k", "1"}, {"k", "2"}};
  ck_assert_int_eq(sdq_safetensors_write(path, ok, 1, dup_meta, 2, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'k' appears twice") != NULL, "message: %s", err);
  sdq_st_metadata bad_meta[] = {{"k", "\xc3"}};
  ck_assert_int_eq(sdq_safetensors_write(path, ok, 1, bad_meta, 1, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "UTF-8") != NULL, "message: %s", err);

  ck_assert_int_eq(sdq_safetensors_write("/nonexistent-sdq-folder/x.safetensors", ok, 1,
                                         NULL, 0, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "/nonexistent-sdq-folder/x.safetensors") && strstr(err, "temporary"),
                "message: %s", err);
  ck_assert_int_eq(count_temporaries(), 0);
}
END_TEST

START_TEST(writer_empty_file_round_trip)
{
  const char *path = scratch_path("none.safetensors");
  char err[512] = "";
  ck_assert_msg(sdq_safetensors_write(path, NULL, 0, NULL, 0, err, sizeof err) == 0, "%s", err);
  sdq_safetensors st = {0};
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(st.n_tensors, 0);
  ck_assert_uint_eq(st.data_size, 0);
  ck_assert_ptr_null(sdq_safetensors_find(&st, "x"));
  sdq_safetensors_close(&st);
}
END_TEST

/* -------------------------------------------------------- conversions */

/* Writes one tensor of dtype with the given raw bytes, opens the file and
 * reads it as fp32 into out. Returns the read_f32 status; err gets the
 * message. */
static int read_one(const char *dtype, size_t elem_size, const void *raw, size_t count,
                    float *out, char *err, size_t errlen)
{
  const char *path = scratch_path("conv.safetensors");
  char header[256];
  snprintf(header, sizeof header,
           "{\"x\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", dtype,
           count, count * elem_size);
  write_raw_safetensors(path, header, strlen(header), raw, count * elem_size);

  sdq_safetensors st = {0};
  ck_assert_msg(sdq_safetensors_open(&st, path, err, errlen) == 0, "open: %s", err);
  const sdq_st_tensor *t = sdq_safetensors_find(&st, "x");
  ck_assert_ptr_nonnull(t);
  ck_assert_str_eq(sdq_st_dtype_name(t->dtype), dtype);
  ck_assert_uint_eq(sdq_st_dtype_size(t->dtype), elem_size);
  int rc = sdq_safetensors_read_f32(&st, t, out, count, err, errlen);
  sdq_safetensors_close(&st);
  return rc;
}

struct half_case {
  uint16_t bits;
  uint32_t expect; /* fp32 bit pattern */
};

static void check_half_table(const char *dtype, const struct half_case *cases, size_t n)
{
  unsigned char raw[64];
  float out[32];
  char err[512];
  ck_assert_uint_le(n, 32);
  for (size_t i = 0; i < n; i++) {
    raw[2 * i] = (unsigned char)(cases[i].bits & 0xff);
    raw[2 * i + 1] = (unsigned char)(cases[i].bits >> 8);
  }
  ck_assert_msg(read_one(dtype, 2, raw, n, out, err, sizeof err) == 0, "%s", err);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(f32_bits(out[i]) == cases[i].expect,
                  "%s 0x%04x gave fp32 bits 0x%08x, expected 0x%08x", dtype,
                  cases[i].bits, f32_bits(out[i]), cases[i].expect);
}

START_TEST(f16_conversion_table)
{
  /* Expected values from the binary16 definition: bias 15, 10-bit mantissa,
   * subnormals mantissa * 2^-24. */
  const struct half_case cases[] = {
    {0x0000, 0x00000000}, /* +0 */
    {0x8000, 0x80000000}, /* -0 */
    {0x3c00, 0x3f800000}, /* 1 */
    {0xc000, 0xc0000000}, /* -2 */
    {0x3555, 0x3eaaa000}, /* 0.333251953125 */
    {0x7bff, 0x477fe000}, /* 65504, the largest finite */
    {0x0400, 0x38800000}, /* 2^-14, the smallest normal */
    {0x0001, 0x33800000}, /* 2^-24, the smallest subnormal */
    {0x03ff, 0x387fc000}, /* 1023 * 2^-24, the largest subnormal */
    {0x8001, 0xb3800000}, /* -2^-24 */
    {0x0200, 0x38000000}, /* 2^-15 */
    {0x7c00, 0x7f800000}, /* +inf */
    {0xfc00, 0xff800000}, /* -inf */
    {0x7e00, 0x7fc00000}, /* quiet NaN */
    {0xfe00, 0xffc00000}, /* negative quiet NaN */
    {0x7d00, 0x7fa00000}, /* signalling NaN, payload kept */
    {0x7c01, 0x7f802000}, /* smallest NaN payload */
  };
  check_half_table("F16", cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(bf16_conversion_table)
{
  const struct half_case cases[] = {
    {0x0000, 0x00000000}, {0x8000, 0x80000000}, {0x3f80, 0x3f800000},
    {0x4049, 0x40490000}, /* 3.140625 */
    {0x0001, 0x00010000}, /* a subnormal */
    {0x0080, 0x00800000}, /* FLT_MIN */
    {0x7f7f, 0x7f7f0000}, /* the largest finite */
    {0x7f80, 0x7f800000}, {0xff80, 0xff800000},
    {0x7fc0, 0x7fc00000}, {0x7f81, 0x7f810000},
  };
  check_half_table("BF16", cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(f8_conversion_table)
{
  char err[512];
  float out[8];

  /* E4M3 "fn": bias 7, 3-bit mantissa, no infinity, S.1111.111 is NaN. */
  const unsigned char e4m3[] = {0x38, 0x7e, 0x01, 0x08, 0xb8, 0x7f, 0xff, 0x00};
  const float e4m3_expect[] = {1.0f, 448.0f, 0x1p-9f, 0x1p-6f, -1.0f, NAN, NAN, 0.0f};
  ck_assert_msg(read_one("F8_E4M3", 1, e4m3, 8, out, err, sizeof err) == 0, "%s", err);
  for (int i = 0; i < 8; i++) {
    if (isnan(e4m3_expect[i]))
      ck_assert_msg(isnan(out[i]), "E4M3 0x%02x: expected NaN, got %g", e4m3[i], out[i]);
    else
      ck_assert_msg(out[i] == e4m3_expect[i], "E4M3 0x%02x: got %g, expected %g",
                    e4m3[i], out[i], e4m3_expect[i]);
  }

  /* E5M2: bias 15, 2-bit mantissa, with infinities. */
  const unsigned char e5m2[] = {0x3c, 0x7b, 0x01, 0x7c, 0xfc, 0x7e, 0xc0, 0x04};
  const float e5m2_expect[] = {1.0f, 57344.0f, 0x1p-16f, INFINITY, -INFINITY, NAN, -2.0f, 0x1p-14f};
  ck_assert_msg(read_one("F8_E5M2", 1, e5m2, 8, out, err, sizeof err) == 0, "%s", err);
  for (int i = 0; i < 8; i++) {
    if (isnan(e5m2_expect[i]))
      ck_assert_msg(isnan(out[i]), "E5M2 0x%02x: expected NaN, got %g", e5m2[i], out[i]);
    else
      ck_assert_msg(out[i] == e5m2_expect[i], "E5M2 0x%02x: got %g, expected %g",
                    e5m2[i], out[i], e5m2_expect[i]);
  }
}
END_TEST

START_TEST(f64_rounds_to_nearest)
{
  const double in[] = {0.1, -2.5, 1e300, -1e300, 1e-300, 16777217.0, (double)FLT_MAX};
  float out[7];
  char err[512];
  ck_assert_msg(read_one("F64", 8, in, 7, out, err, sizeof err) == 0, "%s", err);
  ck_assert_float_eq(out[0], 0.1f);
  ck_assert_float_eq(out[1], -2.5f);
  ck_assert(isinf(out[2]) && out[2] > 0);
  ck_assert(isinf(out[3]) && out[3] < 0);
  ck_assert_float_eq(out[4], 0.0f);
  ck_assert_float_eq(out[5], 16777216.0f); /* ties to even */
  ck_assert_float_eq(out[6], FLT_MAX);
}
END_TEST

START_TEST(integers_convert_exactly)
{
  char err[512];
  float out[4];

  const unsigned char u8[] = {0, 1, 200, 255};
  ck_assert_int_eq(read_one("U8", 1, u8, 4, out, err, sizeof err), 0);
  ck_assert_float_eq(out[2], 200.0f);
  ck_assert_float_eq(out[3], 255.0f);

  const signed char i8[] = {-128, -1, 0, 127};
  ck_assert_int_eq(read_one("I8", 1, i8, 4, out, err, sizeof err), 0);
  ck_assert_float_eq(out[0], -128.0f);
  ck_assert_float_eq(out[3], 127.0f);

  const int16_t i16[] = {-32768, -1, 1, 32767};
  ck_assert_int_eq(read_one("I16", 2, i16, 4, out, err, sizeof err), 0);
  ck_assert_float_eq(out[0], -32768.0f);

  const uint16_t u16[] = {0, 65535, 2, 3};
  ck_assert_int_eq(read_one("U16", 2, u16, 4, out, err, sizeof err), 0);
  ck_assert_float_eq(out[1], 65535.0f);

  const int32_t i32[] = {-16777216, 16777216, 1 << 30, -2147483647 - 1};
  ck_assert_msg(read_one("I32", 4, i32, 4, out, err, sizeof err) == 0, "%s", err);
  ck_assert_float_eq(out[3], -2147483648.0f);

  const int64_t i64[] = {-1, INT64_MIN, (int64_t)1 << 62, 123456};
  ck_assert_msg(read_one("I64", 8, i64, 4, out, err, sizeof err) == 0, "%s", err);
  ck_assert_float_eq(out[1], -0x1p63f);
  ck_assert_float_eq(out[2], 0x1p62f);

  const unsigned char bools[] = {0, 1, 1, 0};
  ck_assert_int_eq(read_one("BOOL", 1, bools, 4, out, err, sizeof err), 0);
  ck_assert_float_eq(out[1], 1.0f);
}
END_TEST

START_TEST(inexact_integers_rejected)
{
  char err[512];
  float out[3];

  const int32_t i32[] = {1, 16777217, 2};
  ck_assert_int_eq(read_one("I32", 4, i32, 3, out, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "'x'") && strstr(err, "element 1") && strstr(err, "exactly"),
                "message: %s", err);

  const int64_t i64[] = {INT64_MAX, 0, 0};
  ck_assert_int_eq(read_one("I64", 8, i64, 3, out, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "element 0") != NULL, "message: %s", err);

  const uint64_t u64[] = {0, 0, UINT64_MAX};
  ck_assert_int_eq(read_one("U64", 8, u64, 3, out, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "element 2") != NULL, "message: %s", err);

  const uint32_t u32[] = {0, 4294967295u, 0};
  ck_assert_int_eq(read_one("U32", 4, u32, 3, out, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "element 1") != NULL, "message: %s", err);

  const unsigned char bools[] = {0, 2, 1};
  ck_assert_int_eq(read_one("BOOL", 1, bools, 3, out, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "element 1") && strstr(err, "BOOL"), "message: %s", err);
}
END_TEST

START_TEST(read_f32_checks_count)
{
  const char *path = scratch_path("count.safetensors");
  float v[4] = {1, 2, 3, 4};
  sdq_st_write_tensor tensors[] = {{.name = "v", .ndim = 2, .shape = {2, 2}, .data = v}};
  char err[512];
  ck_assert_int_eq(sdq_safetensors_write(path, tensors, 1, NULL, 0, err, sizeof err), 0);
  sdq_safetensors st = {0};
  ck_assert_int_eq(sdq_safetensors_open(&st, path, err, sizeof err), 0);
  const sdq_st_tensor *t = sdq_safetensors_find(&st, "v");
  float out[8];
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, out, 3, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "3 floats") && strstr(err, "4 elements") && strstr(err, "'v'"),
                "message: %s", err);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, NULL, 4, err, sizeof err), -1);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, t, out, 4, NULL, 0), 0);
  ck_assert_float_eq(out[3], 4.0f);
  ck_assert_mem_eq(sdq_safetensors_data(&st, t), v, sizeof v);
  sdq_safetensors_close(&st);
}
END_TEST

/* ------------------------------------------------------- valid layouts */

START_TEST(zero_size_tensors_accepted)
{
  /* Zero-size tensors at the start, between two tensors and at the end. */
  const char *header =
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
    "\"c\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
    "\"d\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[4,8]},"
    "\"e\":{\"dtype\":\"I64\",\"shape\":[0,7],\"data_offsets\":[8,8]},"
    "\"__metadata__\":{}}";
  const unsigned char data[8] = {0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f, 0x00, 0x40};
  const char *path = scratch_path("zero.safetensors");
  write_raw_safetensors(path, header, strlen(header), data, 8);

  sdq_safetensors st = {0};
  char err[512];
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(st.n_tensors, 5);
  ck_assert_uint_eq(st.n_metadata, 0);
  float out[2];
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, sdq_safetensors_find(&st, "b"), out, 2, err, sizeof err), 0);
  ck_assert_float_eq(out[0], 1.0f);
  ck_assert_float_eq(out[1], -2.0f);
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, sdq_safetensors_find(&st, "d"), out, 2, err, sizeof err), 0);
  ck_assert_float_eq(out[0], 1.0f);
  ck_assert_float_eq(out[1], 2.0f);
  ck_assert_uint_eq(sdq_safetensors_find(&st, "e")->numel, 0);
  sdq_safetensors_close(&st);
}
END_TEST

START_TEST(unaligned_data_section_read)
{
  /* A 5-byte header puts the data section at an odd file offset. */
  const char *header = "{ } ";
  const char *path = scratch_path("unaligned.safetensors");
  write_raw_safetensors(path, header, strlen(header), NULL, 0);
  sdq_safetensors st = {0};
  char err[512];
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  sdq_safetensors_close(&st);

  char odd[128];
  snprintf(odd, sizeof odd, "{\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}%s",
           "   ");
  ck_assert_uint_eq(strlen(odd) % 2, 1);
  float v[2] = {1.25f, -3.5f};
  write_raw_safetensors(path, odd, strlen(odd), v, sizeof v);
  ck_assert_msg(sdq_safetensors_open(&st, path, err, sizeof err) == 0, "%s", err);
  float out[2];
  ck_assert_int_eq(sdq_safetensors_read_f32(&st, &st.tensors[0], out, 2, err, sizeof err), 0);
  ck_assert_float_eq(out[0], 1.25f);
  ck_assert_float_eq(out[1], -3.5f);
  sdq_safetensors_close(&st);
}
END_TEST

/* ---------------------------------------------------- malformed files */

struct malformed_case {
  const char *label;
  const char *header;   /* NULL: raw bytes below are the whole file */
  size_t header_len;    /* 0: strlen(header) */
  size_t data_len;      /* zero bytes of data after the header */
  const char *raw;      /* whole file when header is NULL */
  size_t raw_len;
  const char *needle1;  /* the message must contain both (NULL to skip) */
  const char *needle2;
};

#define F32_ENTRY(name, shape, begin, end) \
  "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #begin "," #end "]}"

static const struct malformed_case malformed[] = {
  {"empty file", NULL, 0, 0, "", 0, "0 bytes", "too short"},
  {"5-byte file", NULL, 0, 0, "\x02\0\0\0\0", 5, "5 bytes", "too short"},
  {"8-byte file, length 0", NULL, 0, 0, "\0\0\0\0\0\0\0\0", 8, "not valid JSON", "offset 8"},
  {"8-byte file, length 2", NULL, 0, 0, "\x02\0\0\0\0\0\0\0", 8, "header length is 2", "only 0 bytes"},
  {"length beyond file", NULL, 0, 0, "\x40\0\0\0\0\0\0\0{}", 10, "header length is 64", "only 2 bytes"},
  {"length 2^64-1", NULL, 0, 0, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "18446744073709551615", "truncated"},
  {"not JSON", "hello", 0, 0, NULL, 0, "not valid JSON", NULL},
  {"JSON array", "[1,2]", 0, 0, NULL, 0, "not an object", NULL},
  {"JSON string", "\"x\"", 0, 0, NULL, 0, "not valid JSON", NULL},
  {"invalid UTF-8 name", "{\"\xff\":{}}", 0, 0, NULL, 0, "not valid JSON", "0xff"},
  {"NUL escape in name", "{\"a\\u0000b\":{}}", 0, 0, NULL, 0, "not valid JSON", NULL},
  {"raw NUL byte in header", "{\"a\":\0}", 7, 0, NULL, 0, "not valid JSON", NULL},
  {"garbage after JSON", "{} x", 0, 0, NULL, 0, "not valid JSON", NULL},
  {"truncated JSON", "{\"a\":{\"dtype\":\"F3", 0, 0, NULL, 0, "not valid JSON", NULL},
  {"trailing data bytes", "{}", 0, 4, NULL, 0, "[0, 4)", "trailing"},
  {"trailing bytes after tensor", "{" F32_ENTRY("w", "[1]", 0, 4) "}", 0, 6, NULL, 0, "[4, 6)", "trailing"},
  {"duplicate tensor", "{" F32_ENTRY("w", "[1]", 0, 4) "," F32_ENTRY("w", "[1]", 4, 8) "}", 0, 8, NULL, 0, "duplicate", "\"w\""},
  {"empty name", "{" F32_ENTRY("", "[1]", 0, 4) "}", 0, 4, NULL, 0, "empty name", NULL},
  {"entry not object", "{\"w\":[1,2]}", 0, 0, NULL, 0, "'w'", "not an object"},
  {"unknown dtype", "{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 0, 16, NULL, 0, "'w'", "unknown dtype 'F128'"},
  {"lower-case dtype", "{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, NULL, 0, "'w'", "unknown dtype 'f32'"},
  {"dtype not string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, NULL, 0, "'w'", "dtype is not a string"},
  {"dtype missing", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, NULL, 0, "'w'", "dtype is missing"},
  {"shape missing", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, NULL, 0, "'w'", "shape is missing"},
  {"offsets missing", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 4, NULL, 0, "'w'", "data_offsets is missing"},
  {"unknown field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 0, 4, NULL, 0, "'w'", "unknown field 'x'"},
  {"shape not array", "{" F32_ENTRY("w", "4", 0, 4) "}", 0, 4, NULL, 0, "'w'", "shape is not an array"},
  {"shape float", "{" F32_ENTRY("w", "[1.0]", 0, 4) "}", 0, 4, NULL, 0, "shape[0] is the floating-point number 1;", "expected an integer"},
  {"shape negative", "{" F32_ENTRY("w", "[2,-1]", 0, 4) "}", 0, 4, NULL, 0, "shape[1] is negative", "'w'"},
  {"shape string", "{" F32_ENTRY("w", "[\"1\"]", 0, 4) "}", 0, 4, NULL, 0, "shape[0] is not an integer", NULL},
  {"shape too many dims", "{" F32_ENTRY("w", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 0, 4, NULL, 0, "9 dimensions", "'w'"},
  {"shape product overflow", "{" F32_ENTRY("w", "[4294967296,4294967296]", 0, 4) "}", 0, 4, NULL, 0, "overflows", "'w'"},
  {"shape bytes overflow", "{" F32_ENTRY("w", "[4611686018427387904]", 0, 4) "}", 0, 4, NULL, 0, "overflows", NULL},
  {"shape integer too big for JSON", "{" F32_ENTRY("w", "[18446744073709551616]", 0, 4) "}", 0, 4, NULL, 0, "not valid JSON", NULL},
  {"offsets not array", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 0, 4, NULL, 0, "'w'", "two integers"},
  {"offsets three values", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 0, 4, NULL, 0, "'w'", "two integers"},
  {"offsets float", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 0, 4, NULL, 0, "data_offsets[1] is the floating-point number 4.5", "expected an integer"},
  {"offsets negative", "{" F32_ENTRY("w", "[1]", -4, 0) "}", 0, 4, NULL, 0, "data_offsets[0] is negative", "'w'"},
  {"offsets reversed", "{" F32_ENTRY("w", "[0]", 4, 0) "}", 0, 4, NULL, 0, "[4, 0]", "end before"},
  {"offsets beyond data", "{" F32_ENTRY("h.0.attn.c_attn.weight", "[2,2]", 0, 16) "}", 0, 12, NULL, 0,
   "tensor 'h.0.attn.c_attn.weight': data_offsets [0, 16] exceed the data section (12 bytes)", NULL},
  {"offsets huge", "{" F32_ENTRY("w", "[1]", 9223372036854775800, 9223372036854775804) "}", 0, 4, NULL, 0, "exceed the data section", NULL},
  {"offsets size mismatch", "{" F32_ENTRY("w", "[3]", 0, 8) "}", 0, 8, NULL, 0, "span 8 bytes", "need 12"},
  {"hole between tensors", "{" F32_ENTRY("a", "[1]", 0, 4) "," F32_ENTRY("b", "[1]", 8, 12) "}", 0, 12, NULL, 0, "'b'", "[4, 8)"},
  {"hole at start", "{" F32_ENTRY("a", "[1]", 4, 8) "}", 0, 8, NULL, 0, "'a'", "hole"},
  {"overlapping tensors", "{" F32_ENTRY("a", "[2]", 0, 8) "," F32_ENTRY("b", "[2]", 4, 12) "}", 0, 12, NULL, 0, "overlap tensor 'a'", "'b'"},
  {"same range twice", "{" F32_ENTRY("a", "[1]", 0, 4) "," F32_ENTRY("b", "[1]", 0, 4) "}", 0, 4, NULL, 0, "overlap", NULL},
  {"zero-size inside tensor", "{" F32_ENTRY("a", "[2]", 0, 8) "," F32_ENTRY("z", "[0]", 4, 4) "}", 0, 8, NULL, 0, "'z'", "overlap"},
  {"metadata not object", "{\"__metadata__\":[]}", 0, 0, NULL, 0, "__metadata__", "not an object"},
  {"metadata value number", "{\"__metadata__\":{\"k\":1}}", 0, 0, NULL, 0, "key 'k'", "not a string"},
  {"metadata duplicate key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, 0, NULL, 0, "duplicate", NULL},
};

START_TEST(malformed_file_rejected)
{
  const struct malformed_case *c = &malformed[_i];
  const char *path = scratch_path("malformed.safetensors");
  if (c->header != NULL) {
    size_t header_len = c->header_len ? c->header_len : strlen(c->header);
    write_raw_safetensors(path, c->header, header_len, NULL, c->data_len);
  } else {
    write_bytes(path, c->raw, c->raw_len);
  }

  sdq_safetensors st;
  memset(&st, 0x5a, sizeof st); /* open must not depend on a zeroed struct */
  char err[1024] = "";
  int rc = sdq_safetensors_open(&st, path, err, sizeof err);
  ck_assert_msg(rc == -1, "%s: accepted", c->label);
  ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s: message does not start with the path: %s",
                c->label, err);
  if (c->needle1 != NULL)
    ck_assert_msg(strstr(err, c->needle1) != NULL, "%s: message '%s' lacks '%s'", c->label, err,
                  c->needle1);
  if (c->needle2 != NULL)
    ck_assert_msg(strstr(err, c->needle2) != NULL, "%s: message '%s' lacks '%s'", c->label, err,
                  c->needle2);
  ck_assert_ptr_null(st.map);
  ck_assert_ptr_null(st.tensors);
  ck_assert_uint_eq(st.n_tensors, 0);
  sdq_safetensors_close(&st);
}
END_TEST

START_TEST(oversized_header_rejected)
{
  /* A sparse file whose header length is within the file but above the cap. */
  const char *path = scratch_path("sparse.safetensors");
  unsigned char len[8];
  uint64_t header_len = 200u * 1000 * 1000;
  put_le64(len, header_len);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, len, 8), 8);
  ck_assert_int_eq(ftruncate(fd, (off_t)(8 + header_len)), 0);
  close(fd);

  sdq_safetensors st = {0};
  char err[512];
  ck_assert_int_eq(sdq_safetensors_open(&st, path, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "200000000") && strstr(err, "more than"), "message: %s", err);
  unlink(path);
}
END_TEST

START_TEST(open_reports_missing_and_folders)
{
  sdq_safetensors st = {0};
  char err[512];
  ck_assert_int_eq(sdq_safetensors_open(&st, scratch_path("does-not-exist.safetensors"), err, sizeof err), -1);
  ck_assert_msg(strstr(err, "does-not-exist.safetensors") && strstr(err, "cannot open"), "message: %s", err);
  ck_assert_int_eq(sdq_safetensors_open(&st, scratch, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a regular file") != NULL, "message: %s", err);
  ck_assert_int_eq(sdq_safetensors_open(&st, scratch, NULL, 0), -1);
}
END_TEST

/* Every prefix of a valid file is either rejected or, for the full length,
 * accepted; none may crash (ASan builds check the reads). */
START_TEST(truncated_files_rejected)
{
  const char *path = scratch_path("full.safetensors");
  float v[6] = {1, 2, 3, 4, 5, 6};
  sdq_st_write_tensor tensors[] = {
    {.name = "a", .ndim = 1, .shape = {2}, .data = v},
    {.name = "b", .ndim = 2, .shape = {2, 2}, .data = v + 2},
  };
  sdq_st_metadata meta[] = {{"k", "v"}};
  char err[512];
  ck_assert_int_eq(sdq_safetensors_write(path, tensors, 2, meta, 1, err, sizeof err), 0);
  size_t len;
  unsigned char *bytes = read_bytes(path, &len);

  const char *cut = scratch_path("cut.safetensors");
  char *cut_path = strdup(cut);
  for (size_t n = 0; n < len; n++) {
    write_bytes(cut_path, bytes, n);
    sdq_safetensors st = {0};
    ck_assert_msg(sdq_safetensors_open(&st, cut_path, err, sizeof err) == -1,
                  "a file cut to %zu of %zu bytes was accepted", n, len);
    ck_assert_msg(strstr(err, "cut.safetensors") != NULL, "%zu bytes: %s", n, err);
  }

  /* One extra byte at the end is trailing garbage. */
  unsigned char *longer = malloc(len + 1);
  memcpy(longer, bytes, len);
  longer[len] = 0;
  write_bytes(cut_path, longer, len + 1);
  sdq_safetensors st = {0};
  ck_assert_int_eq(sdq_safetensors_open(&st, cut_path, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "trailing") != NULL, "message: %s", err);
  free(longer);
  free(bytes);
  free(cut_path);
}
END_TEST

/* Flipping any single header byte to a few values never crashes the reader:
 * each result is either a clean error or a file that validates. */
START_TEST(corrupted_header_bytes_handled)
{
  const char *path = scratch_path("flip-src.safetensors");
  float v[6] = {1, 2, 3, 4, 5, 6};
  sdq_st_write_tensor tensors[] = {
    {.name = "a", .ndim = 1, .shape = {2}, .data = v},
    {.name = "b", .ndim = 2, .shape = {2, 2}, .data = v + 2},
  };
  char err[512];
  ck_assert_int_eq(sdq_safetensors_write(path, tensors, 2, NULL, 0, err, sizeof err), 0);
  size_t len;
  unsigned char *bytes = read_bytes(path, &len);
  char *flip_path = strdup(scratch_path("flip.safetensors"));
  const unsigned char values[] = {0x00, '0', '9', '-', '.', '"', '[', '}', 0xff, 'e'};
  size_t header_end = 8 + (size_t)get_le64(bytes);
  int accepted = 0;
  for (size_t pos = 0; pos < header_end; pos++) {
    for (size_t k = 0; k < sizeof values; k++) {
      unsigned char saved = bytes[pos];
      bytes[pos] = values[k];
      write_bytes(flip_path, bytes, len);
      bytes[pos] = saved;
      sdq_safetensors st = {0};
      err[0] = '\0';
      if (sdq_safetensors_open(&st, flip_path, err, sizeof err) == 0) {
        accepted++;
        for (size_t i = 0; i < st.n_tensors; i++) {
          const sdq_st_tensor *t = &st.tensors[i];
          ck_assert_uint_le(t->begin + t->nbytes, st.data_size);
          float out[16];
          if (t->numel <= 16)
            sdq_safetensors_read_f32(&st, t, out, t->numel, err, sizeof err);
        }
        sdq_safetensors_close(&st);
      } else {
        ck_assert_msg(strstr(err, "flip.safetensors") != NULL,
                      "byte %zu = 0x%02x: message lacks the path: %s", pos, values[k], err);
      }
    }
  }
  /* Flips that keep the file valid exist (e.g. a padding space or a digit
   * that only renames a tensor), so some acceptances are expected. */
  ck_assert_int_gt(accepted, 0);
  free(flip_path);
  free(bytes);
}
END_TEST

/* ------------------------------------------------------------- main */

static Suite *safetensors_suite(void)
{
  Suite *s = suite_create("safetensors");

  TCase *tc = tcase_create("writer");
  tcase_add_test(tc, write_read_round_trip);
  tcase_add_test(tc, writer_header_layout);
  tcase_add_test(tc, writer_is_deterministic);
  tcase_add_test(tc, writer_replaces_atomically);
  tcase_add_test(tc, writer_rejects_bad_input);
  tcase_add_test(tc, writer_empty_file_round_trip);
  suite_add_tcase(s, tc);

  tc = tcase_create("conversion");
  tcase_add_test(tc, f16_conversion_table);
  tcase_add_test(tc, bf16_conversion_table);
  tcase_add_test(tc, f8_conversion_table);
  tcase_add_test(tc, f64_rounds_to_nearest);
  tcase_add_test(tc, integers_convert_exactly);
  tcase_add_test(tc, inexact_integers_rejected);
  tcase_add_test(tc, read_f32_checks_count);
  suite_add_tcase(s, tc);

  tc = tcase_create("reader");
  tcase_add_test(tc, zero_size_tensors_accepted);
  tcase_add_test(tc, unaligned_data_section_read);
  tcase_add_loop_test(tc, malformed_file_rejected, 0,
                      (int)(sizeof malformed / sizeof malformed[0]));
  tcase_add_test(tc, oversized_header_rejected);
  tcase_add_test(tc, open_reports_missing_and_folders);
  tcase_add_test(tc, truncated_files_rejected);
  tcase_add_test(tc, corrupted_header_bytes_handled);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}

static void remove_scratch(void)
{
  DIR *dir = opendir(scratch);
  if (dir == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
    unlink(path);
  }
  closedir(dir);
  rmdir(scratch);
}

int main(void)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(scratch, sizeof scratch, "%s/sdq-test-safetensors-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(scratch) == NULL) {
    fprintf(stderr, "test_safetensors: cannot create a scratch folder %s: %s\n", scratch,
            strerror(errno));
    return 1;
  }

  SRunner *runner = srunner_create(safetensors_suite());
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  remove_scratch();
  return failed == 0 ? 0 : 1;
}
