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
};

// Every yardstick, available or not, in a fixed order.
const std::vector<YardstickInfo> &Yardsticks();

#endif
