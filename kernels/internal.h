/* internal.h - private glue between the dispatch table and the variant files.
 *
 * Each variant file registers the kernels it implements by overwriting the
 * matching entries of a table and setting impl[] for them. A table for
 * variant V is built by registering scalar first, then every variant of V's
 * chain up to V (avx2 -> avx512 -> avx512vnni -> amx; neon -> neondot), so
 * a kernel without its own code in V keeps the next lower one.
 */
#ifndef SDQ_KERNELS_INTERNAL_H
#define SDQ_KERNELS_INTERNAL_H

#include "sdq_kernels.h"

/* Returns 1 when this build contains variant isa's code, whatever the CPU. */
int sdq_isa_built(sdq_isa isa);

/* The portable reference: fills every entry of t. */
void sdq_register_scalar(sdq_kernel_table *t);

/* fp32 GEMM (sgemm_nt/nn/tn) and vector math (exp, GELU, softmax,
 * LayerNorm) variants. */
void sdq_register_gemm_avx2(sdq_kernel_table *t);
void sdq_register_gemm_avx512(sdq_kernel_table *t);
void sdq_register_vecmath_avx2(sdq_kernel_table *t);
void sdq_register_vecmath_avx512(sdq_kernel_table *t);

/* Quantization variants: quantize_rows, fake_quant, fake_quant_backward,
 * qgemm_f32_nt/nn and qgemm_i8_nt. */
void sdq_register_quant_avx2(sdq_kernel_table *t);
void sdq_register_quant_avx512(sdq_kernel_table *t);
void sdq_register_quant_avx512vnni(sdq_kernel_table *t);
void sdq_register_quant_amx(sdq_kernel_table *t);

/* AArch64 variants: every kernel. */
void sdq_register_neon(sdq_kernel_table *t);
void sdq_register_neondot(sdq_kernel_table *t);

#endif
