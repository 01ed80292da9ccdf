/* schedule.c - static, random and cyclic precision schedules (see schedule.h). */
#include "config.h"

#include "train/schedule.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

const char *sdq_schedule_kind_name(sdq_schedule_kind kind) {
  switch (kind) {
  case SDQ_SCHEDULE_STATIC:
    return "static";
  case SDQ_SCHEDULE_RANDOM:
    return "random";
  case SDQ_SCHEDULE_CPT:
    return "cpt";
  }
  return "?";
}

int sdq_schedule_kind_parse(const char *name, sdq_schedule_kind *kind) {
  for (int k = SDQ_SCHEDULE_STATIC; k <= SDQ_SCHEDULE_CPT; k++)
    if (!strcmp(name, sdq_schedule_kind_name((sdq_schedule_kind)k))) {
      *kind = (sdq_schedule_kind)k;
      return 0;
    }
  return -1;
}

int sdq_schedule_add(sdq_schedule *s, const sdq_bitconfig *cfg, const char *name, char *err,
                     size_t errlen) {
  if (s->n_options >= SDQ_SCHEDULE_MAX_OPTIONS) {
    set_err(err, errlen, "too many configurations for one schedule (the maximum is %d)",
            SDQ_SCHEDULE_MAX_OPTIONS);
    return -1;
  }
  sdq_bitconfig *dst = &s->options[s->n_options];
  memset(dst, 0, sizeof *dst);
  if (sdq_bitconfig_copy(dst, cfg) || !(s->names[s->n_options] = strdup(name))) {
    sdq_bitconfig_free(dst);
    set_err(err, errlen, "out of memory adding configuration '%s'", name);
    return -1;
  }
  s->n_options++;
  return 0;
}

void sdq_schedule_free(sdq_schedule *s) {
  for (int i = 0; i < s->n_options; i++) {
    sdq_bitconfig_free(&s->options[i]);
    free(s->names[i]);
  }
  free(s->cpt_mask);
  memset(s, 0, sizeof *s);
}

int sdq_layer_name_match(const char *pattern, const char *name) {
  static const char prefix[] = "transformer.";
  if (strncmp(pattern, prefix, sizeof prefix - 1) != 0 && pattern[0] != '*' &&
      strncmp(name, prefix, sizeof prefix - 1) == 0)
    name += sizeof prefix - 1;

  /* Glob with '*' only: remember the last star for backtracking. */
  const char *star = NULL, *resume = NULL;
  while (*name) {
    if (*pattern == '*') {
      star = pattern++;
      resume = name;
    } else if (*pattern == *name) {
      pattern++;
      name++;
    } else if (star) {
      pattern = star + 1;
      name = ++resume;
    } else {
      return 0;
    }
  }
  while (*pattern == '*')
    pattern++;
  return *pattern == '\0';
}

int sdq_schedule_set_cpt(sdq_schedule *s, int low, int high, int cycles, int total_steps,
                         const char *layers, char *err, size_t errlen) {
  if (s->n_options < 1) {
    set_err(err, errlen, "a CPT schedule needs a base configuration for the layers that do "
                         "not cycle");
    return -1;
  }
  if (low < 2 || high > 8 || low > high) {
    set_err(err, errlen, "CPT bits must satisfy 2 <= low <= high <= 8 (got low %d, high %d)",
            low, high);
    return -1;
  }
  if (cycles < 1 || total_steps < 1) {
    set_err(err, errlen, "CPT needs cycles >= 1 and steps >= 1 (got %d cycles, %d steps)",
            cycles, total_steps);
    return -1;
  }

  int n_layer = s->options[0].n_layer;
  size_t n = (size_t)n_layer * SDQ_LIN_COUNT;
  unsigned char *mask = calloc(n, 1);
  char *list = strdup(layers && *layers ? layers : "*");
  if (!mask || !list) {
    free(mask), free(list);
    set_err(err, errlen, "out of memory");
    return -1;
  }

  /* Each comma-separated pattern must select at least one linear layer. */
  char *save = NULL;
  for (char *pat = strtok_r(list, ",", &save); pat; pat = strtok_r(NULL, ",", &save)) {
    int hits = 0;
    for (int l = 0; l < n_layer; l++)
      for (int k = 0; k < SDQ_LIN_COUNT; k++) {
        char name[96];
        snprintf(name, sizeof name, "transformer.h.%d.%s", l, sdq_linear_name((sdq_linear)k));
        if (sdq_layer_name_match(pat, name)) {
          mask[(size_t)l * SDQ_LIN_COUNT + (size_t)k] = 1;
          hits++;
        }
      }
    if (hits == 0) {
      set_err(err, errlen,
              "CPT layer pattern '%s' matches no linear layer of this %d-layer model "
              "(names look like transformer.h.0.attn.c_attn)",
              pat, n_layer);
      free(mask), free(list);
      return -1;
    }
  }
  free(list);

  free(s->cpt_mask);
  s->cpt_mask = mask;
  s->kind = SDQ_SCHEDULE_CPT;
  s->cpt_low = low;
  s->cpt_high = high;
  s->cpt_cycles = cycles;
  s->total_steps = total_steps;
  return 0;
}

int sdq_cpt_bits(int low, int high, int cycles, int total_steps, int step) {
  double cycle_len = (double)total_steps / (double)cycles;
  double phase = fmod((double)step, cycle_len) / cycle_len;
  double b = low + (high - low) * 0.5 * (1.0 - cos(M_PI * phase));
  int bits = (int)floor(b + 0.5);
  if (bits < low)
    bits = low;
  if (bits > high)
    bits = high;
  return bits;
}

int sdq_schedule_config_at(const sdq_schedule *s, int step, int random_draw,
                           sdq_bitconfig *out) {
  int idx = s->kind == SDQ_SCHEDULE_RANDOM ? random_draw : 0;
  const sdq_bitconfig *src = &s->options[idx];
  size_t n = (size_t)src->n_layer * SDQ_LIN_COUNT;
  memcpy(out->layers, src->layers, n * sizeof *out->layers);

  if (s->kind == SDQ_SCHEDULE_CPT) {
    int b = sdq_cpt_bits(s->cpt_low, s->cpt_high, s->cpt_cycles, s->total_steps, step);
    for (size_t i = 0; i < n; i++)
      if (s->cpt_mask[i])
        out->layers[i].w_bits = b;
  }
  return idx;
}

void sdq_schedule_bits_used(const sdq_schedule *s, unsigned char bits_used[33]) {
  memset(bits_used, 0, 33);
  for (int o = 0; o < s->n_options; o++) {
    const sdq_bitconfig *c = &s->options[o];
    for (size_t i = 0; i < (size_t)c->n_layer * SDQ_LIN_COUNT; i++) {
      int b = c->layers[i].w_bits;
      if (s->kind == SDQ_SCHEDULE_CPT && s->cpt_mask && s->cpt_mask[i])
        continue;
      if (b >= 0 && b <= 32)
        bits_used[b] = 1;
    }
  }
  if (s->kind == SDQ_SCHEDULE_CPT)
    for (int b = s->cpt_low; b <= s->cpt_high; b++)
      bits_used[b] = 1;
}
