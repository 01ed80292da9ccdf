/* suite_meta.c - run metadata of the suite's report: CPU features, kernel
 * variants, compiler, library versions and the git commit. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sleef.h>

#include "cli/suite.h"
#include "sdq_kernels.h"

#ifndef SDQ_SOURCE_DIR
#define SDQ_SOURCE_DIR "."
#endif

/* Runs `git describe` in the source tree; returns 0 and the first output
 * line in out when the tree is a git checkout. */
static int git_describe(char *out, size_t len) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd,
           "git -C '%s' describe --always --dirty --abbrev=12 2>/dev/null", SDQ_SOURCE_DIR);
  if (strchr(SDQ_SOURCE_DIR, '\''))
    return -1;
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  int ok = fgets(out, (int)len, p) != NULL;
  int status = pclose(p);
  if (!ok || status != 0)
    return -1;
  out[strcspn(out, "\r\n")] = '\0';
  return out[0] ? 0 : -1;
}

json_t *sdq_suite_metadata(void) {
  json_t *meta = json_object();
  if (!meta)
    return NULL;

  char buf[1024];
  sdq_cpu_features(buf, sizeof buf);
  json_object_set_new(meta, "cpu_features", json_string(buf));

  const sdq_kernel_table *kt = sdq_kernels();
  json_object_set_new(meta, "kernel_table", json_string(sdq_isa_name(kt->isa)));
  json_t *kernels = json_object();
  for (int id = 0; id < SDQ_K_COUNT; id++)
    json_object_set_new(kernels, sdq_kernel_name((sdq_kernel_id)id),
                        json_string(sdq_isa_name(kt->impl[id])));
  json_object_set_new(meta, "kernels", kernels);

#ifdef __VERSION__
  json_object_set_new(meta, "compiler", json_string(__VERSION__));
#else
  json_object_set_new(meta, "compiler", json_string("unknown"));
#endif

  json_t *libs = json_object();
  json_object_set_new(libs, "jansson", json_string(JANSSON_VERSION));
  char pcre2_version[64] = "unknown";
  if (pcre2_config(PCRE2_CONFIG_VERSION, pcre2_version) < 0)
    snprintf(pcre2_version, sizeof pcre2_version, "unknown");
  json_object_set_new(libs, "pcre2", json_string(pcre2_version));
  snprintf(buf, sizeof buf, "%d.%d.%d", SLEEF_VERSION_MAJOR, SLEEF_VERSION_MINOR,
           SLEEF_VERSION_PATCHLEVEL);
  json_object_set_new(libs, "sleef", json_string(buf));
  json_object_set_new(meta, "libraries", libs);

  json_object_set_new(meta, "sdq_version", json_string(PACKAGE_VERSION));
  if (git_describe(buf, sizeof buf) == 0)
    json_object_set_new(meta, "git_commit", json_string(buf));
  else
    json_object_set_new(meta, "git_commit", json_null());
  return meta;
}
