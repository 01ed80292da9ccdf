/* sdq_kernels.h - public C API of the sdq kernel layer.
 *
 * Every kernel has a portable scalar reference and SIMD variants (AVX2,
 * AVX-512, AVX-512 VNNI, AMX, NEON, NEON dotprod). One dispatch table per
 * variant is filled at start-up; sdq_kernels() returns the active one, chosen
 * from the CPU (CPUID + XGETBV on x86, getauxval(AT_HWCAP) on Linux/aarch64)
 * or forced lower with the environment variable SDQ_ISA.
 *
 * Conventions used by every kernel:
 * - Matrices are row-major fp32 with an explicit leading dimension (the
 *   distance in elements between the starts of two rows).
 * - GEMMs compute C = beta*C + op(A)*op(B). beta == 0 never reads C, so C may
 *   hold garbage (even NaN) on entry.
 * - Quantization is symmetric MinMax. For b bits, qmax = 2^(b-1) - 1,
 *   scale = max|x| / qmax per row (per output channel for a weight matrix
 *   stored [N, K], per token for an activation matrix stored [M, K]), and
 *   q = clamp(rint(x * (1 / scale)), -qmax, qmax). rint() rounds half to even
 *   in the default floating-point environment; every variant multiplies by
 *   the same fp32 reciprocal, so all variants give identical integers.
 *   An all-zero row has scale 0 and q = 0. A row containing NaN or +-inf is
 *   not quantized: its scale is set to NaN and its q to 0, and the function
 *   reports it (see sdq_quantize_rows).
 * - Bits 2..8 are quantized; the kernels reject any other value.
 */
#ifndef SDQ_KERNELS_H
#define SDQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ ISAs */

typedef enum sdq_isa {
  SDQ_ISA_SCALAR = 0,
  SDQ_ISA_AVX2,       /* AVX2 + FMA */
  SDQ_ISA_AVX512,     /* AVX-512 F/BW/VL/DQ */
  SDQ_ISA_AVX512VNNI, /* AVX-512 + VNNI (vpdpbusd) */
  SDQ_ISA_AMX,        /* AVX-512 VNNI + AMX-INT8 tiles */
  SDQ_ISA_NEON,       /* AArch64 Advanced SIMD */
  SDQ_ISA_NEONDOT,    /* AArch64 Advanced SIMD + dotprod (sdot) */
  SDQ_ISA_COUNT
} sdq_isa;

/* Returns the lower-case name used by SDQ_ISA ("scalar", "avx2", ...). */
const char *sdq_isa_name(sdq_isa isa);

/* Parses an SDQ_ISA name. Returns 0 and sets *isa, or -1 for an unknown name. */
int sdq_isa_parse(const char *name, sdq_isa *isa);

/* Returns 1 when this build contains the variant and the CPU and OS can run
 * it (for AVX/AVX-512/AMX that includes the XGETBV register-state check and,
 * for AMX, the Linux arch_prctl permission request). */
int sdq_isa_supported(sdq_isa isa);

/* Returns the best supported variant. */
sdq_isa sdq_isa_best(void);

/* Writes a one-line, human-readable list of the CPU features found
 * (e.g. "avx2 fma avx512f avx512bw avx512vl avx512vnni") into buf. */
void sdq_cpu_features(char *buf, size_t len);

/* ------------------------------------------------------- the kernel table */

/* C[M,N] = beta*C + A[M,K] * B[N,K]^T   (Y = X*W^T, the forward pass) */
typedef void (*sdq_sgemm_nt_fn)(int M, int N, int K, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C,
                                int ldc);
/* C[M,N] = beta*C + A[M,K] * B[K,N]     (dX = dY*W, backward to the input) */
typedef void (*sdq_sgemm_nn_fn)(int M, int N, int K, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C,
                                int ldc);
/* C[M,N] = beta*C + A[K,M]^T * B[K,N]   (dW = dY^T*X, weight gradient) */
typedef void (*sdq_sgemm_tn_fn)(int M, int N, int K, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C,
                                int ldc);

struct sdq_qmatrix;

/* Packed-weight GEMM with fp32 activations (weights dequantized in registers):
 * C[M,N] = beta*C + A[M,K] * dequant(W)[N,K]^T */
typedef void (*sdq_qgemm_f32_nt_fn)(int M, const float *A, int lda,
                                    const struct sdq_qmatrix *W, float beta,
                                    float *C, int ldc);
/* C[M,K] = beta*C + A[M,N] * dequant(W)[N,K]    (backward to the input) */
typedef void (*sdq_qgemm_f32_nn_fn)(int M, const float *A, int lda,
                                    const struct sdq_qmatrix *W, float beta,
                                    float *C, int ldc);
/* Integer GEMM: A is quantized per token to act_bits (2..8) on the fly, the
 * dot products run in int32, and the result is rescaled:
 * C[M,N] = beta*C + sum_k qa[m,k]*qw[n,k] * scale_a[m] * scale_w[n].
 * It equals sgemm_nt on the fake-quantized A and W up to fp32 rounding of
 * the final rescale. Returns the number of rows of A that held NaN/inf
 * (their outputs are NaN), or -1 when workspace allocation failed. */
typedef int (*sdq_qgemm_i8_nt_fn)(int M, const float *A, int lda, int act_bits,
                                  const struct sdq_qmatrix *W, float beta,
                                  float *C, int ldc);

/* See sdq_quantize_rows. */
typedef int (*sdq_quantize_rows_fn)(const float *x, int rows, int cols, int ld,
                                    int bits, int8_t *q, float *scale);
/* See sdq_fake_quant_rows / sdq_fake_quant_backward. */
typedef int (*sdq_fake_quant_fn)(const float *x, int rows, int cols, int ld,
                                 int bits, const float *scale_in, float *y,
                                 float *scale_out);
typedef void (*sdq_fake_quant_backward_fn)(const float *x, const float *dy,
                                           int rows, int cols, int ld, int bits,
                                           const float *scale, float *dx);

typedef void (*sdq_vec_unary_fn)(const float *x, float *y, size_t n);
typedef void (*sdq_gelu_backward_fn)(const float *x, const float *dy,
                                     float *dx, size_t n);
typedef void (*sdq_softmax_rows_fn)(const float *x, float *y, int rows,
                                    int cols, int ld);
typedef void (*sdq_layernorm_forward_fn)(const float *x, const float *gamma,
                                         const float *beta, float *y,
                                         float *mean, float *rstd, int rows,
                                         int C, float eps);
typedef void (*sdq_layernorm_backward_fn)(const float *dy, const float *x,
                                          const float *gamma, const float *mean,
                                          const float *rstd, float *dx,
                                          float *dgamma, float *dbeta,
                                          int rows, int C);

/* Kernel ids, in the order sdq cpu prints them. */
typedef enum sdq_kernel_id {
  SDQ_K_SGEMM_NT = 0,
  SDQ_K_SGEMM_NN,
  SDQ_K_SGEMM_TN,
  SDQ_K_QGEMM_F32_NT,
  SDQ_K_QGEMM_F32_NN,
  SDQ_K_QGEMM_I8_NT,
  SDQ_K_QUANTIZE_ROWS,
  SDQ_K_FAKE_QUANT,
  SDQ_K_FAKE_QUANT_BACKWARD,
  SDQ_K_EXP,
  SDQ_K_GELU_FORWARD,
  SDQ_K_GELU_BACKWARD,
  SDQ_K_SOFTMAX,
  SDQ_K_LAYERNORM_FORWARD,
  SDQ_K_LAYERNORM_BACKWARD,
  SDQ_K_COUNT
} sdq_kernel_id;

/* Returns the kernel's name as sdq cpu prints it (e.g. "sgemm_nt"). */
const char *sdq_kernel_name(sdq_kernel_id id);

typedef struct sdq_kernel_table {
  sdq_isa isa; /* the variant this table was built for */
  sdq_sgemm_nt_fn sgemm_nt;
  sdq_sgemm_nn_fn sgemm_nn;
  sdq_sgemm_tn_fn sgemm_tn;
  sdq_qgemm_f32_nt_fn qgemm_f32_nt;
  sdq_qgemm_f32_nn_fn qgemm_f32_nn;
  sdq_qgemm_i8_nt_fn qgemm_i8_nt;
  sdq_quantize_rows_fn quantize_rows;
  sdq_fake_quant_fn fake_quant;
  sdq_fake_quant_backward_fn fake_quant_backward;
  sdq_vec_unary_fn vexp;
  sdq_vec_unary_fn gelu_forward;
  sdq_gelu_backward_fn gelu_backward;
  sdq_softmax_rows_fn softmax_rows;
  sdq_layernorm_forward_fn layernorm_forward;
  sdq_layernorm_backward_fn layernorm_backward;
  /* impl[id] is the variant that actually implements kernel id in this
   * table: a variant without its own code for a kernel inherits the next
   * lower variant's function, and impl records which one. */
  sdq_isa impl[SDQ_K_COUNT];
} sdq_kernel_table;

/* Selects the active table once: SDQ_ISA when set, else sdq_isa_best().
 * Returns 0, or -1 with a message in err when SDQ_ISA names an unknown
 * variant or one this CPU or build cannot run. Safe to call more than once;
 * later calls return the first result. */
int sdq_kernels_init(char *err, size_t errlen);

/* Returns the active table. When sdq_kernels_init was not called before, it
 * calls it and aborts with its message on stderr if that fails. */
const sdq_kernel_table *sdq_kernels(void);

/* Returns the table of one variant, or NULL when it is not supported here.
 * Tests and benchmarks use it to run every variant side by side. */
const sdq_kernel_table *sdq_kernel_table_for(sdq_isa isa);

/* Makes isa the active variant (tests, benchmarks). Returns 0 or -1 with a
 * message in err when it is not supported. */
int sdq_kernels_select(sdq_isa isa, char *err, size_t errlen);

/* ------------------------------------------------ quantization and packing */

/* Returns qmax = 2^(bits-1) - 1 for bits in 2..8, or 0 for other bits. */
int sdq_qmax(int bits);

/* Quantizes each row of x[rows, cols] (leading dimension ld) symmetrically
 * to bits: writes q[rows*cols] (dense, row-major) and scale[rows]. Returns
 * the number of rows that contained NaN or +-inf (scale NaN, q zero), or -1
 * when bits is outside 2..8. Uses the active variant. */
int sdq_quantize_rows(const float *x, int rows, int cols, int ld, int bits,
                      int8_t *q, float *scale);

/* Fake quantization: y = scale * clamp(rint(x / scale), -qmax, qmax) per row.
 * scale_in == NULL computes the MinMax scale per row (nothing clips);
 * otherwise scale_in[rows] is used and values beyond qmax*scale clip. When
 * scale_out is not NULL it receives the scale used. Returns as
 * sdq_quantize_rows; rows with NaN/inf produce NaN outputs. */
int sdq_fake_quant_rows(const float *x, int rows, int cols, int ld, int bits,
                        const float *scale_in, float *y, float *scale_out);

/* Straight-through estimator: dx = dy where |x| <= qmax * scale[row] (the
 * value did not clip), 0 elsewhere. x, dy and dx share leading dimension ld. */
void sdq_fake_quant_backward(const float *x, const float *dy, int rows,
                             int cols, int ld, int bits, const float *scale,
                             float *dx);

/* A weight matrix W[rows=N, cols=K] quantized per output channel and packed.
 * The packed layout is defined in sdq_pack.h; it is the same for every ISA
 * variant, so a matrix packed once serves all of them. */
typedef struct sdq_qmatrix {
  int rows, cols, bits;
  uint8_t *packed;  /* sdq_packed_bytes(rows, cols, bits) bytes, 64-aligned */
  float *scale;     /* [rows] per-channel scale */
  int32_t *qsum;    /* [rows] sum of the quantized values of each row */
  /* Unpacked copy of the weights in the x86 integer GEMM's operand layout
   * (kernels/qmatrix_strips.h): NULL until the first integer GEMM that
   * wants it builds it, then owned by the matrix and freed with it. */
  uint8_t *i8_strips;
} sdq_qmatrix;

/* Quantizes w[rows, cols] (leading dimension ld) per channel to bits and
 * packs it into m (which owns the new buffers). Returns 0; -1 with a message
 * in err when bits is outside 2..8, a dimension is not positive, w holds
 * NaN/inf (the message names the row and column), or memory ran out. */
int sdq_qmatrix_init(sdq_qmatrix *m, const float *w, int rows, int cols,
                     int ld, int bits, char *err, size_t errlen);
void sdq_qmatrix_free(sdq_qmatrix *m);

/* Writes the dequantized matrix (scale * q) into w[rows, cols]. */
void sdq_qmatrix_dequantize(const sdq_qmatrix *m, float *w);

/* ---------------------------------------------- convenience entry points */

/* These call the active table (sdq_kernels()). */
void sdq_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);
void sdq_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);
void sdq_sgemm_tn(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);
void sdq_qgemm_f32_nt(int M, const float *A, int lda, const sdq_qmatrix *W,
                      float beta, float *C, int ldc);
void sdq_qgemm_f32_nn(int M, const float *A, int lda, const sdq_qmatrix *W,
                      float beta, float *C, int ldc);
int sdq_qgemm_i8_nt(int M, const float *A, int lda, int act_bits,
                    const sdq_qmatrix *W, float beta, float *C, int ldc);

/* y[i] = exp(x[i]) */
void sdq_vexp(const float *x, float *y, size_t n);
/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void sdq_gelu_forward(const float *x, float *y, size_t n);
/* dx[i] = dy[i] * GELU'(x[i]) (overwrites dx; dx may alias dy) */
void sdq_gelu_backward(const float *x, const float *dy, float *dx, size_t n);
/* Row-wise softmax over cols entries of each row (y may alias x). */
void sdq_softmax_rows(const float *x, float *y, int rows, int cols, int ld);
/* LayerNorm over the last dimension C of x[rows, C]:
 * y = (x - mean) * rstd * gamma + beta; mean[rows] and rstd[rows] are saved
 * for the backward pass (either may be NULL when not needed). */
void sdq_layernorm_forward(const float *x, const float *gamma,
                           const float *beta, float *y, float *mean,
                           float *rstd, int rows, int C, float eps);
/* LayerNorm backward: overwrites dx[rows, C]; accumulates (+=) into
 * dgamma[C] and dbeta[C] unless they are NULL (frozen parameters). */
void sdq_layernorm_backward(const float *dy, const float *x, const float *gamma,
                            const float *mean, const float *rstd, float *dx,
                            float *dgamma, float *dbeta, int rows, int C);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_KERNELS_H */
