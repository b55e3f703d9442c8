/* event_proxy LISTEN_PORT UPSTREAM_PORT: a single-threaded TCP proxy on
 * 127.0.0.1.  Each accepted connection gets an upstream connection and two
 * non-blocking sessions (one per direction); one epoll(7) loop drives them
 * all, each session telling through splicer_wait() which of its fds it
 * waits for and for what.  Bytes a full destination cannot take yet stay in
 * the session, so nothing is lost however slow either side is.  There is no
 * cap on connections but the fd limit: with the pipe pool (the default) an
 * idle connection costs its two sockets and no pipe.  At the fd limit the
 * pool's idle pipes are the last fds: accept or connect failing with EMFILE
 * gives them back (splicer_pool_trim) and tries again.
 *
 * LISTEN_PORT 0 picks a free port.  The first line on standard output is
 * "event_proxy: listening on 127.0.0.1:PORT".  SIGUSR1 prints its counts
 * and the pool's statistics on standard output; SIGINT or SIGTERM prints
 * them and ends it cleanly.
 * Environment:
 *   EVENT_PROXY_CONNS  exit after serving that many connections (default:
 *                      serve forever), which lets tests stop it cleanly;
 *   EVENT_PROXY_POOL   0: sessions own their pipes (SPLICER_OPT_POOL 0)
 *                      instead of borrowing them from the pool per batch. */
#include <splicer.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* One socket of a connection, registered with epoll for the union of what
 * the two directions wait for on it; not registered while nobody waits, so
 * that a hung-up socket nobody reads cannot wake the loop forever. */
struct end {
  struct conn *conn;
  int fd;
  uint32_t armed; /* events registered with epoll, 0: not registered */
};

struct direction {
  splicer_session *s;
  struct end *from, *to;
  int done;         /* source hit EOF (or failed): peer's write side shut */
  int wait_fd;      /* after -EAGAIN: what splicer_wait() said */
  short wait_events;
};

struct conn {
  struct end client, upstream;
  struct direction dir[2]; /* 0: client -> upstream, 1: upstream -> client */
  int dead;                /* both directions over: freed after this batch */
  struct conn *next_dead;
  struct conn *prev, *next; /* every open connection, to free them at exit */
};

static int epfd;
static int use_pool = 1;
static struct conn *conns;
static long open_conns, served, failed;
static uint64_t errors; /* directions ended by an error instead of EOF */

static int listen_on(int port) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 ||
      listen(l, SOMAXCONN) < 0) {
    perror("event_proxy: listen");
    exit(1);
  }
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr *)&a, &len);
  printf("event_proxy: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);
  return l;
}

/* A blocking connect (immediate on loopback), then non-blocking for the
 * sessions: they never have to toggle O_NONBLOCK around their calls. */
static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int start_direction(struct direction *d, struct end *from, struct end *to) {
  d->from = from;
  d->to = to;
  d->done = 0;
  d->wait_fd = -1;
  int r = splicer_session_new(&d->s);
  if (r == 0)
    r = splicer_session_set(d->s, SPLICER_OPT_NONBLOCK, 1);
  if (r == 0)
    r = splicer_session_set(d->s, SPLICER_OPT_POOL, use_pool);
  if (r == 0)
    r = splicer_open(d->s, from->fd, SPLICER_OFF_CUR, to->fd, SPLICER_OFF_CUR,
                     SPLICER_TO_EOF);
  return r;
}

/* Step until it would block, then note what it waits for. */
static void pump(struct direction *d) {
  for (;;) {
    int64_t r = splicer_step(d->s);
    if (r > 0)
      continue;
    if (r == -EAGAIN) {
      if (splicer_wait(d->s, &d->wait_fd, &d->wait_events) < 0)
        d->wait_fd = -1;
      return;
    }
    if (r < 0) {
      if (!errors++) /* counted; the first one named */
        fprintf(stderr, "event_proxy: %s\n", splicer_errname((int)r));
      splicer_abort(d->s);
    }
    shutdown(d->to->fd, SHUT_WR); /* EOF (or error): pass it on */
    d->done = 1;
    d->wait_fd = -1;
    return;
  }
}

/* Register with epoll what the directions now wait for on this end. */
static void arm(struct end *e) {
  uint32_t want = 0;
  for (int k = 0; k < 2; k++) {
    struct direction *d = &e->conn->dir[k];
    if (d->done || d->wait_fd != e->fd)
      continue;
    want |= (d->wait_events & POLLIN) ? EPOLLIN : 0;
    want |= (d->wait_events & POLLOUT) ? EPOLLOUT : 0;
  }
  if (want == e->armed)
    return;
  struct epoll_event ev = {.events = want, .data.ptr = e};
  int op = !e->armed ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
  if (epoll_ctl(epfd, op, e->fd, &ev) < 0) {
    perror("event_proxy: epoll_ctl");
    exit(1);
  }
  e->armed = want;
}

static void free_conn(struct conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  splicer_session_free(c->dir[0].s);
  splicer_session_free(c->dir[1].s);
  close(c->client.fd); /* closing drops the epoll registrations */
  close(c->upstream.fd);
  free(c);
  open_conns--;
}

/* After its directions moved: re-arm both ends, or retire the connection
 * once both directions are over (freed at the end of the batch, since
 * later events of the batch may still point at it). */
static void settle(struct conn *c, struct conn **dead) {
  if (c->dead)
    return;
  if (c->dir[0].done && c->dir[1].done) {
    c->dead = 1;
    c->next_dead = *dead;
    *dead = c;
    return;
  }
  arm(&c->client);
  arm(&c->upstream);
}

/* Accept one connection; 0 when there was none to accept, -1 with errno
 * set when accept failed for lack of fds. */
static int accept_one(int l, int upstream_port, struct conn **dead) {
  int c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  /* Out of fds: the pool's idle pipes are fds too; give them back (they are
   * made again when a batch needs one) and try once more. */
  if (c < 0 && (errno == EMFILE || errno == ENFILE) && splicer_pool_trim() > 0)
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0)
    return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -1;
  int u = connect_to(upstream_port);
  if (u < 0 && (errno == EMFILE || errno == ENFILE) && splicer_pool_trim() > 0)
    u = connect_to(upstream_port);
  if (u < 0) {
    if (!failed++)
      perror("event_proxy: upstream"); /* counted; reported once */
    close(c);
    return 1;
  }
  struct conn *cn = calloc(1, sizeof *cn);
  int r = -ENOMEM;
  if (cn) {
    cn->client = (struct end){cn, c, 0};
    cn->upstream = (struct end){cn, u, 0};
    r = start_direction(&cn->dir[0], &cn->client, &cn->upstream);
    if (r == 0)
      r = start_direction(&cn->dir[1], &cn->upstream, &cn->client);
  }
  if (r < 0) {
    fprintf(stderr, "event_proxy: cannot start a session: %s\n", splicer_errname(r));
    if (cn) {
      splicer_session_free(cn->dir[0].s); /* NULL is a no-op */
      splicer_session_free(cn->dir[1].s);
      free(cn);
    }
    close(c);
    close(u);
    failed++;
    return 1;
  }
  cn->next = conns;
  if (conns)
    conns->prev = cn;
  conns = cn;
  open_conns++;
  served++;
  /* first steps: the client may have sent before it was accepted */
  pump(&cn->dir[0]);
  pump(&cn->dir[1]);
  settle(cn, dead);
  return 1;
}

static void print_stats(void) {
  splicer_pool_stats ps;
  splicer_pool_stats_get(&ps, sizeof ps);
  int64_t max_pipes = 0, max_idle = 0, pipe_size = 0;
  splicer_pool_get(SPLICER_POOL_MAX_PIPES, &max_pipes);
  splicer_pool_get(SPLICER_POOL_MAX_IDLE, &max_idle);
  splicer_pool_get(SPLICER_POOL_PIPE_SIZE, &pipe_size);
  printf("event_proxy: served %ld, failed %ld, errors %" PRIu64 ", open %ld\n", served,
         failed, errors, open_conns);
  printf("pool borrowed=%" PRIu64 " returned=%" PRIu64 " created=%" PRIu64
         " closed=%" PRIu64 " misses=%" PRIu64 " in_use=%" PRIu64 " idle=%" PRIu64
         " peak_in_use=%" PRIu64 " discarded=%" PRIu64 " undersized=%" PRIu64
         " spills=%" PRIu64 " max_pipes=%" PRId64 " max_idle=%" PRId64 " pipe_size=%" PRId64
         " sessions_pooled=%d\n",
         ps.borrowed, ps.returned, ps.created, ps.closed, ps.misses, ps.in_use, ps.idle,
         ps.peak_in_use, ps.discarded, ps.undersized, ps.spills, max_pipes, max_idle, pipe_size,
         use_pool);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: event_proxy LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  int upstream_port = atoi(argv[2]);
  long budget = getenv("EVENT_PROXY_CONNS") ? atol(getenv("EVENT_PROXY_CONNS")) : -1;
  const char *pool = getenv("EVENT_PROXY_POOL");
  if (pool && strcmp(pool, "0") && strcmp(pool, "1")) {
    fprintf(stderr, "event_proxy: EVENT_PROXY_POOL must be 0 or 1\n");
    return 2;
  }
  use_pool = !pool || strcmp(pool, "0") != 0;

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  sigprocmask(SIG_BLOCK, &stop, NULL);
  int sfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (sfd < 0 || epfd < 0) {
    perror("event_proxy");
    return 1;
  }
  int l = listen_on(atoi(argv[1]));
  /* data.ptr: NULL is the listener, &sfd the signals, anything else an end */
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sfd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, l, &lev);
  epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev);
  int listening = 1; /* the listener is registered */
  int stopping = 0;

  struct epoll_event evs[256];
  for (;;) {
    int want_listen = !stopping && (budget < 0 || served < budget);
    if (!want_listen && listening) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, l, NULL);
      listening = 0;
    }
    if (stopping || (!want_listen && open_conns == 0))
      break;
    /* out of fds, the listener rests: it comes back when a connection
     * closes, or after 100 ms */
    int n = epoll_wait(epfd, evs, 256, listening || !want_listen ? -1 : 100);
    if (n < 0 && errno != EINTR) {
      perror("event_proxy: epoll_wait");
      return 1;
    }
    if (n <= 0 && want_listen && !listening) {
      epoll_ctl(epfd, EPOLL_CTL_ADD, l, &lev);
      listening = 1;
    }
    struct conn *dead = NULL;
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &sfd) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
          if (si.ssi_signo == SIGUSR1)
            print_stats();
          else
            stopping = 1;
        }
        continue;
      }
      if (!p) {
        /* a bounded batch of accepts, so that transfers are not starved */
        for (int k = 0; k < 64 && (budget < 0 || served < budget); k++) {
          int r = accept_one(l, upstream_port, &dead);
          if (r == 0)
            break;
          if (r < 0) {
            if (errno != EMFILE && errno != ENFILE) {
              perror("event_proxy: accept");
              return 1;
            }
            epoll_ctl(epfd, EPOLL_CTL_DEL, l, NULL);
            listening = 0;
            break;
          }
        }
        continue;
      }
      struct end *e = p;
      struct conn *c = e->conn;
      if (c->dead)
        continue;
      uint32_t got = evs[i].events;
      for (int k = 0; k < 2; k++) {
        struct direction *d = &c->dir[k];
        if (d->done || d->wait_fd != e->fd)
          continue;
        /* an error or hang-up wakes whoever waits on this end: its next
         * step meets the condition and ends the direction */
        if ((got & (EPOLLERR | EPOLLHUP)) ||
            ((got & EPOLLIN) && (d->wait_events & POLLIN)) ||
            ((got & EPOLLOUT) && (d->wait_events & POLLOUT)))
          pump(d);
      }
      settle(c, &dead);
    }
    while (dead) {
      struct conn *next = dead->next_dead;
      free_conn(dead);
      dead = next;
      if (!listening && want_listen) {
        epoll_ctl(epfd, EPOLL_CTL_ADD, l, &lev);
        listening = 1;
      }
    }
  }
  print_stats();
  while (conns)
    free_conn(conns);
  close(l);
  close(sfd);
  close(epfd);
  return 0;
}
