/* sdq_pack.h - packed layouts of quantized weight rows (2, 4, 6 and 8 bits).
 *
 * One layout serves every ISA variant (scalar, AVX2, AVX-512, VNNI, AMX,
 * NEON), so a matrix packed once runs everywhere.
 *
 * Stored values. Each quantized value q in [-qmax, qmax] is stored as the
 * unsigned field u = q + offset with offset = 2^(bits-1) (sdq_pack_offset),
 * so u lies in [1, 2^bits - 1]. Unsigned fields unpack with a shift and a
 * mask and feed an unsigned 8-bit operand (vpdpbusd, vpmaddubsw) directly.
 *
 * Rows and groups. A row of cols values is padded with q = 0 (u = offset) to
 * cols_padded = cols rounded up to SDQ_PACK_GROUP = 64 values. Each group of
 * 64 values takes 8 * bits bytes (sdq_packed_group_bytes), and groups
 * follow each other in k order.
 * Row n starts at byte n * sdq_packed_row_bytes(cols, bits). For value j
 * (0..63) of a group starting at byte g:
 *
 *   8 bits (64 bytes): byte g + j contains u[j].
 *   4 bits (32 bytes): byte g + (j % 32) contains u[j] in bits 4*(j / 32) ..
 *                      4*(j / 32) + 3, so one 32-byte load masked with 0x0f
 *                      gives values 0..31 and shifted right by 4 gives 32..63.
 *   2 bits (16 bytes): byte g + (j % 16) contains u[j] in bits 2*(j / 16) ..
 *                      2*(j / 16) + 1, so four shifts (0, 2, 4, 6) of one
 *                      16-byte load, masked with 0x03, give values 0..15,
 *                      16..31, 32..47 and 48..63.
 *   6 bits (48 bytes): the low 4 bits of every u in the 4-bit layout (32
 *                      bytes), followed by the high 2 bits of every u in the
 *                      2-bit layout (16 bytes): u = lo | hi << 4.
 *
 * Odd widths use the next even layout: 3, 5 and 7 bits are stored exactly
 * as 4, 6 and 8 bits (sdq_pack_container_bits), offset included.
 *
 * Both GEMM directions read W row by row: Y = X*W^T takes dot products of
 * activation rows with W rows, and dX = dY*W accumulates scaled W rows, so a
 * k-slice of any row unpacks independently (slices start at group borders).
 */
#ifndef SDQ_PACK_H
#define SDQ_PACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values per packed group; a row is padded to a multiple of it. */
#define SDQ_PACK_GROUP 64

/* Largest cols sdq_qmatrix_init accepts: the integer GEMM sums up to cols
 * products of an unsigned weight field (<= 255) and a signed activation
 * (|qa| <= 127) in int32, which cannot overflow for cols <= 65536. */
#define SDQ_QMATRIX_MAX_COLS 65536

/* Returns the layout width used for bits (2..8): bits rounded up to even. */
static inline int sdq_pack_container_bits(int bits) { return bits + (bits & 1); }

/* Returns the field offset 2^(c-1) for the container width c of bits. */
static inline int sdq_pack_offset(int bits) {
  return 1 << (sdq_pack_container_bits(bits) - 1);
}

/* Returns cols rounded up to a multiple of SDQ_PACK_GROUP. */
static inline int sdq_pack_cols_padded(int cols) {
  return (cols + SDQ_PACK_GROUP - 1) / SDQ_PACK_GROUP * SDQ_PACK_GROUP;
}

/* Returns the bytes of one packed row (bits in 2..8, cols > 0). */
static inline size_t sdq_packed_row_bytes(int cols, int bits) {
  return (size_t)(sdq_pack_cols_padded(cols) / SDQ_PACK_GROUP) * 8u *
         (size_t)sdq_pack_container_bits(bits);
}

/* Returns the bytes of one packed group of 64 values. */
static inline size_t sdq_packed_group_bytes(int bits) {
  return 8u * (size_t)sdq_pack_container_bits(bits);
}

/* Returns the bytes of a packed matrix of rows x cols. */
static inline size_t sdq_packed_bytes(int rows, int cols, int bits) {
  return (size_t)rows * sdq_packed_row_bytes(cols, bits);
}

/* Packs q[cols] (each in [-qmax, qmax] for bits) into dst, which receives
 * sdq_packed_row_bytes(cols, bits) bytes including the padding. */
void sdq_pack_row(const int8_t *q, int cols, int bits, uint8_t *dst);

/* Unpacks cols values of a packed row into q[cols] (the inverse of
 * sdq_pack_row; the padding is not written). */
void sdq_unpack_row(const uint8_t *src, int cols, int bits, int8_t *q);

/* Unpacks one group (SDQ_PACK_GROUP values) starting at src into the
 * unsigned fields u[64] = q + offset. A group of row n and group index g
 * starts at byte n * sdq_packed_row_bytes + g * sdq_packed_group_bytes. */
void sdq_unpack_group_u8(const uint8_t *src, int bits, uint8_t *u);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_PACK_H */
