#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void h_rng_seed(h_rng *r, uint64_t seed) { r->s = seed; }

uint64_t h_next(h_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t h_below(h_rng *r, uint64_t n) { return n ? h_next(r) % n : 0; }

bool h_chance(h_rng *r, unsigned percent) { return h_below(r, 100) < percent; }

uint64_t h_mix(uint64_t a, uint64_t b) {
  h_rng r = {a ^ (b * 0xD6E8FEB86659FD93ull)};
  return h_next(&r);
}

const char *h_kind_name(int kind) {
  static const char *const names[H_KINDS] = {"file", "memfd", "pipe",
                                             "unix", "tcp", "append"};
  return kind >= 0 && kind < H_KINDS ? names[kind] : "?";
}

bool h_is_stream(int kind) {
  return kind == H_PIPE || kind == H_UNIX || kind == H_TCP;
}

void h_end_open(struct h_end *e, int kind, bool source) {
  e->kind = kind;
  e->peer = -1;
  int p[2];
  switch (kind) {
  case H_FILE:
    e->fd = tu_tmpfile();
    break;
  case H_APPEND:
    e->fd = tu_tmpfile();
    CHECK(fcntl(e->fd, F_SETFL, O_APPEND) == 0, "O_APPEND");
    break;
  case H_MEMFD:
    e->fd = memfd_create("splicer-hardening", MFD_CLOEXEC);
    CHECK(e->fd >= 0, "memfd_create: %s", strerror(errno));
    break;
  case H_PIPE:
    tu_pipe(p);
    e->fd = source ? p[0] : p[1];
    e->peer = source ? p[1] : p[0];
    break;
  case H_UNIX:
    tu_socketpair(p);
    e->fd = p[0];
    e->peer = p[1];
    break;
  case H_TCP:
    tu_tcp_pair(p);
    e->fd = p[0];
    e->peer = p[1];
    break;
  default:
    CHECK(0, "kind %d", kind);
  }
}

void h_end_close(struct h_end *e) {
  if (e->fd >= 0)
    close(e->fd);
  if (e->peer >= 0)
    close(e->peer);
  e->fd = e->peer = -1;
}

unsigned char *h_slurp(int fd, size_t *len) {
  off_t size = lseek(fd, 0, SEEK_END);
  CHECK(size >= 0, "lseek: %s", strerror(errno));
  unsigned char *p = malloc((size_t)size + 1);
  size_t have = 0;
  while (have < (size_t)size) {
    ssize_t n = pread(fd, p + have, (size_t)size - have, (off_t)have);
    CHECK(n > 0, "pread: %s", n < 0 ? strerror(errno) : "short");
    have += (size_t)n;
  }
  *len = have;
  return p;
}

void h_write_all(int fd, const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    CHECK(w > 0, "write: %s", strerror(errno));
    c += w;
    n -= (size_t)w;
  }
}

double h_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long h_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib;
}

int h_env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : dflt;
}

void h_result(const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("RESULT %s ", name);
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}
