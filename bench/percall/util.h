/* bench/percall/util.h: what percall.c and neighbour.c both need, a fatal
 * error, a clock and a scratch file. */
#ifndef SPLICER_PERCALL_UTIL_H
#define SPLICER_PERCALL_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what) {
  perror(what);
  exit(1);
}

static inline double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* An unlinked file holding @fill bytes of 'x', on disk (fsync). */
static inline int temp_file(size_t fill) {
  char path[] = "/tmp/splicer-percall-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0)
    die("mkostemp");
  unlink(path);
  char *b = malloc(fill ? fill : 1);
  memset(b, 'x', fill);
  if (fill && write(fd, b, fill) != (ssize_t)fill)
    die("write");
  free(b);
  fsync(fd);
  return fd;
}

#endif
