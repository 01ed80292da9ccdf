/* amx_tile.h - the tile operations the AMX kernel uses, as one thin layer:
 * the AMX intrinsics in the library, or the plain-C model of amx_emu.h when
 * SDQ_AMX_EMULATE is defined (test builds only).
 *
 * Tile numbers passed to these macros must be integer literals (or macros
 * expanding to one literal, without parentheses), because GCC's intrinsics
 * paste them into the instruction text.
 */
#ifndef SDQ_AMX_TILE_H
#define SDQ_AMX_TILE_H

#include <stdint.h>

/* The 64-byte LDTILECFG operand for palette 1 (tiles 0..7 are used). */
typedef struct amx_tilecfg {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16]; /* bytes per row of tile t */
  uint8_t rows[16];   /* rows of tile t */
} amx_tilecfg;

_Static_assert(sizeof(amx_tilecfg) == 64, "LDTILECFG reads 64 bytes");

#ifdef SDQ_AMX_EMULATE

#include "amx_emu.h"
#include "sdq_kernels.h"

/* qgemm_i8_nt of quant_amx.c on the emulated tiles, for every M >= 1 (the
 * library's AMX entry hands M < 16 to the VNNI kernel instead). Contract as
 * sdq_qgemm_i8_nt_fn; returns -1 also when this CPU cannot run the AVX-512
 * VNNI variant, whose quantize_rows it uses. */
int sdq_qgemm_i8_nt_amx_emulated(int M, const float *A, int lda, int act_bits,
                                 const struct sdq_qmatrix *W, float beta,
                                 float *C, int ldc);

#define AMX_LOADCONFIG(cfg) amx_emu_loadconfig(cfg)
#define AMX_RELEASE() amx_emu_release()
#define AMX_ZERO(t) amx_emu_zero(t)
#define AMX_LOAD(t, base, stride) amx_emu_loadd(t, base, (size_t)(stride))
#define AMX_STORE(t, base, stride) amx_emu_stored(t, base, (size_t)(stride))
#define AMX_DPBSSD(c, a, b) amx_emu_dp("TDPBSSD", c, a, b, 1, 1)
#define AMX_MEMORY_BARRIER() ((void)0)

#else

#include <immintrin.h>

#define AMX_LOADCONFIG(cfg) _tile_loadconfig(cfg)
#define AMX_RELEASE() _tile_release()
#define AMX_ZERO(t) _tile_zero(t)
#define AMX_LOAD(t, base, stride) _tile_loadd(t, base, stride)
#define AMX_STORE(t, base, stride) _tile_stored(t, base, stride)
#define AMX_DPBSSD(c, a, b) _tile_dpbssd(c, a, b)
/* GCC 12's tileloadd asm declares no memory input, so the compiler may move
 * plain stores across it. Put this barrier between writing a buffer and
 * loading tiles from it. (tilestored clobbers memory already.) */
#define AMX_MEMORY_BARRIER() __asm__ volatile("" ::: "memory")

#endif

#endif /* SDQ_AMX_TILE_H */
