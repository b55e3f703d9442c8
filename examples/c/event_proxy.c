/* event_proxy LISTEN_PORT UPSTREAM_PORT: a single-threaded TCP proxy on
 * 127.0.0.1.  Each accepted connection gets an upstream connection and two
 * non-blocking sessions (one per direction); one poll(2) loop drives them
 * all through splicer_wait().  Bytes a full destination cannot take yet stay
 * in the session, so nothing is lost however slow either side is.  It exits
 * after serving the number of connections in $EVENT_PROXY_CONNS (default:
 * forever), which lets tests stop it cleanly. */
#include <splicer.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64

struct direction {
  splicer_session *s;
  int from, to;
  int done; /* source hit EOF (or failed): peer's write side shut */
};

struct conn {
  int client, upstream;
  struct direction dir[2];
};

static int listen_on(int port) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0) {
    perror("listen");
    exit(1);
  }
  return l;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int start_direction(struct direction *d, int from, int to) {
  d->from = from;
  d->to = to;
  d->done = 0;
  int r = splicer_session_new(&d->s);
  if (r == 0)
    r = splicer_session_set(d->s, SPLICER_OPT_NONBLOCK, 1);
  if (r == 0)
    r = splicer_open(d->s, from, SPLICER_OFF_CUR, to, SPLICER_OFF_CUR,
                     SPLICER_TO_EOF);
  return r;
}

/* Step until it would block; 1 when this direction is over. */
static int pump(struct direction *d) {
  for (;;) {
    int64_t r = splicer_step(d->s);
    if (r > 0)
      continue;
    if (r == -EAGAIN)
      return 0;
    if (r < 0) {
      fprintf(stderr, "event_proxy: %s\n", splicer_errname((int)r));
      splicer_abort(d->s);
    }
    shutdown(d->to, SHUT_WR); /* EOF (or error): pass it on */
    d->done = 1;
    return 1;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: event_proxy LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  int upstream_port = atoi(argv[2]);
  long budget = getenv("EVENT_PROXY_CONNS") ? atol(getenv("EVENT_PROXY_CONNS")) : -1;
  int l = listen_on(atoi(argv[1]));
  struct conn conns[MAX_CONNS];
  int n = 0;
  long served = 0;
  for (;;) {
    struct pollfd pfd[1 + 2 * MAX_CONNS];
    struct direction *owner[1 + 2 * MAX_CONNS];
    int np = 0;
    if (budget < 0 || served < budget) {
      pfd[np] = (struct pollfd){.fd = l, .events = POLLIN};
      owner[np++] = NULL;
    }
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 2; k++) {
        struct direction *d = &conns[i].dir[k];
        if (d->done)
          continue;
        pfd[np].revents = 0;
        if (splicer_wait(d->s, &pfd[np].fd, &pfd[np].events) < 0) {
          pfd[np].fd = d->from; /* not stepped yet: start with the source */
          pfd[np].events = POLLIN;
        }
        owner[np++] = d;
      }
    if (np == 0)
      break; /* budget spent and every connection finished */
    if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR) {
      perror("poll");
      return 1;
    }
    for (int i = 0; i < np; i++) {
      if (!pfd[i].revents)
        continue;
      if (!owner[i]) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        int u = c < 0 ? -1 : connect_to(upstream_port);
        if (c < 0 || u < 0 || n == MAX_CONNS) {
          if (c >= 0) close(c);
          if (u >= 0) close(u);
          continue;
        }
        struct conn *cn = &conns[n++];
        cn->client = c;
        cn->upstream = u;
        if (start_direction(&cn->dir[0], c, u) < 0 ||
            start_direction(&cn->dir[1], u, c) < 0) {
          fprintf(stderr, "event_proxy: cannot start a session\n");
          return 1;
        }
        served++;
        continue;
      }
      pump(owner[i]);
    }
    /* retire connections whose both directions are over */
    for (int i = 0; i < n;) {
      struct conn *cn = &conns[i];
      if (cn->dir[0].done && cn->dir[1].done) {
        splicer_session_free(cn->dir[0].s);
        splicer_session_free(cn->dir[1].s);
        close(cn->client);
        close(cn->upstream);
        conns[i] = conns[--n];
      } else {
        i++;
      }
    }
  }
  close(l);
  return 0;
}
