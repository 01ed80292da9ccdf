/* peak_main.c - sdq-peak: prints the machine's measured clock, fp32 and
 * int8 throughput and memory bandwidth as JSON on stdout. */
#include "config.h"

#include <stdio.h>

#include "bench/shim.h"
#include "sdq_kernels.h"

int main(void) {
  char err[512];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "sdq-peak: %s\n", err);
    return 1;
  }
  fprintf(stderr, "sdq-peak: measuring (a few seconds)...\n");
  sdq_bench_peaks p;
  sdq_bench_measure_peaks(&p);
  printf("{\n  \"threads\": %d,\n  \"clock_ghz\": %.3f,\n"
         "  \"fp32_gflops\": %.1f,\n  \"fp32_isa\": \"%s\",\n"
         "  \"int8_gops\": %.1f,\n  \"int8_isa\": \"%s\",\n"
         "  \"read_gbs\": %.2f,\n  \"triad_gbs\": %.2f\n}\n",
         p.threads, p.clock_ghz, p.fp32_gflops, p.fp32_isa, p.int8_gops, p.int8_isa, p.read_gbs,
         p.triad_gbs);
  return 0;
}
