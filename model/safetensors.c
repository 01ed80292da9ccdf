/* safetensors.c - validating memory-mapped reader and atomic F32 writer for safetensors files. */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* The header of GPT-2 (124M) is an estimated 15 KB (about 160 entries of under
 * 100 bytes), so this cap only rejects a corrupt length field before jansson
 * parses most of a multi-gigabyte file. */
#define SDQ_ST_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

#define SDQ_ST_HEADER_LEN_BYTES 8
#define SDQ_ST_METADATA_KEY "__metadata__"

static const struct {
  const char *name;
  size_t size;
} dtype_info[SDQ_ST_DTYPE_COUNT] = {
  [SDQ_ST_BOOL] = {"BOOL", 1},       [SDQ_ST_U8] = {"U8", 1},
  [SDQ_ST_I8] = {"I8", 1},           [SDQ_ST_U16] = {"U16", 2},
  [SDQ_ST_I16] = {"I16", 2},         [SDQ_ST_U32] = {"U32", 4},
  [SDQ_ST_I32] = {"I32", 4},         [SDQ_ST_U64] = {"U64", 8},
  [SDQ_ST_I64] = {"I64", 8},         [SDQ_ST_F8_E4M3] = {"F8_E4M3", 1},
  [SDQ_ST_F8_E5M2] = {"F8_E5M2", 1}, [SDQ_ST_F16] = {"F16", 2},
  [SDQ_ST_BF16] = {"BF16", 2},       [SDQ_ST_F32] = {"F32", 4},
  [SDQ_ST_F64] = {"F64", 8},
};

const char *sdq_st_dtype_name(sdq_st_dtype dtype)
{
  if ((int)dtype < 0 || dtype >= SDQ_ST_DTYPE_COUNT)
    return "?";
  return dtype_info[dtype].name;
}

size_t sdq_st_dtype_size(sdq_st_dtype dtype)
{
  if ((int)dtype < 0 || dtype >= SDQ_ST_DTYPE_COUNT)
    return 0;
  return dtype_info[dtype].size;
}

static int dtype_parse(const char *name, sdq_st_dtype *dtype)
{
  for (int i = 0; i < SDQ_ST_DTYPE_COUNT; i++) {
    if (strcmp(name, dtype_info[i].name) == 0) {
      *dtype = (sdq_st_dtype)i;
      return 0;
    }
  }
  return -1;
}

/* ------------------------------------------------------------ messages */

/* Formats "PATH: [tensor 'NAME': ]MESSAGE" into err and returns -1. */
static int st_fail(char *err, size_t errlen, const char *path,
                   const char *tensor, const char *fmt, ...)
{
  if (err == NULL || errlen == 0)
    return -1;

  int used;
  if (tensor != NULL)
    used = snprintf(err, errlen, "%s: tensor '%s': ", path, tensor);
  else
    used = snprintf(err, errlen, "%s: ", path);
  if (used < 0 || (size_t)used >= errlen)
    return -1;

  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------- little-endian loads */

static uint16_t load_le16(const unsigned char *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load_le32(const unsigned char *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static uint64_t load_le64(const unsigned char *p)
{
  return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

static float f32_from_bits(uint32_t bits)
{
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* ------------------------------------------------------ conversions */

/* IEEE binary16 to binary32, exact for every input. */
static float f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;

  if (exponent == 0x1f) /* infinity, or NaN with its payload shifted up */
    return f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) /* normal: rebias 15 -> 127 */
    return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));

  /* Zero or subnormal: mantissa * 2^-24 is exact, and normal, in fp32. */
  float magnitude = ldexpf((float)mantissa, -24);
  return sign ? -magnitude : magnitude;
}

static float bf16_to_f32(uint16_t h)
{
  return f32_from_bits((uint32_t)h << 16);
}

/* FP8 E4M3 "fn" (bias 7, no infinities, S.1111.111 is NaN) to fp32, exact. */
static float f8_e4m3_to_f32(uint8_t b)
{
  int negative = b & 0x80;
  int exponent = (b >> 3) & 0xf;
  int mantissa = b & 0x7;
  float magnitude;

  if (exponent == 0xf && mantissa == 0x7)
    magnitude = NAN;
  else if (exponent == 0)
    magnitude = ldexpf((float)mantissa, -9);
  else
    magnitude = ldexpf((float)(8 + mantissa), exponent - 7 - 3);
  return negative ? -magnitude : magnitude;
}

/* FP8 E5M2 is the high byte of a binary16 value. */
static float f8_e5m2_to_f32(uint8_t b)
{
  return f16_to_f32((uint16_t)(b << 8));
}

/* Integer sources that fp32 may not hold exactly: return 0 when v converts
 * exactly, and store the converted value. */
static int i64_to_f32_exact(int64_t v, float *out)
{
  float f = (float)v;
  /* 2^63 rounds from INT64_MAX and does not convert back to int64_t. */
  if (f >= 0x1p63f || (int64_t)f != v)
    return -1;
  *out = f;
  return 0;
}

static int u64_to_f32_exact(uint64_t v, float *out)
{
  float f = (float)v;
  if (f >= 0x1p64f || (uint64_t)f != v)
    return -1;
  *out = f;
  return 0;
}

int sdq_safetensors_read_f32(const sdq_safetensors *st, const sdq_st_tensor *t,
                             float *dst, size_t count, char *err,
                             size_t errlen)
{
  const char *path = (st != NULL && st->path != NULL) ? st->path : "(closed file)";
  if (st == NULL || st->map == NULL || t == NULL)
    return st_fail(err, errlen, path, NULL, "no open file or no tensor given");
  if (count != t->numel)
    return st_fail(err, errlen, path, t->name,
                   "the destination holds %zu floats but the tensor has %zu elements",
                   count, t->numel);
  if (count == 0)
    return 0;
  if (dst == NULL)
    return st_fail(err, errlen, path, t->name, "the destination is NULL");

  const unsigned char *src = st->data + t->begin;
  size_t bad = SIZE_MAX;

  switch (t->dtype) {
  case SDQ_ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++)
      dst[i] = f32_from_bits(load_le32(src + 4 * i));
#endif
    break;
  case SDQ_ST_F16:
    for (size_t i = 0; i < count; i++)
      dst[i] = f16_to_f32(load_le16(src + 2 * i));
    break;
  case SDQ_ST_BF16:
    for (size_t i = 0; i < count; i++)
      dst[i] = bf16_to_f32(load_le16(src + 2 * i));
    break;
  case SDQ_ST_F8_E4M3:
    for (size_t i = 0; i < count; i++)
      dst[i] = f8_e4m3_to_f32(src[i]);
    break;
  case SDQ_ST_F8_E5M2:
    for (size_t i = 0; i < count; i++)
      dst[i] = f8_e5m2_to_f32(src[i]);
    break;
  case SDQ_ST_F64:
    /* Round to nearest; values beyond the fp32 range become +-inf
     * (IEEE 754 / C11 Annex F, which GCC and Clang follow). */
    for (size_t i = 0; i < count; i++) {
      uint64_t bits = load_le64(src + 8 * i);
      double d;
      memcpy(&d, &bits, sizeof d);
      dst[i] = (float)d;
    }
    break;
  case SDQ_ST_BOOL:
    for (size_t i = 0; i < count; i++) {
      if (src[i] > 1) {
        bad = i;
        break;
      }
      dst[i] = (float)src[i];
    }
    if (bad != SIZE_MAX)
      return st_fail(err, errlen, path, t->name,
                     "element %zu (file offset %zu) is %u, not a BOOL (0 or 1)",
                     bad, (size_t)(src - st->map) + bad, (unsigned)src[bad]);
    break;
  case SDQ_ST_U8:
    for (size_t i = 0; i < count; i++)
      dst[i] = (float)src[i];
    break;
  case SDQ_ST_I8:
    for (size_t i = 0; i < count; i++)
      dst[i] = (float)(int8_t)src[i];
    break;
  case SDQ_ST_U16:
    for (size_t i = 0; i < count; i++)
      dst[i] = (float)load_le16(src + 2 * i);
    break;
  case SDQ_ST_I16:
    for (size_t i = 0; i < count; i++)
      dst[i] = (float)(int16_t)load_le16(src + 2 * i);
    break;
  case SDQ_ST_U32:
    for (size_t i = 0; i < count && bad == SIZE_MAX; i++)
      if (u64_to_f32_exact(load_le32(src + 4 * i), &dst[i]) != 0)
        bad = i;
    break;
  case SDQ_ST_I32:
    for (size_t i = 0; i < count && bad == SIZE_MAX; i++)
      if (i64_to_f32_exact((int32_t)load_le32(src + 4 * i), &dst[i]) != 0)
        bad = i;
    break;
  case SDQ_ST_U64:
    for (size_t i = 0; i < count && bad == SIZE_MAX; i++)
      if (u64_to_f32_exact(load_le64(src + 8 * i), &dst[i]) != 0)
        bad = i;
    break;
  case SDQ_ST_I64:
    for (size_t i = 0; i < count && bad == SIZE_MAX; i++)
      if (i64_to_f32_exact((int64_t)load_le64(src + 8 * i), &dst[i]) != 0)
        bad = i;
    break;
  default:
    return st_fail(err, errlen, path, t->name, "unsupported dtype %d", (int)t->dtype);
  }

  if (bad != SIZE_MAX)
    return st_fail(err, errlen, path, t->name,
                   "element %zu (file offset %zu) of this %s tensor cannot be "
                   "represented exactly as fp32",
                   bad, (size_t)(src - st->map) + bad * dtype_info[t->dtype].size,
                   dtype_info[t->dtype].name);
  return 0;
}

/* ------------------------------------------------------------ reader */

/* Reads a JSON integer >= 0 that fits size_t. what names the field. */
static int json_to_size(const json_t *value, size_t *out, const char *path,
                        const char *tensor, const char *what, char *err,
                        size_t errlen)
{
  if (json_is_real(value))
    return st_fail(err, errlen, path, tensor,
                   "%s is the floating-point number %g; expected an integer", what,
                   json_real_value(value));
  if (!json_is_integer(value))
    return st_fail(err, errlen, path, tensor, "%s is not an integer", what);

  json_int_t v = json_integer_value(value);
  if (v < 0)
    return st_fail(err, errlen, path, tensor, "%s is negative (%lld)", what,
                   (long long)v);
  if ((unsigned long long)v > SIZE_MAX)
    return st_fail(err, errlen, path, tensor, "%s (%lld) does not fit in memory",
                   what, (long long)v);
  *out = (size_t)v;
  return 0;
}

/* Fills t from one header entry, checking everything that does not depend on
 * the other tensors. */
static int parse_tensor(const char *path, const char *name, const json_t *entry,
                        size_t data_size, sdq_st_tensor *t, char *err,
                        size_t errlen)
{
  if (name[0] == '\0')
    return st_fail(err, errlen, path, NULL, "a tensor has an empty name");
  if (!json_is_object(entry))
    return st_fail(err, errlen, path, name,
                   "the entry is not an object with dtype, shape and data_offsets");

  const char *key;
  json_t *field;
  json_object_foreach((json_t *)entry, key, field) {
    if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
        strcmp(key, "data_offsets") != 0)
      return st_fail(err, errlen, path, name,
                     "unknown field '%s' (expected dtype, shape and data_offsets)", key);
  }

  /* 1. dtype */
  const json_t *dtype = json_object_get(entry, "dtype");
  if (dtype == NULL)
    return st_fail(err, errlen, path, name, "dtype is missing");
  if (!json_is_string(dtype))
    return st_fail(err, errlen, path, name, "dtype is not a string");
  if (dtype_parse(json_string_value(dtype), &t->dtype) != 0)
    return st_fail(err, errlen, path, name,
                   "unknown dtype '%s' (known: BOOL, U8, I8, U16, I16, U32, I32, "
                   "U64, I64, F8_E4M3, F8_E5M2, F16, BF16, F32, F64)",
                   json_string_value(dtype));

  /* 2. shape, with an overflow-checked element count */
  const json_t *shape = json_object_get(entry, "shape");
  if (shape == NULL)
    return st_fail(err, errlen, path, name, "shape is missing");
  if (!json_is_array(shape))
    return st_fail(err, errlen, path, name, "shape is not an array");
  size_t ndim = json_array_size(shape);
  if (ndim > SDQ_ST_MAX_NDIM)
    return st_fail(err, errlen, path, name,
                   "shape has %zu dimensions; sdq reads at most %d", ndim,
                   SDQ_ST_MAX_NDIM);
  t->ndim = (int)ndim;
  t->numel = 1;
  int overflow = 0;
  for (size_t d = 0; d < ndim; d++) {
    char what[32];
    snprintf(what, sizeof what, "shape[%zu]", d);
    if (json_to_size(json_array_get(shape, d), &t->shape[d], path, name, what,
                     err, errlen) != 0)
      return -1;
    if (t->shape[d] != 0 && t->numel > SIZE_MAX / t->shape[d])
      overflow = 1; /* keep going: a later 0 makes the product 0 */
    t->numel *= t->shape[d];
  }
  size_t elem = dtype_info[t->dtype].size;
  int has_zero = 0;
  for (size_t d = 0; d < ndim; d++)
    has_zero |= t->shape[d] == 0;
  if (has_zero) {
    t->numel = 0;
  } else if (overflow || t->numel > SIZE_MAX / elem) {
    return st_fail(err, errlen, path, name,
                   "shape's element count times %zu bytes overflows", elem);
  }
  t->nbytes = t->numel * elem;

  /* 3. data_offsets: [begin, end] inside the data section, matching the shape */
  const json_t *offsets = json_object_get(entry, "data_offsets");
  if (offsets == NULL)
    return st_fail(err, errlen, path, name, "data_offsets is missing");
  if (!json_is_array(offsets) || json_array_size(offsets) != 2)
    return st_fail(err, errlen, path, name,
                   "data_offsets is not an array of two integers [begin, end]");
  size_t begin, end;
  if (json_to_size(json_array_get(offsets, 0), &begin, path, name,
                   "data_offsets[0]", err, errlen) != 0 ||
      json_to_size(json_array_get(offsets, 1), &end, path, name,
                   "data_offsets[1]", err, errlen) != 0)
    return -1;
  if (begin > end)
    return st_fail(err, errlen, path, name,
                   "data_offsets [%zu, %zu] end before they begin", begin, end);
  if (end > data_size)
    return st_fail(err, errlen, path, name,
                   "data_offsets [%zu, %zu] exceed the data section (%zu bytes)",
                   begin, end, data_size);
  if (end - begin != t->nbytes)
    return st_fail(err, errlen, path, name,
                   "data_offsets [%zu, %zu] span %zu bytes but shape and dtype "
                   "%s need %zu",
                   begin, end, end - begin, dtype_info[t->dtype].name, t->nbytes);
  t->begin = begin;
  return 0;
}

static int parse_metadata(const char *path, const json_t *metadata,
                          sdq_safetensors *st, char *err, size_t errlen)
{
  if (!json_is_object(metadata))
    return st_fail(err, errlen, path, NULL,
                   "__metadata__ is not an object of string values");
  size_t n = json_object_size(metadata);
  if (n == 0)
    return 0;

  st->metadata = calloc(n, sizeof *st->metadata);
  if (st->metadata == NULL)
    return st_fail(err, errlen, path, NULL, "out of memory for %zu metadata entries", n);

  const char *key;
  json_t *value;
  json_object_foreach((json_t *)metadata, key, value) {
    if (!json_is_string(value))
      return st_fail(err, errlen, path, NULL,
                     "__metadata__ value of key '%s' is not a string", key);
    st->metadata[st->n_metadata].key = key;
    st->metadata[st->n_metadata].value = json_string_value(value);
    st->n_metadata++;
  }
  return 0;
}

static int compare_by_offset(const void *a, const void *b)
{
  const sdq_st_tensor *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->nbytes != y->nbytes)
    return x->nbytes < y->nbytes ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int compare_by_name(const void *a, const void *b)
{
  const sdq_st_tensor *x = a, *y = b;
  return strcmp(x->name, y->name);
}

static int compare_metadata(const void *a, const void *b)
{
  const sdq_st_metadata *x = a, *y = b;
  return strcmp(x->key, y->key);
}

/* Checks that the byte ranges, in offset order, tile [0, data_size). */
static int check_coverage(const char *path, sdq_safetensors *st, char *err,
                          size_t errlen)
{
  if (st->n_tensors > 1)
    qsort(st->tensors, st->n_tensors, sizeof *st->tensors, compare_by_offset);

  size_t expected = 0;
  for (size_t i = 0; i < st->n_tensors; i++) {
    const sdq_st_tensor *t = &st->tensors[i];
    if (t->begin > expected)
      return st_fail(err, errlen, path, t->name,
                     "data_offsets begin at %zu, leaving bytes [%zu, %zu) of the "
                     "data section unused (a hole)",
                     t->begin, expected, t->begin);
    if (t->begin < expected)
      return st_fail(err, errlen, path, t->name,
                     "data_offsets [%zu, %zu] overlap tensor '%s', which ends at %zu",
                     t->begin, t->begin + t->nbytes, st->tensors[i - 1].name,
                     expected);
    expected = t->begin + t->nbytes;
  }
  if (expected != st->data_size)
    return st_fail(err, errlen, path, NULL,
                   "bytes [%zu, %zu) at the end of the data section belong to no "
                   "tensor (trailing garbage)",
                   expected, st->data_size);
  return 0;
}

static int parse_header(const char *path, size_t header_len, sdq_safetensors *st,
                        char *err, size_t errlen)
{
  json_error_t jerr;
  json_t *root = json_loadb((const char *)st->map + SDQ_ST_HEADER_LEN_BYTES,
                            header_len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return st_fail(err, errlen, path, NULL,
                   "the header is not valid JSON: %s (file offset %zu)", jerr.text,
                   (size_t)SDQ_ST_HEADER_LEN_BYTES + (size_t)jerr.position);
  st->json = root;
  if (!json_is_object(root))
    return st_fail(err, errlen, path, NULL, "the header is JSON but not an object");

  size_t n_entries = json_object_size(root);
  const json_t *metadata = json_object_get(root, SDQ_ST_METADATA_KEY);
  if (metadata != NULL) {
    if (parse_metadata(path, metadata, st, err, errlen) != 0)
      return -1;
    n_entries--;
  }

  if (n_entries > 0) {
    st->tensors = calloc(n_entries, sizeof *st->tensors);
    if (st->tensors == NULL)
      return st_fail(err, errlen, path, NULL, "out of memory for %zu tensors",
                     n_entries);
  }

  const char *name;
  json_t *entry;
  json_object_foreach(root, name, entry) {
    if (strcmp(name, SDQ_ST_METADATA_KEY) == 0)
      continue;
    sdq_st_tensor *t = &st->tensors[st->n_tensors];
    if (parse_tensor(path, name, entry, st->data_size, t, err, errlen) != 0)
      return -1;
    t->name = strdup(name);
    if (t->name == NULL)
      return st_fail(err, errlen, path, name, "out of memory");
    st->n_tensors++;
  }

  if (check_coverage(path, st, err, errlen) != 0)
    return -1;

  if (st->n_tensors > 1)
    qsort(st->tensors, st->n_tensors, sizeof *st->tensors, compare_by_name);
  if (st->n_metadata > 1)
    qsort(st->metadata, st->n_metadata, sizeof *st->metadata, compare_metadata);
  return 0;
}

int sdq_safetensors_open(sdq_safetensors *st, const char *path, char *err,
                         size_t errlen)
{
  memset(st, 0, sizeof *st);
  if (path == NULL)
    return st_fail(err, errlen, "(null)", NULL, "no path given");

  /* 1. map the file */
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return st_fail(err, errlen, path, NULL, "cannot open: %s", strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return st_fail(err, errlen, path, NULL, "cannot stat: %s", strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return st_fail(err, errlen, path, NULL, "not a regular file");
  }
  if ((uintmax_t)sb.st_size < SDQ_ST_HEADER_LEN_BYTES) {
    close(fd);
    return st_fail(err, errlen, path, NULL,
                   "the file is %jd bytes, too short for the 8-byte header length "
                   "(not a safetensors file, or truncated)",
                   (intmax_t)sb.st_size);
  }
  if ((uintmax_t)sb.st_size > SIZE_MAX) {
    close(fd);
    return st_fail(err, errlen, path, NULL, "the file is too large to map");
  }
  size_t size = (size_t)sb.st_size;
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  close(fd);
  if (map == MAP_FAILED)
    return st_fail(err, errlen, path, NULL, "cannot mmap %zu bytes: %s", size,
                   strerror(map_errno));
  st->map = map;
  st->map_size = size;

  st->path = strdup(path);
  if (st->path == NULL) {
    sdq_safetensors_close(st);
    return st_fail(err, errlen, path, NULL, "out of memory");
  }

  /* 2. header length */
  uint64_t header_len = load_le64(st->map);
  if (header_len > size - SDQ_ST_HEADER_LEN_BYTES) {
    st_fail(err, errlen, path, NULL,
            "the header length is %llu bytes but only %zu bytes follow it "
            "(truncated file, or not a safetensors file)",
            (unsigned long long)header_len, size - SDQ_ST_HEADER_LEN_BYTES);
    sdq_safetensors_close(st);
    return -1;
  }
  if (header_len > SDQ_ST_MAX_HEADER_BYTES) {
    st_fail(err, errlen, path, NULL,
            "the header length is %llu bytes, more than the %llu that sdq accepts",
            (unsigned long long)header_len,
            (unsigned long long)SDQ_ST_MAX_HEADER_BYTES);
    sdq_safetensors_close(st);
    return -1;
  }
  st->data = st->map + SDQ_ST_HEADER_LEN_BYTES + header_len;
  st->data_size = size - SDQ_ST_HEADER_LEN_BYTES - (size_t)header_len;

  /* 3. header JSON and its tensors */
  if (parse_header(path, (size_t)header_len, st, err, errlen) != 0) {
    sdq_safetensors_close(st);
    return -1;
  }
  return 0;
}

void sdq_safetensors_close(sdq_safetensors *st)
{
  if (st == NULL)
    return;
  if (st->map != NULL)
    munmap((void *)st->map, st->map_size);
  for (size_t i = 0; i < st->n_tensors; i++)
    free(st->tensors[i].name);
  free(st->tensors);
  free(st->metadata);
  json_decref((json_t *)st->json);
  free(st->path);
  memset(st, 0, sizeof *st);
}

const sdq_st_tensor *sdq_safetensors_find(const sdq_safetensors *st,
                                          const char *name)
{
  if (st == NULL || name == NULL || st->n_tensors == 0)
    return NULL;
  sdq_st_tensor key = {.name = (char *)name};
  return bsearch(&key, st->tensors, st->n_tensors, sizeof *st->tensors,
                 compare_by_name);
}

const char *sdq_safetensors_metadata(const sdq_safetensors *st, const char *key)
{
  if (st == NULL || key == NULL || st->n_metadata == 0)
    return NULL;
  sdq_st_metadata probe = {.key = key};
  const sdq_st_metadata *hit = bsearch(&probe, st->metadata, st->n_metadata,
                                       sizeof *st->metadata, compare_metadata);
  return hit != NULL ? hit->value : NULL;
}

const void *sdq_safetensors_data(const sdq_safetensors *st,
                                 const sdq_st_tensor *t)
{
  return st->data + t->begin;
}

/* ------------------------------------------------------------ writer */

/* Writes all of buf to fd, retrying short writes and EINTR. */
static int write_all(int fd, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes count floats little-endian. */
static int write_f32_le(int fd, const float *data, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return write_all(fd, data, count * sizeof(float));
#else
  unsigned char chunk[4096];
  size_t i = 0;
  while (i < count) {
    size_t n = count - i < sizeof chunk / 4 ? count - i : sizeof chunk / 4;
    for (size_t j = 0; j < n; j++) {
      uint32_t bits;
      memcpy(&bits, &data[i + j], 4);
      for (int k = 0; k < 4; k++)
        chunk[4 * j + k] = (unsigned char)(bits >> (8 * k));
    }
    if (write_all(fd, chunk, 4 * n) != 0)
      return -1;
    i += n;
  }
  return 0;
#endif
}

static int compare_write_tensor_ptr(const void *a, const void *b)
{
  const sdq_st_write_tensor *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

/* Builds the header JSON (unpadded) for tensors in name order. Returns a
 * malloc'ed string, or NULL with a message in err. */
static char *build_header(const char *path, const sdq_st_write_tensor **order,
                          const size_t *nbytes, size_t n,
                          const sdq_st_metadata *metadata, size_t n_metadata,
                          char *err, size_t errlen)
{
  json_t *root = json_object();
  if (root == NULL) {
    st_fail(err, errlen, path, NULL, "out of memory");
    return NULL;
  }

  if (metadata != NULL && n_metadata > 0) {
    json_t *meta = json_object();
    if (meta == NULL || json_object_set_new(root, SDQ_ST_METADATA_KEY, meta) != 0)
      goto oom;
    for (size_t i = 0; i < n_metadata; i++) {
      if (metadata[i].key == NULL || metadata[i].value == NULL) {
        st_fail(err, errlen, path, NULL, "metadata entry %zu has a NULL key or value", i);
        goto fail;
      }
      if (json_object_get(meta, metadata[i].key) != NULL) {
        st_fail(err, errlen, path, NULL, "metadata key '%s' appears twice",
                metadata[i].key);
        goto fail;
      }
      json_t *value = json_string(metadata[i].value);
      if (value == NULL || json_object_set_new(meta, metadata[i].key, value) != 0) {
        st_fail(err, errlen, path, NULL,
                "metadata key '%s' or its value is not valid UTF-8", metadata[i].key);
        goto fail;
      }
    }
  }

  size_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const sdq_st_write_tensor *t = order[i];
    json_t *shape = json_array();
    json_t *entry = json_object();
    if (shape == NULL || entry == NULL) {
      json_decref(shape);
      json_decref(entry);
      goto oom;
    }
    for (int d = 0; d < t->ndim; d++)
      json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
    json_object_set_new(entry, "dtype", json_string("F32"));
    json_object_set_new(entry, "shape", shape);
    json_object_set_new(entry, "data_offsets",
                        json_pack("[II]", (json_int_t)offset,
                                  (json_int_t)(offset + nbytes[i])));
    if (json_object_size(entry) != 3 ||
        json_array_size(shape) != (size_t)t->ndim) {
      json_decref(entry);
      goto oom;
    }
    if (json_object_set_new(root, t->name, entry) != 0) {
      st_fail(err, errlen, path, t->name, "the name is not valid UTF-8");
      goto fail;
    }
    offset += nbytes[i];
  }

  char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  if (text == NULL)
    st_fail(err, errlen, path, NULL, "out of memory while formatting the header");
  return text;

oom:
  st_fail(err, errlen, path, NULL, "out of memory while building the header");
fail:
  json_decref(root);
  return NULL;
}

/* Validates the tensors, sorts them by name into order[] and fills nbytes[]. */
static int check_write_tensors(const char *path, const sdq_st_write_tensor *tensors,
                               size_t n, const sdq_st_write_tensor **order,
                               size_t *nbytes, char *err, size_t errlen)
{
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const sdq_st_write_tensor *t = &tensors[i];
    if (t->name == NULL || t->name[0] == '\0')
      return st_fail(err, errlen, path, NULL, "tensor %zu has an empty name", i);
    if (strcmp(t->name, SDQ_ST_METADATA_KEY) == 0)
      return st_fail(err, errlen, path, t->name, "the name is reserved for metadata");
    if (t->ndim < 0 || t->ndim > SDQ_ST_MAX_NDIM)
      return st_fail(err, errlen, path, t->name, "ndim %d is outside 0..%d",
                     t->ndim, SDQ_ST_MAX_NDIM);

    size_t numel = 1;
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] > (size_t)INT64_MAX)
        return st_fail(err, errlen, path, t->name,
                       "shape[%d] = %zu does not fit a JSON integer", d, t->shape[d]);
      if (t->shape[d] != 0 && numel > SIZE_MAX / t->shape[d])
        overflow = 1; /* a later 0 still makes the product 0 */
      numel *= t->shape[d];
    }
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] == 0) {
        overflow = 0;
        numel = 0;
      }
    }
    if (overflow || numel > (SIZE_MAX - total) / sizeof(float) ||
        numel * sizeof(float) > (size_t)INT64_MAX - total)
      return st_fail(err, errlen, path, t->name, "the shape is too large (size overflow)");
    if (numel > 0 && t->data == NULL)
      return st_fail(err, errlen, path, t->name, "data is NULL for %zu elements", numel);

    order[i] = t;
    total += numel * sizeof(float);
  }

  if (n > 1)
    qsort(order, n, sizeof *order, compare_write_tensor_ptr);
  for (size_t i = 1; i < n; i++)
    if (strcmp(order[i - 1]->name, order[i]->name) == 0)
      return st_fail(err, errlen, path, order[i]->name, "the name appears twice");

  for (size_t i = 0; i < n; i++) {
    nbytes[i] = sizeof(float);
    for (int d = 0; d < order[i]->ndim; d++)
      nbytes[i] *= order[i]->shape[d];
  }
  return 0;
}

/* Opens a new temporary file next to path; returns the fd and its name. */
static int open_temporary(const char *path, char **tmp_path)
{
  static unsigned counter;
  size_t len = strlen(path) + 64;
  char *name = malloc(len);
  if (name == NULL) {
    errno = ENOMEM;
    return -1;
  }
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned serial = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(name, len, "%s.tmp.%ld.%u", path, (long)getpid(), serial);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      *tmp_path = name;
      return fd;
    }
    if (errno != EEXIST)
      break;
  }
  int e = errno;
  free(name);
  errno = e;
  return -1;
}

/* Fails with a message when path exists and is not a regular file (after
 * following symbolic links). rename() would replace a device node such as
 * /dev/null, a FIFO or a socket with the new file, and cannot replace a
 * directory. A path that does not exist yet is fine. */
static int check_replaceable(const char *path, char *err, size_t errlen)
{
  struct stat sb;
  if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode))
    return 0;

  const char *kind = S_ISDIR(sb.st_mode)    ? "a directory"
                     : S_ISCHR(sb.st_mode)  ? "a character device"
                     : S_ISBLK(sb.st_mode)  ? "a block device"
                     : S_ISFIFO(sb.st_mode) ? "a FIFO"
                     : S_ISSOCK(sb.st_mode) ? "a socket"
                                            : "not a file";
  return st_fail(err, errlen, path, NULL,
                 "exists and is not a regular file (it is %s), so it is not replaced; "
                 "choose a file path",
                 kind);
}

/* fsyncs the folder that contains path, so the rename itself is durable.
 * Failures are ignored: some file systems do not support it. */
static void sync_parent_folder(const char *path)
{
  char *copy = strdup(path);
  if (copy == NULL)
    return;
  char *slash = strrchr(copy, '/');
  const char *folder = ".";
  if (slash == copy)
    folder = "/";
  else if (slash != NULL) {
    *slash = '\0';
    folder = copy;
  }
  int fd = open(folder, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(copy);
}

int sdq_safetensors_write(const char *path, const sdq_st_write_tensor *tensors,
                          size_t n, const sdq_st_metadata *metadata,
                          size_t n_metadata, char *err, size_t errlen)
{
  if (path == NULL || path[0] == '\0')
    return st_fail(err, errlen, "(null)", NULL, "no output path given");
  if (n > 0 && tensors == NULL)
    return st_fail(err, errlen, path, NULL, "%zu tensors but the array is NULL", n);

  if (check_replaceable(path, err, errlen) != 0)
    return -1;

  /* 1. validate and order the tensors, then build the padded header */
  const sdq_st_write_tensor **order = calloc(n ? n : 1, sizeof *order);
  size_t *nbytes = calloc(n ? n : 1, sizeof *nbytes);
  char *header = NULL;
  char *tmp_path = NULL;
  int fd = -1;
  int rc = -1;
  if (order == NULL || nbytes == NULL) {
    st_fail(err, errlen, path, NULL, "out of memory for %zu tensors", n);
    goto done;
  }
  if (check_write_tensors(path, tensors, n, order, nbytes, err, errlen) != 0)
    goto done;
  header = build_header(path, order, nbytes, n, metadata, n_metadata, err, errlen);
  if (header == NULL)
    goto done;

  size_t header_len = strlen(header);
  size_t padded_len = (header_len + 7) / 8 * 8;
  char *padded = realloc(header, padded_len);
  if (padded == NULL) {
    st_fail(err, errlen, path, NULL, "out of memory for the header");
    goto done;
  }
  header = padded;
  memset(header + header_len, ' ', padded_len - header_len);

  unsigned char len_bytes[SDQ_ST_HEADER_LEN_BYTES];
  for (int k = 0; k < SDQ_ST_HEADER_LEN_BYTES; k++)
    len_bytes[k] = (unsigned char)((uint64_t)padded_len >> (8 * k));

  /* 2. write a temporary file next to path */
  fd = open_temporary(path, &tmp_path);
  if (fd < 0) {
    st_fail(err, errlen, path, NULL, "cannot create a temporary file next to it: %s",
            strerror(errno));
    goto done;
  }
  if (write_all(fd, len_bytes, sizeof len_bytes) != 0 ||
      write_all(fd, header, padded_len) != 0)
    goto io_error;
  for (size_t i = 0; i < n; i++)
    if (nbytes[i] > 0 && write_f32_le(fd, order[i]->data, nbytes[i] / sizeof(float)) != 0)
      goto io_error;

  /* 3. make it durable, then atomically replace path */
  if (fsync(fd) != 0)
    goto io_error;
  if (close(fd) != 0) {
    fd = -1;
    goto io_error;
  }
  fd = -1;
  if (check_replaceable(path, err, errlen) != 0) /* it may have appeared since */
    goto done;
  if (rename(tmp_path, path) != 0) {
    st_fail(err, errlen, path, NULL, "cannot rename %s to it: %s", tmp_path,
            strerror(errno));
    goto done;
  }
  free(tmp_path);
  tmp_path = NULL;
  sync_parent_folder(path);
  rc = 0;
  goto done;

io_error:
  st_fail(err, errlen, path, NULL, "write to %s failed: %s", tmp_path, strerror(errno));
done:
  if (fd >= 0)
    close(fd);
  if (tmp_path != NULL) {
    unlink(tmp_path);
    free(tmp_path);
  }
  free(header);
  free(nbytes);
  free(order);
  return rc;
}
