/* hf_io.c - load and save GPT-2 base weights in the Hugging Face layout
 * (model.safetensors with Conv1D weights [in, out], plus config.json). */
#include "model/gpt2.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gpt2_internal.h"
#include "model/safetensors.h"

/* Per-block tensor suffixes in HF naming; conv1d marks [in, out] storage. */
typedef struct block_tensor {
  const char *suffix;
  int conv1d;
} block_tensor;

static const block_tensor block_tensors[] = {
    {"ln_1.weight", 0},        {"ln_1.bias", 0},
    {"attn.c_attn.weight", 1}, {"attn.c_attn.bias", 0},
    {"attn.c_proj.weight", 1}, {"attn.c_proj.bias", 0},
    {"ln_2.weight", 0},        {"ln_2.bias", 0},
    {"mlp.c_fc.weight", 1},    {"mlp.c_fc.bias", 0},
    {"mlp.c_proj.weight", 1},  {"mlp.c_proj.bias", 0},
};
#define N_BLOCK_TENSORS (int)(sizeof block_tensors / sizeof block_tensors[0])

/* Returns the destination of per-block tensor j of block l in p, its
 * kernel-layout rows and cols (rows = out for weights; 1 x n for vectors). */
static float *block_dest(const sdq_gpt2_params *p, const sdq_gpt2_config *c, int l, int j,
                         int *rows, int *cols) {
  size_t C = (size_t)c->n_embd, lC = (size_t)l * C;
  *rows = 1;
  switch (j) {
  case 0: *cols = (int)C; return p->ln1w + lC;
  case 1: *cols = (int)C; return p->ln1b + lC;
  case 6: *cols = (int)C; return p->ln2w + lC;
  case 7: *cols = (int)C; return p->ln2b + lC;
  default: break;
  }
  /* Entries 2..5 and 8..11 of block_tensors are the four linears. */
  static const sdq_linear linear_of[N_BLOCK_TENSORS] = {
      0, 0, SDQ_LIN_ATTN_QKV, SDQ_LIN_ATTN_QKV, SDQ_LIN_ATTN_PROJ, SDQ_LIN_ATTN_PROJ,
      0, 0, SDQ_LIN_MLP_FC, SDQ_LIN_MLP_FC, SDQ_LIN_MLP_PROJ, SDQ_LIN_MLP_PROJ};
  sdq_linear k = linear_of[j];
  int in, out;
  sdq_linear_dims(k, c->n_embd, &in, &out);
  float *bias;
  float *w = sdq_gpt2_linear_weight(p, c, l, k, &bias);
  if (j % 2 == 0) {
    *rows = out;
    *cols = in;
    return w;
  }
  *cols = out;
  return bias;
}

/* Parses "h.<i>.<suffix>" (prefix already stripped); returns the block
 * index or -1, and sets *suffix. */
static int parse_block_name(const char *name, const char **suffix) {
  if (strncmp(name, "h.", 2) != 0 || !isdigit((unsigned char)name[2]))
    return -1;
  char *end;
  errno = 0;
  long i = strtol(name + 2, &end, 10);
  if (errno || *end != '.' || i < 0 || i > 100000)
    return -1;
  *suffix = end + 1;
  return (int)i;
}

static const char *strip_transformer(const char *name) {
  return strncmp(name, "transformer.", 12) == 0 ? name + 12 : name;
}

/* Reads integer key of root into out. Returns 0 when absent (or null), 1
 * when read, -1 when not an integer, -2 when outside the range of int. */
static int json_int(json_t *root, const char *key, int *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_integer(v))
    return -1;
  json_int_t x = json_integer_value(v);
  if (x < INT_MIN || x > INT_MAX)
    return -2;
  *out = (int)x;
  return 1;
}

/* Checks the config.json fields that change what the model computes against
 * what sdq computes. Returns 0 or -1 with a message naming path, field and
 * value. */
static int check_math_fields(json_t *root, const char *path, char *err, size_t errlen) {
  json_t *v = json_object_get(root, "model_type");
  if (v && (!json_is_string(v) || strcmp(json_string_value(v), "gpt2") != 0)) {
    sdq_set_err(err, errlen, "%s: \"model_type\" is %s%s%s; sdq runs only \"gpt2\" models", path,
                json_is_string(v) ? "\"" : "", json_is_string(v) ? json_string_value(v) : "not a string",
                json_is_string(v) ? "\"" : "");
    return -1;
  }

  /* sdq computes the tanh GELU, which HF calls by any of these names. */
  static const char *const tanh_gelu[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"};
  v = json_object_get(root, "activation_function");
  if (v) {
    int ok = 0;
    for (size_t i = 0; json_is_string(v) && i < sizeof tanh_gelu / sizeof tanh_gelu[0]; i++)
      ok |= !strcmp(json_string_value(v), tanh_gelu[i]);
    if (!ok) {
      sdq_set_err(err, errlen, "%s: \"activation_function\" is %s%s%s; sdq computes only the tanh "
                  "GELU of GPT-2 (\"gelu_new\", also named \"gelu_pytorch_tanh\" or \"gelu_fast\")",
                  path, json_is_string(v) ? "\"" : "",
                  json_is_string(v) ? json_string_value(v) : "not a string",
                  json_is_string(v) ? "\"" : "");
      return -1;
    }
  }

  /* LayerNorm runs with SDQ_LN_EPS; accept the values that round to it. */
  v = json_object_get(root, "layer_norm_epsilon");
  if (v && (!json_is_number(v) || (float)json_number_value(v) != SDQ_LN_EPS)) {
    if (json_is_number(v))
      sdq_set_err(err, errlen, "%s: \"layer_norm_epsilon\" is %g; sdq computes LayerNorm with "
                  "%g only", path, json_number_value(v), (double)SDQ_LN_EPS);
    else
      sdq_set_err(err, errlen, "%s: \"layer_norm_epsilon\" must be a number (sdq computes "
                  "LayerNorm with %g)", path, (double)SDQ_LN_EPS);
    return -1;
  }

  /* Attention options of HF's GPT-2 that sdq does not implement. */
  static const struct {
    const char *key;
    int want;
  } flags[] = {{"scale_attn_weights", 1},
               {"scale_attn_by_inverse_layer_idx", 0},
               {"add_cross_attention", 0}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    v = json_object_get(root, flags[i].key);
    if (v && (!json_is_boolean(v) || json_is_true(v) != flags[i].want)) {
      sdq_set_err(err, errlen, "%s: \"%s\" must be %s; sdq implements only GPT-2's %s", path,
                  flags[i].key, flags[i].want ? "true" : "false",
                  flags[i].want ? "scaled attention" : "plain decoder attention");
      return -1;
    }
  }
  return 0;
}

int sdq_gpt2_read_config_json(const char *path, sdq_gpt2_config *cfg, char *err,
                              size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root || !json_is_object(root)) {
    sdq_set_err(err, errlen, "%s: invalid JSON at line %d: %s", path, jerr.line,
                root ? "expected an object" : jerr.text);
    json_decref(root);
    return -1;
  }

  /* 1. Shape fields: integers > 0 when present. */
  int n_positions = 0, n_ctx = 0, n_inner = 0;
  const struct {
    const char *key;
    int *dst;
  } fields[] = {{"n_layer", &cfg->n_layer},   {"n_head", &cfg->n_head},
                {"n_embd", &cfg->n_embd},     {"n_positions", &n_positions},
                {"n_ctx", &n_ctx},            {"vocab_size", &cfg->vocab_size},
                {"n_inner", &n_inner}};
  int rc = -1;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    int got = json_int(root, fields[i].key, fields[i].dst);
    json_t *v = json_object_get(root, fields[i].key);
    if (got == -2) {
      sdq_set_err(err, errlen, "%s: \"%s\" is %" JSON_INTEGER_FORMAT ", outside the range of int",
                  path, fields[i].key, json_integer_value(v));
      goto out;
    }
    if (got < 0) {
      sdq_set_err(err, errlen, "%s: \"%s\" must be an integer", path, fields[i].key);
      goto out;
    }
    if (got == 1 && *fields[i].dst <= 0) {
      sdq_set_err(err, errlen, "%s: \"%s\" is %d; it must be a positive integer", path,
                  fields[i].key, *fields[i].dst);
      goto out;
    }
  }

  /* 2. How the shape fields relate. HF sizes the position table by
   * n_positions; n_ctx is its older name, so both must agree. */
  if (n_positions && n_ctx && n_positions != n_ctx) {
    sdq_set_err(err, errlen, "%s: \"n_positions\" is %d but \"n_ctx\" is %d; sdq's context is "
                "the position table (n_positions), so make them equal", path, n_positions, n_ctx);
    goto out;
  }
  cfg->n_ctx = n_positions ? n_positions : n_ctx;
  if (cfg->n_head && cfg->n_embd && cfg->n_embd % cfg->n_head != 0) {
    sdq_set_err(err, errlen, "%s: \"n_head\" is %d, which does not divide \"n_embd\" = %d", path,
                cfg->n_head, cfg->n_embd);
    goto out;
  }
  if (n_inner && cfg->n_embd && (n_inner / 4 != cfg->n_embd || n_inner % 4 != 0)) {
    sdq_set_err(err, errlen, "%s: \"n_inner\" is %d; sdq's MLP width is 4 * n_embd = %lld "
                "(or give null)", path, n_inner, 4LL * cfg->n_embd);
    goto out;
  }

  /* 3. Fields that change the maths. */
  rc = check_math_fields(root, path, err, errlen);
out:
  json_decref(root);
  return rc;
}

/* Reads config.json beside the weights when it exists and checks its shape
 * fields agree with cfg (from the tensor shapes). Returns 0 (cfg->n_head
 * set, or left 0 when config.json or its n_head is absent) or -1. */
static int read_config_json(const char *path, sdq_gpt2_config *cfg, char *err, size_t errlen) {
  if (access(path, F_OK) != 0)
    return 0;
  sdq_gpt2_config got;
  if (sdq_gpt2_read_config_json(path, &got, err, errlen) != 0)
    return -1;
  const struct {
    const char *key;
    int value, expect;
  } fields[] = {{"n_layer", got.n_layer, cfg->n_layer},
                {"n_embd", got.n_embd, cfg->n_embd},
                {"n_positions", got.n_ctx, cfg->n_ctx},
                {"vocab_size", got.vocab_size, cfg->vocab_size}};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (fields[i].value && fields[i].value != fields[i].expect) {
      sdq_set_err(err, errlen, "%s: \"%s\" is %d but the weights imply %d", path, fields[i].key,
                  fields[i].value, fields[i].expect);
      return -1;
    }
  }
  if (got.n_head && cfg->n_embd % got.n_head != 0) {
    sdq_set_err(err, errlen, "%s: \"n_head\" is %d, which does not divide n_embd = %d (the width "
                "of wte.weight)", path, got.n_head, cfg->n_embd);
    return -1;
  }
  cfg->n_head = got.n_head;
  return 0;
}

/* Splits path into the safetensors file and the config.json beside it. */
static int checkpoint_paths(const char *path, char *st_path, char *cfg_path, size_t len) {
  struct stat sb;
  int n1, n2;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    n1 = snprintf(st_path, len, "%s/model.safetensors", path);
    n2 = snprintf(cfg_path, len, "%s/config.json", path);
  } else {
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    n1 = snprintf(st_path, len, "%s", path);
    n2 = snprintf(cfg_path, len, "%.*s/config.json", dirlen, slash ? path : ".");
  }
  return (n1 < 0 || (size_t)n1 >= len || n2 < 0 || (size_t)n2 >= len) ? -1 : 0;
}

/* Returns -1 with a message naming the tensor and the index of its first
 * non-finite element in x[n], else 0. */
static int check_finite(const float *x, size_t n, const char *path, const char *name, char *err,
                        size_t errlen) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) {
      sdq_set_err(err, errlen, "%s: tensor '%s' contains %g at element %zu (counted from 0 in "
                  "the file's layout); the weights must be finite", path, name, (double)x[i], i);
      return -1;
    }
  return 0;
}

/* Reads tensor t into dst with kernel shape (rows, cols); conv1d tensors are
 * [cols, rows] in the file and are transposed. */
static int read_tensor(const sdq_safetensors *st, const sdq_st_tensor *t, float *dst, int rows,
                       int cols, int conv1d, char *err, size_t errlen) {
  size_t want0 = conv1d ? (size_t)cols : (size_t)rows, want1 = conv1d ? (size_t)rows : (size_t)cols;
  int ok = rows == 1 && !conv1d ? (t->ndim == 1 && t->shape[0] == (size_t)cols)
                                : (t->ndim == 2 && t->shape[0] == want0 && t->shape[1] == want1);
  if (!ok) {
    char shape[96] = "";
    for (int d = 0; d < t->ndim; d++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%zu", d ? ", " : "",
               t->shape[d]);
    if (rows == 1 && !conv1d)
      sdq_set_err(err, errlen, "%s: tensor '%s' has shape [%s], expected [%d]", st->path, t->name,
                  shape, cols);
    else
      sdq_set_err(err, errlen, "%s: tensor '%s' has shape [%s], expected [%zu, %zu]", st->path,
                  t->name, shape, want0, want1);
    return -1;
  }
  size_t n = (size_t)rows * (size_t)cols;
  if (!conv1d)
    return sdq_safetensors_read_f32(st, t, dst, n, err, errlen) != 0 ||
                   check_finite(dst, n, st->path, t->name, err, errlen) != 0
               ? -1
               : 0;
  float *tmp = malloc(n * sizeof *tmp);
  if (!tmp) {
    sdq_set_err(err, errlen, "%s: out of memory reading '%s'", st->path, t->name);
    return -1;
  }
  int rc = sdq_safetensors_read_f32(st, t, tmp, n, err, errlen);
  if (rc == 0)
    rc = check_finite(tmp, n, st->path, t->name, err, errlen);
  if (rc == 0)
    for (int i = 0; i < cols; i++)
      for (int o = 0; o < rows; o++)
        dst[(size_t)o * cols + i] = tmp[(size_t)i * rows + o];
  free(tmp);
  return rc;
}

sdq_gpt2 *sdq_gpt2_load_hf(const char *path, uint64_t seed, char *err,
                           size_t errlen) {
  char st_path[4096], cfg_path[4096];
  if (checkpoint_paths(path, st_path, cfg_path, sizeof st_path) != 0) {
    sdq_set_err(err, errlen, "%s: path too long", path);
    return NULL;
  }
  sdq_safetensors st;
  memset(&st, 0, sizeof st);
  if (sdq_safetensors_open(&st, st_path, err, errlen) != 0)
    return NULL;
  sdq_gpt2 *m = NULL;
  const sdq_st_tensor *wte = NULL, *wpe = NULL, *lnfw = NULL, *lnfb = NULL, *lm_head = NULL;
  int n_layer = 0;

  /* 1. Classify every tensor; infer n_layer; reject unknown names. */
  for (size_t i = 0; i < st.n_tensors; i++) {
    const sdq_st_tensor *t = &st.tensors[i];
    const char *name = strip_transformer(t->name);
    const char *suffix = NULL;
    int l = parse_block_name(name, &suffix);
    if (!strcmp(name, "wte.weight")) wte = t;
    else if (!strcmp(name, "wpe.weight")) wpe = t;
    else if (!strcmp(name, "ln_f.weight")) lnfw = t;
    else if (!strcmp(name, "ln_f.bias")) lnfb = t;
    else if (!strcmp(t->name, "lm_head.weight")) lm_head = t;
    else if (l >= 0 && (!strcmp(suffix, "attn.bias") || !strcmp(suffix, "attn.masked_bias"))) continue;
    else if (l >= 0) {
      int known = 0;
      for (int j = 0; j < N_BLOCK_TENSORS; j++)
        known |= !strcmp(suffix, block_tensors[j].suffix);
      if (!known) {
        sdq_set_err(err, errlen, "%s: unknown tensor '%s' (not part of GPT-2)", st_path, t->name);
        goto fail;
      }
      if (l + 1 > n_layer)
        n_layer = l + 1;
    } else {
      sdq_set_err(err, errlen, "%s: unknown tensor '%s' (not part of GPT-2)", st_path, t->name);
      goto fail;
    }
  }
  const char *missing = !wte ? "wte.weight" : !wpe ? "wpe.weight" : !lnfw ? "ln_f.weight"
                        : !lnfb ? "ln_f.bias" : n_layer == 0 ? "h.0.*" : NULL;
  if (missing) {
    sdq_set_err(err, errlen, "%s: missing tensor %s; is this a GPT-2 checkpoint?", st_path, missing);
    goto fail;
  }
  if (wte->ndim != 2 || wpe->ndim != 2 || wte->shape[1] != wpe->shape[1] ||
      wte->shape[0] > INT32_MAX || wpe->shape[0] > INT32_MAX || wte->shape[1] > INT32_MAX / 4) {
    sdq_set_err(err, errlen, "%s: wte.weight and wpe.weight must be 2-D with the same width", st_path);
    goto fail;
  }

  /* 2. The config: shapes, then n_head from config.json or the 124M rule. */
  sdq_gpt2_config cfg = {n_layer, 0, (int)wte->shape[1], (int)wpe->shape[0], (int)wte->shape[0]};
  if (read_config_json(cfg_path, &cfg, err, errlen) != 0)
    goto fail;
  if (cfg.n_head == 0) {
    if (cfg.n_embd != 768) {
      sdq_set_err(err, errlen, "%s: n_head is unknown: put a config.json with \"n_head\" beside the weights "
                  "(only n_embd = 768, GPT-2 124M, defaults to 12 heads; this model has n_embd = %d)",
                  st_path, cfg.n_embd);
      goto fail;
    }
    cfg.n_head = 12;
  }
  m = sdq_gpt2_alloc(&cfg, seed, err, errlen);
  if (!m)
    goto fail;

  /* 3. Copy every tensor, transposing the Conv1D weights. */
  sdq_gpt2_params *p = &m->params;
  int C = cfg.n_embd;
  if (read_tensor(&st, wte, p->wte, cfg.vocab_size, C, 0, err, errlen) != 0 ||
      read_tensor(&st, wpe, p->wpe, cfg.n_ctx, C, 0, err, errlen) != 0 ||
      read_tensor(&st, lnfw, p->lnfw, 1, C, 0, err, errlen) != 0 ||
      read_tensor(&st, lnfb, p->lnfb, 1, C, 0, err, errlen) != 0)
    goto fail;
  for (int l = 0; l < n_layer; l++) {
    for (int j = 0; j < N_BLOCK_TENSORS; j++) {
      char name[128];
      snprintf(name, sizeof name, "h.%d.%s", l, block_tensors[j].suffix);
      const sdq_st_tensor *t = sdq_safetensors_find(&st, name);
      if (!t) {
        char prefixed[160];
        snprintf(prefixed, sizeof prefixed, "transformer.%s", name);
        t = sdq_safetensors_find(&st, prefixed);
      }
      if (!t) {
        sdq_set_err(err, errlen, "%s: missing tensor %s (the file has blocks up to h.%d)", st_path,
                    name, n_layer - 1);
        goto fail;
      }
      int rows, cols;
      float *dst = block_dest(p, &cfg, l, j, &rows, &cols);
      if (read_tensor(&st, t, dst, rows, cols, block_tensors[j].conv1d, err, errlen) != 0)
        goto fail;
    }
  }

  /* 4. lm_head.weight must be the tied wte; anything else is ignored. */
  if (lm_head) {
    size_t n = (size_t)cfg.vocab_size * C;
    float *tmp = lm_head->ndim == 2 && lm_head->numel == n ? malloc(n * sizeof *tmp) : NULL;
    int same = tmp && sdq_safetensors_read_f32(&st, lm_head, tmp, n, NULL, 0) == 0 &&
               memcmp(tmp, p->wte, n * sizeof *tmp) == 0;
    free(tmp);
    if (!same)
      fprintf(stderr, "NOTE: %s: lm_head.weight differs from wte.weight; sdq ties the LM head to wte "
                      "and ignores lm_head.weight\n", st_path);
  }
  sdq_safetensors_close(&st);
  return m;

fail:
  sdq_safetensors_close(&st);
  sdq_gpt2_free(m);
  return NULL;
}

static int make_dir(const char *dir, char *err, size_t errlen) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST)
    return 0;
  sdq_set_err(err, errlen, "%s: cannot create folder: %s", dir, strerror(errno));
  return -1;
}

int sdq_join_path(char *buf, size_t len, const char *dir, const char *name, char *err,
                  size_t errlen) {
  int n = snprintf(buf, len, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= len) {
    sdq_set_err(err, errlen, "%s/%s: path too long (limit %zu bytes)", dir, name, len - 1);
    return -1;
  }
  return 0;
}

/* Fails with a message when path exists and is not a regular file:
 * rename() would put the new file in place of a device node, FIFO or
 * socket, and fails on a folder. A path that does not exist yet is fine. */
static int check_replaceable(const char *path, char *err, size_t errlen) {
  struct stat sb;
  if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode))
    return 0;
  sdq_set_err(err, errlen,
              "%s: exists and is not a regular file (it is %s), so it is not replaced; choose a "
              "file path", path,
              S_ISDIR(sb.st_mode)    ? "a directory"
              : S_ISCHR(sb.st_mode)  ? "a character device"
              : S_ISBLK(sb.st_mode)  ? "a block device"
              : S_ISFIFO(sb.st_mode) ? "a FIFO"
              : S_ISSOCK(sb.st_mode) ? "a socket"
                                     : "an unknown kind of file");
  return -1;
}

int sdq_write_json_atomic(json_t *root, const char *path, char *err, size_t errlen) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    sdq_set_err(err, errlen, "%s: path too long", path);
    return -1;
  }
  if (check_replaceable(path, err, errlen) != 0)
    return -1;
  if (json_dump_file(root, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
    sdq_set_err(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (check_replaceable(path, err, errlen) != 0) { /* it may have appeared meanwhile */
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) != 0) {
    sdq_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

int sdq_gpt2_save_hf(const sdq_gpt2 *m, const char *dir, char *err,
                     size_t errlen) {
  if (make_dir(dir, err, errlen) != 0)
    return -1;
  const sdq_gpt2_config *c = &m->cfg;
  const sdq_gpt2_params *p = &m->params;
  int C = c->n_embd, L = c->n_layer;
  size_t n = 4 + (size_t)L * N_BLOCK_TENSORS;
  sdq_st_write_tensor *ts = calloc(n, sizeof *ts);
  char (*names)[64] = calloc(n, sizeof *names);
  float **owned = calloc(n, sizeof *owned);
  char cfg_path[4200], cfg_tmp[4300], w_path[4200], w_tmp[4300], w_old[4300];
  int have_cfg_tmp = 0, have_w_tmp = 0, have_w_old = 0; /* files to remove at out: */
  int rc = -1;
  if (!ts || !names || !owned) {
    sdq_set_err(err, errlen, "out of memory saving %s", dir);
    goto out;
  }

  size_t i = 0;
  struct {
    const char *name;
    const float *data;
    size_t d0, d1;
  } globals[] = {{"wte.weight", p->wte, (size_t)c->vocab_size, (size_t)C},
                 {"wpe.weight", p->wpe, (size_t)c->n_ctx, (size_t)C},
                 {"ln_f.weight", p->lnfw, (size_t)C, 0},
                 {"ln_f.bias", p->lnfb, (size_t)C, 0}};
  for (; i < 4; i++) {
    snprintf(names[i], sizeof names[i], "%s", globals[i].name);
    ts[i].name = names[i];
    ts[i].ndim = globals[i].d1 ? 2 : 1;
    ts[i].shape[0] = globals[i].d0;
    ts[i].shape[1] = globals[i].d1;
    ts[i].data = globals[i].data;
  }
  for (int l = 0; l < L; l++)
    for (int j = 0; j < N_BLOCK_TENSORS; j++, i++) {
      int rows, cols;
      const float *src = block_dest(p, c, l, j, &rows, &cols);
      snprintf(names[i], sizeof names[i], "h.%d.%s", l, block_tensors[j].suffix);
      ts[i].name = names[i];
      if (!block_tensors[j].conv1d) {
        ts[i].ndim = 1;
        ts[i].shape[0] = (size_t)cols;
        ts[i].data = src;
        continue;
      }
      /* Kernel layout [out=rows, in=cols] -> Conv1D [in, out]. */
      float *t = malloc((size_t)rows * cols * sizeof *t);
      if (!t) {
        sdq_set_err(err, errlen, "out of memory saving %s", dir);
        goto out;
      }
      for (int o = 0; o < rows; o++)
        for (int in = 0; in < cols; in++)
          t[(size_t)in * rows + o] = src[(size_t)o * cols + in];
      owned[i] = t;
      ts[i].ndim = 2;
      ts[i].shape[0] = (size_t)cols;
      ts[i].shape[1] = (size_t)rows;
      ts[i].data = t;
    }

  /* The pair is replaced so that a failure leaves the old config.json and
   * model.safetensors together (or, when even that cannot be restored, no
   * weights at all), never new weights beside an old config:
   *   1. reject targets that are not regular files;
   *   2. write config.json and the weights to temporary names;
   *   3. keep a hard link to the old weights, rename the new weights in;
   *   4. rename config.json in; if that fails, put the old weights back. */
  if (sdq_join_path(cfg_path, sizeof cfg_path, dir, "config.json", err, errlen) != 0 ||
      sdq_join_path(w_path, sizeof w_path, dir, "model.safetensors", err, errlen) != 0 ||
      check_replaceable(cfg_path, err, errlen) != 0 ||
      check_replaceable(w_path, err, errlen) != 0)
    goto out;
  snprintf(cfg_tmp, sizeof cfg_tmp, "%s.new.%ld", cfg_path, (long)getpid());
  snprintf(w_tmp, sizeof w_tmp, "%s.new.%ld", w_path, (long)getpid());
  snprintf(w_old, sizeof w_old, "%s.old.%ld", w_path, (long)getpid());

  json_t *root = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:b}",
                           "model_type", "gpt2", "architectures", "GPT2LMHeadModel",
                           "n_layer", L, "n_head", c->n_head, "n_embd", C,
                           "n_positions", c->n_ctx, "n_ctx", c->n_ctx,
                           "vocab_size", c->vocab_size, "layer_norm_epsilon", 1e-5,
                           "activation_function", "gelu_new", "tie_word_embeddings", 1);
  if (!root) {
    sdq_set_err(err, errlen, "%s: out of memory building the JSON", cfg_path);
    goto out;
  }
  have_cfg_tmp = 1;
  int dumped = json_dump_file(root, cfg_tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(root);
  if (dumped != 0) {
    sdq_set_err(err, errlen, "%s: cannot write %s: %s", cfg_path, cfg_tmp, strerror(errno));
    goto out;
  }
  sdq_st_metadata meta = {"format", "pt"};
  have_w_tmp = 1;
  if (sdq_safetensors_write(w_tmp, ts, n, &meta, 1, err, errlen) != 0)
    goto out;

  have_w_old = link(w_path, w_old) == 0;
  if (rename(w_tmp, w_path) != 0) {
    sdq_set_err(err, errlen, "%s: cannot write: %s", w_path, strerror(errno));
    goto out;
  }
  have_w_tmp = 0;
  if (rename(cfg_tmp, cfg_path) != 0) {
    int e = errno;
    int restored = have_w_old ? rename(w_old, w_path) == 0 : unlink(w_path) == 0;
    have_w_old = have_w_old && !restored;
    sdq_set_err(err, errlen, "%s: cannot write: %s; %s", cfg_path, strerror(e),
                restored ? "the previous model.safetensors is back in place"
                         : "the new model.safetensors could not be taken back, so it does not "
                           "match this config.json");
    goto out;
  }
  have_cfg_tmp = 0;
  rc = 0;

out:
  if (have_cfg_tmp)
    unlink(cfg_tmp);
  if (have_w_tmp)
    unlink(w_tmp);
  if (have_w_old)
    unlink(w_old);
  for (size_t k = 0; owned && k < n; k++)
    free(owned[k]);
  free(owned);
  free(names);
  free(ts);
  return rc;
}
