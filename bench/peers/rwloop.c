/* rwloop [FILE...]: stdin to stdout (and to each FILE) with a plain
 * read(2)/write(2) loop and a 128 KiB buffer, as coreutils cat does: the
 * baseline every zero-copy method is measured against. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BUF (128 * 1024)
#define MAX_OUT 16

static char buf[BUF];

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  int out[MAX_OUT] = {STDOUT_FILENO};
  int n_out = 1;
  for (int i = 1; i < argc && n_out < MAX_OUT; i++) {
    out[n_out] = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out[n_out] < 0) {
      fprintf(stderr, "rwloop: %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    n_out++;
  }
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0)
      return 0;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("rwloop: read");
      return 1;
    }
    for (int i = 0; i < n_out; i++)
      if (write_all(out[i], buf, (size_t)n) < 0) {
        perror("rwloop: write");
        return 1;
      }
  }
}
