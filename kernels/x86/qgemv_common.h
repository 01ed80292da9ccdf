/* qgemv_common.h - the permuted activation row shared by the AVX2 and
 * AVX-512 one-row qgemm_f32_nt kernels (qgemv_avx2.h, qgemv_avx512.h).
 *
 * The GEMV kernels never move packed bytes across vector lanes. A chunk of a
 * packed row (V dwords, 4 * V bytes) yields its values slot by slot: slot s
 * holds, in every dword, the field at bits cbits * s .. cbits * s + cbits - 1
 * (byte b = s / F, field f = s % F, with F = 8 / cbits fields per byte), so
 * one shift or byte shuffle per slot gives V values. Those values are not
 * consecutive in k. Instead, the activation row is copied once per call into
 * the same order ("xp"), so each slot needs one aligned load of xp.
 *
 * xp[(c * S + s) * V + d] = x[k] for chunk c, slot s (S = 32 / cbits slots
 * per dword) and dword d, where byte p = 4 d + b of the chunk holds field f
 * of value k = c * 4V * F + 64 * (p / G) + G * f + p % G (G = 8 * cbits bytes
 * per group, see sdq_pack.h). Positions at or past K hold 0, so the padding
 * and the bytes past the row that a partial last chunk loads as zero add
 * nothing.
 */
#ifndef SDQ_QGEMV_COMMON_H
#define SDQ_QGEMV_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sdq_pack.h"

/* Floats of xp kept on the stack. Longer rows allocate xp. */
#define QGEMV_XP_STACK_FLOATS 4096

/* Returns the floats of xp for a row of K values with container width cbits
 * (2, 4 or 8) and V dwords per vector, which is whole chunks covering the
 * padded row. */
static inline size_t qgemv_xp_floats(int K, int cbits, int V) {
  const size_t chunk_values = (size_t)(4 * V * (8 / cbits));
  const size_t row_values = (size_t)sdq_pack_cols_padded(K);
  return (row_values + chunk_values - 1) / chunk_values * chunk_values;
}

/* Writes xp (qgemv_xp_floats(K, cbits, V) floats) from x[0..K), each value
 * multiplied by prescale (a power of two, so the product is exact unless it
 * underflows). */
static inline __attribute__((always_inline)) void
qgemv_permute_x(const float *x, int K, int cbits, int V, float prescale,
                float *xp) {
  const int F = 8 / cbits, S = 32 / cbits, G = 8 * cbits;
  const int chunk_values = 4 * V * F;
  const int chunks = (int)(qgemv_xp_floats(K, cbits, V) / (size_t)chunk_values);
  float *out = xp;
  for (int c = 0; c < chunks; c++) {
    const int k0 = c * chunk_values;
    for (int s = 0; s < S; s++) {
      const int b = s / F, f = s % F;
      for (int d = 0; d < V; d++) {
        const int p = 4 * d + b;
        const int k = k0 + 64 * (p / G) + G * f + p % G;
        *out++ = k < K ? x[k] * prescale : 0.0f;
      }
    }
  }
}

#endif /* SDQ_QGEMV_COMMON_H */
