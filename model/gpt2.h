/* gpt2.h - public API of the sdq model layer: GPT-2 with per-layer quantized
 * weights, a LoRA bank (one adapter per bits), forward/backward and greedy
 * KV-cache generation.
 *
 * Conventions:
 * - B = batch size, T = sequence length, C = n_embd, V = vocab_size,
 *   L = n_layer, NH = n_head. Shapes are written (B,T,C) in row-major order.
 * - Linear weights are stored in the kernel layout W[out, in] (Y = X W^T).
 *   Hugging Face's Conv1D stores [in, out]; the loader and the saver
 *   transpose.
 * - Functions that can fail return 0 on success or -1 with a message in err
 *   (when err is not NULL and errlen > 0). The message names the file, line,
 *   tensor or value and what to do. Nothing in this layer exits, and only
 *   sdq_gpt2_load_hf prints (a NOTE on stderr).
 * - Token ids are int32_t.
 */
#ifndef SDQ_MODEL_GPT2_H
#define SDQ_MODEL_GPT2_H

#include <stddef.h>
#include <stdint.h>

#include "sdq_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ RNG */

/* Deterministic generator: xoshiro256** seeded through splitmix64. The
 * struct is the whole state, so copying it saves and restores a stream
 * exactly (training checkpoints store the four words). */
typedef struct sdq_rng {
  uint64_t s[4];
} sdq_rng;

/* Seeds r from a 64-bit seed; the same seed always gives the same stream. */
void sdq_rng_seed(sdq_rng *r, uint64_t seed);
/* Returns the next 64 random bits. */
uint64_t sdq_rng_next(sdq_rng *r);
/* Returns a float uniform in [0, 1) with 24 random bits. */
float sdq_rng_uniform(sdq_rng *r);
/* Returns a standard normal sample (Box-Muller, one sample per call). */
float sdq_rng_normal(sdq_rng *r);
/* Returns an integer uniform in [0, n) for n > 0 (rejection sampling, no
 * modulo bias). */
uint32_t sdq_rng_below(sdq_rng *r, uint32_t n);

/* --------------------------------------------------------------- config */

typedef struct sdq_gpt2_config {
  int n_layer;    /* transformer blocks, >= 1 */
  int n_head;     /* attention heads; n_embd % n_head == 0 */
  int n_embd;     /* model width C */
  int n_ctx;      /* maximum sequence length (rows of wpe) */
  int vocab_size; /* rows of wte */
} sdq_gpt2_config;

/* GPT-2 124M: 12 layers, 12 heads, 768 wide, 1024 positions, 50257 tokens. */
sdq_gpt2_config sdq_gpt2_config_124m(void);

/* Checks every field is positive, n_embd is divisible by n_head, and the
 * parameter count fits in size_t and every dimension in int. Returns 0 or -1
 * with a message naming the field and value. */
int sdq_gpt2_config_validate(const sdq_gpt2_config *c, char *err,
                             size_t errlen);

/* ------------------------------------------------------- linear layers */

/* The four linear layers of each block, in HF naming. */
typedef enum sdq_linear {
  SDQ_LIN_ATTN_QKV = 0, /* attn.c_attn:  in C,  out 3C (q, k, v stacked) */
  SDQ_LIN_ATTN_PROJ,    /* attn.c_proj:  in C,  out C */
  SDQ_LIN_MLP_FC,       /* mlp.c_fc:     in C,  out 4C */
  SDQ_LIN_MLP_PROJ,     /* mlp.c_proj:   in 4C, out C */
  SDQ_LIN_COUNT
} sdq_linear;

/* Returns the HF suffix of a linear layer ("attn.c_attn", ...). */
const char *sdq_linear_name(sdq_linear k);
/* Sets *in and *out to the layer's input and output widths for width C. */
void sdq_linear_dims(sdq_linear k, int C, int *in, int *out);

/* ----------------------------------------------------------- parameters */

/* The base weights: pointers into one arena of n_params floats, in this
 * order (the order is also the layout of the gradient arena). Per-block
 * tensors are stacked over L. */
#define SDQ_GPT2_N_TENSORS 16
typedef struct sdq_gpt2_params {
  float *wte;      /* (V, C) token embeddings, also the tied LM head */
  float *wpe;      /* (n_ctx, C) position embeddings */
  float *ln1w;     /* (L, C) */
  float *ln1b;     /* (L, C) */
  float *qkvw;     /* (L, 3C, C) attn.c_attn weight, [out, in] */
  float *qkvb;     /* (L, 3C) */
  float *attprojw; /* (L, C, C) attn.c_proj weight */
  float *attprojb; /* (L, C) */
  float *ln2w;     /* (L, C) */
  float *ln2b;     /* (L, C) */
  float *fcw;      /* (L, 4C, C) mlp.c_fc weight */
  float *fcb;      /* (L, 4C) */
  float *fcprojw;  /* (L, C, 4C) mlp.c_proj weight */
  float *fcprojb;  /* (L, C) */
  float *lnfw;     /* (C) ln_f */
  float *lnfb;     /* (C) */
} sdq_gpt2_params;

/* Fills sizes[SDQ_GPT2_N_TENSORS] with the element count of each tensor of
 * sdq_gpt2_params, in field order, and returns their sum. */
size_t sdq_gpt2_param_sizes(const sdq_gpt2_config *c, size_t *sizes);

/* Returns the weight of linear k of block l inside p ([out, in], row-major)
 * and sets *bias to its bias ([out]). */
float *sdq_gpt2_linear_weight(const sdq_gpt2_params *p,
                              const sdq_gpt2_config *c, int l, sdq_linear k,
                              float **bias);

/* ----------------------------------------------------- bit configuration */

/* Bits of one linear layer. w_bits 2..8 quantizes the frozen base weight per
 * output channel. 16 and 32 both mean full precision: the computation is
 * fp32 either way, and the value only counts in the average bits. a_bits 0
 * keeps fp32 activations, and 2..8 quantizes the layer's input per token.
 * LayerNorm, the embeddings and the tied LM head always stay fp32. */
typedef struct sdq_layer_bits {
  int w_bits;
  int a_bits;
} sdq_layer_bits;

/* Bits of every linear layer of a model: layers[l * SDQ_LIN_COUNT + k]. */
typedef struct sdq_bitconfig {
  int n_layer;
  sdq_layer_bits *layers; /* owned; n_layer * SDQ_LIN_COUNT entries */
} sdq_bitconfig;

/* Returns 1 when bits means full precision (16 or 32). */
int sdq_bits_is_full(int bits);

/* Allocates cfg for n_layer blocks with every layer at w_bits / a_bits.
 * Returns -1 with a message when a value is out of range. */
int sdq_bitconfig_init_uniform(sdq_bitconfig *cfg, int n_layer, int w_bits,
                               int a_bits, char *err, size_t errlen);
void sdq_bitconfig_free(sdq_bitconfig *cfg);
/* Deep copy; dst is overwritten (free it first if it owned memory). */
int sdq_bitconfig_copy(sdq_bitconfig *dst, const sdq_bitconfig *src);

/* Parses a bit-configuration text for an n_layer model. Format, one rule per
 * line:
 *
 *     # comment (also after a rule)
 *     PATTERN  W_BITS  [A_BITS]
 *
 * PATTERN is an HF layer name such as transformer.h.7.mlp.c_proj, where '*'
 * matches any run of characters (also dots); the "transformer." prefix is
 * optional. `*` alone is the default for every layer. W_BITS is 2..8, 16 or
 * 32; A_BITS (optional) is 2..8, or 16/32 for fp32 activations (stored as
 * a_bits 0).
 *
 * One block placeholder makes a rule fit models of any depth: {first} is
 * block 0, {last} block L-1, {front} blocks 0 .. L/2-1, {back} blocks
 * L/2 .. L-1 and {middle} every block but the first and the last. The rule
 * applies to each block N of the set, matching the pattern with N in place
 * of the placeholder against that block's layers only ("h.{last}.* 8" is
 * "h.11.* 8" for 12 layers).
 *
 * Precedence: rules apply in file order and a later rule overrides an
 * earlier one for the layers both match. Layers no rule matches stay at 32
 * (full precision). The text may open with a UTF-8 byte order mark; lines
 * end in LF, CRLF or CR and hold at most 1023 bytes. Errors, each naming
 * source:line: a malformed or over-long line, bits out of range, a pattern
 * that matches no linear layer of the model (also a placeholder whose set is
 * empty, e.g. {middle} of a 2-layer model), an unknown or unterminated
 * placeholder, and a pattern repeated verbatim (a duplicate rule). source
 * names the text in messages (a path, or e.g. "<string>"). Time is linear in
 * the rules times the blocks they cover. */
int sdq_bitconfig_parse(sdq_bitconfig *cfg, const char *text,
                        const char *source, int n_layer, char *err,
                        size_t errlen);
/* Reads path, which must be a regular file without NUL bytes, and parses it
 * as sdq_bitconfig_parse does. */
int sdq_bitconfig_load(sdq_bitconfig *cfg, const char *path, int n_layer,
                       char *err, size_t errlen);

/* Computes the average weight bits two ways. *plain is the mean over the
 * L*4 linear layers. *weighted weights each layer by its weight element
 * count, which gives the memory of the linear weights (biases, embeddings
 * and LayerNorm are not counted). Full-precision layers count as their
 * written value (16 or 32). Either pointer may be NULL. */
void sdq_bitconfig_average_bits(const sdq_bitconfig *cfg, int n_embd,
                                double *plain, double *weighted);

/* ------------------------------------------------------------- LoRA bank */

/* Maximum number of adapter sets (distinct bits) a bank holds. */
#define SDQ_LORA_MAX_SETS 8
/* Bits value of the full-precision adapter set. */
#define SDQ_LORA_FULL_BITS 32

typedef struct sdq_lora_config {
  int rank;       /* LoRA rank r; 0 disables LoRA */
  float alpha;    /* the update is scaled by alpha / rank */
  float dropout;  /* dropout probability on the adapter input, in [0, 1) */
  int n_sets;     /* number of entries of bits[] */
  int bits[SDQ_LORA_MAX_SETS]; /* bits served: 2..8 or 32 (full precision) */
} sdq_lora_config;

/* One adapter of one linear layer: y += (alpha/rank) * B (A x).
 * A and B are adjacent in the parameter arena (A first), so the adapter is
 * the contiguous span params[offset .. offset + count). The gradient arena
 * has the same layout. */
typedef struct sdq_lora_adapter {
  float *A, *B;   /* A (r, in), B (out, r) in the parameter arena */
  float *dA, *dB; /* same shapes in the gradient arena */
  int in, out;
  size_t offset, count;
  int used;       /* 1 when a backward pass reached it since the last
                     zero_grad (the optimizer updates only these) */
} sdq_lora_adapter;

typedef struct sdq_lora_bank {
  sdq_lora_config cfg;
  int n_layer;
  size_t n_params;          /* floats in each arena */
  float *params;            /* all A and B, set-major */
  float *grads;             /* same layout */
  sdq_lora_adapter *adapters; /* [set][layer][linear] */
} sdq_lora_bank;

/* Returns the adapter set index serving bits (16 and 32 share the
 * full-precision set), or -1 when the bank has none for it. */
int sdq_lora_set_index(const sdq_lora_bank *bank, int bits);
/* Returns adapter (set, l, k). */
sdq_lora_adapter *sdq_lora_adapter_at(const sdq_lora_bank *bank, int set,
                                      int l, sdq_linear k);

/* ---------------------------------------------------------------- model */

struct sdq_gpt2_state; /* activations, quantized-weight cache, KV cache */

typedef struct sdq_gpt2 {
  sdq_gpt2_config cfg;
  sdq_gpt2_params params;    /* base weights (views into params_memory) */
  float *params_memory;
  size_t n_params;
  sdq_gpt2_params grads;     /* views into grads_memory when train_base */
  float *grads_memory;       /* NULL unless train_base */
  int train_base;            /* 1: backward also fills base-weight gradients */
  int training;              /* 1: LoRA dropout is active */
  sdq_lora_bank lora;        /* rank 0 when no LoRA */
  sdq_bitconfig bits;        /* current bits; all 32 after create */
  sdq_rng rng;               /* drives LoRA dropout */
  struct sdq_gpt2_state *state;
} sdq_gpt2;

/* Allocates a model with the given config and GPT-2 initialisation from
 * seed: weights N(0, 0.02), the two residual projections (attn.c_proj,
 * mlp.c_proj) N(0, 0.02 / sqrt(2 L)), biases 0, LayerNorm gamma 1 beta 0.
 * The model's own RNG is seeded from seed too. Returns NULL with a message
 * on an invalid config or out of memory. Free with sdq_gpt2_free. */
sdq_gpt2 *sdq_gpt2_create(const sdq_gpt2_config *cfg, uint64_t seed,
                          char *err, size_t errlen);
void sdq_gpt2_free(sdq_gpt2 *m);

/* Enables or disables base-weight gradients (allocates or frees the
 * gradient arena). Gradients of quantized layers use the STE: with per
 * channel MinMax scales no weight clips, so dW = dY^T X. */
int sdq_gpt2_set_train_base(sdq_gpt2 *m, int on, char *err, size_t errlen);

/* Tells the model the base weights changed (after an optimizer step on them
 * or after writing params directly): drops the packed-weight cache. */
void sdq_gpt2_base_changed(sdq_gpt2 *m);

/* Creates (replaces) the LoRA bank: A uniform in [-1/sqrt(in), 1/sqrt(in)]
 * (PyTorch's Kaiming-uniform with a = sqrt(5)) from seed, B zero. Errors on
 * rank < 0, dropout outside [0, 1), bits not in 2..8/16/32, duplicate bits. */
int sdq_gpt2_lora_init(sdq_gpt2 *m, const sdq_lora_config *cfg, uint64_t seed,
                       char *err, size_t errlen);

/* Sets the bits of every linear layer from cfg (copied). Errors when
 * cfg->n_layer differs from the model, or LoRA is on and the bank has no
 * adapter set for some layer's weight bits. Quantized weights are packed
 * lazily on first use at each bits and cached until sdq_gpt2_base_changed. */
int sdq_gpt2_set_bits(sdq_gpt2 *m, const sdq_bitconfig *cfg, char *err,
                      size_t errlen);
/* Same with every layer at w_bits / a_bits. */
int sdq_gpt2_set_uniform_bits(sdq_gpt2 *m, int w_bits, int a_bits, char *err,
                              size_t errlen);

/* Packs the base weights at every bits cfg uses now, so a later forward (or
 * a timed region) does not pay for it. */
int sdq_gpt2_prepare_bits(sdq_gpt2 *m, const sdq_bitconfig *cfg, char *err,
                          size_t errlen);

/* ------------------------------------------------------ forward/backward */

typedef struct sdq_gpt2_batch {
  int B, T;                  /* 1 <= T <= n_ctx */
  const int32_t *tokens;     /* (B,T) ids in [0, V), or NULL when embeds set */
  const float *embeds;       /* (B,T,C) token embeddings before wpe is added,
                                or NULL when tokens set (exactly one of the two) */
  const int32_t *targets;    /* (B,T) next-token ids, or NULL: no loss */
  const float *loss_mask;    /* (B,T) weights, or NULL: every position 1 */
  int logits_masked_only;    /* 1: compute logits only where loss_mask != 0 */
  /* Distillation (soft targets). All zero gives the plain cross-entropy. */
  const float *soft_targets; /* (R, V) teacher probabilities, one row per loss
                                row, or NULL; needs targets (see below) */
  float soft_alpha;          /* weight of the distillation term, in [0, 1] */
  float soft_temp;           /* temperature tau > 0 of the distillation term */
} sdq_gpt2_batch;

/* Runs the forward pass at the current bits and caches activations for
 * sdq_gpt2_backward. With targets, *loss receives the mean cross-entropy
 * sum(mask * CE) / sum(mask) over positions with nonzero mask (targets
 * there must be in [0, V); elsewhere they are not read). When the mask sums
 * to 0 the loss is 0 and backward adds nothing. loss may be NULL.
 * Buffers grow when B*T grows and are kept for later calls.
 *
 * Loss rows are the positions with nonzero mask (every position without a
 * loss_mask), taken in (b,t) order; R is their count. With soft_targets
 * (which needs targets), row r of soft_targets is a teacher distribution p
 * over the V tokens for loss row r, already at temperature tau (as
 * sdq_gpt2_tempered_probs writes it), and each row's loss becomes
 *     (1 - alpha) CE(z, target) + alpha tau^2 KL(p || softmax(z / tau))
 * with z the row's logits (nats; the tau^2 keeps the gradient scale of the
 * distillation term independent of tau). The mean over rows is weighted by
 * the mask as above. The teacher is a constant: backward gives
 *     dz = (1 - alpha) (softmax(z) - onehot) + alpha tau (softmax(z/tau) - p)
 * times mask / sum(mask). forward keeps the soft_targets pointer and
 * backward reads it again: keep the buffer unchanged until then.
 * Errors: bad shapes, token or target ids out of range (the message gives
 * batch row, position and value), soft targets without targets, alpha
 * outside [0, 1] or tau not a finite value > 0 (NaN included), a soft
 * target that is negative or not finite, or a row that does not sum to 1
 * within 1e-3 (the message gives batch row, position and value), missing
 * LoRA set, out of memory. */
int sdq_gpt2_forward(sdq_gpt2 *m, const sdq_gpt2_batch *batch, float *loss,
                     char *err, size_t errlen);

/* Number of loss rows R of the last forward pass (positions with nonzero
 * loss mask), or 0 before any forward. */
int sdq_gpt2_loss_rows(const sdq_gpt2 *m);

/* Writes softmax(z / tau) of the R loss rows of the last forward pass, in
 * (b,t) order, into probs (R, V): the soft_targets a student batch takes
 * from this pass as its teacher. probs must hold max_rows * V floats; R is
 * written to *n_rows (may be NULL). Errors: no forward pass before, tau
 * not a finite value > 0, R > max_rows. */
int sdq_gpt2_tempered_probs(const sdq_gpt2 *m, float tau, float *probs,
                            int max_rows, int *n_rows, char *err,
                            size_t errlen);

/* Logits of the last forward pass at (b, t): V floats, or NULL when that row
 * was not computed (logits_masked_only with mask 0). Valid until the next
 * forward. */
const float *sdq_gpt2_logits(const sdq_gpt2 *m, int b, int t);

/* Backward pass of the last forward (which must have had targets), with
 * d(loss)/d(loss) = loss_scale. Accumulates (+=) into the LoRA gradients of
 * the adapters that ran, into the base gradients when train_base, and into
 * d_embeds (B,T,C) when not NULL: the gradient with respect to the token
 * embeddings before the position embeddings were added (for token input
 * these are the wte rows). Errors: no forward with targets before. */
int sdq_gpt2_backward(sdq_gpt2 *m, float loss_scale, float *d_embeds,
                      char *err, size_t errlen);

/* Zeros the LoRA gradients and used flags, and the base gradients when
 * train_base. */
void sdq_gpt2_zero_grad(sdq_gpt2 *m);

/* ------------------------------------------------------------ embeddings */

/* Copies wte rows of ids[n] into out (n, C). Errors on an id out of range. */
int sdq_gpt2_embed_tokens(const sdq_gpt2 *m, const int32_t *ids, int n,
                          float *out, char *err, size_t errlen);
/* The vocabulary embedding matrix (V, C), read-only. HotFlip scores a swap
 * of token old by v as grad . (wte[v] - wte[old]). */
const float *sdq_gpt2_wte(const sdq_gpt2 *m);

/* ------------------------------------------------------------ generation */

typedef enum sdq_stop_reason {
  SDQ_STOP_MAX_NEW = 0, /* max_new tokens were generated */
  SDQ_STOP_TOKEN,       /* a token from stop_ids was generated */
  SDQ_STOP_EOT,         /* <|endoftext|> (eot_id) was generated */
  SDQ_STOP_CTX          /* the sequence reached n_ctx */
} sdq_stop_reason;

typedef struct sdq_gen_options {
  int max_new;             /* maximum tokens to generate, >= 0 */
  const uint8_t *stop_ids; /* (V) 1 = stop on this token (e.g. every token
                              whose text contains '\n'), or NULL */
  int eot_id;              /* end-of-text id, or -1 for none; see
                              sdq_gpt2_default_eot */
} sdq_gen_options;

/* Returns 50256 when vocab_size is 50257 (GPT-2's <|endoftext|>), else -1. */
int sdq_gpt2_default_eot(const sdq_gpt2 *m);

/* Greedy generation with a KV cache at the current bits (no dropout). The
 * prompt is ids[n_prompt] or embeds (n_prompt, C) token embeddings (exactly
 * one non-NULL). Stop rule, checked after each generated token in this
 * order: eot_id -> SDQ_STOP_EOT, stop_ids -> SDQ_STOP_TOKEN (the stop token
 * is not written to out in either case), max_new reached -> SDQ_STOP_MAX_NEW,
 * n_prompt + generated >= n_ctx -> SDQ_STOP_CTX (a prompt of n_ctx tokens
 * gives one token). out must hold max_new ids;
 * *n_out receives the count written and *reason (may be NULL) the rule that
 * ended it. Errors: n_prompt < 1 or > n_ctx (the message gives both), ids out
 * of range, missing LoRA set. */
int sdq_gpt2_generate(sdq_gpt2 *m, const int32_t *ids, const float *embeds,
                      int n_prompt, const sdq_gen_options *opt, int32_t *out,
                      int *n_out, sdq_stop_reason *reason, char *err,
                      size_t errlen);

/* ------------------------------------------------------- files (HF, PEFT) */

/* Reads the GPT-2 fields of a Hugging Face config.json. Shape fields present
 * go to cfg: n_layer, n_head, n_embd, vocab_size, and n_ctx from
 * "n_positions" (the position table size) or its older name "n_ctx"; absent
 * ones are 0. Other fields are ignored except those that change the maths,
 * which must match what sdq computes when present. Errors, each naming path,
 * field and value: invalid JSON; a shape field that is not an integer > 0
 * (null counts as absent); n_positions != n_ctx; n_head not dividing n_embd;
 * n_inner other than 4 * n_embd; model_type other than "gpt2";
 * activation_function other than the tanh GELU ("gelu_new",
 * "gelu_pytorch_tanh", "gelu_fast"); layer_norm_epsilon not a number equal
 * to 1e-5 as a float; scale_attn_weights false; scale_attn_by_inverse_layer_idx
 * or add_cross_attention true. Returns 0 or -1. */
int sdq_gpt2_read_config_json(const char *path, sdq_gpt2_config *cfg, char *err,
                              size_t errlen);

/* Loads a Hugging Face GPT-2 checkpoint. path is a folder holding
 * model.safetensors (and optionally config.json) or the .safetensors file
 * itself (config.json is then looked for beside it).
 * - Tensor names may carry the "transformer." prefix or not; attn.bias and
 *   attn.masked_bias are ignored; any other unknown tensor is an error.
 * - n_layer, n_embd, vocab_size and n_ctx come from the tensor shapes
 *   (h.{i} count, wte and wpe). n_head comes from config.json ("n_head");
 *   without it it is 12 when n_embd is 768 (GPT-2 124M) and an error
 *   otherwise. config.json is checked as sdq_gpt2_read_config_json does,
 *   and a value that disagrees with the shapes is an error.
 * - A non-finite weight is an error naming the tensor and the element's
 *   index within it (in the file's layout).
 * - lm_head.weight, when present, must equal wte (tied); otherwise it is
 *   ignored with a NOTE on stderr.
 * - Any dtype sdq_safetensors_read_f32 converts is accepted.
 * Returns NULL with a message naming the file and tensor on failure. */
sdq_gpt2 *sdq_gpt2_load_hf(const char *path, uint64_t seed, char *err,
                           size_t errlen);

/* Writes the base weights as HF GPT-2 into folder dir (created if missing):
 * model.safetensors with "transformer."-less names as the HF hub file uses
 * (wte.weight, h.0.attn.c_attn.weight [in, out], ...), and config.json with
 * the shape fields. Both go to temporary files first; the weights are
 * renamed into place, then config.json, and when that last rename fails the
 * previous weights are put back, so dir never pairs new weights with an old
 * config. Errors name the file. */
int sdq_gpt2_save_hf(const sdq_gpt2 *m, const char *dir, char *err,
                     size_t errlen);

/* Saves the LoRA bank in PEFT layout under dir: one subfolder per adapter
 * set, bits{b}/ for 2..8 and fp32/ for full precision, each holding
 * adapter_model.safetensors (base_model.model.transformer.h.{i}.<linear>.
 * lora_A.weight (r, in) and lora_B.weight (out, r)) and adapter_config.json
 * (r, lora_alpha, lora_dropout, target_modules, fan_in_fan_out true). */
int sdq_lora_save(const sdq_gpt2 *m, const char *dir, char *err,
                  size_t errlen);

/* Loads the adapter sets found under dir (the layout of sdq_lora_save) into
 * the model's bank, replacing it. Every subfolder must agree on r and
 * lora_alpha and match the model's shapes. */
int sdq_lora_load(sdq_gpt2 *m, const char *dir, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_MODEL_GPT2_H */
