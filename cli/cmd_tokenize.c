/* cmd_tokenize.c - 'sdq tokenize': standard input to GPT-2 token ids, or
 * token ids back to bytes with --decode. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/tokenizer.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: sdq tokenize [--vocab DIR] [--allow-special] < TEXT\n"
          "       sdq tokenize [--vocab DIR] --decode < IDS\n\n"
          "Encodes standard input (any bytes) with GPT-2's byte-level BPE and prints the\n"
          "token ids on one line, separated by spaces. Invalid UTF-8 bytes become their\n"
          "single-byte tokens, so --decode gives back the exact input.\n\n"
          "  --decode         read decimal token ids (0..50256 for GPT-2) separated by\n"
          "                   white space and write the bytes they stand for, with\n"
          "                   nothing added\n"
          "  --allow-special  encode each \"<|endoftext|>\" in the text as the end-of-text\n"
          "                   token (50256); by default it is ordinary text, as in GPT-2's\n"
          "                   reference encoder\n"
          "  --vocab DIR      directory holding encoder.json + vocab.bpe (or vocab.json +\n"
          "                   merges.txt). Default: $SDQ_VOCAB when set, else\n"
          "                   %s\n",
          sdq_tokenizer_find_dir(NULL));
}

/* Reads all of f. Returns a malloc'ed buffer (NUL-terminated, *len bytes
 * before the NUL) or NULL after printing the error. */
static char *read_stream(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    char *bigger = realloc(buf, cap + 1);
    if (!bigger)
      free(buf);
    buf = bigger;
  }
  if (!buf || ferror(f)) {
    fprintf(stderr, "sdq tokenize: cannot read standard input: %s\n",
            buf ? strerror(errno) : "out of memory");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Parses white-space-separated decimal ids, each in 0..n_vocab-1. Returns
 * the count and sets *ids, or returns -1 after printing which input item
 * (counted from 1) is not an id or is out of range. */
static long parse_ids(const char *text, int n_vocab, int32_t **ids) {
  size_t n = 0, cap = 1024;
  int32_t *v = malloc(cap * sizeof *v);
  if (!v) {
    fprintf(stderr, "sdq tokenize: out of memory\n");
    return -1;
  }
  const char *p = text;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')
      p++;
    if (*p == '\0')
      break;
    const char *start = p;
    while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f'))
      p++;
    int shown = (int)(p - start > 40 ? 40 : p - start);
    char *end;
    errno = 0;
    long long id = strtoll(start, &end, 10);
    if (end != p) {
      fprintf(stderr, "sdq tokenize: input item %zu \"%.*s\" is not a token id (expected a "
                      "decimal integer)\n", n + 1, shown, start);
      free(v);
      return -1;
    }
    if (errno == ERANGE || id < 0 || id >= n_vocab) {
      fprintf(stderr, "sdq tokenize: input item %zu \"%.*s\" is out of range (0..%d)\n", n + 1,
              shown, start, n_vocab - 1);
      free(v);
      return -1;
    }
    if (n == cap) {
      int32_t *bigger = realloc(v, 2 * cap * sizeof *v);
      if (!bigger) {
        fprintf(stderr, "sdq tokenize: out of memory reading %zu ids\n", n);
        free(v);
        return -1;
      }
      v = bigger;
      cap *= 2;
    }
    v[n++] = (int32_t)id;
  }
  *ids = v;
  return (long)n;
}

int sdq_cmd_tokenize(int argc, char **argv) {
  const char *vocab = NULL;
  int decode = 0;
  unsigned flags = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--decode")) {
      decode = 1;
    } else if (!strcmp(argv[i], "--allow-special")) {
      flags |= SDQ_TOKENIZE_ALLOW_SPECIAL;
    } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
      vocab = argv[++i];
    } else {
      fprintf(stderr, "sdq tokenize: unknown or incomplete option '%s'\n\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (decode && flags) {
    fprintf(stderr, "sdq tokenize: --allow-special only applies to encoding, not to --decode\n");
    return 2;
  }

  char err[1024];
  sdq_tokenizer *tok;
  const char *dir = sdq_tokenizer_find_dir(vocab);
  if (sdq_tokenizer_load(&tok, dir, err, sizeof err) != 0) {
    fprintf(stderr, "sdq tokenize: %s\n", err);
    if (!vocab)
      fprintf(stderr, "sdq tokenize: choose the tokenizer directory with --vocab DIR or $SDQ_VOCAB\n");
    return 1;
  }
  size_t len;
  char *input = read_stream(stdin, &len);
  if (!input) {
    sdq_tokenizer_free(tok);
    return 1;
  }

  int rc = 1;
  int32_t *ids = NULL;
  /* parse_ids stops at the first NUL, so ids after it would be dropped
   * silently; binary input to --decode is an error at that offset. */
  const char *nul = decode ? memchr(input, '\0', len) : NULL;
  if (nul) {
    fprintf(stderr,
            "sdq tokenize: standard input has a NUL byte at byte offset %zu; --decode "
            "expects decimal token ids separated by white space\n",
            (size_t)(nul - input));
  } else if (decode) {
    long n = parse_ids(input, sdq_tokenizer_vocab_size(tok), &ids);
    char *bytes;
    size_t n_bytes;
    if (n >= 0) {
      if (sdq_tokenizer_decode(tok, ids, (size_t)n, &bytes, &n_bytes, err, sizeof err) != 0) {
        fprintf(stderr, "sdq tokenize: %s\n", err);
      } else {
        rc = fwrite(bytes, 1, n_bytes, stdout) == n_bytes ? 0 : 1;
        free(bytes);
      }
    }
  } else {
    size_t n;
    if (sdq_tokenizer_encode(tok, input, len, flags, &ids, &n, err, sizeof err) != 0) {
      fprintf(stderr, "sdq tokenize: %s\n", err);
    } else {
      for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
      putchar('\n');
      rc = 0;
    }
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "sdq tokenize: cannot write standard output: %s\n", strerror(errno));
    rc = 1;
  }

  free(ids);
  free(input);
  sdq_tokenizer_free(tok);
  return rc;
}
