/* test_model_torch.c - compares the C model's loss, logits, LoRA gradients
 * and input-embedding gradients with the PyTorch reference in
 * tests/torch_reference.py (skips with 77 when torch is missing). */
#include <check.h>
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

START_TEST(matches_pytorch_reference) {
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
  sdq_gpt2_batch batch = {B_, T_, tokens, NULL, targets, mask, 0};
  float loss;
  ck_assert_msg(sdq_gpt2_forward(m, &batch, &loss, err, sizeof err) == 0, "%s", err);
  float *d_embeds = calloc((size_t)B_ * T_ * 16, sizeof(float));
  sdq_gpt2_zero_grad(m);
  ck_assert_msg(sdq_gpt2_backward(m, 1.0f, d_embeds, err, sizeof err) == 0, "%s", err);
  float *logits = malloc((size_t)B_ * T_ * 24 * sizeof(float));
  for (int b = 0; b < B_; b++)
    for (int t = 0; t < T_; t++)
      memcpy(logits + ((size_t)b * T_ + t) * 24, sdq_gpt2_logits(m, b, t), 24 * sizeof(float));

  sdq_st_write_tensor in[3] = {{"tokens", 2, {B_, T_}, ftok},
                               {"targets", 2, {B_, T_}, ftgt},
                               {"mask", 2, {B_, T_}, mask}};
  snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
  ck_assert_msg(sdq_safetensors_write(path, in, 3, NULL, 0, err, sizeof err) == 0, "%s", err);

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
  sdq_gpt2_free(m);
  if (code == 77) {
    skipped = 1;
    return;
  }
  ck_assert_msg(code == 0, "torch_reference.py exited with %d (see its output above)", code);
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
