#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_name(long long v) {
  return v < 0 && v > -4096 ? splicer_errname((int)v) : "";
}

void tu_skip(const char *why) {
  fprintf(stderr, "SKIP: %s\n", why);
  exit(TU_SKIP);
}

void tu_pass(const char *name) {
  printf("ok - %s\n", name);
  fflush(stdout);
}

void tu_fill(unsigned char *p, size_t n, uint32_t seed, uint64_t start) {
  for (size_t i = 0; i < n; i++) {
    uint64_t x = (start + i) * 0x9E3779B97F4A7C15ull ^ seed;
    p[i] = (unsigned char)((x >> 29) ^ (x >> 7));
  }
}

uint64_t tu_fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

splicer_session *tu_session(int method) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  if (method)
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << method), 0);
  return s;
}

int tu_tmpfile(void) {
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/splicer-test-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    CHECK(fd >= 0, "mkostemp: %s", strerror(errno));
    unlink(path);
  }
  return fd;
}

int tu_file(size_t size, uint32_t seed) {
  int fd = tu_tmpfile();
  unsigned char *buf = malloc(1 << 16);
  for (size_t done = 0; done < size;) {
    size_t n = size - done < (1 << 16) ? size - done : (1 << 16);
    tu_fill(buf, n, seed, done);
    CHECK(write(fd, buf, n) == (ssize_t)n, "write");
    done += n;
  }
  free(buf);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

void tu_check_file(int fd, uint64_t off, size_t size, uint32_t seed,
                   uint64_t start) {
  unsigned char *got = malloc(size + 1), *want = malloc(size + 1);
  size_t have = 0;
  while (have < size) {
    ssize_t n = pread(fd, got + have, size - have, (off_t)(off + have));
    CHECK(n > 0, "short file: %zu of %zu bytes", have, size);
    have += (size_t)n;
  }
  tu_fill(want, size, seed, start);
  for (size_t i = 0; i < size; i++)
    CHECK(got[i] == want[i], "byte %zu differs", i);
  free(got);
  free(want);
}

void tu_pipe(int p[2]) { CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2"); }

void tu_socketpair(int sv[2]) {
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
        "socketpair");
}

void tu_tcp_pair(int sv[2]) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind");
  CHECK(listen(l, 1) == 0, "listen");
  CHECK(getsockname(l, (struct sockaddr *)&a, &al) == 0, "getsockname");
  sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(connect(sv[0], (struct sockaddr *)&a, sizeof a) == 0, "connect");
  sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  CHECK(sv[1] >= 0, "accept");
  close(l);
}

void tu_set_nonblock(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int tu_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

static void *reader_main(void *arg) {
  struct tu_reader *r = arg;
  size_t cap = 1 << 16;
  r->data = malloc(cap);
  size_t chunk = r->chunk ? r->chunk : 65536;
  for (;;) {
    if (r->want && r->len >= r->want)
      break;
    if (r->len + chunk > cap) {
      cap = (r->len + chunk) * 2;
      r->data = realloc(r->data, cap);
    }
    size_t ask = chunk;
    if (r->want && ask > r->want - r->len)
      ask = r->want - r->len;
    ssize_t n = read(r->fd, r->data + r->len, ask);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      usleep(100);
      continue;
    }
    if (n <= 0)
      break;
    r->len += (size_t)n;
    if (r->delay_us)
      usleep(r->delay_us);
  }
  return NULL;
}

void tu_reader_start(struct tu_reader *r, int fd, size_t want) {
  r->fd = fd;
  r->want = want;
  r->len = 0;
  r->data = NULL;
  pthread_t *t = malloc(sizeof *t);
  CHECK(pthread_create(t, NULL, reader_main, r) == 0, "pthread_create");
  r->thread = t;
}

void tu_reader_join(struct tu_reader *r) {
  pthread_join(*(pthread_t *)r->thread, NULL);
  free(r->thread);
  r->thread = NULL;
}

void tu_reader_free(struct tu_reader *r) {
  free(r->data);
  r->data = NULL;
}

int tu_in_child(void (*fn)(void *), void *arg) {
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    fn(arg);
    _exit(0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  return st;
}
