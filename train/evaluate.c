/* evaluate.c - greedy SQuAD evaluation and prediction files (see evaluate.h). */
#include "config.h"

#include "train/evaluate.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train/files.h"
#include "train/prompt.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sdq_eval_result_free(sdq_eval_result *res) {
  if (res->predictions)
    for (size_t i = 0; i < res->n_questions; i++)
      free(res->predictions[i]);
  free(res->predictions);
  memset(res, 0, sizeof *res);
}

int sdq_evaluate(sdq_gpt2 *m, sdq_tokenizer *tok, const sdq_squad *sq, const size_t *subset,
                 size_t n, const sdq_eval_options *opt, sdq_eval_result *res, char *err,
                 size_t errlen) {
  memset(res, 0, sizeof *res);
  if (opt->max_new < 1 || opt->max_len < 2 || opt->max_len > m->cfg.n_ctx) {
    set_err(err, errlen, "evaluation needs max_new >= 1 and 2 <= max_len <= n_ctx (%d); got "
                         "max_new %d, max_len %d", m->cfg.n_ctx, opt->max_new, opt->max_len);
    return -1;
  }
  uint8_t *stop = sdq_prompt_stop_ids(tok);
  int32_t *out = malloc((size_t)opt->max_new * sizeof *out);
  res->predictions = calloc(n ? n : 1, sizeof *res->predictions);
  if (!stop || !out || !res->predictions) {
    free(stop), free(out);
    set_err(err, errlen, "out of memory");
    sdq_eval_result_free(res);
    return -1;
  }
  res->n_questions = n;

  sdq_gen_options gen = {opt->max_new, stop, sdq_gpt2_default_eot(m)};
  double t0 = now_seconds(), total_em = 0.0, total_f1 = 0.0;
  int tty = isatty(STDERR_FILENO), rc = 0;
  m->training = 0;

  for (size_t i = 0; i < n; i++) {
    const sdq_squad_question *q = &sq->questions[subset[i]];
    sdq_example ex;
    int pr = sdq_prompt_eval(tok, sq, subset[i], opt->max_len, opt->max_new, &ex, err, errlen);
    if (pr < 0) {
      rc = -1;
      break;
    }

    /* 1. Generate (an example that does not fit gets the empty answer). */
    int n_out = 0;
    if (pr == 1) {
      res->n_skipped++;
      res->n_cut++;
    } else {
      if (!ex.answer_inside)
        res->n_cut++;
      if (sdq_gpt2_generate(m, ex.tokens, NULL, ex.n_tokens, &gen, out, &n_out, NULL, err,
                            errlen)) {
        sdq_example_free(&ex);
        rc = -1;
        break;
      }
    }
    sdq_example_free(&ex);

    /* 2. Decode and score. */
    res->predictions[i] = sdq_prompt_decode_answer(tok, out, n_out, err, errlen);
    double em, f1;
    if (!res->predictions[i] || sdq_squad_score_one(res->predictions[i], q, &em, &f1)) {
      if (res->predictions[i])
        set_err(err, errlen, "question '%s': scoring the prediction failed", q->id);
      rc = -1;
      break;
    }
    total_em += em;
    total_f1 += f1;

    if (opt->progress && (tty || (i + 1) % 100 == 0 || i + 1 == n)) {
      double dt = now_seconds() - t0;
      fprintf(stderr, "%s  question %zu/%zu  F1 %.2f  %.1f q/s%s", tty ? "\r" : "", i + 1, n,
              100.0 * total_f1 / (double)(i + 1), (double)(i + 1) / (dt > 0 ? dt : 1e-9),
              tty && i + 1 < n ? "   " : "\n");
      fflush(stderr);
    }
  }
  free(stop);
  free(out);
  if (rc) {
    sdq_eval_result_free(res);
    return -1;
  }
  if (n > 0) {
    res->exact_match = 100.0 * total_em / (double)n;
    res->f1 = 100.0 * total_f1 / (double)n;
  }
  res->seconds = now_seconds() - t0;
  return 0;
}

int sdq_write_predictions(const char *path, const sdq_squad *sq, const size_t *subset, size_t n,
                          char *const *predictions, char *err, size_t errlen) {
  json_t *obj = json_object();
  if (!obj) {
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (json_object_set_new(obj, sq->questions[subset[i]].id,
                            json_string(predictions[i] ? predictions[i] : ""))) {
      json_decref(obj);
      set_err(err, errlen, "%s: could not add the prediction of question '%s'", path,
              sq->questions[subset[i]].id);
      return -1;
    }
  int rc = sdq_json_write_file(path, obj, err, errlen);
  json_decref(obj);
  return rc;
}

size_t *sdq_select_questions(const sdq_squad *sq, const char *ids_path, long limit, size_t *n,
                             char *err, size_t errlen) {
  size_t *sel = malloc((sq->n_questions ? sq->n_questions : 1) * sizeof *sel);
  if (!sel) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  size_t count = 0;
  if (!ids_path) {
    for (size_t i = 0; i < sq->n_questions; i++)
      sel[count++] = i;
  } else {
    FILE *f = fopen(ids_path, "r");
    if (!f) {
      set_err(err, errlen, "%s: could not open the id list", ids_path);
      free(sel);
      return NULL;
    }
    char line[512];
    long lineno = 0;
    while (fgets(line, sizeof line, f)) {
      lineno++;
      char *hash = strchr(line, '#');
      if (hash)
        *hash = '\0';
      char *s = line;
      while (*s == ' ' || *s == '\t')
        s++;
      size_t len = strlen(s);
      while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
                         s[len - 1] == '\t'))
        s[--len] = '\0';
      if (len == 0)
        continue;
      long qi = sdq_squad_find(sq, s);
      if (qi < 0 || count >= sq->n_questions) {
        set_err(err, errlen, "%s:%ld: question id '%s' is %s %s", ids_path, lineno, s,
                qi < 0 ? "not in" : "listed twice or more often than there are questions in",
                sq->path);
        fclose(f);
        free(sel);
        return NULL;
      }
      sel[count++] = (size_t)qi;
    }
    fclose(f);
    if (count == 0) {
      set_err(err, errlen, "%s lists no question ids (only blank lines and '#' comments), so "
              "nothing is evaluated; put one id of %s per line", ids_path, sq->path);
      free(sel);
      return NULL;
    }
  }
  if (count == 0) {
    set_err(err, errlen, "%s has no questions, so nothing is evaluated", sq->path);
    free(sel);
    return NULL;
  }
  if (limit > 0 && (size_t)limit < count)
    count = (size_t)limit;
  *n = count;
  return sel;
}
