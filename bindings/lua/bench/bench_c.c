/*
 * bench_c.c -- the C side of the Lua binding's overhead benchmark: the same
 * loops as bench.lua, calling the core directly.
 *   bench_c MODE FILE CHUNK CALLS
 * MODE "sendfile": CALLS raw splicer_sendfile(devnull, file, off, CHUNK),
 *                  the offset cycling through FILE;
 *      "step":     a session with SPLICER_OPT_CHUNK = CHUNK moving FILE to
 *                  /dev/null, re-opened at its end, for CALLS steps.
 * Prints "<cpu seconds> <bytes>"; CPU time (user + system, clock()) is what
 * the Lua side can measure too.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "splicer.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bench_c sendfile|step FILE CHUNK CALLS\n");
    return 2;
  }
  const char *mode = argv[1];
  int fd = open(argv[2], O_RDONLY);
  int null = open("/dev/null", O_WRONLY);
  int64_t chunk = atoll(argv[3]);
  long calls = atol(argv[4]);
  struct stat st;
  if (fd < 0 || null < 0 || fstat(fd, &st) < 0)
    return perror("open"), 1;
  int64_t size = st.st_size - st.st_size % chunk;
  uint64_t bytes = 0;
  clock_t t0 = clock();
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
    splicer_session_free(s);
  }
  printf("%.6f %llu\n", (double)(clock() - t0) / CLOCKS_PER_SEC, (unsigned long long)bytes);
  return 0;
}
