/* neon.c - registers the NEON variant of every kernel (internal.h). */
#include "config.h"

#include "kernels/arm/neon_internal.h"

void sdq_register_neon(sdq_kernel_table *t) {
  sdq_neon_register_gemm(t);
  sdq_neon_register_vecmath(t);
  sdq_neon_register_quant(t);
}
