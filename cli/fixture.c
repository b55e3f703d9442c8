/* The fd pairs of `splicer bench` and the helper threads around them.
 *
 * Every contender sees the same fixture: a source that is the data file
 * itself or is fed from it by a feeder thread (splice into a pipe, sendfile
 * into a socket: zero-copy, so the feeding costs little), and destinations
 * that are a file, /dev/null, or are emptied by one drain thread (splice
 * into /dev/null, through a pipe for sockets).  Helpers run inside the
 * timed region and in this process, so their CPU is counted for every
 * contender alike. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELPER_CHUNK (1u << 20)

const struct pair_def bench_pairs[PAIR_COUNT] = {
    {"file-null", "file -> /dev/null"}, {"file-pipe", "file -> pipe"},
    {"pipe-file", "pipe -> file"},      {"file-file", "file -> file"},
    {"file-unix", "file -> unix socket"}, {"file-tcp", "file -> TCP"},
    {"tcp-tcp", "TCP -> TCP"},          {"tee3", "tee 1 -> 3 pipes"},
};

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static int tcp_pair(const struct bench_env *env, int *client, int *server) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)env->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0)
    return -errno;
  if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = -errno;
    close(c);
    return e;
  }
  int s = accept4(env->listener, NULL, NULL, SOCK_CLOEXEC);
  if (s < 0) {
    int e = -errno;
    close(c);
    return e;
  }
  *client = c;
  *server = s;
  return 0;
}

int fixture_prepare(struct fixture *f, const struct bench_env *env, int pair) {
  memset(f, 0, sizeof *f);
  f->env = env;
  f->pair = pair;
  f->in = f->feed_src = f->feed_dst = -1;
  for (int i = 0; i < 3; i++)
    f->out[i] = f->drain[i] = -1;
  f->n_out = 1;
  int p[2], r;

  switch (pair) {
  case PAIR_PIPE_FILE:
  case PAIR_TEE3:
    if (pipe2(p, O_CLOEXEC) < 0)
      goto fail;
    f->in = p[0];
    f->feed_dst = p[1];
    f->in_path = "/dev/stdin";
    break;
  case PAIR_TCP_TCP:
    if ((r = tcp_pair(env, &f->feed_dst, &f->in)) < 0) {
      errno = -r;
      goto fail;
    }
    break;
  default:
    if ((f->in = open(env->src_path, O_RDONLY | O_CLOEXEC)) < 0)
      goto fail;
    f->in_path = env->src_path;
  }
  if (f->feed_dst >= 0 &&
      (f->feed_src = open(env->src_path, O_RDONLY | O_CLOEXEC)) < 0)
    goto fail;

  switch (pair) {
  case PAIR_FILE_NULL:
    if ((f->out[0] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
      goto fail;
    f->out_path = "/dev/null";
    break;
  case PAIR_FILE_PIPE:
    if (pipe2(p, O_CLOEXEC) < 0)
      goto fail;
    f->out[0] = p[1];
    f->drain[f->n_drain++] = p[0];
    f->out_path = "/dev/stdout";
    break;
  case PAIR_PIPE_FILE:
  case PAIR_FILE_FILE:
    /* truncating 256 MiB of page cache is not part of any copy */
    f->out[0] = open(env->dst_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0644);
    if (f->out[0] < 0)
      goto fail;
    f->out_path = env->dst_path;
    break;
  case PAIR_FILE_UNIX: {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      goto fail;
    f->out[0] = sv[0];
    f->drain[f->n_drain++] = sv[1];
    break;
  }
  case PAIR_FILE_TCP:
  case PAIR_TCP_TCP:
    if ((r = tcp_pair(env, &f->out[0], &f->drain[0])) < 0) {
      errno = -r;
      goto fail;
    }
    f->n_drain = 1;
    break;
  case PAIR_TEE3:
    for (int i = 0; i < 3; i++) {
      if (pipe2(p, O_CLOEXEC) < 0)
        goto fail;
      f->out[i] = p[1];
      f->drain[f->n_drain++] = p[0];
    }
    f->n_out = 3;
    break;
  }
  return 0;
fail:
  r = -errno;
  fixture_cleanup(f);
  return r;
}

static void *feeder_main(void *arg) {
  struct fixture *f = arg;
  struct stat st;
  bool pipe_out = fstat(f->feed_dst, &st) == 0 && S_ISFIFO(st.st_mode);
  off_t off = 0;
  for (;;) {
    ssize_t n = pipe_out ? splice(f->feed_src, &off, f->feed_dst, NULL,
                                  HELPER_CHUNK, SPLICE_F_MOVE)
                         : sendfile(f->feed_dst, f->feed_src, &off,
                                    HELPER_CHUNK);
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      /* EPIPE/ECONNRESET: the contender stopped reading; it reports why */
      if (errno != EPIPE && errno != ECONNRESET)
        f->helper_err = -errno;
      break;
    }
  }
  close_fd(&f->feed_dst); /* EOF for the contender */
  return NULL;
}

/* Throw away what arrives on one fd: splice to /dev/null, via a pipe of
 * our own when the fd is a socket; read(2) only if the kernel refuses. */
static uint64_t drain_one(struct fixture *f, int fd) {
  int devnull = f->env->devnull;
  uint64_t total = 0;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
    for (;;) {
      ssize_t n = splice(fd, NULL, devnull, NULL, HELPER_CHUNK, SPLICE_F_MOVE);
      if (n > 0)
        total += (uint64_t)n;
      else if (n == 0 || errno != EINTR)
        break;
    }
    return total;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    f->helper_err = -errno;
    return 0;
  }
  fcntl(p[1], F_SETPIPE_SZ, (int)HELPER_CHUNK); /* fewer rounds; may fail */
  for (;;) {
    ssize_t n = splice(fd, NULL, p[1], NULL, HELPER_CHUNK, SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EINVAL && total == 0) {
      static char buf[256 * 1024];
      while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
          total += (uint64_t)n;
      break;
    }
    if (n <= 0) {
      if (n < 0)
        f->helper_err = -errno;
      break;
    }
    total += (uint64_t)n;
    while (n > 0) {
      ssize_t m = splice(p[0], NULL, devnull, NULL, (size_t)n, SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR)
        continue;
      if (m <= 0) {
        f->helper_err = m < 0 ? -errno : -EIO;
        break;
      }
      n -= m;
    }
  }
  close(p[0]);
  close(p[1]);
  return total;
}

/* Several pipes (the tee pair): one thread, poll, nonblocking splices.
 * Each pipe must receive all bytes; the least of them is what arrived. */
static uint64_t drain_many(struct fixture *f) {
  struct pollfd pf[3];
  uint64_t got[3] = {0, 0, 0};
  int open_n = f->n_drain;
  for (int i = 0; i < f->n_drain; i++)
    pf[i] = (struct pollfd){.fd = f->drain[i], .events = POLLIN};
  while (open_n > 0) {
    if (poll(pf, (nfds_t)f->n_drain, -1) < 0) {
      if (errno == EINTR)
        continue;
      f->helper_err = -errno;
      break;
    }
    for (int i = 0; i < f->n_drain; i++) {
      if (pf[i].fd < 0 || !pf[i].revents)
        continue;
      ssize_t n = splice(pf[i].fd, NULL, f->env->devnull, NULL, HELPER_CHUNK,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0)
        got[i] += (uint64_t)n;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        if (n < 0)
          f->helper_err = -errno;
        pf[i].fd = -1;
        open_n--;
      }
    }
  }
  uint64_t least = got[0];
  for (int i = 1; i < f->n_drain; i++)
    if (got[i] < least)
      least = got[i];
  return least;
}

static void *drain_main(void *arg) {
  struct fixture *f = arg;
  f->drained = f->n_drain == 1 ? drain_one(f, f->drain[0]) : drain_many(f);
  return NULL;
}

int fixture_start(struct fixture *f) {
  int r;
  if (f->n_drain > 0) {
    if ((r = pthread_create(&f->drain_thr, NULL, drain_main, f)) != 0)
      return -r;
    f->drain_on = true;
  }
  if (f->feed_dst >= 0) {
    if ((r = pthread_create(&f->feeder_thr, NULL, feeder_main, f)) != 0)
      return -r;
    f->feeder_on = true;
  }
  return 0;
}

void fixture_close_outputs(struct fixture *f) {
  for (int i = 0; i < 3; i++)
    close_fd(&f->out[i]);
}

void fixture_close_input(struct fixture *f) { close_fd(&f->in); }

int fixture_finish(struct fixture *f, uint64_t *arrived) {
  fixture_close_outputs(f);
  fixture_close_input(f); /* a feeder still writing gets EPIPE, not a hang */
  if (f->feeder_on)
    pthread_join(f->feeder_thr, NULL);
  if (f->drain_on)
    pthread_join(f->drain_thr, NULL);
  f->feeder_on = f->drain_on = false;
  *arrived = UINT64_MAX; /* unknown: /dev/null */
  if (f->n_drain > 0) {
    *arrived = f->drained;
  } else if (f->out_path && strcmp(f->out_path, "/dev/null") != 0) {
    struct stat st;
    if (stat(f->out_path, &st) == 0)
      *arrived = (uint64_t)st.st_size;
  }
  return f->helper_err;
}

void fixture_cleanup(struct fixture *f) {
  if (f->feeder_on || f->drain_on) {
    uint64_t ignored;
    fixture_finish(f, &ignored);
  }
  close_fd(&f->in);
  close_fd(&f->feed_src);
  close_fd(&f->feed_dst);
  for (int i = 0; i < 3; i++) {
    close_fd(&f->out[i]);
    close_fd(&f->drain[i]);
  }
}
