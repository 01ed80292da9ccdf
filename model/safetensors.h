/* safetensors.h - read and write safetensors files (Hugging Face's tensor container).
 *
 * File layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the
 * header), then the data section. The header is an object mapping each tensor
 * name to {"dtype", "shape", "data_offsets": [begin, end]}, where begin and
 * end are byte offsets into the data section, plus an optional
 * "__metadata__" object of string values. Tensor data is little-endian and
 * row-major (C order).
 *
 * The reader memory-maps the file read-only and validates the whole header
 * before it returns. Every dtype must be known, and every shape an array of
 * non-negative integers whose element count does not overflow. Every byte
 * range must match its shape and dtype, and the ranges must tile the data
 * section exactly (no holes, no overlaps, no trailing bytes). So after a
 * successful open no accessor can read outside the mapping.
 *
 * The writer writes F32 tensors only, which is what sdq produces (LoRA
 * adapters, checkpoints).
 *
 * Errors: functions that can fail return 0 on success or -1 with a message in
 * err (if err is not NULL and errlen > 0). Messages name the file and, where
 * one applies, the tensor and the byte offset, e.g.
 *   "model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets
 *    [0, 9437184] exceed the data section (9437180 bytes)".
 * The path in messages is the one passed to open or write.
 *
 * Thread safety: an open sdq_safetensors is read-only, so several threads may
 * call the accessors and sdq_safetensors_read_f32 on it at once.
 */
#ifndef SDQ_MODEL_SAFETENSORS_H
#define SDQ_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum number of dimensions of one tensor. The format sets no limit; files
 * with more dimensions are rejected with a clear error. */
#define SDQ_ST_MAX_NDIM 8

/* Element types of the safetensors format, named as in the header. */
typedef enum sdq_st_dtype {
  SDQ_ST_BOOL = 0,
  SDQ_ST_U8,
  SDQ_ST_I8,
  SDQ_ST_U16,
  SDQ_ST_I16,
  SDQ_ST_U32,
  SDQ_ST_I32,
  SDQ_ST_U64,
  SDQ_ST_I64,
  SDQ_ST_F8_E4M3, /* OCP FP8 E4M3 "fn": no infinities, NaN = S.1111.111 */
  SDQ_ST_F8_E5M2, /* OCP FP8 E5M2: the high byte of an IEEE binary16 */
  SDQ_ST_F16,     /* IEEE 754 binary16 */
  SDQ_ST_BF16,    /* bfloat16: the high 16 bits of an IEEE binary32 */
  SDQ_ST_F32,
  SDQ_ST_F64,
  SDQ_ST_DTYPE_COUNT
} sdq_st_dtype;

/* Returns the header name of a dtype ("F32", "BF16", ...), or "?" if out of
 * range. */
const char *sdq_st_dtype_name(sdq_st_dtype dtype);

/* Returns the size in bytes of one element of dtype (1, 2, 4 or 8), or 0 if
 * out of range. */
size_t sdq_st_dtype_size(sdq_st_dtype dtype);

/* One tensor of an open file. All fields are read-only for callers. */
typedef struct sdq_st_tensor {
  char *name;                     /* NUL-terminated, non-empty, unique */
  sdq_st_dtype dtype;
  int ndim;                       /* 0 (a scalar) .. SDQ_ST_MAX_NDIM */
  size_t shape[SDQ_ST_MAX_NDIM];  /* shape[0 .. ndim-1]; the rest are 0 */
  size_t numel;                   /* product of shape; 1 for a scalar */
  size_t begin;                   /* byte offset of the data in the data section */
  size_t nbytes;                  /* numel * sdq_st_dtype_size(dtype) */
} sdq_st_tensor;

/* One "__metadata__" entry: both strings are NUL-terminated UTF-8. */
typedef struct sdq_st_metadata {
  const char *key;
  const char *value;
} sdq_st_metadata;

/* An open safetensors file. sdq_safetensors_open fills it (overwriting it
 * without closing it first); callers read the fields but never change them. */
typedef struct sdq_safetensors {
  char *path;                  /* copy of the path given to open */
  const unsigned char *map;    /* the whole file, mapped read-only */
  size_t map_size;             /* file size in bytes */
  const unsigned char *data;   /* start of the data section inside map */
  size_t data_size;            /* data section size in bytes */
  sdq_st_tensor *tensors;      /* sorted by name (strcmp order) */
  size_t n_tensors;
  sdq_st_metadata *metadata;   /* sorted by key; NULL when n_metadata == 0 */
  size_t n_metadata;
  void *json;                  /* internal: the parsed header */
} sdq_safetensors;

/* Opens and validates path (see the top of this file for what is checked).
 * On success fills *st, which the caller releases with sdq_safetensors_close.
 * On failure returns -1 with a message in err and leaves *st closed (safe to
 * pass to sdq_safetensors_close). The file must not be truncated or rewritten
 * in place while it is open, because it is memory-mapped: an accessor that
 * reads a page past the new end of a truncated file kills the process with
 * SIGBUS, and a rewrite changes the tensors under the reader. */
int sdq_safetensors_open(sdq_safetensors *st, const char *path, char *err,
                         size_t errlen);

/* Unmaps the file and frees everything open allocated; *st is zeroed.
 * Accepts a zeroed or already closed struct. */
void sdq_safetensors_close(sdq_safetensors *st);

/* Returns the tensor called name, or NULL if the file has none (binary search
 * over st->tensors). */
const sdq_st_tensor *sdq_safetensors_find(const sdq_safetensors *st,
                                          const char *name);

/* Returns the value of "__metadata__" key, or NULL when it is absent. */
const char *sdq_safetensors_metadata(const sdq_safetensors *st,
                                     const char *key);

/* Returns a pointer to the raw little-endian bytes of t (t->nbytes of them)
 * inside the mapping; valid until sdq_safetensors_close. */
const void *sdq_safetensors_data(const sdq_safetensors *st,
                                 const sdq_st_tensor *t);

/* Converts the elements of t to fp32 into dst[0 .. count-1]; count must equal
 * t->numel (the error message gives both when it does not).
 * - F32 is copied; F16, BF16, F8_E4M3 and F8_E5M2 convert exactly (subnormals,
 *   infinities and NaNs included; NaN payloads are kept where fp32 has room).
 * - F64 rounds to the nearest fp32 (overflow gives +-inf).
 * - BOOL, U8, I8, U16 and I16 convert exactly.
 * - I32, U32, I64 and U64 convert when every value is exactly representable in
 *   fp32 (|v| <= 2^24 or a multiple of the spacing); otherwise the call fails
 *   and names the first element that is not.
 * dst must not overlap the mapping. */
int sdq_safetensors_read_f32(const sdq_safetensors *st, const sdq_st_tensor *t,
                             float *dst, size_t count, char *err,
                             size_t errlen);

/* One tensor to write: fp32, row-major, ndim 0 .. SDQ_ST_MAX_NDIM. data contains
 * product(shape) floats and may be NULL only when that product is 0. */
typedef struct sdq_st_write_tensor {
  const char *name;
  int ndim;
  size_t shape[SDQ_ST_MAX_NDIM];
  const float *data;
} sdq_st_write_tensor;

/* Writes n F32 tensors and an optional "__metadata__" (n_metadata key/value
 * pairs, or metadata == NULL) to path.
 * - Tensors are written in ascending name order (strcmp), whatever the order
 *   of the array, and metadata keys are sorted the same way. So the same
 *   content always gives the same bytes.
 * - The header JSON is padded with spaces so that the data section starts at
 *   a multiple of 8 bytes.
 * - The file is written to a temporary file in the same folder, fsync'ed and
 *   renamed over path, so path is either the old file or the complete new one.
 * Fails (nothing written) on an empty, duplicate or "__metadata__" name, a
 * duplicate metadata key, ndim out of range, a size overflow, a path that
 * exists and is not a regular file after following symbolic links (a
 * directory, a device node such as /dev/null, a FIFO or a socket), or an I/O
 * error.
 */
int sdq_safetensors_write(const char *path, const sdq_st_write_tensor *tensors,
                          size_t n, const sdq_st_metadata *metadata,
                          size_t n_metadata, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_MODEL_SAFETENSORS_H */
