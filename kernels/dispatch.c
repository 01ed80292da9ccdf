/* dispatch.c - builds one kernel table per supported variant, selects the
 * active one (SDQ_ISA or the best the CPU runs) and forwards the convenience
 * entry points to it. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalar/fp32_scalar.h"
#include "scalar/quant_scalar.h"

static const char *const isa_names[SDQ_ISA_COUNT] = {
    [SDQ_ISA_SCALAR] = "scalar",         [SDQ_ISA_AVX2] = "avx2",
    [SDQ_ISA_AVX512] = "avx512",         [SDQ_ISA_AVX512VNNI] = "avx512vnni",
    [SDQ_ISA_AMX] = "amx",               [SDQ_ISA_NEON] = "neon",
    [SDQ_ISA_NEONDOT] = "neondot",
};

static const char *const kernel_names[SDQ_K_COUNT] = {
    [SDQ_K_SGEMM_NT] = "sgemm_nt",
    [SDQ_K_SGEMM_NN] = "sgemm_nn",
    [SDQ_K_SGEMM_TN] = "sgemm_tn",
    [SDQ_K_QGEMM_F32_NT] = "qgemm_f32_nt",
    [SDQ_K_QGEMM_F32_NN] = "qgemm_f32_nn",
    [SDQ_K_QGEMM_I8_NT] = "qgemm_i8_nt",
    [SDQ_K_QUANTIZE_ROWS] = "quantize_rows",
    [SDQ_K_FAKE_QUANT] = "fake_quant",
    [SDQ_K_FAKE_QUANT_BACKWARD] = "fake_quant_backward",
    [SDQ_K_EXP] = "exp",
    [SDQ_K_GELU_FORWARD] = "gelu_forward",
    [SDQ_K_GELU_BACKWARD] = "gelu_backward",
    [SDQ_K_SOFTMAX] = "softmax_rows",
    [SDQ_K_LAYERNORM_FORWARD] = "layernorm_forward",
    [SDQ_K_LAYERNORM_BACKWARD] = "layernorm_backward",
};

const char *sdq_isa_name(sdq_isa isa) {
  if ((int)isa < 0 || isa >= SDQ_ISA_COUNT)
    return "unknown";
  return isa_names[isa];
}

int sdq_isa_parse(const char *name, sdq_isa *isa) {
  if (name == NULL)
    return -1;
  for (int i = 0; i < SDQ_ISA_COUNT; i++) {
    if (strcmp(name, isa_names[i]) == 0) {
      *isa = (sdq_isa)i;
      return 0;
    }
  }
  return -1;
}

const char *sdq_kernel_name(sdq_kernel_id id) {
  if ((int)id < 0 || id >= SDQ_K_COUNT)
    return "unknown";
  return kernel_names[id];
}

/* ------------------------------------------------------ building the tables */

void sdq_register_scalar(sdq_kernel_table *t) {
  t->sgemm_nt = sdq_sgemm_nt_scalar;
  t->sgemm_nn = sdq_sgemm_nn_scalar;
  t->sgemm_tn = sdq_sgemm_tn_scalar;
  t->qgemm_f32_nt = sdq_qgemm_f32_nt_scalar;
  t->qgemm_f32_nn = sdq_qgemm_f32_nn_scalar;
  t->qgemm_i8_nt = sdq_qgemm_i8_nt_scalar;
  t->quantize_rows = sdq_quantize_rows_scalar;
  t->fake_quant = sdq_fake_quant_scalar;
  t->fake_quant_backward = sdq_fake_quant_backward_scalar;
  t->vexp = sdq_vexp_scalar;
  t->gelu_forward = sdq_gelu_forward_scalar;
  t->gelu_backward = sdq_gelu_backward_scalar;
  t->softmax_rows = sdq_softmax_rows_scalar;
  t->layernorm_forward = sdq_layernorm_forward_scalar;
  t->layernorm_backward = sdq_layernorm_backward_scalar;
  for (int k = 0; k < SDQ_K_COUNT; k++)
    t->impl[k] = SDQ_ISA_SCALAR;
}

/* Registers the kernels variant isa itself implements on top of t. Variants
 * not compiled into this build register nothing (they are never supported,
 * so their tables are never handed out). */
static void register_own(sdq_isa isa, sdq_kernel_table *t) {
  switch (isa) {
  case SDQ_ISA_SCALAR:
    sdq_register_scalar(t);
    break;
#ifdef HAVE_AVX2
  case SDQ_ISA_AVX2:
    sdq_register_gemm_avx2(t);
    sdq_register_vecmath_avx2(t);
    sdq_register_quant_avx2(t);
    break;
#endif
#ifdef HAVE_AVX512
  case SDQ_ISA_AVX512:
    sdq_register_gemm_avx512(t);
    sdq_register_vecmath_avx512(t);
    sdq_register_quant_avx512(t);
    break;
#endif
#ifdef HAVE_AVX512VNNI
  case SDQ_ISA_AVX512VNNI:
    sdq_register_quant_avx512vnni(t);
    break;
#endif
#ifdef HAVE_AMX
  case SDQ_ISA_AMX:
    sdq_register_quant_amx(t);
    break;
#endif
#ifdef HAVE_NEON
  case SDQ_ISA_NEON:
    sdq_register_neon(t);
    break;
#endif
#ifdef HAVE_NEONDOT
  case SDQ_ISA_NEONDOT:
    sdq_register_neondot(t);
    break;
#endif
  default:
    break;
  }
}

/* The chain of variants a table for isa is built from, lowest first
 * (see internal.h). Returns the chain length. */
static int variant_chain(sdq_isa isa, sdq_isa chain[SDQ_ISA_COUNT]) {
  static const sdq_isa x86[] = {SDQ_ISA_SCALAR, SDQ_ISA_AVX2, SDQ_ISA_AVX512,
                                SDQ_ISA_AVX512VNNI, SDQ_ISA_AMX};
  static const sdq_isa arm[] = {SDQ_ISA_SCALAR, SDQ_ISA_NEON, SDQ_ISA_NEONDOT};
  const sdq_isa *order = x86;
  int count = (int)(sizeof x86 / sizeof x86[0]);
  if (isa == SDQ_ISA_NEON || isa == SDQ_ISA_NEONDOT) {
    order = arm;
    count = (int)(sizeof arm / sizeof arm[0]);
  }
  int n = 0;
  for (int i = 0; i < count; i++) {
    chain[n++] = order[i];
    if (order[i] == isa)
      break;
  }
  return n;
}

static sdq_kernel_table tables[SDQ_ISA_COUNT];
static int table_ready[SDQ_ISA_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Builds the table of every supported variant; runs once. */
static void build_tables(void) {
  for (int v = 0; v < SDQ_ISA_COUNT; v++) {
    if (!sdq_isa_supported((sdq_isa)v))
      continue;
    sdq_isa chain[SDQ_ISA_COUNT];
    int n = variant_chain((sdq_isa)v, chain);
    sdq_kernel_table *t = &tables[v];
    for (int i = 0; i < n; i++)
      register_own(chain[i], t);
    t->isa = (sdq_isa)v;
    table_ready[v] = 1;
  }
}

const sdq_kernel_table *sdq_kernel_table_for(sdq_isa isa) {
  if ((int)isa < 0 || isa >= SDQ_ISA_COUNT)
    return NULL;
  pthread_once(&tables_once, build_tables);
  return table_ready[isa] ? &tables[isa] : NULL;
}

/* ------------------------------------------------------ the active table */

static _Atomic(const sdq_kernel_table *) active_table;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status;
static char init_message[512];

/* Writes the space-separated names of the supported variants into buf. */
static void list_supported(char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int v = 0; v < SDQ_ISA_COUNT; v++) {
    if (!sdq_isa_supported((sdq_isa)v))
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", isa_names[v]);
    if (n < 0 || (size_t)n >= len - used)
      return;
    used += (size_t)n;
  }
}

/* Writes why isa (not supported) cannot be used into err; what names the
 * request, e.g. "SDQ_ISA". */
static void explain_unsupported(sdq_isa isa, const char *what, char *err,
                                size_t errlen) {
  char supported[128];
  list_supported(supported, sizeof supported);
  int arm_variant = isa == SDQ_ISA_NEON || isa == SDQ_ISA_NEONDOT;
#if defined(__aarch64__)
  int foreign = !arm_variant && isa != SDQ_ISA_SCALAR;
#else
  int foreign = arm_variant;
#endif
  const char *reason = "this CPU (or its OS) does not support";
  if (!sdq_isa_built(isa) && !foreign)
    reason = "this build does not contain (configure found no compiler "
             "flags for)";
  snprintf(err, errlen, "%s=%s: %s %s; supported here: %s", what,
           isa_names[isa], reason, isa_names[isa], supported);
}

static void init_active(void) {
  const char *env = getenv("SDQ_ISA");
  sdq_isa isa;

  if (env == NULL || env[0] == '\0') {
    isa = sdq_isa_best();
  } else if (sdq_isa_parse(env, &isa) != 0) {
    char valid[128] = "";
    size_t used = 0;
    for (int v = 0; v < SDQ_ISA_COUNT; v++)
      used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s",
                               v ? "|" : "", isa_names[v]);
    snprintf(init_message, sizeof init_message,
             "SDQ_ISA=\"%s\": unknown kernel variant; valid names are %s", env,
             valid);
    init_status = -1;
    return;
  } else if (!sdq_isa_supported(isa)) {
    explain_unsupported(isa, "SDQ_ISA", init_message, sizeof init_message);
    init_status = -1;
    return;
  }

  atomic_store(&active_table, sdq_kernel_table_for(isa));
  init_status = 0;
}

int sdq_kernels_init(char *err, size_t errlen) {
  pthread_once(&init_once, init_active);
  if (init_status != 0 && err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", init_message);
  return init_status;
}

const sdq_kernel_table *sdq_kernels(void) {
  const sdq_kernel_table *t = atomic_load(&active_table);
  if (t != NULL)
    return t;
  char err[512];
  if (sdq_kernels_init(err, sizeof err) != 0) {
    fprintf(stderr, "sdq: %s\n", err);
    abort();
  }
  return atomic_load(&active_table);
}

int sdq_kernels_select(sdq_isa isa, char *err, size_t errlen) {
  if ((int)isa < 0 || isa >= SDQ_ISA_COUNT) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "kernel variant %d does not exist", (int)isa);
    return -1;
  }
  const sdq_kernel_table *t = sdq_kernel_table_for(isa);
  if (t == NULL) {
    if (err != NULL && errlen > 0)
      explain_unsupported(isa, "variant", err, errlen);
    return -1;
  }
  /* Mark initialization as done so a later sdq_kernels_init does not
   * replace the selection with SDQ_ISA. */
  pthread_once(&init_once, init_active);
  atomic_store(&active_table, t);
  return 0;
}

/* ---------------------------------------------- convenience entry points */

void sdq_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
  sdq_kernels()->sgemm_nt(M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sdq_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
  sdq_kernels()->sgemm_nn(M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sdq_sgemm_tn(int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
  sdq_kernels()->sgemm_tn(M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void sdq_qgemm_f32_nt(int M, const float *A, int lda, const sdq_qmatrix *W,
                      float beta, float *C, int ldc) {
  sdq_kernels()->qgemm_f32_nt(M, A, lda, W, beta, C, ldc);
}

void sdq_qgemm_f32_nn(int M, const float *A, int lda, const sdq_qmatrix *W,
                      float beta, float *C, int ldc) {
  sdq_kernels()->qgemm_f32_nn(M, A, lda, W, beta, C, ldc);
}

int sdq_qgemm_i8_nt(int M, const float *A, int lda, int act_bits,
                    const sdq_qmatrix *W, float beta, float *C, int ldc) {
  return sdq_kernels()->qgemm_i8_nt(M, A, lda, act_bits, W, beta, C, ldc);
}

int sdq_quantize_rows(const float *x, int rows, int cols, int ld, int bits,
                      int8_t *q, float *scale) {
  return sdq_kernels()->quantize_rows(x, rows, cols, ld, bits, q, scale);
}

int sdq_fake_quant_rows(const float *x, int rows, int cols, int ld, int bits,
                        const float *scale_in, float *y, float *scale_out) {
  return sdq_kernels()->fake_quant(x, rows, cols, ld, bits, scale_in, y,
                                   scale_out);
}

void sdq_fake_quant_backward(const float *x, const float *dy, int rows,
                             int cols, int ld, int bits, const float *scale,
                             float *dx) {
  sdq_kernels()->fake_quant_backward(x, dy, rows, cols, ld, bits, scale, dx);
}

void sdq_vexp(const float *x, float *y, size_t n) {
  sdq_kernels()->vexp(x, y, n);
}

void sdq_gelu_forward(const float *x, float *y, size_t n) {
  sdq_kernels()->gelu_forward(x, y, n);
}

void sdq_gelu_backward(const float *x, const float *dy, float *dx, size_t n) {
  sdq_kernels()->gelu_backward(x, dy, dx, n);
}

void sdq_softmax_rows(const float *x, float *y, int rows, int cols, int ld) {
  sdq_kernels()->softmax_rows(x, y, rows, cols, ld);
}

void sdq_layernorm_forward(const float *x, const float *gamma,
                           const float *beta, float *y, float *mean,
                           float *rstd, int rows, int C, float eps) {
  sdq_kernels()->layernorm_forward(x, gamma, beta, y, mean, rstd, rows, C, eps);
}

void sdq_layernorm_backward(const float *dy, const float *x, const float *gamma,
                            const float *mean, const float *rstd, float *dx,
                            float *dgamma, float *dbeta, int rows, int C) {
  sdq_kernels()->layernorm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta,
                                    rows, C);
}
