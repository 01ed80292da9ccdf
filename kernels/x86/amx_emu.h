/* amx_emu.h - a plain-C model of the AMX tile registers (palette 1) and of
 * the AMX-INT8 dot products, so the AMX kernel's logic runs and is tested on
 * CPUs without AMX. Test builds only: the library never includes it.
 *
 * The model follows the instruction descriptions of the Intel SDM (LDTILECFG,
 * TILELOADD, TILESTORED, TILEZERO, TILERELEASE, TDPBSSD/TDPBSUD/TDPBUSD/
 * TDPBUUD) for palette 1:
 * - 8 tiles (tmm0..tmm7) of at most 16 rows x 64 bytes. The 64-byte
 *   configuration sets rows and colsb (bytes per row) for each tile. Every
 *   write to a tile zeroes its bytes past colsb and its rows past rows.
 * - TDPB<x><y>D C, A, B: for each row m < rows(C) and int32 column
 *   n < colsb(C) / 4, C[m].dword[n] += sum over k < colsb(A) / 4 and
 *   b < 4 of A[m].byte[4k + b] * B[k].byte[4n + b], where A's bytes are
 *   signed for <x> = S and unsigned for U, and B's likewise for <y>. So B is
 *   in the "K/4 rows x N*4 bytes" layout, and the int32 sums wrap.
 *
 * Every check the hardware makes with #UD or #GP (tile not configured,
 * mismatched shapes, equal tile operands, invalid configuration) prints what
 * failed to stderr and calls abort(). The model is stricter than the hardware
 * in two places: a tile with exactly one of rows and colsb zero, and a
 * nonzero start_row (the restart point after a fault), are rejected.
 *
 * Each thread has its own tile state, as on the hardware, so a kernel whose
 * OpenMP threads forget to load the configuration fails here too.
 */
#ifndef SDQ_AMX_EMU_H
#define SDQ_AMX_EMU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AMX_EMU_TILES 8
#define AMX_EMU_MAX_ROWS 16
#define AMX_EMU_MAX_COLSB 64

typedef struct amx_emu_state {
  int configured; /* 1 after LDTILECFG with palette 1, 0 after release */
  uint8_t rows[AMX_EMU_TILES];
  uint16_t colsb[AMX_EMU_TILES];
  uint8_t data[AMX_EMU_TILES][AMX_EMU_MAX_ROWS][AMX_EMU_MAX_COLSB];
} amx_emu_state;

static _Thread_local amx_emu_state amx_emu;

static inline void amx_emu_fault(const char *insn, int tile, const char *what) {
  fprintf(stderr, "AMX emulator: %s tmm%d: %s\n", insn, tile, what);
  abort();
}

/* Returns the int32 column n of tile row p (little-endian, as in memory). */
static inline uint32_t amx_emu_dword(const uint8_t *p, int n) {
  return (uint32_t)p[4 * n] | (uint32_t)p[4 * n + 1] << 8 |
         (uint32_t)p[4 * n + 2] << 16 | (uint32_t)p[4 * n + 3] << 24;
}

static inline void amx_emu_check_tile(const char *insn, int t) {
  if (!amx_emu.configured)
    amx_emu_fault(insn, t, "no tile configuration loaded in this thread");
  if (t < 0 || t >= AMX_EMU_TILES)
    amx_emu_fault(insn, t, "tile number outside 0..7");
  if (amx_emu.rows[t] == 0)
    amx_emu_fault(insn, t, "tile not configured (rows or colsb is 0)");
}

/* LDTILECFG: mem contains the 64-byte configuration. Byte 0 is the palette,
 * byte 1 start_row, bytes 2..15 reserved (zero), bytes 16 + 2t .. 17 + 2t
 * the colsb of tile t (little-endian uint16) and byte 48 + t its rows.
 * Palette 0 returns to the initial state (no tiles); palette 1 zeroes all
 * tiles and sets their shapes. */
static inline void amx_emu_loadconfig(const void *mem) {
  const uint8_t *b = (const uint8_t *)mem;
  if (b[0] == 0) {
    memset(&amx_emu, 0, sizeof amx_emu);
    return;
  }
  if (b[0] != 1)
    amx_emu_fault("LDTILECFG", 0, "palette other than 0 or 1");
  if (b[1] != 0)
    amx_emu_fault("LDTILECFG", 0, "start_row not 0 (not modelled)");
  for (int i = 2; i < 16; i++)
    if (b[i] != 0)
      amx_emu_fault("LDTILECFG", 0, "reserved bytes 2..15 not zero");

  amx_emu_state s;
  memset(&s, 0, sizeof s);
  for (int t = 0; t < 16; t++) {
    const int colsb = b[16 + 2 * t] | b[17 + 2 * t] << 8;
    const int rows = b[48 + t];
    if (t >= AMX_EMU_TILES) {
      if (colsb != 0 || rows != 0)
        amx_emu_fault("LDTILECFG", t, "palette 1 has only tiles 0..7");
      continue;
    }
    if (rows > AMX_EMU_MAX_ROWS || colsb > AMX_EMU_MAX_COLSB)
      amx_emu_fault("LDTILECFG", t, "rows > 16 or colsb > 64");
    if ((rows == 0) != (colsb == 0))
      amx_emu_fault("LDTILECFG", t, "exactly one of rows and colsb is 0");
    s.rows[t] = (uint8_t)rows;
    s.colsb[t] = (uint16_t)colsb;
  }
  s.configured = 1;
  amx_emu = s;
}

/* TILERELEASE: back to the initial state. */
static inline void amx_emu_release(void) { memset(&amx_emu, 0, sizeof amx_emu); }

/* TILEZERO */
static inline void amx_emu_zero(int t) {
  amx_emu_check_tile("TILEZERO", t);
  memset(amx_emu.data[t], 0, sizeof amx_emu.data[t]);
}

/* TILELOADD: row r of tile t gets colsb bytes from base + r * stride. */
static inline void amx_emu_loadd(int t, const void *base, size_t stride) {
  amx_emu_check_tile("TILELOADD", t);
  memset(amx_emu.data[t], 0, sizeof amx_emu.data[t]);
  for (int r = 0; r < amx_emu.rows[t]; r++)
    memcpy(amx_emu.data[t][r], (const uint8_t *)base + (size_t)r * stride,
           amx_emu.colsb[t]);
}

/* TILESTORED: row r of tile t (colsb bytes) goes to base + r * stride. */
static inline void amx_emu_stored(int t, void *base, size_t stride) {
  amx_emu_check_tile("TILESTORED", t);
  for (int r = 0; r < amx_emu.rows[t]; r++)
    memcpy((uint8_t *)base + (size_t)r * stride, amx_emu.data[t][r],
           amx_emu.colsb[t]);
}

/* TDPB<x><y>D c, a, b: the dot products of the file comment. a_signed and
 * b_signed select the signedness of a's and b's bytes; insn names the
 * instruction in fault messages. */
static inline void amx_emu_dp(const char *insn, int c, int a, int b,
                              int a_signed, int b_signed) {
  amx_emu_check_tile(insn, c);
  amx_emu_check_tile(insn, a);
  amx_emu_check_tile(insn, b);
  if (c == a || c == b || a == b)
    amx_emu_fault(insn, c, "the three tile operands are not distinct");
  if (amx_emu.colsb[c] % 4 != 0 || amx_emu.colsb[a] % 4 != 0)
    amx_emu_fault(insn, c, "colsb of the accumulator or of A not a multiple of 4");
  if (amx_emu.rows[a] != amx_emu.rows[c])
    amx_emu_fault(insn, a, "rows of A differ from rows of the accumulator");
  if (amx_emu.colsb[b] != amx_emu.colsb[c])
    amx_emu_fault(insn, b, "colsb of B differs from colsb of the accumulator");
  if (amx_emu.colsb[a] / 4 != amx_emu.rows[b])
    amx_emu_fault(insn, b, "rows of B differ from colsb of A / 4");

  const int rows = amx_emu.rows[c], cols = amx_emu.colsb[c] / 4;
  const int ks = amx_emu.colsb[a] / 4;
  for (int m = 0; m < rows; m++) {
    uint8_t *crow = amx_emu.data[c][m];
    const uint8_t *arow = amx_emu.data[a][m];
    for (int n = 0; n < cols; n++) {
      uint32_t acc = amx_emu_dword(crow, n);
      for (int k = 0; k < ks; k++) {
        const uint8_t *brow = amx_emu.data[b][k];
        for (int i = 0; i < 4; i++) {
          const int32_t x = a_signed ? (int8_t)arow[4 * k + i] : arow[4 * k + i];
          const int32_t y = b_signed ? (int8_t)brow[4 * n + i] : brow[4 * n + i];
          acc += (uint32_t)(x * y); /* each product fits int32; the sum wraps */
        }
      }
      for (int i = 0; i < 4; i++)
        crow[4 * n + i] = (uint8_t)(acc >> (8 * i));
    }
  }
}

#endif /* SDQ_AMX_EMU_H */
