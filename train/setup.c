/* setup.c - default paths, model opening and configuration arguments (see
 * setup.h). */
#include "config.h"

#include "train/setup.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

/* Opens path for reading when it is a regular file. A directory, FIFO,
 * device or socket is an error, and opening never waits on a FIFO. */
static FILE *open_regular_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: could not open the configuration file: %s", path,
             strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    snprintf(err, errlen, "%s: could not examine the configuration file: %s", path,
             strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(sb.st_mode)) {
    const char *kind = S_ISDIR(sb.st_mode)    ? "a directory"
                       : S_ISFIFO(sb.st_mode) ? "a FIFO"
                       : S_ISSOCK(sb.st_mode) ? "a socket"
                       : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                     : "not a regular file";
    snprintf(err, errlen, "%s is %s; a configuration is a regular text file of 'PATTERN "
             "W_BITS [A_BITS]' rules", path, kind);
    close(fd);
    return NULL;
  }
  FILE *f = NULL;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(f = fdopen(fd, "r"))) {
    snprintf(err, errlen, "%s: could not open the configuration file: %s", path,
             strerror(errno));
    close(fd);
  }
  return f;
}

/* Appends n bytes of s to the growing text *buf (length *len, capacity
 * *cap). Returns -1 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t grown = 2 * (*len + n + 1);
    char *t = realloc(*buf, grown);
    if (!t)
      return -1;
    *buf = t;
    *cap = grown;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

/* Maximum line length of a configuration file (sdq_bitconfig_parse's limit). */
#define CONFIG_LINE_MAX 1023

int sdq_expand_config_file(const char *path, int n_layer, char **out, char *err,
                           size_t errlen) {
  *out = NULL;
  FILE *f = open_regular_file(path, err, errlen);
  if (!f)
    return -1;
  size_t cap = 0, len = 0, line_cap = 0;
  char *text = NULL, *line = NULL;
  int lineno = 0, rc = -1;
  ssize_t got;
  if (append(&text, &len, &cap, "", 0))
    goto oom;
  errno = 0;
  while ((got = getline(&line, &line_cap, f)) >= 0) {
    lineno++;
    if (memchr(line, '\0', (size_t)got)) {
      snprintf(err, errlen, "%s:%d: the line contains a NUL byte; a configuration is plain "
               "text", path, lineno);
      goto out;
    }
    if (got > 0 && line[got - 1] == '\n')
      line[--got] = '\0';
    if (got > CONFIG_LINE_MAX) {
      snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
               CONFIG_LINE_MAX);
      goto out;
    }

    /* "{set}" before any comment becomes one line per block of the set. */
    char *open_brace = strchr(line, '{');
    char *hash = strchr(line, '#');
    if (!open_brace || (hash && hash < open_brace)) {
      if (append(&text, &len, &cap, line, (size_t)got) || append(&text, &len, &cap, "\n", 1))
        goto oom;
      continue;
    }
    char *close = strchr(open_brace, '}');
    char set[32];
    size_t sl = close ? (size_t)(close - open_brace - 1) : 0;
    if (!close || sl == 0 || sl >= sizeof set) {
      snprintf(err, errlen, "%s:%d: unterminated or empty '{...}' block set", path, lineno);
      goto out;
    }
    memcpy(set, open_brace + 1, sl);
    set[sl] = '\0';
    if (block_in_set(set, 0, n_layer) < 0) {
      snprintf(err, errlen, "%s:%d: unknown block set '{%s}' (use first, last, front, back "
                            "or middle)", path, lineno, set);
      goto out;
    }
    for (int l = 0; l < n_layer; l++) {
      if (!block_in_set(set, l, n_layer))
        continue; /* e.g. {middle} of a 2-layer model sets nothing */
      char block[16];
      int bl = snprintf(block, sizeof block, "%d", l);
      if (append(&text, &len, &cap, line, (size_t)(open_brace - line)) ||
          append(&text, &len, &cap, block, (size_t)bl) ||
          append(&text, &len, &cap, close + 1, strlen(close + 1)) ||
          append(&text, &len, &cap, "\n", 1))
        goto oom;
    }
  }
  if (ferror(f)) {
    snprintf(err, errlen, "%s: read error after line %d: %s", path, lineno, strerror(errno));
    goto out;
  }
  *out = text;
  text = NULL;
  rc = 0;
  goto out;

oom:
  snprintf(err, errlen, "%s: out of memory", path);
out:
  fclose(f);
  free(line);
  free(text);
  return rc;
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
