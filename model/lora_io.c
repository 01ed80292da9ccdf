/* lora_io.c - save and load the LoRA bank as PEFT adapters, one folder per
 * adapter set (bits2 .. bits8, fp32). */
#include "model/gpt2.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gpt2_internal.h"
#include "model/safetensors.h"

static void set_folder(int bits, char *buf, size_t len) {
  if (bits == SDQ_LORA_FULL_BITS)
    snprintf(buf, len, "fp32");
  else
    snprintf(buf, len, "bits%d", bits);
}

static void tensor_name(int l, sdq_linear k, char ab, char *buf, size_t len) {
  snprintf(buf, len, "base_model.model.transformer.h.%d.%s.lora_%c.weight", l, sdq_linear_name(k),
           ab);
}

static int make_dir(const char *dir, char *err, size_t errlen) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST)
    return 0;
  sdq_set_err(err, errlen, "%s: cannot create folder: %s", dir, strerror(errno));
  return -1;
}

static int save_set(const sdq_gpt2 *m, int set, const char *dir, char *err, size_t errlen) {
  const sdq_lora_bank *bank = &m->lora;
  int L = m->cfg.n_layer, r = bank->cfg.rank;
  size_t n = (size_t)L * SDQ_LIN_COUNT * 2;
  sdq_st_write_tensor *ts = calloc(n, sizeof *ts);
  char (*names)[96] = calloc(n, sizeof *names);
  int rc = -1;
  if (!ts || !names) {
    sdq_set_err(err, errlen, "out of memory saving LoRA adapters to %s", dir);
    goto out;
  }
  size_t i = 0;
  for (int l = 0; l < L; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      const sdq_lora_adapter *a = sdq_lora_adapter_at(bank, set, l, (sdq_linear)k);
      tensor_name(l, (sdq_linear)k, 'A', names[i], sizeof names[i]);
      ts[i] = (sdq_st_write_tensor){names[i], 2, {(size_t)r, (size_t)a->in}, a->A};
      i++;
      tensor_name(l, (sdq_linear)k, 'B', names[i], sizeof names[i]);
      ts[i] = (sdq_st_write_tensor){names[i], 2, {(size_t)a->out, (size_t)r}, a->B};
      i++;
    }
  char path[4200];
  if (sdq_join_path(path, sizeof path, dir, "adapter_model.safetensors", err, errlen) != 0)
    goto out;
  sdq_st_metadata meta = {"format", "pt"};
  if (sdq_safetensors_write(path, ts, n, &meta, 1, err, errlen) != 0)
    goto out;

  /* PEFT's "c_proj" target matches both attn.c_proj and mlp.c_proj. */
  json_t *root = json_pack("{s:s, s:s, s:s, s:i, s:f, s:f, s:[s,s,s], s:b, s:s, s:i}",
                           "peft_type", "LORA", "task_type", "CAUSAL_LM",
                           "base_model_name_or_path", "gpt2", "r", r,
                           "lora_alpha", (double)bank->cfg.alpha,
                           "lora_dropout", (double)bank->cfg.dropout,
                           "target_modules", "c_attn", "c_proj", "c_fc",
                           "fan_in_fan_out", 1, "bias", "none",
                           "sdq_weight_bits", bank->cfg.bits[set]);
  if (sdq_join_path(path, sizeof path, dir, "adapter_config.json", err, errlen) != 0) {
    json_decref(root);
    goto out;
  }
  if (!root) {
    sdq_set_err(err, errlen, "%s: out of memory building the JSON", path);
    goto out;
  }
  rc = sdq_write_json_atomic(root, path, err, errlen);
  json_decref(root);
out:
  free(names);
  free(ts);
  return rc;
}

int sdq_lora_save(const sdq_gpt2 *m, const char *dir, char *err,
                  size_t errlen) {
  if (m->lora.cfg.rank == 0) {
    sdq_set_err(err, errlen, "the model has no LoRA bank to save (rank 0)");
    return -1;
  }
  if (make_dir(dir, err, errlen) != 0)
    return -1;
  for (int s = 0; s < m->lora.cfg.n_sets; s++) {
    char folder[32], sub[4200];
    set_folder(m->lora.cfg.bits[s], folder, sizeof folder);
    if (sdq_join_path(sub, sizeof sub, dir, folder, err, errlen) != 0)
      return -1;
    if (make_dir(sub, err, errlen) != 0 || save_set(m, s, sub, err, errlen) != 0)
      return -1;
  }
  return 0;
}

/* Reads r, lora_alpha and lora_dropout of one adapter_config.json. */
static int read_adapter_config(const char *path, int *r, double *alpha, double *dropout,
                               char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    sdq_set_err(err, errlen, "%s: cannot read JSON (line %d): %s", path, jerr.line, jerr.text);
    return -1;
  }
  json_t *jr = json_object_get(root, "r"), *ja = json_object_get(root, "lora_alpha");
  json_t *jd = json_object_get(root, "lora_dropout");
  int rc = 0;
  if (!json_is_integer(jr) || !json_is_number(ja)) {
    sdq_set_err(err, errlen, "%s: needs integer \"r\" and numeric \"lora_alpha\"", path);
    rc = -1;
  } else {
    *r = (int)json_integer_value(jr);
    *alpha = json_number_value(ja);
    *dropout = json_is_number(jd) ? json_number_value(jd) : 0.0;
  }
  json_decref(root);
  return rc;
}

int sdq_lora_load(sdq_gpt2 *m, const char *dir, char *err, size_t errlen) {
  static const int candidates[] = {2, 3, 4, 5, 6, 7, 8, SDQ_LORA_FULL_BITS};
  sdq_lora_config cfg;
  memset(&cfg, 0, sizeof cfg);
  char paths[SDQ_LORA_MAX_SETS][4200];

  /* 1. Find the adapter sets and check they agree on r and alpha. */
  for (size_t c = 0; c < sizeof candidates / sizeof candidates[0]; c++) {
    char folder[32], cfg_path[4300];
    set_folder(candidates[c], folder, sizeof folder);
    if (sdq_join_path(paths[cfg.n_sets], sizeof paths[0], dir, folder, err, errlen) != 0 ||
        sdq_join_path(cfg_path, sizeof cfg_path, paths[cfg.n_sets], "adapter_config.json", err,
                      errlen) != 0)
      return -1;
    if (access(cfg_path, F_OK) != 0)
      continue;
    int r;
    double alpha, dropout;
    if (read_adapter_config(cfg_path, &r, &alpha, &dropout, err, errlen) != 0)
      return -1;
    if (cfg.n_sets > 0 && (r != cfg.rank || (float)alpha != cfg.alpha)) {
      sdq_set_err(err, errlen, "%s: r = %d, lora_alpha = %g differ from the other sets (r = %d, lora_alpha = %g)",
                  cfg_path, r, alpha, cfg.rank, (double)cfg.alpha);
      return -1;
    }
    cfg.rank = r;
    cfg.alpha = (float)alpha;
    cfg.dropout = (float)dropout;
    cfg.bits[cfg.n_sets++] = candidates[c];
  }
  if (cfg.n_sets == 0) {
    sdq_set_err(err, errlen, "%s: no adapter set found (expected subfolders bits2 .. bits8 or fp32 "
                "with adapter_config.json)", dir);
    return -1;
  }

  /* 2. Build a bank of that shape and read every A and B. */
  sdq_lora_bank old = m->lora;
  memset(&m->lora, 0, sizeof m->lora);
  if (sdq_gpt2_lora_init(m, &cfg, 0, err, errlen) != 0) {
    m->lora = old;
    return -1;
  }
  int rc = 0;
  for (int s = 0; s < cfg.n_sets && rc == 0; s++) {
    char path[4300];
    if (sdq_join_path(path, sizeof path, paths[s], "adapter_model.safetensors", err, errlen) != 0) {
      rc = -1;
      break;
    }
    sdq_safetensors st;
    memset(&st, 0, sizeof st);
    if (sdq_safetensors_open(&st, path, err, errlen) != 0) {
      rc = -1;
      break;
    }
    size_t expected = 0;
    for (int l = 0; l < m->cfg.n_layer && rc == 0; l++)
      for (int k = 0; k < SDQ_LIN_COUNT && rc == 0; k++) {
        sdq_lora_adapter *a = sdq_lora_adapter_at(&m->lora, s, l, (sdq_linear)k);
        for (int ab = 0; ab < 2 && rc == 0; ab++) {
          char name[96];
          tensor_name(l, (sdq_linear)k, ab ? 'B' : 'A', name, sizeof name);
          size_t d0 = ab ? (size_t)a->out : (size_t)cfg.rank;
          size_t d1 = ab ? (size_t)cfg.rank : (size_t)a->in;
          const sdq_st_tensor *t = sdq_safetensors_find(&st, name);
          if (!t) {
            sdq_set_err(err, errlen, "%s: missing tensor %s", path, name);
            rc = -1;
          } else if (t->ndim != 2 || t->shape[0] != d0 || t->shape[1] != d1) {
            sdq_set_err(err, errlen, "%s: tensor %s must have shape [%zu, %zu]", path, name, d0, d1);
            rc = -1;
          } else if (sdq_safetensors_read_f32(&st, t, ab ? a->B : a->A, d0 * d1, err, errlen) != 0) {
            rc = -1;
          }
          expected++;
        }
      }
    if (rc == 0 && st.n_tensors != expected) {
      sdq_set_err(err, errlen, "%s: holds %zu tensors, expected %zu for a %d-layer GPT-2", path,
                  st.n_tensors, expected, m->cfg.n_layer);
      rc = -1;
    }
    sdq_safetensors_close(&st);
  }
  for (size_t i = 0; rc == 0 && i < m->lora.n_params; i++)
    if (!isfinite(m->lora.params[i])) {
      sdq_set_err(err, errlen, "%s: an adapter holds a non-finite value", dir);
      rc = -1;
    }
  if (rc != 0) {
    /* Restore the previous bank. */
    free(m->lora.params);
    free(m->lora.grads);
    free(m->lora.adapters);
    m->lora = old;
    return -1;
  }
  free(old.params);
  free(old.grads);
  free(old.adapters);
  return 0;
}
