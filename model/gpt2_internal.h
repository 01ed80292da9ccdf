/* gpt2_internal.h - private state and helpers shared by the model sources. */
#ifndef SDQ_MODEL_GPT2_INTERNAL_H
#define SDQ_MODEL_GPT2_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/gpt2.h"

#define SDQ_LN_EPS 1e-5f

/* Rows of dlogits the LM-head backward holds at once: the full (rows, V)
 * matrix would be 200 MB at B*T = 1024. */
#define SDQ_LM_HEAD_ROWS 128

/* Loops with fewer element operations than this run serially: below it
 * the OpenMP fork/join costs more than the loop. */
#define SDQ_OMP_MIN_WORK ((size_t)1 << 15)

/* Activations of one block, cached by the forward pass for backward.
 * BT = B*T rows each. */
typedef struct sdq_block_acts {
  float *ln1, *ln1_mean, *ln1_rstd; /* (BT,C), (BT), (BT) */
  float *qkv;                       /* (BT,3C) */
  float *atty;                      /* (BT,C) attention output, heads concatenated */
  float *res_attn;                  /* (BT,C) residual after attention */
  float *ln2, *ln2_mean, *ln2_rstd; /* (BT,C), (BT), (BT) */
  float *fch;                       /* (BT,4C) mlp.c_fc output before GELU */
  float *lora_u[SDQ_LIN_COUNT];     /* (BT,r) (alpha/r) * A x per linear */
  uint64_t dropout_seed[SDQ_LIN_COUNT];
} sdq_block_acts;

/* KV cache of one sequence for generation: (L, n_ctx, C) each. */
typedef struct sdq_kv_cache {
  float *k, *v;
} sdq_kv_cache;

struct sdq_gpt2_state {
  /* Forward cache, sized for cap_bt rows. */
  size_t cap_bt;
  int B, T;
  int has_targets;            /* last forward had targets */
  int has_logits;             /* last forward reached the LM head */
  int *used_sets;             /* (L*4) adapter set each linear ran with, -1 none */
  sdq_layer_bits *run_bits;   /* (L*4) bits each linear ran with */
  int dropout_on;             /* last forward applied LoRA dropout */
  float *res;                 /* (L+1, BT, C) residual stream entering each block, and the last */
  sdq_block_acts *blocks;     /* (L) */
  float *lnf, *lnf_mean, *lnf_rstd; /* (BT,C), (BT), (BT) */
  int32_t *tokens;            /* (BT) copy of the token input, or NULL rows */
  int input_is_embeds;
  int32_t *targets;           /* (BT) */
  float *mask;                /* (BT) */
  float mask_sum;

  /* LM head rows: logit_row[i] is the (b*T+t) of logits row i. */
  int n_logit_rows;
  int *logit_row;             /* (BT) */
  int *row_to_logit;          /* (BT) logits row of (b*T+t), or -1 */
  float *logits;              /* (n_logit_rows, V) */
  size_t cap_logits;          /* rows of logits */
  int *loss_rows;             /* (BT) backward: the (b*T+t) with mask != 0 */
  float *lse;                 /* (BT) log-sum-exp of each logits row with mask != 0 */
  int n_loss_rows;            /* rows with mask != 0 in the last forward */
  int *loss_index;            /* (BT) loss row of (b*T+t), or -1 when mask == 0 */
  const float *soft;          /* (n_loss_rows, V) caller's soft targets, or NULL */
  float soft_alpha, soft_temp;
  float *lse_soft;            /* (BT) log-sum-exp of logits / tau of the loss rows */
  float *soft_mass;           /* (BT) sum of each soft-target row */
  float *dlogits;             /* (SDQ_LM_HEAD_ROWS, V) one chunk of dlogits */
  size_t cap_dlogits;
  float *ce_scratch;          /* per thread (V) exponentials of one row */
  size_t cap_ce;              /* floats per thread */

  /* Scratch for forward and backward. */
  float *scratch_in;          /* (BT,4C) dropout / fake-quant input */
  float *scratch_a, *scratch_b; /* (BT,4C) */
  float *dres, *dtmp;         /* (BT,C) */
  float *dqkv;                /* (BT,3C) */
  float *du;                  /* (BT,r) */
  float *gather;              /* (BT,C) LM-head rows gathered */
  float *att_scratch;         /* per thread: sdq_attention_scratch_floats */
  size_t cap_att;             /* floats per thread */
  int n_threads;

  /* Packed base weights: qcache[(l*4+k)*9 + bits], rows == 0 when empty. */
  sdq_qmatrix *qcache;

  /* Generation buffers for a chunk of up to n_ctx rows. */
  sdq_kv_cache kv;
  float *gen_x, *gen_ln, *gen_qkv, *gen_atty, *gen_h, *gen_tmp, *gen_u;
  float *gen_logits;
};

/* Writes a formatted message into err when err is usable. */
void sdq_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocates a model with zeroed weights (sdq_gpt2_create without the
 * initialisation), for loaders that overwrite every weight. */
sdq_gpt2 *sdq_gpt2_alloc(const sdq_gpt2_config *cfg, uint64_t seed, char *err,
                         size_t errlen);

/* Points the 16 tensor pointers of p into memory (sdq_gpt2_param_sizes). */
void sdq_params_point(sdq_gpt2_params *p, const sdq_gpt2_config *c,
                      float *memory);

/* Returns the packed matrix of linear (l, k) at bits, packing on first use.
 * NULL with a message on failure. */
const sdq_qmatrix *sdq_gpt2_qweight(sdq_gpt2 *m, int l, sdq_linear k,
                                    int bits, char *err, size_t errlen);
void sdq_gpt2_qcache_clear(sdq_gpt2 *m);

/* Linear layer forward: Y (rows,out) = X W^T + b at bits, plus the LoRA
 * update of adapter set `set` (-1: none). u (rows,r) receives
 * (alpha/r) A drop(X) for backward, and scratch has room for rows*in floats.
 * dropout_seed 0 means no dropout. */
int sdq_linear_forward(sdq_gpt2 *m, int l, sdq_linear k, sdq_layer_bits bits,
                       int set, const float *X, float *Y, int rows, float *u,
                       float *scratch, uint64_t dropout_seed, char *err,
                       size_t errlen);

/* Linear layer backward: overwrites dX (rows,in) with dY W (dequantized W
 * for quantized layers, STE for the activations) plus the LoRA path;
 * accumulates the LoRA gradients and, with train_base, dW and db.
 * scratch holds rows*in floats, du rows*r. */
int sdq_linear_backward(sdq_gpt2 *m, int l, sdq_linear k, sdq_layer_bits bits,
                        int set, const float *X, const float *dY, float *dX,
                        int rows, const float *u, float *du, float *scratch,
                        uint64_t dropout_seed, char *err, size_t errlen);

/* Query rows per block of the attention passes: a multiple of the GEMM
 * register tiles (MR 6, 8 and 12). Smaller blocks skip more of the masked
 * triangle but make more, smaller GEMM calls; at T = 256, 96 was fastest of
 * 24, 48, 96 and 128 on AVX-512. */
#define SDQ_ATT_QBLOCK 96

/* Floats of attention scratch each OpenMP thread needs for Tq queries over
 * Tk keys, forward or backward. */
size_t sdq_attention_scratch_floats(int Tq, int Tk);

/* Causal self-attention, parallel over (batch row, head). Queries are at
 * positions p0 .. p0+Tq-1 and query i attends to keys 0 .. p0+i (Tk >= p0+Tq
 * keys). Element (b, t, head h, d) of q is q[b*sb_q + t*ld_q + h*hs + d];
 * k and v share ld_kv and sb_kv, out uses ld_out and sb_out. scratch holds
 * per_thread >= sdq_attention_scratch_floats(Tq, Tk) floats for each OpenMP
 * thread. */
void sdq_attention_forward(int B, int Tq, int Tk, int p0, int NH, int hs,
                           const float *q, int ld_q, size_t sb_q,
                           const float *k, const float *v, int ld_kv,
                           size_t sb_kv, float *out, int ld_out,
                           size_t sb_out, float *scratch, size_t per_thread);

/* Backward of sdq_attention_forward with p0 = 0 and Tq == Tk == T, q, k, v
 * inside qkv (B,T,3C): overwrites dqkv (B,T,3C) from datty (B,T,C).
 * scratch holds per_thread >= sdq_attention_scratch_floats(T, T) floats for
 * each OpenMP thread. */
void sdq_attention_backward(int B, int T, int NH, int hs, const float *qkv,
                            const float *datty, float *dqkv, float *scratch,
                            size_t per_thread);

/* Returns the number of OpenMP threads a parallel region may use. */
int sdq_max_threads(void);
/* Returns this thread's number inside a parallel region (0 outside). */
int sdq_thread_id(void);

/* Grows the forward buffers to hold bt rows. */
int sdq_state_reserve(sdq_gpt2 *m, size_t bt, int T, char *err, size_t errlen);
void sdq_state_free(sdq_gpt2 *m);

/* Writes dir/name into buf; -1 with a message when it does not fit. */
int sdq_join_path(char *buf, size_t len, const char *dir, const char *name, char *err,
                  size_t errlen);

struct json_t;
/* Writes root as indented JSON to path through a temporary file and
 * rename(). */
int sdq_write_json_atomic(struct json_t *root, const char *path, char *err,
                          size_t errlen);

/* Allocates zeroed floats aligned to 64 bytes, or NULL. */
float *sdq_falloc(size_t n);

/* The mask bit of LoRA dropout for element idx of the (l, k) input. */
static inline int sdq_dropout_keep(uint64_t seed, uint64_t idx, float p) {
  uint64_t z = seed + idx * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

#endif
