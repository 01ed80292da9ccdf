/* peak.c - probes of the machine's clock, fp32 FMA and int8 dot-product
 * throughput and memory bandwidth: the 100% of the "fraction of peak"
 * counters in the benchmarks.
 *
 * The throughput loops use GCC target attributes instead of per-file -m
 * flags because each probe is one small function chosen at run time; the
 * probe is only called after the kernel layer's CPU detection reports that
 * the ISA runs here. */
#include "config.h"

#include "bench/shim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "sdq_kernels.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int thread_count(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* Runs probe(iterations) on every thread at once and returns the operations
 * per second of all threads together; ops_per_iteration counts one thread. */
static double parallel_rate(double (*probe)(long), long iterations, double ops_per_iteration) {
  double total = 0;
#pragma omp parallel reduction(+ : total)
  total += probe(iterations / 8); /* warm up: thread start, frequency ramp */
  const double start = now_seconds();
#pragma omp parallel reduction(+ : total)
  total += probe(iterations);
  const double end = now_seconds();
  if (total == 1234.5) /* keeps the probe results alive */
    fprintf(stderr, "sdq-peak: unlikely probe sum\n");
  return ops_per_iteration * (double)iterations * thread_count() / (end - start);
}

/* The clock: a chain of dependent register-to-register adds retires one add
 * per cycle. An add of an immediate could be folded by the core (several per
 * cycle), so the addend is a register the compiler cannot see into. */
static double measure_clock_ghz(void) {
#if defined(__x86_64__)
  volatile uint64_t seed = 3;
  uint64_t x = 0, y = seed;
  const long n = 20 * 1000 * 1000;
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_seconds();
    for (long i = 0; i < n; i++) {
      __asm__ volatile(
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          : "+r"(x)
          : "r"(y));
    }
    double ghz = 16.0 * (double)n / (now_seconds() - t0) * 1e-9;
    if (ghz > best)
      best = ghz;
  }
  return x == 42 ? 0 : best;
#else
  return 0;
#endif
}

#if defined(__x86_64__)
/* Each probe runs 12 independent accumulator chains, written out as named
 * variables so they stay in registers: enough to hide the 4-5 cycle latency
 * of FMA or vpdpbusd on two pipes. REPEAT12(OP) applies OP to each. */
#define REPEAT12(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

__attribute__((target("avx512f"))) static double fma_avx512(long n) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#define INIT(j) __m512 acc##j = _mm512_set1_ps((float)j);
#define STEP(j) acc##j = _mm512_fmadd_ps(acc##j, a, b);
#define SUM(j) s = _mm512_add_ps(s, acc##j);
  REPEAT12(INIT)
  for (long i = 0; i < n; i++) {
    REPEAT12(STEP)
  }
  __m512 s = _mm512_setzero_ps();
  REPEAT12(SUM)
#undef INIT
#undef STEP
#undef SUM
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long n) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
#define INIT(j) __m256 acc##j = _mm256_set1_ps((float)j);
#define STEP(j) acc##j = _mm256_fmadd_ps(acc##j, a, b);
#define SUM(j) s = _mm256_add_ps(s, acc##j);
  REPEAT12(INIT)
  for (long i = 0; i < n; i++) {
    REPEAT12(STEP)
  }
  __m256 s = _mm256_setzero_ps();
  REPEAT12(SUM)
#undef INIT
#undef STEP
#undef SUM
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

/* vpdpbusd: 64 u8 x s8 products summed into 16 int32 lanes per
 * instruction, 128 operations. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double dot_vnni(long n) {
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
#define INIT(j) __m512i acc##j = _mm512_set1_epi32(j);
#define STEP(j) acc##j = _mm512_dpbusd_epi32(acc##j, a, b);
#define SUM(j) s = _mm512_add_epi32(s, acc##j);
  REPEAT12(INIT)
  for (long i = 0; i < n; i++) {
    REPEAT12(STEP)
  }
  __m512i s = _mm512_setzero_si512();
  REPEAT12(SUM)
#undef INIT
#undef STEP
#undef SUM
  return (double)_mm512_reduce_add_epi32(s);
}

/* The AVX2 int8 sequence the kernels use: vpmaddubsw, vpmaddwd with ones,
 * vpaddd; 32 u8 x s8 products (64 operations) per triple. */
__attribute__((target("avx2"))) static double dot_avx2(long n) {
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
#define INIT(j) __m256i acc##j = _mm256_set1_epi32(j);
#define STEP(j) acc##j = _mm256_add_epi32(acc##j, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
#define SUM(j) s = _mm256_add_epi32(s, acc##j);
  REPEAT12(INIT)
  for (long i = 0; i < n; i++) {
    REPEAT12(STEP)
  }
  __m256i s = _mm256_setzero_si256();
  REPEAT12(SUM)
#undef INIT
#undef STEP
#undef SUM
  return (double)_mm256_extract_epi32(s, 0);
}
#endif

/* Memory bandwidth over arrays far larger than any cache: STREAM-style
 * triad (3 arrays, write-allocate traffic not counted) and a pure read. */
static void measure_bandwidth(double *read_gbs, double *triad_gbs) {
  const size_t n = (size_t)64 * 1024 * 1024; /* 256 MiB per array */
  float *a = NULL, *b = NULL, *c = NULL;
  if (posix_memalign((void **)&a, 64, n * 4) || posix_memalign((void **)&b, 64, n * 4) ||
      posix_memalign((void **)&c, 64, n * 4)) {
    free(a);
    free(b);
    free(c);
    *read_gbs = *triad_gbs = 0;
    return;
  }
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    a[i] = 0;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }

  double best_triad = 0, best_read = 0;
  volatile float sink = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_seconds();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
      a[i] = b[i] + 3.0f * c[i];
    double t = now_seconds() - t0;
    if (12.0 * n / t > best_triad)
      best_triad = 12.0 * n / t;

    float total = 0;
    t0 = now_seconds();
#pragma omp parallel for simd schedule(static) reduction(+ : total)
    for (size_t i = 0; i < n; i++)
      total += a[i];
    t = now_seconds() - t0;
    sink += total;
    if (4.0 * n / t > best_read)
      best_read = 4.0 * n / t;
  }
  free(a);
  free(b);
  free(c);
  *read_gbs = best_read * 1e-9;
  *triad_gbs = best_triad * 1e-9;
}

void sdq_bench_measure_peaks(sdq_bench_peaks *out) {
  memset(out, 0, sizeof *out);
  out->threads = thread_count();
  out->fp32_isa = out->int8_isa = "none";
  out->clock_ghz = measure_clock_ghz();

#if defined(__x86_64__)
  const long n = 100 * 1000 * 1000; /* about 0.2 s per probe */
  if (sdq_isa_supported(SDQ_ISA_AVX512)) {
    out->fp32_gflops = parallel_rate(fma_avx512, n, 12.0 * 16 * 2) * 1e-9;
    out->fp32_isa = "avx512";
  } else if (sdq_isa_supported(SDQ_ISA_AVX2)) {
    out->fp32_gflops = parallel_rate(fma_avx2, n, 12.0 * 8 * 2) * 1e-9;
    out->fp32_isa = "avx2";
  }
  if (sdq_isa_supported(SDQ_ISA_AVX512VNNI)) {
    out->int8_gops = parallel_rate(dot_vnni, n, 12.0 * 64 * 2) * 1e-9;
    out->int8_isa = "avx512vnni";
  } else if (sdq_isa_supported(SDQ_ISA_AVX2)) {
    out->int8_gops = parallel_rate(dot_avx2, n, 12.0 * 32 * 2) * 1e-9;
    out->int8_isa = "avx2";
  }
#endif
  /* NOTE: on non-x86 hosts only the bandwidth probes run: the clock and the
   * compute peaks stay 0, and so do the "fraction of peak" counters. */
  measure_bandwidth(&out->read_gbs, &out->triad_gbs);
}
