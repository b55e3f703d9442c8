/* Steps (tests/README.md section 5): one function per op, in a table. */
#include "runner.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct step_env {
  struct ctx *c;
  const jval *st;
  const char *op;
  size_t index;
};

static int step_fail(struct step_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int step_fail(struct step_env *e, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fail(e->c, "step %zu (%s): %s", e->index, e->op, msg);
}

/* Compare a call's result with the step's "expect". */
static int check_result(struct step_env *e, int64_t r) {
  const jval *x = json_get(e->st, "expect");
  if (result_matches(x, r))
    return 0;
  char a[64], b[64];
  return step_fail(e, "expected %s, got %s", expect_str(x, a, sizeof a), result_str(r, b, sizeof b));
}

static int fd_arg(struct step_env *e, const char *key, int *fd) {
  const char *name = json_str(e->st, key);
  struct fixture *f = fixture_find(e->c, name);
  if (!f)
    return step_fail(e, "%s: no fixture %s", key, name ? name : "(missing)");
  *fd = f->fd;
  return 0;
}

static struct fixture *fixture_arg(struct step_env *e) {
  const char *name = json_str(e->st, "fixture");
  struct fixture *f = fixture_find(e->c, name);
  if (!f)
    step_fail(e, "no fixture %s", name ? name : "(missing)");
  return f;
}

static int off_arg(struct step_env *e, const char *key, int64_t *off) {
  const jval *v = json_get(e->st, key);
  if (!v || (v->t == J_STR && strcmp(v->s, "cur") == 0)) {
    *off = SPLICER_OFF_CUR;
    return 0;
  }
  if (v->t == J_NUM && v->is_int) {
    *off = v->i;
    return 0;
  }
  return step_fail(e, "bad %s", key);
}

static int len_arg(struct step_env *e, uint64_t *len) {
  const jval *v = json_get(e->st, "len");
  if (!v || (v->t == J_STR && strcmp(v->s, "eof") == 0)) {
    *len = SPLICER_TO_EOF;
    return 0;
  }
  if (v->t == J_NUM && v->is_int && v->i >= 0) {
    *len = (uint64_t)v->i;
    return 0;
  }
  return step_fail(e, "bad len");
}

static unsigned flags_arg(struct step_env *e) {
  const jval *v = json_get(e->st, "flags");
  unsigned fl = 0;
  for (size_t k = 0; v && v->t == J_ARR && k < v->n; k++) {
    const char *s = v->items[k].s ? v->items[k].s : "";
    if (strcmp(s, "MOVE") == 0)
      fl |= SPLICER_F_MOVE;
    else if (strcmp(s, "NONBLOCK") == 0)
      fl |= SPLICER_F_NONBLOCK;
    else if (strcmp(s, "MORE") == 0)
      fl |= SPLICER_F_MORE;
    else if (strcmp(s, "GIFT") == 0)
      fl |= SPLICER_F_GIFT;
  }
  return fl;
}

static int option_arg(struct step_env *e, int *opt) {
  static const struct {
    const char *name;
    int value;
  } opts[] = {{"PIPE_SIZE", SPLICER_OPT_PIPE_SIZE}, {"CHUNK", SPLICER_OPT_CHUNK},
              {"NONBLOCK", SPLICER_OPT_NONBLOCK},   {"FALLBACK", SPLICER_OPT_FALLBACK},
              {"METHODS", SPLICER_OPT_METHODS},     {"SIGPIPE", SPLICER_OPT_SIGPIPE},
              {"POOL", SPLICER_OPT_POOL},
              {"LAZY_FILES", SPLICER_OPT_LAZY_FILES}};
  const jval *v = json_get(e->st, "option");
  if (v && v->t == J_NUM && v->is_int) {
    *opt = (int)v->i;
    return 0;
  }
  for (size_t k = 0; v && v->t == J_STR && k < sizeof opts / sizeof opts[0]; k++)
    if (strcmp(v->s, opts[k].name) == 0) {
      *opt = opts[k].value;
      return 0;
    }
  return step_fail(e, "bad option");
}

static int op_set(struct step_env *e) {
  int opt;
  if (option_arg(e, &opt) < 0)
    return -1;
  int64_t v = mask_from(json_get(e->st, "value"));
  const jval *raw = json_get(e->st, "value");
  if (raw && raw->t == J_NUM && raw->is_int)
    v = raw->i;
  else if (v < 0)
    return step_fail(e, "bad value");
  return check_result(e, splicer_session_set(e->c->s, opt, v));
}

static int op_get(struct step_env *e) {
  int opt;
  if (option_arg(e, &opt) < 0)
    return -1;
  int64_t v = 0;
  int r = splicer_session_get(e->c->s, opt, &v);
  const jval *x = json_get(e->st, "expect");
  if (x && x->t == J_ARR) {
    int64_t want = mask_from(x);
    if (r == 0 && v == want)
      return 0;
    char b[64];
    return step_fail(e, "expected mask %" PRId64 ", got %s", want,
                     r < 0 ? result_str(r, b, sizeof b) : (snprintf(b, sizeof b, "%" PRId64, v), b));
  }
  return check_result(e, r < 0 ? r : v);
}

static int op_open(struct step_env *e) {
  int in, out;
  int64_t oi, oo;
  uint64_t len;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || off_arg(e, "off_in", &oi) < 0 ||
      off_arg(e, "off_out", &oo) < 0 || len_arg(e, &len) < 0)
    return -1;
  return check_result(e, splicer_open(e->c->s, in, oi, out, oo, len));
}

static int op_open_tee(struct step_env *e) {
  int in;
  int64_t oi;
  uint64_t len;
  if (fd_arg(e, "src", &in) < 0 || off_arg(e, "off_in", &oi) < 0 || len_arg(e, &len) < 0)
    return -1;
  const jval *d = json_get(e->st, "dsts");
  if (!d || d->t != J_ARR)
    return step_fail(e, "dsts must be an array");
  int fds[64];
  if (d->n > 64)
    return step_fail(e, "too many dsts");
  for (size_t k = 0; k < d->n; k++) {
    struct fixture *f = fixture_find(e->c, d->items[k].s);
    if (!f)
      return step_fail(e, "dsts: no fixture %s", d->items[k].s ? d->items[k].s : "?");
    fds[k] = f->fd;
  }
  return check_result(e, splicer_open_tee(e->c->s, in, oi, fds, d->n, len));
}

static int op_open_buf(struct step_env *e) {
  int out;
  int64_t size = 0, len = 0;
  if (fd_arg(e, "dst", &out) < 0)
    return -1;
  if (!json_int(e->st, "size", &size) || !json_int(e->st, "len", &len) || size < 0 || len < 0)
    return step_fail(e, "size and len are required");
  size_t n;
  unsigned char *data = data_make(e->c, json_get(e->st, "data"), &n);
  if (!data)
    return -1;
  splicer_buf *b = NULL;
  int r = splicer_buf_new(&b, (size_t)size);
  if (r == 0) {
    if (n > splicer_buf_size(b)) {
      splicer_buf_free(b);
      free(data);
      return step_fail(e, "data larger than the buffer");
    }
    void *mem = splicer_buf_data(b);
    memcpy(mem, data, n);
    r = splicer_open_buf(e->c->s, b, (size_t)len, out);
    if (r < 0) {
      splicer_buf_free(b);
    } else {
      e->c->sealed = mem;
      e->c->sealed_size = (size_t)size;
    }
  }
  free(data);
  return check_result(e, r);
}

/* A write after hand-over must fault: try it in a child so that the fault
 * ends only the child. */
static int op_sealed_write(struct step_env *e) {
  if (!e->c->sealed)
    return step_fail(e, "no buffer was handed over");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return step_fail(e, "fork: %s", strerror(errno));
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    volatile unsigned char *p = e->c->sealed;
    p[0] = (unsigned char)(p[0] + 1);
    _exit(0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  /* a sanitizer's SEGV handler exits non-zero instead of dying by signal */
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return step_fail(e, "the write to a sealed buffer did not fault");
  return 0;
}

static int op_step(struct step_env *e) { return check_result(e, splicer_step(e->c->s)); }
static int op_run(struct step_env *e) { return check_result(e, splicer_run(e->c->s)); }
static int op_abort(struct step_env *e) { return check_result(e, splicer_abort(e->c->s)); }

static int op_copy(struct step_env *e) {
  int in, out;
  uint64_t len;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || len_arg(e, &len) < 0)
    return -1;
  return check_result(e, splicer_copy(e->c->s, in, out, len));
}

static const char *events_name(short ev) {
  return ev == POLLIN ? "POLLIN" : ev == POLLOUT ? "POLLOUT" : "?";
}

static int op_wait(struct step_env *e) {
  int fd = -1;
  short ev = 0;
  int r = splicer_wait(e->c->s, &fd, &ev);
  const jval *x = json_get(e->st, "expect");
  if (!x)
    return 0;
  if (x->t == J_STR)
    return check_result(e, r);
  if (r < 0)
    return step_fail(e, "expected an fd to wait on, got %s", splicer_errname(r));
  struct fixture *f = fixture_by_fd(e->c, fd);
  const char *want_fd = json_str(x, "fd"), *want_ev = json_str(x, "events");
  if (!f || !want_fd || strcmp(f->name, want_fd) != 0 || !want_ev ||
      strcmp(events_name(ev), want_ev) != 0)
    return step_fail(e, "expected %s %s, got %s %s", want_fd ? want_fd : "?",
                     want_ev ? want_ev : "?", f ? f->name : "(unknown fd)", events_name(ev));
  return 0;
}

static int check_field(struct step_env *e, const jval *x, const char *key, int64_t v) {
  const jval *w = json_get(x, key);
  if (!w || number_matches(w, v))
    return 0;
  char a[64];
  return step_fail(e, "%s: expected %s, got %" PRId64, key, expect_str(w, a, sizeof a), v);
}

/* A field the runner does not know is a FAIL, never a silent pass. */
static int known_fields(struct step_env *e, const jval *x, const char *const *names) {
  for (size_t k = 0; x && x->t == J_OBJ && k < x->n; k++) {
    bool known = false;
    for (const char *const *n = names; *n && !known; n++)
      known = strcmp(*n, x->keys[k]) == 0;
    if (!known)
      return step_fail(e, "unknown field %s", x->keys[k]);
  }
  return 0;
}

static int op_progress(struct step_env *e) {
  splicer_progress p;
  int r = splicer_progress_get(e->c->s, &p, sizeof p);
  if (r < 0)
    return step_fail(e, "splicer_progress_get: %s", splicer_errname(r));
  const jval *x = json_get(e->st, "expect");
  if (!x)
    return 0;
  static const char *const fields[] = {"consumed", "delivered", "pending", "method", "finished", NULL};
  if (known_fields(e, x, fields) < 0)
    return -1;
  if (p.consumed != p.delivered + p.pending)
    return step_fail(e, "consumed %" PRIu64 " != delivered %" PRIu64 " + pending %" PRIu64,
                     p.consumed, p.delivered, p.pending);
  if (check_field(e, x, "consumed", (int64_t)p.consumed) < 0 ||
      check_field(e, x, "delivered", (int64_t)p.delivered) < 0 ||
      check_field(e, x, "pending", (int64_t)p.pending) < 0)
    return -1;
  const char *m = json_str(x, "method");
  if (m && strcmp(m, splicer_method_name(p.method)) != 0)
    return step_fail(e, "method: expected %s, got %s", m, splicer_method_name(p.method));
  const jval *fin = json_get(x, "finished");
  if (fin && fin->t == J_BOOL && fin->b != (p.finished != 0))
    return step_fail(e, "finished: expected %s, got %s", fin->b ? "true" : "false",
                     p.finished ? "true" : "false");
  return 0;
}

static int op_stats(struct step_env *e) {
  splicer_stats st;
  int r = splicer_stats_get(e->c->s, &st, sizeof st);
  if (r < 0)
    return step_fail(e, "splicer_stats_get: %s", splicer_errname(r));
  const jval *x = json_get(e->st, "expect");
  if (!x)
    return 0;
  static const char *const fields[] = {"bytes",       "syscalls",    "fallbacks", "eagain",
                                       "pool_misses", "pool_spills", "by_method", NULL};
  if (known_fields(e, x, fields) < 0)
    return -1;
  if (check_field(e, x, "bytes", (int64_t)st.bytes) < 0 ||
      check_field(e, x, "syscalls", (int64_t)st.syscalls) < 0 ||
      check_field(e, x, "fallbacks", (int64_t)st.fallbacks) < 0 ||
      check_field(e, x, "eagain", (int64_t)st.eagain) < 0 ||
      check_field(e, x, "pool_misses", (int64_t)st.pool_misses) < 0 ||
      check_field(e, x, "pool_spills", (int64_t)st.pool_spills) < 0)
    return -1;
  const jval *bm = json_get(x, "by_method");
  for (size_t k = 0; bm && bm->t == J_OBJ && k < bm->n; k++) {
    int m = method_from_name(bm->keys[k]);
    if (m < 0)
      return step_fail(e, "by_method: unknown method %s", bm->keys[k]);
    if (!number_matches(&bm->items[k], (int64_t)st.bytes_by_method[m])) {
      char a[64];
      return step_fail(e, "by_method.%s: expected %s, got %" PRIu64, bm->keys[k],
                       expect_str(&bm->items[k], a, sizeof a), st.bytes_by_method[m]);
    }
  }
  return 0;
}

static int op_method_for(struct step_env *e) {
  int in, out;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0)
    return -1;
  int r = splicer_method_for(in, out);
  const char *want = json_str(e->st, "expect");
  if (!want)
    return 0;
  const char *got = r < 0 ? splicer_errname(r) : splicer_method_name(r);
  if (strcmp(want, got) != 0)
    return step_fail(e, "expected %s, got %s", want, got);
  return 0;
}

static int op_pump(struct step_env *e) {
  struct ctx *c = e->c;
  int64_t reads[16];
  size_t n_reads = 0;
  const jval *rv = json_get(e->st, "reads");
  for (size_t k = 0; rv && rv->t == J_ARR && k < rv->n && k < 16; k++)
    if (rv->items[k].is_int && rv->items[k].i > 0)
      reads[n_reads++] = rv->items[k].i;
  if (n_reads == 0)
    reads[n_reads++] = 65536;
  int64_t total = 0, result = 0, eagains = 0;
  size_t k = 0;
  int done = 0;
  for (int iter = 0; iter < 100000 && !done; iter++) {
    int64_t r = splicer_step(c->s);
    if (r > 0) {
      total += r;
      continue;
    }
    if (r == 0) {
      result = total;
      done = 1;
      break;
    }
    if (r != -EAGAIN) {
      result = r;
      done = 1;
      break;
    }
    eagains++;
    int fd;
    short ev;
    int w = splicer_wait(c->s, &fd, &ev);
    if (w < 0)
      return step_fail(e, "wait after EAGAIN: %s", splicer_errname(w));
    struct fixture *f = fixture_by_fd(c, fd);
    if (ev != POLLOUT || !f || f->peer < 0 || !f->peer_reads)
      return step_fail(e, "pump: source not readable");
    int64_t got = fixture_drain(c, f, (size_t)reads[k % n_reads], 1);
    if (got < 0)
      return -1;
    k++;
    if (got == 0) {
      /* give a stack that moves data on a timer (TCP acks) time to */
      struct pollfd pf = {f->peer, POLLIN, 0};
      poll(&pf, 1, 10);
    }
  }
  if (!done)
    return step_fail(e, "pump: did not finish in 100000 steps");
  if (check_result(e, result) < 0)
    return -1;
  const jval *ea = json_get(e->st, "eagain");
  if (ea && !number_matches(ea, eagains)) {
    char a[64];
    return step_fail(e, "eagain: expected %s, got %" PRId64, expect_str(ea, a, sizeof a), eagains);
  }
  return 0;
}

static int op_drain(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  int64_t max = 0;
  json_int(e->st, "max", &max);
  int64_t n = fixture_drain(e->c, f, (size_t)max, 0);
  if (n < 0)
    return -1;
  return check_result(e, n);
}

static int op_write_peer(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  size_t n;
  unsigned char *p = data_make(e->c, json_get(e->st, "data"), &n);
  if (!p)
    return -1;
  int r = fixture_write_peer(e->c, f, p, n);
  free(p);
  if (r < 0)
    return -1;
  return check_result(e, (int64_t)n);
}

static int op_close_peer(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  if (fixture_close_peer(f) < 0)
    return step_fail(e, "fixture %s has no peer to close", f->name);
  return check_result(e, 0);
}

static int op_position(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  off_t r = lseek(f->fd, 0, SEEK_CUR);
  return check_result(e, r < 0 ? -errno : (int64_t)r);
}

static int op_raw_splice(struct step_env *e) {
  int in, out;
  int64_t oi, oo, len = 0;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || off_arg(e, "off_in", &oi) < 0 ||
      off_arg(e, "off_out", &oo) < 0 || !json_int(e->st, "len", &len))
    return -1;
  return check_result(e, splicer_splice(in, oi, out, oo, (uint64_t)len, flags_arg(e)));
}

static int op_raw_tee(struct step_env *e) {
  int in, out;
  int64_t len = 0;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || !json_int(e->st, "len", &len))
    return -1;
  return check_result(e, splicer_tee(in, out, (uint64_t)len, flags_arg(e)));
}

static int op_raw_vmsplice(struct step_env *e) {
  int out;
  if (fd_arg(e, "dst", &out) < 0)
    return -1;
  if (e->c->n_raw_bufs == sizeof e->c->raw_bufs / sizeof e->c->raw_bufs[0])
    return step_fail(e, "too many vmsplice buffers");
  size_t n;
  unsigned char *p = data_make(e->c, json_get(e->st, "data"), &n);
  if (!p)
    return -1;
  /* the pipe refers to these pages: they live until the case ends */
  e->c->raw_bufs[e->c->n_raw_bufs++] = p;
  int64_t parts = 1;
  json_int(e->st, "iovecs", &parts);
  if (parts < 1 || parts > 64)
    return step_fail(e, "bad iovecs");
  struct iovec iov[64];
  size_t off = 0;
  for (int64_t k = 0; k < parts; k++) {
    size_t len = n / (size_t)parts + ((size_t)k < n % (size_t)parts ? 1 : 0);
    iov[k].iov_base = p + off;
    iov[k].iov_len = len;
    off += len;
  }
  return check_result(e, splicer_vmsplice(out, iov, (size_t)parts, flags_arg(e)));
}

static int op_raw_sendfile(struct step_env *e) {
  int in, out;
  int64_t oi, len = 0;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || off_arg(e, "off_in", &oi) < 0 ||
      !json_int(e->st, "len", &len))
    return -1;
  return check_result(e, splicer_sendfile(out, in, oi, (uint64_t)len));
}

static int op_raw_copy_file_range(struct step_env *e) {
  int in, out;
  int64_t oi, oo, len = 0;
  if (fd_arg(e, "src", &in) < 0 || fd_arg(e, "dst", &out) < 0 || off_arg(e, "off_in", &oi) < 0 ||
      off_arg(e, "off_out", &oo) < 0 || !json_int(e->st, "len", &len))
    return -1;
  return check_result(e, splicer_copy_file_range(in, oi, out, oo, (uint64_t)len));
}

static int op_pipe_size(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  return check_result(e, splicer_pipe_size(f->fd));
}

static int op_set_pipe_size(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  int64_t size = 0;
  if (!f)
    return -1;
  json_int(e->st, "size", &size);
  return check_result(e, splicer_set_pipe_size(f->fd, (int)size));
}

static int op_send_datagram(struct step_env *e) {
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  size_t n;
  unsigned char *p = data_make(e->c, json_get(e->st, "data"), &n);
  if (!p)
    return -1;
  int64_t r = fixture_send_datagram(e->c, f, p, n);
  free(p);
  if (r < 0)
    return -1;
  return check_result(e, r);
}

static int op_use_session(struct step_env *e) {
  struct ctx *c = e->c;
  const char *name = json_str(e->st, "name");
  if (!name)
    return step_fail(e, "name is required");
  for (size_t k = 0; k < c->n_sessions; k++)
    if (strcmp(c->session_names[k], name) == 0) {
      c->s = c->sessions[k];
      return check_result(e, 0);
    }
  if (c->n_sessions == MAX_SESSIONS)
    return step_fail(e, "too many sessions");
  splicer_session *s;
  int r = splicer_session_new(&s);
  if (r < 0)
    return step_fail(e, "splicer_session_new: %s", splicer_errname(r));
  c->sessions[c->n_sessions] = s;
  c->session_names[c->n_sessions++] = name;
  c->s = s;
  return check_result(e, 0);
}

static int pool_option_arg(struct step_env *e, int *opt) {
  static const struct {
    const char *name;
    int value;
  } opts[] = {{"MAX_PIPES", SPLICER_POOL_MAX_PIPES},
              {"MAX_IDLE", SPLICER_POOL_MAX_IDLE},
              {"PIPE_SIZE", SPLICER_POOL_PIPE_SIZE}};
  const jval *v = json_get(e->st, "option");
  if (v && v->t == J_NUM && v->is_int) {
    *opt = (int)v->i;
    return 0;
  }
  for (size_t k = 0; v && v->t == J_STR && k < sizeof opts / sizeof opts[0]; k++)
    if (strcmp(v->s, opts[k].name) == 0) {
      *opt = opts[k].value;
      return 0;
    }
  return step_fail(e, "bad pool option");
}

static int op_pool_set(struct step_env *e) {
  int opt;
  int64_t v;
  if (pool_option_arg(e, &opt) < 0)
    return -1;
  if (!json_int(e->st, "value", &v))
    return step_fail(e, "value is required");
  return check_result(e, splicer_pool_set(opt, v));
}

static int op_pool_get(struct step_env *e) {
  int opt;
  int64_t v = 0;
  if (pool_option_arg(e, &opt) < 0)
    return -1;
  int r = splicer_pool_get(opt, &v);
  return check_result(e, r < 0 ? r : v);
}

/* Counters relative to the case's start; gauges as they are. */
static int op_pool_stats(struct step_env *e) {
  splicer_pool_stats st;
  int r = splicer_pool_stats_get(&st, sizeof st);
  if (r < 0)
    return step_fail(e, "splicer_pool_stats_get: %s", splicer_errname(r));
  const jval *x = json_get(e->st, "expect");
  if (!x)
    return 0;
  static const char *const fields[] = {"borrowed", "returned",  "created",    "closed",
                                       "misses",   "discarded", "undersized", "spills",
                                       "in_use",   "idle",      "peak_in_use", NULL};
  if (known_fields(e, x, fields) < 0)
    return -1;
  const splicer_pool_stats *b = &e->c->pool_start;
  if (check_field(e, x, "borrowed", (int64_t)(st.borrowed - b->borrowed)) < 0 ||
      check_field(e, x, "returned", (int64_t)(st.returned - b->returned)) < 0 ||
      check_field(e, x, "created", (int64_t)(st.created - b->created)) < 0 ||
      check_field(e, x, "closed", (int64_t)(st.closed - b->closed)) < 0 ||
      check_field(e, x, "misses", (int64_t)(st.misses - b->misses)) < 0 ||
      check_field(e, x, "discarded", (int64_t)(st.discarded - b->discarded)) < 0 ||
      check_field(e, x, "undersized", (int64_t)(st.undersized - b->undersized)) < 0 ||
      check_field(e, x, "spills", (int64_t)(st.spills - b->spills)) < 0 ||
      check_field(e, x, "in_use", (int64_t)st.in_use) < 0 ||
      check_field(e, x, "idle", (int64_t)st.idle) < 0 ||
      check_field(e, x, "peak_in_use", (int64_t)st.peak_in_use) < 0)
    return -1;
  return 0;
}

static int op_pool_trim(struct step_env *e) { return check_result(e, splicer_pool_trim()); }

/* kept descriptors (section 5.5) */
static int op_keep(struct step_env *e) {
  static const struct {
    const char *name;
    int value;
  } kinds[] = {{"unknown", SPLICER_FD_UNKNOWN}, {"stream", SPLICER_FD_STREAM},
               {"dgram", SPLICER_FD_DGRAM},     {"seqpacket", SPLICER_FD_SEQPACKET},
               {"pipe", SPLICER_FD_PIPE}};
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  const jval *v = json_get(e->st, "kind");
  int kind = -1;
  if (!v)
    kind = SPLICER_FD_UNKNOWN;
  else if (v->t == J_NUM && v->is_int)
    kind = (int)v->i;
  for (size_t k = 0; v && v->t == J_STR && k < sizeof kinds / sizeof kinds[0]; k++)
    if (strcmp(v->s, kinds[k].name) == 0)
      kind = kinds[k].value;
  if (kind == -1 && !(v && v->t == J_NUM))
    return step_fail(e, "bad kind");
  const jval *nb = json_get(e->st, "nonblock");
  if (nb && nb->t == J_BOOL && nb->b)
    kind |= SPLICER_FD_NONBLOCK;
  return check_result(e, splicer_session_keep(e->c->s, f->fd, kind));
}

static int op_forget(struct step_env *e) {
  const jval *all = json_get(e->st, "all");
  if (all && all->t == J_BOOL && all->b)
    return check_result(e, splicer_session_forget(e->c->s, -1));
  struct fixture *f = fixture_arg(e);
  if (!f)
    return -1;
  return check_result(e, splicer_session_forget(e->c->s, f->fd));
}

static const struct {
  const char *name;
  int (*fn)(struct step_env *);
} ops[] = {
    {"set", op_set},
    {"get", op_get},
    {"open", op_open},
    {"open_tee", op_open_tee},
    {"open_buf", op_open_buf},
    {"sealed_write", op_sealed_write},
    {"step", op_step},
    {"run", op_run},
    {"copy", op_copy},
    {"abort", op_abort},
    {"wait", op_wait},
    {"progress", op_progress},
    {"stats", op_stats},
    {"method_for", op_method_for},
    {"pump", op_pump},
    {"drain", op_drain},
    {"write_peer", op_write_peer},
    {"close_peer", op_close_peer},
    {"position", op_position},
    {"raw_splice", op_raw_splice},
    {"raw_tee", op_raw_tee},
    {"raw_vmsplice", op_raw_vmsplice},
    {"raw_sendfile", op_raw_sendfile},
    {"raw_copy_file_range", op_raw_copy_file_range},
    {"pipe_size", op_pipe_size},
    {"set_pipe_size", op_set_pipe_size},
    {"send_datagram", op_send_datagram},
    {"use_session", op_use_session},
    {"pool_set", op_pool_set},
    {"pool_get", op_pool_get},
    {"pool_stats", op_pool_stats},
    {"pool_trim", op_pool_trim},
    {"keep", op_keep},
    {"forget", op_forget},
};

int run_step(struct ctx *c, const jval *step, size_t index) {
  const char *op = json_str(step, "op");
  struct step_env e = {c, step, op ? op : "?", index};
  for (size_t k = 0; op && k < sizeof ops / sizeof ops[0]; k++)
    if (strcmp(ops[k].name, op) == 0)
      return ops[k].fn(&e);
  return step_fail(&e, "unsupported op");
}
