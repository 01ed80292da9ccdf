/* cmd_configs.c - placeholder until the layer that owns 'sdq configs' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_configs(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq configs: not built yet in this version\n");
  return 1;
}
