// bench_kernels.cc - Google Benchmark programs for the sdq kernels and the
// OpenBLAS / oneDNN yardsticks, on GPT-2-124M shapes.
//
// Every kernel runs once per ISA variant the CPU supports (the variant is
// forced before each benchmark); a variant the CPU lacks is registered
// anyway and reported as skipped with the reason. Counters:
//   GFLOPS      2*M*N*K per call, as a rate (GOP/s for the integer GEMM)
//   weight_GBs  bytes of weights read per call, as a rate
//   peak_frac   the GFLOPS figure divided by the machine's measured peak
//               (fp32 FMA peak for fp32 kernels, int8 peak for qgemm_i8)
// Run it through `make bench-run`, which writes bench/results.json.
#include "config.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/shim.h"
#include "bench/yardsticks.h"

namespace {

struct Shape {
  int K, N;
};

// (K, N) of the GPT-2-124M linear layers: c_attn, c_proj, c_fc, mlp c_proj,
// and the tied LM head.
const Shape kShapes[] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50257}};
const int kTokens[] = {1, 32, 128, 512};
const int kBits[] = {2, 4, 6, 8};

sdq_bench_peaks g_peaks;

std::string ShapeName(int M, int K, int N) {
  return "M=" + std::to_string(M) + "/K=" + std::to_string(K) + "/N=" + std::to_string(N);
}

void SetRateCounters(benchmark::State &state, double ops, double weight_bytes, double peak) {
  using benchmark::Counter;
  state.counters["GFLOPS"] = Counter(ops * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["weight_GBs"] = Counter(weight_bytes * 1e-9, Counter::kIsIterationInvariantRate);
  if (peak > 0)
    state.counters["peak_frac"] = Counter(ops * 1e-9 / peak, Counter::kIsIterationInvariantRate);
}

// Number of weight copies that make every call read cold weights: enough to
// overflow the last-level cache twice.
int ColdCopies(int kernel, int M, int N, int K, int bits) {
  const double footprint = sdq_bench_footprint_bytes(kernel, M, N, K, bits);
  const int copies = static_cast<int>(std::ceil(2.0 * sdq_bench_llc_bytes() / footprint)) + 1;
  return copies < 2 ? 2 : copies;
}

void RunSdq(benchmark::State &state, int kernel, int isa, int M, int N, int K, int bits,
            bool cold) {
  char err[512];
  if (sdq_bench_select_isa(isa, err, sizeof err) != 0) {
    state.SkipWithError(err);
    return;
  }
  const int copies = cold ? ColdCopies(kernel, M, N, K, bits) : 1;
  sdq_bench_problem *p = sdq_bench_problem_new(kernel, M, N, K, bits, copies, err, sizeof err);
  if (!p) {
    state.SkipWithError(err);
    return;
  }
  sdq_bench_run(p); // first touch outside the timed loop
  for (auto _ : state)
    sdq_bench_run(p);
  const double peak =
      kernel == SDQ_BENCH_QGEMM_I8_NT ? g_peaks.int8_gops : g_peaks.fp32_gflops;
  SetRateCounters(state, 2.0 * M * N * K, sdq_bench_weight_bytes(p), peak);
  state.SetLabel(std::string(sdq_bench_isa_name(isa)) + (cold ? " cold" : " hot"));
  sdq_bench_problem_free(p);
}

void RegisterSdq() {
  for (int kernel = 0; kernel < SDQ_BENCH_KERNEL_COUNT; kernel++) {
    const bool quantized = sdq_bench_kernel_is_quantized(kernel);
    for (int isa = 0; isa < sdq_bench_isa_count(); isa++) {
      char why[512];
      const bool supported = sdq_bench_isa_supported(isa, why, sizeof why);
      for (const Shape &s : kShapes) {
        for (int M : kTokens) {
          for (int bits : kBits) {
            if (!quantized && bits != kBits[0])
              continue;
            for (int cold = 0; cold <= (M == 1 ? 1 : 0); cold++) {
              std::string name = std::string("sdq/") + sdq_bench_kernel_name(kernel) + "/" +
                                 sdq_bench_isa_name(isa) + "/" + ShapeName(M, s.K, s.N);
              if (quantized)
                name += "/bits=" + std::to_string(bits);
              if (M == 1)
                name += cold ? "/cold" : "/hot";
              if (!supported) {
                std::string reason = std::string("skipped: ") + why;
                benchmark::RegisterBenchmark(name.c_str(), [reason](benchmark::State &st) {
                  st.SkipWithError(reason.c_str());
                  for (auto _ : st) {
                  }
                });
                continue;
              }
              // The scalar reference is a correctness baseline, far too slow
              // to time on large token counts.
              if (isa == 0 && M > 32) {
                benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State &st) {
                  st.SkipWithError("skipped: scalar reference is only timed for M <= 32");
                  for (auto _ : st) {
                  }
                });
                continue;
              }
              const int N = s.N, K = s.K, b = bits;
              const bool c = cold != 0;
              benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &st) {
                RunSdq(st, kernel, isa, M, N, K, b, c);
              })->Unit(benchmark::kMicrosecond)->UseRealTime();
            }
          }
        }
      }
    }
  }
}

void RunYardstick(benchmark::State &state, const YardstickInfo &y, int M, int N, int K) {
  char err[512];
  void *ctx = y.create(M, N, K, err, sizeof err);
  if (!ctx) {
    state.SkipWithError(err);
    return;
  }
  y.run(ctx);
  for (auto _ : state)
    y.run(ctx);
  const double peak = y.integer ? g_peaks.int8_gops : g_peaks.fp32_gflops;
  SetRateCounters(state, 2.0 * M * N * K, y.weight_bytes_per_element * N * K, peak);
  const char *impl = y.describe ? y.describe(ctx) : nullptr;
  state.SetLabel(impl && *impl ? std::string(y.name) + " " + impl : std::string(y.name));
  y.destroy(ctx);
}

void RegisterYardsticks() {
  for (const YardstickInfo &y : Yardsticks()) {
    for (const Shape &s : kShapes) {
      for (int M : kTokens) {
        if (y.only_M && M != y.only_M)
          continue;
        std::string name = std::string("yardstick/") + y.name + "/" + ShapeName(M, s.K, s.N);
        if (!y.available) {
          std::string reason = std::string("skipped: ") + y.why_unavailable;
          benchmark::RegisterBenchmark(name.c_str(), [reason](benchmark::State &st) {
            st.SkipWithError(reason.c_str());
            for (auto _ : st) {
            }
          });
          continue;
        }
        const int N = s.N, K = s.K;
        const YardstickInfo *info = &y;
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &st) {
          RunYardstick(st, *info, M, N, K);
        })->Unit(benchmark::kMicrosecond)->UseRealTime();
      }
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 2;

  std::fprintf(stderr, "measuring machine peaks (a few seconds)...\n");
  sdq_bench_measure_peaks(&g_peaks);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", g_peaks.clock_ghz);
  benchmark::AddCustomContext("sdq_clock_ghz", buf);
  std::snprintf(buf, sizeof buf, "%.1f", g_peaks.fp32_gflops);
  benchmark::AddCustomContext("sdq_peak_fp32_gflops", buf);
  benchmark::AddCustomContext("sdq_peak_fp32_isa", g_peaks.fp32_isa);
  std::snprintf(buf, sizeof buf, "%.1f", g_peaks.int8_gops);
  benchmark::AddCustomContext("sdq_peak_int8_gops", buf);
  benchmark::AddCustomContext("sdq_peak_int8_isa", g_peaks.int8_isa);
  std::snprintf(buf, sizeof buf, "%.2f", g_peaks.read_gbs);
  benchmark::AddCustomContext("sdq_read_gbs", buf);
  std::snprintf(buf, sizeof buf, "%.2f", g_peaks.triad_gbs);
  benchmark::AddCustomContext("sdq_triad_gbs", buf);
  std::snprintf(buf, sizeof buf, "%d", g_peaks.threads);
  benchmark::AddCustomContext("sdq_threads", buf);
  benchmark::AddCustomContext("sdq_compiler", __VERSION__);
  benchmark::AddCustomContext("sdq_openblas_core", YardstickBlasCore());
  benchmark::AddCustomContext("sdq_onednn_max_isa", YardstickDnnlMaxIsa());

  RegisterSdq();
  RegisterYardsticks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
