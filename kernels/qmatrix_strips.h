/* qmatrix_strips.h - the unpacked weight strips that the x86 integer GEMMs
 * cache with each sdq_qmatrix (the VNNI operand layout, built once), and
 * their reusable workspace.
 *
 * Layout. The N = rows channels are cut into strips of SDQ_I8_STRIP_N
 * channels; strip s contains channels 48 s .. 48 s + 47 over all Kp =
 * sdq_pack_cols_padded(cols) columns and takes Kp * SDQ_I8_STRIP_N bytes,
 * strips following each other. Inside a strip, dword kk * 48 + c (kk =
 * 0 .. Kp/4 - 1, c = 0 .. 47) contains the four unsigned fields
 * u = q + sdq_pack_offset(bits) of channel 48 s + c at columns 4 kk .. 4 kk + 3
 * (byte b of the dword is column 4 kk + b). Columns past cols hold the
 * offset (q = 0); channels past rows hold 0 in every byte.
 *
 * So one k-quad of a strip is 192 contiguous bytes: three 64-byte vectors
 * of 16 channels for vpdpbusd, six 32-byte vectors of 8 channels for
 * vpmaddubsw, or, read with a row stride of 192 bytes, the 64-byte rows of
 * an AMX B tile of 16 channels (unsigned, as TDPBSUD takes B).
 *
 * Memory: one byte per weight (rows rounded up to 48 times Kp), i.e. 1x
 * the packed size at 8 bits, 2x at 4 bits and 4x at 2 bits, on top of the
 * packed matrix.
 */
#ifndef SDQ_QMATRIX_STRIPS_H
#define SDQ_QMATRIX_STRIPS_H

#include <stddef.h>
#include <stdint.h>

#include "sdq_kernels.h"

/* Channels per strip. */
#define SDQ_I8_STRIP_N 48

/* Returns the strips of m (layout above), building them on the first call;
 * later calls return the same pointer. Safe to call from several threads at
 * once (one copy wins, the others are freed), but not concurrently with
 * sdq_qmatrix_free or sdq_qmatrix_init of m. Returns NULL when memory ran
 * out (nothing is cached then, and a later call tries again). The strips
 * belong to m and are freed by sdq_qmatrix_free. */
const uint8_t *sdq_qmatrix_i8_strips(const sdq_qmatrix *m);

/* Work items of the blocked integer GEMMs: chunks of `chunk` consecutive
 * strips (no more than fit the cache block) times `parts` ranges of row
 * tiles. There are about SDQ_I8_ITEMS_PER_THREAD items per thread, so that
 * dynamic scheduling evens out threads slowed by other processes. */
#define SDQ_I8_ITEMS_PER_THREAD 4

typedef struct sdq_i8_split {
  int chunk;  /* strips per item */
  int chunks; /* ceil(strips / chunk) */
  int parts;  /* ranges of row tiles per chunk (1 unless strips are few) */
} sdq_i8_split;

static inline sdq_i8_split sdq_i8_split_work(int strips, int row_tiles,
                                             int block_strips, int threads) {
  const int want = SDQ_I8_ITEMS_PER_THREAD * threads;
  sdq_i8_split sp;
  sp.chunk = (strips + want - 1) / want;
  if (sp.chunk > block_strips)
    sp.chunk = block_strips;
  if (sp.chunk < 1)
    sp.chunk = 1;
  sp.chunks = (strips + sp.chunk - 1) / sp.chunk;
  sp.parts = 1;
  if (sp.chunks < want) {
    sp.parts = (want + sp.chunks - 1) / sp.chunks;
    if (sp.parts > row_tiles)
      sp.parts = row_tiles;
  }
  return sp;
}

/* Workspace of the integer GEMMs (quantized A), reused across calls so that
 * a large buffer is not mapped and page-faulted in on every call: returns a
 * 64-aligned buffer of at least bytes, or NULL when memory ran out. Give it
 * back with sdq_i8_workspace_give. One buffer of up to 32 MiB (the largest
 * given back) is kept until the process exits; concurrent callers get
 * buffers of their own. */
void *sdq_i8_workspace_take(size_t bytes);
void sdq_i8_workspace_give(void *p);

#endif /* SDQ_QMATRIX_STRIPS_H */
