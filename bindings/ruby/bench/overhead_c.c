/*
 * overhead_c.c -- the C side of the Ruby binding's overhead benchmark: the
 * same loops as overhead.rb, calling the core directly.
 *   overhead_c MODE FILE CHUNK CALLS      MODE: sendfile, step, copy
 * Prints "<cpu seconds> <bytes>" (user + system CPU of the process, as the
 * Ruby side measures it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "splicer.h"

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: overhead_c sendfile|step|copy FILE CHUNK CALLS\n");
    return 2;
  }
  const char *mode = argv[1];
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  int null = open("/dev/null", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  int64_t chunk = atoll(argv[3]);
  long calls = atol(argv[4]);
  struct stat st;
  if (fd < 0 || null < 0 || fstat(fd, &st) < 0 || chunk <= 0)
    return perror("open"), 1;
  int64_t size = st.st_size - st.st_size % chunk;
  uint64_t bytes = 0;
  double t0 = cpu_seconds();
  if (strcmp(mode, "sendfile") == 0) {
    int64_t off = 0;
    for (long i = 0; i < calls; i++) {
      int64_t n = splicer_sendfile(null, fd, off, (uint64_t)chunk);
      if (n <= 0)
        return fprintf(stderr, "sendfile: %s\n", splicer_strerror((int)n)), 1;
      bytes += (uint64_t)n;
      off += n;
      if (off >= size)
        off = 0;
    }
  } else {
    splicer_session *s;
    if (splicer_session_new(&s) < 0 || splicer_session_set(s, SPLICER_OPT_CHUNK, chunk) < 0)
      return 1;
    if (strcmp(mode, "step") == 0) {
      long i = 0;
      while (i < calls) {
        if (splicer_open(s, fd, 0, null, SPLICER_OFF_CUR, (uint64_t)size) < 0)
          return 1;
        for (; i < calls; i++) {
          int64_t n = splicer_step(s);
          if (n < 0)
            return fprintf(stderr, "step: %s\n", splicer_strerror((int)n)), 1;
          if (n == 0)
            break;
          bytes += (uint64_t)n;
        }
      }
    } else {
      long copies = calls * chunk / size;
      if (copies < 1)
        copies = 1;
      for (long k = 0; k < copies; k++) {
        if (splicer_open(s, fd, 0, null, SPLICER_OFF_CUR, (uint64_t)size) < 0)
          return 1;
        int64_t n = splicer_run(s);
        if (n < 0)
          return fprintf(stderr, "run: %s\n", splicer_strerror((int)n)), 1;
        bytes += (uint64_t)n;
      }
    }
    splicer_session_free(s);
  }
  printf("%.6f %llu\n", cpu_seconds() - t0, (unsigned long long)bytes);
  return 0;
}
