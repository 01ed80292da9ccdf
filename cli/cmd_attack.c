/* cmd_attack.c - placeholder until the layer that owns 'sdq attack' lands. */
#include <stdio.h>

#include "cli/commands.h"

int sdq_cmd_attack(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sdq attack: not built yet in this version\n");
  return 1;
}
