/* shim.h - the thin C interface the C++ benchmark programs call.
 *
 * It hides the kernel API's C types behind plain functions so the C++ files
 * need no C headers beyond this one, and it owns the benchmark buffers.
 */
#ifndef SDQ_BENCH_SHIM_H
#define SDQ_BENCH_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GEMM kinds measured, in the order the benchmark page lists them. */
enum sdq_bench_kernel {
  SDQ_BENCH_SGEMM_NT = 0, /* Y = X*W^T, fp32 */
  SDQ_BENCH_SGEMM_NN,     /* dX = dY*W, fp32 */
  SDQ_BENCH_SGEMM_TN,     /* dW = dY^T*X, fp32 */
  SDQ_BENCH_QGEMM_F32_NT, /* Y = X*dequant(Wq)^T, fp32 activations */
  SDQ_BENCH_QGEMM_F32_NN, /* dX = dY*dequant(Wq) */
  SDQ_BENCH_QGEMM_I8_NT,  /* int8 activations x packed weights */
  SDQ_BENCH_KERNEL_COUNT
};

/* Returns the kernel's short name ("sgemm_nt", ...). */
const char *sdq_bench_kernel_name(int kernel);

/* Returns 1 when the kernel quantizes its weights (bits matter). */
int sdq_bench_kernel_is_quantized(int kernel);

/* Number of ISA variants known to the kernel layer, their names, and whether
 * this machine runs one (0 with the reason in why when it does not). */
int sdq_bench_isa_count(void);
const char *sdq_bench_isa_name(int isa);
int sdq_bench_isa_supported(int isa, char *why, size_t len);

/* Makes isa the active variant. Returns 0, or -1 with a message in err. */
int sdq_bench_select_isa(int isa, char *err, size_t len);

/* One prepared problem: weights W[N, K] (fp32 and, for quantized kernels,
 * packed at bits), activations and outputs. copies > 1 allocates that many
 * independent weight copies, which sdq_bench_run rotates through so the
 * weights are cold (evicted from the caches) on every call. */
typedef struct sdq_bench_problem sdq_bench_problem;

/* Allocates and fills a problem with random data. Returns NULL with a
 * message in err when memory runs out or the shape is invalid. */
sdq_bench_problem *sdq_bench_problem_new(int kernel, int M, int N, int K,
                                         int bits, int copies, char *err,
                                         size_t len);
void sdq_bench_problem_free(sdq_bench_problem *p);

/* Runs the kernel once on the next weight copy. */
void sdq_bench_run(sdq_bench_problem *p);

/* Bytes of weights one call reads (packed bytes for quantized kernels). */
double sdq_bench_weight_bytes(const sdq_bench_problem *p);

/* Bytes of one weight copy plus its activations and outputs; used to choose
 * how many copies exceed the last-level cache. */
double sdq_bench_footprint_bytes(int kernel, int M, int N, int K, int bits);

/* Machine peaks measured by the probes in peak.c (0 when not measured). */
typedef struct sdq_bench_peaks {
  double clock_ghz;        /* from a dependent register add chain */
  double fp32_gflops;      /* FMA throughput, all threads, best ISA */
  double int8_gops;        /* int8 dot-product throughput, all threads */
  double read_gbs;         /* DRAM read bandwidth, all threads */
  double triad_gbs;        /* DRAM triad a = b + s*c, all threads */
  int threads;
  const char *fp32_isa;    /* ISA the fp32 peak was measured with */
  const char *int8_isa;    /* ISA the int8 peak was measured with */
} sdq_bench_peaks;

/* Measures the peaks (about two seconds). */
void sdq_bench_measure_peaks(sdq_bench_peaks *out);

/* Returns the last-level cache size in bytes (sysfs), or 32 MiB when unknown. */
double sdq_bench_llc_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
