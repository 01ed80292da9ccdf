/* cmd_configs.c - 'sdq configs': the shipped bit-width configurations and
 * their average weight bits for one model shape. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "train/setup.h"

static void usage(FILE *out) {
  fprintf(out,
"usage: sdq configs [--model PATH | --init CONFIG.json | --gpt2-124m] [--dir DIR]\n\n"
"Lists the bit-width configurations in DIR (default: the shipped configs/\n"
"folder, or $SDQ_CONFIGS_DIR) with two averages of the weight bits over the\n"
"linear layers: 'avg bits' is the plain mean per layer, 'weighted' weights each\n"
"layer by its number of weights (the true weight memory). 16- and 32-bit layers\n"
"count as their written value. The model shape is the embedded default\n"
"(data/default/config.json) unless --model (an HF checkpoint), --init (a\n"
"config.json) or --gpt2-124m (12 layers, 768 wide) gives another.\n\n"
"A file that cannot be read or is not a valid configuration for this shape is\n"
"not listed: its error goes to stderr, the other files are still listed, and\n"
"the exit status is 1. A folder without .cfg files is an error too.\n");
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int sdq_cmd_configs(int argc, char **argv) {
  const char *model = NULL, *init = NULL, *dir = NULL;
  int gpt2 = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
      model = argv[++i];
    } else if (!strcmp(argv[i], "--init") && i + 1 < argc) {
      init = argv[++i];
    } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
      dir = argv[++i];
    } else if (!strcmp(argv[i], "--gpt2-124m")) {
      gpt2 = 1;
    } else {
      fprintf(stderr, "sdq configs: unknown or incomplete option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  /* 1. Model shape. */
  char err[2048], path[4096], dirbuf[4096];
  sdq_gpt2_config shape;
  const char *shape_name;
  if (gpt2) {
    shape = sdq_gpt2_config_124m();
    shape_name = "GPT-2 124M";
  } else if (model) {
    sdq_gpt2 *m = sdq_gpt2_load_hf(model, 1, err, sizeof err);
    if (!m) {
      fprintf(stderr, "sdq configs: %s\n", err);
      return 1;
    }
    shape = m->cfg;
    sdq_gpt2_free(m);
    shape_name = model;
  } else {
    if (!init)
      init = sdq_default_data_path("default/config.json", path, sizeof path);
    if (sdq_read_model_config(init, &shape, err, sizeof err)) {
      fprintf(stderr, "sdq configs: %s\n", err);
      return 1;
    }
    shape_name = init;
  }

  /* 2. The configuration files, sorted by name. */
  if (!dir)
    dir = sdq_default_configs_path("", dirbuf, sizeof dirbuf);
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "sdq configs: cannot open the configuration folder %s (set "
                    "SDQ_CONFIGS_DIR or pass --dir)\n", dir);
    return 1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len <= 4 || strcmp(e->d_name + len - 4, ".cfg") != 0)
      continue;
    char **grown = n == cap ? realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names) : names;
    char *copy = grown ? strdup(e->d_name) : NULL;
    if (grown)
      names = grown;
    if (!copy) {
      fprintf(stderr, "sdq configs: out of memory listing %s\n", dir);
      closedir(d);
      for (size_t i = 0; i < n; i++)
        free(names[i]);
      free(names);
      return 1;
    }
    names[n++] = copy;
  }
  closedir(d);
  if (n == 0) {
    fprintf(stderr, "sdq configs: %s contains no .cfg file\n", dir);
    return 1;
  }
  qsort(names, n, sizeof *names, cmp_names);

  printf("# model shape: %s (%d layers, n_embd %d)\n", shape_name, shape.n_layer, shape.n_embd);
  printf("%-20s %9s %9s  %s\n", "name", "avg bits", "weighted", "file");
  size_t n_bad = 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
    sdq_bitconfig cfg;
    char name[256];
    if (sdq_resolve_config(path, shape.n_layer, &cfg, name, sizeof name, err, sizeof err)) {
      fflush(stdout); /* keep the rows before the error when both go to one terminal */
      fprintf(stderr, "sdq configs: %s\n", err);
      n_bad++;
    } else {
      double plain = 0, weighted = 0;
      sdq_bitconfig_average_bits(&cfg, shape.n_embd, &plain, &weighted);
      printf("%-20s %9.3f %9.3f  %s\n", name, plain, weighted, path);
      sdq_bitconfig_free(&cfg);
    }
    free(names[i]);
  }
  free(names);
  if (n_bad > 0) {
    fprintf(stderr, "sdq configs: %zu of the %zu .cfg files in %s are not listed (errors above)\n",
            n_bad, n, dir);
    return 1;
  }
  return 0;
}
