/* libFuzzer target over the public API: the input is decoded into a
 * sequence of operations (open, open_tee, open_buf, step, run, abort, set,
 * get, progress, stats, wait, raw wrappers, feeding and draining the fds,
 * closing an fd under the session, replacing the session) on a small pool
 * of fds created for each input.  Everything is closed at the end and the
 * fd count must be what it was before the input: no fd leaks across inputs.
 *
 * Nothing may block: every pipe and socket in the pool is O_NONBLOCK, and
 * splicer_run is only used on bounded transfers.  SIGPIPE is ignored (the
 * SPLICER_OPT_SIGPIPE=0 option would otherwise end the fuzzer); the guard
 * itself is tested by tests/c/test_sigpipe and tests/hardening/security.
 *
 * Invariants checked after every operation (a violation aborts, which
 * libFuzzer reports as a crash): consumed == delivered + pending, results
 * are >= -4095, bytes_by_method sums to bytes. */
#include <splicer.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL 10
/* Bytes splicer_run may be asked for over one whole input.  A file can feed
 * itself (destination = source file at a later offset): such a transfer
 * grows the file by what it reads and may advance one byte per step, so
 * the bound is on the sum, not per call: 64 KiB of one-byte steps stay near
 * 2 s under the sanitizers, far below the per-input timeout. */
#define RUN_BUDGET (64 * 1024)

struct input {
  const uint8_t *p;
  size_t n;
};

static uint8_t u8(struct input *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static uint32_t u32(struct input *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 8 | u8(in);
  return v;
}

/* lengths and offsets: the interesting edges more often than not */
static uint64_t len_of(struct input *in) {
  switch (u8(in) % 8) {
  case 0: return 0;
  case 1: return 1;
  case 2: return 4096 + (u8(in) % 3) - 1;
  case 3: return 65536 + (u8(in) % 3) - 1;
  case 4: return SPLICER_TO_EOF;
  case 5: return u32(in) % (1 << 20);
  case 6: return u8(in);
  default: return (uint64_t)u32(in) << 16;
  }
}

static int64_t off_of(struct input *in) {
  switch (u8(in) % 5) {
  case 0: case 1: return SPLICER_OFF_CUR;
  case 2: return 0;
  case 3: return -2 - (int64_t)u8(in); /* invalid */
  default: return u32(in) % 100000;
  }
}

static int fds_at_start = -1;

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

struct pool {
  int fd[POOL];   /* what the session may be given */
  int peer[POOL]; /* the far end of pipes and sockets, or -1 */
};

static void nonblock(int fd) {
  if (fd >= 0)
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void pool_make(struct pool *pl, int i) {
  int p[2];
  pl->peer[i] = -1;
  switch (i) {
  case 0: /* a memfd with 64 KiB */
  case 1: { /* an empty memfd */
    pl->fd[i] = memfd_create("fuzz", MFD_CLOEXEC);
    if (i == 0) {
      static unsigned char data[65536];
      for (size_t k = 0; k < sizeof data; k++)
        data[k] = (unsigned char)(k * 31 + 7);
      if (write(pl->fd[i], data, sizeof data) < 0)
        abort();
      lseek(pl->fd[i], 0, SEEK_SET);
    }
    break;
  }
  case 2: /* O_APPEND memfd */
    pl->fd[i] = memfd_create("fuzz-append", MFD_CLOEXEC);
    fcntl(pl->fd[i], F_SETFL, O_APPEND);
    break;
  case 3: /* pipe, read end (a source) */
  case 4: /* pipe, write end (a destination) */
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
      abort();
    pl->fd[i] = i == 3 ? p[0] : p[1];
    pl->peer[i] = i == 3 ? p[1] : p[0];
    break;
  case 5:
  case 6: /* unix sockets */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) < 0)
      abort();
    pl->fd[i] = p[0];
    pl->peer[i] = p[1];
    break;
  case 7:
    pl->fd[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
    break;
  case 8: /* a write-only memfd view: not readable */
    pl->fd[i] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    break;
  default: /* an fd that is not open */
    pl->fd[i] = 1000 + i;
    break;
  }
  nonblock(pl->peer[i]);
}

static void pool_close(struct pool *pl, int i) {
  if (pl->fd[i] >= 0 && pl->fd[i] < 1000)
    close(pl->fd[i]);
  if (pl->peer[i] >= 0)
    close(pl->peer[i]);
  pl->fd[i] = pl->peer[i] = -1;
}

static void check_result(int64_t r) {
  if (r < -4095)
    abort();
}

static void check_session(const splicer_session *s) {
  splicer_progress p;
  if (splicer_progress_get(s, &p, sizeof p) != 0)
    abort();
  if (p.consumed != p.delivered + p.pending)
    abort();
  splicer_stats st;
  if (splicer_stats_get(s, &st, sizeof st) != 0)
    abort();
  uint64_t sum = 0;
  for (int m = 0; m < SPLICER_METHOD_COUNT; m++)
    sum += st.bytes_by_method[m];
  if (sum != st.bytes)
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* counted per input: libFuzzer opens and closes its own fds between
   * inputs, never during one */
  splicer_pool_trim(); /* the pipe pool's idle pipes are not the input's */
  fds_at_start = count_fds();
  struct input in = {data, size};
  static int trace = -1;
  if (trace < 0)
    trace = getenv("SPLICER_FUZZ_TRACE") != NULL;
  struct pool pl;
  for (int i = 0; i < POOL; i++)
    pool_make(&pl, i);
  splicer_session *s;
  if (splicer_session_new(&s) != 0)
    abort();
  uint64_t open_len = 0; /* of the transfer last opened */
  uint64_t run_budget = RUN_BUDGET;
  unsigned char scratch[65536];
  for (int ops = 0; ops < 64 && in.n > 0; ops++) {
    uint8_t op = u8(&in) % 17;
    int64_t r = 0;
    switch (op) {
    case 0: { /* open */
      int a = pl.fd[u8(&in) % POOL], b = pl.fd[u8(&in) % POOL];
      int64_t oi = off_of(&in), oo = off_of(&in);
      uint64_t len = len_of(&in);
      r = splicer_open(s, a, oi, b, oo, len);
      if (r == 0) { /* a refused open leaves the previous transfer open */
        open_len = len;
      }
      break;
    }
    case 1: { /* open_tee */
      int a = pl.fd[u8(&in) % POOL];
      size_t n = u8(&in) % (SPLICER_TEE_MAX + 2);
      int fds[SPLICER_TEE_MAX + 2];
      for (size_t k = 0; k < n; k++)
        fds[k] = pl.fd[u8(&in) % POOL];
      int64_t oi = off_of(&in);
      uint64_t len = len_of(&in);
      r = splicer_open_tee(s, a, oi, u8(&in) % 8 ? fds : NULL, n, len);
      if (r == 0) {
        open_len = len;
      }
      break;
    }
    case 2: { /* open_buf */
      size_t bs = (size_t)(u32(&in) % (1 << 18));
      splicer_buf *b = NULL;
      r = splicer_buf_new(&b, bs);
      if (r == 0) {
        memset(splicer_buf_data(b), 'b', splicer_buf_size(b));
        uint64_t len = len_of(&in);
        if (len > bs + 1)
          len = bs;
        int di = u8(&in) % POOL;
        r = splicer_open_buf(s, b, (size_t)len, pl.fd[di]);
        if (r != 0) {
          splicer_buf_free(b);
        } else {
          open_len = len;
        }
      }
      break;
    }
    case 3:
      r = splicer_step(s);
      break;
    case 4: /* run: only bounded transfers, within the input's budget */
      if (open_len <= run_budget) {
        run_budget -= open_len;
        r = splicer_run(s);
      } else {
        r = splicer_step(s);
      }
      break;
    case 5:
      r = splicer_abort(s);
      break;
    case 6: { /* set: valid and invalid options and values */
      static const int opts[] = {SPLICER_OPT_PIPE_SIZE, SPLICER_OPT_CHUNK,
                                 SPLICER_OPT_NONBLOCK, SPLICER_OPT_FALLBACK,
                                 SPLICER_OPT_METHODS, SPLICER_OPT_SIGPIPE, 0,
                                 99, 204};
      int o = opts[u8(&in) % 9];
      int64_t v;
      switch (u8(&in) % 4) {
      case 0: v = u8(&in) % 2; break;
      case 1: v = 4096 << (u8(&in) % 10); break;
      case 2: v = (int64_t)u32(&in) - (1 << 20); break;
      default: v = (int64_t)u8(&in);
      }
      /* chunk 1 on a large transfer is slow, not wrong: keep inputs fast */
      if (o == SPLICER_OPT_CHUNK && v > 0 && v < 512)
        v = 512;
      r = splicer_session_set(s, o, v);
      break;
    }
    case 7: {
      int64_t v;
      r = splicer_session_get(s, 100 + u8(&in) % 110, &v);
      break;
    }
    case 8: {
      splicer_progress p;
      r = splicer_progress_get(s, &p, u8(&in) % (sizeof p + 8));
      break;
    }
    case 9: {
      splicer_stats st;
      r = splicer_stats_get(s, &st, u8(&in) % (sizeof st + 8));
      break;
    }
    case 10: {
      int fd;
      short ev;
      r = splicer_wait(s, &fd, &ev);
      break;
    }
    case 11: { /* feed a source's far end */
      int i = u8(&in) % POOL;
      size_t n = (size_t)(u32(&in) % sizeof scratch);
      memset(scratch, 'f', n);
      if (pl.peer[i] >= 0)
        r = write(pl.peer[i], scratch, n) < 0 ? 0 : 0;
      break;
    }
    case 12: { /* drain a destination's far end */
      int i = u8(&in) % POOL;
      if (pl.peer[i] >= 0)
        while (read(pl.peer[i], scratch, sizeof scratch) > 0)
          ;
      break;
    }
    case 13: { /* close an fd under the session, and make a new one */
      int i = u8(&in) % POOL;
      pool_close(&pl, i);
      pool_make(&pl, i);
      break;
    }
    case 14: /* a new session */
      splicer_session_free(s);
      if (splicer_session_new(&s) != 0)
        abort();
      open_len = 0;
      break;
    case 15: { /* raw wrappers, never blocking */
      int a = pl.fd[u8(&in) % POOL], b = pl.fd[u8(&in) % POOL];
      uint64_t n = len_of(&in) % (1 << 20);
      switch (u8(&in) % 6) {
      case 0:
        r = splicer_splice(a, off_of(&in), b, off_of(&in), n, SPLICER_F_NONBLOCK);
        break;
      case 1:
        r = splicer_tee(a, b, n, SPLICER_F_NONBLOCK);
        break;
      case 2: {
        /* only to an fd whose reader is drained before this returns
         * would a stack buffer be safe; use static memory */
        static unsigned char vm[8192];
        struct iovec iov = {vm, (size_t)(n % sizeof vm)};
        r = splicer_vmsplice(b, &iov, 1, SPLICER_F_NONBLOCK);
        break;
      }
      case 3:
        r = splicer_copy_file_range(a, off_of(&in), b, off_of(&in), n % 100000);
        break;
      case 4:
        r = splicer_pipe_size(a);
        break;
      default:
        r = splicer_set_pipe_size(a, (int)(u32(&in) % (1 << 21)));
        break;
      }
      break;
    }
    default: { /* names of whatever came back */
      const char *x = splicer_errname((int)-(int64_t)u8(&in));
      const char *y = splicer_strerror((int)-(int64_t)u8(&in));
      const char *z = splicer_method_name((int)u8(&in) - 2);
      if (!x || !y || !z)
        abort();
      r = splicer_method_for(pl.fd[u8(&in) % POOL], pl.fd[u8(&in) % POOL]);
      break;
    }
    }
    if (trace) {
      splicer_progress pg;
      splicer_progress_get(s, &pg, sizeof pg);
      fprintf(stderr, "op %d -> %lld (open_len %llu; consumed %llu delivered %llu method %d)\n",
              op, (long long)r, (unsigned long long)open_len,
              (unsigned long long)pg.consumed, (unsigned long long)pg.delivered,
              pg.method);
    }
    check_result(r);
    check_session(s);
  }
  splicer_session_free(s);
  for (int i = 0; i < POOL; i++)
    pool_close(&pl, i);
  splicer_pool_trim(); /* the pipe pool's idle pipes are not a leak */
  if (count_fds() != fds_at_start) {
    fprintf(stderr, "fd leak: %d fds, had %d\n", count_fds(), fds_at_start);
    abort();
  }
  return 0;
}
