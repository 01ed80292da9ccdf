/* quant_avx512.c - avx512 variants of the quantization kernels. */
#include "internal.h"

void sdq_register_quant_avx512(sdq_kernel_table *t) { (void)t; }
