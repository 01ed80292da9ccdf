/* main.c - entry point of the sdq program: picks the subcommand. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "sdq_kernels.h"

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
    {"cpu", sdq_cmd_cpu, "CPU features found and the kernel variant chosen for each kernel"},
    {"tokenize", sdq_cmd_tokenize, "text to GPT-2 token ids (--decode for the reverse)"},
    {"generate", sdq_cmd_generate, "greedy continuation of a prompt"},
    {"configs", sdq_cmd_configs, "the shipped bit-width configurations and their average bits"},
    {"train", sdq_cmd_train, "LoRA-bank training (--schedule static|random|cpt)"},
    {"eval", sdq_cmd_eval, "SQuAD EM/F1 per configuration, official-format predictions"},
    {"score", sdq_cmd_score, "EM/F1 of any prediction file, as the official SQuAD v1.1 script computes them"},
    {"attack", sdq_cmd_attack, "PGD / HotFlip against fp32_lora, static and random_switch targets"},
    {"suite", sdq_cmd_suite, "steps 3-6 end to end: report, plots and baseline comparison"},
};

static void print_usage(FILE *out) {
  fprintf(out,
          "usage: sdq COMMAND [OPTIONS]\n\n"
          "sdq %s: quantization research on GPT-2 with SIMD CPU kernels.\n\n"
          "commands:\n",
          PACKAGE_VERSION);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out,
          "\nRun 'sdq COMMAND --help' for the options of one command.\n"
          "SDQ_ISA=scalar|avx2|avx512|avx512vnni|amx|neon|neondot forces a kernel variant.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    print_usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("sdq %s\n", PACKAGE_VERSION);
    return 0;
  }

  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[1], commands[i].name) != 0)
      continue;
    /* Every command runs kernels; an invalid SDQ_ISA stops here, before any
     * work, with the message that names what the CPU supports. */
    char err[512];
    if (sdq_kernels_init(err, sizeof err) != 0) {
      fprintf(stderr, "sdq: %s\n", err);
      return 1;
    }
    /* getopt prefixes its messages with argv[0]: make it "sdq train", not "train". */
    char prog[64];
    snprintf(prog, sizeof prog, "sdq %s", commands[i].name);
    argv[1] = prog;
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "sdq: unknown command '%s'. Run 'sdq --help' for the list.\n", argv[1]);
  return 2;
}
