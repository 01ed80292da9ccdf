/* trainer.h - switchable-precision LoRA training on SQuAD (static, random
 * and cyclic schedules in one loop), joint multi-precision training, and
 * full-parameter fp32 training of the base model; checkpoints and resume.
 *
 * One optimizer step:
 *   1. for each of grad_accum micro-batches: take the next batch_size
 *      examples in data order (a seeded permutation per epoch), pick the
 *      step's bit configuration from the schedule (random: one draw per
 *      step; joint: every option of the schedule, losses summed), run
 *      forward and backward with loss_scale 1 / grad_accum;
 *   2. clip the gradient of the adapters that ran (the `used` flag) to a
 *      global L2 norm of grad_clip;
 *   3. AdamW-update those adapters only (each adapter keeps its own Adam
 *      step count), at the warm-up + cosine learning rate;
 *   4. zero the gradients; every checkpoint_every steps write a checkpoint.
 *
 * The loss is the mean cross-entropy over the target tokens (the answer and
 * its newline, see prompt.h), or over every next token with loss_all.
 *
 * Distillation (joint with distill): in every micro-batch the teacher, the
 * highest-precision configuration of the step (sdq_train_teacher_index),
 * runs first on the plain cross-entropy. Its probabilities at temperature
 * distill_temp on the loss rows come from that same forward pass, with LoRA
 * dropout when it is on, and are held fixed. They are the soft targets of
 * every other configuration, which trains on (1 - alpha) CE + alpha tau^2
 * KL (see sdq_gpt2_forward). The step loss is the mean over the
 * configurations of the loss each one trained on. The teacher's
 * probabilities take R * V floats for the R loss rows of a micro-batch, as
 * much as its logits.
 *
 * Determinism: the same model, data, options and seed give bitwise the same
 * adapters. The checkpoint (OUT/checkpoint.safetensors, written atomically)
 * contains the trained parameters, the AdamW moments and step counts, the
 * step, the data-order position (epoch and index), the trainer's RNG, the
 * model's dropout RNG and the loss record (last loss, the running sum behind
 * mean_loss). A run resumed from it continues exactly as if it had not
 * stopped, and reports the same losses.
 *
 * On resume two checks can reject the checkpoint, with a message naming it:
 * - The run identity, a fingerprint of everything that changes the result,
 *   must equal this run's. It covers the options above, the AdamW settings,
 *   the LoRA rank, alpha, dropout and bits, each configuration's name and
 *   per-layer bits, the CPT cycle, and checksums of the base weights, the
 *   parsed training data and the tokenizer. The message shows both
 *   identities and the fields that differ. Checkpoints of older sdq
 *   versions (format 1) are rejected as well.
 * - A checksum of the tensors and metadata values must match, so a damaged
 *   file is not resumed.
 * A checkpoint already at the last step is not trained further: sdq_train
 * restores its weights and losses and sets already_finished.
 *
 * Housekeeping with an output folder: temporary checkpoint files that a
 * killed run left there (checkpoint.safetensors.tmp.PID.N of a dead PID)
 * are removed at the start, with a note on stderr. When more than
 * SDQ_TRAIN_SKIP_WARN of the drawn examples were skipped for not fitting
 * max_len, a warning goes to stderr at the end.
 */
#ifndef SDQ_TRAIN_TRAINER_H
#define SDQ_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/squad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdq_train_options {
  int steps;            /* optimizer steps, >= 1 */
  int batch_size;       /* examples per micro-batch, >= 1 */
  int grad_accum;       /* micro-batches per step, >= 1 */
  int max_len;          /* tokens per example, 2 .. n_ctx */
  int loss_all;         /* 1: loss on every next token, 0: answer tokens only */
  int joint;            /* 1: every step runs all schedule options, summed */
  int distill;          /* 1 (needs joint and >= 2 options): the teacher
                           configuration distills into the others */
  float distill_alpha;  /* weight of the KL term, in [0, 1] */
  float distill_temp;   /* temperature tau of the KL term, > 0 */
  int train_base;       /* 1: full-parameter fp32 training of the base model
                           (no LoRA; the schedule must be static fp32) */
  sdq_adamw_config adamw; /* total_steps is set from steps */
  uint64_t seed;        /* data order, windows and random draws */
  const char *out_dir;  /* checkpoint folder; NULL: no checkpoints */
  int checkpoint_every; /* steps between checkpoints; 0: only at the end */
  int resume;           /* 1: continue from OUT/checkpoint.safetensors if any */
  int stop_after;       /* > 0: return after this many steps as if killed
                           (after that step's checkpoint); for tests */
  int progress;         /* 1: progress bar on stderr */
} sdq_train_options;

/* batch 4, accum 1, max_len 256, answer-only loss, AdamW defaults, seed 1,
 * checkpoints every 50 steps, progress on, distillation off (alpha 0.5 and
 * temperature 2 when turned on). steps must be set. */
sdq_train_options sdq_train_defaults(void);

/* Returns the index of the highest-precision configuration of cfgs[0..n),
 * the teacher of distillation. That is the one with the highest
 * parameter-weighted average weight bits (sdq_bitconfig_average_bits, so
 * 32-bit layers count 32 and 16-bit layers 16). A tie goes to the higher
 * parameter-weighted activation bits (fp32 activations count 32), and then
 * to the earlier configuration. n >= 1. */
int sdq_train_teacher_index(const sdq_bitconfig *cfgs, int n, int n_embd);

/* Share of skipped among drawn examples above which sdq_train warns. */
#define SDQ_TRAIN_SKIP_WARN 0.10

/* What a run reports. The losses and counts cover the whole run, steps
 * before a resume included, and are the same for a resumed run as for an
 * uninterrupted one; seconds and tokens cover this call only. */
typedef struct sdq_train_result {
  int steps_done;     /* total steps including those before a resume */
  int resumed_from;   /* step the run resumed from, 0 for a fresh run */
  double last_loss;   /* mean loss of the last step */
  double mean_loss;   /* the final loss: mean of the step losses over the
                         last steps / 10 + 1 steps of the run (the last 2 of
                         10, the last 11 of 100); for a run that stopped
                         before that window, last_loss */
  double seconds;     /* wall time of this call */
  double tokens;      /* tokens through forward passes in this call */
  long skipped;       /* examples skipped because they do not fit max_len */
  int stopped;        /* 1 when stop_after ended the run */
  long drawn;         /* examples drawn: those trained on plus skipped */
  int already_finished; /* 1 when resume found a checkpoint at the last step:
                           nothing ran, the weights and losses are the
                           finished run's (resumed_from == steps_done) */
} sdq_train_result;

/* Trains m on data (see the top of this file). For LoRA training m must
 * already hold a LoRA bank with an adapter set for every bits the schedule
 * can run (sdq_schedule_bits_used). The trained weights stay in m; the
 * caller saves them (sdq_lora_save / sdq_gpt2_save_hf). Returns 0 or -1
 * with a message (invalid options, a checkpoint that does not match this
 * run or is damaged, I/O and model errors); after a failed resume the
 * trained parameters in m are undefined. */
int sdq_train(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *data,
              const sdq_schedule *sched, const sdq_train_options *opt,
              sdq_train_result *res, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_TRAINER_H */
