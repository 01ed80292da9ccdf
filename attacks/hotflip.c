/* hotflip.c - HotFlip: greedy first-order token replacements in the context,
 * one flip per iteration with the gradient recomputed after each flip. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"
#include "sdq_kernels.h"

/* Returns 1 when s[0..len) is complete, valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_complete(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t extra;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if (i + extra >= len) /* truncated sequence */
      return 0;
    for (size_t k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
      return 0;
    i += extra + 1;
  }
  return 1;
}

int sdq_hotflip_vocab(int V, int eot_id,
                      const char *(*token_bytes)(int id, size_t *len,
                                                 void *ctx),
                      void *ctx, uint8_t *allowed) {
  int n = 0;
  for (int v = 0; v < V; v++) {
    size_t len = 0;
    const unsigned char *s = (const unsigned char *)token_bytes(v, &len, ctx);
    int ok = v != eot_id && s != NULL && len > 0 && utf8_complete(s, len);
    for (size_t i = 0; ok && i < len; i++)
      ok = s[i] >= 0x20 && s[i] != 0x7f;
    allowed[v] = (uint8_t)ok;
    n += ok;
  }
  return n;
}

/* Positions scored per GEMM: the score block is POS_BLOCK x V floats. */
enum { POS_BLOCK = 32 };

int sdq_hotflip_attack(sdq_gpt2 *m, sdq_attack_target *t,
                       const sdq_attack_example *ex,
                       const sdq_hotflip_params *p, int32_t *out_ids,
                       int *n_flips, char *err, size_t errlen) {
  const int C = m->cfg.n_embd, V = m->cfg.vocab_size, np = ex->n_prompt;
  const float *wte = sdq_gpt2_wte(m);
  *n_flips = 0;
  if (p->max_flips < 0 || !p->allowed) {
    snprintf(err, errlen, "HotFlip: invalid parameters (max_flips %d, candidate vocabulary %s)",
             p->max_flips, p->allowed ? "set" : "missing");
    return -1;
  }
  if (ex->ctx_begin < 0 || ex->ctx_end > np || ex->ctx_begin > ex->ctx_end) {
    snprintf(err, errlen, "HotFlip: question %zu: context range [%d, %d) lies outside the %d-token prompt",
             ex->question, ex->ctx_begin, ex->ctx_end, np);
    return -1;
  }

  float *embeds = malloc(sizeof(float) * (size_t)np * C);
  float *grad = malloc(sizeof(float) * (size_t)np * C);
  float *gblock = malloc(sizeof(float) * (size_t)POS_BLOCK * C);
  float *scores = malloc(sizeof(float) * (size_t)POS_BLOCK * V);
  uint8_t *flipped = calloc((size_t)np, 1);
  sdq_attack_example cur = *ex;
  int rc = -1;
  if (!embeds || !grad || !gblock || !scores || !flipped) {
    snprintf(err, errlen, "HotFlip: question %zu: out of memory", ex->question);
    goto done;
  }

  /* The working example shares everything with ex except the prompt ids,
   * which live in out_ids (answer tokens are read from ex->ids). */
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)ex->n);
  if (!ids) {
    snprintf(err, errlen, "HotFlip: question %zu: out of memory", ex->question);
    goto done;
  }
  memcpy(ids, ex->ids, sizeof(int32_t) * (size_t)ex->n);
  cur.ids = ids;

  for (int it = 0; it < p->max_flips; it++) {
    /* 1. Gradient of the answer loss at the current tokens. */
    if (sdq_gpt2_embed_tokens(m, ids, np, embeds, err, errlen) ||
        sdq_answer_loss_grad(m, t, &cur, embeds, p->eot_samples, NULL, grad, err, errlen)) {
      free(ids);
      goto done;
    }

    /* 2. Best (position, token): score(p, v) = g[p].wte[v] - g[p].wte[old],
     * computed a block of positions at a time as G_block * wte^T. */
    float best = 0.0f;
    int best_pos = -1, best_tok = -1;
    for (int p0 = ex->ctx_begin; p0 < ex->ctx_end; p0 += POS_BLOCK) {
      int rows[POS_BLOCK], nr = 0;
      for (int q = p0; q < ex->ctx_end && q < p0 + POS_BLOCK; q++) {
        if (ex->protect[q] || flipped[q])
          continue;
        memcpy(gblock + (size_t)nr * C, grad + (size_t)q * C, sizeof(float) * C);
        rows[nr++] = q;
      }
      if (nr == 0)
        continue;
      sdq_sgemm_nt(nr, V, C, gblock, C, wte, C, 0.0f, scores, V);
      for (int r = 0; r < nr; r++) {
        const float *s = scores + (size_t)r * V;
        float base = s[ids[rows[r]]];
        for (int v = 0; v < V; v++) {
          if (!p->allowed[v] || v == ids[rows[r]])
            continue;
          float gain = s[v] - base;
          if (gain > best) {
            best = gain;
            best_pos = rows[r];
            best_tok = v;
          }
        }
      }
    }

    /* 3. Apply it, or stop when no flip is predicted to raise the loss. */
    if (best_pos < 0)
      break;
    ids[best_pos] = best_tok;
    flipped[best_pos] = 1;
    (*n_flips)++;
  }

  memcpy(out_ids, ids, sizeof(int32_t) * (size_t)np);
  free(ids);
  rc = 0;

done:
  free(embeds);
  free(grad);
  free(gblock);
  free(scores);
  free(flipped);
  return rc;
}
