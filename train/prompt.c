/* prompt.c - SQuAD prompts, loss targets and context windows (see prompt.h). */
#include "config.h"

#include "train/prompt.h"

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

void sdq_example_free(sdq_example *ex) {
  if (!ex)
    return;
  free(ex->tokens);
  memset(ex, 0, sizeof *ex);
}

/* The pieces of one question, tokenized. ctx_end[i] is the byte offset in
 * " CONTEXT" where context token i ends. */
typedef struct pieces {
  int32_t *head, *ctx, *tail;
  size_t n_head, n_ctx, n_tail;
  size_t *ctx_end;
} pieces;

static void pieces_free(pieces *p) {
  free(p->head);
  free(p->ctx);
  free(p->tail);
  free(p->ctx_end);
  memset(p, 0, sizeof *p);
}

static int encode_str(sdq_tokenizer *tok, const char *a, const char *b, const char *c,
                      int32_t **ids, size_t *n, char *err, size_t errlen) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *buf = malloc(la + lb + lc + 1);
  if (!buf) {
    set_err(err, errlen, "out of memory building a prompt");
    return -1;
  }
  memcpy(buf, a, la);
  memcpy(buf + la, b, lb);
  memcpy(buf + la + lb, c, lc + 1);
  int rc = sdq_tokenizer_encode(tok, buf, la + lb + lc, 0, ids, n, err, errlen);
  free(buf);
  return rc;
}

static int build_pieces(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi, pieces *p,
                        char *err, size_t errlen) {
  const sdq_squad_question *q = &sq->questions[qi];
  const sdq_squad_paragraph *par = &sq->paragraphs[q->paragraph];
  memset(p, 0, sizeof *p);

  if (encode_str(tok, "Context:", "", "", &p->head, &p->n_head, err, errlen) ||
      encode_str(tok, " ", par->context, "", &p->ctx, &p->n_ctx, err, errlen) ||
      encode_str(tok, "\nQuestion: ", q->question, "\nAnswer:", &p->tail, &p->n_tail, err,
                 errlen)) {
    pieces_free(p);
    return -1;
  }

  p->ctx_end = malloc((p->n_ctx + 1) * sizeof *p->ctx_end);
  if (!p->ctx_end) {
    pieces_free(p);
    set_err(err, errlen, "out of memory building a prompt");
    return -1;
  }
  size_t off = 0;
  for (size_t i = 0; i < p->n_ctx; i++) {
    size_t len = 0;
    sdq_tokenizer_token_bytes(tok, p->ctx[i], &len);
    off += len;
    p->ctx_end[i] = off;
  }
  return 0;
}

/* Joins head + ctx[begin .. begin+count) + tail (+ target) into ex. */
static int join(const pieces *p, size_t begin, size_t count, const int32_t *target,
                size_t n_target, sdq_example *ex, char *err, size_t errlen) {
  size_t n = p->n_head + count + p->n_tail + n_target;
  ex->tokens = malloc(n * sizeof *ex->tokens);
  if (!ex->tokens) {
    set_err(err, errlen, "out of memory building a prompt");
    return -1;
  }
  int32_t *t = ex->tokens;
  memcpy(t, p->head, p->n_head * sizeof *t);
  t += p->n_head;
  memcpy(t, p->ctx + begin, count * sizeof *t);
  t += count;
  memcpy(t, p->tail, p->n_tail * sizeof *t);
  t += p->n_tail;
  if (n_target)
    memcpy(t, target, n_target * sizeof *t);
  ex->n_tokens = (int)n;
  ex->n_prompt = (int)(n - n_target);
  ex->context_tokens = (int)p->n_ctx;
  ex->window_begin = (int)begin;
  ex->window_tokens = (int)count;
  return 0;
}

int sdq_prompt_train(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi, size_t ai,
                     int max_len, sdq_rng *rng, sdq_example *ex, char *err, size_t errlen) {
  const sdq_squad_question *q = &sq->questions[qi];
  const sdq_squad_answer *ans = &q->answers[ai];
  memset(ex, 0, sizeof *ex);

  pieces p;
  if (build_pieces(tok, sq, qi, &p, err, errlen))
    return -1;
  int32_t *target = NULL, *nl = NULL;
  size_t n_target = 0, n_nl = 0;
  if (encode_str(tok, " ", ans->text, "", &target, &n_target, err, errlen) ||
      encode_str(tok, "\n", "", "", &nl, &n_nl, err, errlen)) {
    free(target);
    pieces_free(&p);
    return -1;
  }
  int32_t *full = realloc(target, (n_target + n_nl) * sizeof *full);
  if (!full) {
    free(target), free(nl);
    pieces_free(&p);
    set_err(err, errlen, "out of memory building a prompt");
    return -1;
  }
  memcpy(full + n_target, nl, n_nl * sizeof *full);
  n_target += n_nl;
  free(nl);

  /* 1. Context tokens [first, last] that overlap the answer's bytes (offset
   * +1 for the leading space of " CONTEXT"). */
  size_t a_begin = ans->start + 1, a_end = ans->start + 1 + ans->len;
  size_t first = 0, last = 0;
  while (first < p.n_ctx && p.ctx_end[first] <= a_begin)
    first++;
  last = first;
  while (last + 1 < p.n_ctx && p.ctx_end[last] < a_end)
    last++;

  /* 2. Room for context tokens, and a window holding [first, last]. */
  long room = (long)max_len - (long)(p.n_head + p.n_tail + n_target);
  int rc = 0;
  size_t begin = 0, count = p.n_ctx;
  if ((long)p.n_ctx > room) {
    if (room < (long)(last - first + 1) || p.n_ctx == 0) {
      rc = 1;
      goto done;
    }
    count = (size_t)room;
    size_t lo = last + 1 > count ? last + 1 - count : 0;
    size_t hi = first < p.n_ctx - count ? first : p.n_ctx - count;
    begin = lo + sdq_rng_below(rng, (uint32_t)(hi - lo + 1));
  }

  if (join(&p, begin, count, full, n_target, ex, err, errlen))
    rc = -1;
  else
    ex->answer_inside = 1;

done:
  free(full);
  pieces_free(&p);
  return rc;
}

int sdq_prompt_eval(sdq_tokenizer *tok, const sdq_squad *sq, size_t qi, int max_len,
                    int max_new, sdq_example *ex, char *err, size_t errlen) {
  const sdq_squad_question *q = &sq->questions[qi];
  memset(ex, 0, sizeof *ex);

  pieces p;
  if (build_pieces(tok, sq, qi, &p, err, errlen))
    return -1;

  long room = (long)max_len - (long)(p.n_head + p.n_tail) - (long)max_new;
  if (room < 1) {
    pieces_free(&p);
    return 1;
  }
  size_t count = (long)p.n_ctx > room ? (size_t)room : p.n_ctx;
  if (join(&p, 0, count, NULL, 0, ex, err, errlen)) {
    pieces_free(&p);
    return -1;
  }

  /* A gold answer is inside when its last byte is inside the kept tokens. */
  size_t covered = count ? p.ctx_end[count - 1] : 0;
  for (size_t a = 0; a < q->n_answers; a++)
    if (q->answers[a].start + 1 + q->answers[a].len <= covered)
      ex->answer_inside = 1;
  pieces_free(&p);
  return 0;
}

uint8_t *sdq_prompt_stop_ids(const sdq_tokenizer *tok) {
  int v = sdq_tokenizer_vocab_size(tok);
  uint8_t *stop = calloc((size_t)v, 1);
  if (!stop)
    return NULL;
  for (int id = 0; id < v; id++) {
    size_t len = 0;
    const char *b = sdq_tokenizer_token_bytes(tok, id, &len);
    stop[id] = b && memchr(b, '\n', len) != NULL;
  }
  return stop;
}

char *sdq_prompt_decode_answer(const sdq_tokenizer *tok, const int32_t *ids, int n,
                               char *err, size_t errlen) {
  char *raw = NULL;
  size_t len = 0;
  if (sdq_tokenizer_decode(tok, ids, (size_t)(n > 0 ? n : 0), &raw, &len, err, errlen))
    return NULL;
  char *nl = memchr(raw, '\n', len);
  if (nl)
    len = (size_t)(nl - raw);

  size_t b = 0;
  while (b < len && (raw[b] == ' ' || raw[b] == '\t' || raw[b] == '\r'))
    b++;
  while (len > b && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '\r'))
    len--;

  /* Replace invalid UTF-8 (a token can end inside a multi-byte character)
   * with U+FFFD, 3 bytes per bad byte at most. */
  char *out = malloc(3 * (len - b) + 1);
  if (!out) {
    free(raw);
    set_err(err, errlen, "out of memory decoding an answer");
    return NULL;
  }
  size_t o = 0;
  for (size_t i = b; i < len;) {
    size_t bad = 0;
    if (sdq_utf8_valid(raw + i, len - i, &bad)) {
      memcpy(out + o, raw + i, len - i);
      o += len - i;
      break;
    }
    memcpy(out + o, raw + i, bad);
    o += bad;
    memcpy(out + o, "\xEF\xBF\xBD", 3);
    o += 3;
    i += bad + 1;
  }
  out[o] = '\0';
  free(raw);
  return out;
}
