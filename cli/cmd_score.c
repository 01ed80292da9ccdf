/* cmd_score.c - placeholder until the layer that owns 'sdq score' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_score(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq score: not built yet in this version\n");
  return 1;
}
