// yardsticks.cc - OpenBLAS and oneDNN GEMMs on the benchmark shapes.
#include "config.h"

#include "bench/yardsticks.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "bench/shim.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

void FillRandom(float *p, std::size_t n, unsigned seed) {
  unsigned s = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<float>(s >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
  }
}

#ifdef HAVE_OPENBLAS
// The three fp32 layouts of the GPT-2 forward and backward, as sdq names them.
enum class Layout { kNT, kNN, kTN };

struct BlasCtx {
  Layout layout;
  int M, N, K;
  std::vector<float> a, b, c;
};

template <Layout L>
void *BlasCreate(int M, int N, int K, char *err, std::size_t len) {
  try {
    auto *ctx = new BlasCtx{L, M, N, K, {}, {}, {}};
    // nt: X[M,K] W[N,K] -> Y[M,N]; nn: dY[M,N] W[N,K] -> dX[M,K];
    // tn: dY[M,N]^T X[M,K] -> dW[N,K].
    ctx->a.resize(static_cast<std::size_t>(M) * (L == Layout::kNT ? K : N));
    ctx->b.resize(static_cast<std::size_t>(L == Layout::kTN ? M : N) * K);
    ctx->c.resize(static_cast<std::size_t>(L == Layout::kNT ? M : (L == Layout::kNN ? M : N)) *
                  (L == Layout::kNT ? N : K));
    FillRandom(ctx->a.data(), ctx->a.size(), 1);
    FillRandom(ctx->b.data(), ctx->b.size(), 2);
    return ctx;
  } catch (const std::bad_alloc &) {
    std::snprintf(err, len, "out of memory");
    return nullptr;
  }
}

void BlasRun(void *p) {
  auto *x = static_cast<BlasCtx *>(p);
  const int M = x->M, N = x->N, K = x->K;
  switch (x->layout) {
  case Layout::kNT:
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x->a.data(), K,
                x->b.data(), K, 0.0f, x->c.data(), N);
    break;
  case Layout::kNN:
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, x->a.data(), N,
                x->b.data(), K, 0.0f, x->c.data(), K);
    break;
  case Layout::kTN:
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, x->a.data(), N,
                x->b.data(), K, 0.0f, x->c.data(), K);
    break;
  }
}

void BlasDestroy(void *p) { delete static_cast<BlasCtx *>(p); }

// Cold fp32 GEMV, the decode step y[N] = W[N,K] x[K]: enough copies of W to
// overflow the last-level cache twice, one copy per call in turn, so every
// call streams its weights from DRAM.
struct GemvCtx {
  int N, K, copies, next;
  std::vector<float> w, x, y;
};

void *GemvColdCreate(int M, int N, int K, char *err, std::size_t len) {
  if (M != 1) {
    std::snprintf(err, len, "the GEMV yardstick is defined for M = 1 only");
    return nullptr;
  }
  const double bytes = 4.0 * N * K;
  int copies = static_cast<int>(2.0 * sdq_bench_llc_bytes() / bytes) + 1;
  if (copies < 2)
    copies = 2;
  try {
    auto *ctx = new GemvCtx{N, K, copies, 0, {}, {}, {}};
    ctx->w.resize(static_cast<std::size_t>(copies) * N * K);
    ctx->x.resize(static_cast<std::size_t>(K));
    ctx->y.resize(static_cast<std::size_t>(N));
    FillRandom(ctx->w.data(), ctx->w.size(), 3);
    FillRandom(ctx->x.data(), ctx->x.size(), 4);
    return ctx;
  } catch (const std::bad_alloc &) {
    std::snprintf(err, len, "out of memory for %d copies of a %d x %d matrix", copies, N, K);
    return nullptr;
  }
}

void GemvColdRun(void *p) {
  auto *x = static_cast<GemvCtx *>(p);
  const float *w = x->w.data() + static_cast<std::size_t>(x->next) * x->N * x->K;
  x->next = (x->next + 1) % x->copies;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, x->N, x->K, 1.0f, w, x->K, x->x.data(), 1, 0.0f,
              x->y.data(), 1);
}

void GemvColdDestroy(void *p) { delete static_cast<GemvCtx *>(p); }
#endif

#ifdef HAVE_DNNL
// oneDNN matmul Y[M,N] = X[M,K] * W^T with the weights reordered once into
// the layout the library prefers (format_tag::any), as inference code does.
struct DnnlCtx {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::matmul prim;
  dnnl::memory src, weights, dst;
  std::string impl;
};

template <bool kInt8>
void *DnnlCreate(int M, int N, int K, char *err, std::size_t len) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  try {
    auto *ctx = new DnnlCtx;
    const dt in_type = kInt8 ? dt::s8 : dt::f32;
    const dt out_type = kInt8 ? dt::s32 : dt::f32;
    dnnl::memory::desc src_md({M, K}, in_type, tag::ab);
    dnnl::memory::desc plain_w_md({K, N}, in_type, tag::ba); // W stored [N, K]
    dnnl::memory::desc any_w_md({K, N}, in_type, tag::any);
    dnnl::memory::desc dst_md({M, N}, out_type, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_w_md, dst_md), ctx->engine);
    ctx->prim = dnnl::matmul(pd);
    ctx->impl = pd.impl_info_str();
    ctx->src = dnnl::memory(src_md, ctx->engine);
    ctx->dst = dnnl::memory(dst_md, ctx->engine);
    dnnl::memory plain_w(plain_w_md, ctx->engine);
    ctx->weights = dnnl::memory(pd.weights_desc(), ctx->engine);

    const std::size_t nsrc = static_cast<std::size_t>(M) * K, nw = static_cast<std::size_t>(N) * K;
    if (kInt8) {
      auto *s = static_cast<signed char *>(ctx->src.get_data_handle());
      auto *w = static_cast<signed char *>(plain_w.get_data_handle());
      for (std::size_t i = 0; i < nsrc; i++)
        s[i] = static_cast<signed char>(static_cast<int>(i * 7 % 255) - 127);
      for (std::size_t i = 0; i < nw; i++)
        w[i] = static_cast<signed char>(static_cast<int>(i * 13 % 255) - 127);
    } else {
      FillRandom(static_cast<float *>(ctx->src.get_data_handle()), nsrc, 1);
      FillRandom(static_cast<float *>(plain_w.get_data_handle()), nw, 2);
    }
    dnnl::reorder(plain_w, ctx->weights).execute(ctx->stream, plain_w, ctx->weights);
    ctx->stream.wait();
    return ctx;
  } catch (const std::exception &e) {
    std::snprintf(err, len, "oneDNN setup failed: %s", e.what());
    return nullptr;
  }
}

void DnnlRun(void *p) {
  auto *x = static_cast<DnnlCtx *>(p);
  x->prim.execute(x->stream, {{DNNL_ARG_SRC, x->src},
                              {DNNL_ARG_WEIGHTS, x->weights},
                              {DNNL_ARG_DST, x->dst}});
  x->stream.wait();
}

void DnnlDestroy(void *p) { delete static_cast<DnnlCtx *>(p); }

const char *DnnlDescribe(void *p) { return static_cast<DnnlCtx *>(p)->impl.c_str(); }
#endif

} // namespace

const std::vector<YardstickInfo> &Yardsticks() {
  static const std::vector<YardstickInfo> all = {
#ifdef HAVE_OPENBLAS
      {"openblas_sgemm_nt", true, "", false, 4.0, BlasCreate<Layout::kNT>, BlasRun, BlasDestroy},
      {"openblas_sgemm_nn", true, "", false, 4.0, BlasCreate<Layout::kNN>, BlasRun, BlasDestroy},
      {"openblas_sgemm_tn", true, "", false, 4.0, BlasCreate<Layout::kTN>, BlasRun, BlasDestroy},
      {"openblas_sgemv_cold", true, "", false, 4.0, GemvColdCreate, GemvColdRun, GemvColdDestroy,
       1},
#else
      {"openblas_sgemm_nt", false, "OpenBLAS was not found at configure time", false, 4.0,
       nullptr, nullptr, nullptr},
#endif
#ifdef HAVE_DNNL
      {"onednn_f32_nt", true, "", false, 4.0, DnnlCreate<false>, DnnlRun, DnnlDestroy, 0,
       DnnlDescribe},
      {"onednn_s8_nt", true, "", true, 1.0, DnnlCreate<true>, DnnlRun, DnnlDestroy, 0,
       DnnlDescribe},
#else
      {"onednn_f32_nt", false, "oneDNN was not found at configure time", false, 4.0, nullptr,
       nullptr, nullptr},
      {"onednn_s8_nt", false, "oneDNN was not found at configure time", true, 1.0, nullptr,
       nullptr, nullptr},
#endif
  };
  return all;
}

const char *YardstickBlasCore() {
#ifdef HAVE_OPENBLAS
  return openblas_get_corename();
#else
  return "";
#endif
}

const char *YardstickDnnlMaxIsa() {
  const char *isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  return isa ? isa : "";
}
