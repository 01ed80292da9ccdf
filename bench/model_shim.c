/* model_shim.c - GPT-2 124M, tokenizer and corpus behind bench/model_shim.h. */
#include "bench/model_shim.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/gpt2.h"
#include "model/tokenizer.h"

struct sdq_mbench_text {
  sdq_tokenizer *tok;
  char *text;
  size_t bytes;
};

/* Appends the "context" strings of a SQuAD v1.1 file, one per line, until
 * max_bytes. Returns the bytes written, 0 when the file is unusable. */
static size_t squad_contexts(const char *path, char *out, size_t max_bytes) {
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root)
    return 0;
  size_t n = 0;
  json_t *data = json_object_get(root, "data");
  for (size_t i = 0; json_is_array(data) && i < json_array_size(data); i++) {
    json_t *pars = json_object_get(json_array_get(data, i), "paragraphs");
    for (size_t j = 0; json_is_array(pars) && j < json_array_size(pars); j++) {
      json_t *ctx = json_object_get(json_array_get(pars, j), "context");
      if (!json_is_string(ctx))
        continue;
      size_t len = json_string_length(ctx);
      if (n + len + 1 > max_bytes)
        goto done;
      memcpy(out + n, json_string_value(ctx), len);
      n += len;
      out[n++] = '\n';
    }
  }
done:
  json_decref(root);
  return n;
}

/* Fills out with max_bytes of words, punctuation and numbers drawn from a
 * fixed list by a seeded generator. */
static size_t generated_text(char *out, size_t max_bytes) {
  static const char *words[] = {
      "the", "of", "and", "in", "to", "was", "is", "for", "on", "as", "with", "by", "he",
      "that", "from", "at", "his", "it", "an", "were", "are", "which", "university",
      "government", "population", "century", "between", "national", "during", "including",
      "Beyonce", "Normandy", "Chopin", "Warsaw", "Egypt", "1876", "2012", "3.5", "don't",
      "it's", "(", ")", ",", ".", ";", "\"", "-", "they've", "Schrodinger", "economic"};
  sdq_rng r;
  sdq_rng_seed(&r, 42);
  size_t n = 0, nw = sizeof words / sizeof words[0];
  while (n + 32 < max_bytes) {
    const char *w = words[sdq_rng_below(&r, (uint32_t)nw)];
    size_t len = strlen(w);
    out[n++] = sdq_rng_below(&r, 16) == 0 ? '\n' : ' ';
    memcpy(out + n, w, len);
    n += len;
  }
  return n;
}

sdq_mbench_text *sdq_mbench_text_new(const char *dir, const char *squad_json,
                                     size_t max_bytes, int *from_squad,
                                     char *err, size_t len) {
  sdq_mbench_text *t = calloc(1, sizeof *t);
  if (!t || !(t->text = malloc(max_bytes + 1))) {
    free(t);
    snprintf(err, len, "out of memory for a %zu-byte corpus", max_bytes);
    return NULL;
  }
  if (sdq_tokenizer_load(&t->tok, sdq_tokenizer_find_dir(dir), err, len) != 0) {
    free(t->text);
    free(t);
    return NULL;
  }
  t->bytes = squad_json ? squad_contexts(squad_json, t->text, max_bytes) : 0;
  *from_squad = t->bytes > 0;
  if (!t->bytes)
    t->bytes = generated_text(t->text, max_bytes);
  t->text[t->bytes] = '\0';
  return t;
}

void sdq_mbench_text_free(sdq_mbench_text *t) {
  if (!t)
    return;
  sdq_tokenizer_free(t->tok);
  free(t->text);
  free(t);
}

size_t sdq_mbench_text_bytes(const sdq_mbench_text *t) { return t->bytes; }

long sdq_mbench_encode(sdq_mbench_text *t, char *err, size_t len) {
  int32_t *ids = NULL;
  size_t n = 0;
  if (sdq_tokenizer_encode(t->tok, t->text, t->bytes, 0, &ids, &n, err, len) != 0)
    return -1;
  free(ids);
  return (long)n;
}

/* ---------------------------------------------------------------- model */

static sdq_gpt2 *g_model;
static int32_t *g_tokens, *g_targets;
static float *g_mask;
static sdq_gpt2_batch g_batch;

int sdq_mbench_model_init(int lora_rank, char *err, size_t len) {
  if (g_model)
    return 0;
  sdq_gpt2_config cfg = sdq_gpt2_config_124m();
  g_model = sdq_gpt2_create(&cfg, 1, err, len);
  if (!g_model)
    return -1;
  sdq_lora_config lc = {.rank = lora_rank, .alpha = 2.0f * lora_rank, .dropout = 0.0f,
                        .n_sets = 3, .bits = {32, 8, 4}};
  if (sdq_gpt2_lora_init(g_model, &lc, 2, err, len) != 0) {
    sdq_mbench_model_free();
    return -1;
  }
  return 0;
}

void sdq_mbench_model_free(void) {
  sdq_gpt2_free(g_model);
  free(g_tokens);
  free(g_targets);
  free(g_mask);
  g_model = NULL;
  g_tokens = g_targets = NULL;
  g_mask = NULL;
}

int sdq_mbench_set_bits(int w_bits, char *err, size_t len) {
  if (sdq_gpt2_set_uniform_bits(g_model, w_bits, 0, err, len) != 0)
    return -1;
  return sdq_gpt2_prepare_bits(g_model, &g_model->bits, err, len);
}

int sdq_mbench_batch(int B, int T, int loss_rows, char *err, size_t len) {
  size_t n = (size_t)B * T;
  free(g_tokens);
  free(g_targets);
  free(g_mask);
  g_tokens = malloc(n * sizeof *g_tokens);
  g_targets = malloc(n * sizeof *g_targets);
  g_mask = malloc(n * sizeof *g_mask);
  if (!g_tokens || !g_targets || !g_mask) {
    snprintf(err, len, "out of memory for a %dx%d batch", B, T);
    return -1;
  }
  sdq_rng r;
  sdq_rng_seed(&r, 3);
  for (size_t i = 0; i < n; i++) {
    g_tokens[i] = (int32_t)sdq_rng_below(&r, (uint32_t)g_model->cfg.vocab_size);
    g_targets[i] = (int32_t)sdq_rng_below(&r, (uint32_t)g_model->cfg.vocab_size);
    g_mask[i] = loss_rows == 0 || (int)(i % T) >= T - loss_rows ? 1.0f : 0.0f;
  }
  sdq_gpt2_batch b = {.B = B, .T = T, .tokens = g_tokens, .targets = g_targets,
                      .loss_mask = g_mask, .logits_masked_only = loss_rows > 0};
  g_batch = b;
  return 0;
}

int sdq_mbench_forward(char *err, size_t len) {
  float loss;
  return sdq_gpt2_forward(g_model, &g_batch, &loss, err, len);
}

int sdq_mbench_forward_backward(char *err, size_t len) {
  float loss;
  if (sdq_gpt2_forward(g_model, &g_batch, &loss, err, len) != 0 ||
      sdq_gpt2_backward(g_model, 1.0f, NULL, err, len) != 0)
    return -1;
  sdq_gpt2_zero_grad(g_model);
  return 0;
}

int sdq_mbench_generate(int n_prompt, int n_new, char *err, size_t len) {
  int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt);
  int32_t *out = malloc((size_t)(n_new > 0 ? n_new : 1) * sizeof *out);
  int n_out = -1;
  if (!prompt || !out) {
    snprintf(err, len, "out of memory for a %d-token prompt", n_prompt);
  } else {
    sdq_rng r;
    sdq_rng_seed(&r, 4);
    for (int i = 0; i < n_prompt; i++)
      prompt[i] = (int32_t)sdq_rng_below(&r, (uint32_t)g_model->cfg.vocab_size);
    sdq_gen_options opt = {.max_new = n_new, .stop_ids = NULL, .eot_id = -1};
    if (sdq_gpt2_generate(g_model, prompt, NULL, n_prompt, &opt, out, &n_out, NULL, err, len) != 0)
      n_out = -1;
  }
  free(prompt);
  free(out);
  return n_out;
}

double sdq_mbench_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double sdq_mbench_peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}
