/* shim.c - buffers and kernel calls behind the benchmarks' C interface. */
#include "config.h"

#include "bench/shim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdq_kernels.h"
#include "sdq_pack.h"

struct sdq_bench_problem {
  int kernel, M, N, K, bits, copies, next;
  float **w;         /* [copies] fp32 W[N, K] (or dW for sgemm_tn) */
  sdq_qmatrix *q;    /* [copies] packed W for the quantized kernels */
  float *x;          /* activations: X[M, K] or dY[M, N] */
  float *x2;         /* sgemm_tn: X[M, K] */
  float *y;          /* output */
};

static const char *const kernel_names[SDQ_BENCH_KERNEL_COUNT] = {
    "sgemm_nt", "sgemm_nn", "sgemm_tn", "qgemm_f32_nt", "qgemm_f32_nn", "qgemm_i8_nt"};

const char *sdq_bench_kernel_name(int kernel) {
  return kernel >= 0 && kernel < SDQ_BENCH_KERNEL_COUNT ? kernel_names[kernel] : "?";
}

int sdq_bench_kernel_is_quantized(int kernel) { return kernel >= SDQ_BENCH_QGEMM_F32_NT; }

int sdq_bench_isa_count(void) { return SDQ_ISA_COUNT; }

const char *sdq_bench_isa_name(int isa) { return sdq_isa_name((sdq_isa)isa); }

int sdq_bench_isa_supported(int isa, char *why, size_t len) {
  if (sdq_isa_supported((sdq_isa)isa))
    return 1;
  char features[256];
  sdq_cpu_features(features, sizeof features);
  snprintf(why, len, "%s is not supported by this CPU or build (CPU features: %s)",
           sdq_isa_name((sdq_isa)isa), features);
  return 0;
}

int sdq_bench_select_isa(int isa, char *err, size_t len) {
  return sdq_kernels_select((sdq_isa)isa, err, len);
}

/* Fills n floats with uniform values in [-1, 1) from a fixed-seed xorshift. */
static void fill_random(float *p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = (float)((s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
  }
}

static float *alloc_floats(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0)
    return NULL;
  return p;
}

void sdq_bench_problem_free(sdq_bench_problem *p) {
  if (!p)
    return;
  for (int c = 0; c < p->copies; c++) {
    if (p->w)
      free(p->w[c]);
    if (p->q)
      sdq_qmatrix_free(&p->q[c]);
  }
  free(p->w);
  free(p->q);
  free(p->x);
  free(p->x2);
  free(p->y);
  free(p);
}

sdq_bench_problem *sdq_bench_problem_new(int kernel, int M, int N, int K, int bits,
                                         int copies, char *err, size_t len) {
  if (kernel < 0 || kernel >= SDQ_BENCH_KERNEL_COUNT || M <= 0 || N <= 0 || K <= 0 ||
      copies <= 0) {
    snprintf(err, len, "invalid benchmark problem: kernel %d M=%d N=%d K=%d copies=%d",
             kernel, M, N, K, copies);
    return NULL;
  }
  sdq_bench_problem *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, len, "out of memory");
    return NULL;
  }
  p->kernel = kernel;
  p->M = M;
  p->N = N;
  p->K = K;
  p->bits = bits;
  p->copies = copies;

  const int quantized = sdq_bench_kernel_is_quantized(kernel);
  const size_t wn = (size_t)N * K;
  p->w = calloc((size_t)copies, sizeof *p->w);
  if (quantized)
    p->q = calloc((size_t)copies, sizeof *p->q);
  if (!p->w || (quantized && !p->q))
    goto oom;

  float *w0 = alloc_floats(wn);
  if (!w0)
    goto oom;
  fill_random(w0, wn, 1);
  for (int c = 0; c < copies; c++) {
    if (quantized) {
      if (sdq_qmatrix_init(&p->q[c], w0, N, K, K, bits, err, len) != 0) {
        free(w0);
        sdq_bench_problem_free(p);
        return NULL;
      }
    } else {
      p->w[c] = alloc_floats(wn);
      if (!p->w[c]) {
        free(w0);
        goto oom;
      }
      memcpy(p->w[c], w0, wn * sizeof(float));
    }
  }
  free(w0);

  /* Activations are as wide as the input of the product: K for the forward
   * kernels, N for the backward ones; sgemm_tn also needs X[M, K]. */
  const int in_width = (kernel == SDQ_BENCH_SGEMM_NN || kernel == SDQ_BENCH_QGEMM_F32_NN ||
                        kernel == SDQ_BENCH_SGEMM_TN)
                           ? N
                           : K;
  const int out_width = (kernel == SDQ_BENCH_SGEMM_NN || kernel == SDQ_BENCH_QGEMM_F32_NN) ? K : N;
  p->x = alloc_floats((size_t)M * in_width);
  p->y = alloc_floats((size_t)M * out_width);
  if (!p->x || !p->y)
    goto oom;
  fill_random(p->x, (size_t)M * in_width, 2);
  memset(p->y, 0, (size_t)M * out_width * sizeof(float));
  if (kernel == SDQ_BENCH_SGEMM_TN) {
    p->x2 = alloc_floats((size_t)M * K);
    if (!p->x2)
      goto oom;
    fill_random(p->x2, (size_t)M * K, 3);
  }
  return p;

oom:
  snprintf(err, len, "out of memory allocating a %dx%dx%d problem with %d weight copies", M, N,
           K, copies);
  sdq_bench_problem_free(p);
  return NULL;
}

void sdq_bench_run(sdq_bench_problem *p) {
  const int c = p->next;
  p->next = (p->next + 1) % p->copies;
  const int M = p->M, N = p->N, K = p->K;

  switch (p->kernel) {
  case SDQ_BENCH_SGEMM_NT:
    sdq_sgemm_nt(M, N, K, p->x, K, p->w[c], K, 0.0f, p->y, N);
    break;
  case SDQ_BENCH_SGEMM_NN:
    sdq_sgemm_nn(M, K, N, p->x, N, p->w[c], K, 0.0f, p->y, K);
    break;
  case SDQ_BENCH_SGEMM_TN:
    sdq_sgemm_tn(N, K, M, p->x, N, p->x2, K, 0.0f, p->w[c], K);
    break;
  case SDQ_BENCH_QGEMM_F32_NT:
    sdq_qgemm_f32_nt(M, p->x, K, &p->q[c], 0.0f, p->y, N);
    break;
  case SDQ_BENCH_QGEMM_F32_NN:
    sdq_qgemm_f32_nn(M, p->x, N, &p->q[c], 0.0f, p->y, K);
    break;
  case SDQ_BENCH_QGEMM_I8_NT:
    sdq_qgemm_i8_nt(M, p->x, K, 8, &p->q[c], 0.0f, p->y, N);
    break;
  }
}

double sdq_bench_weight_bytes(const sdq_bench_problem *p) {
  if (sdq_bench_kernel_is_quantized(p->kernel))
    return (double)sdq_packed_bytes(p->N, p->K, p->bits) + (double)p->N * sizeof(float);
  return (double)p->N * p->K * sizeof(float);
}

double sdq_bench_footprint_bytes(int kernel, int M, int N, int K, int bits) {
  const double w = sdq_bench_kernel_is_quantized(kernel)
                       ? (double)sdq_packed_bytes(N, K, bits) + 8.0 * N
                       : 4.0 * N * K;
  return w + 4.0 * M * ((double)N + K);
}

double sdq_bench_llc_bytes(void) {
  double best = 0;
  for (int i = 0; i < 8; i++) {
    char path[128], text[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    if (fgets(text, sizeof text, f)) {
      char *end = NULL;
      double v = strtod(text, &end);
      if (end && (*end == 'K' || *end == 'k'))
        v *= 1024;
      else if (end && (*end == 'M' || *end == 'm'))
        v *= 1024 * 1024;
      if (v > best)
        best = v;
    }
    fclose(f);
  }
  return best > 0 ? best : 32.0 * 1024 * 1024;
}
