/* files.c - file output of the train layer and above: atomic replacement of
 * regular files, direct writes to devices, FIFOs and stdout, and folder
 * creation (see files.h). */
#include "config.h"

#include "train/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* The descriptor that path names directly: "-", /dev/stdout, /dev/stderr,
 * /dev/fd/N and /proc/self/fd/N. Such a path is written through the open
 * descriptor, so a shell redirection (also ">>") keeps its meaning. Returns
 * -1 for any other path. */
static int named_descriptor(const char *path) {
  if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0)
    return STDOUT_FILENO;
  if (strcmp(path, "/dev/stderr") == 0)
    return STDERR_FILENO;
  const char *num = NULL;
  if (strncmp(path, "/dev/fd/", 8) == 0)
    num = path + 8;
  else if (strncmp(path, "/proc/self/fd/", 14) == 0)
    num = path + 14;
  if (num == NULL || *num == '\0')
    return -1;
  char *end;
  long fd = strtol(num, &end, 10);
  return (*end == '\0' && fd >= 0 && fd <= INT_MAX) ? (int)fd : -1;
}

static const char *kind_of(mode_t mode) {
  return S_ISREG(mode)    ? "a regular file"
         : S_ISDIR(mode)  ? "a directory"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISSOCK(mode) ? "a socket"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISFIFO(mode) ? "a FIFO"
                          : "not a file";
}

/* Writes data to a new temporary file next to target, fsyncs it and renames
 * it over target. */
static int replace_regular(const char *path, const char *target, const void *data,
                           size_t len, char *err, size_t errlen) {
  static unsigned counter;
  size_t plen = strlen(target) + 64;
  char *tmp = malloc(plen);
  if (!tmp) {
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    unsigned serial = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, plen, "%s.tmp.%ld.%u", target, (long)getpid(), serial);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create a temporary file next to it: %s", path,
             strerror(errno));
    free(tmp);
    return -1;
  }
  int ok = write_all(fd, data, len) == 0 && (fsync(fd) == 0 || errno == EINVAL);
  int saved = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (!ok) {
    snprintf(err, errlen, "%s: could not write %s: %s (is the disk full?)", path, tmp,
             strerror(saved));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  struct stat sb; /* something other than a file may have appeared since */
  if (lstat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "%s: exists and is not a regular file (it is %s), so it is not "
             "replaced; choose a file path", path, kind_of(sb.st_mode));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  if (rename(tmp, target) != 0) {
    snprintf(err, errlen, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}

int sdq_write_file_bytes(const char *path, const void *data, size_t len, char *err,
                         size_t errlen) {
  if (path == NULL || *path == '\0') {
    snprintf(err, errlen, "no output path given");
    return -1;
  }
  int named = named_descriptor(path);
  if (named >= 0) {
    if (named == STDOUT_FILENO)
      fflush(stdout);
    if (write_all(named, data, len) != 0) {
      snprintf(err, errlen, "%s: could not write: %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }

  struct stat sb, lsb;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT && lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
      snprintf(err, errlen, "%s: is a symbolic link to a file that does not exist; create "
               "the target or choose another path", path);
      return -1;
    }
    if (errno != ENOENT) {
      snprintf(err, errlen, "%s: cannot inspect it: %s", path, strerror(errno));
      return -1;
    }
    return replace_regular(path, path, data, len, err, errlen);
  }

  if (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode)) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(err, errlen, "%s: cannot open %s for writing: %s", path, kind_of(sb.st_mode),
               strerror(errno));
      return -1;
    }
    int ok = write_all(fd, data, len) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
      ok = 0;
      saved = errno;
    }
    if (!ok) {
      snprintf(err, errlen, "%s: could not write: %s", path, strerror(saved));
      return -1;
    }
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "%s: exists and is not a regular file (it is %s), so it is not "
             "replaced; choose a file path", path, kind_of(sb.st_mode));
    return -1;
  }

  if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
    char *target = realpath(path, NULL);
    if (!target) {
      snprintf(err, errlen, "%s: cannot resolve the symbolic link: %s", path, strerror(errno));
      return -1;
    }
    int rc = replace_regular(path, target, data, len, err, errlen);
    free(target);
    return rc;
  }
  return replace_regular(path, path, data, len, err, errlen);
}

int sdq_json_write_file(const char *path, const json_t *value, char *err, size_t errlen) {
  char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  if (!text) {
    snprintf(err, errlen, "%s: could not serialise the JSON (out of memory)", path);
    return -1;
  }
  size_t len = strlen(text);
  char *full = realloc(text, len + 2);
  if (!full) {
    free(text);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  full[len] = '\n';
  full[len + 1] = '\0';
  int rc = sdq_write_file_bytes(path, full, len + 1, err, errlen);
  free(full);
  return rc;
}

/* Returns the PID of a temporary-file name "<base>.tmp.<PID>.<N>" (PID and N
 * decimal digits), or -1 when name is not one of base's temporary files. */
static long temp_file_pid(const char *name, const char *base) {
  size_t blen = strlen(base);
  if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
    return -1;
  const char *s = name + blen + 5, *digits = s;
  long pid = 0;
  while (*s >= '0' && *s <= '9') {
    if (pid > (long)INT_MAX / 10)
      return -1;
    pid = pid * 10 + (*s++ - '0');
  }
  if (s == digits || *s != '.' || s[1] == '\0' || pid <= 0)
    return -1;
  for (s++; *s; s++)
    if (*s < '0' || *s > '9')
      return -1;
  return pid;
}

int sdq_remove_stale_temps(const char *target, char *removed, size_t removedlen,
                           unsigned long long *bytes, char *err, size_t errlen) {
  if (removed && removedlen > 0)
    removed[0] = '\0';
  char *dir = strdup(target);
  if (!dir) {
    snprintf(err, errlen, "%s: out of memory", target);
    return -1;
  }
  const char *last = strrchr(target, '/');
  const char *base = last ? last + 1 : target;
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0'; /* target is in / */
  else if (slash)
    *slash = '\0';
  else
    strcpy(dir, ".");

  DIR *d = opendir(dir);
  if (!d) {
    int rc = errno == ENOENT ? 0 : -1;
    if (rc)
      snprintf(err, errlen, "%s: cannot list the folder: %s", dir, strerror(errno));
    free(dir);
    return rc;
  }
  int n = 0, rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    long pid = temp_file_pid(e->d_name, base);
    if (pid < 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    size_t plen = strlen(dir) + strlen(e->d_name) + 2;
    char *path = malloc(plen);
    if (!path) {
      snprintf(err, errlen, "%s: out of memory", dir);
      rc = -1;
      break;
    }
    snprintf(path, plen, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      free(path);
      continue;
    }
    if (unlink(path) != 0) {
      snprintf(err, errlen, "%s: cannot remove this stale temporary file: %s", path,
               strerror(errno));
      free(path);
      rc = -1;
      break;
    }
    free(path);
    if (bytes)
      *bytes += (unsigned long long)sb.st_size;
    if (removed && removedlen > 0) {
      size_t used = strlen(removed);
      snprintf(removed + used, removedlen - used, "%s%s", n ? ", " : "", e->d_name);
    }
    n++;
  }
  closedir(d);
  free(dir);
  return rc ? -1 : n;
}

int sdq_mkdir_p(const char *path, char *err, size_t errlen) {
  char *p = strdup(path);
  if (!p) {
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c != '/' && c != '\0')
      continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "%s: could not create the folder: %s", p, strerror(errno));
      free(p);
      return -1;
    }
    *s = c;
    if (c == '\0')
      break;
  }
  free(p);
  return 0;
}

int sdq_check_output_file(const char *path, const char *option, char *err, size_t errlen) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
      snprintf(err, errlen, "%s: is a symbolic link to a file that does not exist; create the "
                            "target or remove the link", path);
      return -1;
    }
    if (errno == ENOENT)
      return 0;
    snprintf(err, errlen, "%s: cannot inspect it: %s%s", path, strerror(errno),
             errno == ENOTDIR ? " (a parent of it is not a directory)" : "");
    return -1;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "%s: exists and is not a regular file (it is %s), so it is not "
                          "replaced; remove it or choose another %s", path, kind_of(sb.st_mode),
             option);
    return -1;
  }
  return 0;
}

int sdq_check_output_folder(const char *path, const char *option, char *err, size_t errlen) {
  struct stat sb;
  char probe[4096];
  if (snprintf(probe, sizeof probe, "%s", path) >= (int)sizeof probe) {
    snprintf(err, errlen, "%.200s...: path too long (at most %zu bytes)", path, sizeof probe - 1);
    return -1;
  }

  /* Walk up to the nearest existing ancestor; a file on the way (ENOTDIR)
   * is that ancestor, and is reported below. */
  while (stat(probe, &sb) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) {
      snprintf(err, errlen, "%s: cannot inspect it: %s", probe, strerror(errno));
      return -1;
    }
    char *slash = strrchr(probe, '/');
    while (slash && slash > probe && slash[1] == '\0') { /* trailing slashes */
      *slash = '\0';
      slash = strrchr(probe, '/');
    }
    if (!slash)
      snprintf(probe, sizeof probe, ".");
    else if (slash == probe)
      probe[1] = '\0';
    else
      *slash = '\0';
  }
  if (!S_ISDIR(sb.st_mode)) {
    snprintf(err, errlen, "%s: exists and is not a directory (it is %s); remove it or choose "
                          "another %s", probe, kind_of(sb.st_mode), option);
    return -1;
  }
  if (access(probe, W_OK | X_OK) != 0) {
    snprintf(err, errlen, "%s: cannot write in this directory: %s", probe, strerror(errno));
    return -1;
  }
  return 0;
}
