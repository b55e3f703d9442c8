/* The process-wide pipe pool (HAProxy's rule): sessions borrow pipes for a
 * batch and give them back the moment they are empty.  A pipe that holds
 * bytes is never taken back; it is closed instead (discard).
 *
 * One mutex guards a stack of idle pipes and the counters.  The critical
 * sections are a few loads and stores; pipes are made and closed outside
 * it, so a slow pipe2()/F_SETPIPE_SZ never stalls other threads' borrows.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_OPTION_LIMIT ((int64_t)1 << 20)
#define POOL_DEFAULT_MAX_IDLE 32
/* Bounds of the derived default cap, and the cap where the per-user limit
 * is off (0) or cannot be read. */
#define POOL_DERIVED_MIN 16
#define POOL_DERIVED_MAX 1024
#define POOL_UNLIMITED_DEFAULT 256
/* After the kernel refused a full-size pipe (the per-user limit is spent,
 * or EMFILE/ENFILE), batches miss for this long before the pool asks again:
 * each attempt costs pipe2 + fcntl + close, and the limit is shared with
 * every other process of the user, so it frees up on its own schedule. */
#define POOL_BACKOFF_NS (100 * 1000 * 1000)

struct idle_pipe {
  int fd[2];
};

/* Buffers of SPLICER_RW_BUF_MAX bytes for pooled sessions' read/write
 * batches.  A session gives its buffer back the moment the batch is
 * delivered; freed, the memory goes back to the kernel (glibc unmaps or
 * trims the heap's top) and the next batch faults fresh zeroed pages in:
 * 10-16% of a proxy's CPU at 3,000 connections (bench/SCALE.md).  Some are
 * kept instead (a batch touches only the pages it fills). */
#define POOL_IDLE_BUFS 32

static struct {
  pthread_mutex_t mu;
  int64_t max_pipes;   /* as set; meaningful when max_pipes_set */
  bool max_pipes_set;
  int64_t max_idle;
  int64_t pipe_size;   /* bytes asked of F_SETPIPE_SZ */
  int pipe_cap;        /* capacity of a full-size pool pipe */
  unsigned gen;        /* bumped in a forked child */
  int64_t soft_pages;  /* fs.pipe-user-pages-soft; -1 unreadable */
  struct idle_pipe *idle;
  size_t n_idle, idle_alloc;
  uint64_t in_use;
  void *bufs[POOL_IDLE_BUFS];
  size_t n_bufs;
  struct timespec backoff_until;
  splicer_pool_stats st;
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .max_idle = POOL_DEFAULT_MAX_IDLE,
    .pipe_size = SPLICER_DEFAULT_PIPE_SIZE,
    .soft_pages = -1,
};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* ---- fork: the child gets a pool of its own --------------------------- */

static void atfork_prepare(void) { pthread_mutex_lock(&pool.mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool.mu); }

/* The idle pipes are shared with the parent (same pipe, two fd tables): a
 * batch of the child and one of the parent could meet in one.  The child
 * closes its copies and forgets every borrowed pipe: those come back with
 * the old generation and are closed, not pooled. */
static void atfork_child(void) {
  for (size_t i = 0; i < pool.n_idle; i++) {
    close(pool.idle[i].fd[0]);
    close(pool.idle[i].fd[1]);
  }
  pool.n_idle = 0;
  pool.in_use = 0;
  pool.st.in_use = pool.st.idle = pool.st.peak_in_use = 0;
  pool.gen++;
  pthread_mutex_unlock(&pool.mu);
}

static int64_t read_soft_pages(void) {
  int fd = open("/proc/sys/fs/pipe-user-pages-soft", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  char *end;
  long long v = strtoll(buf, &end, 10);
  return end == buf || v < 0 ? -1 : (int64_t)v;
}

/* What the kernel gives for F_SETPIPE_SZ(size): a power of two, at least a
 * page (round_pipe_size() in fs/pipe.c). */
static int cap_for(int64_t size) {
  int64_t c = 4096;
  while (c < size)
    c <<= 1;
  return c > INT_MAX ? INT_MAX : (int)c;
}

static void pool_init(void) {
  pool.soft_pages = read_soft_pages();
  pool.pipe_cap = cap_for(pool.pipe_size);
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void ensure_init(void) { pthread_once(&pool_once, pool_init); }

/* Half the per-user soft limit, so that pool pipes keep their full size
 * while the user's other pipes (other processes, other libraries) have the
 * other half: past the soft limit the kernel hands out 2-page pipes and
 * refuses F_SETPIPE_SZ. */
static int64_t effective_max_pipes(void) {
  if (pool.max_pipes_set)
    return pool.max_pipes;
  if (pool.soft_pages <= 0)
    return POOL_UNLIMITED_DEFAULT;
  int64_t pages = pool.pipe_cap / 4096;
  int64_t n = pool.soft_pages / 2 / (pages > 0 ? pages : 1);
  if (n < POOL_DERIVED_MIN)
    n = POOL_DERIVED_MIN;
  if (n > POOL_DERIVED_MAX)
    n = POOL_DERIVED_MAX;
  return n;
}

static void now(struct timespec *t) { clock_gettime(CLOCK_MONOTONIC, t); }

static bool before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec ||
         (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void start_backoff(void) {
  struct timespec t;
  now(&t);
  t.tv_nsec += POOL_BACKOFF_NS;
  if (t.tv_nsec >= 1000000000) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000;
  }
  pool.backoff_until = t;
}

static void note_in_use(void) {
  pool.st.in_use = pool.in_use;
  pool.st.idle = pool.n_idle;
  if (pool.in_use > pool.st.peak_in_use)
    pool.st.peak_in_use = pool.in_use;
}

static void close_pair(const int fd[2]) {
  close(fd[0]);
  close(fd[1]);
}

/* Keep an empty pipe.  @return false when it must be closed instead (no
 * memory for the stack). */
static bool push_idle(struct idle_pipe p) {
  if (pool.n_idle == pool.idle_alloc) {
    size_t want = pool.idle_alloc ? pool.idle_alloc * 2 : 32;
    struct idle_pipe *q = realloc(pool.idle, want * sizeof *q);
    if (!q)
      return false;
    pool.idle = q;
    pool.idle_alloc = want;
  }
  pool.idle[pool.n_idle++] = p;
  return true;
}

/* Pop idle pipes beyond @keep into @out (at most @max); the caller closes
 * them after unlocking.  @return how many. */
static size_t shed_idle(size_t keep, struct idle_pipe *out, size_t max) {
  size_t k = 0;
  while (pool.n_idle > keep && k < max)
    out[k++] = pool.idle[--pool.n_idle];
  pool.st.closed += k;
  return k;
}

/* Close every idle pipe above @keep, in batches (no allocation). */
static size_t shed_idle_all(size_t keep) {
  size_t total = 0;
  for (;;) {
    struct idle_pipe batch[64];
    pthread_mutex_lock(&pool.mu);
    size_t k = shed_idle(keep, batch, 64);
    note_in_use();
    pthread_mutex_unlock(&pool.mu);
    for (size_t i = 0; i < k; i++)
      close_pair(batch[i].fd);
    total += k;
    if (k < 64)
      return total;
  }
}

/* A new pipe of the pool's size.  @return 0, -ENOBUFS when the kernel gave
 * it less (the pipe is closed), or -errno of pipe2. */
static int make_pipe(int fd[2], int64_t size, int cap) {
  if (pipe2(fd, O_CLOEXEC) < 0)
    return -errno;
  int got = fcntl(fd[1], F_SETPIPE_SZ, (int)size);
  if (got < cap) {
    close_pair(fd);
    return -ENOBUFS;
  }
  return 0;
}

int splicer__pool_borrow(int fds[][2], size_t n, struct pool_lease *lease) {
  ensure_init();
  pthread_mutex_lock(&pool.mu);
  int64_t max = effective_max_pipes();
  size_t take = n < pool.n_idle ? n : pool.n_idle;
  size_t need = n - take;
  bool refused = (int64_t)(pool.in_use + n) > max;
  if (!refused && need > 0) {
    struct timespec t;
    now(&t);
    refused = before(&t, &pool.backoff_until);
  }
  if (refused) {
    pool.st.misses++;
    pthread_mutex_unlock(&pool.mu);
    return -ENOBUFS;
  }
  for (size_t i = 0; i < take; i++) {
    struct idle_pipe p = pool.idle[--pool.n_idle];
    fds[i][0] = p.fd[0];
    fds[i][1] = p.fd[1];
  }
  /* Room for the new ones: close idle pipes that would push the pool over
   * its cap (they are empty; a borrow is worth more than a spare). */
  struct idle_pipe shed[SPLICER_TEE_MAX];
  size_t n_shed = 0;
  while (need > 0 && pool.n_idle > 0 &&
         (int64_t)(pool.in_use + n + pool.n_idle) > max)
    shed[n_shed++] = pool.idle[--pool.n_idle];
  pool.st.closed += n_shed;
  pool.in_use += n; /* reserves the slots of the pipes still to be made */
  int64_t size = pool.pipe_size;
  int cap = pool.pipe_cap;
  unsigned gen = pool.gen;
  note_in_use();
  pthread_mutex_unlock(&pool.mu);
  for (size_t i = 0; i < n_shed; i++)
    close_pair(shed[i].fd);

  int err = 0;
  size_t made = 0;
  while (take + made < n && (err = make_pipe(fds[take + made], size, cap)) == 0)
    made++;

  pthread_mutex_lock(&pool.mu);
  pool.st.created += made;
  if (err == 0) {
    pool.st.borrowed += n;
    pthread_mutex_unlock(&pool.mu);
    lease->cap = cap;
    lease->gen = gen;
    return 0;
  }
  /* Could not make them all: the batch misses.  The new pipes are closed,
   * the idle ones taken go back, and the pool waits before asking the
   * kernel again. */
  if (err == -ENOBUFS) {
    pool.st.created++; /* made, then closed for its size */
    pool.st.closed++;
    pool.st.undersized++;
  }
  pool.st.closed += made;
  pool.st.misses++;
  start_backoff();
  bool same = gen == pool.gen;
  if (same)
    pool.in_use -= n;
  struct idle_pipe extra[SPLICER_TEE_MAX];
  size_t n_extra = 0;
  for (size_t i = 0; i < take; i++) {
    struct idle_pipe p = {{fds[i][0], fds[i][1]}};
    if (!same || cap != pool.pipe_cap || !push_idle(p)) {
      extra[n_extra++] = p;
      pool.st.closed += same;
    }
  }
  note_in_use();
  pthread_mutex_unlock(&pool.mu);
  for (size_t i = 0; i < n_extra; i++)
    close_pair(extra[i].fd);
  for (size_t i = take; i < take + made; i++)
    close_pair(fds[i]);
  for (size_t i = 0; i < n; i++)
    fds[i][0] = fds[i][1] = -1;
  return -ENOBUFS;
}

void splicer__pool_return(int fds[][2], size_t n,
                          const struct pool_lease *lease) {
  struct idle_pipe out[SPLICER_TEE_MAX];
  size_t n_out = 0;
  pthread_mutex_lock(&pool.mu);
  if (lease->gen != pool.gen) {
    /* borrowed before a fork, by the parent: not this pool's to keep */
    pthread_mutex_unlock(&pool.mu);
    for (size_t i = 0; i < n; i++)
      close_pair(fds[i]);
    goto done;
  }
  pool.in_use -= n;
  pool.st.returned += n;
  int64_t max = effective_max_pipes();
  for (size_t i = 0; i < n; i++) {
    struct idle_pipe p = {{fds[i][0], fds[i][1]}};
    bool keep = lease->cap == pool.pipe_cap &&
                (int64_t)pool.n_idle < pool.max_idle &&
                (int64_t)(pool.in_use + pool.n_idle) < max;
    if (!keep || !push_idle(p)) {
      out[n_out++] = p;
      pool.st.closed++;
    }
  }
  note_in_use();
  pthread_mutex_unlock(&pool.mu);
  for (size_t i = 0; i < n_out; i++)
    close_pair(out[i].fd);
done:
  for (size_t i = 0; i < n; i++)
    fds[i][0] = fds[i][1] = -1;
}

void splicer__pool_discard(int fds[][2], size_t n,
                           const struct pool_lease *lease) {
  for (size_t i = 0; i < n; i++) {
    close_pair(fds[i]);
    fds[i][0] = fds[i][1] = -1;
  }
  pthread_mutex_lock(&pool.mu);
  if (lease->gen == pool.gen) {
    pool.in_use -= n;
    pool.st.discarded += n;
    pool.st.closed += n;
    note_in_use();
  }
  pthread_mutex_unlock(&pool.mu);
}

void *splicer__pool_buf_take(void) {
  void *p = NULL;
  pthread_mutex_lock(&pool.mu);
  if (pool.n_bufs > 0)
    p = pool.bufs[--pool.n_bufs];
  pthread_mutex_unlock(&pool.mu);
  return p ? p : malloc(SPLICER_RW_BUF_MAX);
}

void splicer__pool_buf_give(void *p) {
  if (!p)
    return;
  pthread_mutex_lock(&pool.mu);
  if (pool.n_bufs < POOL_IDLE_BUFS) {
    pool.bufs[pool.n_bufs++] = p;
    p = NULL;
  }
  pthread_mutex_unlock(&pool.mu);
  free(p);
}

bool splicer__pool_short(void) {
  pthread_mutex_lock(&pool.mu);
  bool shortage = pool.n_idle == 0 &&
                  (int64_t)pool.in_use * 2 >= effective_max_pipes();
  pthread_mutex_unlock(&pool.mu);
  return shortage;
}

void splicer__pool_return_early(int fds[][2], size_t n,
                                const struct pool_lease *lease) {
  pthread_mutex_lock(&pool.mu);
  if (lease->gen == pool.gen)
    pool.st.spills += n;
  pthread_mutex_unlock(&pool.mu);
  splicer__pool_return(fds, n, lease);
}

int splicer__pool_cap(void) {
  ensure_init();
  pthread_mutex_lock(&pool.mu);
  int cap = pool.pipe_cap;
  pthread_mutex_unlock(&pool.mu);
  return cap;
}

/* ---- public API ---------------------------------------------------------- */

int splicer_pool_set(int option, int64_t value) {
  ensure_init();
  switch (option) {
  case SPLICER_POOL_MAX_PIPES:
    if (value < 0 || value > POOL_OPTION_LIMIT)
      return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    pool.max_pipes = value;
    pool.max_pipes_set = true;
    /* idle pipes above the new cap go now; borrowed ones as they return */
    size_t keep = (int64_t)pool.in_use >= value ? 0 : (size_t)(value - (int64_t)pool.in_use);
    pthread_mutex_unlock(&pool.mu);
    shed_idle_all(keep);
    return 0;
  case SPLICER_POOL_MAX_IDLE:
    if (value < 0 || value > POOL_OPTION_LIMIT)
      return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    pool.max_idle = value;
    pthread_mutex_unlock(&pool.mu);
    shed_idle_all((size_t)value);
    return 0;
  case SPLICER_POOL_PIPE_SIZE:
    if (value < SPLICER_MIN_PIPE_SIZE || value > SPLICER_MAX_OPTION_SIZE)
      return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    bool changed = cap_for(value) != pool.pipe_cap;
    pool.pipe_size = value;
    pool.pipe_cap = cap_for(value);
    pool.backoff_until = (struct timespec){0, 0};
    pthread_mutex_unlock(&pool.mu);
    if (changed)
      shed_idle_all(0);
    return 0;
  default:
    return -EINVAL;
  }
}

int splicer_pool_get(int option, int64_t *value) {
  if (!value)
    return -EINVAL;
  ensure_init();
  pthread_mutex_lock(&pool.mu);
  int r = 0;
  switch (option) {
  case SPLICER_POOL_MAX_PIPES:
    *value = effective_max_pipes();
    break;
  case SPLICER_POOL_MAX_IDLE:
    *value = pool.max_idle;
    break;
  case SPLICER_POOL_PIPE_SIZE:
    *value = pool.pipe_size;
    break;
  default:
    r = -EINVAL;
  }
  pthread_mutex_unlock(&pool.mu);
  return r;
}

int splicer_pool_stats_get(splicer_pool_stats *out, size_t size) {
  if (!out || size < sizeof(uint64_t))
    return -EINVAL;
  pthread_mutex_lock(&pool.mu);
  note_in_use();
  splicer_pool_stats st = pool.st;
  pthread_mutex_unlock(&pool.mu);
  memcpy(out, &st, size < sizeof st ? size : sizeof st);
  return 0;
}

int splicer_pool_trim(void) {
  size_t n = shed_idle_all(0);
  void *bufs[POOL_IDLE_BUFS];
  pthread_mutex_lock(&pool.mu);
  size_t n_bufs = pool.n_bufs;
  memcpy(bufs, pool.bufs, n_bufs * sizeof bufs[0]);
  pool.n_bufs = 0;
  pool.st.peak_in_use = pool.in_use;
  note_in_use();
  pthread_mutex_unlock(&pool.mu);
  for (size_t i = 0; i < n_bufs; i++)
    free(bufs[i]);
  return n > INT_MAX ? INT_MAX : (int)n;
}
