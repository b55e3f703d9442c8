/* bench/percall/neighbour.c: how much a bare 4 KiB copy slows down when other
 * code runs between two of its calls, as the library's does.  Each round
 * times ITERS calls of copy_file_range(2) (file -> file) or sendfile(2)
 * (file -> /dev/null), alone, after a splicer_copy() on kept fds that has
 * nothing to move (the library's open and run, no syscall), or after
 * touching 16 KiB of unrelated memory.  Prints the best round of each, in
 * ns per call and over the bare loop.
 *
 *   neighbour [ROUNDS [ITERS]]
 */
#include <splicer.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static volatile unsigned char unrelated[16384];

__attribute__((noinline)) static void touch_unrelated(void) {
  for (size_t i = 0; i < sizeof unrelated; i += 64)
    unrelated[i]++;
}

enum { ALONE, AFTER_NOOP_COPY, AFTER_TOUCH, CASES };
static const char *case_name[CASES] = {
    "alone", "after a no-op splicer_copy (kept fds)", "after touching 16 KiB"};

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 15;
  long iters = argc > 2 ? atol(argv[2]) : 2000;
  if (rounds < 1 || iters < 1) {
    fprintf(stderr, "usage: neighbour [ROUNDS [ITERS]]\n");
    return 2;
  }
  int in = temp_file(4096), file = temp_file(0);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0)
    die("/dev/null");
  splicer_session *s;
  if (splicer_session_new(&s) < 0 ||
      splicer_session_keep(s, in, SPLICER_FD_UNKNOWN) < 0 ||
      splicer_session_keep(s, file, SPLICER_FD_UNKNOWN) < 0 ||
      splicer_session_keep(s, null, SPLICER_FD_UNKNOWN) < 0)
    die("session");
  printf("| call (4 KiB) | next to | best ns/call | over alone |\n");
  printf("|---|---|---:|---:|\n");
  for (int to_null = 0; to_null < 2; to_null++) {
    int out = to_null ? null : file;
    double best[CASES];
    for (int c = 0; c < CASES; c++)
      best[c] = 1e18;
    for (int r = 0; r < rounds; r++)
      for (int k = 0; k < CASES; k++) {
        int c = (k + r) % CASES; /* rotate the order every round */
        double total = 0;
        for (long i = 0; i < iters; i++) {
          lseek(in, 0, SEEK_SET);
          if (!to_null)
            lseek(out, 0, SEEK_SET);
          double t0 = now_ns();
          if (c == AFTER_NOOP_COPY && splicer_copy(s, in, out, 0) != 0)
            die("splicer_copy");
          if (c == AFTER_TOUCH)
            touch_unrelated();
          ssize_t n = to_null ? sendfile(out, in, NULL, 4096)
                              : copy_file_range(in, NULL, out, NULL, 4096, 0);
          total += now_ns() - t0;
          if (n != 4096)
            die("copy");
        }
        if (total / (double)iters < best[c])
          best[c] = total / (double)iters;
      }
    for (int c = 0; c < CASES; c++)
      printf("| %s | %s | %.0f | %+.0f |\n",
             to_null ? "sendfile → /dev/null" : "copy_file_range file → file",
             case_name[c], best[c], best[c] - best[ALONE]);
  }
  splicer_session_free(s);
  close(in);
  close(file);
  close(null);
  return 0;
}
