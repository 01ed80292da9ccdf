/* suite_stage.c - stage-done markers of 'sdq suite', so that a second run
 * resumes after the last finished stage. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/suite.h"

static void marker_path(char *out, size_t len, const char *work_dir, const char *name) {
  snprintf(out, len, "%s/stage-%s.json", work_dir, name);
}

json_t *sdq_stage_load(const char *work_dir, const char *name,
                       const json_t *options, double *seconds) {
  char path[4096];
  marker_path(path, sizeof path, work_dir, name);

  json_error_t jerr;
  json_t *marker = json_load_file(path, 0, &jerr);
  if (!marker)
    return NULL;

  json_t *result = NULL;
  if (json_equal(json_object_get(marker, "options"), (json_t *)options) &&
      json_is_object(json_object_get(marker, "result"))) {
    result = json_incref(json_object_get(marker, "result"));
    if (seconds)
      *seconds = json_number_value(json_object_get(marker, "seconds"));
  }
  json_decref(marker);
  return result;
}

int sdq_stage_save(const char *work_dir, const char *name,
                   const json_t *options, const json_t *result,
                   double seconds, char *err, size_t errlen) {
  char path[4096];
  marker_path(path, sizeof path, work_dir, name);

  json_t *marker = json_pack("{s:s, s:O, s:O, s:f}", "stage", name, "options", options,
                             "result", result,
                             "seconds", seconds);
  if (!marker) {
    snprintf(err, errlen, "%s: cannot build the stage marker (out of memory?)", path);
    return -1;
  }
  int rc = sdq_json_write_file(path, marker, err, errlen);
  json_decref(marker);
  return rc;
}
