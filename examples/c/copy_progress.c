/* copy_progress SRC DST: copy a file by stepping the transfer, printing the
 * progress after each step (what a pv-like tool does), then the statistics. */
#include <splicer.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: copy_progress SRC DST\n");
    return 2;
  }
  int in = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    perror(argv[1]);
    return 1;
  }
  struct stat st;
  fstat(in, &st);
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    perror(argv[2]);
    return 1;
  }
  splicer_session *s;
  int r = splicer_session_new(&s);
  if (r == 0)
    r = splicer_open(s, in, 0, out, 0, SPLICER_TO_EOF);
  if (r < 0) {
    fprintf(stderr, "copy_progress: %s\n", splicer_strerror(r));
    return 1;
  }
  int64_t n;
  splicer_progress p;
  while ((n = splicer_step(s)) > 0) {
    splicer_progress_get(s, &p, sizeof p);
    fprintf(stderr, "\r%" PRIu64 " / %lld bytes (%s)", p.delivered,
            (long long)st.st_size, splicer_method_name(p.method));
  }
  fprintf(stderr, "\n");
  if (n < 0) {
    splicer_progress_get(s, &p, sizeof p);
    fprintf(stderr, "copy_progress: %s (%s) after %" PRIu64 " bytes\n",
            splicer_strerror((int)n), splicer_errname((int)n), p.delivered);
    return 1;
  }
  splicer_stats stats;
  splicer_stats_get(s, &stats, sizeof stats);
  printf("bytes %" PRIu64 " syscalls %" PRIu64 " fallbacks %" PRIu64 "\n",
         stats.bytes, stats.syscalls, stats.fallbacks);
  splicer_session_free(s);
  close(in);
  close(out);
  return 0;
}
