/* cmd_suite.c - 'sdq suite': the regression suite (see cli/suite_main.c). */
#include "config.h"

#include "cli/commands.h"

int sdq_suite_main(int argc, char **argv);

int sdq_cmd_suite(int argc, char **argv) { return sdq_suite_main(argc, argv); }
