/* suite_run.h - the state and stages of one 'sdq suite' run (used by
 * cmd_suite.c; the stages live in suite_stages.c). */
#ifndef SDQ_CLI_SUITE_RUN_H
#define SDQ_CLI_SUITE_RUN_H

#include <stddef.h>

#include <jansson.h>

#include "cli/suite.h"
#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "train/squad.h"

/* Everything that sets the size of a run. The profiles "default" and
 * "quick" fill it (sdq_suite_profile); options override single fields. */
typedef struct sdq_suite_profile {
  char name[16];
  /* The embedded default base model, trained from scratch in stage 0. */
  sdq_gpt2_config base;
  int pretrain_steps, pretrain_batch;
  float pretrain_lr;
  int pretrain_loss_all; /* 1: loss on every next token; 0: answer tokens */
  /* Steps 3 and 5: LoRA training. */
  int lora_rank;
  float lora_alpha, lora_lr;
  int train_steps, cpt_steps, cpt_cycles, cpt_low, cpt_high, batch, max_len;
  int switch_bits[8], n_switch; /* step 3's random set (plus fp32) */
  /* Steps 4 and 6: evaluation and attacks. */
  int eval_questions, attack_questions, max_new;
  sdq_attack_grid grid;
  /* Seeds of the base initialisation, the LoRA training and the attacks. */
  unsigned long long seed;
} sdq_suite_profile;

/* Fills p with the named profile ("default" or "quick"); -1 for others. */
int sdq_suite_profile_init(const char *name, int vocab_size, sdq_suite_profile *p);

typedef struct sdq_suite {
  sdq_suite_profile prof;
  const char *out_dir;
  char work_dir[4096];
  const char *model_dir;    /* HF checkpoint, or NULL: the embedded default */
  const char *train_path, *eval_path, *configs_dir;
  int resume;               /* 0: ignore finished stages */
  int progress;
  sdq_tokenizer *tok;
  sdq_squad train, eval;
  json_t *results;          /* the results document being built */
  json_t *stage_seconds;    /* {stage name: seconds} */
  double started;           /* monotonic seconds at the start */
  int stage_index, n_stages;
  int n_configs;            /* configuration files found (for estimates) */
  double units_done, seconds_done; /* work units and seconds of stages that ran */
} sdq_suite;

/* The five stages. Each one loads its marker when its options match (and
 * s->resume), or runs and saves it; results land in s->results["tables"].
 * Return 0 or -1 with err. */
int sdq_suite_stage_pretrain(sdq_suite *s, char *err, size_t errlen);
int sdq_suite_stage_switchable(sdq_suite *s, char *err, size_t errlen);
int sdq_suite_stage_configs(sdq_suite *s, char *err, size_t errlen);
int sdq_suite_stage_cpt(sdq_suite *s, char *err, size_t errlen);
int sdq_suite_stage_attacks(sdq_suite *s, char *err, size_t errlen);

#endif
