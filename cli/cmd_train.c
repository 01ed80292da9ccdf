/* cmd_train.c - placeholder until the layer that owns 'sdq train' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_train(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq train: not built yet in this version\n");
  return 1;
}
