/*
 * splicer_ruby.i -- Ruby typemaps for splicer's generated layer.
 *
 *   swig -ruby -Icore/include -Iswig -o bindings/ruby/ext/splicer/splicer_wrap.c swig/splicer_ruby.i
 *
 * The result is the C extension "splicer/core" (Init_core, module
 * Splicer::Core), which mirrors splicer.h one function to one function;
 * bindings/ruby/lib/splicer.rb is the idiomatic layer users require.
 *
 * Conventions of the generated functions:
 *   - numbers are Integers, all 64 bits, checked: a Float, a String or nil
 *     where a number is wanted is a TypeError, a value outside the C type's
 *     range an ArgumentError; nothing is rounded or truncated;
 *   - a -errno result raises the SystemCallError subclass of that errno
 *     (Errno::EPIPE, ...) whose message names the C function;
 *   - an fd argument is an Integer, an IO (a writer's buffer is flushed
 *     first; a seekable reader's read-ahead is given back to the fd), or
 *     anything with to_io or fileno.  A non-seekable reader with bytes in
 *     its read buffer raises IOError here: the idiomatic layer delivers
 *     those bytes first;
 *   - an offset of nil is SPLICER_OFF_CUR, a length of nil SPLICER_TO_EOF;
 *   - out-parameters are results: session_new returns the session, wait
 *     returns [fd, events], progress_get/stats_get/pool_stats_get return
 *     Arrays in the order of the C struct's fields.
 *
 * Besides the mirror, three functions exist for the idiomatic layer only
 * (drive, fd_of, read_pending: see the end of this file): the session is
 * driven there with the GVL released, interruptibly, waiting on the
 * descriptors the way Ruby's own IO methods do.
 */
%module "splicer::core"

%{
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ruby/io.h>
#include <ruby/thread.h>
#include <ruby/fiber/scheduler.h>

#include "splicer.h"

/* Raise the SystemCallError subclass of a -errno result; the message names
 * the call ("Broken pipe - splicer_step"). */
static void splicer_rb_fail(int64_t err, const char *what) __attribute__((noreturn));
static void splicer_rb_fail(int64_t err, const char *what) {
  rb_syserr_fail((int)-err, what);
}

static void splicer_rb_want_integer(VALUE v, const char *what) __attribute__((noreturn));
static void splicer_rb_want_integer(VALUE v, const char *what) {
  rb_raise(rb_eTypeError, "%s: Integer expected, got %s", what,
           NIL_P(v) ? "nil" : rb_obj_classname(v));
}

/* An Integer that fits int64_t; anything else is an error, never rounded. */
static int64_t splicer_rb_i64(VALUE v, const char *what) {
  int64_t out = 0;
  int sign;
  if (RB_FIXNUM_P(v))
    return (int64_t)FIX2LONG(v);
  if (!RB_TYPE_P(v, T_BIGNUM))
    splicer_rb_want_integer(v, what);
  /* in 2's complement: -2**63 .. 2**64-1 fit one word; 2**63 and above
   * are positive overflow for int64_t */
  sign = rb_integer_pack(v, &out, 1, sizeof out, 0,
                         INTEGER_PACK_NATIVE_BYTE_ORDER | INTEGER_PACK_LSWORD_FIRST | INTEGER_PACK_2COMP);
  if (sign == 2 || sign == -2 || (sign == 1 && out < 0))
    rb_raise(rb_eArgError, "%s: %" PRIsVALUE " is out of range (-2**63 .. 2**63-1)", what, v);
  return out;
}

/* An Integer in 0 .. max (max <= UINT64_MAX). */
static uint64_t splicer_rb_u64(VALUE v, uint64_t max, const char *what) {
  uint64_t out = 0;
  if (RB_FIXNUM_P(v)) {
    long l = FIX2LONG(v);
    if (l < 0)
      rb_raise(rb_eArgError, "%s: %ld is negative", what, l);
    out = (uint64_t)l;
  } else if (RB_TYPE_P(v, T_BIGNUM)) {
    int sign = rb_integer_pack(v, &out, 1, sizeof out, 0,
                               INTEGER_PACK_NATIVE_BYTE_ORDER | INTEGER_PACK_LSWORD_FIRST);
    if (sign < 0)
      rb_raise(rb_eArgError, "%s: %" PRIsVALUE " is negative", what, v);
    if (sign > 1)
      rb_raise(rb_eArgError, "%s: %" PRIsVALUE " is out of range (0 .. 2**64-1)", what, v);
  } else {
    splicer_rb_want_integer(v, what);
  }
  if (out > max)
    rb_raise(rb_eArgError, "%s: %" PRIsVALUE " is out of range (0 .. %llu)", what, v,
             (unsigned long long)max);
  return out;
}

static int splicer_rb_int(VALUE v, const char *what) {
  int64_t x;
  if (RB_FIXNUM_P(v)) {
    long l = FIX2LONG(v);
    if (l >= INT_MIN && l <= INT_MAX)
      return (int)l;
  }
  x = splicer_rb_i64(v, what);
  if (x < INT_MIN || x > INT_MAX)
    rb_raise(rb_eArgError, "%s: %" PRIsVALUE " is out of range for an int", what, v);
  return (int)x;
}

/* A length: nil (or Core::TO_EOF, -1) means SPLICER_TO_EOF. */
static uint64_t splicer_rb_len(VALUE v, const char *what) {
  if (NIL_P(v) || v == INT2FIX(-1))
    return SPLICER_TO_EOF;
  return splicer_rb_u64(v, UINT64_MAX, what);
}

/* An offset: nil means SPLICER_OFF_CUR (the fd's own position).  Other
 * negative values go to the C library, which answers -EINVAL. */
static int64_t splicer_rb_off(VALUE v, const char *what) {
  if (NIL_P(v))
    return SPLICER_OFF_CUR;
  return splicer_rb_i64(v, what);
}

static ID splicer_rb_id_fileno;

/* The descriptor behind an argument: an Integer, an IO, or an object with
 * to_io (a Socket wrapper, say) or fileno.  Ruby's buffers come first: a
 * writer's buffer is flushed, so bytes written through it precede the
 * transfer; a reader's read-ahead is given back to a seekable fd (the fd's
 * position becomes the reader's); bytes buffered from a pipe or socket
 * cannot be given back, and are the caller's to deliver (read_pending).
 * reading/writing: which way the transfer uses it. */
static int splicer_rb_fd(VALUE v, int reading, int writing, const char *what) {
  int depth;
  for (depth = 0; depth < 4; depth++) {
    VALUE io;
    if (RB_FIXNUM_P(v) || RB_TYPE_P(v, T_BIGNUM))
      return splicer_rb_int(v, what);
    io = RB_TYPE_P(v, T_FILE) ? v : rb_io_check_io(v);
    if (!NIL_P(io)) {
      rb_io_t *fptr;
      GetOpenFile(io, fptr);
      rb_io_check_closed(fptr);
      if ((writing && fptr->wbuf.len > 0) || (reading && rb_io_read_pending(fptr) > 0)) {
        /* IO#flush writes the write buffer and, on a seekable reader,
         * moves the fd back over the read-ahead and drops it */
        rb_io_flush(io);
        if (reading && rb_io_read_pending(fptr) > 0)
          rb_raise(rb_eIOError,
                   "%s: %d bytes are buffered in the IO and cannot be given back to the fd "
                   "(read them first, or use Splicer::Session, which delivers them)",
                   what, rb_io_read_pending(fptr));
      }
      return fptr->fd;
    }
    if (!rb_respond_to(v, splicer_rb_id_fileno))
      rb_raise(rb_eTypeError,
               "%s: IO, Integer fd, or object with to_io or fileno expected, got %s", what,
               NIL_P(v) ? "nil" : rb_obj_classname(v));
    v = rb_funcall(v, splicer_rb_id_fileno, 0);
    if (!RB_INTEGER_TYPE_P(v))
      rb_raise(rb_eTypeError, "%s: fileno returned %s, not an Integer", what,
               NIL_P(v) ? "nil" : rb_obj_classname(v));
  }
  rb_raise(rb_eTypeError, "%s: no file descriptor", what);
}

/* A handle argument (session or buffer): the exact class is recognised
 * without SWIG's type-name lookup, since every step passes one.  A closed
 * session (or a buffer handed over) is a programming error: IOError, as
 * for a closed IO. */
static void *splicer_rb_handle(VALUE v, swig_type_info *type, const char *what) {
  swig_class *klass = (swig_class *)type->clientdata;
  void *p;
  if (!klass || !RB_TYPE_P(v, T_DATA) || RTYPEDDATA_P(v) ||
      !rb_obj_is_kind_of(v, klass->klass))
    rb_raise(rb_eTypeError, "%s expected, got %s", what,
             NIL_P(v) ? "nil" : rb_obj_classname(v));
  p = DATA_PTR(v);
  if (!p)
    rb_raise(rb_eIOError, "closed %s", what);
  return p;
}

/* After the handle's C object was freed or handed over: the Ruby object
 * neither frees it again when collected nor lends its address to a call. */
static void splicer_rb_release(VALUE v) {
  if (RB_TYPE_P(v, T_DATA) && !RTYPEDDATA_P(v)) {
    RDATA(v)->dfree = 0;
    DATA_PTR(v) = NULL;
  }
}

static VALUE splicer_rb_u64_value(uint64_t v) { return ULL2NUM((unsigned long long)v); }
%}

%init %{
  splicer_rb_id_fileno = rb_intern("fileno");
%}

/* ---- numbers in ---------------------------------------------------------- */

%typemap(in) int      %{ $1 = splicer_rb_int($input, "$symname"); %}
%typemap(in) unsigned %{ $1 = (unsigned)splicer_rb_u64($input, UINT_MAX, "$symname"); %}
%typemap(in) size_t   %{ $1 = (size_t)splicer_rb_u64($input, SIZE_MAX, "$symname"); %}
%typemap(in) int64_t  %{ $1 = splicer_rb_i64($input, "$symname"); %}
%typemap(in) uint64_t %{ $1 = splicer_rb_u64($input, UINT64_MAX, "$symname"); %}

/* Offsets and lengths may be nil (or left out), as OFF_CUR and TO_EOF. */
%typemap(in) int64_t off_in, int64_t off_out %{ $1 = splicer_rb_off($input, "$symname"); %}
%typemap(in) uint64_t len %{ $1 = splicer_rb_len($input, "$symname"); %}
%typemap(default) uint64_t len %{ $1 = SPLICER_TO_EOF; %}
%typemap(default) unsigned flags %{ $1 = 0; %}

%typemap(in) int fd_in  %{ $1 = splicer_rb_fd($input, 1, 0, "$symname"); %}
%typemap(in) int fd_out %{ $1 = splicer_rb_fd($input, 0, 1, "$symname"); %}
%typemap(in) int pipe_fd %{ $1 = splicer_rb_fd($input, 0, 1, "$symname"); %}

%typemap(in) splicer_session *s, const splicer_session *s
  %{ $1 = ($1_ltype)splicer_rb_handle($input, $descriptor, "Splicer::Core::Session"); %}
%typemap(in) splicer_buf *b, const splicer_buf *b, splicer_buf *buf
  %{ $1 = ($1_ltype)splicer_rb_handle($input, $descriptor, "Splicer::Core::Buf"); %}

/* ---- results: -errno raises ----------------------------------------------- */

%typemap(out) int %{
  if ($1 < 0)
    splicer_rb_fail($1, "splicer_$symname");
  $result = INT2NUM($1);
%}
%typemap(out) int64_t %{
  if ($1 < 0)
    splicer_rb_fail($1, "splicer_$symname");
  $result = LL2NUM((long long)$1);
%}
%typemap(out) unsigned %{ $result = UINT2NUM($1); %}
%typemap(out) size_t   %{ $result = splicer_rb_u64_value((uint64_t)$1); %}

/* Functions whose status is replaced by their out-parameters. */
%typemap(out) int splicer_session_new, int splicer_session_get, int splicer_pool_get,
              int splicer_wait, int splicer_progress_get, int splicer_stats_get,
              int splicer_pool_stats_get, int splicer_buf_new %{
  if ($1 < 0)
    splicer_rb_fail($1, "splicer_$symname");
%}
/* and those that have nothing to say but success */
%typemap(out) int splicer_session_set, int splicer_pool_set, int splicer_open,
              int splicer_open_tee, int splicer_open_buf %{
  if ($1 < 0)
    splicer_rb_fail($1, "splicer_$symname");
  $result = Qnil;
%}

/* ---- out-parameters ------------------------------------------------------- */

%typemap(in, numinputs=0) splicer_session **out (splicer_session *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) splicer_session **out
  %{ $result = SWIG_NewPointerObj(temp$argnum, SWIGTYPE_p_splicer_session, SWIG_POINTER_OWN); %}

%typemap(in, numinputs=0) splicer_buf **out (splicer_buf *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) splicer_buf **out
  %{ $result = SWIG_NewPointerObj(temp$argnum, SWIGTYPE_p_splicer_buf, SWIG_POINTER_OWN); %}

%typemap(in, numinputs=0) int64_t *value (int64_t temp = 0) %{ $1 = &temp; %}
%typemap(argout) int64_t *value %{ $result = LL2NUM((long long)temp$argnum); %}

/* wait: [fd, events] */
%typemap(in, numinputs=0) (int *fd, short *events) (int tfd = -1, short tev = 0) %{
  $1 = &tfd;
  $2 = &tev;
%}
%typemap(argout) (int *fd, short *events) %{ $result = rb_assoc_new(INT2NUM(tfd$argnum), INT2NUM(tev$argnum)); %}

%typemap(in, numinputs=0) (splicer_progress *p, size_t size) (splicer_progress temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
/* [consumed, delivered, pending, method, finished] */
%typemap(argout) (splicer_progress *p, size_t size) %{
  $result = rb_ary_new_from_args(5, splicer_rb_u64_value(temp$argnum.consumed),
                                 splicer_rb_u64_value(temp$argnum.delivered),
                                 splicer_rb_u64_value(temp$argnum.pending),
                                 INT2NUM(temp$argnum.method),
                                 temp$argnum.finished ? Qtrue : Qfalse);
%}

%typemap(in, numinputs=0) (splicer_stats *out, size_t size) (splicer_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
/* [bytes, syscalls, fallbacks, eagain, [bytes by method number], pool_misses,
 *  pool_spills] */
%typemap(argout) (splicer_stats *out, size_t size) %{
  {
    VALUE by = rb_ary_new_capa(SPLICER_METHOD_COUNT);
    int m;
    for (m = 0; m < SPLICER_METHOD_COUNT; m++)
      rb_ary_push(by, splicer_rb_u64_value(temp$argnum.bytes_by_method[m]));
    $result = rb_ary_new_from_args(7, splicer_rb_u64_value(temp$argnum.bytes),
                                   splicer_rb_u64_value(temp$argnum.syscalls),
                                   splicer_rb_u64_value(temp$argnum.fallbacks),
                                   splicer_rb_u64_value(temp$argnum.eagain), by,
                                   splicer_rb_u64_value(temp$argnum.pool_misses),
                                   splicer_rb_u64_value(temp$argnum.pool_spills));
  }
%}

%typemap(in, numinputs=0) (splicer_pool_stats *out, size_t size) (splicer_pool_stats temp) %{
  memset(&temp, 0, sizeof temp);
  $1 = &temp;
  $2 = sizeof temp;
%}
/* [borrowed, returned, created, closed, misses, in_use, idle, peak_in_use,
 *  discarded, undersized, spills] */
%typemap(argout) (splicer_pool_stats *out, size_t size) %{
  $result = rb_ary_new_from_args(11, splicer_rb_u64_value(temp$argnum.borrowed),
                                 splicer_rb_u64_value(temp$argnum.returned),
                                 splicer_rb_u64_value(temp$argnum.created),
                                 splicer_rb_u64_value(temp$argnum.closed),
                                 splicer_rb_u64_value(temp$argnum.misses),
                                 splicer_rb_u64_value(temp$argnum.in_use),
                                 splicer_rb_u64_value(temp$argnum.idle),
                                 splicer_rb_u64_value(temp$argnum.peak_in_use),
                                 splicer_rb_u64_value(temp$argnum.discarded),
                                 splicer_rb_u64_value(temp$argnum.undersized),
                                 splicer_rb_u64_value(temp$argnum.spills));
%}

/* ---- arrays in ------------------------------------------------------------ */

/* A tee's destinations: an Array of fds (any form splicer_rb_fd takes). */
%typemap(in) (const int *fds_out, size_t n_out) (int temp[SPLICER_TEE_MAX]) %{
  {
    long i, n;
    Check_Type($input, T_ARRAY);
    n = RARRAY_LEN($input);
    if (n == 0 || n > SPLICER_TEE_MAX)
      splicer_rb_fail(-EINVAL, "splicer_open_tee");
    for (i = 0; i < n; i++)
      temp[i] = splicer_rb_fd(RARRAY_AREF($input, i), 0, 1, "splicer_open_tee");
    $1 = temp;
    $2 = (size_t)n;
  }
%}

/* vmsplice's iovecs: a String or an Array of Strings.  The pipe will refer
 * to the strings' memory, not copy it (see splicer_vmsplice in splicer.h):
 * keep them referenced and unchanged until the reader consumed them. */
%typemap(in) (const struct iovec *iov, size_t n) (struct iovec temp[IOV_MAX]) %{
  if (RB_TYPE_P($input, T_STRING)) {
    temp[0].iov_base = RSTRING_PTR($input);
    temp[0].iov_len = (size_t)RSTRING_LEN($input);
    $1 = temp;
    $2 = 1;
  } else {
    long i, n;
    Check_Type($input, T_ARRAY);
    n = RARRAY_LEN($input);
    if (n > IOV_MAX)
      splicer_rb_fail(-EINVAL, "splicer_vmsplice");
    for (i = 0; i < n; i++) {
      VALUE str = RARRAY_AREF($input, i);
      Check_Type(str, T_STRING);
      temp[i].iov_base = RSTRING_PTR(str);
      temp[i].iov_len = (size_t)RSTRING_LEN(str);
    }
    $1 = temp;
    $2 = (size_t)n;
  }
%}

%typemap(in) (const char *bytes, size_t nbytes) %{
  StringValue($input);
  $1 = RSTRING_PTR($input);
  $2 = (size_t)RSTRING_LEN($input);
%}

/* ---- ownership ------------------------------------------------------------ */

/* splicer_open_buf() takes the buffer over on success (the error typemap
 * above raised before this runs on failure); splicer_buf_free() frees it. */
%typemap(argout) splicer_buf *b %{ splicer_rb_release($input); %}

/* A freed session must not be freed again by the collector; using the
 * handle afterwards (freeing it again included) raises IOError. */
%exception splicer_session_free %{
  $action
  splicer_rb_release(argv[0]);
%}

/* ---- the raw wrappers run without the GVL -------------------------------- */

%{
/* One raw syscall wrapper's (or the generated step's, run's, copy's)
 * arguments, for a call without the GVL. */
struct splicer_rb_raw {
  int op;
  int fd_in, fd_out;
  int64_t off_in, off_out;
  uint64_t len;
  unsigned flags;
  const struct iovec *iov;
  size_t n_iov;
  splicer_session *session;
  int64_t result;
};

enum { SPLICER_RB_SPLICE, SPLICER_RB_TEE, SPLICER_RB_VMSPLICE, SPLICER_RB_SENDFILE,
       SPLICER_RB_COPY_FILE_RANGE, SPLICER_RB_STEP, SPLICER_RB_RUN, SPLICER_RB_COPY };

static void *splicer_rb_raw_nogvl(void *arg) {
  struct splicer_rb_raw *a = arg;
  switch (a->op) {
  case SPLICER_RB_SPLICE:
    a->result = splicer_splice(a->fd_in, a->off_in, a->fd_out, a->off_out, a->len, a->flags);
    break;
  case SPLICER_RB_TEE:
    a->result = splicer_tee(a->fd_in, a->fd_out, a->len, a->flags);
    break;
  case SPLICER_RB_VMSPLICE:
    a->result = splicer_vmsplice(a->fd_out, a->iov, a->n_iov, a->flags);
    break;
  case SPLICER_RB_SENDFILE:
    a->result = splicer_sendfile(a->fd_out, a->fd_in, a->off_in, a->len);
    break;
  case SPLICER_RB_COPY_FILE_RANGE:
    a->result = splicer_copy_file_range(a->fd_in, a->off_in, a->fd_out, a->off_out, a->len);
    break;
  case SPLICER_RB_STEP:
    a->result = splicer_step(a->session);
    break;
  case SPLICER_RB_RUN:
    a->result = splicer_run(a->session);
    break;
  default:
    a->result = splicer_copy(a->session, a->fd_in, a->fd_out, a->len);
    break;
  }
  return NULL;
}

/* The GVL is released for the syscall.  There is no unblocking function:
 * the library retries EINTR, so a call blocked on a blocking descriptor
 * could not be woken by one (non-blocking descriptors, or a session, can
 * be interrupted). */
static int64_t splicer_rb_raw_call(struct splicer_rb_raw *a) {
  rb_thread_call_without_gvl(splicer_rb_raw_nogvl, a, NULL, NULL);
  return a->result;
}

/* vmsplice reads the strings while the GVL is released: they are locked
 * (as IO#write locks its string) so that no other thread changes them. */
static int64_t splicer_rb_vmsplice_call(struct splicer_rb_raw *a, VALUE strings) {
  long i, n = RB_TYPE_P(strings, T_STRING) ? 1 : RARRAY_LEN(strings);
  for (i = 0; i < n; i++)
    rb_str_locktmp(RB_TYPE_P(strings, T_STRING) ? strings : RARRAY_AREF(strings, i));
  rb_thread_call_without_gvl(splicer_rb_raw_nogvl, a, NULL, NULL);
  for (i = 0; i < n; i++)
    rb_str_unlocktmp(RB_TYPE_P(strings, T_STRING) ? strings : RARRAY_AREF(strings, i));
  return a->result;
}
%}

%exception splicer_splice %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_SPLICE, arg1, arg3, arg2, arg4, arg5, arg6, NULL, 0, NULL, 0};
    result = splicer_rb_raw_call(&a);
  }
%}
%exception splicer_tee %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_TEE, arg1, arg2, 0, 0, arg3, arg4, NULL, 0, NULL, 0};
    result = splicer_rb_raw_call(&a);
  }
%}
%exception splicer_vmsplice %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_VMSPLICE, -1, arg1, 0, 0, 0, arg4, arg2, arg3, NULL, 0};
    result = splicer_rb_vmsplice_call(&a, argv[1]);
  }
%}
%exception splicer_sendfile %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_SENDFILE, arg2, arg1, arg3, 0, arg4, 0, NULL, 0, NULL, 0};
    result = splicer_rb_raw_call(&a);
  }
%}
%exception splicer_copy_file_range %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_COPY_FILE_RANGE, arg1, arg3, arg2, arg4, arg5, 0, NULL, 0, NULL, 0};
    result = splicer_rb_raw_call(&a);
  }
%}

/* The generated layer's own step, run and copy follow the C semantics
 * (blocking as the descriptors and the NONBLOCK option say) and run without
 * the GVL too; like the raw wrappers they cannot be interrupted while
 * blocked.  The idiomatic layer drives sessions with Core.drive instead. */
%exception splicer_step %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_STEP, -1, -1, 0, 0, 0, 0, NULL, 0, arg1, 0};
    result = splicer_rb_raw_call(&a);
  }
%}
%exception splicer_run %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_RUN, -1, -1, 0, 0, 0, 0, NULL, 0, arg1, 0};
    result = splicer_rb_raw_call(&a);
  }
%}
%exception splicer_copy %{
  {
    struct splicer_rb_raw a = {SPLICER_RB_COPY, arg2, arg3, 0, 0, arg4, 0, NULL, 0, arg1, 0};
    result = splicer_rb_raw_call(&a);
  }
%}

/* The language-neutral file declares a Pool_stats class for the struct;
 * here it travels as an Array (the typemap above). */
%ignore splicer_pool_stats;

/* Explicit class names (SWIG would correct the lower-case ones, warning). */
%rename(Session) splicer_session;
%rename(Buf) splicer_buf;

%include "splicer.i"

/* ==========================================================================
 * For the idiomatic layer: driving a session with the GVL released
 * ========================================================================== */
%{
/* What ended a run of steps without the GVL. */
enum splicer_rb_outcome {
  SPLICER_RB_DONE,        /* finished, or (one step) bytes delivered */
  SPLICER_RB_FAILED,      /* an error other than EAGAIN */
  SPLICER_RB_AGAIN,       /* EAGAIN that is the caller's to handle */
  SPLICER_RB_NEED_WAKER,  /* EAGAIN to wait for: no wake-up fd yet */
  SPLICER_RB_INTERRUPTED  /* the unblocking function was called */
};

struct splicer_rb_drive {
  splicer_session *s;
  int one_step;          /* return after the first step that delivers */
  int may_wait;          /* on EAGAIN: wait in poll() (else return AGAIN) */
  int wake_fd;           /* eventfd the unblocking function writes, or -1 */
  const int *own_fds;    /* EAGAIN naming one of these is the caller's */
  size_t n_own;
  atomic_int stop;
  int outcome;
  int64_t total;         /* delivered by this call */
  int64_t error;
  int wait_fd;
  short wait_events;
};

/* Runs without the GVL: steps until finished, an error, an EAGAIN the
 * caller handles, or an interrupt.  Each step is bounded (the session is
 * non-blocking), and the stop flag is read between steps, so Thread#kill
 * and Thread#raise wait at most one step; a wait for readiness is a poll()
 * that the unblocking function ends through wake_fd. */
static void *splicer_rb_drive_nogvl(void *arg) {
  struct splicer_rb_drive *d = arg;
  for (;;) {
    int64_t r;
    size_t i;
    if (atomic_load_explicit(&d->stop, memory_order_acquire)) {
      d->outcome = SPLICER_RB_INTERRUPTED;
      return NULL;
    }
    r = splicer_step(d->s);
    if (r > 0) {
      d->total += r;
      if (d->one_step) {
        d->outcome = SPLICER_RB_DONE;
        return NULL;
      }
      continue;
    }
    if (r == 0) {
      d->outcome = SPLICER_RB_DONE;
      return NULL;
    }
    if (r != -EAGAIN || splicer_wait(d->s, &d->wait_fd, &d->wait_events) < 0) {
      d->outcome = SPLICER_RB_FAILED;
      d->error = r;
      return NULL;
    }
    for (i = 0; i < d->n_own; i++)
      if (d->own_fds[i] == d->wait_fd) {
        d->outcome = SPLICER_RB_AGAIN;
        return NULL;
      }
    if (!d->may_wait) {
      d->outcome = SPLICER_RB_AGAIN;
      return NULL;
    }
    if (d->wake_fd < 0) {
      d->outcome = SPLICER_RB_NEED_WAKER;
      return NULL;
    }
    {
      struct pollfd p[2] = {{d->wait_fd, d->wait_events, 0}, {d->wake_fd, POLLIN, 0}};
      if (poll(p, 2, -1) < 0 && errno != EINTR) {
        d->outcome = SPLICER_RB_FAILED;
        d->error = -errno;
        return NULL;
      }
      /* POLLERR or POLLHUP on the transfer's fd: the next step reports
       * the error or the end of input */
    }
  }
}

static void splicer_rb_drive_ubf(void *arg) {
  struct splicer_rb_drive *d = arg;
  atomic_store_explicit(&d->stop, 1, memory_order_release);
  if (d->wake_fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(d->wake_fd, &one, sizeof one);
    (void)w; /* a full counter is still readable: the poll ends either way */
  }
}

/*
 * SIGPIPE around a whole drive instead of around every step.  The C
 * session's own guard (SPLICER_OPT_SIGPIPE) costs three syscalls a step
 * (a sigaction query, block, unblock: as many as the splice itself for a
 * 64 KiB pipe step), because Ruby installs a SIGPIPE handler and the guard
 * only skips an ignored signal.  While the GVL is released the binding
 * does what the guard does, once: block SIGPIPE in this thread, turn the
 * session's guard off, and afterwards consume a SIGPIPE the session's
 * writes raised (not one that was pending before), restore the mask and
 * the option.  Ruby code never runs in between.
 */
struct splicer_rb_sigguard {
  int active;
  int was_pending;
  sigset_t old;
};

static void splicer_rb_sigguard_enter(splicer_session *s, struct splicer_rb_sigguard *g) {
  int64_t on = 0;
  struct sigaction sa;
  sigset_t set;
  g->active = 0;
  if (splicer_session_get(s, SPLICER_OPT_SIGPIPE, &on) < 0 || !on)
    return;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
    return;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &set, &g->old) != 0)
    return;
  g->was_pending = 0;
  if (sigismember(&g->old, SIGPIPE)) {
    sigset_t pending;
    if (sigpending(&pending) == 0)
      g->was_pending = sigismember(&pending, SIGPIPE);
  }
  splicer_session_set(s, SPLICER_OPT_SIGPIPE, 0);
  g->active = 1;
}

static void splicer_rb_sigguard_leave(splicer_session *s, struct splicer_rb_sigguard *g) {
  sigset_t pending, set;
  if (!g->active)
    return;
  g->active = 0;
  splicer_session_set(s, SPLICER_OPT_SIGPIPE, 1);
  if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static const char *const splicer_rb_op_names[] = {
    "step", "run", "copy", "copy_range", "tee", "write_buf", "resume"};

/* Raise for a failed step: the message names the operation and the method
 * the transfer was using ("Broken pipe - copy (splice_pipe)"). */
static void splicer_rb_op_message(splicer_session *s, int op, char *msg, size_t size) {
  splicer_progress p;
  memset(&p, 0, sizeof p);
  splicer_progress_get(s, &p, sizeof p);
  snprintf(msg, size, "%s (%s)", splicer_rb_op_names[op], splicer_method_name(p.method));
}

static void splicer_rb_fail_op(splicer_session *s, int64_t err, int op) __attribute__((noreturn));
static void splicer_rb_fail_op(splicer_session *s, int64_t err, int op) {
  char msg[96];
  splicer_rb_op_message(s, op, msg, sizeof msg);
  rb_syserr_fail((int)-err, msg);
}

static ID splicer_rb_id_wait_io;

/*
 * Splicer::Core.drive(session, one_step, owner, own, op, exception, sigpipe_dst) ->
 *     Integer (bytes delivered by this call), or :wait_readable /
 *     :wait_writable (exception false)
 *
 * Steps the session (which the idiomatic layer keeps in non-blocking mode)
 * without the GVL.  On EAGAIN:
 *   - own true, or own an Array holding the fd the session names: the
 *     caller asked not to wait (nonblock: true, or an Integer fd that is
 *     O_NONBLOCK): raise IO::EAGAINWaitReadable / IO::EAGAINWaitWritable,
 *     or return the symbol when exception is false;
 *   - under a fiber scheduler: owner.__wait_io(fd, events), which waits
 *     with IO#wait_readable / IO#wait_writable, then go on;
 *   - otherwise wait in poll() without the GVL, on the fd and on an
 *     eventfd that the unblocking function writes, so that Thread#kill,
 *     Thread#raise and signal handlers get in; then go on.
 * Any other error raises the errno's SystemCallError subclass.
 * sigpipe_dst: a destination is a pipe or a socket (see the SIGPIPE guard).
 */
static VALUE splicer_rb_drive(int argc, VALUE *argv, VALUE self) {
  struct splicer_rb_drive d;
  struct splicer_rb_sigguard guard;
  int own_fds[SPLICER_TEE_MAX + 1];
  int own_all = 0, op, exception, readable, own_guard;
  VALUE owner, scheduler;
  char msg[96];
  (void)self;
  if (argc != 7)
    rb_raise(rb_eArgError, "wrong number of arguments (given %d, expected 7)", argc);
  memset(&d, 0, sizeof d);
  d.s = splicer_rb_handle(argv[0], SWIGTYPE_p_splicer_session, "Splicer::Core::Session");
  d.one_step = RTEST(argv[1]);
  owner = argv[2];
  if (argv[3] == Qtrue) {
    own_all = 1;
  } else if (!NIL_P(argv[3])) {
    long i, n;
    Check_Type(argv[3], T_ARRAY);
    n = RARRAY_LEN(argv[3]);
    if (n > SPLICER_TEE_MAX + 1)
      rb_raise(rb_eArgError, "drive: too many fds");
    for (i = 0; i < n; i++)
      own_fds[i] = splicer_rb_int(RARRAY_AREF(argv[3], i), "drive");
    d.own_fds = own_fds;
    d.n_own = (size_t)n;
  }
  op = splicer_rb_int(argv[4], "drive");
  if (op < 0 || op >= (int)(sizeof splicer_rb_op_names / sizeof splicer_rb_op_names[0]))
    rb_raise(rb_eArgError, "drive: bad op");
  exception = RTEST(argv[5]);
  /* the binding's own SIGPIPE guard pays off over several steps into a
   * pipe or socket (the only destinations that raise SIGPIPE); one step
   * is guarded by the session itself at the same cost */
  own_guard = !d.one_step && RTEST(argv[6]);
  scheduler = rb_fiber_scheduler_current();
  d.wake_fd = -1;

  for (;;) {
    int wake;
    /* waits happen in poll() below unless a fiber scheduler does them */
    d.may_wait = !own_all && NIL_P(scheduler);
    atomic_store(&d.stop, 0);
    /* INTR_FAIL: return without calling the function when an interrupt
     * is pending on entry (that is an interruption too), and leave the
     * interrupt to rb_thread_check_ints() below, after the cleanup.
     * UBF_ASYNC_SAFE: the unblocking function is async-signal-safe (an
     * atomic store and a write(2)), so the main thread of a one-thread
     * program needs no helper thread to call it: without the flag Ruby
     * starts and kills one for every call (measured: 23 us a call). */
    d.outcome = SPLICER_RB_INTERRUPTED;
    guard.active = 0;
    if (own_guard)
      splicer_rb_sigguard_enter(d.s, &guard);
    rb_nogvl(splicer_rb_drive_nogvl, &d, splicer_rb_drive_ubf, &d,
             RB_NOGVL_INTR_FAIL | RB_NOGVL_UBF_ASYNC_SAFE);
    splicer_rb_sigguard_leave(d.s, &guard);
    if (d.outcome == SPLICER_RB_NEED_WAKER) {
      d.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (d.wake_fd >= 0)
        continue;
      /* no fd to spare: wait the way IO#wait_readable does, below */
      d.outcome = SPLICER_RB_AGAIN;
    }
    if (d.outcome == SPLICER_RB_DONE || d.outcome == SPLICER_RB_FAILED)
      break;
    if (d.outcome == SPLICER_RB_AGAIN) {
      size_t i;
      int callers = own_all;
      for (i = 0; i < d.n_own; i++)
        callers |= own_fds[i] == d.wait_fd;
      if (callers)
        break;
    }
    /* Interrupted, or an EAGAIN to wait for outside poll(): Ruby code runs
     * next (Thread#kill, Thread#raise, trap handlers, the scheduler), and
     * may not return, so the wake-up fd is closed first. */
    wake = d.wake_fd;
    d.wake_fd = -1;
    if (wake >= 0)
      close(wake);
    if (d.outcome == SPLICER_RB_AGAIN) {
      if (!NIL_P(scheduler))
        rb_funcall(owner, splicer_rb_id_wait_io, 2, INT2NUM(d.wait_fd), INT2NUM(d.wait_events));
      else if (rb_wait_for_single_fd(d.wait_fd, d.wait_events, NULL) < 0 && errno != EINTR)
        splicer_rb_fail_op(d.s, -errno, op);
    }
    rb_thread_check_ints();
  }
  if (d.wake_fd >= 0)
    close(d.wake_fd);
  if (d.outcome == SPLICER_RB_FAILED)
    splicer_rb_fail_op(d.s, d.error, op);
  if (d.outcome == SPLICER_RB_DONE)
    return LL2NUM((long long)d.total);
  /* an EAGAIN that is the caller's */
  readable = (d.wait_events & POLLIN) != 0;
  if (!exception)
    return ID2SYM(rb_intern(readable ? "wait_readable" : "wait_writable"));
  splicer_rb_op_message(d.s, op, msg, sizeof msg);
  rb_readwrite_syserr_fail(readable ? RB_IO_WAIT_READABLE : RB_IO_WAIT_WRITABLE, EAGAIN, msg);
  return Qnil; /* not reached */
}

/*
 * Splicer::Core.fd_of(obj, reading, writing) -> Integer
 * The descriptor behind obj, with Ruby's buffers handled as the fd
 * typemaps do (see splicer_rb_fd).
 */
static VALUE splicer_rb_fd_of(VALUE self, VALUE obj, VALUE reading, VALUE writing) {
  (void)self;
  return INT2NUM(splicer_rb_fd(obj, RTEST(reading), RTEST(writing), "fd"));
}

/*
 * Splicer::Core.read_pending(io) -> Integer
 * Bytes buffered in io's read buffer that the fd can no longer give: 0 for
 * anything that is not an IO, or after a seekable IO gave its read-ahead
 * back (IO#flush).
 */
static VALUE splicer_rb_read_pending(VALUE self, VALUE obj) {
  VALUE io = RB_TYPE_P(obj, T_FILE) ? obj : rb_io_check_io(obj);
  rb_io_t *fptr;
  (void)self;
  if (NIL_P(io))
    return INT2FIX(0);
  GetOpenFile(io, fptr);
  rb_io_check_closed(fptr);
  if (rb_io_read_pending(fptr) > 0)
    rb_io_flush(io);
  return INT2NUM(rb_io_read_pending(fptr));
}

/*
 * Splicer::Core.sigpipe_prone?(obj) -> true or false
 * Whether a write to obj's descriptor may raise SIGPIPE: a pipe or a
 * socket (false for a descriptor fstat refuses).
 */
static VALUE splicer_rb_sigpipe_prone(VALUE self, VALUE obj) {
  struct stat st;
  int fd = splicer_rb_fd(obj, 0, 0, "sigpipe_prone?");
  (void)self;
  if (fd < 0 || fstat(fd, &st) < 0)
    return Qfalse;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ? Qtrue : Qfalse;
}

/*
 * Splicer::Core.nonblocking?(fd) -> true or false
 * Whether fd is O_NONBLOCK (raises for a closed fd).
 */
static VALUE splicer_rb_nonblocking(VALUE self, VALUE fd) {
  int fl = fcntl(splicer_rb_int(fd, "nonblocking?"), F_GETFL);
  (void)self;
  if (fl < 0)
    rb_sys_fail("fcntl(F_GETFL)");
  return (fl & O_NONBLOCK) ? Qtrue : Qfalse;
}
%}

%init %{
  splicer_rb_id_wait_io = rb_intern("__wait_io");
  rb_define_module_function(mCore, "drive", splicer_rb_drive, -1);
  rb_define_module_function(mCore, "fd_of", splicer_rb_fd_of, 3);
  rb_define_module_function(mCore, "read_pending", splicer_rb_read_pending, 1);
  rb_define_module_function(mCore, "nonblocking?", splicer_rb_nonblocking, 1);
  rb_define_module_function(mCore, "sigpipe_prone?", splicer_rb_sigpipe_prone, 1);
%}
