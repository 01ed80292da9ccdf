/* files.h - small file helpers of the train layer: safe file and JSON writes and
 * folder creation.
 * Write rule: "-" and /dev/stdout are stdout, devices and FIFOs are written in
 * place, symlinks are followed, regular files are replaced by temp + rename. */
#ifndef SDQ_TRAIN_FILES_H
#define SDQ_TRAIN_FILES_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes len bytes of data to path. Rule: "-", /dev/stdout, /dev/stderr and
 * /dev/fd/N write to that descriptor; an existing character device or FIFO
 * is written in place; a symbolic link is followed and its target replaced;
 * any other existing non-regular file (a directory, a socket) is rejected;
 * a regular or new file is replaced atomically (a temporary file next to
 * it, fsync, rename), so readers see the old or the complete new file.
 * Returns 0 or -1 with a message naming the path. */
int sdq_write_file_bytes(const char *path, const void *data, size_t len,
                         char *err, size_t errlen);

/* Writes value as indented JSON (keys in insertion order, a final newline)
 * to path by the rule of sdq_write_file_bytes. Returns 0 or -1 with a
 * message naming the path. */
int sdq_json_write_file(const char *path, const json_t *value, char *err,
                          size_t errlen);

/* Removes the temporary files that an atomic write of target (by
 * sdq_write_file_bytes or sdq_safetensors_write) leaves behind when its
 * process is killed: the entries of target's folder named
 * "<basename>.tmp.<PID>.<N>" whose PID is no running process (kill(PID, 0)
 * fails with ESRCH). Files of a live process, this one included, are kept;
 * so is a stale file whose PID has since been reused by another process.
 * Appends the removed names, separated by ", ", to removed (NUL-terminated,
 * cut at removedlen) and adds their sizes to *bytes (both may be NULL).
 * Returns the number of files removed, or -1 with a message naming the
 * folder or the file when the folder cannot be read or a file cannot be
 * removed. A missing folder gives 0. */
int sdq_remove_stale_temps(const char *target, char *removed, size_t removedlen,
                           unsigned long long *bytes, char *err, size_t errlen);

/* Output pre-checks, run before the work that ends in writing, so a bad
 * path fails at once instead of after the work. option names the option
 * that chose the path (e.g. "--out"); messages ask the user to change it.
 *
 * sdq_check_output_file: path must not exist, or be a regular file after
 * symbolic links (the writers replace it). A directory, device, FIFO or
 * socket, and a symbolic link to nowhere, are refused.
 * sdq_check_output_folder: path must be a folder sdq can write in, or not
 * exist while its nearest existing ancestor is such a folder.
 * Both return 0, or -1 with a message naming the path. */
int sdq_check_output_file(const char *path, const char *option, char *err, size_t errlen);
int sdq_check_output_folder(const char *path, const char *option, char *err, size_t errlen);

/* Creates folder path and its missing parents (mode 0777 minus umask).
 * Succeeds when it already exists. Returns 0 or -1 with a message. */
int sdq_mkdir_p(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_FILES_H */
