/* quant_avx512vnni.c - avx512vnni variants of the quantization kernels. */
#include "internal.h"

void sdq_register_quant_avx512vnni(sdq_kernel_table *t) { (void)t; }
