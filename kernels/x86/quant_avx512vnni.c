/* quant_avx512vnni.c - AVX-512 VNNI variant of the integer GEMM (vpdpbusd);
 * the other quantization kernels come from the AVX-512 variant. */
#define SDQ_I8_VNNI 1
/* Only the integer GEMM of the shared bodies is used here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "quant_avx512_impl.h"

void sdq_register_quant_avx512vnni(sdq_kernel_table *t) {
  t->qgemm_i8_nt = qgemm_i8_nt_avx512;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_AVX512VNNI;
}
