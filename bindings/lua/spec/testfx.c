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
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static const luaL_Reg fx[] = {
    {"pipe", fx_pipe},         {"socketpair", fx_socketpair},
    {"tcp_pair", fx_tcp_pair}, {"memfd", fx_memfd},
    {"open", fx_open},         {"close", fx_close},
    {"read", fx_read},         {"write", fx_write},
    {"lseek", fx_lseek},       {"set_nonblock", fx_set_nonblock},
    {"is_nonblock", fx_is_nonblock},
    {"fill", fx_fill},         {"shutdown", fx_shutdown},
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
