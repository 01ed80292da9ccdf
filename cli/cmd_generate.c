/* cmd_generate.c - placeholder until the layer that owns 'sdq generate' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_generate(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq generate: not built yet in this version\n");
  return 1;
}
