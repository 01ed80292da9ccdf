/* cmd_eval.c - placeholder until the layer that owns 'sdq eval' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq eval: not built yet in this version\n");
  return 1;
}
