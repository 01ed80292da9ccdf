/* quant_amx.c - AMX-INT8 variant of the integer GEMM. */
#include "internal.h"

/* TODO: no AMX tile kernel yet; the amx table keeps the VNNI integer GEMM. */
void sdq_register_quant_amx(sdq_kernel_table *t) { (void)t; }
