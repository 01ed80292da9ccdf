/* quant_avx512.c - AVX-512 (F/BW/VL/DQ) variants of the quantization kernels;
 * the integer GEMM uses vpmaddubsw + vpmaddwd. */
#define SDQ_I8_VNNI 0
#include "quant_avx512_impl.h"

void sdq_register_quant_avx512(sdq_kernel_table *t) {
  t->quantize_rows = quantize_rows_avx512;
  t->fake_quant = fake_quant_avx512;
  t->fake_quant_backward = fake_quant_backward_avx512;
  t->qgemm_f32_nt = qgemm_f32_nt_avx512;
  t->qgemm_f32_nn = qgemm_f32_nn_avx512;
  t->qgemm_i8_nt = qgemm_i8_nt_avx512;
  t->impl[SDQ_K_QUANTIZE_ROWS] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_FAKE_QUANT] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_FAKE_QUANT_BACKWARD] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_QGEMM_F32_NT] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_QGEMM_F32_NN] = SDQ_ISA_AVX512;
  t->impl[SDQ_K_QGEMM_I8_NT] = SDQ_ISA_AVX512;
}
