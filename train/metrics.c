/* metrics.c - SQuAD v1.1 normalization, EM and F1 (see metrics.h). */
#define _GNU_SOURCE 1 /* newlocale, towlower_l */
#include "config.h"

#include "train/metrics.h"

#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* One C.UTF-8 locale object for the wide-character class and case tables,
 * so the process locale is never changed. */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void open_utf8_locale(void) {
  utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t get_utf8_locale(void) {
  pthread_once(&utf8_once, open_utf8_locale);
  return utf8_locale;
}

/* ------------------------------------------------------ code point arrays */

static size_t decode_utf8(const char *s, size_t len, uint32_t *out) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    uint32_t cp;
    size_t k;
    if (c < 0x80)
      cp = c, k = 1;
    else if ((c & 0xE0) == 0xC0)
      cp = c & 0x1F, k = 2;
    else if ((c & 0xF0) == 0xE0)
      cp = c & 0x0F, k = 3;
    else
      cp = c & 0x07, k = 4;
    for (size_t j = 1; j < k; j++)
      cp = (cp << 6) | (p[i + j] & 0x3F);
    out[n++] = cp;
    i += k;
  }
  return n;
}

static size_t encode_utf8(uint32_t cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs
 * (the list printed by Python 3.11, Unicode 14.0). */
static int is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

/* string.punctuation: the 32 printable ASCII characters that are neither
 * letters, digits nor space. */
static int is_ascii_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

/* Python's \w: the generated range table (sorted, disjoint). */
static const uint32_t word_ranges[][2] = {
#include "train/word_chars.inc"
};

/* The final sigma classes of Python's str.lower(): case_ignorable_ranges
 * and cased_ranges (cased and not case-ignorable), generated tables. */
#include "train/case_chars.inc"

/* Binary search of c in n sorted, disjoint [lo, hi] ranges. */
static int in_ranges(uint32_t c, const uint32_t (*ranges)[2], size_t n) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c < ranges[mid][0])
      hi = mid;
    else if (c > ranges[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

static int is_word_char(uint32_t c) {
  return in_ranges(c, word_ranges, sizeof word_ranges / sizeof word_ranges[0]);
}

static int is_case_ignorable(uint32_t c) {
  return in_ranges(c, case_ignorable_ranges,
                   sizeof case_ignorable_ranges / sizeof case_ignorable_ranges[0]);
}

/* Cased, for a character that is not case-ignorable. */
static int is_cased(uint32_t c) {
  return in_ranges(c, cased_ranges, sizeof cased_ranges / sizeof cased_ranges[0]);
}

/* Unicode's Final_Sigma condition for the capital sigma at in[i]: a cased
 * character before it and none after it, where case-ignorable characters
 * on either side are skipped. */
static int is_final_sigma(const uint32_t *in, size_t n, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(in[j - 1]))
    j--;
  if (j == 0 || !is_cased(in[j - 1]))
    return 0;

  j = i + 1;
  while (j < n && is_case_ignorable(in[j]))
    j++;
  return j == n || !is_cased(in[j]);
}

/* Step 1: Python str.lower(). out has room for 2 * n code points because
 * U+0130 is the only character whose lower case is two code points. */
static size_t lower_python(const uint32_t *in, size_t n, uint32_t *out, locale_t loc) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c == 0x130) {
      out[m++] = 'i';
      out[m++] = 0x307;
    } else if (c == 0x3A3) {
      out[m++] = is_final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
    } else if (c < 0x80) {
      out[m++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else {
      out[m++] = (uint32_t)towlower_l((wint_t)c, loc);
    }
  }
  return m;
}

int sdq_squad_normalize(const char *s, size_t len, char **out, char *err, size_t errlen) {
  *out = NULL;
  locale_t loc = get_utf8_locale();
  if (loc == (locale_t)0) {
    set_err(err, errlen,
            "the C.UTF-8 locale is not available, so Unicode lower-casing cannot run "
            "(install glibc's C.UTF-8 locale)");
    return -1;
  }
  if (!sdq_utf8_valid(s, len, NULL)) {
    set_err(err, errlen, "answer text '%.40s' is not valid UTF-8", s);
    return -1;
  }
  uint32_t *cps = malloc((len + 1) * sizeof *cps);
  uint32_t *low = malloc((2 * len + 1) * sizeof *low);
  char *res = malloc(8 * len + 1);
  if (!cps || !low || !res) {
    free(cps), free(low), free(res);
    set_err(err, errlen, "out of memory normalizing an answer of %zu bytes", len);
    return -1;
  }

  /* 1. lower-case; 2. drop ASCII punctuation (in place). */
  size_t n = decode_utf8(s, len, cps);
  size_t m = lower_python(cps, n, low, loc);
  size_t k = 0;
  for (size_t i = 0; i < m; i++)
    if (!is_ascii_punct(low[i]))
      low[k++] = low[i];
  m = k;

  /* 3. Articles: a maximal run of word characters equal to a/an/the is
   * exactly what \b(a|an|the)\b matches; it becomes one space. */
  for (size_t i = 0; i < m;) {
    if (!is_word_char(low[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < m && is_word_char(low[j]))
      j++;
    size_t w = j - i;
    int article = (w == 1 && low[i] == 'a') ||
                  (w == 2 && low[i] == 'a' && low[i + 1] == 'n') ||
                  (w == 3 && low[i] == 't' && low[i + 1] == 'h' && low[i + 2] == 'e');
    if (article)
      for (size_t t = i; t < j; t++)
        low[t] = ' ';
    i = j;
  }

  /* 4. Split on Python whitespace, join with single spaces. */
  size_t o = 0;
  int pending_space = 0;
  for (size_t i = 0; i < m; i++) {
    if (is_python_space(low[i])) {
      pending_space = o > 0;
      continue;
    }
    if (pending_space)
      res[o++] = ' ';
    pending_space = 0;
    o += encode_utf8(low[i], res + o);
  }
  res[o] = '\0';
  free(cps);
  free(low);
  *out = res;
  return 0;
}

double sdq_squad_exact_match(const char *prediction, const char *gold) {
  char *a, *b;
  if (sdq_squad_normalize(prediction, strlen(prediction), &a, NULL, 0))
    return -1;
  if (sdq_squad_normalize(gold, strlen(gold), &b, NULL, 0)) {
    free(a);
    return -1;
  }
  double em = strcmp(a, b) == 0 ? 1.0 : 0.0;
  free(a);
  free(b);
  return em;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits a normalized string (single spaces, no leading or trailing one) in
 * place into tokens; returns their count. tokens has room for strlen/2+1. */
static size_t split_tokens(char *s, char **tokens) {
  size_t n = 0;
  if (!*s)
    return 0;
  tokens[n++] = s;
  for (char *p = s; *p; p++)
    if (*p == ' ') {
      *p = '\0';
      tokens[n++] = p + 1;
    }
  return n;
}

double sdq_squad_f1(const char *prediction, const char *gold) {
  char *a, *b;
  if (sdq_squad_normalize(prediction, strlen(prediction), &a, NULL, 0))
    return -1;
  if (sdq_squad_normalize(gold, strlen(gold), &b, NULL, 0)) {
    free(a);
    return -1;
  }
  char **ta = malloc((strlen(a) / 2 + 1) * sizeof *ta);
  char **tb = malloc((strlen(b) / 2 + 1) * sizeof *tb);
  if (!ta || !tb) {
    free(a), free(b), free(ta), free(tb);
    return -1;
  }
  size_t na = split_tokens(a, ta), nb = split_tokens(b, tb);

  /* Multiset intersection: merge the two sorted token lists. */
  qsort(ta, na, sizeof *ta, cmp_str);
  qsort(tb, nb, sizeof *tb, cmp_str);
  size_t same = 0;
  for (size_t i = 0, j = 0; i < na && j < nb;) {
    int c = strcmp(ta[i], tb[j]);
    if (c == 0)
      same++, i++, j++;
    else if (c < 0)
      i++;
    else
      j++;
  }

  double f1 = 0.0;
  if (same > 0) {
    double precision = (double)same / (double)na;
    double recall = (double)same / (double)nb;
    f1 = 2.0 * precision * recall / (precision + recall);
  }
  free(a), free(b), free(ta), free(tb);
  return f1;
}

int sdq_squad_score_one(const char *prediction, const sdq_squad_question *q, double *em,
                        double *f1) {
  double best_em = 0.0, best_f1 = 0.0;
  for (size_t a = 0; a < q->n_answers; a++) {
    double e = sdq_squad_exact_match(prediction, q->answers[a].text);
    double f = sdq_squad_f1(prediction, q->answers[a].text);
    if (e < 0 || f < 0)
      return -1;
    if (e > best_em)
      best_em = e;
    if (f > best_f1)
      best_f1 = f;
  }
  *em = best_em;
  *f1 = best_f1;
  return 0;
}

/* The official score divides by the question count, so a data set without
 * questions has no score. */
static int check_has_questions(const sdq_squad *sq, char *err, size_t errlen) {
  if (sq->n_questions > 0)
    return 0;
  set_err(err, errlen,
          "%s: the data set has no questions, so EM and F1 (means over its questions) are "
          "undefined; check that \"data\" contains articles whose paragraphs have \"qas\"",
          sq->path ? sq->path : "(data set)");
  return -1;
}

int sdq_squad_score_all(const sdq_squad *sq, const char *const *predictions,
                        sdq_squad_score *out, char *err, size_t errlen) {
  double total_em = 0.0, total_f1 = 0.0;
  memset(out, 0, sizeof *out);
  if (check_has_questions(sq, err, errlen))
    return -1;
  out->n_questions = sq->n_questions;
  for (size_t i = 0; i < sq->n_questions; i++) {
    if (!predictions[i]) {
      out->n_missing++;
      continue;
    }
    double em, f1;
    if (sdq_squad_score_one(predictions[i], &sq->questions[i], &em, &f1)) {
      set_err(err, errlen,
              "question '%s': scoring failed (invalid UTF-8 in the prediction, out of "
              "memory, or no C.UTF-8 locale)",
              sq->questions[i].id);
      return -1;
    }
    total_em += em;
    total_f1 += f1;
  }
  out->exact_match = 100.0 * total_em / (double)sq->n_questions;
  out->f1 = 100.0 * total_f1 / (double)sq->n_questions;
  return 0;
}

int sdq_squad_score_file(const sdq_squad *sq, const char *predictions_path,
                         sdq_squad_score *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (check_has_questions(sq, err, errlen))
    return -1;
  json_t *root = sdq_squad_read_json(predictions_path, 0, err, errlen);
  if (!root)
    return -1;
  if (!json_is_object(root)) {
    set_err(err, errlen, "%s: predictions must be a JSON object {\"question id\": \"answer\"}",
            predictions_path);
    json_decref(root);
    return -1;
  }
  const char **preds = calloc(sq->n_questions ? sq->n_questions : 1, sizeof *preds);
  if (!preds) {
    set_err(err, errlen, "%s: out of memory", predictions_path);
    json_decref(root);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < sq->n_questions; i++) {
    json_t *v = json_object_get(root, sq->questions[i].id);
    if (!v)
      continue;
    if (!json_is_string(v)) {
      set_err(err, errlen, "%s: the prediction for question '%s' is not a string",
              predictions_path, sq->questions[i].id);
      rc = -1;
      break;
    }
    preds[i] = json_string_value(v);
  }
  if (rc == 0 && sdq_squad_score_all(sq, preds, out, err, errlen))
    rc = -1;
  free(preds);
  json_decref(root);
  return rc;
}

void sdq_format_python_float(double x, char *buf, size_t len) {
  if (isnan(x)) {
    snprintf(buf, len, "NaN"); /* json.dumps spelling */
    return;
  }
  if (isinf(x)) {
    snprintf(buf, len, x > 0 ? "Infinity" : "-Infinity");
    return;
  }

  /* Shortest digit string that round-trips, in %e form. */
  char e[64];
  int prec;
  for (prec = 0; prec < 17; prec++) {
    snprintf(e, sizeof e, "%.*e", prec, x);
    if (strtod(e, NULL) == x)
      break;
  }
  snprintf(e, sizeof e, "%.*e", prec, x);

  /* Split into sign, digits and decimal exponent. */
  char digits[32];
  int nd = 0, neg = 0;
  const char *p = e;
  if (*p == '-')
    neg = 1, p++;
  for (; *p && *p != 'e'; p++)
    if (*p != '.')
      digits[nd++] = *p;
  digits[nd] = '\0';
  int exp10 = atoi(p + 1);

  /* Python's repr uses positional notation for 1e-4 <= |x| < 1e16. */
  char out[96];
  int o = 0;
  if (neg)
    out[o++] = '-';
  if (exp10 < -4 || exp10 >= 16) {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      for (int i = 1; i < nd; i++)
        out[o++] = digits[i];
    }
    o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+',
                  exp10 < 0 ? -exp10 : exp10);
  } else if (exp10 < 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -exp10 - 1; i++)
      out[o++] = '0';
    for (int i = 0; i < nd; i++)
      out[o++] = digits[i];
  } else {
    for (int i = 0; i <= exp10; i++)
      out[o++] = i < nd ? digits[i] : '0';
    out[o++] = '.';
    if (nd > exp10 + 1)
      for (int i = exp10 + 1; i < nd; i++)
        out[o++] = digits[i];
    else
      out[o++] = '0';
  }
  out[o] = '\0';
  snprintf(buf, len, "%s", out);
}
