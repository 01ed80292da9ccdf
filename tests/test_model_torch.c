/* test_model_torch.c - compares the C model's loss, logits, LoRA gradients
 * and input-embedding gradients with the PyTorch reference in
 * tests/torch_reference.py, with the cross-entropy and with the
 * distillation loss on soft targets (skips with 77 when torch is missing). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/gpt2.h"
#include "model/safetensors.h"

#define B_ 2
#define T_ 7

static int skipped;

/* Runs one comparison; distill adds soft targets with alpha 0.3 and
 * temperature 1.7 to the loss. */
static void compare_with_torch(int distill) {
  char err[512], dir[64] = "/tmp/sdq_model_torch_XXXXXX", path[256];
  ck_assert(mkdtemp(dir) != NULL);

  /* 1. A random tiny model with nonzero LoRA B, saved in HF and PEFT layout. */
  sdq_gpt2_config cfg = {2, 2, 16, 12, 24};
  sdq_gpt2 *m = sdq_gpt2_create(&cfg, 77, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  sdq_rng r;
  sdq_rng_seed(&r, 3);
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] += 0.05f * sdq_rng_normal(&r);
  sdq_lora_config lc = {3, 5.0f, 0.0f, 1, {32}};
  ck_assert(sdq_gpt2_lora_init(m, &lc, 4, err, sizeof err) == 0);
  for (size_t i = 0; i < m->lora.n_params; i++)
    m->lora.params[i] += 0.1f * sdq_rng_normal(&r);
  ck_assert_msg(sdq_gpt2_save_hf(m, dir, err, sizeof err) == 0, "%s", err);
  snprintf(path, sizeof path, "%s/lora", dir);
  ck_assert_msg(sdq_lora_save(m, path, err, sizeof err) == 0, "%s", err);

  /* 2. Inputs, forward and backward. */
  int32_t tokens[B_ * T_], targets[B_ * T_];
  float ftok[B_ * T_], ftgt[B_ * T_], mask[B_ * T_];
  for (int i = 0; i < B_ * T_; i++) {
    tokens[i] = (int32_t)sdq_rng_below(&r, 24);
    targets[i] = (int32_t)sdq_rng_below(&r, 24);
    mask[i] = (i % 4 == 1) ? 0.0f : 1.0f;
    ftok[i] = (float)tokens[i];
    ftgt[i] = (float)targets[i];
  }
  sdq_gpt2_batch batch = {.B = B_, .T = T_, .tokens = tokens, .targets = targets,
                         .loss_mask = mask};
  int n_soft = 0;
  for (int i = 0; i < B_ * T_; i++)
    n_soft += mask[i] != 0.0f;
  float *soft = malloc((size_t)n_soft * 24 * sizeof(float));
  for (int j = 0; j < n_soft; j++) {
    double sum = 0.0;
    for (int v = 0; v < 24; v++)
      sum += soft[j * 24 + v] = expf(sdq_rng_normal(&r));
    for (int v = 0; v < 24; v++)
      soft[j * 24 + v] = (float)(soft[j * 24 + v] / sum);
  }
  float alpha = 0.3f, tau = 1.7f;
  if (distill) {
    batch.soft_targets = soft;
    batch.soft_alpha = alpha;
    batch.soft_temp = tau;
  }
  float loss;
  ck_assert_msg(sdq_gpt2_forward(m, &batch, &loss, err, sizeof err) == 0, "%s", err);
  float *d_embeds = calloc((size_t)B_ * T_ * 16, sizeof(float));
  sdq_gpt2_zero_grad(m);
  ck_assert_msg(sdq_gpt2_backward(m, 1.0f, d_embeds, err, sizeof err) == 0, "%s", err);
  float *logits = malloc((size_t)B_ * T_ * 24 * sizeof(float));
  for (int b = 0; b < B_; b++)
    for (int t = 0; t < T_; t++)
      memcpy(logits + ((size_t)b * T_ + t) * 24, sdq_gpt2_logits(m, b, t), 24 * sizeof(float));

  sdq_st_write_tensor in[6] = {{"tokens", 2, {B_, T_}, ftok},
                               {"targets", 2, {B_, T_}, ftgt},
                               {"mask", 2, {B_, T_}, mask},
                               {"soft_targets", 2, {(size_t)n_soft, 24}, soft},
                               {"soft_alpha", 1, {1}, &alpha},
                               {"soft_temp", 1, {1}, &tau}};
  snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
  ck_assert_msg(sdq_safetensors_write(path, in, distill ? 6 : 3, NULL, 0, err, sizeof err) == 0,
                "%s", err);

  size_t n_out = 3 + 2 * 2 * SDQ_LIN_COUNT;
  sdq_st_write_tensor *out = calloc(n_out, sizeof *out);
  char (*names)[128] = calloc(n_out, sizeof *names);
  out[0] = (sdq_st_write_tensor){"loss", 1, {1}, &loss};
  out[1] = (sdq_st_write_tensor){"logits", 3, {B_, T_, 24}, logits};
  out[2] = (sdq_st_write_tensor){"d_embeds", 3, {B_, T_, 16}, d_embeds};
  size_t i = 3;
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < SDQ_LIN_COUNT; k++) {
      const sdq_lora_adapter *a = sdq_lora_adapter_at(&m->lora, 0, l, (sdq_linear)k);
      snprintf(names[i], sizeof names[i], "grad.base_model.model.transformer.h.%d.%s.lora_A.weight",
               l, sdq_linear_name((sdq_linear)k));
      out[i] = (sdq_st_write_tensor){names[i], 2, {3, (size_t)a->in}, a->dA};
      i++;
      snprintf(names[i], sizeof names[i], "grad.base_model.model.transformer.h.%d.%s.lora_B.weight",
               l, sdq_linear_name((sdq_linear)k));
      out[i] = (sdq_st_write_tensor){names[i], 2, {(size_t)a->out, 3}, a->dB};
      i++;
    }
  snprintf(path, sizeof path, "%s/c_out.safetensors", dir);
  ck_assert_msg(sdq_safetensors_write(path, out, n_out, NULL, 0, err, sizeof err) == 0, "%s", err);

  /* 3. Run the reference; it prints its own comparison. */
  const char *srcdir = getenv("SDQ_SRCDIR") ? getenv("SDQ_SRCDIR") : ".";
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/torch_reference.py' '%s'", srcdir, dir);
  int status = system(cmd);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  free(names);
  free(out);
  free(logits);
  free(d_embeds);
  free(soft);
  sdq_gpt2_free(m);
  if (code == 77) {
    skipped = 1;
    return;
  }
  ck_assert_msg(code == 0, "torch_reference.py exited with %d (see its output above)", code);
}

START_TEST(matches_pytorch_reference) {
  compare_with_torch(0);
}
END_TEST

START_TEST(distill_loss_matches_pytorch) {
  compare_with_torch(1);
}
END_TEST

int main(void) {
  if (access("/usr/bin/python3", X_OK) != 0) {
    printf("SKIP: /usr/bin/python3 not found; the PyTorch comparison needs it\n");
    return 77;
  }
  Suite *s = suite_create("model_torch");
  TCase *tc = tcase_create("torch");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, matches_pytorch_reference);
  tcase_add_test(tc, distill_loss_matches_pytorch);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (skipped)
    return 77;
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
