/* cmd_generate.c - 'sdq generate': greedy continuation of a prompt with a
 * GPT-2 checkpoint, optional LoRA adapters and a bit configuration. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "train/setup.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: sdq generate --model PATH [OPTIONS] [--prompt TEXT | --prompt-ids \"ID ...\"]\n\n"
          "Greedy generation with a KV cache. The prompt is --prompt, --prompt-ids, or\n"
          "standard input. Generation stops at the first token whose text contains a\n"
          "newline, at <|endoftext|> (id 50256 for the GPT-2 vocabulary), after\n"
          "--max-new tokens, or when the sequence fills the model's context (n_ctx).\n"
          "The stop token is not printed. The stop reason goes to standard error.\n\n"
          "  --model PATH       Hugging Face GPT-2 folder (model.safetensors + config.json)\n"
          "                     or a .safetensors file\n"
          "  --prompt TEXT      prompt text (encoded with the GPT-2 tokenizer)\n"
          "  --prompt-ids IDS   prompt as decimal token ids (0..50256 for GPT-2) separated\n"
          "                     by spaces or commas\n"
          "  --ids              print the generated token ids instead of the text\n"
          "  --max-new N        maximum tokens to generate (default 64)\n"
          "  --no-newline-stop  do not stop at newline tokens\n"
          "  --config C         bit configuration, as in sdq eval: bits (2..8, 16, 32,\n"
          "                     fp32), a file ('PATTERN W_BITS [A_BITS]' lines, see\n"
          "                     docs/CONFIGS.md) or a shipped name such as all-4\n"
          "                     (default: fp32)\n"
          "  --wbits B          every linear layer at B weight bits (2..8, 16, 32)\n"
          "  --abits B          with --wbits: activation bits (2..8; 16 and 32, the\n"
          "                     default, leave activations in fp32)\n"
          "  --lora DIR         LoRA adapter sets saved by sdq (bits4/, fp32/, ...)\n"
          "  --vocab DIR        tokenizer files; default $SDQ_VOCAB, else\n"
          "                     %s\n",
          sdq_tokenizer_find_dir(NULL));
}

static int parse_int_arg(const char *opt, const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < -1000000 || v > 1000000) {
    fprintf(stderr, "sdq generate: %s needs an integer, got '%s'\n", opt, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Bits of --wbits / --abits: 2..8, 16 or 32. */
static int parse_bits_arg(const char *opt, const char *s, int *out) {
  if (parse_int_arg(opt, s, out) != 0)
    return -1;
  if ((*out >= 2 && *out <= 8) || *out == 16 || *out == 32)
    return 0;
  fprintf(stderr, "sdq generate: %s must be 2..8, 16 or 32 (got %d)\n", opt, *out);
  return -1;
}

/* Parses --prompt-ids: decimal ids in 0..n_vocab-1 separated by white space
 * or commas. Items are counted from 1 in messages. */
static int parse_id_list(const char *s, int n_vocab, int32_t **ids, size_t *n) {
  size_t cap = 16;
  *n = 0;
  *ids = malloc(cap * sizeof **ids);
  while (*ids) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == ',')
      s++;
    if (!*s)
      return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || !(*end == '\0' || *end == ' ' || *end == '\t' || *end == '\n' ||
                      *end == ',')) {
      fprintf(stderr, "sdq generate: --prompt-ids item %zu is not a token id (expected a "
                      "decimal integer)\n", *n + 1);
      return -1;
    }
    if (errno == ERANGE || v < 0 || v >= n_vocab) {
      fprintf(stderr, "sdq generate: --prompt-ids item %zu \"%.*s\" is out of range (0..%d)\n",
              *n + 1, (int)(end - s > 40 ? 40 : end - s), s, n_vocab - 1);
      return -1;
    }
    s = end;
    if (*n == cap) {
      int32_t *g = realloc(*ids, 2 * cap * sizeof **ids);
      if (!g)
        break;
      *ids = g;
      cap *= 2;
    }
    (*ids)[(*n)++] = (int32_t)v;
  }
  fprintf(stderr, "sdq generate: out of memory\n");
  return -1;
}

static char *read_stdin(size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, stdin);
    if (n < cap)
      break;
    cap *= 2;
    char *g = realloc(buf, cap + 1);
    if (!g)
      free(buf);
    buf = g;
  }
  if (!buf || ferror(stdin)) {
    fprintf(stderr, "sdq generate: cannot read standard input\n");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

int sdq_cmd_generate(int argc, char **argv) {
  const char *model_path = NULL, *prompt = NULL, *prompt_ids = NULL, *config = NULL;
  const char *lora_dir = NULL, *vocab = NULL;
  int print_ids = 0, max_new = 64, newline_stop = 1, wbits = 0, abits = 0; /* 0: not given */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--ids")) {
      print_ids = 1;
    } else if (!strcmp(a, "--no-newline-stop")) {
      newline_stop = 0;
    } else if (has_value && !strcmp(a, "--model")) {
      model_path = argv[++i];
    } else if (has_value && !strcmp(a, "--prompt")) {
      prompt = argv[++i];
    } else if (has_value && !strcmp(a, "--prompt-ids")) {
      prompt_ids = argv[++i];
    } else if (has_value && !strcmp(a, "--config")) {
      config = argv[++i];
    } else if (!strcmp(a, "--bits")) {
      fprintf(stderr, "sdq generate: --bits is not an option of generate (sdq eval's --bits "
                      "is a list of widths); give the configuration with --config C: bits, "
                      "a file or a shipped name\n");
      return 2;
    } else if (has_value && !strcmp(a, "--lora")) {
      lora_dir = argv[++i];
    } else if (has_value && !strcmp(a, "--vocab")) {
      vocab = argv[++i];
    } else if (has_value && !strcmp(a, "--max-new")) {
      if (parse_int_arg(a, argv[++i], &max_new) != 0)
        return 2;
    } else if (has_value && !strcmp(a, "--wbits")) {
      if (parse_bits_arg(a, argv[++i], &wbits) != 0)
        return 2;
    } else if (has_value && !strcmp(a, "--abits")) {
      if (parse_bits_arg(a, argv[++i], &abits) != 0)
        return 2;
    } else {
      fprintf(stderr, "sdq generate: unknown option or missing value: '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!model_path || (prompt && prompt_ids) || (config && wbits) || (abits && !wbits) ||
      max_new < 0) {
    fprintf(stderr, "sdq generate: %s\n",
            !model_path ? "--model is required"
            : max_new < 0 ? "--max-new must be >= 0"
            : (prompt && prompt_ids) ? "give --prompt or --prompt-ids, not both"
            : (config && wbits) ? "give --config or --wbits, not both"
                                : "--abits needs --wbits (a configuration file sets "
                                  "activation bits per layer with A_BITS)");
    return 2;
  }

  char err[1024];
  int rc = 1;
  sdq_tokenizer *tok = NULL;
  sdq_gpt2 *m = NULL;
  int32_t *ids = NULL, *out = NULL;
  uint8_t *stop = NULL;
  size_t n_ids = 0;

  /* 1. Tokenizer: needed for text in or out and for the newline stop set. */
  int need_tok = !prompt_ids || !print_ids;
  if (sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(vocab), err, sizeof err) != 0) {
    if (need_tok) {
      fprintf(stderr, "sdq generate: %s\n", err);
      goto done;
    }
    tok = NULL;
    if (newline_stop)
      fprintf(stderr, "NOTE: no tokenizer (%s); newline tokens do not stop generation\n", err);
  }

  /* 2. Model, adapters and bits. */
  m = sdq_gpt2_load_hf(model_path, 0, err, sizeof err);
  if (!m || (lora_dir && sdq_lora_load(m, lora_dir, err, sizeof err) != 0)) {
    fprintf(stderr, "sdq generate: %s\n", err);
    goto done;
  }
  if (config) {
    sdq_bitconfig cfg;
    char name[256];
    if (sdq_resolve_config(config, m->cfg.n_layer, &cfg, name, sizeof name, err,
                           sizeof err) != 0) {
      fprintf(stderr, "sdq generate: %s\n", err);
      goto done;
    }
    int brc = sdq_gpt2_set_bits(m, &cfg, err, sizeof err);
    sdq_bitconfig_free(&cfg);
    if (brc != 0) {
      fprintf(stderr, "sdq generate: %s\n", err);
      goto done;
    }
  } else if (wbits && sdq_gpt2_set_uniform_bits(m, wbits, abits, err, sizeof err) != 0) {
    fprintf(stderr, "sdq generate: %s\n", err);
    goto done;
  }

  /* 3. Prompt ids. */
  if (prompt_ids) {
    if (parse_id_list(prompt_ids, m->cfg.vocab_size, &ids, &n_ids) != 0)
      goto done;
  } else {
    size_t len;
    char *text = prompt ? strdup(prompt) : read_stdin(&len);
    if (!text)
      goto done;
    int erc = sdq_tokenizer_encode(tok, text, strlen(text), 0, &ids, &n_ids, err, sizeof err);
    free(text);
    if (erc != 0) {
      fprintf(stderr, "sdq generate: %s\n", err);
      goto done;
    }
  }
  if (n_ids == 0) {
    fprintf(stderr, "sdq generate: the prompt is empty\n");
    goto done;
  }

  /* 4. Stop set: every token whose bytes contain '\n'. */
  int V = m->cfg.vocab_size;
  if (newline_stop && tok) {
    stop = calloc((size_t)V, 1);
    if (!stop)
      goto done;
    for (int32_t v = 0; v < V && v < sdq_tokenizer_vocab_size(tok); v++) {
      size_t len;
      const char *bytes = sdq_tokenizer_token_bytes(tok, v, &len);
      stop[v] = bytes && memchr(bytes, '\n', len) != NULL;
    }
  }
  out = malloc(((size_t)max_new + 1) * sizeof *out);
  if (!out)
    goto done;
  sdq_gen_options opt = {max_new, stop, sdq_gpt2_default_eot(m)};
  int n_out;
  sdq_stop_reason why;
  if (sdq_gpt2_generate(m, ids, NULL, (int)n_ids, &opt, out, &n_out, &why, err, sizeof err) != 0) {
    fprintf(stderr, "sdq generate: %s\n", err);
    goto done;
  }

  /* 5. Output. */
  if (print_ids) {
    for (int i = 0; i < n_out; i++)
      printf("%s%d", i ? " " : "", out[i]);
    printf("\n");
  } else {
    char *text;
    size_t len;
    if (sdq_tokenizer_decode(tok, out, (size_t)n_out, &text, &len, err, sizeof err) != 0) {
      fprintf(stderr, "sdq generate: %s\n", err);
      goto done;
    }
    fwrite(text, 1, len, stdout);
    printf("\n");
    free(text);
  }
  static const char *const reasons[] = {"max-new tokens reached", "newline token",
                                        "end-of-text token", "context full (n_ctx)"};
  fprintf(stderr, "sdq generate: %d tokens, stopped by %s\n", n_out, reasons[why]);
  rc = 0;

done:
  free(out);
  free(stop);
  free(ids);
  sdq_gpt2_free(m);
  sdq_tokenizer_free(tok);
  return rc;
}
