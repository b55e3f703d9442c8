/*
 * splicer_lua.i -- Lua typemaps for splicer's generated layer.
 *
 *   swig -lua -Icore/include -Iswig -o bindings/lua/splicer_wrap.c swig/splicer_lua.i
 *
 * The result is the C module "splicer.core" (luaopen_splicer_core), which
 * mirrors splicer.h one function to one function; bindings/lua/splicer.lua
 * is the idiomatic layer users require.  One generated file serves Lua 5.1,
 * LuaJIT 2.1, 5.2, 5.3 and 5.4: the differences are #if LUA_VERSION_NUM.
 *
 * Conventions of the generated functions:
 *   - counts, sizes and offsets are Lua integers on 5.3+ (math.type(n) ==
 *     "integer", all 64 bits).  Lua 5.1 and LuaJIT have no integer subtype:
 *     there they are lua_Numbers, exact up to 2^53 (8 PiB), and an argument
 *     that is not a whole number in range is an error, never rounded;
 *   - a -errno result becomes nil, message, errno_name (luaposix style),
 *     e.g. nil, "Broken pipe", "EPIPE";
 *   - an fd argument is a number, an io library file (its FILE* is flushed
 *     and its fileno used) or any object with a getfd() method (LuaSocket);
 *   - out-parameters are results: session_new() returns the session,
 *     wait() returns fd, events, progress_get()/stats_get()/
 *     pool_stats_get() return tables, pool_get() returns the value.
 */
%module splicer_core

%{
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "splicer.h"

#ifndef LUA_FILEHANDLE /* lualib.h in Lua 5.1 and LuaJIT, lauxlib.h since */
#define LUA_FILEHANDLE "FILE*"
#endif

#if LUA_VERSION_NUM >= 502
#define splicer_lua_rawlen lua_rawlen
#else
#define splicer_lua_rawlen lua_objlen
#endif

/* nil, message, errno_name: the failure convention of every result. */
static int splicer_lua_fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, splicer_strerror(err));
  lua_pushstring(L, splicer_errname(err));
  return 3;
}

static void splicer_lua_push_i64(lua_State *L, int64_t v) {
#if LUA_VERSION_NUM >= 503
  lua_pushinteger(L, (lua_Integer)v);
#else
  lua_pushnumber(L, (lua_Number)v);
#endif
}

static void splicer_lua_push_u64(lua_State *L, uint64_t v) {
#if LUA_VERSION_NUM >= 503
  /* Counts never reach 2^63; should one, a float keeps its sign right. */
  if (v <= (uint64_t)INT64_MAX)
    lua_pushinteger(L, (lua_Integer)v);
  else
    lua_pushnumber(L, (lua_Number)v);
#else
  lua_pushnumber(L, (lua_Number)v);
#endif
}

/* A whole number that fits int64_t.  Floats with an exact integer value
 * (4.0) are accepted, as Lua 5.3's own integer arguments are; 4.5 is not. */
static int64_t splicer_lua_check_i64(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  int isnum = 0;
  lua_Integer v = lua_tointegerx(L, idx, &isnum);
  if (!isnum) {
    if (lua_isnumber(L, idx))
      luaL_argerror(L, idx, "number has no integer representation");
    luaL_argerror(L, idx, lua_pushfstring(L, "integer expected, got %s",
                                          luaL_typename(L, idx)));
  }
  return (int64_t)v;
#else
  lua_Number n;
  if (!lua_isnumber(L, idx))
    luaL_argerror(L, idx, lua_pushfstring(L, "integer expected, got %s",
                                          luaL_typename(L, idx)));
  n = lua_tonumber(L, idx);
  /* -2^63 <= n < 2^63 (both bounds exact in a double; NaN fails), then
   * whole: the cast is defined once the range is checked */
  if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0) ||
      (lua_Number)(int64_t)n != n)
    luaL_argerror(L, idx, "number has no integer representation");
  return (int64_t)n;
#endif
}

static int splicer_lua_check_int(lua_State *L, int idx) {
  int64_t v = splicer_lua_check_i64(L, idx);
  if (v < INT_MIN || v > INT_MAX)
    luaL_argerror(L, idx, "integer out of range");
  return (int)v;
}

static uint64_t splicer_lua_check_nonneg(lua_State *L, int idx, uint64_t max) {
  int64_t v = splicer_lua_check_i64(L, idx);
  if (v < 0)
    luaL_argerror(L, idx, "integer must not be negative");
  if ((uint64_t)v > max)
    luaL_argerror(L, idx, "integer out of range");
  return (uint64_t)v;
}

/* A length: nil, -1 or math.huge mean SPLICER_TO_EOF. */
static uint64_t splicer_lua_check_len(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  { /* the common case first, in one API call: what it accepts,
     * splicer_lua_check_i64 below would accept with the same value */
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (isnum && v >= 0)
      return (uint64_t)v;
  }
#endif
  if (lua_isnoneornil(L, idx))
    return SPLICER_TO_EOF;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, idx);
    if (n == HUGE_VAL)
      return SPLICER_TO_EOF;
  }
  {
    int64_t v = splicer_lua_check_i64(L, idx);
    if (v == -1)
      return SPLICER_TO_EOF;
    if (v < 0)
      luaL_argerror(L, idx, "length must be >= 0 (nil or -1: to end of file)");
    return (uint64_t)v;
  }
}

/* An offset: nil means SPLICER_OFF_CUR (the fd's own position). */
static int64_t splicer_lua_check_off(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  { /* a number first, in one API call (nil is not one) */
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (isnum)
      return (int64_t)v;
  }
#endif
  if (lua_isnoneornil(L, idx))
    return SPLICER_OFF_CUR;
  return splicer_lua_check_i64(L, idx);
}

/* Is the value at idx a file of Lua's io library? */
static int splicer_lua_is_file(lua_State *L, int idx) {
  int same;
  if (!lua_getmetatable(L, idx))
    return 0;
  luaL_getmetatable(L, LUA_FILEHANDLE);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* The fd behind an argument: a number, an io file, or obj:getfd().
 * A file is flushed first so that bytes written through it precede the
 * transfer and, for a seekable input, its read-ahead is given back and
 * the fd's position is where the Lua reader stopped. */
static int splicer_lua_tofd_any(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TNUMBER)
    return splicer_lua_check_int(L, idx);
  if (t == LUA_TUSERDATA && splicer_lua_is_file(L, idx)) {
    /* Lua 5.2+: luaL_Stream; 5.1 and LuaJIT: a FILE* first in the block. */
#if LUA_VERSION_NUM >= 502
    luaL_Stream *p = (luaL_Stream *)lua_touserdata(L, idx);
    FILE *f = p->closef ? p->f : NULL;
#else
    FILE *f = *(FILE **)lua_touserdata(L, idx);
#endif
    if (!f)
      luaL_argerror(L, idx, "attempt to use a closed file");
    fflush(f);
    return fileno(f);
  }
  if (t == LUA_TTABLE || (t == LUA_TUSERDATA && luaL_getmetafield(L, idx, "__index"))) {
    int fd;
    if (t == LUA_TUSERDATA)
      lua_pop(L, 1); /* the __index just tested */
    lua_getfield(L, idx, "getfd");
    if (lua_type(L, -1) != LUA_TFUNCTION)
      luaL_argerror(L, idx, "file descriptor expected (object without getfd)");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, idx, "getfd() did not return a number");
    fd = splicer_lua_check_int(L, lua_gettop(L));
    lua_pop(L, 1);
    return fd;
  }
  luaL_argerror(L, idx, lua_pushfstring(L,
      "file descriptor expected (number, file or object with getfd), got %s",
      luaL_typename(L, idx)));
  return -1;
}

/* Every raw call passes fds: an integer in range, the common case, costs two
 * API calls here; anything else (and every error) takes the path above. */
static int splicer_lua_tofd(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) {
    lua_Integer v = lua_tointeger(L, idx);
    if (v >= INT_MIN && v <= INT_MAX)
      return (int)v;
  }
#endif
  return splicer_lua_tofd_any(L, idx);
}

/* A handle argument.  Every transfer step passes one, so the exact type is
 * recognised first, without SWIG's cast-list walk (a string compare).  nil
 * is NULL, which the C API answers with -EINVAL; a handle whose object was
 * freed or handed over (see splicer_lua_release) is a programming error. */
static void *splicer_lua_handle(lua_State *L, int idx, swig_type_info *type,
                                const char *what) {
  swig_lua_userdata *usr;
  void *p = NULL;
  if (lua_type(L, idx) == LUA_TUSERDATA) {
    usr = (swig_lua_userdata *)lua_touserdata(L, idx);
    if (usr->type == type) {
      if (!usr->ptr)
        luaL_error(L, "splicer: attempt to use a closed %s", what);
      return usr->ptr;
    }
  } else if (lua_isnil(L, idx)) {
    return NULL;
  }
  if (!SWIG_IsOK(SWIG_ConvertPtr(L, idx, &p, type, 0)))
    luaL_argerror(L, idx, lua_pushfstring(L, "%s expected", what));
  return p;
}

/* After the handle's C object was freed or handed over: the userdata must
 * neither free it again when collected nor lend its address to any call. */
static void splicer_lua_release(lua_State *L, int idx) {
  swig_lua_userdata *usr = (swig_lua_userdata *)lua_touserdata(L, idx);
  if (usr) {
    usr->own = 0;
    usr->ptr = NULL;
  }
}
%}

/* ---- numbers in --------------------------------------------------------- */

%typemap(in) int      %{ $1 = splicer_lua_check_int(L, $input); %}
%typemap(in) unsigned %{ $1 = (unsigned)splicer_lua_check_nonneg(L, $input, UINT_MAX); %}
%typemap(in) size_t   %{ $1 = (size_t)splicer_lua_check_nonneg(L, $input, SIZE_MAX); %}
%typemap(in) int64_t  %{ $1 = splicer_lua_check_i64(L, $input); %}
%typemap(in) uint64_t %{ $1 = splicer_lua_check_nonneg(L, $input, UINT64_MAX); %}

/* Offsets and lengths may be left out, as the C API's OFF_CUR and TO_EOF. */
%typemap(in) int64_t off_in, int64_t off_out
  %{ $1 = splicer_lua_check_off(L, $input); %}
%typemap(in) uint64_t len %{ $1 = splicer_lua_check_len(L, $input); %}
%typemap(default) uint64_t len %{ $1 = SPLICER_TO_EOF; %}
%typemap(default) unsigned flags %{ $1 = 0; %}

%typemap(in) int fd_in, int fd_out, int pipe_fd, int fd
  %{ $1 = splicer_lua_tofd(L, $input); %}

%typemap(in) splicer_session *s, const splicer_session *s
  %{ $1 = ($1_ltype)splicer_lua_handle(L, $input, $descriptor, "session"); %}

/* ---- results: -errno becomes nil, message, errno_name ------------------ */

%typemap(out) int %{
  if ($1 < 0)
    return splicer_lua_fail(L, (int)$1);
  lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;
%}
%typemap(out) int64_t %{
  if ($1 < 0)
    return splicer_lua_fail(L, (int)$1);
  splicer_lua_push_i64(L, $1); SWIG_arg++;
%}
%typemap(out) unsigned %{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}
%typemap(out) size_t   %{ splicer_lua_push_u64(L, (uint64_t)$1); SWIG_arg++; %}

/* Functions whose status is replaced by their out-parameters. */
%typemap(out) int splicer_session_new, int splicer_session_get,
              int splicer_wait, int splicer_progress_get,
              int splicer_stats_get, int splicer_buf_new,
              int splicer_pool_get, int splicer_pool_stats_get %{
  if ($1 < 0)
    return splicer_lua_fail(L, (int)$1);
%}

/* ---- out-parameters ----------------------------------------------------- */

%typemap(in, numinputs=0) splicer_session **out (splicer_session *temp = NULL)
  %{ $1 = &temp; %}
%typemap(argout) splicer_session **out
  %{ SWIG_NewPointerObj(L, temp$argnum, SWIGTYPE_p_splicer_session, 1); SWIG_arg++; %}

%typemap(in, numinputs=0) splicer_buf **out (splicer_buf *temp = NULL)
  %{ $1 = &temp; %}
%typemap(argout) splicer_buf **out
  %{ SWIG_NewPointerObj(L, temp$argnum, SWIGTYPE_p_splicer_buf, 1); SWIG_arg++; %}

%typemap(in, numinputs=0) int64_t *value (int64_t temp = 0) %{ $1 = &temp; %}
%typemap(argout) int64_t *value %{ splicer_lua_push_i64(L, temp$argnum); SWIG_arg++; %}

%typemap(in, numinputs=0) int *fd (int temp = -1) %{ $1 = &temp; %}
%typemap(argout) int *fd %{ lua_pushinteger(L, temp$argnum); SWIG_arg++; %}
%typemap(in, numinputs=0) short *events (short temp = 0) %{ $1 = &temp; %}
%typemap(argout) short *events %{ lua_pushinteger(L, temp$argnum); SWIG_arg++; %}

%typemap(in, numinputs=0) (splicer_progress *p, size_t size) (splicer_progress temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_progress *p, size_t size) %{
  lua_createtable(L, 0, 5);
  splicer_lua_push_u64(L, temp$argnum.consumed);  lua_setfield(L, -2, "consumed");
  splicer_lua_push_u64(L, temp$argnum.delivered); lua_setfield(L, -2, "delivered");
  splicer_lua_push_u64(L, temp$argnum.pending);   lua_setfield(L, -2, "pending");
  lua_pushinteger(L, temp$argnum.method);         lua_setfield(L, -2, "method");
  lua_pushboolean(L, temp$argnum.finished != 0);  lua_setfield(L, -2, "finished");
  SWIG_arg++;
%}

/* bytes_by_method is keyed by method name: {splice = n, sendfile = n, ...}. */
%typemap(in, numinputs=0) (splicer_stats *out, size_t size) (splicer_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_stats *out, size_t size) %{
  {
    int m;
    lua_createtable(L, 0, 7);
    splicer_lua_push_u64(L, temp$argnum.bytes);     lua_setfield(L, -2, "bytes");
    splicer_lua_push_u64(L, temp$argnum.syscalls);  lua_setfield(L, -2, "syscalls");
    splicer_lua_push_u64(L, temp$argnum.fallbacks); lua_setfield(L, -2, "fallbacks");
    splicer_lua_push_u64(L, temp$argnum.eagain);    lua_setfield(L, -2, "eagain");
    lua_createtable(L, 0, SPLICER_METHOD_COUNT);
    for (m = 1; m < SPLICER_METHOD_COUNT; m++) {
      splicer_lua_push_u64(L, temp$argnum.bytes_by_method[m]);
      lua_setfield(L, -2, splicer_method_name(m));
    }
    lua_setfield(L, -2, "bytes_by_method");
    splicer_lua_push_u64(L, temp$argnum.pool_misses); lua_setfield(L, -2, "pool_misses");
    splicer_lua_push_u64(L, temp$argnum.pool_spills); lua_setfield(L, -2, "pool_spills");
    SWIG_arg++;
  }
%}

/* The pipe pool's statistics: a table of its eleven fields. */
%typemap(in, numinputs=0) (splicer_pool_stats *out, size_t size) (splicer_pool_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_pool_stats *out, size_t size) %{
  lua_createtable(L, 0, 11);
  splicer_lua_push_u64(L, temp$argnum.borrowed);    lua_setfield(L, -2, "borrowed");
  splicer_lua_push_u64(L, temp$argnum.returned);    lua_setfield(L, -2, "returned");
  splicer_lua_push_u64(L, temp$argnum.created);     lua_setfield(L, -2, "created");
  splicer_lua_push_u64(L, temp$argnum.closed);      lua_setfield(L, -2, "closed");
  splicer_lua_push_u64(L, temp$argnum.misses);      lua_setfield(L, -2, "misses");
  splicer_lua_push_u64(L, temp$argnum.in_use);      lua_setfield(L, -2, "in_use");
  splicer_lua_push_u64(L, temp$argnum.idle);        lua_setfield(L, -2, "idle");
  splicer_lua_push_u64(L, temp$argnum.peak_in_use); lua_setfield(L, -2, "peak_in_use");
  splicer_lua_push_u64(L, temp$argnum.discarded);   lua_setfield(L, -2, "discarded");
  splicer_lua_push_u64(L, temp$argnum.undersized);  lua_setfield(L, -2, "undersized");
  splicer_lua_push_u64(L, temp$argnum.spills);      lua_setfield(L, -2, "spills");
  SWIG_arg++;
%}

/* ---- arrays in ---------------------------------------------------------- */

/* A tee's destinations: a sequence of fds (any form splicer_lua_tofd takes). */
%typemap(in) (const int *fds_out, size_t n_out) (int temp[SPLICER_TEE_MAX]) %{
  {
    size_t i, n;
    luaL_checktype(L, $input, LUA_TTABLE);
    n = splicer_lua_rawlen(L, $input);
    if (n == 0 || n > SPLICER_TEE_MAX)
      return splicer_lua_fail(L, -EINVAL);
    for (i = 0; i < n; i++) {
      lua_rawgeti(L, $input, (int)i + 1);
      temp[i] = splicer_lua_tofd(L, lua_gettop(L));
      lua_pop(L, 1);
    }
    $1 = temp;
    $2 = n;
  }
%}

/* vmsplice's iovecs: a string or a sequence of strings.  The pipe will
 * refer to the strings' memory, not copy it: keep them referenced until
 * the reader has consumed them (see splicer_vmsplice in splicer.h).  On a
 * pipe's read end vmsplice(2) would write into these immutable strings:
 * splicer_vmsplice refuses that itself (-EBADF), so no check here. */
%typemap(in) (const struct iovec *iov, size_t n) (struct iovec temp[IOV_MAX]) %{
  if (lua_type(L, $input) == LUA_TSTRING) {
    size_t len;
    temp[0].iov_base = (void *)lua_tolstring(L, $input, &len);
    temp[0].iov_len = len;
    $1 = temp;
    $2 = 1;
  } else {
    size_t i, n;
    luaL_checktype(L, $input, LUA_TTABLE);
    n = splicer_lua_rawlen(L, $input);
    if (n > IOV_MAX)
      return splicer_lua_fail(L, -EINVAL);
    for (i = 0; i < n; i++) {
      size_t len;
      lua_rawgeti(L, $input, (int)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, $input, "strings expected");
      /* the table keeps the string alive once it is popped */
      temp[i].iov_base = (void *)lua_tolstring(L, -1, &len);
      temp[i].iov_len = len;
      lua_pop(L, 1);
    }
    $1 = temp;
    $2 = n;
  }
%}

%typemap(in) (const char *bytes, size_t nbytes) %{
  $1 = (char *)luaL_checklstring(L, $input, &$2);
%}

/* ---- ownership ---------------------------------------------------------- */

/* splicer_open_buf() takes the buffer over on success (the error typemap
 * above returned before this runs on failure); splicer_buf_free() frees it. */
%typemap(argout) splicer_buf *b %{ splicer_lua_release(L, $input); %}

/* A freed session must not be freed again by the collector; using the
 * handle afterwards (freeing it again included) raises an error. */
%exception splicer_session_free %{
  $action
  splicer_lua_release(L, 1);
%}

/* The pool's statistics travel as a table (above), not as a proxy object;
 * splicer.i is shared with the other languages, so the %ignore is here. */
%ignore splicer_pool_stats;

%include "splicer.i"
