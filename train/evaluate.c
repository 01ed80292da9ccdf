/* evaluate.c - greedy SQuAD evaluation and prediction files (see evaluate.h). */
#include "config.h"

#include "train/evaluate.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
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

/* Reads the id list at ids_path into sel (see sdq_select_questions). */
static size_t read_id_list(const sdq_squad *sq, const char *ids_path, size_t *sel, char *err,
                           size_t errlen) {
  FILE *f = fopen(ids_path, "r");
  if (!f) {
    set_err(err, errlen, "%s: could not open the id list: %s", ids_path, strerror(errno));
    return 0;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    set_err(err, errlen, "%s is a directory; --ids takes a text file with one question id "
            "per line", ids_path);
    fclose(f);
    return 0;
  }
  /* listed_at[q] is the line that listed question q, 0 while unlisted. */
  long *listed_at = calloc(sq->n_questions ? sq->n_questions : 1, sizeof *listed_at);
  char *line = NULL;
  size_t cap = 0, count = 0;
  long lineno = 0;
  ssize_t got;
  int failed = !listed_at;
  if (failed)
    set_err(err, errlen, "out of memory");
  errno = 0;
  while (!failed && (got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    char *s = line;
    if (lineno == 1 && got >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) { /* UTF-8 byte order mark */
      s += 3;
      got -= 3;
    }
    if (memchr(s, '\0', (size_t)got)) {
      set_err(err, errlen, "%s:%ld: the line contains a NUL byte; an id list is plain text",
              ids_path, lineno);
      failed = 1;
      break;
    }
    char *hash = strchr(s, '#');
    if (hash)
      *hash = '\0';
    while (*s == ' ' || *s == '\t')
      s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
                       s[len - 1] == '\t'))
      s[--len] = '\0';
    if (len == 0)
      continue;
    long qi = sdq_squad_find(sq, s);
    if (qi < 0) {
      set_err(err, errlen, "%s:%ld: question id '%s' is not in %s", ids_path, lineno, s,
              sq->path);
      failed = 1;
    } else if (listed_at[qi]) {
      set_err(err, errlen, "%s:%ld: id %s already listed at line %ld; list each question once",
              ids_path, lineno, s, listed_at[qi]);
      failed = 1;
    } else {
      listed_at[qi] = lineno;
      sel[count++] = (size_t)qi;
    }
  }
  if (!failed && ferror(f)) {
    set_err(err, errlen, "%s: read error after line %ld: %s", ids_path, lineno,
            strerror(errno));
    failed = 1;
  }
  if (!failed && count == 0) {
    set_err(err, errlen, "%s lists no question ids (only blank lines and '#' comments), so "
            "nothing is evaluated; put one id of %s per line", ids_path, sq->path);
    failed = 1;
  }
  free(line);
  free(listed_at);
  fclose(f);
  return failed ? 0 : count;
}

size_t *sdq_select_questions(const sdq_squad *sq, const char *ids_path, long limit, size_t *n,
                             char *err, size_t errlen) {
  if (sq->n_questions == 0) {
    set_err(err, errlen, "%s has no questions, so nothing is evaluated", sq->path);
    return NULL;
  }
  size_t *sel = malloc(sq->n_questions * sizeof *sel);
  if (!sel) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  size_t count = 0;
  if (!ids_path) {
    for (size_t i = 0; i < sq->n_questions; i++)
      sel[count++] = i;
  } else if ((count = read_id_list(sq, ids_path, sel, err, errlen)) == 0) {
    free(sel);
    return NULL;
  }
  if (limit > 0 && (size_t)limit < count)
    count = (size_t)limit;
  *n = count;
  return sel;
}
