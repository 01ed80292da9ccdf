/* fuzz_safetensors.c - libFuzzer harness for the safetensors reader; make check replays it (tests/test_safetensors_mutations.c).
 *
 * Build and run (clang, from the source tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *     tests/fuzz/fuzz_safetensors.c model/safetensors.c -ljansson -lm -o /tmp/fuzz_safetensors
 *   mkdir -p /tmp/st-corpus && /tmp/fuzz_safetensors -max_total_time=120 /tmp/st-corpus
 *
 * Each input is written to a file and opened, because the reader works on a
 * memory-mapped file. When the input opens, every tensor is also converted to
 * fp32, so the conversions run on whatever bytes the fuzzer produced.
 */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char input_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
  if (input_path[0] == '\0')
    snprintf(input_path, sizeof input_path, "/tmp/fuzz-safetensors-%ld.bin", (long)getpid());

  FILE *f = fopen(input_path, "wb");
  if (f == NULL)
    abort();
  if (size > 0 && fwrite(bytes, 1, size, f) != size)
    abort();
  fclose(f);

  sdq_safetensors st;
  char err[512];
  if (sdq_safetensors_open(&st, input_path, err, sizeof err) != 0) {
    if (strncmp(err, input_path, strlen(input_path)) != 0)
      abort(); /* every message names the file */
    return 0;
  }

  for (size_t i = 0; i < st.n_tensors; i++) {
    const sdq_st_tensor *t = &st.tensors[i];
    if (t->begin > st.data_size || t->nbytes > st.data_size - t->begin)
      abort();
    if (sdq_safetensors_find(&st, t->name) != t)
      abort();
    if (t->numel > (1u << 20))
      continue;
    float *dst = malloc(t->numel * sizeof(float) + 1);
    if (dst == NULL)
      abort();
    sdq_safetensors_read_f32(&st, t, dst, t->numel, err, sizeof err);
    free(dst);
  }
  for (size_t i = 0; i < st.n_metadata; i++)
    if (sdq_safetensors_metadata(&st, st.metadata[i].key) == NULL)
      abort();
  sdq_safetensors_close(&st);
  return 0;
}
