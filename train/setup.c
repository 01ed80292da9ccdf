/* setup.c - default paths, model opening and configuration arguments (see
 * setup.h). */
#include "config.h"

#include "train/setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifndef SDQ_SOURCE_DIR
#define SDQ_SOURCE_DIR "."
#endif

const char *sdq_default_data_path(const char *rel, char *buf, size_t len) {
  const char *env = getenv("SDQ_DATA_DIR");
  snprintf(buf, len, "%s/%s", env && *env ? env : SDQ_SOURCE_DIR "/data", rel);
  return buf;
}

const char *sdq_default_configs_path(const char *rel, char *buf, size_t len) {
  const char *env = getenv("SDQ_CONFIGS_DIR");
  snprintf(buf, len, "%s/%s", env && *env ? env : SDQ_SOURCE_DIR "/configs", rel);
  return buf;
}

int sdq_read_model_config(const char *path, sdq_gpt2_config *cfg, char *err, size_t errlen) {
  if (sdq_gpt2_read_config_json(path, cfg, err, errlen) != 0)
    return -1;
  if (!cfg->n_layer || !cfg->n_head || !cfg->n_embd || !cfg->n_ctx || !cfg->vocab_size) {
    snprintf(err, errlen, "%s: needs integer fields n_layer, n_head, n_embd, n_positions (or "
             "n_ctx) and vocab_size", path);
    return -1;
  }
  if (sdq_gpt2_config_validate(cfg, err, errlen) != 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
  }
  return 0;
}

int sdq_check_model_vocab(const sdq_gpt2 *m, const sdq_tokenizer *tok, char *err,
                          size_t errlen) {
  int n_tok = sdq_tokenizer_vocab_size(tok);
  if (m->cfg.vocab_size < n_tok) {
    snprintf(err, errlen, "the model's vocab_size of %d is smaller than the tokenizer's "
             "vocabulary of %d tokens, so it cannot embed every token id; give the model a "
             "vocab_size of at least %d", m->cfg.vocab_size, n_tok, n_tok);
    return -1;
  }
  return 0;
}

sdq_gpt2 *sdq_open_model(const char *model_path, const char *init_config, uint64_t seed,
                         char *err, size_t errlen) {
  if (model_path)
    return sdq_gpt2_load_hf(model_path, seed, err, errlen);
  sdq_gpt2_config cfg;
  if (sdq_read_model_config(init_config, &cfg, err, errlen))
    return NULL;
  return sdq_gpt2_create(&cfg, seed, err, errlen);
}

static int parse_bits(const char *s, int *bits) {
  if (!strcmp(s, "fp32")) {
    *bits = 32;
    return 0;
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || !((v >= 2 && v <= 8) || v == 16 || v == 32))
    return -1;
  *bits = (int)v;
  return 0;
}

int sdq_parse_bits_list(const char *text, int *bits, int max, char *err, size_t errlen) {
  char *copy = strdup(text), *save = NULL;
  int n = 0;
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  size_t len = strlen(text);
  if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,")) {
    snprintf(err, errlen, "the bit-width list '%s' has an empty item", text);
    free(copy);
    return -1;
  }
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int b;
    if (n >= max || parse_bits(tok, &b)) {
      snprintf(err, errlen, n >= max ? "too many bit widths in '%s' (at most %d)"
                                     : "invalid bits '%s' in the list (use 2..8, 16, 32 or fp32)",
               n >= max ? text : tok, max);
      free(copy);
      return -1;
    }
    for (int i = 0; i < n; i++) {
      if (bits[i] == b) {
        snprintf(err, errlen, "bits %s appear twice in '%s'", tok, text);
        free(copy);
        return -1;
      }
      if (sdq_bits_is_full(bits[i]) && sdq_bits_is_full(b)) {
        snprintf(err, errlen, "bits %d and %d in '%s' both mean full precision (fp32 compute "
                 "and one LoRA adapter); give one of them", bits[i], b, text);
        free(copy);
        return -1;
      }
    }
    bits[n++] = b;
  }
  free(copy);
  if (n == 0) {
    snprintf(err, errlen, "the bit-width list '%s' is empty", text);
    return -1;
  }
  return n;
}

int sdq_resolve_config(const char *arg, int n_layer, sdq_bitconfig *cfg, char *name,
                       size_t namelen, char *err, size_t errlen) {
  int bits;
  memset(cfg, 0, sizeof *cfg);
  if (parse_bits(arg, &bits) == 0) {
    /* 16 runs at full precision like 32 and only counts as 16 bits. */
    snprintf(name, namelen, bits == 32 ? "fp32" : "%dbit", bits);
    return sdq_bitconfig_init_uniform(cfg, n_layer, bits, 0, err, errlen);
  }

  /* Anything that exists at arg is a path, so a file in the current folder
   * wins over a shipped configuration of the same name. Otherwise a bare
   * name is looked up among the shipped configurations. */
  char path[4096], rel[512];
  struct stat sb;
  snprintf(rel, sizeof rel, "%s.cfg", arg);
  sdq_default_configs_path(rel, path, sizeof path);
  int shipped = !strchr(arg, '/') && stat(path, &sb) == 0;
  if (stat(arg, &sb) == 0) {
    if (!S_ISREG(sb.st_mode) && shipped) {
      snprintf(err, errlen, "configuration '%s' is %s in the current folder, not a "
               "configuration file; to use the shipped configuration of that name, give its "
               "path %s", arg, S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file",
               path);
      return -1;
    }
    snprintf(path, sizeof path, "%s", arg);
  } else if (!shipped) {
    snprintf(err, errlen, "configuration '%s' is neither bits (2..8, 16, 32, fp32), a file, "
                          "nor a shipped configuration (see 'sdq configs')", arg);
    return -1;
  }
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(name, namelen, "%s", base);
  size_t len = strlen(name);
  if (len > 4 && !strcmp(name + len - 4, ".cfg"))
    name[len - 4] = '\0';
  return sdq_bitconfig_load(cfg, path, n_layer, err, errlen);
}

/* 1 when a and b run every layer at the same bits. *full_only is set to 1
 * when they differ only in writing full precision as 16 or 32. */
static int same_bits(const sdq_bitconfig *a, const sdq_bitconfig *b, int *full_only) {
  *full_only = 0;
  if (a->n_layer != b->n_layer)
    return 0;
  for (int i = 0; i < a->n_layer * SDQ_LIN_COUNT; i++) {
    sdq_layer_bits x = a->layers[i], y = b->layers[i];
    if (x.a_bits != y.a_bits)
      return 0;
    if (x.w_bits != y.w_bits) {
      if (!sdq_bits_is_full(x.w_bits) || !sdq_bits_is_full(y.w_bits))
        return 0;
      *full_only = 1;
    }
  }
  return 1;
}

int sdq_check_distinct_configs(const sdq_bitconfig *cfgs, char *const *names,
                               const char *const *args, int n, char *err, size_t errlen) {
  for (int j = 1; j < n; j++) {
    for (int i = 0; i < j; i++) {
      const char *ai = args ? args[i] : names[i], *aj = args ? args[j] : names[j];
      int full_only;
      if (!strcmp(ai, aj)) {
        snprintf(err, errlen, "configuration '%s' is given twice; give it once", ai);
        return -1;
      }
      if (!strcmp(names[i], names[j])) {
        snprintf(err, errlen, "configurations '%s' and '%s' both get the name '%s', which "
                 "labels their results and prediction files; rename one of the files",
                 ai, aj, names[i]);
        return -1;
      }
      if (same_bits(&cfgs[i], &cfgs[j], &full_only)) {
        snprintf(err, errlen, "configurations '%s' and '%s' run every layer at the same bits%s;"
                 " give only one", ai, aj,
                 full_only ? " (16 and 32 both mean full precision: fp32 compute and the same "
                             "LoRA adapter)" : "");
        return -1;
      }
    }
  }
  return 0;
}
