/*
 * splicer_testfx -- fixtures for the Lua specs and the conformance runner.
 *
 * Plain Lua cannot make a pipe, a socket pair or a memfd, and the specs must
 * not depend on luaposix being installed, so this small module (built only
 * for the tests, never installed) gives them the few syscalls they need.
 * Every function returns its result, or nil, message, errno_name.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "splicer.h"

static int fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, splicer_strerror(-err));
  lua_pushstring(L, splicer_errname(-err));
  return 3;
}

static int push_pair(lua_State *L, int r, const int fds[2]) {
  if (r < 0)
    return fail(L, errno);
  lua_pushinteger(L, fds[0]);
  lua_pushinteger(L, fds[1]);
  return 2;
}

/* pipe() -> read_fd, write_fd */
static int fx_pipe(lua_State *L) {
  int fds[2];
  return push_pair(L, pipe2(fds, O_CLOEXEC), fds);
}

/* socketpair([type "stream"|"dgram"]) -> fd, fd (AF_UNIX) */
static int fx_socketpair(lua_State *L) {
  const char *t = luaL_optstring(L, 1, "stream");
  int fds[2];
  int type = strcmp(t, "dgram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
  return push_pair(L, socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds), fds);
}

/* tcp_pair() -> client_fd, server_fd: a connected TCP pair over 127.0.0.1 */
static int fx_tcp_pair(lua_State *L) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  int lfd, c = -1, s = -1, e;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    return fail(L, errno);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
    goto err;
  c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
    goto err;
  s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (s < 0)
    goto err;
  close(lfd);
  lua_pushinteger(L, c);
  lua_pushinteger(L, s);
  return 2;
err:
  e = errno;
  close(lfd);
  if (c >= 0)
    close(c);
  return fail(L, e);
}

/* udp_pair() -> fd, fd: two UDP sockets on 127.0.0.1 connected to each
 * other */
static int fx_udp_pair(lua_State *L) {
  struct sockaddr_in a[2];
  int fds[2] = {-1, -1}, e;
  for (int k = 0; k < 2; k++) {
    socklen_t alen = sizeof a[k];
    memset(&a[k], 0, sizeof a[k]);
    a[k].sin_family = AF_INET;
    a[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fds[k] < 0 || bind(fds[k], (struct sockaddr *)&a[k], sizeof a[k]) < 0 ||
        getsockname(fds[k], (struct sockaddr *)&a[k], &alen) < 0)
      goto err;
  }
  if (connect(fds[0], (struct sockaddr *)&a[1], sizeof a[1]) < 0 ||
      connect(fds[1], (struct sockaddr *)&a[0], sizeof a[0]) < 0)
    goto err;
  lua_pushinteger(L, fds[0]);
  lua_pushinteger(L, fds[1]);
  return 2;
err:
  e = errno;
  for (int k = 0; k < 2; k++)
    if (fds[k] >= 0)
      close(fds[k]);
  return fail(L, e);
}

/* send_datagram(fd, bytes) -> count: one datagram ("" is a zero-length
 * one) on a connected datagram socket */
static int fx_send_datagram(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  ssize_t w;
  while ((w = send(fd, p, n, 0)) < 0 && errno == EINTR)
    ;
  if (w < 0)
    return fail(L, errno);
  lua_pushinteger(L, (lua_Integer)w);
  return 1;
}

/* recv_datagram(fd, timeout_ms) -> string: one whole datagram ("" for a
 * zero-length one) received within timeout_ms, or nil when none came */
static int fx_recv_datagram(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  int timeout = (int)luaL_checkinteger(L, 2);
  static char buf[65536];
  struct pollfd p = {fd, POLLIN, 0};
  int pr;
  ssize_t n;
  while ((pr = poll(&p, 1, timeout)) < 0 && errno == EINTR)
    ;
  if (pr <= 0)
    return 0;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return errno == EAGAIN ? 0 : fail(L, errno);
  lua_pushlstring(L, buf, (size_t)n);
  return 1;
}

/* memfd([name]) -> fd */
static int fx_memfd(lua_State *L) {
  int fd = memfd_create(luaL_optstring(L, 1, "splicer-test"), MFD_CLOEXEC);
  if (fd < 0)
    return fail(L, errno);
  lua_pushinteger(L, fd);
  return 1;
}

/* open(path, mode) with mode "r", "w" (create, truncate), "rw", "a"
 * (append, create), "r+" (read/write, no create) -> fd */
static int fx_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *m = luaL_optstring(L, 2, "r");
  int flags;
  if (strcmp(m, "r") == 0)
    flags = O_RDONLY;
  else if (strcmp(m, "w") == 0)
    flags = O_WRONLY | O_CREAT | O_TRUNC;
  else if (strcmp(m, "rw") == 0)
    flags = O_RDWR | O_CREAT | O_TRUNC;
  else if (strcmp(m, "r+") == 0)
    flags = O_RDWR;
  else if (strcmp(m, "a") == 0)
    flags = O_WRONLY | O_CREAT | O_APPEND;
  else
    return luaL_argerror(L, 2, "r, w, rw, r+ or a");
  int fd = open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail(L, errno);
  lua_pushinteger(L, fd);
  return 1;
}

static int fx_close(lua_State *L) {
  if (close((int)luaL_checkinteger(L, 1)) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* read(fd, n) -> string ("" at end of file) */
static int fx_read(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t n = (size_t)luaL_checkinteger(L, 2);
  char *p;
  ssize_t r;
  int e;
  if (n > 1 << 24)
    n = 1 << 24;
  p = malloc(n ? n : 1);
  if (!p)
    return fail(L, ENOMEM);
  do
    r = read(fd, p, n);
  while (r < 0 && errno == EINTR);
  e = errno;
  if (r >= 0)
    lua_pushlstring(L, p, (size_t)r);
  free(p);
  return r < 0 ? fail(L, e) : 1;
}

/* write(fd, s) -> bytes written (one write(2)) */
static int fx_write(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  ssize_t r;
  do
    r = write(fd, s, n);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return fail(L, errno);
  lua_pushinteger(L, (lua_Integer)r);
  return 1;
}

/* lseek(fd, off [, "set"|"cur"|"end"]) -> position */
static int fx_lseek(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  off_t off = (off_t)luaL_optinteger(L, 2, 0);
  const char *w = luaL_optstring(L, 3, "set");
  int whence = strcmp(w, "cur") == 0 ? SEEK_CUR : strcmp(w, "end") == 0 ? SEEK_END : SEEK_SET;
  off_t r = lseek(fd, off, whence);
  if (r < 0)
    return fail(L, errno);
  lua_pushinteger(L, (lua_Integer)r);
  return 1;
}

/* set_nonblock(fd, on) -> true */
static int fx_set_nonblock(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return fail(L, errno);
  fl = lua_toboolean(L, 2) ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
  if (fcntl(fd, F_SETFL, fl) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* is_nonblock(fd) -> boolean */
static int fx_is_nonblock(lua_State *L) {
  int fl = fcntl((int)luaL_checkinteger(L, 1), F_GETFL);
  if (fl < 0)
    return fail(L, errno);
  lua_pushboolean(L, (fl & O_NONBLOCK) != 0);
  return 1;
}

/* fill(fd) -> bytes written until the (non-blocking) fd would block */
static int fx_fill(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  static const char zeros[65536];
  lua_Integer total = 0;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return fail(L, errno);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  size_t step = sizeof zeros;
  for (;;) {
    ssize_t r = write(fd, zeros, step);
    if (r > 0) {
      total += r;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN && step > 1) {
      step /= 2; /* pack the last bytes in: a socket takes less than a page */
      continue;
    }
    break;
  }
  fcntl(fd, F_SETFL, fl);
  lua_pushinteger(L, total);
  return 1;
}

/* Over loopback a segment can be late (a dropped one waits for a 200 ms
 * retransmission on a loaded machine).  tcp_wait_bytes(fd, n) waits, up to
 * 5 s, until n bytes are readable at fd (FIONREAD); tcp_wait_fin(fd) until
 * the peer's FIN has arrived (TCP_INFO state CLOSE_WAIT).  tests/README.md
 * section 4, tcp. */
static int queued(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void pause_10ms(void) {
  struct timespec t = {0, 10 * 1000 * 1000};
  nanosleep(&t, NULL);
}

/* tcp_queued(fd) -> bytes readable now (FIONREAD) */
static int fx_tcp_queued(lua_State *L) {
  lua_pushinteger(L, queued((int)luaL_checkinteger(L, 1)));
  return 1;
}

static int fx_tcp_wait_bytes(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  for (int k = 0; k < 500 && queued(fd) >= 0 && queued(fd) < n; k++)
    pause_10ms();
  lua_pushboolean(L, 1);
  return 1;
}

static int fx_tcp_wait_fin(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  for (int k = 0; k < 500; k++) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ti.tcpi_state == TCP_CLOSE_WAIT)
      break;
    pause_10ms();
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* shutdown(fd, "r"|"w"|"rw") -> true */
static int fx_shutdown(lua_State *L) {
  const char *h = luaL_optstring(L, 2, "w");
  int how = strcmp(h, "r") == 0 ? SHUT_RD : strcmp(h, "rw") == 0 ? SHUT_RDWR : SHUT_WR;
  if (shutdown((int)luaL_checkinteger(L, 1), how) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* poll(fd, "r"|"w", timeout_ms) -> true when ready, false on timeout */
static int fx_poll(lua_State *L) {
  struct pollfd p;
  int r;
  p.fd = (int)luaL_checkinteger(L, 1);
  p.events = strcmp(luaL_optstring(L, 2, "r"), "w") == 0 ? POLLOUT : POLLIN;
  p.revents = 0;
  do
    r = poll(&p, 1, (int)luaL_optinteger(L, 3, -1));
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return fail(L, errno);
  lua_pushboolean(L, r > 0);
  return 1;
}

/* fstat(fd) -> size, kind ("file", "pipe", "socket", "char", "block", "other") */
static int fx_fstat(lua_State *L) {
  struct stat st;
  if (fstat((int)luaL_checkinteger(L, 1), &st) < 0)
    return fail(L, errno);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_pushstring(L, S_ISREG(st.st_mode)    ? "file"
                    : S_ISFIFO(st.st_mode) ? "pipe"
                    : S_ISSOCK(st.st_mode) ? "socket"
                    : S_ISCHR(st.st_mode)  ? "char"
                    : S_ISBLK(st.st_mode)  ? "block"
                                           : "other");
  return 2;
}

/* fd_count() -> open fds of the process, to catch leaks */
static int fx_fd_count(lua_State *L) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  lua_Integer n = 0;
  if (!d)
    return fail(L, errno);
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  lua_pushinteger(L, n - 1); /* less the directory's own fd */
  return 1;
}

/* ignore_sigpipe() / default_sigpipe(): for cases about SIGPIPE handling */
static int fx_sigpipe(lua_State *L) {
  signal(SIGPIPE, lua_toboolean(L, 1) ? SIG_IGN : SIG_DFL);
  return 0;
}


/* reopen(path, "r"|"w"|"rw" [, append]) -> fd: no O_CREAT, no O_TRUNC */
static int fx_reopen(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *m = luaL_optstring(L, 2, "r");
  int flags = strcmp(m, "w") == 0 ? O_WRONLY : strcmp(m, "rw") == 0 ? O_RDWR : O_RDONLY;
  if (lua_toboolean(L, 3))
    flags |= O_APPEND;
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0)
    return fail(L, errno);
  lua_pushinteger(L, fd);
  return 1;
}

/* write_all(fd, s) -> bytes: blocking until all is written; a reader gone
 * is EPIPE, never a signal */
static int fx_write_all(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t n, done = 0;
  const char *s = luaL_checklstring(L, 2, &n);
  void (*old)(int) = signal(SIGPIPE, SIG_IGN);
  int e = 0;
  while (done < n) {
    ssize_t r = write(fd, s + done, n - done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN) { /* a non-blocking fd: wait for room */
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    if (r < 0) {
      e = errno;
      break;
    }
    done += (size_t)r;
  }
  signal(SIGPIPE, old);
  if (e)
    return fail(L, e);
  lua_pushinteger(L, (lua_Integer)done);
  return 1;
}

/* read_now(fd, max) -> string: what can be read without blocking, at most
 * max bytes ("" when nothing is available or at end of file) */
static int fx_read_now(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t max = (size_t)luaL_checkinteger(L, 2);
  luaL_Buffer b;
  char tmp[65536];
  luaL_buffinit(L, &b);
  while (max > 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
      break;
    ssize_t r = read(fd, tmp, max < sizeof tmp ? max : sizeof tmp);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    luaL_addlstring(&b, tmp, (size_t)r);
    max -= (size_t)r;
  }
  luaL_pushresult(&b);
  return 1;
}

/* pread_all(fd) -> the whole content from offset 0 */
static int fx_pread_all(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  luaL_Buffer b;
  char tmp[65536];
  off_t off = 0;
  luaL_buffinit(L, &b);
  for (;;) {
    ssize_t r = pread(fd, tmp, sizeof tmp, off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return fail(L, errno);
    if (r == 0)
      break;
    luaL_addlstring(&b, tmp, (size_t)r);
    off += r;
  }
  luaL_pushresult(&b);
  return 1;
}

/* pattern(seed, offset, size) -> the conformance suite's generated bytes */
static int fx_pattern(lua_State *L) {
  uint32_t seed = (uint32_t)luaL_checknumber(L, 1);
  uint64_t off = (uint64_t)luaL_checknumber(L, 2);
  size_t n = (size_t)luaL_checknumber(L, 3), i;
  char *p = malloc(n ? n : 1);
  if (!p)
    return fail(L, ENOMEM);
  for (i = 0; i < n; i++) {
    uint32_t x = seed + (uint32_t)(off + i) * 2654435761u;
    x ^= x >> 16;
    p[i] = (char)((x ^ (x >> 8)) & 0xff);
  }
  lua_pushlstring(L, p, n);
  free(p);
  return 1;
}

/* fnv1a64(s) -> 16 lower-case hex digits */
static int fx_fnv1a64(lua_State *L) {
  size_t n, i;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  uint64_t h = 0xcbf29ce484222325ull;
  char out[17];
  for (i = 0; i < n; i++)
    h = (h ^ s[i]) * 0x100000001b3ull;
  snprintf(out, sizeof out, "%016llx", (unsigned long long)h);
  lua_pushstring(L, out);
  return 1;
}

/* mkdtemp(template) -> path */
static int fx_mkdtemp(lua_State *L) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", luaL_checkstring(L, 1));
  if (!mkdtemp(buf))
    return fail(L, errno);
  lua_pushstring(L, buf);
  return 1;
}

/* mount_tmpfs(dir, size) -> true; umount(dir) -> true */
static int fx_mount_tmpfs(lua_State *L) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%lld", (long long)luaL_checkinteger(L, 2));
  if (mount("tmpfs", luaL_checkstring(L, 1), "tmpfs", 0, opts) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

static int fx_umount(lua_State *L) {
  if (umount2(luaL_checkstring(L, 1), MNT_DETACH) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* set_bufsize(fd, "snd"|"rcv", bytes) -> true */
static int fx_set_bufsize(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  int opt = strcmp(luaL_checkstring(L, 2), "snd") == 0 ? SO_SNDBUF : SO_RCVBUF;
  int v = (int)luaL_checkinteger(L, 3);
  if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) < 0)
    return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* reader_start(fd, out_fd, {reads...}, pause_ms) -> pid: a child process
 * that reads fd until end of file, at most reads[k] bytes per read (cycling),
 * sleeping pause_ms before each, and appends what it read to out_fd.  It
 * keeps no other fd open, so the parent's closes reach the peer. */
static int fx_reader_start(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  int out = (int)luaL_checkinteger(L, 2);
  size_t nreads, i;
  size_t reads[64];
  int pause = (int)luaL_optinteger(L, 4, 0);
  luaL_checktype(L, 3, LUA_TTABLE);
#if LUA_VERSION_NUM >= 502
  nreads = lua_rawlen(L, 3);
#else
  nreads = lua_objlen(L, 3);
#endif
  if (nreads == 0) {
    reads[0] = 65536;
    nreads = 1;
  }
  if (nreads > 64)
    nreads = 64;
  for (i = 0; i < nreads; i++) {
    lua_rawgeti(L, 3, (int)i + 1);
    if (lua_type(L, -1) == LUA_TNUMBER)
      reads[i] = (size_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return fail(L, errno);
  if (pid == 0) {
    static char buf[1 << 20];
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
      maxfd = 65536;
    for (int f = 3; f < maxfd; f++)
      if (f != fd && f != out)
        close(f);
    for (size_t k = 0;; k++) {
      size_t want = reads[k % nreads];
      if (want > sizeof buf)
        want = sizeof buf;
      if (pause > 0) {
        struct timespec ts = {pause / 1000, (long)(pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
      }
      ssize_t r = read(fd, buf, want);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        _exit(r < 0 ? 1 : 0);
      for (ssize_t done = 0; done < r;) {
        ssize_t w = write(out, buf + done, (size_t)(r - done));
        if (w <= 0)
          _exit(2);
        done += w;
      }
    }
  }
  lua_pushinteger(L, pid);
  return 1;
}

/* reader_join(pid) -> exit status */
static int fx_reader_join(lua_State *L) {
  int st = 0;
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return fail(L, errno);
  lua_pushinteger(L, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  return 1;
}

static const luaL_Reg fx[] = {
    {"reopen", fx_reopen}, {"write_all", fx_write_all}, {"read_now", fx_read_now},
    {"pread_all", fx_pread_all}, {"pattern", fx_pattern}, {"fnv1a64", fx_fnv1a64},
    {"mkdtemp", fx_mkdtemp}, {"mount_tmpfs", fx_mount_tmpfs}, {"umount", fx_umount},
    {"set_bufsize", fx_set_bufsize}, {"reader_start", fx_reader_start},
    {"reader_join", fx_reader_join},
    {"pipe", fx_pipe},         {"socketpair", fx_socketpair},
    {"tcp_pair", fx_tcp_pair}, {"memfd", fx_memfd},
    {"udp_pair", fx_udp_pair}, {"send_datagram", fx_send_datagram},
    {"recv_datagram", fx_recv_datagram},
    {"open", fx_open},         {"close", fx_close},
    {"read", fx_read},         {"write", fx_write},
    {"lseek", fx_lseek},       {"set_nonblock", fx_set_nonblock},
    {"is_nonblock", fx_is_nonblock},
    {"fill", fx_fill},         {"shutdown", fx_shutdown},
    {"tcp_queued", fx_tcp_queued}, {"tcp_wait_bytes", fx_tcp_wait_bytes},
    {"tcp_wait_fin", fx_tcp_wait_fin},
    {"poll", fx_poll},         {"fstat", fx_fstat},
    {"fd_count", fx_fd_count}, {"ignore_sigpipe", fx_sigpipe},
    {NULL, NULL}};

__attribute__((visibility("default"))) int luaopen_splicer_testfx(lua_State *L) {
  lua_newtable(L);
#if LUA_VERSION_NUM >= 502
  luaL_setfuncs(L, fx, 0);
#else
  luaL_register(L, NULL, fx);
#endif
  return 1;
}
