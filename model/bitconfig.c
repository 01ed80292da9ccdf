/* bitconfig.c - per-layer bits: the plain-text rule parser and the average
 * bits (plain and parameter-weighted). */
#include "model/gpt2.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "model/gpt2_internal.h"

int sdq_bits_is_full(int bits) { return bits == 16 || bits == 32; }

static int weight_bits_valid(int b) { return (b >= 2 && b <= 8) || sdq_bits_is_full(b); }

int sdq_bitconfig_init_uniform(sdq_bitconfig *cfg, int n_layer, int w_bits,
                               int a_bits, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  if (n_layer <= 0) {
    sdq_set_err(err, errlen, "bit configuration: n_layer = %d, expected a positive value", n_layer);
    return -1;
  }
  if (!weight_bits_valid(w_bits)) {
    sdq_set_err(err, errlen, "weight bits %d invalid (use 2..8, 16 or 32)", w_bits);
    return -1;
  }
  if (sdq_bits_is_full(a_bits))
    a_bits = 0;
  if (a_bits != 0 && (a_bits < 2 || a_bits > 8)) {
    sdq_set_err(err, errlen, "activation bits %d invalid (use 2..8, or 0/16/32 for fp32)", a_bits);
    return -1;
  }
  cfg->layers = calloc((size_t)n_layer * SDQ_LIN_COUNT, sizeof *cfg->layers);
  if (!cfg->layers) {
    sdq_set_err(err, errlen, "out of memory for a %d-layer bit configuration", n_layer);
    return -1;
  }
  cfg->n_layer = n_layer;
  for (int i = 0; i < n_layer * SDQ_LIN_COUNT; i++) {
    cfg->layers[i].w_bits = w_bits;
    cfg->layers[i].a_bits = a_bits;
  }
  return 0;
}

void sdq_bitconfig_free(sdq_bitconfig *cfg) {
  free(cfg->layers);
  cfg->layers = NULL;
  cfg->n_layer = 0;
}

int sdq_bitconfig_copy(sdq_bitconfig *dst, const sdq_bitconfig *src) {
  size_t n = (size_t)src->n_layer * SDQ_LIN_COUNT;
  dst->layers = malloc(n * sizeof *dst->layers);
  if (!dst->layers) {
    dst->n_layer = 0;
    return -1;
  }
  memcpy(dst->layers, src->layers, n * sizeof *dst->layers);
  dst->n_layer = src->n_layer;
  return 0;
}

/* Glob match where '*' matches any run of characters, dots included. */
static int glob_match(const char *pat, const char *s) {
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*pat == '*') {
      star = pat++;
      resume = s;
    } else if (*pat == *s) {
      pat++;
      s++;
    } else if (star) {
      pat = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*pat == '*')
    pat++;
  return *pat == '\0';
}

static const char *strip_prefix(const char *name) {
  static const char prefix[] = "transformer.";
  return strncmp(name, prefix, sizeof prefix - 1) == 0 ? name + sizeof prefix - 1 : name;
}

/* Parses a whole decimal integer token; returns 0 on success. */
static int parse_int(const char *tok, int *out) {
  char *end;
  errno = 0;
  long v = strtol(tok, &end, 10);
  if (errno || end == tok || *end != '\0' || v < -1000 || v > 1000)
    return -1;
  *out = (int)v;
  return 0;
}

/* The one block a pattern can match when its text before the first '*' is
 * "h.N." (N written as sdq names blocks, without leading zeros), else -1.
 * Rules expanded from {first}, {back} and the like all have this form, so
 * they are applied in constant time instead of scanning every block. */
static long literal_block(const char *pat) {
  if (strncmp(pat, "h.", 2) != 0 || !isdigit((unsigned char)pat[2]))
    return -1;
  const char *d = pat + 2;
  long l = 0;
  while (isdigit((unsigned char)*d)) {
    if (l > 100000000)
      return -1;
    l = l * 10 + (*d++ - '0');
  }
  if (*d != '.' || (pat[2] == '0' && d - pat > 3))
    return -1;
  return l;
}

/* A set of pattern strings (open addressing, FNV-1a) that remembers the line
 * of each, so duplicate rules are found in time linear in the file. */
typedef struct pattern_set {
  char **pat;
  int *line;
  size_t cap, n;
} pattern_set;

static size_t fnv1a(const char *s) {
  size_t h = (size_t)1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
  return h;
}

/* Returns the line of an earlier equal pattern, 0 after adding pat, or -1
 * when out of memory. */
static int pattern_set_add(pattern_set *set, const char *pat, int line) {
  if (2 * (set->n + 1) > set->cap) {
    size_t cap = set->cap ? 2 * set->cap : 64;
    char **np = calloc(cap, sizeof *np);
    int *nl = calloc(cap, sizeof *nl);
    if (!np || !nl) {
      free(np);
      free(nl);
      return -1;
    }
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->pat[i])
        continue;
      size_t j = fnv1a(set->pat[i]) & (cap - 1);
      while (np[j])
        j = (j + 1) & (cap - 1);
      np[j] = set->pat[i];
      nl[j] = set->line[i];
    }
    free(set->pat);
    free(set->line);
    set->pat = np;
    set->line = nl;
    set->cap = cap;
  }
  size_t j = fnv1a(pat) & (set->cap - 1);
  for (; set->pat[j]; j = (j + 1) & (set->cap - 1))
    if (strcmp(set->pat[j], pat) == 0)
      return set->line[j];
  if (!(set->pat[j] = strdup(pat)))
    return -1;
  set->line[j] = line;
  set->n++;
  return 0;
}

static void pattern_set_free(pattern_set *set) {
  for (size_t i = 0; i < set->cap; i++)
    free(set->pat[i]);
  free(set->pat);
  free(set->line);
}

/* 1 when block l of an n_layer model is in the placeholder set name (e.g.
 * "middle"), 0 when not, -1 for an unknown set. */
static int block_in_set(const char *name, int l, int n_layer) {
  if (!strcmp(name, "first"))
    return l == 0;
  if (!strcmp(name, "last"))
    return l == n_layer - 1;
  if (!strcmp(name, "front"))
    return l < n_layer / 2;
  if (!strcmp(name, "back"))
    return l >= n_layer / 2;
  if (!strcmp(name, "middle"))
    return l > 0 && l < n_layer - 1;
  return -1;
}

/* Sets w_bits / a_bits on the linear layers of blocks l0 .. l1-1 whose names
 * match pat; returns how many matched. */
static int apply_rule(sdq_bitconfig *cfg, const char *pat, int l0, int l1, int w_bits,
                      int a_bits) {
  long only = literal_block(pat);
  if (only >= 0) {
    if (only < l0 || only >= l1)
      return 0;
    l0 = (int)only;
    l1 = l0 + 1;
  }
  int matched = 0;
  for (int l = l0; l < l1; l++) {
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      char name[64];
      snprintf(name, sizeof name, "h.%d.%s", l, sdq_linear_name((sdq_linear)k));
      if (!glob_match(pat, name))
        continue;
      cfg->layers[l * SDQ_LIN_COUNT + k].w_bits = w_bits;
      cfg->layers[l * SDQ_LIN_COUNT + k].a_bits = a_bits;
      matched++;
    }
  }
  return matched;
}

#define MAX_TOKENS 4
#define LINE_MAX_BYTES 1023

int sdq_bitconfig_parse(sdq_bitconfig *cfg, const char *text,
                        const char *source, int n_layer, char *err,
                        size_t errlen) {
  if (sdq_bitconfig_init_uniform(cfg, n_layer, 32, 0, err, errlen) != 0)
    return -1;
  pattern_set seen = {0}; /* patterns without "transformer.", to find duplicates */
  int rc = -1;

  /* A UTF-8 byte order mark may open the text. Lines end in LF, CRLF or a
   * lone CR (old Mac files). */
  const char *p = text;
  if (!strncmp(p, "\xEF\xBB\xBF", 3))
    p += 3;
  for (int line_no = 1; *p; line_no++) {
    size_t len = strcspn(p, "\r\n");
    char line[LINE_MAX_BYTES + 1];
    if (len > LINE_MAX_BYTES) {
      sdq_set_err(err, errlen, "%s:%d: line longer than %d bytes", source, line_no,
                  LINE_MAX_BYTES);
      goto out;
    }
    memcpy(line, p, len);
    line[len] = '\0';
    p += len;
    p += p[0] == '\r' && p[1] == '\n' ? 2 : p[0] != '\0';

    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *tok[MAX_TOKENS];
    int n_tok = 0;
    for (char *s = strtok(line, " \t\r\v\f"); s; s = strtok(NULL, " \t\r\v\f")) {
      if (n_tok == MAX_TOKENS)
        break;
      tok[n_tok++] = s;
    }
    if (n_tok == 0)
      continue;
    if (n_tok < 2 || n_tok > 3) {
      sdq_set_err(err, errlen, "%s:%d: expected 'PATTERN W_BITS [A_BITS]', found %d fields",
                  source, line_no, n_tok);
      goto out;
    }

    int w_bits, a_bits = 0;
    if (parse_int(tok[1], &w_bits) != 0 || !weight_bits_valid(w_bits)) {
      sdq_set_err(err, errlen, "%s:%d: weight bits '%s' invalid (use 2..8, 16 or 32)", source,
                  line_no, tok[1]);
      goto out;
    }
    if (n_tok == 3) {
      if (parse_int(tok[2], &a_bits) != 0 ||
          !((a_bits >= 2 && a_bits <= 8) || sdq_bits_is_full(a_bits))) {
        sdq_set_err(err, errlen, "%s:%d: activation bits '%s' invalid (use 2..8, 16 or 32)",
                    source, line_no, tok[2]);
        goto out;
      }
      if (sdq_bits_is_full(a_bits))
        a_bits = 0;
    }

    const char *pat = strip_prefix(tok[0]);
    int first = pattern_set_add(&seen, pat, line_no);
    if (first < 0) {
      sdq_set_err(err, errlen, "%s:%d: out of memory", source, line_no);
      goto out;
    }
    if (first > 0) {
      sdq_set_err(err, errlen, "%s:%d: duplicate rule for '%s' (first at line %d)", source,
                  line_no, tok[0], first);
      goto out;
    }

    /* One placeholder such as {middle} applies the rule to each block N of
     * its set, with N in place of the placeholder, and only to that block. */
    const char *open = strchr(pat, '{'), *close = open ? strchr(open, '}') : NULL;
    int matched = 0;
    if (!open) {
      matched = apply_rule(cfg, pat, 0, n_layer, w_bits, a_bits);
    } else {
      char set[16];
      size_t sl = close ? (size_t)(close - open - 1) : 0;
      if (!close || sl == 0 || sl >= sizeof set || strchr(close + 1, '{')) {
        sdq_set_err(err, errlen, "%s:%d: pattern '%s' needs one complete block placeholder "
                    "({first}, {last}, {front}, {back} or {middle})", source, line_no, tok[0]);
        goto out;
      }
      memcpy(set, open + 1, sl);
      set[sl] = '\0';
      if (block_in_set(set, 0, n_layer) < 0) {
        sdq_set_err(err, errlen, "%s:%d: unknown block placeholder '{%s}' (use first, last, "
                    "front, back or middle)", source, line_no, set);
        goto out;
      }
      int blocks = 0;
      for (int l = 0; l < n_layer; l++) {
        if (!block_in_set(set, l, n_layer))
          continue;
        char sub[LINE_MAX_BYTES + 16];
        snprintf(sub, sizeof sub, "%.*s%d%s", (int)(open - pat), pat, l, close + 1);
        matched += apply_rule(cfg, sub, l, l + 1, w_bits, a_bits);
        blocks++;
      }
      if (blocks == 0) {
        sdq_set_err(err, errlen, "%s:%d: '{%s}' selects no block of this %d-layer model, so "
                    "the rule would do nothing; remove it for models this shallow", source,
                    line_no, set, n_layer);
        goto out;
      }
    }
    if (!matched) {
      sdq_set_err(err, errlen,
                  "%s:%d: pattern '%s' matches no linear layer of this %d-layer model "
                  "(names look like transformer.h.0.attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)",
                  source, line_no, tok[0], n_layer);
      goto out;
    }
  }
  rc = 0;

out:
  pattern_set_free(&seen);
  if (rc != 0)
    sdq_bitconfig_free(cfg);
  return rc;
}

int sdq_bitconfig_load(sdq_bitconfig *cfg, const char *path, int n_layer,
                       char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  /* Accept only a regular file. A directory would read as empty (every
   * layer fp32), a FIFO would block in open, and a device may never end. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    sdq_set_err(err, errlen, "%s: cannot open bit configuration: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (!S_ISREG(sb.st_mode)) {
    const char *kind = S_ISDIR(sb.st_mode)    ? "a directory"
                       : S_ISFIFO(sb.st_mode) ? "a FIFO"
                       : S_ISSOCK(sb.st_mode) ? "a socket"
                       : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                     : "not a regular file";
    sdq_set_err(err, errlen, "%s is %s; a bit configuration is a regular text file of "
                "'PATTERN W_BITS [A_BITS]' rules", path, kind);
    close(fd);
    return -1;
  }
  FILE *f = NULL;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(f = fdopen(fd, "rb"))) {
    sdq_set_err(err, errlen, "%s: cannot open bit configuration: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  while (text) {
    size_t got = fread(text + len, 1, cap - len - 1, f);
    len += got;
    if (len < cap - 1)
      break;
    char *grown = realloc(text, cap * 2);
    if (!grown) {
      free(text);
      text = NULL;
      break;
    }
    text = grown;
    cap *= 2;
  }
  int read_failed = ferror(f);
  fclose(f);
  if (!text || read_failed) {
    free(text);
    sdq_set_err(err, errlen, "%s: %s", path, read_failed ? "read error" : "out of memory");
    return -1;
  }
  text[len] = '\0';
  if (strlen(text) != len) {
    int line_no = 1;
    for (const char *c = text; *c; c++)
      line_no += *c == '\n' || (*c == '\r' && c[1] != '\n');
    free(text);
    sdq_set_err(err, errlen, "%s:%d: the line contains a NUL byte; a bit configuration is "
                "plain text", path, line_no);
    return -1;
  }
  int rc = sdq_bitconfig_parse(cfg, text, path, n_layer, err, errlen);
  free(text);
  return rc;
}

void sdq_bitconfig_average_bits(const sdq_bitconfig *cfg, int n_embd,
                                double *plain, double *weighted) {
  double sum = 0, wsum = 0, wcount = 0;
  int n = cfg->n_layer * SDQ_LIN_COUNT;
  for (int i = 0; i < n; i++) {
    int in, out;
    sdq_linear_dims((sdq_linear)(i % SDQ_LIN_COUNT), n_embd, &in, &out);
    double count = (double)in * (double)out;
    sum += cfg->layers[i].w_bits;
    wsum += count * cfg->layers[i].w_bits;
    wcount += count;
  }
  if (plain)
    *plain = n ? sum / n : 0;
  if (weighted)
    *weighted = wcount > 0 ? wsum / wcount : 0;
}
