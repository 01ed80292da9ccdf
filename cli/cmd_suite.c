/* cmd_suite.c - placeholder until the layer that owns 'sdq suite' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_suite(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq suite: not built yet in this version\n");
  return 1;
}
