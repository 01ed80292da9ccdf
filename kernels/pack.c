/* pack.c - scalar packing and unpacking of quantized rows (see sdq_pack.h). */
#include "sdq_pack.h"

#include <string.h>

/* Writes the 64 unsigned fields u[] of one group in the layout for bits. */
static void pack_group(const uint8_t *u, int bits, uint8_t *dst) {
  switch (sdq_pack_container_bits(bits)) {
  case 8:
    memcpy(dst, u, 64);
    break;
  case 4:
    for (int j = 0; j < 32; j++)
      dst[j] = (uint8_t)(u[j] | u[j + 32] << 4);
    break;
  case 2:
    for (int j = 0; j < 16; j++)
      dst[j] = (uint8_t)(u[j] | u[j + 16] << 2 | u[j + 32] << 4 |
                         u[j + 48] << 6);
    break;
  case 6:
    for (int j = 0; j < 32; j++)
      dst[j] = (uint8_t)((u[j] & 0x0f) | (u[j + 32] & 0x0f) << 4);
    for (int j = 0; j < 16; j++)
      dst[32 + j] = (uint8_t)(u[j] >> 4 | (u[j + 16] >> 4) << 2 |
                              (u[j + 32] >> 4) << 4 | (u[j + 48] >> 4) << 6);
    break;
  default: /* not a container width; callers never pass one */
    break;
  }
}

void sdq_unpack_group_u8(const uint8_t *src, int bits, uint8_t *u) {
  switch (sdq_pack_container_bits(bits)) {
  case 8:
    memcpy(u, src, 64);
    break;
  case 4:
    for (int j = 0; j < 32; j++) {
      u[j] = src[j] & 0x0f;
      u[j + 32] = src[j] >> 4;
    }
    break;
  case 2:
    for (int j = 0; j < 16; j++) {
      u[j] = src[j] & 3;
      u[j + 16] = (src[j] >> 2) & 3;
      u[j + 32] = (src[j] >> 4) & 3;
      u[j + 48] = src[j] >> 6;
    }
    break;
  case 6:
    for (int j = 0; j < 32; j++) {
      u[j] = src[j] & 0x0f;
      u[j + 32] = src[j] >> 4;
    }
    for (int j = 0; j < 16; j++) {
      const uint8_t hi = src[32 + j];
      u[j] |= (uint8_t)((hi & 3) << 4);
      u[j + 16] |= (uint8_t)(((hi >> 2) & 3) << 4);
      u[j + 32] |= (uint8_t)(((hi >> 4) & 3) << 4);
      u[j + 48] |= (uint8_t)((hi >> 6) << 4);
    }
    break;
  default:
    memset(u, 0, 64);
    break;
  }
}

void sdq_pack_row(const int8_t *q, int cols, int bits, uint8_t *dst) {
  const int offset = sdq_pack_offset(bits);
  const size_t group_bytes = sdq_packed_group_bytes(bits);
  uint8_t u[SDQ_PACK_GROUP];

  for (int k0 = 0; k0 < cols; k0 += SDQ_PACK_GROUP) {
    for (int j = 0; j < SDQ_PACK_GROUP; j++)
      u[j] = (uint8_t)(k0 + j < cols ? q[k0 + j] + offset : offset);
    pack_group(u, bits, dst);
    dst += group_bytes;
  }
}

void sdq_unpack_row(const uint8_t *src, int cols, int bits, int8_t *q) {
  const int offset = sdq_pack_offset(bits);
  const size_t group_bytes = sdq_packed_group_bytes(bits);
  uint8_t u[SDQ_PACK_GROUP];

  for (int k0 = 0; k0 < cols; k0 += SDQ_PACK_GROUP) {
    sdq_unpack_group_u8(src, bits, u);
    for (int j = 0; j < SDQ_PACK_GROUP && k0 + j < cols; j++)
      q[k0 + j] = (int8_t)(u[j] - offset);
    src += group_bytes;
  }
}
