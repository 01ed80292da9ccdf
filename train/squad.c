/* squad.c - SQuAD v1.1 loading and validation (see squad.h). */
#include "config.h"

#include "train/squad.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int sdq_utf8_valid(const char *s, size_t len, size_t *bad) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = p[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      goto invalid;
    }
    if (i + n > len)
      goto invalid;
    for (size_t k = 1; k < n; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        goto invalid;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      goto invalid;
    i += n;
    continue;
  invalid:
    if (bad)
      *bad = i;
    return 0;
  }
  return 1;
}

size_t sdq_utf8_offset(const char *s, size_t len, size_t cp) {
  size_t i = 0;
  for (size_t k = 0; k < cp; k++) {
    if (i >= len)
      return (size_t)-1;
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
      i++;
  }
  return i;
}

void sdq_squad_free(sdq_squad *sq) {
  if (!sq)
    return;
  free(sq->path);
  free(sq->version);
  for (size_t i = 0; i < sq->n_articles; i++)
    free(sq->titles[i]);
  free(sq->titles);
  for (size_t i = 0; i < sq->n_paragraphs; i++)
    free(sq->paragraphs[i].context);
  free(sq->paragraphs);
  for (size_t i = 0; i < sq->n_questions; i++) {
    sdq_squad_question *q = &sq->questions[i];
    free(q->id);
    free(q->question);
    for (size_t a = 0; a < q->n_answers; a++)
      free(q->answers[a].text);
    free(q->answers);
  }
  free(sq->questions);
  free(sq->by_id);
  memset(sq, 0, sizeof *sq);
}

/* Copies a JSON string value and re-checks its UTF-8. A string cannot
 * contain a NUL byte, because sdq_squad_read_json parses without
 * JSON_ALLOW_NUL, so jansson rejects \u0000 escapes. Returns NULL on failure
 * with the reason in why. */
static char *copy_string(json_t *v, const char **why) {
  if (!json_is_string(v)) {
    *why = "is not a string";
    return NULL;
  }
  size_t len = json_string_length(v);
  const char *s = json_string_value(v);
  if (!sdq_utf8_valid(s, len, NULL)) {
    *why = "is not valid UTF-8";
    return NULL;
  }
  char *copy = malloc(len + 1);
  if (!copy) {
    *why = "could not be copied (out of memory)";
    return NULL;
  }
  memcpy(copy, s, len + 1);
  return copy;
}

/* Growable arrays for the three levels, doubled as the file is walked. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap * 2 : 64;
  while (n < need)
    n *= 2;
  void *p = realloc(*arr, n * elem);
  if (!p)
    return -1;
  memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
  *arr = p;
  *cap = n;
  return 0;
}

/* One entry of the id index while it is sorted. qsort's comparator gets
 * only its two arguments, so each entry carries its id (no global state). */
typedef struct id_entry {
  const char *id;
  size_t index;
} id_entry;

static int cmp_id_entry(const void *a, const void *b) {
  const id_entry *ea = a, *eb = b;
  int c = strcmp(ea->id, eb->id);
  if (c)
    return c;
  return (ea->index > eb->index) - (ea->index < eb->index);
}

/* Writes up to max bytes of s[off .. off + want) (s has len bytes) into out
 * for an error message. The cut falls on a UTF-8 character boundary, "..."
 * marks a cut, and control characters are escaped (\n, \t, \r, \xNN for
 * the other C0 bytes and DEL, \uNNNN for C1), so a title or an answer
 * cannot split a character or inject terminal control sequences. */
static void message_text(const char *s, size_t len, size_t off, size_t want, size_t max,
                         char *out, size_t outlen) {
  if (outlen == 0)
    return;
  if (off > len)
    off = len;
  if (want > len - off)
    want = len - off;
  size_t n = want < max ? want : max;
  while (n > 0 && n < want && ((unsigned char)s[off + n] & 0xC0) == 0x80)
    n--;

  size_t o = 0;
  int cut = n < want;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[off + i];
    char piece[8];
    size_t k;
    if (c == '\n') {
      k = (size_t)snprintf(piece, sizeof piece, "\\n");
    } else if (c == '\t') {
      k = (size_t)snprintf(piece, sizeof piece, "\\t");
    } else if (c == '\r') {
      k = (size_t)snprintf(piece, sizeof piece, "\\r");
    } else if (c < 0x20 || c == 0x7F) {
      k = (size_t)snprintf(piece, sizeof piece, "\\x%02X", c);
    } else if (c == 0xC2 && i + 1 < n && (unsigned char)s[off + i + 1] >= 0x80 &&
               (unsigned char)s[off + i + 1] <= 0x9F) {
      k = (size_t)snprintf(piece, sizeof piece, "\\u%04X", (unsigned char)s[off + i + 1]);
      i++;
    } else {
      piece[0] = (char)c;
      k = 1;
    }
    if (o + k + 4 > outlen) { /* keep room for "..." and the NUL */
      cut = 1;
      break;
    }
    memcpy(out + o, piece, k);
    o += k;
  }
  if (cut && o + 4 <= outlen) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* message_text of a whole NUL-terminated string, cut after 60 bytes. */
static void message_string(const char *s, char *out, size_t outlen) {
  size_t len = strlen(s);
  message_text(s, len, 0, len, 60, out, outlen);
}

/* Size of a message_text buffer for up to 60 source bytes: each byte may
 * become four characters, plus "..." and the NUL. */
#define MESSAGE_TEXT_SIZE 256

/* Loads one question of paragraph par. title is the article title already
 * escaped for messages (message_string). */
static int load_question(sdq_squad *sq, json_t *qa, size_t qi_in_par,
                         const char *path, const char *title,
                         const sdq_squad_paragraph *par, char *err,
                         size_t errlen) {
  const char *why = NULL;
  sdq_squad_question *q = &sq->questions[sq->n_questions];

  json_t *jid = json_object_get(qa, "id");
  if (!jid) {
    set_err(err, errlen, "%s: article '%s': question %zu of a paragraph has no \"id\"",
            path, title, qi_in_par);
    return -1;
  }
  if (!(q->id = copy_string(jid, &why)) || !q->id[0]) {
    set_err(err, errlen, "%s: article '%s': question %zu: \"id\" %s", path, title,
            qi_in_par, q->id ? "is empty" : why);
    return -1;
  }
  char id[MESSAGE_TEXT_SIZE];
  message_string(q->id, id, sizeof id);

  json_t *jq = json_object_get(qa, "question");
  if (!jq)
    why = "is missing";
  else if ((q->question = copy_string(jq, &why)) != NULL && !q->question[0])
    why = "is empty";
  if (!q->question || !q->question[0]) {
    set_err(err, errlen, "%s: article '%s', question '%s': \"question\" %s", path,
            title, id, why);
    return -1;
  }

  json_t *jans = json_object_get(qa, "answers");
  if (!json_is_array(jans) || json_array_size(jans) == 0) {
    set_err(err, errlen,
            "%s: article '%s', question '%s': \"answers\" must be a non-empty array",
            path, title, id);
    return -1;
  }
  size_t na = json_array_size(jans);
  q->answers = calloc(na, sizeof *q->answers);
  if (!q->answers) {
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  q->paragraph = sq->n_paragraphs - 1;

  for (size_t a = 0; a < na; a++) {
    json_t *ja = json_array_get(jans, a);
    sdq_squad_answer *ans = &q->answers[a];
    json_t *jt = json_is_object(ja) ? json_object_get(ja, "text") : NULL;
    json_t *js = json_is_object(ja) ? json_object_get(ja, "answer_start") : NULL;
    if (!jt || !(ans->text = copy_string(jt, &why))) {
      set_err(err, errlen, "%s: article '%s', question '%s': answer %zu: \"text\" %s",
              path, title, id, a, jt ? why : "is missing");
      return -1;
    }
    q->n_answers = a + 1;
    if (!json_is_integer(js) || json_integer_value(js) < 0) {
      set_err(err, errlen,
              "%s: article '%s', question '%s': answer %zu: \"answer_start\" must be a "
              "non-negative integer",
              path, title, id, a);
      return -1;
    }
    ans->start_cp = (size_t)json_integer_value(js);
    ans->len = strlen(ans->text);
    ans->start = sdq_utf8_offset(par->context, par->context_len, ans->start_cp);
    if (ans->start == (size_t)-1 || ans->start + ans->len > par->context_len ||
        memcmp(par->context + ans->start, ans->text, ans->len) != 0) {
      char text[MESSAGE_TEXT_SIZE], seen[MESSAGE_TEXT_SIZE] = "";
      message_string(ans->text, text, sizeof text);
      if (ans->start != (size_t)-1)
        message_text(par->context, par->context_len, ans->start, ans->len, 40, seen,
                     sizeof seen);
      set_err(err, errlen,
              "%s: article '%s', question '%s': answer %zu text '%s' does not match the "
              "context at answer_start %zu (code points; the context there reads '%s'). "
              "Fix answer_start or the text.",
              path, title, id, a, text, ans->start_cp,
              ans->start == (size_t)-1 ? "<past the end>" : seen);
      return -1;
    }
  }
  sq->n_answers += na;
  sq->n_questions++;
  return 0;
}

static int load_tree(sdq_squad *sq, json_t *root, const char *path, char *warning,
                     size_t warnlen, char *err, size_t errlen) {
  size_t cap_t = 0, cap_p = 0, cap_q = 0;
  const char *why = NULL;

  if (!json_is_object(root)) {
    set_err(err, errlen, "%s: the top level must be an object with \"data\"", path);
    return -1;
  }
  /* The version: a string, or the JSON text of any other value. */
  json_t *jv = json_object_get(root, "version");
  char *jv_text = jv ? json_dumps(jv, JSON_ENCODE_ANY) : NULL;
  if (json_is_string(jv))
    sq->version = strdup(json_string_value(jv));
  else
    sq->version = strdup(jv_text ? jv_text : "");
  if (!sq->version || (jv && !jv_text)) {
    free(jv_text);
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  if (warning && warnlen)
    warning[0] = '\0';
  if (!jv) {
    set_err(warning, warnlen, "%s: no \"version\" field; expected SQuAD version \"1.1\"",
            path);
  } else if (!json_is_string(jv) || strcmp(sq->version, "1.1") != 0) {
    char shown[MESSAGE_TEXT_SIZE];
    message_string(jv_text, shown, sizeof shown);
    set_err(warning, warnlen, "%s: expected SQuAD version \"1.1\" (a string), found %s", path,
            shown);
  }
  free(jv_text);

  json_t *data = json_object_get(root, "data");
  if (!json_is_array(data)) {
    set_err(err, errlen, "%s: \"data\" must be an array of articles", path);
    return -1;
  }

  for (size_t ai = 0; ai < json_array_size(data); ai++) {
    json_t *art = json_array_get(data, ai);
    json_t *jt = json_is_object(art) ? json_object_get(art, "title") : NULL;
    if (grow((void **)&sq->titles, &cap_t, sq->n_articles + 1, sizeof *sq->titles)) {
      set_err(err, errlen, "%s: out of memory", path);
      return -1;
    }
    char *title_copy = jt ? copy_string(jt, &why) : NULL;
    if (!title_copy) {
      set_err(err, errlen, "%s: article %zu: \"title\" %s", path, ai,
              jt ? why : "is missing (or the article is not an object)");
      return -1;
    }
    sq->titles[sq->n_articles++] = title_copy;
    char title[MESSAGE_TEXT_SIZE];
    message_string(title_copy, title, sizeof title);

    json_t *pars = json_object_get(art, "paragraphs");
    if (!json_is_array(pars)) {
      set_err(err, errlen, "%s: article '%s': \"paragraphs\" must be an array", path, title);
      return -1;
    }
    for (size_t pi = 0; pi < json_array_size(pars); pi++) {
      json_t *par = json_array_get(pars, pi);
      json_t *jc = json_is_object(par) ? json_object_get(par, "context") : NULL;
      if (grow((void **)&sq->paragraphs, &cap_p, sq->n_paragraphs + 1,
               sizeof *sq->paragraphs)) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
      }
      sdq_squad_paragraph *p = &sq->paragraphs[sq->n_paragraphs];
      if (!jc || !(p->context = copy_string(jc, &why))) {
        set_err(err, errlen, "%s: article '%s', paragraph %zu: \"context\" %s", path,
                title, pi, jc ? why : "is missing (or the paragraph is not an object)");
        return -1;
      }
      p->context_len = strlen(p->context);
      p->article = sq->n_articles - 1;
      sq->n_paragraphs++;

      json_t *qas = json_object_get(par, "qas");
      if (!json_is_array(qas)) {
        set_err(err, errlen, "%s: article '%s', paragraph %zu: \"qas\" must be an array",
                path, title, pi);
        return -1;
      }
      for (size_t qi = 0; qi < json_array_size(qas); qi++) {
        json_t *qa = json_array_get(qas, qi);
        if (!json_is_object(qa)) {
          set_err(err, errlen, "%s: article '%s', paragraph %zu: question %zu is not an object",
                  path, title, pi, qi);
          return -1;
        }
        if (grow((void **)&sq->questions, &cap_q, sq->n_questions + 1,
                 sizeof *sq->questions)) {
          set_err(err, errlen, "%s: out of memory", path);
          return -1;
        }
        if (load_question(sq, qa, qi, path, title, p, err, errlen)) {
          /* Count the partly filled question so sdq_squad_free releases it. */
          sq->n_questions++;
          return -1;
        }
      }
    }
  }

  /* Unique ids: sort an index by id and compare neighbours. */
  size_t n = sq->n_questions;
  sq->by_id = malloc((n ? n : 1) * sizeof *sq->by_id);
  id_entry *entries = malloc((n ? n : 1) * sizeof *entries);
  if (!sq->by_id || !entries) {
    free(entries);
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    entries[i] = (id_entry){sq->questions[i].id, i};
  qsort(entries, n, sizeof *entries, cmp_id_entry);
  for (size_t i = 0; i < n; i++)
    sq->by_id[i] = entries[i].index;
  free(entries);

  for (size_t i = 1; i < n; i++) {
    const sdq_squad_question *a = &sq->questions[sq->by_id[i - 1]];
    const sdq_squad_question *b = &sq->questions[sq->by_id[i]];
    if (strcmp(a->id, b->id) == 0) {
      char id[MESSAGE_TEXT_SIZE], title_a[MESSAGE_TEXT_SIZE], title_b[MESSAGE_TEXT_SIZE];
      message_string(b->id, id, sizeof id);
      message_string(sq->titles[sq->paragraphs[a->paragraph].article], title_a,
                     sizeof title_a);
      message_string(sq->titles[sq->paragraphs[b->paragraph].article], title_b,
                     sizeof title_b);
      set_err(err, errlen,
              "%s: article '%s', question '%s': duplicate question id (first used in "
              "article '%s'). Question ids must be unique.",
              path, title_b, id, title_a);
      return -1;
    }
  }
  return 0;
}

/* Reads all of f into a malloc'ed buffer (*len bytes, NUL-terminated), or
 * returns NULL with errno set. */
static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *bigger = cap <= SIZE_MAX / 2 - 1 ? realloc(buf, 2 * cap + 1) : NULL;
    if (!bigger) {
      free(buf);
      errno = ENOMEM;
      return NULL;
    }
    buf = bigger;
    cap *= 2;
  }
  if (!buf) {
    errno = ENOMEM;
    return NULL;
  }
  if (ferror(f)) {
    int e = errno;
    free(buf);
    errno = e ? e : EIO;
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

struct json_t *sdq_squad_read_json(const char *path, size_t flags, char *err,
                                   size_t errlen) {
  /* 1. Open and read the file, with the system's reason on failure. */
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    set_err(err, errlen, "%s is a directory; give the path of a JSON file", path);
    return NULL;
  }
  size_t len = 0;
  char *text = read_all(f, &len);
  int read_errno = errno;
  fclose(f);
  if (!text) {
    set_err(err, errlen, "cannot read %s: %s", path, strerror(read_errno));
    return NULL;
  }

  /* 2. Python's json.load, which the official evaluation script uses, rejects
   * a byte-order mark, and jansson would report it as an invalid token at
   * column 1; name it instead. */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    free(text);
    set_err(err, errlen,
            "%s starts with a UTF-8 byte-order mark (bytes EF BB BF); remove it, e.g. "
            "by saving the file as UTF-8 without BOM",
            path);
    return NULL;
  }

  /* 3. Parse. jansson reports a \u0000 escape by naming its JSON_ALLOW_NUL
   * flag; say what is wrong with the file instead. */
  json_error_t jerr;
  json_t *root = json_loadb(text, len, flags, &jerr);
  free(text);
  if (!root) {
    const char *what = jerr.text;
    if (strstr(what, "JSON_ALLOW_NUL"))
      what = "a string contains \\u0000 (a NUL character), which sdq does not accept";
    set_err(err, errlen, "%s: invalid JSON at line %d, column %d: %s", path, jerr.line,
            jerr.column, what);
    return NULL;
  }
  return root;
}

int sdq_squad_load(sdq_squad *sq, const char *path, char *warning, size_t warnlen,
                   char *err, size_t errlen) {
  memset(sq, 0, sizeof *sq);
  if (warning && warnlen)
    warning[0] = '\0';

  json_t *root = sdq_squad_read_json(path, JSON_REJECT_DUPLICATES, err, errlen);
  if (!root)
    return -1;
  sq->path = strdup(path);
  int rc = sq->path ? load_tree(sq, root, path, warning, warnlen, err, errlen) : -1;
  if (!sq->path)
    set_err(err, errlen, "%s: out of memory", path);
  json_decref(root);
  if (rc)
    sdq_squad_free(sq);
  return rc;
}

long sdq_squad_find(const sdq_squad *sq, const char *id) {
  size_t lo = 0, hi = sq->n_questions;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(sq->questions[sq->by_id[mid]].id, id);
    if (c == 0)
      return (long)sq->by_id[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}
