/* setup.c - default paths, model opening and configuration arguments (see
 * setup.h). */
#include "config.h"

#include "train/setup.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* Reads integer key (or alt) of root. Returns 0, -1 when missing or not an
 * integer, -2 when outside the range of int (message in err). */
static int get_int(json_t *root, const char *path, const char *key, const char *alt, int *out,
                   char *err, size_t errlen) {
  json_t *v = json_object_get(root, key);
  if (!v && alt) {
    v = json_object_get(root, alt);
    key = alt;
  }
  if (!json_is_integer(v))
    return -1;
  json_int_t x = json_integer_value(v);
  if (x < INT_MIN || x > INT_MAX) {
    snprintf(err, errlen, "%s: \"%s\" is %" JSON_INTEGER_FORMAT ", outside the range of int",
             path, key, x);
    return -2;
  }
  *out = (int)x;
  return 0;
}

int sdq_read_model_config(const char *path, sdq_gpt2_config *cfg, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    snprintf(err, errlen, "%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
    return -1;
  }
  int rc = 0;
  static const char *const keys[][2] = {{"n_layer", NULL}, {"n_head", NULL}, {"n_embd", NULL},
                                         {"n_ctx", "n_positions"}, {"vocab_size", NULL}};
  int *fields[] = {&cfg->n_layer, &cfg->n_head, &cfg->n_embd, &cfg->n_ctx, &cfg->vocab_size};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0] && rc == 0; i++) {
    int got = get_int(root, path, keys[i][0], keys[i][1], fields[i], err, errlen);
    if (got == -1)
      snprintf(err, errlen, "%s: needs integer fields n_layer, n_head, n_embd, n_ctx (or "
                            "n_positions) and vocab_size", path);
    if (got != 0)
      rc = -1;
  }
  json_decref(root);
  if (rc == 0 && sdq_gpt2_config_validate(cfg, err, errlen))
    rc = -1;
  return rc;
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

/* Block sets of the relative names, for an n_layer model. */
static int block_in_set(const char *set, int l, int n_layer) {
  if (!strcmp(set, "first"))
    return l == 0;
  if (!strcmp(set, "last"))
    return l == n_layer - 1;
  if (!strcmp(set, "front"))
    return l < n_layer / 2;
  if (!strcmp(set, "back"))
    return l >= n_layer / 2;
  if (!strcmp(set, "middle"))
    return l > 0 && l < n_layer - 1;
  return -1;
}

int sdq_expand_config_file(const char *path, int n_layer, char **out, char *err,
                           size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: could not open the configuration file", path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *text = malloc(cap), line[1024];
  int lineno = 0;
  while (text && fgets(line, sizeof line, f)) {
    lineno++;
    char expanded[64][1100];
    int n_out = 1;
    snprintf(expanded[0], sizeof expanded[0], "%s", line);

    /* "{set}" inside the pattern becomes one line per block of the set. */
    char *open = strchr(line, '{');
    char *hash = strchr(line, '#');
    if (open && (!hash || open < hash)) {
      char *close = strchr(open, '}');
      char set[32];
      size_t sl = close ? (size_t)(close - open - 1) : 0;
      if (!close || sl == 0 || sl >= sizeof set) {
        snprintf(err, errlen, "%s:%d: unterminated or empty '{...}' block set", path, lineno);
        goto fail;
      }
      memcpy(set, open + 1, sl);
      set[sl] = '\0';
      if (block_in_set(set, 0, n_layer) < 0) {
        snprintf(err, errlen, "%s:%d: unknown block set '{%s}' (use first, last, front, back "
                              "or middle)", path, lineno, set);
        goto fail;
      }
      n_out = 0;
      for (int l = 0; l < n_layer && n_out < 64; l++)
        if (block_in_set(set, l, n_layer))
          snprintf(expanded[n_out++], sizeof expanded[0], "%.*s%d%s", (int)(open - line), line,
                   l, close + 1);
      if (n_out == 0) /* e.g. {middle} of a 2-layer model: nothing to set */
        continue;
    }
    for (int i = 0; i < n_out; i++) {
      size_t el = strlen(expanded[i]);
      if (len + el + 2 > cap) {
        cap = 2 * (len + el + 2);
        char *t = realloc(text, cap);
        if (!t) {
          free(text);
          text = NULL;
          break;
        }
        text = t;
      }
      memcpy(text + len, expanded[i], el);
      len += el;
      if (el == 0 || expanded[i][el - 1] != '\n')
        text[len++] = '\n';
    }
  }
  fclose(f);
  if (!text) {
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  text[len] = '\0';
  *out = text;
  return 0;

fail:
  fclose(f);
  free(text);
  return -1;
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
    for (int i = 0; n < max && i < n && parse_bits(tok, &bits[n]) == 0; i++)
      if (bits[i] == bits[n]) {
        snprintf(err, errlen, "bits %s appear twice in '%s'", tok, text);
        free(copy);
        return -1;
      }
    if (n >= max || parse_bits(tok, &bits[n])) {
      snprintf(err, errlen, n >= max ? "too many bit widths in '%s' (at most %d)"
                                     : "invalid bits '%s' in the list (use 2..8, 16, 32 or fp32)",
               n >= max ? text : tok, max);
      free(copy);
      return -1;
    }
    n++;
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
    snprintf(name, namelen, bits >= 16 ? "fp32" : "%dbit", bits);
    return sdq_bitconfig_init_uniform(cfg, n_layer, bits, 0, err, errlen);
  }

  /* A file path, or the name of a shipped configuration. */
  char path[4096];
  struct stat sb;
  if (stat(arg, &sb) == 0) {
    snprintf(path, sizeof path, "%s", arg);
  } else {
    char rel[512];
    snprintf(rel, sizeof rel, "%s.cfg", arg);
    sdq_default_configs_path(rel, path, sizeof path);
    if (strchr(arg, '/') || stat(path, &sb) != 0) {
      snprintf(err, errlen, "configuration '%s' is neither bits (2..8, 16, 32, fp32), a file, "
                            "nor a shipped configuration (see 'sdq configs')", arg);
      return -1;
    }
  }
  char *text = NULL;
  if (sdq_expand_config_file(path, n_layer, &text, err, errlen))
    return -1;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(name, namelen, "%s", base);
  size_t len = strlen(name);
  if (len > 4 && !strcmp(name + len - 4, ".cfg"))
    name[len - 4] = '\0';
  int rc = sdq_bitconfig_parse(cfg, text, path, n_layer, err, errlen);
  free(text);
  return rc;
}
