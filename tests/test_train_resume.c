/* test_train_resume.c - checkpoints, resume and the trainer's notes.
 * Training is deterministic, and a run stopped after its checkpoint and
 * resumed ends bitwise equal to an uninterrupted run with the same losses.
 * A checkpoint is rejected by a run that differs in anything that changes
 * the result, and when it is damaged. A finished run resumes to its own
 * results. The trainer notes a missing checkpoint and many skipped examples
 * on stderr. The evaluation's own EM/F1 equal the score of the predictions
 * file it wrote.
 * Uses a 1-block, 16-wide GPT-2 and a 6-question SQuAD file. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/evaluate.h"
#include "train/files.h"
#include "train/trainer.h"

static char dir[256], data_path[300];
static sdq_tokenizer *tok;
static sdq_squad data;

static const char *squad_json =
    "{\"version\":\"1.1\",\"data\":[{\"title\":\"Tiny\",\"paragraphs\":["
    "{\"context\":\"Mira was born in Oslo. Tom works as a baker.\",\"qas\":["
    "{\"id\":\"t1\",\"question\":\"Where was Mira born?\",\"answers\":[{\"answer_start\":17,\"text\":\"Oslo\"}]},"
    "{\"id\":\"t2\",\"question\":\"What is Tom's job?\",\"answers\":[{\"answer_start\":38,\"text\":\"baker\"}]}]},"
    "{\"context\":\"Ana keeps a dog named Rex. Ben likes the colour red.\",\"qas\":["
    "{\"id\":\"t3\",\"question\":\"What is Ana's dog called?\",\"answers\":[{\"answer_start\":22,\"text\":\"Rex\"}]},"
    "{\"id\":\"t4\",\"question\":\"Which colour does Ben like?\",\"answers\":[{\"answer_start\":48,\"text\":\"red\"}]}]},"
    "{\"context\":\"Lia was born in the year 1901. Kai owns an iron key.\",\"qas\":["
    "{\"id\":\"t5\",\"question\":\"When was Lia born?\",\"answers\":[{\"answer_start\":25,\"text\":\"1901\"}]},"
    "{\"id\":\"t6\",\"question\":\"What does Kai own?\",\"answers\":[{\"answer_start\":40,\"text\":\"an iron key\"},"
    "{\"answer_start\":43,\"text\":\"iron key\"}]}]}]}]}";

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/sdq-test-resume-%ld", (long)getpid());
  snprintf(data_path, sizeof data_path, "%s.json", dir);
  FILE *f = fopen(data_path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(squad_json, f);
  fclose(f);
  char err[1024], warn[128];
  ck_assert_msg(sdq_squad_load(&data, data_path, warn, sizeof warn, err, sizeof err) == 0, "%s",
                err);
  ck_assert_msg(sdq_tokenizer_load(&tok, sdq_tokenizer_find_dir(NULL), err, sizeof err) == 0,
                "%s", err);
}

static void teardown(void) {
  sdq_tokenizer_free(tok);
  sdq_squad_free(&data);
  unlink(data_path);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* What a test run changes from the reference options of train_run. */
typedef struct variant {
  float lora_alpha, dropout;     /* LoRA bank; 0: 8 and 0.1 */
  int rank;                      /* 0: 4 */
  int first_w_qkv;               /* weight bits of the first configuration's
                                    first layer; 0: 4 like the others */
  int first_a_bits;              /* activation bits of its first layer; 0: fp32 */
  const char *first_name;        /* NULL: "4bit" */
  const sdq_squad *data;         /* NULL: the 6-question file */
  void (*edit)(sdq_train_options *o); /* NULL: none */
} variant;

static sdq_gpt2 *tiny_model_v(const variant *v) {
  sdq_gpt2_config cfg = {1, 2, 16, 128, 50257};
  char err[512];
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 11, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_lora_config lc = {0};
  lc.rank = v && v->rank ? v->rank : 4;
  lc.alpha = v && v->lora_alpha ? v->lora_alpha : 8.0f;
  lc.dropout = v && v->dropout ? v->dropout : 0.1f; /* exercises the model's RNG */
  lc.n_sets = 3;
  lc.bits[0] = 4, lc.bits[1] = 8, lc.bits[2] = SDQ_LORA_FULL_BITS;
  ck_assert_msg(sdq_gpt2_lora_init(m, &lc, 5, err, sizeof err) == 0, "%s", err);
  return m;
}

static sdq_gpt2 *tiny_model(void) {
  return tiny_model_v(NULL);
}

static void random_schedule(sdq_schedule *s, const variant *v) {
  char err[256];
  memset(s, 0, sizeof *s);
  s->kind = SDQ_SCHEDULE_RANDOM;
  for (int k = 0; k < 2; k++) {
    sdq_bitconfig c;
    ck_assert_int_eq(sdq_bitconfig_init_uniform(&c, 1, k == 0 ? 4 : 8, 0, err, sizeof err), 0);
    if (k == 0 && v && v->first_w_qkv)
      c.layers[0].w_bits = v->first_w_qkv;
    if (k == 0 && v && v->first_a_bits)
      c.layers[0].a_bits = v->first_a_bits;
    const char *name = k == 0 ? (v && v->first_name ? v->first_name : "4bit") : "8bit";
    ck_assert_int_eq(sdq_schedule_add(s, &c, name, err, sizeof err), 0);
    sdq_bitconfig_free(&c);
  }
}

static sdq_train_options reference_options(const char *out, int stop_after, int resume) {
  sdq_train_options o = sdq_train_defaults();
  o.steps = 6;
  o.batch_size = 2;
  o.grad_accum = 2;
  o.max_len = 128;
  o.adamw.lr = 1e-2f;
  o.adamw.warmup_steps = 2;
  o.seed = 3;
  o.out_dir = out;
  o.checkpoint_every = 1;
  o.stop_after = stop_after;
  o.resume = resume;
  o.progress = 0;
  return o;
}

/* Trains the tiny model with the reference options changed by v (may be
 * NULL). Returns sdq_train's result code; *r and err are filled; with
 * params non-NULL, *params receives a malloc'ed copy of the LoRA arena. */
static int train_run(const variant *v, int steps, int stop_after, int resume, const char *out,
                     sdq_train_result *r, char *err, size_t errlen, float **params) {
  sdq_gpt2 *m = tiny_model_v(v);
  sdq_schedule s;
  random_schedule(&s, v);
  sdq_train_options o = reference_options(out, stop_after, resume);
  if (steps > 0)
    o.steps = steps;
  if (v && v->edit)
    v->edit(&o);
  const sdq_squad *d = v && v->data ? v->data : &data;
  int rc = sdq_train(m, tok, d, &s, &o, r, err, errlen);
  if (params) {
    *params = malloc(m->lora.n_params * sizeof **params);
    memcpy(*params, m->lora.params, m->lora.n_params * sizeof **params);
  }
  sdq_schedule_free(&s);
  sdq_gpt2_free(m);
  return rc;
}

static float *train_copy(int stop_after, int resume, const char *out) {
  sdq_train_result r;
  char err[2048];
  float *copy = NULL;
  ck_assert_msg(train_run(NULL, 0, stop_after, resume, out, &r, err, sizeof err, &copy) == 0,
                "%s", err);
  ck_assert_int_eq(r.stopped, stop_after > 0 && stop_after < 6);
  return copy;
}

/* Creates folder DIR/name and returns its path in buf. */
static const char *subdir(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
  char err[256];
  ck_assert_msg(sdq_mkdir_p(buf, err, sizeof err) == 0, "%s", err);
  return buf;
}

/* Runs f with stderr sent to a file and returns what it printed (malloc'ed). */
static char *capture_stderr(int (*f)(void *), void *arg, int *rc) {
  char path[320];
  snprintf(path, sizeof path, "%s-stderr.txt", dir);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert(saved >= 0 && fd >= 0);
  dup2(fd, STDERR_FILENO);
  close(fd);
  *rc = f(arg);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  FILE *in = fopen(path, "rb");
  ck_assert_ptr_nonnull(in);
  char *text = calloc(1, 65536);
  size_t n = fread(text, 1, 65535, in);
  text[n] = '\0';
  fclose(in);
  unlink(path);
  return text;
}

START_TEST(resume_is_bitwise_identical) {
  char straight[300], split[300];
  snprintf(straight, sizeof straight, "%s/straight", dir);
  snprintf(split, sizeof split, "%s/split", dir);
  char err[256];
  ck_assert_int_eq(sdq_mkdir_p(straight, err, sizeof err), 0);
  ck_assert_int_eq(sdq_mkdir_p(split, err, sizeof err), 0);

  sdq_gpt2 *probe = tiny_model();
  size_t n = probe->lora.n_params;
  float *init = malloc(n * sizeof *init);
  memcpy(init, probe->lora.params, n * sizeof *init);
  sdq_gpt2_free(probe);

  float *a = train_copy(0, 0, straight);
  float *b = train_copy(3, 0, split); /* stops after step 3 like a killed run */
  float *c = train_copy(0, 1, split); /* resumes at step 3 */
  ck_assert_msg(memcmp(a, init, n * sizeof *a) != 0, "training changed no adapter");
  ck_assert_msg(memcmp(a, b, n * sizeof *a) != 0, "3 steps should differ from 6");
  ck_assert_msg(memcmp(a, c, n * sizeof *a) == 0, "resumed run differs from the straight run");

  float *d = train_copy(0, 0, straight); /* same seed, fresh: same result */
  ck_assert_msg(memcmp(a, d, n * sizeof *a) == 0, "same seed gave different adapters");
  free(a), free(b), free(c), free(d), free(init);
}
END_TEST

static void edit_weight_decay(sdq_train_options *o) { o->adamw.weight_decay = 0.5f; }
static void edit_grad_clip(sdq_train_options *o) { o->adamw.grad_clip = 0.0f; }
static void edit_warmup(sdq_train_options *o) { o->adamw.warmup_steps = 0; }
static void edit_min_lr(sdq_train_options *o) { o->adamw.min_lr_ratio = 1.0f; }
static void edit_lr(sdq_train_options *o) { o->adamw.lr = 2e-2f; }
static void edit_loss_all(sdq_train_options *o) { o->loss_all = 1; }
static void edit_max_len(sdq_train_options *o) { o->max_len = 100; }
static void edit_batch(sdq_train_options *o) { o->batch_size = 1; }
static void edit_accum(sdq_train_options *o) { o->grad_accum = 1; }
static void edit_seed(sdq_train_options *o) { o->seed = 4; }
static void edit_steps(sdq_train_options *o) { o->steps = 8; }
static void edit_max_len_short(sdq_train_options *o) { o->max_len = 48; }

/* The 6-question file with one question reworded: same count, other data. */
static int load_reworded(sdq_squad *out, char *path, size_t pathlen) {
  snprintf(path, pathlen, "%s-reworded.json", dir);
  char *text = strdup(squad_json);
  char *q = strstr(text, "Where was Mira born?");
  memcpy(q, "Where is Mira from? ", 20);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  free(text);
  char err[1024], warn[128];
  return sdq_squad_load(out, path, warn, sizeof warn, err, sizeof err);
}

/* A checkpoint written at step 2 does not resume a run that differs in any
 * option, LoRA setting, configuration (name or bits) or data; the message
 * names the file and the field that differs. The unchanged run resumes. */
START_TEST(resume_refuses_changed_runs) {
  char out[300], other_path[320];
  subdir(out, sizeof out, "changed");
  sdq_train_result r;
  char err[4096];
  ck_assert_msg(train_run(NULL, 0, 2, 0, out, &r, err, sizeof err, NULL) == 0, "%s", err);
  sdq_squad other = {0};
  ck_assert_int_eq(load_reworded(&other, other_path, sizeof other_path), 0);
  ck_assert_uint_eq(other.n_questions, data.n_questions);

  struct {
    variant v;
    const char *field;
  } cases[] = {
      {{.first_w_qkv = 8}, "configs"},       {{.first_a_bits = 8}, "configs"},
      {{.first_name = "four"}, "configs"},   {{.lora_alpha = 64.0f}, "lora_alpha"},
      {{.dropout = 0.5f}, "dropout"},        {{.rank = 2}, "rank"},
      {{.edit = edit_weight_decay}, "weight_decay"}, {{.edit = edit_grad_clip}, "grad_clip"},
      {{.edit = edit_warmup}, "warmup"},     {{.edit = edit_min_lr}, "min_lr_ratio"},
      {{.edit = edit_lr}, "lr"},             {{.edit = edit_loss_all}, "loss_all"},
      {{.edit = edit_max_len}, "max_len"},   {{.edit = edit_batch}, "batch"},
      {{.edit = edit_accum}, "accum"},       {{.edit = edit_seed}, "seed"},
      {{.edit = edit_steps}, "steps"},       {{.data = &other}, "data"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = '\0';
    int rc = train_run(&cases[i].v, 0, 0, 1, out, &r, err, sizeof err, NULL);
    ck_assert_msg(rc != 0, "case %zu (%s): a changed run resumed the checkpoint", i,
                  cases[i].field);
    ck_assert_msg(strstr(err, "checkpoint.safetensors") && strstr(err, "belongs to another run"),
                  "case %zu: unexpected message: %s", i, err);
    char want[64];
    snprintf(want, sizeof want, "differ in: %s", cases[i].field);
    char want_later[64];
    snprintf(want_later, sizeof want_later, ", %s", cases[i].field);
    ck_assert_msg(strstr(err, want) || strstr(err, want_later),
                  "case %zu: the message does not name field %s: %s", i, cases[i].field, err);
  }
  ck_assert_msg(train_run(NULL, 0, 0, 1, out, &r, err, sizeof err, NULL) == 0, "%s", err);
  ck_assert_int_eq(r.resumed_from, 2);
  sdq_squad_free(&other);
  unlink(other_path);
}
END_TEST

/* A run stopped at step 5 of 10 and resumed reports the same last loss,
 * final (mean) loss and counts as an uninterrupted run, bit for bit; the
 * final loss averages the last 10 / 10 + 1 = 2 steps. Resuming the finished
 * run again trains nothing and returns its weights and losses. */
START_TEST(resumed_losses_equal_straight) {
  char straight[300], split[300];
  subdir(straight, sizeof straight, "loss-straight");
  subdir(split, sizeof split, "loss-split");
  sdq_train_result a, b, c, f;
  char err[4096];
  float *pa, *pc, *pf;
  ck_assert_msg(train_run(NULL, 10, 0, 0, straight, &a, err, sizeof err, &pa) == 0, "%s", err);
  ck_assert_msg(train_run(NULL, 10, 5, 0, split, &b, err, sizeof err, NULL) == 0, "%s", err);
  ck_assert_int_eq(b.stopped, 1);
  ck_assert_msg(train_run(NULL, 10, 0, 1, split, &c, err, sizeof err, &pc) == 0, "%s", err);
  ck_assert_int_eq(c.resumed_from, 5);
  ck_assert_int_eq(c.steps_done, 10);
  ck_assert_msg(a.last_loss == c.last_loss, "last loss %.17g vs %.17g", a.last_loss, c.last_loss);
  ck_assert_msg(a.mean_loss == c.mean_loss, "final loss %.17g vs %.17g", a.mean_loss,
                c.mean_loss);
  ck_assert_msg(a.mean_loss != a.last_loss, "the final loss should average 2 steps");
  ck_assert_int_eq(a.skipped, c.skipped);
  ck_assert_int_eq(a.drawn, c.drawn);
  ck_assert_int_eq(a.drawn, a.skipped + 10 * 2 * 2);
  ck_assert_int_eq(a.already_finished, 0);
  ck_assert_int_eq(c.already_finished, 0);

  ck_assert_msg(train_run(NULL, 10, 0, 1, straight, &f, err, sizeof err, &pf) == 0, "%s", err);
  ck_assert_int_eq(f.already_finished, 1);
  ck_assert_int_eq(f.steps_done, 10);
  ck_assert_int_eq(f.resumed_from, 10);
  ck_assert(f.tokens == 0.0);
  ck_assert_msg(f.last_loss == a.last_loss && f.mean_loss == a.mean_loss,
                "finished run reports last %g final %g, expected %g %g", f.last_loss,
                f.mean_loss, a.last_loss, a.mean_loss);
  ck_assert_int_eq(f.skipped, a.skipped);
  sdq_gpt2 *probe = tiny_model();
  size_t n = probe->lora.n_params;
  sdq_gpt2_free(probe);
  ck_assert_msg(memcmp(pa, pc, n * sizeof *pa) == 0, "resumed adapters differ");
  ck_assert_msg(memcmp(pa, pf, n * sizeof *pa) == 0, "finished run did not restore its adapters");
  free(pa), free(pc), free(pf);
}
END_TEST

/* A checkpoint whose last 100 bytes (tensor data) were overwritten is
 * refused with a message naming it, instead of resuming damaged state. */
START_TEST(damaged_checkpoint_is_refused) {
  char out[300], ckpt[340];
  subdir(out, sizeof out, "damaged");
  sdq_train_result r;
  char err[4096];
  ck_assert_msg(train_run(NULL, 0, 3, 0, out, &r, err, sizeof err, NULL) == 0, "%s", err);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
  int fd = open(ckpt, O_WRONLY);
  ck_assert_int_ge(fd, 0);
  off_t end = lseek(fd, 0, SEEK_END);
  ck_assert_int_gt(end, 200);
  char junk[100];
  memset(junk, 0x5a, sizeof junk);
  ck_assert_int_eq(pwrite(fd, junk, sizeof junk, end - 100), 100);
  close(fd);
  err[0] = '\0';
  ck_assert_int_ne(train_run(NULL, 0, 0, 1, out, &r, err, sizeof err, NULL), 0);
  ck_assert_msg(strstr(err, ckpt) && strstr(err, "damaged"), "unexpected message: %s", err);
}
END_TEST

typedef struct call {
  const variant *v;
  const char *out;
  int resume, stop_after;
  sdq_train_result r;
  char err[4096];
} call;

static int call_train(void *arg) {
  call *c = arg;
  return train_run(c->v, 0, c->stop_after, c->resume, c->out, &c->r, c->err, sizeof c->err,
                   NULL);
}

/* --resume without a checkpoint says it starts from step 0 (progress off
 * too), and temporary checkpoints of dead processes are removed with a
 * note while unrelated files stay. */
START_TEST(resume_without_checkpoint_is_noted) {
  char out[300], stale[400], keep[400];
  subdir(out, sizeof out, "fresh");
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(child, NULL, 0), child);
  snprintf(stale, sizeof stale, "%s/checkpoint.safetensors.tmp.%ld.0", out, (long)child);
  snprintf(keep, sizeof keep, "%s/checkpoint.safetensors.tmp.notes", out);
  FILE *f = fopen(stale, "w");
  fputs("half a checkpoint", f);
  fclose(f);
  f = fopen(keep, "w");
  fclose(f);

  call c = {NULL, out, 1, 1, {0}, ""};
  int rc;
  char *text = capture_stderr(call_train, &c, &rc);
  ck_assert_msg(rc == 0, "%s", c.err);
  ck_assert_msg(strstr(text, "no checkpoint") && strstr(text, "starting from step 0"),
                "no note about the missing checkpoint: %s", text);
  ck_assert_msg(strstr(text, "removed 1 stale temporary") && strstr(text, stale + strlen(out) + 1),
                "no note about the stale file: %s", text);
  ck_assert_msg(access(stale, F_OK) != 0, "the stale temporary file is still there");
  ck_assert_msg(access(keep, F_OK) == 0, "an unrelated file was removed");
  ck_assert_msg(!strstr(text, "WARNING"), "unexpected warning: %s", text);
  free(text);
}
END_TEST

/* When more than 10% of the drawn examples do not fit max_len, a warning
 * on stderr gives the count and names --max-len. Two of the six questions
 * are made far longer than max_len. */
START_TEST(heavy_skipping_is_warned) {
  char path[320], out[300];
  subdir(out, sizeof out, "skips");
  snprintf(path, sizeof path, "%s-long.json", dir);
  const char *filler = " and then, after a long pause, asked once more about the very same "
                       "thing in a roundabout way";
  char *text = malloc(strlen(squad_json) + 8 * strlen(filler) + 1);
  const char *q5 = strstr(squad_json, "When was Lia born?");
  const char *q6 = strstr(squad_json, "What does Kai own?");
  size_t a = (size_t)(q5 - squad_json) + 17, b = (size_t)(q6 - squad_json) + 17;
  size_t len = 0, flen = strlen(filler);
  memcpy(text, squad_json, a), len = a;
  for (int i = 0; i < 4; i++)
    memcpy(text + len, filler, flen), len += flen;
  memcpy(text + len, squad_json + a, b - a), len += b - a;
  for (int i = 0; i < 4; i++)
    memcpy(text + len, filler, flen), len += flen;
  strcpy(text + len, squad_json + b);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  free(text);
  sdq_squad longer = {0};
  char err[1024], warn[128];
  ck_assert_msg(sdq_squad_load(&longer, path, warn, sizeof warn, err, sizeof err) == 0, "%s",
                err);

  variant v = {.data = &longer, .edit = edit_max_len_short};
  call c = {&v, out, 0, 0, {0}, ""};
  int rc;
  char *log = capture_stderr(call_train, &c, &rc);
  ck_assert_msg(rc == 0, "%s", c.err);
  ck_assert_int_gt(c.r.skipped, c.r.drawn / 10);
  char want[64];
  snprintf(want, sizeof want, "%ld of %ld drawn examples", c.r.skipped, c.r.drawn);
  ck_assert_msg(strstr(log, "WARNING") && strstr(log, want) && strstr(log, "--max-len 48"),
                "no warning about skipped examples: %s", log);
  free(log);
  sdq_squad_free(&longer);
  unlink(path);
}
END_TEST

START_TEST(eval_agrees_with_score) {
  sdq_gpt2 *m = tiny_model();
  char err[1024];
  ck_assert_int_eq(sdq_gpt2_set_uniform_bits(m, 8, 0, err, sizeof err), 0);
  size_t n = 0;
  size_t *subset = sdq_select_questions(&data, NULL, 0, &n, err, sizeof err);
  ck_assert_ptr_nonnull(subset);
  ck_assert_uint_eq(n, 6);
  sdq_eval_options o = {128, 4, 0};
  sdq_eval_result res;
  ck_assert_msg(sdq_evaluate(m, tok, &data, subset, n, &o, &res, err, sizeof err) == 0, "%s", err);

  /* Make one prediction a known answer so the scores are not all zero. */
  free(res.predictions[5]);
  res.predictions[5] = strdup("Iron key!");
  double em5, f15;
  ck_assert_int_eq(sdq_squad_score_one(res.predictions[5], &data.questions[5], &em5, &f15), 0);
  ck_assert(em5 == 1.0);

  char pred_path[300];
  snprintf(pred_path, sizeof pred_path, "%s-predictions.json", dir);
  ck_assert_int_eq(sdq_write_predictions(pred_path, &data, subset, n, res.predictions, err,
                                         sizeof err), 0);
  sdq_squad_score file_score;
  ck_assert_msg(sdq_squad_score_file(&data, pred_path, &file_score, err, sizeof err) == 0, "%s",
                err);
  ck_assert_uint_eq(file_score.n_missing, 0);
  double em_sum = 0, f1_sum = 0;
  for (size_t i = 0; i < n; i++) {
    double em, f1;
    ck_assert_int_eq(sdq_squad_score_one(res.predictions[i], &data.questions[i], &em, &f1), 0);
    em_sum += em, f1_sum += f1;
  }
  ck_assert(file_score.exact_match == 100.0 * em_sum / 6.0);
  ck_assert(file_score.f1 == 100.0 * f1_sum / 6.0);
  ck_assert(file_score.exact_match >= 100.0 / 6.0);
  unlink(pred_path);
  sdq_eval_result_free(&res);
  free(subset);
  sdq_gpt2_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train_resume");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, resume_is_bitwise_identical);
  tcase_add_test(tc, resume_refuses_changed_runs);
  tcase_add_test(tc, resumed_losses_equal_straight);
  tcase_add_test(tc, damaged_checkpoint_is_refused);
  tcase_add_test(tc, resume_without_checkpoint_is_noted);
  tcase_add_test(tc, heavy_skipping_is_warned);
  tcase_add_test(tc, eval_agrees_with_score);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
