/* files.h - small file helpers of the train layer: atomic JSON writes and
 * folder creation. */
#ifndef SDQ_TRAIN_FILES_H
#define SDQ_TRAIN_FILES_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes value as indented JSON (keys in insertion order, a final newline)
 * to path.tmp.PID, fsyncs it and renames it over path, so readers see either
 * the old file or the complete new one. Returns 0 or -1 with a message
 * naming the path. */
int sdq_json_write_file(const char *path, const json_t *value, char *err,
                          size_t errlen);

/* Creates folder path and its missing parents (mode 0777 minus umask).
 * Succeeds when it already exists. Returns 0 or -1 with a message. */
int sdq_mkdir_p(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_FILES_H */
