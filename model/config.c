/* config.c - GPT-2 shape configuration, linear-layer dimensions and the
 * layout of the parameter arena. */
#include "model/gpt2.h"

#include <limits.h>
#include <stdio.h>

#include "model/gpt2_internal.h"

sdq_gpt2_config sdq_gpt2_config_124m(void) {
  sdq_gpt2_config c = {12, 12, 768, 1024, 50257};
  return c;
}

int sdq_gpt2_config_validate(const sdq_gpt2_config *c, char *err,
                             size_t errlen) {
  const struct {
    const char *name;
    int value;
  } fields[] = {{"n_layer", c->n_layer},
                {"n_head", c->n_head},
                {"n_embd", c->n_embd},
                {"n_ctx", c->n_ctx},
                {"vocab_size", c->vocab_size}};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (fields[i].value <= 0) {
      sdq_set_err(err, errlen, "invalid GPT-2 config: %s = %d, expected a positive value",
                  fields[i].name, fields[i].value);
      return -1;
    }
  }
  if (c->n_embd % c->n_head != 0) {
    sdq_set_err(err, errlen,
                "invalid GPT-2 config: n_embd = %d is not divisible by n_head = %d",
                c->n_embd, c->n_head);
    return -1;
  }
  /* The widest matrix dimension is 4C; the kernels take int sizes. */
  if (c->n_embd > INT_MAX / 4) {
    sdq_set_err(err, errlen, "invalid GPT-2 config: n_embd = %d is too large (4 * n_embd must fit in int)",
                c->n_embd);
    return -1;
  }
  /* Parameter count in double to detect size_t overflow. */
  double C = c->n_embd, L = c->n_layer;
  double total = (double)c->vocab_size * C + (double)c->n_ctx * C +
                 L * (12.0 * C * C + 13.0 * C) + 2.0 * C;
  if (total * sizeof(float) > (double)SIZE_MAX / 2) {
    sdq_set_err(err, errlen, "invalid GPT-2 config: %.0f parameters do not fit in memory", total);
    return -1;
  }
  return 0;
}

static const char *const linear_names[SDQ_LIN_COUNT] = {
    "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};

const char *sdq_linear_name(sdq_linear k) {
  return (k >= 0 && k < SDQ_LIN_COUNT) ? linear_names[k] : "?";
}

void sdq_linear_dims(sdq_linear k, int C, int *in, int *out) {
  switch (k) {
  case SDQ_LIN_ATTN_QKV: *in = C; *out = 3 * C; break;
  case SDQ_LIN_ATTN_PROJ: *in = C; *out = C; break;
  case SDQ_LIN_MLP_FC: *in = C; *out = 4 * C; break;
  default: *in = 4 * C; *out = C; break;
  }
}

size_t sdq_gpt2_param_sizes(const sdq_gpt2_config *c, size_t *sizes) {
  size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer;
  size_t s[SDQ_GPT2_N_TENSORS] = {
      (size_t)c->vocab_size * C, /* wte */
      (size_t)c->n_ctx * C,      /* wpe */
      L * C, L * C,              /* ln1w, ln1b */
      L * 3 * C * C, L * 3 * C,  /* qkvw, qkvb */
      L * C * C, L * C,          /* attprojw, attprojb */
      L * C, L * C,              /* ln2w, ln2b */
      L * 4 * C * C, L * 4 * C,  /* fcw, fcb */
      L * C * 4 * C, L * C,      /* fcprojw, fcprojb */
      C, C};                     /* lnfw, lnfb */
  size_t total = 0;
  for (int i = 0; i < SDQ_GPT2_N_TENSORS; i++) {
    if (sizes)
      sizes[i] = s[i];
    total += s[i];
  }
  return total;
}

void sdq_params_point(sdq_gpt2_params *p, const sdq_gpt2_config *c,
                      float *memory) {
  size_t sizes[SDQ_GPT2_N_TENSORS];
  sdq_gpt2_param_sizes(c, sizes);
  float **ptrs[SDQ_GPT2_N_TENSORS] = {
      &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw, &p->qkvb,
      &p->attprojw, &p->attprojb, &p->ln2w, &p->ln2b, &p->fcw, &p->fcb,
      &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb};
  for (int i = 0; i < SDQ_GPT2_N_TENSORS; i++) {
    *ptrs[i] = memory;
    memory += sizes[i];
  }
}

float *sdq_gpt2_linear_weight(const sdq_gpt2_params *p,
                              const sdq_gpt2_config *c, int l, sdq_linear k,
                              float **bias) {
  int in, out;
  sdq_linear_dims(k, c->n_embd, &in, &out);
  size_t wsz = (size_t)in * (size_t)out;
  float *w, *b;
  switch (k) {
  case SDQ_LIN_ATTN_QKV: w = p->qkvw; b = p->qkvb; break;
  case SDQ_LIN_ATTN_PROJ: w = p->attprojw; b = p->attprojb; break;
  case SDQ_LIN_MLP_FC: w = p->fcw; b = p->fcb; break;
  default: w = p->fcprojw; b = p->fcprojb; break;
  }
  if (bias)
    *bias = b + (size_t)l * (size_t)out;
  return w + (size_t)l * wsz;
}
