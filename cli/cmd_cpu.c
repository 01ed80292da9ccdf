/* cmd_cpu.c - 'sdq cpu': the CPU features found, the kernel variants this
 * machine supports, the active one and which variant implements each kernel. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "sdq_kernels.h"

static void print_help(FILE *out) {
  fprintf(out,
          "usage: sdq cpu\n\n"
          "Prints the CPU features the kernel dispatch detected, the kernel\n"
          "variants this build and CPU support, the active variant, and for\n"
          "every kernel the variant whose code runs it (a variant without its\n"
          "own code for a kernel uses the next lower one's).\n\n"
          "The active variant is the best supported one unless the environment\n"
          "variable SDQ_ISA names another (scalar, avx2, avx512, avx512vnni,\n"
          "amx, neon, neondot); naming one this machine cannot run is an error.\n");
}

int sdq_cmd_cpu(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      print_help(stdout);
      return 0;
    }
    fprintf(stderr, "sdq cpu: unknown argument '%s'. Run 'sdq cpu --help'.\n",
            argv[i]);
    return 2;
  }

  char err[512];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "sdq cpu: %s\n", err);
    return 1;
  }
  const sdq_kernel_table *t = sdq_kernels();

  char features[512];
  sdq_cpu_features(features, sizeof features);
  printf("cpu features: %s\n", features);

  printf("supported variants:");
  for (int v = 0; v < SDQ_ISA_COUNT; v++)
    if (sdq_isa_supported((sdq_isa)v))
      printf(" %s", sdq_isa_name((sdq_isa)v));
  printf("\n");

  const char *forced = getenv("SDQ_ISA");
  printf("active variant: %s (%s)\n", sdq_isa_name(t->isa),
         forced != NULL && forced[0] != '\0' ? "set by SDQ_ISA" : "best supported");

  printf("\n%-22s %s\n", "kernel", "implemented by");
  for (int k = 0; k < SDQ_K_COUNT; k++)
    printf("%-22s %s\n", sdq_kernel_name((sdq_kernel_id)k),
           sdq_isa_name(t->impl[k]));
  return 0;
}
