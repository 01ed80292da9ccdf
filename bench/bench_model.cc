// bench_model.cc - Google Benchmark programs for the sdq model layer: the
// GPT-2 tokenizer on one core, and GPT-2 124M forward, forward+backward
// (LoRA rank 8, frozen base) and KV-cache generation at fp32, 8 and 4 bits.
//
// Counters:
//   MB_per_s     tokenizer input bytes per second (10^6 bytes)
//   tokens_per_s tokens processed (forward, training, prefill) or generated
//                (decode) per second of wall time
//   per_cpu_s    the same rate per second of process CPU time (all threads):
//                on a shared, loaded machine it moves less than wall time
//   peak_rss_MiB peak resident memory of the process so far
// Run it through `make bench-run`, which writes bench/results-model.json.
// The tokenizer corpus is the contexts of the SQuAD json named by
// SDQ_BENCH_SQUAD, by default the dev set beside the source tree. When that
// file is missing, the corpus is generated text.
#include "config.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/model_shim.h"

namespace {

const int kLoraRank = 8;
const int kB = 4, kT = 256;
const int kPrompt = 256, kNew = 32;
const int kBits[] = {32, 8, 4};

// Sets the per-CPU-second rate of `work` units per iteration, from the CPU
// seconds cpu0 read before the loop, and the peak RSS.
void AddCpuRateAndRss(benchmark::State &state, double work, double cpu0) {
  const double cpu = sdq_mbench_cpu_seconds() - cpu0;
  if (cpu > 0)
    state.counters["per_cpu_s"] = work * static_cast<double>(state.iterations()) / cpu;
  state.counters["peak_rss_MiB"] = sdq_mbench_peak_rss_mib();
}

void BM_TokenizerEncode(benchmark::State &state) {
  char err[512];
  const char *squad = std::getenv("SDQ_BENCH_SQUAD");
  const std::string default_squad =
      std::string(SDQ_BENCH_SRCDIR) + "/../shared/data/squad/dev-v1.1.json";
  int from_squad = 0;
  sdq_mbench_text *t = sdq_mbench_text_new(nullptr, squad ? squad : default_squad.c_str(), 4u << 20,
                                           &from_squad, err, sizeof err);
  if (!t) {
    state.SkipWithError(err);
    return;
  }
  long tokens = 0;
  const double cpu0 = sdq_mbench_cpu_seconds();
  for (auto _ : state) {
    tokens = sdq_mbench_encode(t, err, sizeof err);
    if (tokens < 0) {
      state.SkipWithError(err);
      break;
    }
  }
  const double bytes = static_cast<double>(sdq_mbench_text_bytes(t));
  state.counters["MB_per_s"] =
      benchmark::Counter(bytes * 1e-6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
  AddCpuRateAndRss(state, bytes * 1e-6, cpu0); // per_cpu_s counts MB here
  state.counters["corpus_MB"] = bytes * 1e-6;
  state.SetLabel(from_squad ? "SQuAD dev contexts" : "generated text");
  sdq_mbench_text_free(t);
}

// Sets up the shared model at bits and the batch; false (and the benchmark
// skipped) on error.
bool Prepare(benchmark::State &state, int bits, int loss_rows) {
  char err[512];
  if (sdq_mbench_model_init(kLoraRank, err, sizeof err) != 0 ||
      sdq_mbench_set_bits(bits, err, sizeof err) != 0 ||
      sdq_mbench_batch(kB, kT, loss_rows, err, sizeof err) != 0) {
    state.SkipWithError(err);
    return false;
  }
  return true;
}

void BM_Forward(benchmark::State &state, int bits, int loss_rows) {
  char err[512];
  if (!Prepare(state, bits, loss_rows))
    return;
  const double cpu0 = sdq_mbench_cpu_seconds();
  for (auto _ : state)
    if (sdq_mbench_forward(err, sizeof err) != 0) {
      state.SkipWithError(err);
      break;
    }
  state.counters["tokens_per_s"] =
      benchmark::Counter(kB * kT, benchmark::Counter::kIsIterationInvariantRate);
  AddCpuRateAndRss(state, kB * kT, cpu0);
}

void BM_ForwardBackward(benchmark::State &state, int bits, int loss_rows) {
  char err[512];
  if (!Prepare(state, bits, loss_rows))
    return;
  const double cpu0 = sdq_mbench_cpu_seconds();
  for (auto _ : state)
    if (sdq_mbench_forward_backward(err, sizeof err) != 0) {
      state.SkipWithError(err);
      break;
    }
  state.counters["tokens_per_s"] =
      benchmark::Counter(kB * kT, benchmark::Counter::kIsIterationInvariantRate);
  AddCpuRateAndRss(state, kB * kT, cpu0);
}

// Prefill: the prompt as one chunk plus the first token.
void BM_Prefill(benchmark::State &state, int bits) {
  char err[512];
  if (!Prepare(state, bits, 0))
    return;
  const double cpu0 = sdq_mbench_cpu_seconds();
  for (auto _ : state)
    if (sdq_mbench_generate(kPrompt, 1, err, sizeof err) < 0) {
      state.SkipWithError(err);
      break;
    }
  state.counters["tokens_per_s"] =
      benchmark::Counter(kPrompt, benchmark::Counter::kIsIterationInvariantRate);
  AddCpuRateAndRss(state, kPrompt, cpu0);
}

// Decode: the time of kNew + 1 generated tokens minus that of 1, so the
// prompt is not counted; manual time.
void BM_Decode(benchmark::State &state, int bits) {
  char err[512];
  if (!Prepare(state, bits, 0))
    return;
  using Clock = std::chrono::steady_clock;
  double cpu_decode = 0.0;
  for (auto _ : state) {
    const double c0 = sdq_mbench_cpu_seconds();
    auto t0 = Clock::now();
    const int first = sdq_mbench_generate(kPrompt, 1, err, sizeof err);
    auto t1 = Clock::now();
    const double c1 = sdq_mbench_cpu_seconds();
    const int generated = first < 0 ? -1 : sdq_mbench_generate(kPrompt, kNew + 1, err, sizeof err);
    auto t2 = Clock::now();
    cpu_decode += (sdq_mbench_cpu_seconds() - c1) - (c1 - c0);
    if (generated < 0) {
      state.SkipWithError(err);
      break;
    }
    double decode = std::chrono::duration<double>((t2 - t1) - (t1 - t0)).count();
    state.SetIterationTime(decode > 1e-9 ? decode : 1e-9);
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(kNew, benchmark::Counter::kIsIterationInvariantRate);
  if (cpu_decode > 0)
    state.counters["per_cpu_s"] = kNew * static_cast<double>(state.iterations()) / cpu_decode;
  state.counters["peak_rss_MiB"] = sdq_mbench_peak_rss_mib();
}

void Register() {
  benchmark::RegisterBenchmark("model/tokenizer_encode", BM_TokenizerEncode)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  const std::string shape = "/B=" + std::to_string(kB) + "/T=" + std::to_string(kT);
  for (int bits : kBits) {
    const std::string b = "/bits=" + std::to_string(bits);
    // Training shape: the loss (and the LM head) on the last 16 positions of
    // each row, as SQuAD answers; and the loss on every position.
    for (int loss_rows : {16, 0}) {
      const std::string l = loss_rows ? "/loss=last16" : "/loss=all";
      benchmark::RegisterBenchmark(("model/forward" + b + shape + l).c_str(), BM_Forward, bits,
                                   loss_rows)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(2);
      benchmark::RegisterBenchmark(("model/fwd_bwd" + b + shape + l).c_str(), BM_ForwardBackward,
                                   bits, loss_rows)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(2);
    }
    benchmark::RegisterBenchmark(("model/prefill" + b + "/prompt=" + std::to_string(kPrompt)).c_str(),
                                 BM_Prefill, bits)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(2);
    benchmark::RegisterBenchmark(("model/decode" + b + "/prompt=" + std::to_string(kPrompt)).c_str(),
                                 BM_Decode, bits)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime()
        ->Iterations(2);
  }
}

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 2;
  benchmark::AddCustomContext("sdq_compiler", __VERSION__);
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sdq_mbench_model_free();
  return 0;
}
