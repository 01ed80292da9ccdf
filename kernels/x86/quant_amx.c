/* quant_amx.c - AMX-INT8 variant of the integer GEMM (qgemm_i8_nt) on
 * 16 x 64-byte tiles; the other kernels come from the AVX-512 VNNI variant.
 *
 * Compiled twice: into the library with the AMX flags, and with
 * SDQ_AMX_EMULATE into a test-only library where the tile operations run on
 * the plain-C model of amx_emu.h (see amx_tile.h).
 *
 * The GEMM works in four steps:
 *   1. A is quantized per token (the AVX-512 variant's quantize_rows, so the
 *      integers and scales equal every other variant's) into rows of Kp
 *      bytes, Kp = K rounded up to 64, zero past K. Rows are padded with zero
 *      rows to Mp = M rounded up to 16, so every A tile has 16 full rows.
 *      A tile (i, g) is rows 16 i .. 16 i + 15 and bytes 64 g .. 64 g + 63,
 *      loaded with stride Kp.
 *   2. Per block of output channels, the packed W rows are unpacked once into
 *      W strips of 16 channels (zero past N). A strip contains Kp / 64 B tiles
 *      of 16 rows x 64 bytes in the VNNI layout: byte 4 j + b of row r of
 *      tile g is q[n0 + j][64 g + 4 r + b], the signed weight q = u - offset.
 *   3. A 2x2 block of int32 accumulator tiles (32 rows x 32 channels) runs
 *      over all Kp / 64 groups: two A tiles, two B tiles, four TDPBSSD.
 *      Blocks at the M or N edge use one row tile or one strip.
 *   4. The accumulators go through an int32 buffer and are rescaled once,
 *      in the scalar reference's order (sdq_i8_rescale).
 * Both operands are signed (TDPBSSD), so each int32 sum is the dot product
 * sum_k qa[m,k] * q[n,k] itself. The VNNI kernel computes sum u * qa and
 * then subtracts offset * sum(qa). Both are exact in int32 because
 * sdq_pack.h bounds K, so the outputs are identical bit for bit.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "amx_tile.h"
#include "internal.h"
#include "sdq_pack.h"

#define AMX_INLINE static inline __attribute__((always_inline))

/* Tile shape: 16 rows x 64 bytes, so 64 k per A tile and 16 channels per B
 * tile and per accumulator row. */
#define AMX_ROWS 16
#define AMX_GROUP 64
#define AMX_TILE_BYTES (AMX_ROWS * AMX_GROUP)

/* Tile registers of the 2x2 block: accumulators C<row><strip>, A tiles of
 * the two row tiles and B tiles of the two strips. Plain literals, because
 * GCC pastes them into the instruction text. */
#define T_C00 0
#define T_C01 1
#define T_C10 2
#define T_C11 3
#define T_A0 4
#define T_A1 5
#define T_B0 6
#define T_B1 7

/* Rows and channels of a 2x2 block, which is also the shape of the int32
 * buffer its accumulators are stored to. */
#define BLOCK_M (2 * AMX_ROWS)
#define BLOCK_N (2 * AMX_ROWS)

/* Target bytes of one thread's W block (it stays in L2 while the A row
 * tiles stream past it). */
#define AMX_W_BLOCK_BYTES (512 * 1024)

/* Below this many multiply-adds (M * N * K) the GEMM runs on one thread. */
#define AMX_PARALLEL_MIN_MACS (1 << 21)

/* Palette 1, every tile 16 rows x 64 bytes. A constant, so no store to it
 * can be lost: GCC 12's _tile_loadconfig declares only 8 bytes as read. */
static const amx_tilecfg amx_cfg_16x64 __attribute__((aligned(64))) = {
    .palette_id = 1,
    .colsb = {AMX_GROUP, AMX_GROUP, AMX_GROUP, AMX_GROUP, AMX_GROUP,
              AMX_GROUP, AMX_GROUP, AMX_GROUP},
    .rows = {AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS,
             AMX_ROWS, AMX_ROWS},
};

static inline __mmask16 amx_tail_mask16(int n) {
  if (n <= 0)
    return 0;
  return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* ------------------------------------------------------- W strips (step 2) */

/* Returns the 4-bit fields of 32 packed bytes: values 0..31 from the low
 * nibbles, 32..63 from the high ones (sdq_pack.h). */
AMX_INLINE __m512i amx_unpack_nibbles(const uint8_t *src) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i v = _mm256_loadu_si256((const __m256i *)src);
  const __m256i lo = _mm256_and_si256(v, low4);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Returns the 2-bit fields of 16 packed bytes: 128-bit lane L of the result
 * is the fields at bits 2 L .. 2 L + 1, i.e. values 16 L .. 16 L + 15. */
AMX_INLINE __m512i amx_unpack_pairs(const uint8_t *src) {
  const __m512i shifts =
      _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
  const __m512i v =
      _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)src));
  /* bits shifted in from the next byte land above bit 1 and are masked off */
  return _mm512_and_si512(_mm512_srlv_epi32(v, shifts), _mm512_set1_epi8(0x03));
}

/* Returns the 64 unsigned fields u of the packed group at src, in k order,
 * for the container width cbits (2, 4, 6 or 8). */
AMX_INLINE __m512i amx_unpack_group(const uint8_t *src, int cbits) {
  switch (cbits) {
  case 8:
    return _mm512_loadu_si512(src);
  case 4:
    return amx_unpack_nibbles(src);
  case 2:
    return amx_unpack_pairs(src);
  default: /* 6: low 4 bits in the 4-bit layout, then high 2 bits */
    return _mm512_or_si512(amx_unpack_nibbles(src),
                           _mm512_slli_epi16(amx_unpack_pairs(src + 32), 4));
  }
}

/* Transposes the 16 x 16 int32 matrix whose row i is r[i], in place. Step d
 * swaps the off-diagonal d x d blocks of every 2d x 2d block: lanes l with
 * bit d set in row i (bit d clear) trade places with lanes l - d of row
 * i + d. After d = 8, 4, 2, 1 every element (i, l) is at (l, i). */
AMX_INLINE void amx_transpose16x16_epi32(__m512i r[16]) {
  const __m512i lane =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int d = 8; d >= 1; d /= 2) {
    const __mmask16 upper = _mm512_test_epi32_mask(lane, _mm512_set1_epi32(d));
    /* indices >= 16 select from the second operand (row i + d) */
    const __m512i take_lo =
        _mm512_mask_add_epi32(lane, upper, lane, _mm512_set1_epi32(16 - d));
    const __m512i take_hi =
        _mm512_mask_add_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(d)),
                              upper, lane, _mm512_set1_epi32(16));
    for (int i = 0; i < 16; i++) {
      if (i & d)
        continue;
      const __m512i a = r[i], b = r[i + d];
      r[i] = _mm512_permutex2var_epi32(a, take_lo, b);
      r[i + d] = _mm512_permutex2var_epi32(a, take_hi, b);
    }
  }
}

/* Writes the W strip of channels n0 .. n0 + 15 (layout in the file comment)
 * into strip, Kp / 64 tiles of AMX_TILE_BYTES; channels >= N are zero. */
static void amx_pack_w_strip(const sdq_qmatrix *W, int n0, int Kp, int cbits,
                             uint8_t *strip) {
  const int N = W->rows;
  const size_t row_bytes = sdq_packed_row_bytes(W->cols, W->bits);
  const size_t group_bytes = sdq_packed_group_bytes(W->bits);
  /* u - offset as a byte; for offset 128 the wrap-around gives the same */
  const __m512i offset = _mm512_set1_epi8((char)(1 << (cbits - 1)));

  for (int g = 0; g < Kp / AMX_GROUP; g++) {
    __m512i r[16];
    for (int j = 0; j < 16; j++) {
      if (n0 + j >= N) {
        r[j] = _mm512_setzero_si512();
        continue;
      }
      const uint8_t *src =
          W->packed + (size_t)(n0 + j) * row_bytes + (size_t)g * group_bytes;
      r[j] = _mm512_sub_epi8(amx_unpack_group(src, cbits), offset);
    }
    /* row j = channel j in 16 dwords of 4 k; after the transpose row r
     * contains dword r (k = 4 r .. 4 r + 3) of all 16 channels */
    amx_transpose16x16_epi32(r);
    for (int row = 0; row < 16; row++)
      _mm512_store_si512(strip + (size_t)g * AMX_TILE_BYTES + 64 * row,
                         r[row]);
  }
}

/* ---------------------------------------------------- tile block (step 3) */

/* Accumulates one block over all groups and stores its int32 sums into
 * out[BLOCK_M][BLOCK_N]: rows 0..15 (and 16..31 when two_m) of the A rows at
 * qa (stride Kp), channels 0..15 of strip w0 (and 16..31 of strip w1 when
 * two_n). two_m and two_n are constants at each call, so the branches fold.
 * Needs the 16 x 64 configuration loaded in this thread. */
AMX_INLINE void amx_block(const int8_t *qa, int Kp, const uint8_t *w0,
                          const uint8_t *w1, int two_m, int two_n,
                          int32_t *out) {
  const int groups = Kp / AMX_GROUP;
  const size_t out_stride = BLOCK_N * sizeof(int32_t);

  AMX_MEMORY_BARRIER();
  AMX_ZERO(T_C00);
  if (two_n)
    AMX_ZERO(T_C01);
  if (two_m)
    AMX_ZERO(T_C10);
  if (two_m && two_n)
    AMX_ZERO(T_C11);

  for (int g = 0; g < groups; g++) {
    const size_t k0 = (size_t)g * AMX_GROUP;
    const size_t b0 = (size_t)g * AMX_TILE_BYTES;
    AMX_LOAD(T_A0, qa + k0, Kp);
    if (two_m)
      AMX_LOAD(T_A1, qa + (size_t)AMX_ROWS * (size_t)Kp + k0, Kp);
    AMX_LOAD(T_B0, w0 + b0, AMX_GROUP);
    if (two_n)
      AMX_LOAD(T_B1, w1 + b0, AMX_GROUP);
    AMX_DPBSSD(T_C00, T_A0, T_B0);
    if (two_n)
      AMX_DPBSSD(T_C01, T_A0, T_B1);
    if (two_m)
      AMX_DPBSSD(T_C10, T_A1, T_B0);
    if (two_m && two_n)
      AMX_DPBSSD(T_C11, T_A1, T_B1);
  }

  AMX_STORE(T_C00, out, out_stride);
  if (two_n)
    AMX_STORE(T_C01, out + AMX_ROWS, out_stride);
  if (two_m)
    AMX_STORE(T_C10, out + AMX_ROWS * BLOCK_N, out_stride);
  if (two_m && two_n)
    AMX_STORE(T_C11, out + AMX_ROWS * BLOCK_N + AMX_ROWS, out_stride);
}

/* Writes rows 0 .. mr - 1 and channels 0 .. nr - 1 (mr, nr <= 32) of C from
 * out[BLOCK_M][BLOCK_N]: C = ((float)acc * scale_a) * scale_w, or
 * beta * C + that with one rounding, as sdq_i8_rescale. */
static void amx_store_block(const int32_t *out, int mr, int nr,
                            const float *scale_a, const float *scale_w,
                            float beta, float *C, int ldc) {
  __mmask16 mask[2];
  __m512 sw[2];
  for (int h = 0; h < 2; h++) {
    mask[h] = amx_tail_mask16(nr - 16 * h);
    sw[h] = _mm512_maskz_loadu_ps(mask[h], scale_w + 16 * h);
  }
  for (int i = 0; i < mr; i++) {
    const __m512 sa = _mm512_set1_ps(scale_a[i]);
    float *c = C + (size_t)i * (size_t)ldc;
    for (int h = 0; h < 2 && mask[h] != 0; h++) {
      const __m512i acc = _mm512_loadu_si512(out + i * BLOCK_N + 16 * h);
      const __m512 t =
          _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), sa), sw[h]);
      if (beta == 0.0f)
        _mm512_mask_storeu_ps(c + 16 * h, mask[h], t);
      else
        _mm512_mask_storeu_ps(
            c + 16 * h, mask[h],
            _mm512_fmadd_ps(_mm512_set1_ps(beta),
                            _mm512_maskz_loadu_ps(mask[h], c + 16 * h), t));
    }
  }
}

/* Computes and writes the block of rows m0 .. and strips s, s + 1 (s + 1
 * only when it exists), choosing the block shape at the edges. */
static void amx_gemm_block(const int8_t *qa, int Kp, int M, int m0, int N,
                           int s, const uint8_t *strip0, size_t strip_bytes,
                           const float *scale_a, const float *scale_w,
                           float beta, float *C, int ldc, int32_t *out) {
  const int mr = M - m0 < BLOCK_M ? M - m0 : BLOCK_M;
  const int n0 = s * AMX_ROWS;
  const int nr = N - n0 < BLOCK_N ? N - n0 : BLOCK_N;
  const int8_t *a = qa + (size_t)m0 * (size_t)Kp;
  const uint8_t *strip1 = strip0 + strip_bytes;
  const int two_m = mr > AMX_ROWS, two_n = nr > AMX_ROWS;

  if (two_m && two_n)
    amx_block(a, Kp, strip0, strip1, 1, 1, out);
  else if (two_m)
    amx_block(a, Kp, strip0, NULL, 1, 0, out);
  else if (two_n)
    amx_block(a, Kp, strip0, strip1, 0, 1, out);
  else
    amx_block(a, Kp, strip0, NULL, 0, 0, out);

  amx_store_block(out, mr, nr, scale_a + m0, scale_w + n0, beta,
                  C + (size_t)m0 * (size_t)ldc + n0, ldc);
}

/* ------------------------------------------------------------- the GEMM */

/* qgemm_i8_nt on tiles for every M >= 1 (the steps of the file comment);
 * quantize is the quantize_rows kernel used for A. Returns the number of
 * rows of A containing NaN or +-inf, or -1 for act_bits outside 2..8 or
 * when the workspace cannot be allocated. */
static int amx_qgemm_i8_nt_tiles(int M, const float *A, int lda, int act_bits,
                                 const sdq_qmatrix *W, float beta, float *C,
                                 int ldc, sdq_quantize_rows_fn quantize) {
  if (sdq_qmax(act_bits) == 0)
    return -1;
  if (M <= 0)
    return 0;

  const int N = W->rows, K = W->cols, Kp = sdq_pack_cols_padded(K);
  const int cbits = sdq_pack_container_bits(W->bits);
  const int Mp = (M + AMX_ROWS - 1) / AMX_ROWS * AMX_ROWS;
  const int mblocks = (M + BLOCK_M - 1) / BLOCK_M;
  const int strips = (N + AMX_ROWS - 1) / AMX_ROWS;
  const int pairs = (strips + 1) / 2;
  const size_t strip_bytes = (size_t)AMX_ROWS * (size_t)Kp;
#ifdef _OPENMP
  const int threads =
      (double)M * N * K >= AMX_PARALLEL_MIN_MACS && !omp_in_parallel()
          ? omp_get_max_threads()
          : 1;
#else
  const int threads = 1;
#endif

  /* work items: a W block of strip pairs times a range of row blocks; M is
   * split too when N gives fewer than two W blocks per thread */
  int wb = (int)(AMX_W_BLOCK_BYTES / (2 * strip_bytes));
  if (wb < 1)
    wb = 1;
  if (wb > (pairs + threads - 1) / threads)
    wb = (pairs + threads - 1) / threads;
  const int nblocks = (pairs + wb - 1) / wb;
  int msplit = 1;
  if (nblocks < 2 * threads && mblocks > 1) {
    msplit = (2 * threads + nblocks - 1) / nblocks;
    if (msplit > mblocks)
      msplit = mblocks;
  }
  const int mblocks_per_item = (mblocks + msplit - 1) / msplit;

  /* workspace: the A rows, then per thread a W block and the int32 buffer */
  const size_t qa_bytes = (size_t)Mp * (size_t)Kp;
  const size_t wblock_bytes = 2 * strip_bytes * (size_t)wb;
  const size_t thread_bytes =
      wblock_bytes + (size_t)BLOCK_M * BLOCK_N * sizeof(int32_t);
  uint8_t *work = aligned_alloc(64, qa_bytes + thread_bytes * (size_t)threads);
  float *scale_a = malloc((size_t)M * sizeof(float));
  if (work == NULL || scale_a == NULL) {
    free(work);
    free(scale_a);
    return -1;
  }
  int8_t *qa = (int8_t *)work;
  int bad = 0;

#pragma omp parallel num_threads(threads) if (threads > 1) reduction(+ : bad)
  {
#ifdef _OPENMP
    uint8_t *wblock = work + qa_bytes + thread_bytes * (size_t)omp_get_thread_num();
#else
    uint8_t *wblock = work + qa_bytes;
#endif
    int32_t *out = (int32_t *)(wblock + wblock_bytes);

    /* 1. A rows, zero-padded to Kp bytes and to Mp rows */
#pragma omp for schedule(static)
    for (int m = 0; m < Mp; m++) {
      int8_t *q = qa + (size_t)m * (size_t)Kp;
      if (m >= M) {
        memset(q, 0, (size_t)Kp);
        continue;
      }
      bad += quantize(A + (size_t)m * (size_t)lda, 1, K, lda, act_bits, q,
                      &scale_a[m]);
      memset(q + K, 0, (size_t)(Kp - K));
    }

    /* the tile configuration belongs to each thread */
    AMX_LOADCONFIG(&amx_cfg_16x64);

    /* 2 to 4. work items, W block major, so a thread packs a W block once
     * for consecutive items of the same block.
     * NOTE: W is unpacked into tiles on every call, one extra pass over W;
     * a tile copy kept in sdq_qmatrix would remove it for repeated calls. */
    int packed_nb = -1;
#pragma omp for schedule(static)
    for (int w = 0; w < nblocks * msplit; w++) {
      const int nb = w / msplit, mw = w % msplit;
      const int p0 = nb * wb, p1 = p0 + wb < pairs ? p0 + wb : pairs;
      if (nb != packed_nb) {
        for (int s = 2 * p0; s < 2 * p1 && s < strips; s++)
          amx_pack_w_strip(W, s * AMX_ROWS, Kp, cbits,
                           wblock + strip_bytes * (size_t)(s - 2 * p0));
        packed_nb = nb;
      }
      const int b_begin = mw * mblocks_per_item;
      const int b_end = b_begin + mblocks_per_item < mblocks
                            ? b_begin + mblocks_per_item
                            : mblocks;
      for (int b = b_begin; b < b_end; b++)
        for (int p = p0; p < p1; p++)
          amx_gemm_block(qa, Kp, M, b * BLOCK_M, N, 2 * p,
                         wblock + 2 * strip_bytes * (size_t)(p - p0),
                         strip_bytes, scale_a, W->scale, beta, C, ldc, out);
    }

    AMX_RELEASE();
  }

  free(work);
  free(scale_a);
  return bad;
}

#ifdef SDQ_AMX_EMULATE

int sdq_qgemm_i8_nt_amx_emulated(int M, const float *A, int lda, int act_bits,
                                 const sdq_qmatrix *W, float beta, float *C,
                                 int ldc) {
  const sdq_kernel_table *t = sdq_kernel_table_for(SDQ_ISA_AVX512VNNI);
  if (t == NULL)
    return -1;
  return amx_qgemm_i8_nt_tiles(M, A, lda, act_bits, W, beta, C, ldc,
                               t->quantize_rows);
}

#else

/* Below this many rows of A the tiles would mostly multiply padding rows
 * and repack W for little reuse, so the VNNI kernel runs instead.
 * NOTE: a guess, not measured: no AMX machine was available to tune it. */
#define AMX_MIN_M 16

/* The kernels of the next lower variant (AVX-512 VNNI), saved when the AMX
 * table is built. */
static sdq_qgemm_i8_nt_fn vnni_qgemm_i8_nt;
static sdq_quantize_rows_fn avx512_quantize_rows;

static int qgemm_i8_nt_amx(int M, const float *A, int lda, int act_bits,
                           const sdq_qmatrix *W, float beta, float *C,
                           int ldc) {
  if (M < AMX_MIN_M)
    return vnni_qgemm_i8_nt(M, A, lda, act_bits, W, beta, C, ldc);
  return amx_qgemm_i8_nt_tiles(M, A, lda, act_bits, W, beta, C, ldc,
                               avx512_quantize_rows);
}

void sdq_register_quant_amx(sdq_kernel_table *t) {
  vnni_qgemm_i8_nt = t->qgemm_i8_nt;
  avx512_quantize_rows = t->quantize_rows;
  t->qgemm_i8_nt = qgemm_i8_nt_amx;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_AMX;
}

#endif
