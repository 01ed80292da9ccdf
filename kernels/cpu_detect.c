/* cpu_detect.c - which kernel variants this build contains and this CPU/OS can run. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sdq_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* CPU features relevant to the kernels, detected once. Each flag is 1 only
 * when the CPU reports the instructions AND the OS saves the register state
 * they use (for AMX: AND granted this process the tile data state). */
struct cpu_features {
  int avx, fma, f16c, avx2;
  int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni;
  int amx_tile, amx_int8;
  int amx_denied; /* the CPU has AMX but the OS rejected the tile permission */
  int asimd, asimddp;
};

static struct cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
/* XCR0, the OS-enabled register state (requires OSXSAVE). Encoded as bytes
 * so no -mxsave flag is needed in this file. */
static unsigned long long read_xcr0(void) {
  unsigned int lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

/* Asks Linux for permission to use the AMX tile data state (XFEATURE 18).
 * Returns 1 when granted, and 0 on other OSes. */
static int request_amx_permission(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
  const int arch_req_xcomp_perm = 0x1023; /* ARCH_REQ_XCOMP_PERM */
  const int xfeature_xtiledata = 18;
  return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
#else
  return 0;
#endif
}

static void detect_x86(struct cpu_features *f) {
  unsigned int eax, ebx, ecx, edx;
  unsigned int max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf < 1)
    return;

  /* 1. Leaf 1: AVX, FMA, F16C and whether the OS uses XSAVE. */
  __cpuid(1, eax, ebx, ecx, edx);
  int osxsave = (ecx >> 27) & 1;
  int cpu_avx = (ecx >> 28) & 1;
  int cpu_fma = (ecx >> 12) & 1;
  int cpu_f16c = (ecx >> 29) & 1;
  if (!osxsave || !cpu_avx)
    return;

  /* 2. XCR0: YMM state needs bits 1 (SSE) and 2 (AVX); ZMM state needs
   * bits 5, 6, 7 (opmask, ZMM0-15 upper halves, ZMM16-31); AMX needs
   * bits 17 (TILECFG) and 18 (TILEDATA). */
  unsigned long long xcr0 = read_xcr0();
  int os_ymm = (xcr0 & 0x6) == 0x6;
  int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
  int os_tile = (xcr0 & 0x60000) == 0x60000;
  if (!os_ymm)
    return;
  f->avx = 1;
  f->fma = cpu_fma;
  f->f16c = cpu_f16c;

  /* 3. Leaf 7 sub-leaf 0: AVX2, AVX-512 subsets, VNNI, AMX. */
  if (max_leaf < 7)
    return;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f->avx2 = (ebx >> 5) & 1;
  if (os_zmm) {
    f->avx512f = (ebx >> 16) & 1;
    f->avx512dq = (ebx >> 17) & 1;
    f->avx512bw = (ebx >> 30) & 1;
    f->avx512vl = (ebx >> 31) & 1;
    f->avx512vnni = (ecx >> 11) & 1;
  }
  int cpu_amx_tile = (edx >> 24) & 1;
  int cpu_amx_int8 = (edx >> 25) & 1;
  if (os_tile && cpu_amx_tile && cpu_amx_int8) {
    if (request_amx_permission()) {
      f->amx_tile = 1;
      f->amx_int8 = 1;
    } else {
      f->amx_denied = 1;
    }
  }
}
#endif

#if defined(__aarch64__) && defined(__linux__)
static void detect_aarch64(struct cpu_features *f) {
  /* Bit positions from the Linux arm64 ABI (asm/hwcap.h). */
  const unsigned long hwcap_asimd = 1UL << 1;
  const unsigned long hwcap_asimddp = 1UL << 20;
  unsigned long hwcap = getauxval(AT_HWCAP);
  f->asimd = (hwcap & hwcap_asimd) != 0;
  f->asimddp = f->asimd && (hwcap & hwcap_asimddp) != 0;
}
#endif

static void detect_features(void) {
#if defined(__x86_64__) || defined(__i386__)
  detect_x86(&features);
#endif
#if defined(__aarch64__) && defined(__linux__)
  detect_aarch64(&features);
#endif
}

static const struct cpu_features *cpu(void) {
  pthread_once(&features_once, detect_features);
  return &features;
}

/* Returns 1 when the CPU/OS can run variant isa alone (ignoring its chain). */
static int cpu_runs(sdq_isa isa) {
  const struct cpu_features *f = cpu();
  int avx512 = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq;
  switch (isa) {
  case SDQ_ISA_SCALAR:
    return 1;
  case SDQ_ISA_AVX2:
    return f->avx2 && f->fma && f->f16c;
  case SDQ_ISA_AVX512:
    return avx512 && f->fma;
  case SDQ_ISA_AVX512VNNI:
    return f->avx512vnni;
  case SDQ_ISA_AMX:
    return f->amx_tile && f->amx_int8;
  case SDQ_ISA_NEON:
    return f->asimd;
  case SDQ_ISA_NEONDOT:
    return f->asimddp;
  default:
    return 0;
  }
}

int sdq_isa_built(sdq_isa isa) {
  switch (isa) {
  case SDQ_ISA_SCALAR:
    return 1;
#ifdef HAVE_AVX2
  case SDQ_ISA_AVX2:
    return 1;
#endif
#ifdef HAVE_AVX512
  case SDQ_ISA_AVX512:
    return 1;
#endif
#ifdef HAVE_AVX512VNNI
  case SDQ_ISA_AVX512VNNI:
    return 1;
#endif
#ifdef HAVE_AMX
  case SDQ_ISA_AMX:
    return 1;
#endif
#ifdef HAVE_NEON
  case SDQ_ISA_NEON:
    return 1;
#endif
#ifdef HAVE_NEONDOT
  case SDQ_ISA_NEONDOT:
    return 1;
#endif
  default:
    return 0;
  }
}

/* The variant each one builds on (see internal.h): a table for V contains
 * the lower variant's kernels, so V is usable only when that one is. */
static sdq_isa chain_parent(sdq_isa isa) {
  switch (isa) {
  case SDQ_ISA_AVX512:
    return SDQ_ISA_AVX2;
  case SDQ_ISA_AVX512VNNI:
    return SDQ_ISA_AVX512;
  case SDQ_ISA_AMX:
    return SDQ_ISA_AVX512VNNI;
  case SDQ_ISA_NEONDOT:
    return SDQ_ISA_NEON;
  default:
    return SDQ_ISA_SCALAR;
  }
}

int sdq_isa_supported(sdq_isa isa) {
  if ((int)isa < 0 || isa >= SDQ_ISA_COUNT)
    return 0;
  if (isa == SDQ_ISA_SCALAR)
    return 1;
  return sdq_isa_built(isa) && cpu_runs(isa) && sdq_isa_supported(chain_parent(isa));
}

sdq_isa sdq_isa_best(void) {
  static const sdq_isa preference[] = {SDQ_ISA_AMX,     SDQ_ISA_AVX512VNNI,
                                       SDQ_ISA_AVX512,  SDQ_ISA_AVX2,
                                       SDQ_ISA_NEONDOT, SDQ_ISA_NEON};
  for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++)
    if (sdq_isa_supported(preference[i]))
      return preference[i];
  return SDQ_ISA_SCALAR;
}

void sdq_cpu_features(char *buf, size_t len) {
  const struct cpu_features *f = cpu();
  const struct {
    int present;
    const char *name;
  } list[] = {
      {f->avx, "avx"},
      {f->fma, "fma"},
      {f->f16c, "f16c"},
      {f->avx2, "avx2"},
      {f->avx512f, "avx512f"},
      {f->avx512bw, "avx512bw"},
      {f->avx512vl, "avx512vl"},
      {f->avx512dq, "avx512dq"},
      {f->avx512vnni, "avx512vnni"},
      {f->amx_tile, "amx-tile"},
      {f->amx_int8, "amx-int8"},
      {f->amx_denied, "amx(permission-denied-by-os)"},
      {f->asimd, "asimd"},
      {f->asimddp, "asimddp"},
  };
  if (len == 0)
    return;
  buf[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
    if (!list[i].present)
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", list[i].name);
    if (n < 0 || (size_t)n >= len - used)
      return; /* truncated; buf stays NUL-terminated */
    used += (size_t)n;
  }
  if (used == 0)
    snprintf(buf, len, "(none beyond the baseline)");
}
