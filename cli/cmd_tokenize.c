/* cmd_tokenize.c - placeholder until the layer that owns 'sdq tokenize' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_tokenize(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq tokenize: not built yet in this version\n");
  return 1;
}
