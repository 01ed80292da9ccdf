// yardsticks.h - the libraries sdq's kernels are measured against in the
// same run: OpenBLAS cblas_sgemm and oneDNN matmul (f32 and s8 x s8).
#ifndef SDQ_BENCH_YARDSTICKS_H
#define SDQ_BENCH_YARDSTICKS_H

#include <cstddef>
#include <vector>

struct YardstickInfo {
  const char *name;             // e.g. "openblas_sgemm_nt"
  bool available;               // built in and usable here
  const char *why_unavailable;  // reason shown when skipped
  bool integer;                 // counts GOP/s against the int8 peak
  double weight_bytes_per_element;
  // Prepares buffers (and prepacked weights where the library offers it)
  // for Y[M,N] = X[M,K] * W[N,K]^T or the matching backward product.
  void *(*create)(int M, int N, int K, char *err, std::size_t len);
  void (*run)(void *ctx);
  void (*destroy)(void *ctx);
  // Only this token count M is measured (0: every M of the benchmark).
  int only_M;
  // The library's name for the implementation that runs (e.g. oneDNN's
  // "brg:avx512_core_vnni"), or nullptr when the library does not say.
  const char *(*describe)(void *ctx);
};

// Every yardstick, available or not, in a fixed order.
const std::vector<YardstickInfo> &Yardsticks();

// How the libraries were restricted for this run, for the report's context:
// OpenBLAS's core name and ONEDNN_MAX_CPU_ISA as the environment set them
// ("" when not built in or not set).
const char *YardstickBlasCore();
const char *YardstickDnnlMaxIsa();

#endif
