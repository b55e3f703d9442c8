/*
 * splicer_python.i -- Python typemaps for splicer's generated layer.
 *
 *   swig -python -Icore/include -Iswig -o bindings/python/splicer_wrap.c \
 *        -outdir bindings/python/splicer swig/splicer_python.i
 *
 * The result is the extension module splicer._core (compiled from
 * splicer_wrap.c) and its shadow module splicer/core.py, which mirror
 * splicer.h one function to one function; bindings/python/splicer/ is the
 * idiomatic package users import.  Conventions of the generated functions:
 *   - counts, sizes and offsets are Python ints with all 64 bits; a value
 *     the C parameter cannot hold (a negative length, 2**64) is a
 *     ValueError, a value of the wrong type a TypeError: nothing is ever
 *     truncated.  A length of None is SPLICER_TO_EOF, an offset of None is
 *     SPLICER_OFF_CUR;
 *   - a -errno result raises OSError with that errno, so Python picks the
 *     subclass (BrokenPipeError, BlockingIOError, ...); the message names
 *     the function, and for transfers the method in use;
 *   - an fd argument is an int or any object with fileno();
 *   - out-parameters are results: session_new() returns the session,
 *     wait() returns (fd, events), progress_get(), stats_get() and
 *     pool_stats_get() return named tuples (struct sequences, like
 *     os.stat_result);
 *   - the GIL is released around every call that can block.  The raw
 *     syscall wrappers follow PEP 475: EINTR runs the signal handlers and
 *     retries unless a handler raised (KeyboardInterrupt), so a blocked raw
 *     call can be interrupted (the C wrappers retry EINTR inside, which a
 *     Python program could not interrupt).
 *
 * Beyond the 1:1 functions the module has a few drivers written here in C
 * for the idiomatic layer (transfer, drive, drive_async, open_fds,
 * open_tee_fds, open_buf_obj) and the Buf type: a blocking transfer runs the
 * session in non-blocking mode and waits with poll() without the GIL, so
 * that Ctrl-C interrupts it and other threads run meanwhile.
 */
%module(package="splicer") core

%{
#define PY_SSIZE_T_CLEAN
#include <structmember.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "splicer.h"

/* A raw wrapper returns this after a signal handler raised: the Python
 * exception is set, there is no errno to report. */
#define SPLICER_PY_RAISED INT64_MIN

/* Signal checks while a transfer runs without the GIL: at most this often,
 * so that Ctrl-C is felt within a tenth of a second of a long copy while a
 * thread doing file -> file at GB/s takes the GIL back ~20 times a second. */
#define SPLICER_PY_CHECK_NS 50000000LL
/* Longest single poll() of a wait in the main thread (see splicer_py_drive). */
#define SPLICER_PY_SLICE_MS 100

static unsigned long splicer_py_main_thread;

static PyTypeObject *splicer_py_progress_type;
static PyTypeObject *splicer_py_stats_type;
static PyTypeObject *splicer_py_pool_stats_type;

/* OSError(err, "<what>: <strerror>[ (method <m>)]"): OSError's constructor
 * picks the subclass for the errno.  The exception gets the attribute
 * method (a method name or None); BlockingIOError also gets
 * characters_written, what the call delivered before it would block. */
static void splicer_py_raise(int err, const char *what, const splicer_session *s,
                             long long written) {
  char msg[256];
  const char *method = NULL;
  PyObject *exc, *m;
  if (err < 0)
    err = -err;
  if (s) {
    splicer_progress p;
    if (splicer_progress_get(s, &p, sizeof p) == 0 && p.method != SPLICER_METHOD_NONE)
      method = splicer_method_name(p.method);
  }
  if (method)
    snprintf(msg, sizeof msg, "%s: %s (method %s)", what, splicer_strerror(err), method);
  else
    snprintf(msg, sizeof msg, "%s: %s", what, splicer_strerror(err));
  if (err == EAGAIN && written >= 0)
    exc = PyObject_CallFunction(PyExc_BlockingIOError, "isL", err, msg, written);
  else
    exc = PyObject_CallFunction(PyExc_OSError, "is", err, msg);
  if (!exc)
    return;
  m = method ? PyUnicode_FromString(method) : Py_NewRef(Py_None);
  if (m) {
    PyObject_SetAttrString(exc, "method", m);
    Py_DECREF(m);
  }
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
}

/* ---- numbers ------------------------------------------------------------ */

/* An integer argument (anything with __index__; floats and str are a
 * TypeError) into [lo, hi]; outside is a ValueError naming the argument. */
static int splicer_py_int_range(PyObject *o, const char *name, long long lo,
                                long long hi, long long *out) {
  int overflow = 0;
  long long v;
  if (PyLong_CheckExact(o)) {
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
  } else {
    PyObject *i = PyNumber_Index(o);
    if (!i) {
      PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", name,
                   Py_TYPE(o)->tp_name);
      return -1;
    }
    v = PyLong_AsLongLongAndOverflow(i, &overflow);
    Py_DECREF(i);
  }
  if (v == -1 && PyErr_Occurred())
    return -1;
  if (overflow || v < lo || v > hi) {
    PyErr_Format(PyExc_ValueError, "%s out of range (%lld .. %lld)", name, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

/* A length: None is SPLICER_TO_EOF; 0 .. 2**64-1 (which is TO_EOF too). */
static int splicer_py_len(PyObject *o, uint64_t *out) {
  if (o == Py_None) {
    *out = SPLICER_TO_EOF;
    return 0;
  }
  if (PyLong_CheckExact(o)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow && v >= 0) { /* the common case first */
      *out = (uint64_t)v;
      return 0;
    }
    if (v == -1 && PyErr_Occurred())
      return -1;
  }
  {
    PyObject *i = PyNumber_Index(o);
    unsigned long long u;
    int overflow = 0;
    long long v;
    if (!i) {
      PyErr_Format(PyExc_TypeError, "length must be an integer or None, not %.100s",
                   Py_TYPE(o)->tp_name);
      return -1;
    }
    v = PyLong_AsLongLongAndOverflow(i, &overflow);
    if (v == -1 && PyErr_Occurred()) {
      Py_DECREF(i);
      return -1;
    }
    if (overflow < 0 || (!overflow && v < 0)) {
      Py_DECREF(i);
      PyErr_SetString(PyExc_ValueError, "length must be >= 0 (None: until end of file)");
      return -1;
    }
    if (!overflow) {
      Py_DECREF(i);
      *out = (uint64_t)v;
      return 0;
    }
    u = PyLong_AsUnsignedLongLong(i);
    Py_DECREF(i);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "length out of range (at most 2**64 - 1)");
      return -1;
    }
    *out = (uint64_t)u;
    return 0;
  }
}

/* An offset: None is SPLICER_OFF_CUR; any int64 is passed on as it is (the
 * C API answers values below -1 with EINVAL). */
static int splicer_py_off(PyObject *o, int64_t *out) {
  long long v;
  if (o == Py_None) {
    *out = SPLICER_OFF_CUR;
    return 0;
  }
  if (splicer_py_int_range(o, "offset", INT64_MIN, INT64_MAX, &v) < 0)
    return -1;
  *out = (int64_t)v;
  return 0;
}

static PyObject *splicer_py_u64(uint64_t v) { return PyLong_FromUnsignedLongLong(v); }

/* ---- fds ---------------------------------------------------------------- */

/* An int, or an object whose fileno() returns one. */
static int splicer_py_fd(PyObject *o, int *fd) {
  long long v;
  if (PyLong_CheckExact(o)) {
    int overflow = 0;
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow && v >= INT_MIN && v <= INT_MAX) {
      *fd = (int)v;
      return 0;
    }
    PyErr_SetString(PyExc_ValueError, "file descriptor out of range");
    return -1;
  }
  if (PyLong_Check(o))
    return splicer_py_int_range(o, "file descriptor", INT_MIN, INT_MAX, &v) < 0
               ? -1
               : (*fd = (int)v, 0);
  {
    PyObject *r = PyObject_CallMethod(o, "fileno", NULL);
    if (!r) {
      if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "file descriptor expected (an int or an object with fileno()), "
                     "not %.100s", Py_TYPE(o)->tp_name);
      }
      return -1;
    }
    if (!PyLong_Check(r)) {
      PyErr_Format(PyExc_TypeError, "fileno() returned %.100s, not an int",
                   Py_TYPE(r)->tp_name);
      Py_DECREF(r);
      return -1;
    }
    if (splicer_py_int_range(r, "file descriptor", INT_MIN, INT_MAX, &v) < 0) {
      Py_DECREF(r);
      return -1;
    }
    Py_DECREF(r);
    *fd = (int)v;
    return 0;
  }
}

/* What the drivers ask of an end before an open (splicer_py_prepare), as
 * bits: whether a read or write on it may wait for a peer, and if so
 * whether the fd is O_NONBLOCK. */
#define SPLICER_PY_MAY_BLOCK 1
#define SPLICER_PY_FD_NONBLOCK 2

static int splicer_py_nonblock_bit(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK) ? SPLICER_PY_FD_NONBLOCK : 0;
}

/* Regular files, block devices and the memory devices (/dev/null,
 * /dev/zero, /dev/full, /dev/urandom: major 1) never wait; everything else
 * (pipes, sockets, ttys) may, and only then do its flags matter.  An fd
 * fstat cannot see is left to splicer_open to report. */
static int splicer_py_end_traits(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return 0;
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
    return 0;
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1)
    return 0;
  return SPLICER_PY_MAY_BLOCK | splicer_py_nonblock_bit(fd);
}

/* ---- handles ------------------------------------------------------------ */

/* The session behind a handle: the SwigPyObject the idiomatic layer keeps
 * is recognised by a pointer compare (every step passes one), anything
 * else goes through SWIG's conversion.  A freed handle is a ValueError, as
 * I/O on a closed file is. */
static splicer_session *splicer_py_session(PyObject *o);

/* splicer._core.SessionBase, the idiomatic Session's base: it owns the C
 * session, and its step() and run() are C methods, so that a step costs a
 * Python call of a C function and no Python frame. */
typedef struct {
  PyObject_HEAD
  splicer_session *s;
  int nonblock; /* the user's mode: BlockingIOError instead of waiting */
  int wait_ms;  /* how long a blocking step waits, decided at open */
  PyObject *weakrefs;
  /* The fds the C session keeps, with their splicer_py_end_traits as they
   * were when kept: an open on them asks the kernel nothing, in the C
   * library or here (the caller vouches that a kept fd stays open with
   * the same flags until it is forgotten). */
  int n_kept;
  struct {
    int fd;
    int traits;
  } kept[SPLICER_KEEP_MAX];
} splicer_py_session_obj;

static PyTypeObject splicer_py_session_type;

/* The session object whose kept fds the drivers may consult, or NULL for a
 * bare handle of the generated layer (whose opens ask as they always did). */
static splicer_py_session_obj *splicer_py_keeper(PyObject *o) {
  return PyObject_TypeCheck(o, &splicer_py_session_type) ? (splicer_py_session_obj *)o : NULL;
}

/* After splicer_session_keep(s, fd, kind) succeeded: what an open would
 * find out about fd, found out once.  A kind given is trusted, as the C
 * library trusts it: a pipe or a socket may wait, and with
 * SPLICER_FD_NONBLOCK it is O_NONBLOCK without asking. */
static void splicer_py_kept_add(PyObject *o, int fd, int kind) {
  splicer_py_session_obj *so = splicer_py_keeper(o);
  int traits, i;
  if (!so)
    return;
  if ((kind & ~SPLICER_FD_NONBLOCK) == SPLICER_FD_UNKNOWN)
    traits = splicer_py_end_traits(fd);
  else
    traits = SPLICER_PY_MAY_BLOCK | ((kind & SPLICER_FD_NONBLOCK) ? SPLICER_PY_FD_NONBLOCK
                                                                   : splicer_py_nonblock_bit(fd));
  for (i = 0; i < so->n_kept && so->kept[i].fd != fd; i++)
    ;
  /* the C session holds the same fds, so there is room; were there none,
   * opens would ask per open, as for an fd not kept */
  if (i == SPLICER_KEEP_MAX)
    return;
  so->kept[i].fd = fd;
  so->kept[i].traits = traits;
  if (i == so->n_kept)
    so->n_kept++;
}

/* After splicer_session_forget(s, fd) succeeded (fd -1: every fd). */
static void splicer_py_kept_drop(PyObject *o, int fd) {
  splicer_py_session_obj *so = splicer_py_keeper(o);
  int i;
  if (!so)
    return;
  if (fd == -1) {
    so->n_kept = 0;
    return;
  }
  for (i = 0; i < so->n_kept; i++)
    if (so->kept[i].fd == fd) {
      so->kept[i] = so->kept[--so->n_kept];
      return;
    }
}

/* fd's traits: as kept, or asked now. */
static int splicer_py_traits(const splicer_py_session_obj *so, int fd) {
  int i;
  if (so)
    for (i = 0; i < so->n_kept; i++)
      if (so->kept[i].fd == fd)
        return so->kept[i].traits;
  return splicer_py_end_traits(fd);
}
%}

/* The drivers' record of kept fds follows the C session's: it changes
 * exactly when a keep or a forget succeeded. */
%exception splicer_session_keep %{
  $action
  if (result == 0)
    splicer_py_kept_add(swig_obj[0], arg2, arg3);
%}
%exception splicer_session_forget %{
  $action
  if (result == 0)
    splicer_py_kept_drop(swig_obj[0], arg2);
%}

/* ---- numbers in --------------------------------------------------------- */

%typemap(in) int (long long v) %{
  if (splicer_py_int_range($input, "$1_name", INT_MIN, INT_MAX, &v) < 0) SWIG_fail;
  $1 = (int)v;
%}
%typemap(in) unsigned (long long v) %{
  if (splicer_py_int_range($input, "$1_name", 0, UINT_MAX, &v) < 0) SWIG_fail;
  $1 = (unsigned)v;
%}
%typemap(in) size_t (long long v) %{
  if (splicer_py_int_range($input, "$1_name", 0, LLONG_MAX, &v) < 0) SWIG_fail;
  $1 = (size_t)v;
%}
%typemap(in) int64_t (long long v) %{
  if (splicer_py_int_range($input, "$1_name", INT64_MIN, INT64_MAX, &v) < 0) SWIG_fail;
  $1 = (int64_t)v;
%}
%typemap(in) uint64_t %{ if (splicer_py_len($input, &$1) < 0) SWIG_fail; %}

/* Offsets and lengths may be None, as the C API's OFF_CUR and TO_EOF. */
%typemap(in) int64_t off_in, int64_t off_out %{ if (splicer_py_off($input, &$1) < 0) SWIG_fail; %}
%typemap(in) uint64_t len %{ if (splicer_py_len($input, &$1) < 0) SWIG_fail; %}
%typemap(default) uint64_t len %{ $1 = SPLICER_TO_EOF; %}
%typemap(default) unsigned flags %{ $1 = 0; %}

%typemap(in) int fd_in, int fd_out, int pipe_fd %{ if (splicer_py_fd($input, &$1) < 0) SWIG_fail; %}

%typemap(in) splicer_session *s, const splicer_session *s %{
  $1 = ($1_ltype)splicer_py_session($input);
  if (!$1) SWIG_fail;
%}

/* ---- results: -errno raises OSError ------------------------------------- */

%typemap(out) int %{
  if ($1 < 0) { splicer_py_raise($1, "$symname", NULL, -1); SWIG_fail; }
  $result = PyLong_FromLong($1);
%}
%typemap(out) int64_t %{
  if ($1 == SPLICER_PY_RAISED) SWIG_fail;
  if ($1 < 0) { splicer_py_raise((int)$1, "$symname", NULL, -1); SWIG_fail; }
  $result = PyLong_FromLongLong($1);
%}
/* A transfer's error names the method in use. */
%typemap(out) int64_t splicer_step, int64_t splicer_run, int64_t splicer_copy %{
  if ($1 < 0) { splicer_py_raise((int)$1, "$symname", arg1, -1); SWIG_fail; }
  $result = PyLong_FromLongLong($1);
%}
%typemap(out) unsigned %{ $result = PyLong_FromUnsignedLong($1); %}
%typemap(out) size_t   %{ $result = PyLong_FromSize_t($1); %}

/* Status-only functions return None; those whose result is their
 * out-parameters return those (the argout typemaps below). */
%typemap(out) int splicer_session_set, int splicer_open, int splicer_open_tee,
              int splicer_open_buf, int splicer_pool_set,
              int splicer_session_new, int splicer_session_get, int splicer_wait,
              int splicer_progress_get, int splicer_stats_get, int splicer_buf_new,
              int splicer_pool_get, int splicer_pool_stats_get %{
  if ($1 < 0) { splicer_py_raise($1, "$symname", NULL, -1); SWIG_fail; }
  $result = Py_NewRef(Py_None);
%}

/* ---- out-parameters ----------------------------------------------------- */

%typemap(in, numinputs=0) splicer_session **out (splicer_session *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) splicer_session **out %{
  Py_DECREF($result);
  $result = SWIG_NewPointerObj(temp$argnum, SWIGTYPE_p_splicer_session, SWIG_POINTER_OWN);
%}

%typemap(in, numinputs=0) splicer_buf **out (splicer_buf *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) splicer_buf **out %{
  Py_DECREF($result);
  $result = SWIG_NewPointerObj(temp$argnum, SWIGTYPE_p_splicer_buf, SWIG_POINTER_OWN);
%}

%typemap(in, numinputs=0) int64_t *value (int64_t temp = 0) %{ $1 = &temp; %}
%typemap(argout) int64_t *value %{ Py_DECREF($result); $result = PyLong_FromLongLong(temp$argnum); %}

%typemap(in, numinputs=0) (int *fd, short *events) (int tfd = -1, short tev = 0)
  %{ $1 = &tfd; $2 = &tev; %}
%typemap(argout) (int *fd, short *events) %{
  Py_DECREF($result);
  $result = Py_BuildValue("(ih)", tfd$argnum, tev$argnum);
%}

%{
static PyObject *splicer_py_progress_obj(const splicer_progress *p) {
  PyObject *t = PyStructSequence_New(splicer_py_progress_type);
  if (!t)
    return NULL;
  PyStructSequence_SET_ITEM(t, 0, splicer_py_u64(p->consumed));
  PyStructSequence_SET_ITEM(t, 1, splicer_py_u64(p->delivered));
  PyStructSequence_SET_ITEM(t, 2, splicer_py_u64(p->pending));
  PyStructSequence_SET_ITEM(t, 3, PyUnicode_FromString(splicer_method_name(p->method)));
  PyStructSequence_SET_ITEM(t, 4, PyBool_FromLong(p->finished != 0));
  if (PyErr_Occurred()) {
    Py_DECREF(t);
    return NULL;
  }
  return t;
}

static PyObject *splicer_py_stats_obj(const splicer_stats *st) {
  PyObject *t = PyStructSequence_New(splicer_py_stats_type), *by;
  int m;
  if (!t)
    return NULL;
  PyStructSequence_SET_ITEM(t, 0, splicer_py_u64(st->bytes));
  PyStructSequence_SET_ITEM(t, 1, splicer_py_u64(st->syscalls));
  PyStructSequence_SET_ITEM(t, 2, splicer_py_u64(st->fallbacks));
  PyStructSequence_SET_ITEM(t, 3, splicer_py_u64(st->eagain));
  PyStructSequence_SET_ITEM(t, 4, splicer_py_u64(st->pool_misses));
  by = PyDict_New();
  for (m = 1; by && m < SPLICER_METHOD_COUNT; m++) {
    PyObject *n = splicer_py_u64(st->bytes_by_method[m]);
    if (!n || PyDict_SetItemString(by, splicer_method_name(m), n) < 0) {
      Py_XDECREF(n);
      Py_CLEAR(by);
      break;
    }
    Py_DECREF(n);
  }
  PyStructSequence_SET_ITEM(t, 5, by);
  /* after bytes_by_method, so that the fields before it keep their index */
  PyStructSequence_SET_ITEM(t, 6, splicer_py_u64(st->pool_spills));
  if (PyErr_Occurred()) {
    Py_DECREF(t);
    return NULL;
  }
  return t;
}

static PyObject *splicer_py_pool_stats_obj(const splicer_pool_stats *st) {
  const uint64_t v[11] = {st->borrowed, st->returned, st->created, st->closed,
                          st->misses, st->in_use, st->idle, st->peak_in_use,
                          st->discarded, st->undersized, st->spills};
  PyObject *t = PyStructSequence_New(splicer_py_pool_stats_type);
  int k;
  if (!t)
    return NULL;
  for (k = 0; k < 11; k++)
    PyStructSequence_SET_ITEM(t, k, splicer_py_u64(v[k]));
  if (PyErr_Occurred()) {
    Py_DECREF(t);
    return NULL;
  }
  return t;
}
%}

%typemap(in, numinputs=0) (splicer_progress *p, size_t size) (splicer_progress temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_progress *p, size_t size) %{
  Py_DECREF($result);
  $result = splicer_py_progress_obj(&temp$argnum);
  if (!$result) SWIG_fail;
%}

%typemap(in, numinputs=0) (splicer_stats *out, size_t size) (splicer_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_stats *out, size_t size) %{
  Py_DECREF($result);
  $result = splicer_py_stats_obj(&temp$argnum);
  if (!$result) SWIG_fail;
%}

%typemap(in, numinputs=0) (splicer_pool_stats *out, size_t size) (splicer_pool_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
%typemap(argout) (splicer_pool_stats *out, size_t size) %{
  Py_DECREF($result);
  $result = splicer_py_pool_stats_obj(&temp$argnum);
  if (!$result) SWIG_fail;
%}

/* ---- arrays in ---------------------------------------------------------- */

/* A tee's destinations: a sequence of fds (any form splicer_py_fd takes). */
%typemap(in) (const int *fds_out, size_t n_out) (int temp[SPLICER_TEE_MAX]) %{
  {
    PyObject *seq = PySequence_Fast($input, "destinations must be a sequence of fds");
    Py_ssize_t i, n;
    if (!seq) SWIG_fail;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > SPLICER_TEE_MAX) {
      Py_DECREF(seq);
      PyErr_Format(PyExc_ValueError, "a tee takes 1 .. %d destinations, not %zd",
                   SPLICER_TEE_MAX, n);
      SWIG_fail;
    }
    for (i = 0; i < n; i++)
      if (splicer_py_fd(PySequence_Fast_GET_ITEM(seq, i), &temp[i]) < 0) {
        Py_DECREF(seq);
        SWIG_fail;
      }
    Py_DECREF(seq);
    $1 = temp;
    $2 = (size_t)n;
  }
%}

/* vmsplice's iovecs: a bytes-like object or a sequence of them.  The pipe
 * refers to their memory, it does not copy it: keep the objects alive and
 * unchanged until the reader consumed them (see splicer_vmsplice). */
%typemap(in) (const struct iovec *iov, size_t n)
    (struct iovec temp[64], Py_buffer views[64], Py_ssize_t nviews = 0) %{
  if (PyObject_CheckBuffer($input)) {
    if (PyObject_GetBuffer($input, &views[0], PyBUF_SIMPLE) < 0) SWIG_fail;
    nviews = 1;
  } else {
    PyObject *seq = PySequence_Fast($input, "a bytes-like object or a sequence of them expected");
    Py_ssize_t i, cnt;
    if (!seq) SWIG_fail;
    cnt = PySequence_Fast_GET_SIZE(seq);
    if (cnt > 64) {
      Py_DECREF(seq);
      PyErr_SetString(PyExc_ValueError, "at most 64 buffers per vmsplice");
      SWIG_fail;
    }
    for (i = 0; i < cnt; i++) {
      if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &views[i], PyBUF_SIMPLE) < 0) {
        Py_DECREF(seq);
        SWIG_fail;
      }
      nviews = i + 1;
    }
    Py_DECREF(seq);
  }
  {
    Py_ssize_t i;
    for (i = 0; i < nviews; i++) {
      temp[i].iov_base = views[i].buf;
      temp[i].iov_len = (size_t)views[i].len;
    }
  }
  $1 = temp;
  $2 = (size_t)nviews;
%}
%typemap(freearg) (const struct iovec *iov, size_t n) %{
  {
    Py_ssize_t i;
    for (i = 0; i < nviews$argnum; i++)
      PyBuffer_Release(&views$argnum[i]);
  }
%}

/* buf_write's bytes: any bytes-like object. */
%typemap(in) (const char *bytes, size_t nbytes) (Py_buffer view, int have = 0) %{
  if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0) SWIG_fail;
  have = 1;
  $1 = (char *)view.buf;
  $2 = (size_t)view.len;
%}
%typemap(freearg) (const char *bytes, size_t nbytes) %{ if (have$argnum) PyBuffer_Release(&view$argnum); %}

/* ---- the GIL ------------------------------------------------------------ */

/* Calls that can wait for a peer run without the GIL.  These are the 1:1
 * functions: in blocking mode the C library retries EINTR, so they cannot
 * be interrupted; the idiomatic layer uses the drivers below instead. */
%exception splicer_step %{ Py_BEGIN_ALLOW_THREADS $action Py_END_ALLOW_THREADS %}
%exception splicer_run %{ Py_BEGIN_ALLOW_THREADS $action Py_END_ALLOW_THREADS %}
%exception splicer_copy %{ Py_BEGIN_ALLOW_THREADS $action Py_END_ALLOW_THREADS %}
/* The pool's lock may be contended by other threads' transfers. */
%exception splicer_pool_trim %{ Py_BEGIN_ALLOW_THREADS $action Py_END_ALLOW_THREADS %}
%exception splicer_abort %{ Py_BEGIN_ALLOW_THREADS $action Py_END_ALLOW_THREADS %}

/* ---- ownership ---------------------------------------------------------- */

/* session_free() and a successful open_buf() end the handle: the collector
 * must not free it again, and a later use raises ValueError. */
%{
static void splicer_py_release(PyObject *o) {
  SwigPyObject *sobj;
  if (PyObject_TypeCheck(o, &splicer_py_session_type)) {
    ((splicer_py_session_obj *)o)->s = NULL;
    ((splicer_py_session_obj *)o)->n_kept = 0;
    return;
  }
  sobj = SWIG_Python_GetSwigThis(o);
  if (sobj) {
    sobj->own = 0;
    sobj->ptr = NULL;
  }
}
%}
%typemap(in) splicer_buf *b (void *argp = NULL, int res = 0) %{
  res = SWIG_ConvertPtr($input, &argp, SWIGTYPE_p_splicer_buf, 0);
  if (!SWIG_IsOK(res) || !argp) {
    PyErr_SetString(PyExc_ValueError, "splicer: buffer expected (not handed over, not freed)");
    SWIG_fail;
  }
  $1 = (splicer_buf *)argp;
%}
%typemap(in) const splicer_buf *b = splicer_buf *b;
%typemap(in) splicer_buf *buf = splicer_buf *b;
%typemap(argout) splicer_buf *b %{ splicer_py_release($input); %}
%typemap(argout) const splicer_buf *b ""
%typemap(argout) splicer_buf *buf ""
%feature("action") splicer_session_free %{
  Py_BEGIN_ALLOW_THREADS
  splicer_session_free(arg1);
  Py_END_ALLOW_THREADS
  splicer_py_release(swig_obj[0]);
%}
%exception splicer_session_free "$action"

/* ---- raw wrappers with PEP 475 semantics -------------------------------- */

/* Same contract as splicer_splice() & co. (offsets by value, -1 or None for
 * the fd's position, the length clamped to what the kernel moves per call,
 * vmsplice refused on a read end), but on EINTR the signal handlers run
 * with the GIL and the call is retried only if none raised. */
%ignore splicer_splice;
%ignore splicer_tee;
%ignore splicer_vmsplice;
%ignore splicer_sendfile;
%ignore splicer_copy_file_range;
%rename(splice) splicer_py_splice;
%rename(tee) splicer_py_tee;
%rename(vmsplice) splicer_py_vmsplice;
%rename(sendfile) splicer_py_sendfile;
%rename(copy_file_range) splicer_py_copy_file_range;

%{
static size_t splicer_py_clamp(uint64_t len) {
  return len > (uint64_t)(INT_MAX & ~4095) ? (size_t)(INT_MAX & ~4095) : (size_t)len;
}

/* Run a syscall expression without the GIL until it does not fail with
 * EINTR; between tries, the signal handlers. */
#define SPLICER_PY_SYSCALL(n, expr)                                            \
  do {                                                                         \
    int saved_errno_;                                                          \
    for (;;) {                                                                 \
      Py_BEGIN_ALLOW_THREADS                                                   \
      n = (expr);                                                              \
      saved_errno_ = errno;                                                    \
      Py_END_ALLOW_THREADS                                                     \
      if (n >= 0 || saved_errno_ != EINTR)                                     \
        break;                                                                 \
      if (PyErr_CheckSignals() < 0)                                            \
        return SPLICER_PY_RAISED;                                              \
    }                                                                          \
    if (n < 0)                                                                 \
      return -saved_errno_;                                                    \
  } while (0)
%}

%inline %{
static int64_t splicer_py_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                                 uint64_t len, unsigned flags) {
  loff_t oi = (loff_t)off_in, oo = (loff_t)off_out;
  ssize_t n;
  if (off_in < SPLICER_OFF_CUR || off_out < SPLICER_OFF_CUR)
    return -EINVAL;
  SPLICER_PY_SYSCALL(n, splice(fd_in, off_in >= 0 ? &oi : NULL, fd_out,
                               off_out >= 0 ? &oo : NULL, splicer_py_clamp(len), flags));
  return n;
}

static int64_t splicer_py_tee(int fd_in, int fd_out, uint64_t len, unsigned flags) {
  ssize_t n;
  SPLICER_PY_SYSCALL(n, tee(fd_in, fd_out, splicer_py_clamp(len), flags));
  return n;
}

static int64_t splicer_py_vmsplice(int pipe_fd, const struct iovec *iov, size_t n,
                                   unsigned flags) {
  ssize_t r;
  int fl = fcntl(pipe_fd, F_GETFL);
  if (fl < 0)
    return -errno;
  /* on a read end vmsplice(2) writes into the buffers: Python's bytes are
   * immutable, and the C API refuses it for its const iovecs */
  if ((fl & O_ACCMODE) == O_RDONLY)
    return -EBADF;
  SPLICER_PY_SYSCALL(r, vmsplice(pipe_fd, iov, n, flags));
  return r;
}

static int64_t splicer_py_sendfile(int fd_out, int fd_in, int64_t off_in, uint64_t len) {
  off_t o = (off_t)off_in;
  ssize_t n;
  if (off_in < SPLICER_OFF_CUR)
    return -EINVAL;
  SPLICER_PY_SYSCALL(n, sendfile(fd_out, fd_in, off_in >= 0 ? &o : NULL, splicer_py_clamp(len)));
  return n;
}

static int64_t splicer_py_copy_file_range(int fd_in, int64_t off_in, int fd_out,
                                          int64_t off_out, uint64_t len) {
  loff_t oi = (loff_t)off_in, oo = (loff_t)off_out;
  ssize_t n;
  if (off_in < SPLICER_OFF_CUR || off_out < SPLICER_OFF_CUR)
    return -EINVAL;
  SPLICER_PY_SYSCALL(n, copy_file_range(fd_in, off_in >= 0 ? &oi : NULL, fd_out,
                                        off_out >= 0 ? &oo : NULL, splicer_py_clamp(len), 0));
  return n;
}
%}

/* The pool's statistics travel as a named tuple. */
%ignore splicer_pool_stats;

%include "splicer.i"

/* ------------------------------------------------------------------------
 * Drivers for the idiomatic layer (not 1:1 with splicer.h)
 * ------------------------------------------------------------------------ */

%{
static splicer_session *splicer_py_session(PyObject *o) {
  void *p = NULL;
  SwigPyObject *sobj;
  if (PyObject_TypeCheck(o, &splicer_py_session_type)) {
    splicer_session *s = ((splicer_py_session_obj *)o)->s;
    if (!s)
      PyErr_SetString(PyExc_ValueError, "splicer: the session is closed");
    return s;
  }
  if (Py_TYPE(o) == SwigPyObject_type()) {
    sobj = (SwigPyObject *)o;
    if (sobj->ty == SWIGTYPE_p_splicer_session) {
      if (!sobj->ptr)
        PyErr_SetString(PyExc_ValueError, "splicer: the session is closed");
      return (splicer_session *)sobj->ptr;
    }
  }
  sobj = SWIG_Python_GetSwigThis(o);
  if (sobj && sobj->ty == SWIGTYPE_p_splicer_session && !sobj->ptr) {
    PyErr_SetString(PyExc_ValueError, "splicer: the session is closed");
    return NULL;
  }
  if (!SWIG_IsOK(SWIG_ConvertPtr(o, &p, SWIGTYPE_p_splicer_session, 0)) || !p) {
    PyErr_Format(PyExc_TypeError, "splicer session expected, not %.100s", Py_TYPE(o)->tp_name);
    return NULL;
  }
  return (splicer_session *)p;
}

/* Whether @err from a step is a lazy open's refusal (SPLICER_OPT_LAZY_FILES):
 * EBADF after which the core left no transfer open (progress: no method). */
static int splicer_py_refused_late(const splicer_session *s, int64_t err) {
  splicer_progress p;
  return err == -EBADF && splicer_progress_get(s, &p, sizeof p) == 0 &&
         p.method == SPLICER_METHOD_NONE;
}

static long long splicer_py_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Step the open transfer without the GIL.
 *   once        return after the first step that delivered bytes;
 *   timeout_ms  what to do when a step would block: 0 raises
 *               BlockingIOError (non-blocking use), -1 waits for as long as
 *               it takes, > 0 waits that long per wait and then raises
 *               TimeoutError (a socket with a timeout).
 * Waiting is poll() on the fd splicer_wait() names; EINTR runs the signal
 * handlers, and a handler that raises (KeyboardInterrupt) ends the call with
 * its exception: the bytes the session holds stay pending, the transfer
 * stays open, and progress tells what was delivered.
 *   opened      for copy(), which opens and runs in one call: an EBADF that
 *               left no transfer (progress: no method) is the open's own
 *               refusal, which a lazy open (SPLICER_OPT_LAZY_FILES) leaves to
 *               the first step, and is raised as the open's error.
 * @return the bytes delivered by this call, or -1 with an exception set. */
static long long splicer_py_drive(splicer_session *s, int once, int timeout_ms, const char *what,
                                  int opened) {
  long long total = 0, last_check = 0;
  int64_t r = 0;
  int err = 0, interrupted = 0, timed_out = 0, main_thread = -1, waited_ms = 0;
  /* signal handlers run in the main thread only: elsewhere there is
   * nothing to check between steps (and a single step needs no check) */
  int check = !once && PyThread_get_thread_ident() == splicer_py_main_thread;
  PyThreadState *ts = PyEval_SaveThread();
  for (;;) {
    r = splicer_step(s);
    if (r > 0) {
      total += r;
      if (once)
        break;
      if (check) {
        long long now = splicer_py_now_ns();
        if (!last_check) {
          last_check = now;
        } else if (now - last_check > SPLICER_PY_CHECK_NS) {
          int bad;
          PyEval_RestoreThread(ts);
          bad = PyErr_CheckSignals() < 0;
          ts = PyEval_SaveThread();
          if (bad) {
            interrupted = 1;
            break;
          }
          last_check = splicer_py_now_ns();
        }
      }
      continue;
    }
    if (r == 0)
      break;
    if (r != -EAGAIN || timeout_ms == 0) {
      err = (int)r;
      break;
    }
    {
      struct pollfd p;
      int pr, slice = timeout_ms;
      if (splicer_wait(s, &p.fd, &p.events) < 0) {
        err = -EAGAIN;
        break;
      }
      p.revents = 0;
      /* In the main thread the wait is cut into slices after which the
       * signal handlers run: a process-directed SIGINT may be delivered to
       * another thread, and would then not interrupt this poll. */
      if (main_thread < 0)
        main_thread = PyThread_get_thread_ident() == splicer_py_main_thread;
      if (main_thread && (slice < 0 || slice > SPLICER_PY_SLICE_MS))
        slice = SPLICER_PY_SLICE_MS;
      pr = poll(&p, 1, slice);
      if (pr == 0 && slice != timeout_ms) {
        int bad;
        if (timeout_ms > 0 && (waited_ms += slice) >= timeout_ms) {
          timed_out = 1;
          break;
        }
        PyEval_RestoreThread(ts);
        bad = PyErr_CheckSignals() < 0;
        ts = PyEval_SaveThread();
        if (bad) {
          interrupted = 1;
          break;
        }
        continue;
      }
      if (pr == 0) {
        timed_out = 1;
        break;
      }
      waited_ms = 0;
      if (pr < 0 && errno == EINTR) {
        int bad;
        PyEval_RestoreThread(ts);
        bad = PyErr_CheckSignals() < 0;
        ts = PyEval_SaveThread();
        if (bad) {
          interrupted = 1;
          break;
        }
        last_check = 0;
      }
      /* POLLERR/POLLHUP: the next step reports what the peer did */
    }
  }
  PyEval_RestoreThread(ts);
  if (interrupted)
    return -1;
  if (timed_out) {
    splicer_py_raise(ETIMEDOUT, what, s, -1);
    return -1;
  }
  if (err) {
    if (opened && splicer_py_refused_late(s, err)) {
      splicer_py_raise(err, "open", NULL, -1);
      return -1;
    }
    /* a step that delivered nothing before blocking in non-blocking use:
     * BlockingIOError with what this call delivered */
    splicer_py_raise(err, what, s, err == -EAGAIN ? total : -1);
    return -1;
  }
  return total;
}

/* Before a transfer: non-blocking mode in the C library whenever the user
 * asked for it or an end may wait for a peer, so that no syscall blocks
 * with the GIL released and Ctrl-C unheard; ends that never wait (files,
 * /dev/null) keep the blocking mode, whose calls need no fcntl.  An fd the
 * session object so keeps is not asked again; so NULL (a bare handle):
 * every fd is.
 * @return 1 when an end that may wait is O_NONBLOCK already (a blocking call
 *         then follows the fd, as os.read does: BlockingIOError instead of a
 *         wait), 0 when none is, or -errno. */
static int splicer_py_prepare(splicer_session *s, const splicer_py_session_obj *so,
                              int user_nonblock, const int *fds, size_t n) {
  int64_t cur = 0, want = user_nonblock ? 1 : 0;
  int fd_nonblock = 0, r;
  size_t i;
  for (i = 0; i < n; i++) {
    int t = splicer_py_traits(so, fds[i]);
    if (t & SPLICER_PY_MAY_BLOCK) {
      want = 1;
      if (t & SPLICER_PY_FD_NONBLOCK)
        fd_nonblock = 1;
    }
  }
  if (splicer_session_get(s, SPLICER_OPT_NONBLOCK, &cur) == 0 && cur == want)
    return fd_nonblock;
  r = splicer_session_set(s, SPLICER_OPT_NONBLOCK, want);
  return r < 0 ? r : fd_nonblock;
}

static int splicer_py_timeout_arg(PyObject *o, int *ms) {
  long long v;
  if (splicer_py_int_range(o, "timeout_ms", -1, INT_MAX, &v) < 0)
    return -1;
  *ms = (int)v;
  return 0;
}

/* transfer(session, fd_in, off_in, fd_out, off_out, length, timeout_ms,
 *          nonblock) -> delivered: open + drive to the end, in one call.
 * timeout_ms -1 follows the fds: wait while they are blocking ones, raise
 * BlockingIOError when one is O_NONBLOCK.  Ends that an open refuses raise
 * the open's error with SPLICER_OPT_LAZY_FILES too, where the kernel finds
 * them out at the first step (see splicer_py_drive). */
static PyObject *splicer_py_transfer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  splicer_session *s;
  int fds[2], timeout_ms, nb, r;
  int64_t off_in, off_out;
  uint64_t len;
  long long n;
  (void)self;
  if (nargs != 8) {
    PyErr_SetString(PyExc_TypeError, "transfer() takes 8 arguments");
    return NULL;
  }
  if (!(s = splicer_py_session(args[0])) || splicer_py_fd(args[1], &fds[0]) < 0 ||
      splicer_py_off(args[2], &off_in) < 0 || splicer_py_fd(args[3], &fds[1]) < 0 ||
      splicer_py_off(args[4], &off_out) < 0 || splicer_py_len(args[5], &len) < 0 ||
      splicer_py_timeout_arg(args[6], &timeout_ms) < 0)
    return NULL;
  nb = PyObject_IsTrue(args[7]);
  if (nb < 0)
    return NULL;
  if ((r = splicer_py_prepare(s, splicer_py_keeper(args[0]), nb, fds, 2)) < 0) {
    splicer_py_raise(r, "open", NULL, -1);
    return NULL;
  }
  if (r == 1 && timeout_ms < 0)
    timeout_ms = 0;
  if ((r = splicer_open(s, fds[0], off_in, fds[1], off_out, len)) < 0) {
    splicer_py_raise(r, "open", NULL, -1);
    return NULL;
  }
  n = splicer_py_drive(s, 0, timeout_ms, "copy", 1);
  return n < 0 ? NULL : PyLong_FromLongLong(n);
}

/* open_fds(session, fd_in, off_in, fd_out, off_out, length, nonblock)
 *   -> True when an end that may wait is O_NONBLOCK (see splicer_py_prepare) */
static PyObject *splicer_py_open_fds(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  splicer_session *s;
  int fds[2], nb, r;
  int64_t off_in, off_out;
  uint64_t len;
  (void)self;
  if (nargs != 7) {
    PyErr_SetString(PyExc_TypeError, "open_fds() takes 7 arguments");
    return NULL;
  }
  if (!(s = splicer_py_session(args[0])) || splicer_py_fd(args[1], &fds[0]) < 0 ||
      splicer_py_off(args[2], &off_in) < 0 || splicer_py_fd(args[3], &fds[1]) < 0 ||
      splicer_py_off(args[4], &off_out) < 0 || splicer_py_len(args[5], &len) < 0)
    return NULL;
  nb = PyObject_IsTrue(args[6]);
  if (nb < 0)
    return NULL;
  if ((nb = splicer_py_prepare(s, splicer_py_keeper(args[0]), nb, fds, 2)) < 0 ||
      (r = splicer_open(s, fds[0], off_in, fds[1], off_out, len)) < 0) {
    splicer_py_raise(nb < 0 ? nb : r, "open", NULL, -1);
    return NULL;
  }
  return PyBool_FromLong(nb);
}

/* open_tee_fds(session, fd_in, off_in, (fd_out, ...), length, nonblock) */
static PyObject *splicer_py_open_tee_fds(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  splicer_session *s;
  int fds[SPLICER_TEE_MAX + 1], nb, r;
  int64_t off_in;
  uint64_t len;
  PyObject *seq;
  Py_ssize_t i, n;
  (void)self;
  if (nargs != 6) {
    PyErr_SetString(PyExc_TypeError, "open_tee_fds() takes 6 arguments");
    return NULL;
  }
  if (!(s = splicer_py_session(args[0])) || splicer_py_fd(args[1], &fds[0]) < 0 ||
      splicer_py_off(args[2], &off_in) < 0 || splicer_py_len(args[4], &len) < 0)
    return NULL;
  seq = PySequence_Fast(args[3], "destinations must be a sequence of fds");
  if (!seq)
    return NULL;
  n = PySequence_Fast_GET_SIZE(seq);
  if (n > SPLICER_TEE_MAX) {
    /* the C library's answer to too many destinations, as in every binding */
    Py_DECREF(seq);
    splicer_py_raise(-EINVAL, "open_tee", NULL, -1);
    return NULL;
  }
  for (i = 0; i < n; i++)
    if (splicer_py_fd(PySequence_Fast_GET_ITEM(seq, i), &fds[i + 1]) < 0) {
      Py_DECREF(seq);
      return NULL;
    }
  Py_DECREF(seq);
  nb = PyObject_IsTrue(args[5]);
  if (nb < 0)
    return NULL;
  /* no destination at all is the C library's EINVAL, as in every binding */
  if ((nb = splicer_py_prepare(s, splicer_py_keeper(args[0]), nb, fds, (size_t)n + 1)) < 0 ||
      (r = splicer_open_tee(s, fds[0], off_in, n ? fds + 1 : NULL, (size_t)n, len)) < 0) {
    splicer_py_raise(nb < 0 ? nb : r, "open_tee", NULL, -1);
    return NULL;
  }
  return PyBool_FromLong(nb);
}

/* drive(session, once, timeout_ms) -> delivered (see splicer_py_drive) */
static PyObject *splicer_py_drive_fn(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  splicer_session *s;
  int once, timeout_ms;
  long long n;
  (void)self;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "drive() takes 3 arguments");
    return NULL;
  }
  if (!(s = splicer_py_session(args[0])))
    return NULL;
  once = PyObject_IsTrue(args[1]);
  if (once < 0 || splicer_py_timeout_arg(args[2], &timeout_ms) < 0)
    return NULL;
  n = splicer_py_drive(s, once, timeout_ms, once ? "step" : "run", 0);
  return n < 0 ? NULL : PyLong_FromLongLong(n);
}

/* drive_async(session) -> (delivered, fd, events): step without blocking
 * until the transfer is finished (fd -1) or a step would block (the fd and
 * POLLIN/POLLOUT to wait for).  The event loop waits, not this call.  An
 * EBADF after which no transfer is open is a lazy open's refusal
 * (SPLICER_OPT_LAZY_FILES), raised as the open's error. */
static PyObject *splicer_py_drive_async(PyObject *self, PyObject *arg) {
  splicer_session *s = splicer_py_session(arg);
  long long total = 0;
  int64_t r;
  int fd = -1;
  short ev = 0;
  (void)self;
  if (!s)
    return NULL;
  Py_BEGIN_ALLOW_THREADS
  while ((r = splicer_step(s)) > 0)
    total += r;
  if (r == -EAGAIN && splicer_wait(s, &fd, &ev) < 0)
    fd = -1;
  Py_END_ALLOW_THREADS
  if (r < 0 && !(r == -EAGAIN && fd >= 0)) {
    splicer_py_raise((int)r, splicer_py_refused_late(s, r) ? "open" : "copy", s, -1);
    return NULL;
  }
  return Py_BuildValue("(Lih)", total, fd, ev);
}

/* ---- Buf: a sealed buffer with the buffer protocol ---------------------- */

/* The memory of a splicer_buf, writable through memoryview(buf) until it
 * is handed to a session.  Hand-over is refused while a view is exported:
 * the session seals (mprotect) and later frees the memory, so a view that
 * outlived it would fault or read freed pages. */
typedef struct {
  PyObject_HEAD
  splicer_buf *b;
  size_t size;
  Py_ssize_t exports;
  int handed_over;
} splicer_py_buf;

static PyTypeObject splicer_py_buf_type;

static PyObject *splicer_py_buf_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"size", NULL};
  PyObject *size_obj;
  long long size;
  splicer_py_buf *self;
  int r;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Buf", kwlist, &size_obj) ||
      splicer_py_int_range(size_obj, "size", 1, (long long)1 << 40, &size) < 0)
    return NULL;
  self = (splicer_py_buf *)type->tp_alloc(type, 0);
  if (!self)
    return NULL;
  r = splicer_buf_new(&self->b, (size_t)size);
  if (r < 0) {
    Py_DECREF(self);
    splicer_py_raise(r, "Buf", NULL, -1);
    return NULL;
  }
  self->size = (size_t)size;
  return (PyObject *)self;
}

static void splicer_py_buf_dealloc(splicer_py_buf *self) {
  splicer_buf_free(self->b);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int splicer_py_buf_getbuffer(splicer_py_buf *self, Py_buffer *view, int flags) {
  if (!self->b) {
    PyErr_SetString(PyExc_BufferError,
                    "splicer.Buf was handed over to a session: it is read-only and "
                    "belongs to the session now");
    view->obj = NULL;
    return -1;
  }
  if (PyBuffer_FillInfo(view, (PyObject *)self, splicer_buf_data(self->b),
                        (Py_ssize_t)self->size, 0, flags) < 0)
    return -1;
  self->exports++;
  return 0;
}

static void splicer_py_buf_releasebuffer(splicer_py_buf *self, Py_buffer *view) {
  (void)view;
  self->exports--;
}

static PyBufferProcs splicer_py_buf_as_buffer = {
    (getbufferproc)splicer_py_buf_getbuffer, (releasebufferproc)splicer_py_buf_releasebuffer};

static Py_ssize_t splicer_py_buf_len(splicer_py_buf *self) { return (Py_ssize_t)self->size; }

static PySequenceMethods splicer_py_buf_as_sequence = {(lenfunc)splicer_py_buf_len};

static PyObject *splicer_py_buf_handed_over(splicer_py_buf *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->handed_over);
}

static PyGetSetDef splicer_py_buf_getset[] = {
    {"handed_over", (getter)splicer_py_buf_handed_over, NULL,
     "True once the buffer was handed to a session (it is sealed then).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *splicer_py_buf_repr(splicer_py_buf *self) {
  return PyUnicode_FromFormat("<splicer.Buf %zu bytes%s>", self->size,
                              self->handed_over ? ", handed over" : "");
}

static PyTypeObject splicer_py_buf_type = {
    PyVarObject_HEAD_INIT(NULL, 0) "splicer.Buf", /* tp_name */
    sizeof(splicer_py_buf),                       /* tp_basicsize */
};

/* open_buf_obj(session, buf, length, fd_out, nonblock): hand buf over. */
static PyObject *splicer_py_open_buf_obj(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  splicer_session *s;
  splicer_py_buf *b;
  long long len;
  int fd, nb, r;
  (void)self;
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "open_buf_obj() takes 5 arguments");
    return NULL;
  }
  if (!(s = splicer_py_session(args[0])))
    return NULL;
  if (Py_TYPE(args[1]) != &splicer_py_buf_type) {
    PyErr_Format(PyExc_TypeError, "splicer.Buf expected, not %.100s", Py_TYPE(args[1])->tp_name);
    return NULL;
  }
  b = (splicer_py_buf *)args[1];
  if (!b->b) {
    PyErr_SetString(PyExc_ValueError, "splicer.Buf was already handed over");
    return NULL;
  }
  if (b->exports > 0) {
    PyErr_Format(PyExc_BufferError,
                 "splicer.Buf has %zd exported view(s): release them (memoryview.release() "
                 "or a with block) before handing it over", b->exports);
    return NULL;
  }
  /* a length past the buffer's size is the C library's EINVAL */
  if (args[2] == Py_None)
    len = (long long)b->size;
  else if (splicer_py_int_range(args[2], "length", 0, LLONG_MAX, &len) < 0)
    return NULL;
  if (splicer_py_fd(args[3], &fd) < 0)
    return NULL;
  nb = PyObject_IsTrue(args[4]);
  if (nb < 0)
    return NULL;
  if ((nb = splicer_py_prepare(s, splicer_py_keeper(args[0]), nb, &fd, 1)) < 0 ||
      (r = splicer_open_buf(s, b->b, (size_t)len, fd)) < 0) {
    splicer_py_raise(nb < 0 ? nb : r, "open_buf", NULL, -1);
    return NULL;
  }
  b->b = NULL; /* the session owns and frees it now */
  b->handed_over = 1;
  return PyBool_FromLong(nb);
}

static PyStructSequence_Field splicer_py_progress_fields[] = {
    {"consumed", "bytes taken from the source"},
    {"delivered", "bytes written to the destination (the least of them, for a tee)"},
    {"pending", "consumed but not yet delivered: held by the session"},
    {"method", "name of the method in use"},
    {"finished", "True once the length is reached or the source ended, and nothing is pending"},
    {NULL, NULL}};
static PyStructSequence_Desc splicer_py_progress_desc = {
    "splicer.Progress", "Progress of a session's open or last transfer.",
    splicer_py_progress_fields, 5};

static PyStructSequence_Field splicer_py_stats_fields[] = {
    {"bytes", "bytes delivered (to every destination, for a tee)"},
    {"syscalls", "data-moving syscalls made"},
    {"fallbacks", "times a method was abandoned for the next one"},
    {"eagain", "times a syscall returned EAGAIN"},
    {"pool_misses", "batches done by read/write because the pipe pool had no pipe"},
    {"bytes_by_method", "dict: method name -> bytes delivered by it"},
    {"pool_spills", "batches whose last bytes were moved from a pool pipe into a buffer, "
                    "so that the pipe could go back while the destination was full and "
                    "the pool short"},
    {NULL, NULL}};
static PyStructSequence_Desc splicer_py_stats_desc = {
    "splicer.Stats", "Cumulative statistics of a session.", splicer_py_stats_fields, 7};

static PyStructSequence_Field splicer_py_pool_stats_fields[] = {
    {"borrowed", "pipes handed to sessions"},
    {"returned", "pipes given back empty"},
    {"created", "pipes made by the pool"},
    {"closed", "pipes closed by the pool"},
    {"misses", "batches done by read/write: no pipe to be had"},
    {"in_use", "pipes borrowed now"},
    {"idle", "empty pipes kept now"},
    {"peak_in_use", "most pipes borrowed at once since the start or the last trim"},
    {"discarded", "pipes closed because they held bytes"},
    {"undersized", "new pipes closed because the kernel gave less than PIPE_SIZE"},
    {"spills", "pipes given back early: a session's destination was full while the pool "
               "had no idle pipe, so the bytes left were moved into a buffer"},
    {NULL, NULL}};
static PyStructSequence_Desc splicer_py_pool_stats_desc = {
    "splicer.PoolStats", "Statistics of the process-wide pipe pool.",
    splicer_py_pool_stats_fields, 11};

static PyObject *splicer_py_sb_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  splicer_py_session_obj *self;
  int r;
  (void)args;
  (void)kwds;
  self = (splicer_py_session_obj *)type->tp_alloc(type, 0);
  if (!self)
    return NULL;
  self->wait_ms = -1;
  r = splicer_session_new(&self->s);
  if (r < 0) {
    Py_DECREF(self);
    splicer_py_raise(r, "session_new", NULL, -1);
    return NULL;
  }
  return (PyObject *)self;
}

static void splicer_py_sb_dealloc(splicer_py_session_obj *self) {
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  splicer_session_free(self->s); /* the collector frees an unclosed session */
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *splicer_py_sb_step(splicer_py_session_obj *self, PyObject *unused) {
  long long n;
  (void)unused;
  if (!self->s) {
    PyErr_SetString(PyExc_ValueError, "splicer: the session is closed");
    return NULL;
  }
  n = splicer_py_drive(self->s, 1, self->nonblock ? 0 : self->wait_ms, "step", 0);
  return n < 0 ? NULL : PyLong_FromLongLong(n);
}

static PyObject *splicer_py_sb_run(splicer_py_session_obj *self, PyObject *unused) {
  long long n;
  (void)unused;
  if (!self->s) {
    PyErr_SetString(PyExc_ValueError, "splicer: the session is closed");
    return NULL;
  }
  n = splicer_py_drive(self->s, 0, self->nonblock ? 0 : self->wait_ms, "run", 0);
  return n < 0 ? NULL : PyLong_FromLongLong(n);
}

static PyObject *splicer_py_sb_close(splicer_py_session_obj *self, PyObject *unused) {
  splicer_session *s = self->s;
  (void)unused;
  self->s = NULL;
  self->n_kept = 0;
  if (s) {
    Py_BEGIN_ALLOW_THREADS /* the pool's lock may be contended */
    splicer_session_free(s);
    Py_END_ALLOW_THREADS
  }
  Py_RETURN_NONE;
}

static PyObject *splicer_py_sb_closed(splicer_py_session_obj *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->s == NULL);
}

static PyMethodDef splicer_py_sb_methods[] = {
    {"step", (PyCFunction)splicer_py_sb_step, METH_NOARGS,
     "Move bytes: pending ones first, then at most one chunk more.  Return the bytes\n"
     "delivered (> 0), or 0 once the transfer is finished.  Blocking mode waits until a\n"
     "step delivers; non-blocking mode raises BlockingIOError when nothing can move."},
    {"run", (PyCFunction)splicer_py_sb_run, METH_NOARGS,
     "Step until the transfer is finished; return the bytes delivered by this call."},
    {"close", (PyCFunction)splicer_py_sb_close, METH_NOARGS,
     "Free the session and its pipes (pending bytes are dropped); the caller's fds\n"
     "stay open.  Closing twice is fine."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef splicer_py_sb_members[] = {
    {"_nonblock", T_INT, offsetof(splicer_py_session_obj, nonblock), 0, NULL},
    {"_wait_ms", T_INT, offsetof(splicer_py_session_obj, wait_ms), 0, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef splicer_py_sb_getset[] = {
    {"closed", (getter)splicer_py_sb_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject splicer_py_session_type = {
    PyVarObject_HEAD_INIT(NULL, 0) "splicer._core.SessionBase", /* tp_name */
    sizeof(splicer_py_session_obj),                             /* tp_basicsize */
};

static PyMethodDef splicer_py_drivers[] = {
    {"transfer", (PyCFunction)(void (*)(void))splicer_py_transfer, METH_FASTCALL,
     "transfer(session, fd_in, off_in, fd_out, off_out, length, timeout_ms, nonblock)"},
    {"open_fds", (PyCFunction)(void (*)(void))splicer_py_open_fds, METH_FASTCALL,
     "open_fds(session, fd_in, off_in, fd_out, off_out, length, nonblock) -> an end is O_NONBLOCK"},
    {"open_tee_fds", (PyCFunction)(void (*)(void))splicer_py_open_tee_fds, METH_FASTCALL,
     "open_tee_fds(session, fd_in, off_in, fds_out, length, nonblock)"},
    {"open_buf_obj", (PyCFunction)(void (*)(void))splicer_py_open_buf_obj, METH_FASTCALL,
     "open_buf_obj(session, buf, length, fd_out, nonblock)"},
    {"drive", (PyCFunction)(void (*)(void))splicer_py_drive_fn, METH_FASTCALL,
     "drive(session, once, timeout_ms) -> bytes delivered"},
    {"drive_async", (PyCFunction)splicer_py_drive_async, METH_O,
     "drive_async(session) -> (delivered, fd, events)"},
    {NULL, NULL, 0, NULL}};

/* Adds the drivers and types to the module; -1 with an exception set. */
static int splicer_py_init(PyObject *m) {
  PyObject *threading, *main, *ident;
  splicer_py_buf_type.tp_dealloc = (destructor)splicer_py_buf_dealloc;
  splicer_py_buf_type.tp_repr = (reprfunc)splicer_py_buf_repr;
  splicer_py_buf_type.tp_as_sequence = &splicer_py_buf_as_sequence;
  splicer_py_buf_type.tp_as_buffer = &splicer_py_buf_as_buffer;
  splicer_py_buf_type.tp_flags = Py_TPFLAGS_DEFAULT;
  splicer_py_buf_type.tp_doc =
      "Buf(size): page-aligned memory to fill through memoryview(buf) and then hand to "
      "Session.write_buf(), which seals it read-only.";
  splicer_py_buf_type.tp_getset = splicer_py_buf_getset;
  splicer_py_buf_type.tp_new = splicer_py_buf_new;
  if (PyType_Ready(&splicer_py_buf_type) < 0)
    return -1;
  Py_INCREF(&splicer_py_buf_type);
  if (PyModule_AddObject(m, "Buf", (PyObject *)&splicer_py_buf_type) < 0)
    return -1;
  splicer_py_session_type.tp_dealloc = (destructor)splicer_py_sb_dealloc;
  splicer_py_session_type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  splicer_py_session_type.tp_doc = "The C session under splicer.Session.";
  splicer_py_session_type.tp_weaklistoffset = offsetof(splicer_py_session_obj, weakrefs);
  splicer_py_session_type.tp_methods = splicer_py_sb_methods;
  splicer_py_session_type.tp_members = splicer_py_sb_members;
  splicer_py_session_type.tp_getset = splicer_py_sb_getset;
  splicer_py_session_type.tp_new = splicer_py_sb_new;
  if (PyType_Ready(&splicer_py_session_type) < 0)
    return -1;
  Py_INCREF(&splicer_py_session_type);
  if (PyModule_AddObject(m, "SessionBase", (PyObject *)&splicer_py_session_type) < 0)
    return -1;
  splicer_py_progress_type = PyStructSequence_NewType(&splicer_py_progress_desc);
  splicer_py_stats_type = PyStructSequence_NewType(&splicer_py_stats_desc);
  splicer_py_pool_stats_type = PyStructSequence_NewType(&splicer_py_pool_stats_desc);
  if (!splicer_py_progress_type || !splicer_py_stats_type || !splicer_py_pool_stats_type)
    return -1;
  if (PyModule_AddObject(m, "Progress", Py_NewRef((PyObject *)splicer_py_progress_type)) < 0 ||
      PyModule_AddObject(m, "Stats", Py_NewRef((PyObject *)splicer_py_stats_type)) < 0 ||
      PyModule_AddObject(m, "PoolStats", Py_NewRef((PyObject *)splicer_py_pool_stats_type)) < 0)
    return -1;
  if (PyModule_AddFunctions(m, splicer_py_drivers) < 0)
    return -1;
  /* signals are handled in the main thread only: the drivers check them
   * there and nowhere else */
  threading = PyImport_ImportModule("threading");
  if (!threading)
    return -1;
  main = PyObject_CallMethod(threading, "main_thread", NULL);
  Py_DECREF(threading);
  if (!main)
    return -1;
  ident = PyObject_GetAttrString(main, "ident");
  Py_DECREF(main);
  if (!ident)
    return -1;
  splicer_py_main_thread = PyLong_AsUnsignedLong(ident);
  Py_DECREF(ident);
  return PyErr_Occurred() ? -1 : 0;
}
%}

%init %{
  if (splicer_py_init(m) < 0)
    return NULL;
%}
