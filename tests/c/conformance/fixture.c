/* Fixtures (tests/README.md section 4): setup, peers, collection of what
 * arrived, and release at the end of a case. */
#include "runner.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SKIP_TMPFS "cannot mount tmpfs"

static int skip(struct ctx *c, const char *reason) {
  c->skip = 1;
  snprintf(c->detail, sizeof c->detail, "%s", reason);
  return -1;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void *reader_main(void *arg) {
  struct reader *r = arg;
  unsigned char *buf = malloc(1 << 20);
  if (!buf) {
    r->err = ENOMEM;
    return NULL;
  }
  for (size_t k = 0;; k++) {
    if (r->pause_ms > 0) {
      struct timespec ts = {r->pause_ms / 1000, (long)(r->pause_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    size_t want = (size_t)r->reads[k % r->n_reads];
    if (want > (1 << 20))
      want = 1 << 20;
    ssize_t n = read(r->fd, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r->err = errno;
      break;
    }
    if (n == 0)
      break;
    if (bytes_append(&r->got, buf, (size_t)n) < 0) {
      r->err = ENOMEM;
      break;
    }
  }
  free(buf);
  return NULL;
}

static int start_reader(struct ctx *c, struct fixture *f, const jval *spec) {
  struct reader *r = &f->rd;
  r->fd = f->peer;
  r->n_reads = 0;
  const jval *reads = json_get(spec, "reads");
  if (reads && reads->t == J_ARR)
    for (size_t k = 0; k < reads->n && k < 16; k++)
      if (reads->items[k].t == J_NUM && reads->items[k].is_int && reads->items[k].i > 0)
        r->reads[r->n_reads++] = reads->items[k].i;
  if (r->n_reads == 0)
    r->reads[r->n_reads++] = 65536;
  int64_t pause = 0;
  json_int(spec, "pause_ms", &pause);
  r->pause_ms = (int)pause;
  if (pthread_create(&r->thread, NULL, reader_main, r) != 0)
    return fail(c, "fixture %s: cannot start reader", f->name);
  r->running = 1;
  f->has_reader = 1;
  return 0;
}

static int feed(struct ctx *c, struct fixture *f) {
  const jval *data = json_get(f->spec, "data");
  if (!data)
    return 0;
  size_t n;
  unsigned char *p = data_make(c, data, &n);
  if (!p)
    return -1;
  int r = fixture_write_peer(c, f, p, n);
  free(p);
  return r < 0 ? -1 : 0;
}

static int open_file(struct ctx *c, struct fixture *f);
static void wait_tcp_fin(struct fixture *f);

/* same_as: another fd of an earlier file fixture's file. */
static int setup_same_file(struct ctx *c, struct fixture *f, const char *other) {
  struct fixture *o = fixture_find(c, other);
  if (!o || o == f || strcmp(o->kind, "file") != 0 || !o->path[0])
    return fail(c, "fixture %s: same_as %s is not an earlier file fixture", f->name, other);
  snprintf(f->path, sizeof f->path, "%s", o->path);
  f->shares_file = 1;
  return open_file(c, f);
}

static int setup_file(struct ctx *c, struct fixture *f) {
  const char *other = json_str(f->spec, "same_as");
  if (other)
    return setup_same_file(c, f, other);
  const jval *tmpfs = json_get(f->spec, "tmpfs");
  const char *dir = c->rundir;
  if (tmpfs) {
    int64_t size = 0;
    json_int(tmpfs, "size", &size);
    snprintf(f->mnt, sizeof f->mnt, "%s/m%u-%s", c->rundir, c->case_no, f->name);
    if (mkdir(f->mnt, 0700) < 0)
      return fail(c, "mkdir %s: %s", f->mnt, strerror(errno));
    char opts[64];
    snprintf(opts, sizeof opts, "size=%" PRId64 ",mode=0700", size);
    if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
      rmdir(f->mnt);
      f->mnt[0] = 0;
      return skip(c, SKIP_TMPFS);
    }
    dir = f->mnt;
  }
  snprintf(f->path, sizeof f->path, "%s/c%u-%s", dir, c->case_no, f->name);
  int w = open(f->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (w < 0)
    return fail(c, "create %s: %s", f->path, strerror(errno));
  const jval *data = json_get(f->spec, "data");
  if (data) {
    size_t n;
    unsigned char *p = data_make(c, data, &n);
    int bad = !p || write_all(w, p, n) < 0;
    free(p);
    if (bad) {
      close(w);
      return fail(c, "fixture %s: cannot write its data", f->name);
    }
  }
  close(w);
  return open_file(c, f);
}

/* Open f->path with the fixture's mode, append and pos. */
static int open_file(struct ctx *c, struct fixture *f) {
  const char *mode = json_str(f->spec, "mode");
  int flags = O_RDWR;
  if (mode && strcmp(mode, "r") == 0)
    flags = O_RDONLY;
  else if (mode && strcmp(mode, "w") == 0)
    flags = O_WRONLY;
  else if (mode && strcmp(mode, "rw") != 0)
    return fail(c, "fixture %s: bad mode", f->name);
  if (json_bool(f->spec, "append", 0))
    flags |= O_APPEND;
  f->fd = open(f->path, flags | O_CLOEXEC);
  if (f->fd < 0)
    return fail(c, "open %s: %s", f->path, strerror(errno));
  f->readable = flags != O_WRONLY && (flags & O_ACCMODE) != O_WRONLY;
  f->is_file = 1;
  int64_t pos = 0;
  if (json_int(f->spec, "pos", &pos) && lseek(f->fd, pos, SEEK_SET) < 0)
    return fail(c, "lseek: %s", strerror(errno));
  return 0;
}

static int setup_memfd(struct ctx *c, struct fixture *f) {
  f->fd = memfd_create("splicer-conformance", MFD_CLOEXEC);
  if (f->fd < 0)
    return fail(c, "memfd_create: %s", strerror(errno));
  f->is_file = 1;
  f->readable = 1;
  const jval *data = json_get(f->spec, "data");
  if (data) {
    size_t n;
    unsigned char *p = data_make(c, data, &n);
    int bad = !p || write_all(f->fd, p, n) < 0;
    free(p);
    if (bad)
      return fail(c, "fixture %s: cannot write its data", f->name);
  }
  int64_t pos = 0;
  json_int(f->spec, "pos", &pos);
  if (lseek(f->fd, pos, SEEK_SET) < 0)
    return fail(c, "lseek: %s", strerror(errno));
  return 0;
}

static int setup_pipe(struct ctx *c, struct fixture *f) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return fail(c, "pipe2: %s", strerror(errno));
  const char *end = json_str(f->spec, "end");
  if (!end || (strcmp(end, "r") != 0 && strcmp(end, "w") != 0)) {
    close(p[0]);
    close(p[1]);
    return fail(c, "fixture %s: end must be r or w", f->name);
  }
  if (strcmp(end, "r") == 0) {
    f->fd = p[0];
    f->peer = p[1];
  } else {
    f->fd = p[1];
    f->peer = p[0];
    f->peer_reads = 1;
  }
  int64_t cap;
  if (json_int(f->spec, "capacity", &cap) && fcntl(p[0], F_SETPIPE_SZ, (int)cap) < 0)
    return fail(c, "F_SETPIPE_SZ %" PRId64 ": %s", cap, strerror(errno));
  return 0;
}

static int setup_socket(struct ctx *c, struct fixture *f, int tcp) {
  int sv[2];
  if (!tcp) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      return fail(c, "socketpair: %s", strerror(errno));
  } else {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
      return fail(c, "socket: %s", strerror(errno));
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) < 0) {
      close(l);
      return fail(c, "tcp listen: %s", strerror(errno));
    }
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof a) < 0) {
      int e = errno;
      if (sv[0] >= 0)
        close(sv[0]);
      close(l);
      return fail(c, "tcp connect: %s", strerror(e));
    }
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    if (sv[1] < 0) {
      close(sv[0]);
      return fail(c, "tcp accept: %s", strerror(errno));
    }
  }
  f->fd = sv[0];
  f->peer = sv[1];
  f->peer_reads = 1;
  int64_t v;
  if (json_int(f->spec, "sndbuf", &v)) {
    int iv = (int)v;
    setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &iv, sizeof iv);
  }
  if (json_int(f->spec, "rcvbuf", &v)) {
    int iv = (int)v;
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &iv, sizeof iv);
  }
  return 0;
}

/* udp_pair: two UDP sockets on 127.0.0.1 connected to each other;
 * unix_dgram_pair: socketpair(AF_UNIX, SOCK_DGRAM). */
static int setup_dgram(struct ctx *c, struct fixture *f, int udp) {
  int sv[2] = {-1, -1};
  if (!udp) {
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
      return fail(c, "socketpair: %s", strerror(errno));
  } else {
    struct sockaddr_in a[2];
    for (int k = 0; k < 2; k++) {
      socklen_t alen = sizeof a[k];
      memset(&a[k], 0, sizeof a[k]);
      a[k].sin_family = AF_INET;
      a[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      sv[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (sv[k] < 0 || bind(sv[k], (struct sockaddr *)&a[k], sizeof a[k]) < 0 ||
          getsockname(sv[k], (struct sockaddr *)&a[k], &alen) < 0) {
        int e = errno;
        for (int j = 0; j <= k; j++)
          if (sv[j] >= 0)
            close(sv[j]);
        return fail(c, "udp socket: %s", strerror(e));
      }
    }
    if (connect(sv[0], (struct sockaddr *)&a[1], sizeof a[1]) < 0 ||
        connect(sv[1], (struct sockaddr *)&a[0], sizeof a[0]) < 0) {
      int e = errno;
      close(sv[0]);
      close(sv[1]);
      return fail(c, "udp connect: %s", strerror(e));
    }
  }
  f->fd = sv[0];
  f->peer = sv[1];
  f->peer_reads = 1;
  f->dgram = 1;
  int64_t v;
  if (json_int(f->spec, "sndbuf", &v)) {
    int iv = (int)v;
    setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &iv, sizeof iv);
  }
  if (json_int(f->spec, "rcvbuf", &v)) {
    int iv = (int)v;
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &iv, sizeof iv);
  }
  return 0;
}

static int setup_path(struct ctx *c, struct fixture *f, const char *path, int flags) {
  f->fd = open(path, flags | O_CLOEXEC);
  if (f->fd < 0)
    return fail(c, "open %s: %s", path, strerror(errno));
  return 0;
}

static int setup_one(struct ctx *c, struct fixture *f) {
  const char *k = f->kind;
  int r;
  if (strcmp(k, "file") == 0)
    r = setup_file(c, f);
  else if (strcmp(k, "memfd") == 0)
    r = setup_memfd(c, f);
  else if (strcmp(k, "pipe") == 0)
    r = setup_pipe(c, f);
  else if (strcmp(k, "socketpair") == 0)
    r = setup_socket(c, f, 0);
  else if (strcmp(k, "tcp") == 0)
    r = setup_socket(c, f, 1);
  else if (strcmp(k, "udp_pair") == 0)
    r = setup_dgram(c, f, 1);
  else if (strcmp(k, "unix_dgram_pair") == 0)
    r = setup_dgram(c, f, 0);
  else if (strcmp(k, "dev_null") == 0)
    r = setup_path(c, f, "/dev/null", O_RDWR);
  else if (strcmp(k, "dev_zero") == 0)
    r = setup_path(c, f, "/dev/zero", O_RDONLY);
  else if (strcmp(k, "proc_file") == 0) {
    const char *path = json_str(f->spec, "path");
    if (!path || strncmp(path, "/proc/", 6) != 0)
      return fail(c, "fixture %s: path must be under /proc/", f->name);
    r = setup_path(c, f, path, O_RDONLY);
  } else if (strcmp(k, "invalid") == 0) {
    f->fd = -1;
    r = 0;
  } else
    return fail(c, "unsupported fixture kind %s", k);
  if (r < 0)
    return r;

  if (f->peer >= 0 && !f->peer_reads) {
    /* the peer writes: data first, then end of file */
    if (feed(c, f) < 0)
      return -1;
    if (json_bool(f->spec, "eof", 0) || json_bool(f->spec, "peer_closed", 0)) {
      close(f->peer);
      f->peer = -1;
    }
  } else if (f->peer >= 0 && f->dgram) {
    /* datagrams are sent by steps (send_datagram) */
  } else if (f->peer >= 0) {
    /* a socket: the peer can both feed the fd and read what it sends */
    if (strcmp(k, "pipe") != 0 && feed(c, f) < 0)
      return -1;
    if (json_bool(f->spec, "peer_closed", 0)) {
      close(f->peer);
      f->peer = -1;
    } else {
      if (json_bool(f->spec, "eof", 0) && strcmp(k, "pipe") != 0) {
        shutdown(f->peer, SHUT_WR);
        if (strcmp(k, "tcp") == 0)
          wait_tcp_fin(f);
      }
      const jval *reader = json_get(f->spec, "reader");
      if (reader && start_reader(c, f, reader) < 0)
        return -1;
    }
  }
  if (json_bool(f->spec, "nonblock", 0) && f->fd >= 0) {
    int fl = fcntl(f->fd, F_GETFL);
    if (fl < 0 || fcntl(f->fd, F_SETFL, fl | O_NONBLOCK) < 0)
      return fail(c, "fixture %s: O_NONBLOCK: %s", f->name, strerror(errno));
  }
  return 0;
}

int fixtures_setup(struct ctx *c, const jval *fixtures) {
  if (!fixtures || fixtures->t != J_ARR)
    return fail(c, "fixtures must be an array");
  for (size_t k = 0; k < fixtures->n; k++) {
    if (c->n_fx == MAX_FIXTURES)
      return fail(c, "too many fixtures");
    struct fixture *f = &c->fx[c->n_fx];
    memset(f, 0, sizeof *f);
    f->fd = f->peer = -1;
    f->spec = &fixtures->items[k];
    f->name = json_str(f->spec, "name");
    f->kind = json_str(f->spec, "kind");
    if (!f->name || !f->kind)
      return fail(c, "fixture %zu: name and kind are required", k);
    c->n_fx++;
    if (setup_one(c, f) < 0)
      return -1;
  }
  return 0;
}

struct fixture *fixture_find(struct ctx *c, const char *name) {
  for (size_t k = 0; name && k < c->n_fx; k++)
    if (strcmp(c->fx[k].name, name) == 0)
      return &c->fx[k];
  return NULL;
}

struct fixture *fixture_by_fd(struct ctx *c, int fd) {
  for (size_t k = 0; k < c->n_fx; k++)
    if (c->fx[k].fd == fd && fd >= 0)
      return &c->fx[k];
  return NULL;
}

/* One whole datagram the peer can receive now; 0 if none. */
static int64_t recv_datagram(struct ctx *c, struct fixture *f, int timeout_ms) {
  unsigned char buf[65536];
  struct pollfd p = {f->peer, POLLIN, 0};
  int pr;
  while ((pr = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  if (pr <= 0)
    return 0;
  ssize_t n;
  while ((n = recv(f->peer, buf, sizeof buf, MSG_DONTWAIT)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return errno == EAGAIN ? 0 : -1;
  if ((size_t)n > f->max_datagram)
    f->max_datagram = (size_t)n;
  if (bytes_append(&f->arrived, buf, (size_t)n) < 0) {
    fail(c, "out of memory");
    return -1;
  }
  return n == 0 ? -2 : n; /* -2: a zero-length datagram, not nothing */
}

int64_t fixture_drain(struct ctx *c, struct fixture *f, size_t max, int once) {
  if (f->peer < 0 || !f->peer_reads || f->has_reader) {
    fail(c, "fixture %s has no peer to read", f->name);
    return -1;
  }
  if (f->dgram) {
    /* whole datagrams, whatever max says: a shorter read would cut one */
    int64_t total = 0, n;
    while ((n = recv_datagram(c, f, 0)) != 0) {
      if (n == -1)
        return -1;
      if (n > 0)
        total += n;
      if (once)
        break;
    }
    return total;
  }
  unsigned char buf[65536];
  int64_t total = 0;
  for (;;) {
    size_t want = sizeof buf;
    if (max && max - (size_t)total < want)
      want = max - (size_t)total;
    if (want == 0)
      break;
    struct pollfd p = {f->peer, POLLIN, 0};
    int pr = poll(&p, 1, 0);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      break;
    ssize_t n = read(f->peer, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (bytes_append(&f->arrived, buf, (size_t)n) < 0) {
      fail(c, "out of memory");
      return -1;
    }
    total += n;
    if (once)
      break;
  }
  return total;
}

static int queued(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void pause_ms(int ms) {
  struct timespec t = {0, ms * 1000000L};
  nanosleep(&t, NULL);
}

/* Over loopback a segment can be late (a dropped one waits for a 200 ms
 * retransmission on a loaded machine): wait until the bytes the peer wrote
 * are readable at the fixture's fd, so that a case never sees a source
 * that is only late (tests/README.md section 4, tcp). */
static void wait_tcp_bytes(struct fixture *f, int before, size_t n) {
  for (int k = 0; k < 500 && queued(f->fd) >= 0 && (size_t)queued(f->fd) < (size_t)before + n; k++)
    pause_ms(10);
}

/* ... and after the peer's shutdown, until its FIN has arrived. */
static void wait_tcp_fin(struct fixture *f) {
  for (int k = 0; k < 500; k++) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(f->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ti.tcpi_state == TCP_CLOSE_WAIT)
      return;
    pause_ms(10);
  }
}

int fixture_write_peer(struct ctx *c, struct fixture *f, const unsigned char *p, size_t n) {
  if (f->peer < 0)
    return fail(c, "fixture %s has no peer to write", f->name);
  if (f->peer_reads && strcmp(f->kind, "pipe") == 0)
    return fail(c, "fixture %s: its peer is the read end", f->name);
  bool tcp = strcmp(f->kind, "tcp") == 0 && f->fd >= 0;
  int before = tcp ? queued(f->fd) : 0;
  if (write_all(f->peer, p, n) < 0)
    return fail(c, "fixture %s: peer write: %s", f->name, strerror(errno));
  if (tcp && before >= 0)
    wait_tcp_bytes(f, before, n);
  return 0;
}

int64_t fixture_send_datagram(struct ctx *c, struct fixture *f, const unsigned char *p, size_t n) {
  if (!f->dgram || f->peer < 0) {
    fail(c, "fixture %s is not a datagram fixture", f->name);
    return -1;
  }
  ssize_t w;
  while ((w = send(f->peer, p, n, 0)) < 0 && errno == EINTR)
    ;
  if (w < 0) {
    fail(c, "fixture %s: send: %s", f->name, strerror(errno));
    return -1;
  }
  return w;
}

int fixture_close_peer(struct fixture *f) {
  if (f->peer < 0 || f->has_reader)
    return -EINVAL;
  close(f->peer);
  f->peer = -1;
  f->peer_closed_by_case = 1;
  return 0;
}

static int read_content(struct ctx *c, struct fixture *f) {
  int fd = f->fd, own = 0;
  if (!f->readable) {
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    own = 1;
    if (fd < 0)
      return fail(c, "reopen %s: %s", f->path, strerror(errno));
  }
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) < 0) {
    r = fail(c, "fstat: %s", strerror(errno));
  } else {
    unsigned char buf[65536];
    off_t off = 0;
    while (off < st.st_size) {
      ssize_t n = pread(fd, buf, sizeof buf, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        r = fail(c, "pread %s: %s", f->name, n < 0 ? strerror(errno) : "short");
        break;
      }
      bytes_append(&f->arrived, buf, (size_t)n);
      off += n;
    }
  }
  if (own)
    close(fd);
  return r;
}

static int read_to_eof(struct ctx *c, struct fixture *f) {
  if (f->dgram) {
    /* no end of file: until nothing arrives for 50 ms */
    int64_t n;
    while ((n = recv_datagram(c, f, 50)) != 0)
      if (n == -1)
        return -1;
    return 0;
  }
  unsigned char buf[65536];
  for (;;) {
    ssize_t n = read(f->peer, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(c, "fixture %s: final read: %s", f->name, strerror(errno));
    if (n == 0)
      return 0;
    bytes_append(&f->arrived, buf, (size_t)n);
  }
}

int fixtures_finish(struct ctx *c, const jval *arrived, int check) {
  /* what files hold, before their fds go */
  for (size_t k = 0; k < c->n_fx; k++) {
    struct fixture *f = &c->fx[k];
    if (f->is_file && check && read_content(c, f) < 0)
      check = 0;
  }
  /* close the case's ends and the peers that write: every peer reader
   * then sees end of file */
  for (size_t k = 0; k < c->n_fx; k++) {
    struct fixture *f = &c->fx[k];
    if (f->fd >= 0)
      close(f->fd);
    f->fd = -1;
    if (f->peer >= 0 && !f->peer_reads) {
      close(f->peer);
      f->peer = -1;
    }
  }
  for (size_t k = 0; k < c->n_fx; k++) {
    struct fixture *f = &c->fx[k];
    if (f->has_reader && f->rd.running) {
      pthread_join(f->rd.thread, NULL);
      f->rd.running = 0;
      bytes_append(&f->arrived, f->rd.got.p, f->rd.got.n);
      if (f->rd.err && check) {
        fail(c, "fixture %s: reader: %s", f->name, strerror(f->rd.err));
        check = 0;
      }
    }
  }
  if (check && arrived) {
    for (size_t k = 0; k < arrived->n; k++) {
      const jval *a = &arrived->items[k];
      struct fixture *f = fixture_find(c, json_str(a, "fixture"));
      int64_t size = -1;
      const char *hash = json_str(a, "hash");
      json_int(a, "size", &size);
      if (!f || !hash) {
        fail(c, "arrived[%zu]: unknown fixture", k);
        break;
      }
      if (!f->is_file && !f->has_reader && !f->peer_closed_by_case) {
        if (f->peer < 0 || !f->peer_reads) {
          fail(c, "arrived: fixture %s cannot receive bytes", f->name);
          break;
        }
        if (read_to_eof(c, f) < 0)
          break;
      }
      int64_t max_dgram;
      if (json_int(a, "max_datagram", &max_dgram) && (int64_t)f->max_datagram > max_dgram) {
        fail(c, "arrived at %s: a datagram of %zu bytes, more than %" PRId64, f->name,
             f->max_datagram, max_dgram);
        break;
      }
      char got[17];
      snprintf(got, sizeof got, "%016" PRIx64, fnv1a64(f->arrived.p, f->arrived.n));
      if ((int64_t)f->arrived.n != size || strcmp(got, hash) != 0) {
        fail(c, "arrived at %s: expected %" PRId64 " bytes %s, got %zu bytes %s", f->name,
             size, hash, f->arrived.n, got);
        break;
      }
    }
  }
  for (size_t k = 0; k < c->n_fx; k++) {
    struct fixture *f = &c->fx[k];
    if (f->peer >= 0)
      close(f->peer);
    f->peer = -1;
    bytes_free(&f->arrived);
    bytes_free(&f->rd.got);
    if (f->path[0] && !f->shares_file)
      unlink(f->path);
    if (f->mnt[0]) {
      umount2(f->mnt, MNT_DETACH);
      rmdir(f->mnt);
    }
  }
  c->n_fx = 0;
  return c->detail[0] ? -1 : 0;
}
