/* schedule.h - which bit-width configuration each training step runs.
 *
 * One type serves the three schedules of `sdq train --schedule`:
 * - static: every step runs options[0];
 * - random: every step draws one of the n_options configurations uniformly
 *   (from uniform bits such as 4,6,8 or from named configuration files);
 * - cpt (cyclic precision training): the bits of the cycling layers follow a
 *   cosine from low to high bits within each of `cycles` equal cycles,
 *     b(step) = round(low + (high - low) * 0.5 * (1 - cos(pi * phase))),
 *     phase = (step mod Tc) / Tc,  Tc = total_steps / cycles (real-valued),
 *   rounded half up to whole bits, so every cycle starts at low bits, rises
 *   to high bits and then restarts at low bits. Layers that do not cycle
 *   keep their bits from options[0].
 *
 * A layer running at b bits uses (and trains) its b-bit LoRA adapter, so a
 * CPT run needs an adapter for every whole bit width from low to high:
 * sdq_schedule_bits_used lists them for the LoRA bank.
 */
#ifndef SDQ_TRAIN_SCHEDULE_H
#define SDQ_TRAIN_SCHEDULE_H

#include <stddef.h>

#include "model/gpt2.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdq_schedule_kind {
  SDQ_SCHEDULE_STATIC = 0,
  SDQ_SCHEDULE_RANDOM,
  SDQ_SCHEDULE_CPT
} sdq_schedule_kind;

/* Maximum number of configurations a random schedule chooses from. */
#define SDQ_SCHEDULE_MAX_OPTIONS 16

typedef struct sdq_schedule {
  sdq_schedule_kind kind;
  int n_options;                                /* >= 1 */
  sdq_bitconfig options[SDQ_SCHEDULE_MAX_OPTIONS]; /* owned */
  char *names[SDQ_SCHEDULE_MAX_OPTIONS];        /* e.g. "4bit" or a file name */
  /* CPT only. */
  int cpt_low, cpt_high;   /* 2..8, low <= high */
  int cpt_cycles;          /* >= 1 */
  int total_steps;         /* the length the cycles are spread over */
  unsigned char *cpt_mask; /* (n_layer * SDQ_LIN_COUNT) 1 = the layer cycles */
} sdq_schedule;

/* Returns "static", "random" or "cpt". */
const char *sdq_schedule_kind_name(sdq_schedule_kind kind);
/* Parses a kind name; returns 0 or -1. */
int sdq_schedule_kind_parse(const char *name, sdq_schedule_kind *kind);

/* Adds a configuration (copied) with a display name to the options.
 * Returns -1 with a message when the list is full or out of memory. */
int sdq_schedule_add(sdq_schedule *s, const sdq_bitconfig *cfg,
                     const char *name, char *err, size_t errlen);

/* Turns s into a CPT schedule: the layers whose HF names match one of the
 * comma-separated '*' patterns in layers (NULL or "*" for all linears) cycle
 * between low and high bits over total_steps steps. options[0] must exist
 * (it gives the bits of the other layers). Errors name the bad value. */
int sdq_schedule_set_cpt(sdq_schedule *s, int low, int high, int cycles,
                         int total_steps, const char *layers, char *err,
                         size_t errlen);

void sdq_schedule_free(sdq_schedule *s);

/* The CPT bits at step (see the formula above). */
int sdq_cpt_bits(int low, int high, int cycles, int total_steps, int step);

/* Fills out (allocated by the caller with sdq_bitconfig_copy or
 * init_uniform, right n_layer) with the configuration of step. random_draw
 * is the uniform draw in [0, n_options) for random schedules (the trainer
 * draws it from its RNG); other kinds ignore it. Returns the option index
 * used (0 for static and cpt). */
int sdq_schedule_config_at(const sdq_schedule *s, int step, int random_draw,
                           sdq_bitconfig *out);

/* Marks in bits_used[0..32] every weight bits some step of s can run
 * (options' bits, and low..high for cpt). */
void sdq_schedule_bits_used(const sdq_schedule *s, unsigned char bits_used[33]);

/* Returns 1 when the layer name (e.g. "transformer.h.3.mlp.c_fc") matches
 * the pattern, where '*' matches any run of characters; a pattern without
 * the "transformer." prefix matches as if it had it. */
int sdq_layer_name_match(const char *pattern, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_SCHEDULE_H */
