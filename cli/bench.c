/* splicer bench: GB/s, GB per CPU-second and syscalls per GiB for each fd
 * pair and each method, side by side in one run.
 *
 * What is counted: wall time from just before the helpers start to the
 * moment the last byte reached its destination (drained, or in the page
 * cache of the destination file: no fsync), and CPU (user+sys) of this
 * whole process over that time — the copy and the threads feeding the
 * source and draining the destination — plus, for another program, that
 * program's own CPU from wait4().  The helpers are the same for every
 * contender, so ratios compare only what the contenders do. */
#include "bench.h"

#include <time.h>
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_CONTENDERS 48
#define PEER_TIMEOUT_MS 120000

static int usage(FILE *f, int rc) {
  fprintf(f,
          "usage: splicer bench [--size N] [--pairs LIST] [--repeat N]\n"
          "                     [--dir DIR] [--json FILE] [--svg FILE]\n"
          "                     [--peer NAME=COMMAND]... [--strace] [--no-bare]\n"
          "  --size N       bytes of the generated file (256M; k/M/G suffixes)\n"
          "  --pairs LIST   comma-separated among:");
  for (int i = 0; i < PAIR_COUNT; i++)
    fprintf(f, " %s", bench_pairs[i].id);
  fprintf(f,
          "\n"
          "  --repeat N     runs of each contender, best kept (3)\n"
          "  --dir DIR      where the data file goes (/dev/shm if writable)\n"
          "  --json FILE    write the results as JSON\n"
          "  --svg FILE     write a bar chart of GB per CPU-second\n"
          "  --peer NAME=COMMAND  also run a shell COMMAND that copies stdin\n"
          "                 to stdout; {in} {out} expand to paths of the ends\n"
          "                 (pairs without one are skipped), {tee} to the\n"
          "                 two extra outputs of the tee pair\n"
          "  --strace       count the syscalls of peers with strace -f -c\n"
          "  --no-bare      leave out the bare syscall loops\n");
  return rc;
}

static struct contender contenders[MAX_CONTENDERS];
static int n_contenders;

static struct contender *add(const char *name, int kind) {
  if (n_contenders == MAX_CONTENDERS)
    return NULL;
  struct contender *c = &contenders[n_contenders++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->kind = kind;
  return c;
}

static void add_builtin(bool bare) {
  static const struct {
    const char *name;
    int method;
  } sp[] = {{"splicer auto", SPLICER_METHOD_NONE},
            {"splicer read_write", SPLICER_METHOD_READ_WRITE},
            {"splicer splice", SPLICER_METHOD_SPLICE},
            {"splicer sendfile", SPLICER_METHOD_SENDFILE},
            {"splicer copy_file_range", SPLICER_METHOD_COPY_FILE_RANGE},
            {"splicer tee", SPLICER_METHOD_TEE}};
  /* the pipe pool against the session's own pipes, where a pipe is used */
  static const char *const own = "splicer auto (own pipes)";
  static const struct {
    const char *name;
    int loop, method;
  } bl[] = {{"read/write loop", BARE_RW, SPLICER_METHOD_READ_WRITE},
            {"bare splice", BARE_SPLICE, SPLICER_METHOD_SPLICE},
            {"bare splice_pipe", BARE_SPLICE_PIPE, SPLICER_METHOD_SPLICE_PIPE},
            {"bare sendfile", BARE_SENDFILE, SPLICER_METHOD_SENDFILE},
            {"bare copy_file_range", BARE_CFR, SPLICER_METHOD_COPY_FILE_RANGE},
            {"bare tee", BARE_TEE, SPLICER_METHOD_TEE}};
  for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
    add(sp[i].name, KIND_SPLICER)->method = sp[i].method;
  add(own, KIND_SPLICER)->own_pipes = true;
  for (size_t i = 0; i < sizeof bl / sizeof bl[0]; i++) {
    /* the read/write loop is the baseline of every table: always run */
    if (!bare && bl[i].loop != BARE_RW)
      continue;
    struct contender *c = add(bl[i].name, KIND_BARE);
    c->bare = bl[i].loop;
    c->method = bl[i].method;
  }
}

static bool file_source(int pair) {
  return pair == PAIR_FILE_NULL || pair == PAIR_FILE_PIPE ||
         pair == PAIR_FILE_FILE || pair == PAIR_FILE_UNIX ||
         pair == PAIR_FILE_TCP;
}

static bool applies(int pair, const struct contender *c) {
  bool pipe_end = pair == PAIR_FILE_PIPE || pair == PAIR_PIPE_FILE;
  bool tee = pair == PAIR_TEE3;
  if (c->kind == KIND_SPLICER && c->own_pipes)
    return pair == PAIR_FILE_UNIX || pair == PAIR_FILE_TCP ||
           pair == PAIR_TCP_TCP || pair == PAIR_TEE3;
  if (c->kind == KIND_SPLICER) {
    switch (c->method) {
    case SPLICER_METHOD_SPLICE: return !tee;
    /* the library's chain for a pipe end is splice, then read/write */
    case SPLICER_METHOD_SENDFILE: return file_source(pair) && !pipe_end;
    case SPLICER_METHOD_COPY_FILE_RANGE: return pair == PAIR_FILE_FILE;
    case SPLICER_METHOD_TEE: return tee;
    default: return true;
    }
  }
  if (c->kind == KIND_BARE) {
    switch (c->bare) {
    case BARE_SENDFILE: return file_source(pair);
    case BARE_CFR: return pair == PAIR_FILE_FILE;
    case BARE_SPLICE: return pipe_end;
    case BARE_SPLICE_PIPE: return !pipe_end && !tee;
    case BARE_TEE: return tee;
    default: return true;
    }
  }
  bool has_tee = strstr(c->cmd, "{tee}") != NULL;
  if (has_tee != tee)
    return false;
  if (strstr(c->cmd, "{in}") && (pair == PAIR_TCP_TCP))
    return false;
  if (strstr(c->cmd, "{out}") &&
      (pair == PAIR_FILE_UNIX || pair == PAIR_FILE_TCP ||
       pair == PAIR_TCP_TCP || tee))
    return false;
  return true;
}

static double cpu_seconds(const struct rusage *ru) {
  return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
         (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

struct sample {
  double wall, cpu;
  double thread_cpu; /* the copying thread alone; < 0 for a peer */
  uint64_t syscalls; /* UINT64_MAX: not counted */
  int method;
  char error[160];
};

static int run_splicer(const struct contender *c, struct fixture *f,
                       struct sample *sm, int64_t *moved) {
  splicer_session *s;
  int r = splicer_session_new(&s);
  if (r < 0)
    return r;
  if (c->own_pipes && (r = splicer_session_set(s, SPLICER_OPT_POOL, 0)) < 0) {
    splicer_session_free(s);
    return r;
  }
  if (c->method != SPLICER_METHOD_NONE) {
    uint32_t mask = 1u << c->method;
    if (c->method == SPLICER_METHOD_SPLICE)
      mask |= 1u << SPLICER_METHOD_SPLICE_PIPE;
    if ((r = splicer_session_set(s, SPLICER_OPT_METHODS, mask)) < 0 ||
        (r = splicer_session_set(s, SPLICER_OPT_FALLBACK, 0)) < 0) {
      splicer_session_free(s);
      return r;
    }
  }
  if (f->n_out > 1) {
    r = splicer_open_tee(s, f->in, SPLICER_OFF_CUR, f->out, (size_t)f->n_out,
                         SPLICER_TO_EOF);
    *moved = r < 0 ? r : splicer_run(s);
  } else {
    *moved = splicer_copy(s, f->in, f->out[0], SPLICER_TO_EOF);
  }
  splicer_stats st;
  splicer_stats_get(s, &st, sizeof st);
  sm->syscalls = st.syscalls;
  uint64_t most = 0;
  for (int m = 1; m < SPLICER_METHOD_COUNT; m++)
    if (st.bytes_by_method[m] > most) {
      most = st.bytes_by_method[m];
      sm->method = m;
    }
  splicer_session_free(s);
  return 0;
}

/* {in} {out} {tee} expanded; NULL if too long */
static char *expand(const char *cmd, const struct fixture *f) {
  size_t cap = strlen(cmd) + 4096, n = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  for (const char *p = cmd; *p;) {
    const char *rep = NULL;
    size_t skip = 0;
    if (strncmp(p, "{in}", 4) == 0)
      rep = f->in_path, skip = 4;
    else if (strncmp(p, "{out}", 5) == 0)
      rep = f->out_path, skip = 5;
    else if (strncmp(p, "{tee}", 5) == 0)
      rep = "/dev/fd/3 /dev/fd/4", skip = 5;
    if (skip) {
      size_t l = strlen(rep ? rep : "");
      if (n + l + 1 >= cap)
        goto toolong;
      memcpy(out + n, rep ? rep : "", l);
      n += l;
      p += skip;
    } else {
      if (n + 2 >= cap)
        goto toolong;
      out[n++] = *p++;
    }
  }
  out[n] = 0;
  return out;
toolong:
  free(out);
  return NULL;
}

/* Count data-moving syscalls in strace -c output; other calls (startup,
 * poll, futex) are left out for every program alike. */
static uint64_t strace_count(const char *path) {
  static const char *const data_calls[] = {
      "read",     "write",     "readv",    "writev",  "pread64",
      "pwrite64", "sendfile",  "splice",   "tee",     "vmsplice",
      "copy_file_range", "recvfrom", "sendto", "recvmsg", "sendmsg",
      "preadv",   "pwritev",   "preadv2",  "pwritev2"};
  FILE *fp = fopen(path, "re");
  if (!fp)
    return UINT64_MAX;
  char line[256];
  uint64_t total = 0;
  while (fgets(line, sizeof line, fp)) {
    char *tok[8];
    int nt = 0;
    for (char *t = strtok(line, " \t\n"); t && nt < 8; t = strtok(NULL, " \t\n"))
      tok[nt++] = t;
    if (nt < 5 || tok[0][0] < '0' || tok[0][0] > '9')
      continue;
    for (size_t i = 0; i < sizeof data_calls / sizeof data_calls[0]; i++)
      if (strcmp(tok[nt - 1], data_calls[i]) == 0)
        total += strtoull(tok[3], NULL, 10);
  }
  fclose(fp);
  return total;
}

static int dup_high(int fd) {
  return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* Run a peer on the fixture; the child's rusage is added to *child_cpu. */
static int run_peer(const struct contender *c, struct fixture *f,
                    const char *strace_out, double *child_cpu,
                    struct sample *sm) {
  char *cmd = expand(c->cmd, f);
  if (!cmd)
    return -ENAMETOOLONG;
  int fds[5] = {dup_high(f->in), dup_high(f->out[0]), -1, dup_high(f->out[1]),
                dup_high(f->out[2])};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (int i = 0; i < 5; i++)
    if (fds[i] >= 0)
      posix_spawn_file_actions_adddup2(&fa, fds[i], i);
  sigset_t def, none;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE); /* ignored here, default for the child */
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char *st_argv[] = {"strace", "-f", "-qq", "-c", "-o", (char *)strace_out,
                     "/bin/sh", "-c", cmd, NULL};
  char *sh_argv[] = {"/bin/sh", "-c", cmd, NULL};
  pid_t pid;
  int r = strace_out ? posix_spawnp(&pid, "strace", &fa, &at, st_argv, environ)
                     : posix_spawn(&pid, "/bin/sh", &fa, &at, sh_argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  for (int i = 0; i < 5; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  /* only the child holds the ends now: its exit means EOF for helpers */
  fixture_close_outputs(f);
  fixture_close_input(f);
  free(cmd);
  if (r != 0)
    return -r;
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd >= 0) {
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int pr;
    while ((pr = poll(&p, 1, PEER_TIMEOUT_MS)) < 0 && errno == EINTR)
      ;
    if (pr == 0) {
      kill(pid, SIGKILL);
      snprintf(sm->error, sizeof sm->error, "timed out after %d s",
               PEER_TIMEOUT_MS / 1000);
    }
    close(pfd);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR)
      return -errno;
  *child_cpu = cpu_seconds(&ru);
  if (!sm->error[0] && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    snprintf(sm->error, sizeof sm->error, "exited with %s %d",
             WIFEXITED(status) ? "status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  return 0;
}

/* The copying thread's own CPU: on socket pairs the peers' TCP stack is
 * charged to the helper threads too, so the whole-process figure cannot
 * show what the copy itself costs. */
static double thread_cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_one(const struct bench_env *env, int pair,
                   const struct contender *c, bool count_only,
                   struct sample *sm) {
  struct fixture f;
  memset(sm, 0, sizeof *sm);
  sm->syscalls = UINT64_MAX;
  int r = fixture_prepare(&f, env, pair);
  if (r < 0) {
    snprintf(sm->error, sizeof sm->error, "fixture: %s", splicer_errname(r));
    return r;
  }
  char tmp[700] = "";
  if (count_only)
    snprintf(tmp, sizeof tmp, "%s/splicer-bench-strace.txt", env->dir);
  struct rusage ru0, ru1;
  double child_cpu = 0;
  int64_t moved = -1;
  getrusage(RUSAGE_SELF, &ru0);
  double t0 = cli_now();
  r = fixture_start(&f);
  sm->thread_cpu = -1;
  if (r == 0) {
    if (c->kind == KIND_SPLICER) {
      double tc = thread_cpu_now();
      r = run_splicer(c, &f, sm, &moved);
      sm->thread_cpu = thread_cpu_now() - tc;
    } else if (c->kind == KIND_BARE) {
      uint64_t sc = 0;
      double tc = thread_cpu_now();
      moved = bare_run(c->bare, &f, &sc);
      sm->thread_cpu = thread_cpu_now() - tc;
      sm->syscalls = sc;
      sm->method = c->method;
    } else {
      r = run_peer(c, &f, count_only ? tmp : NULL, &child_cpu, sm);
    }
    fixture_close_outputs(&f);
  }
  uint64_t arrived;
  int herr = fixture_finish(&f, &arrived);
  double t1 = cli_now();
  getrusage(RUSAGE_SELF, &ru1);
  fixture_cleanup(&f);
  sm->wall = t1 - t0;
  sm->cpu = cpu_seconds(&ru1) - cpu_seconds(&ru0) + child_cpu;
  if (count_only) {
    sm->syscalls = strace_count(tmp);
    unlink(tmp);
  }
  if (sm->error[0])
    return -EIO;
  if (r < 0) {
    snprintf(sm->error, sizeof sm->error, "%s", splicer_errname(r));
    return r;
  }
  if (c->kind != KIND_PEER && moved < 0) {
    snprintf(sm->error, sizeof sm->error, "%s (%s)", splicer_errname((int)moved),
             splicer_strerror((int)moved));
    return (int)moved;
  }
  if (c->kind != KIND_PEER && (uint64_t)moved != env->size) {
    snprintf(sm->error, sizeof sm->error, "moved %lld of %llu bytes",
             (long long)moved, (unsigned long long)env->size);
    return -EIO;
  }
  if (arrived != UINT64_MAX && arrived != env->size) {
    snprintf(sm->error, sizeof sm->error, "%llu of %llu bytes arrived",
             (unsigned long long)arrived, (unsigned long long)env->size);
    return -EIO;
  }
  if (herr < 0) {
    snprintf(sm->error, sizeof sm->error, "helper: %s", splicer_errname(herr));
    return herr;
  }
  return 0;
}

/* Pseudo-random bytes, so that no filesystem or link can compress them. */
static int make_data(const struct bench_env *env) {
  int fd = open(env->src_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  size_t bs = 1 << 20;
  uint64_t *buf = malloc(bs), x = 0x9e3779b97f4a7c15ull;
  int r = buf ? 0 : -ENOMEM;
  for (uint64_t done = 0; r == 0 && done < env->size;) {
    for (size_t i = 0; i < bs / 8; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = x;
    }
    size_t n = env->size - done < bs ? (size_t)(env->size - done) : bs;
    ssize_t w = write(fd, buf, n);
    if (w <= 0)
      r = w < 0 ? -errno : -EIO;
    else
      done += (uint64_t)w;
  }
  free(buf);
  if (close(fd) < 0 && r == 0)
    r = -errno;
  return r;
}

static int setup_env(struct bench_env *env, const char *dir) {
  if (!dir) {
    /* tmpfs keeps disk writeback out of the file pairs' numbers */
    if (access("/dev/shm", W_OK) == 0)
      dir = "/dev/shm";
    else if (!(dir = getenv("TMPDIR")))
      dir = "/tmp";
  }
  snprintf(env->dir, sizeof env->dir, "%s", dir);
  snprintf(env->src_path, sizeof env->src_path, "%s/splicer-bench-src.%d",
           dir, (int)getpid());
  snprintf(env->dst_path, sizeof env->dst_path, "%s/splicer-bench-dst.%d",
           dir, (int)getpid());
  struct statfs sf;
  snprintf(env->fs_name, sizeof env->fs_name, "unknown");
  if (statfs(dir, &sf) == 0) {
    switch ((unsigned long)sf.f_type) {
    case 0x01021994: snprintf(env->fs_name, sizeof env->fs_name, "tmpfs"); break;
    case 0xEF53: snprintf(env->fs_name, sizeof env->fs_name, "ext4"); break;
    case 0x58465342: snprintf(env->fs_name, sizeof env->fs_name, "xfs"); break;
    case 0x9123683E: snprintf(env->fs_name, sizeof env->fs_name, "btrfs"); break;
    case 0x794c7630: snprintf(env->fs_name, sizeof env->fs_name, "overlayfs"); break;
    default: snprintf(env->fs_name, sizeof env->fs_name, "0x%lx",
                      (unsigned long)sf.f_type);
    }
  }
  if ((env->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
    return -errno;
  env->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (env->listener < 0)
    return -errno;
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(env->listener, (struct sockaddr *)&a, sizeof a) < 0 ||
      listen(env->listener, 16) < 0 ||
      getsockname(env->listener, (struct sockaddr *)&a, &al) < 0)
    return -errno;
  env->port = ntohs(a.sin_port);
  return make_data(env);
}

static const char *method_label(const struct result *r) {
  if (r->c->kind == KIND_PEER)
    return "-";
  return splicer_method_name(r->method_used);
}

static void print_table(const struct bench_env *env, const struct result *res,
                        size_t n, int repeat) {
  struct utsname u;
  uname(&u);
  char hs[32];
  printf("splicer bench %s: %s per run, best of %d, data in %s (%s), %ld CPUs, "
         "Linux %s\n",
         splicer_version_string(), cli_human(env->size, hs, sizeof hs), repeat,
         env->dir, env->fs_name, sysconf(_SC_NPROCESSORS_ONLN), u.release);
  printf("CPU = user+sys of the whole process (copy + threads feeding the "
         "source / draining the destination) + a spawned peer's own CPU.\n"
         "thread = the copying thread's own CPU (in-process contenders only).\n");
  int last_pair = -1;
  double rw = 0, rw_thread = 0;
  for (size_t i = 0; i < n; i++) {
    const struct result *r = &res[i];
    if (!r->applies)
      continue;
    if (r->pair != last_pair) {
      last_pair = r->pair;
      rw = rw_thread = 0;
      for (size_t k = 0; k < n; k++)
        if (res[k].pair == r->pair && res[k].ok && res[k].c->kind == KIND_BARE &&
            res[k].c->bare == BARE_RW) {
          rw = res[k].gb_per_cpu;
          rw_thread = res[k].gb_per_thread_cpu;
        }
      printf("\n%-26s %-16s %8s %9s %13s %8s %10s %8s\n", bench_pairs[r->pair].label,
             "method", "GB/s", "GB/CPU-s", "syscalls/GiB", "CPU x rw", "thread", "thr x rw");
    }
    if (!r->ok) {
      printf("  %-24s failed: %s\n", r->c->name, r->error);
      continue;
    }
    char sc[32] = "-";
    if (r->syscalls_per_gib >= 0)
      snprintf(sc, sizeof sc, "%.0f", r->syscalls_per_gib);
    char ratio[16] = "-", thr[16] = "-", thr_ratio[16] = "-";
    if (rw > 0)
      snprintf(ratio, sizeof ratio, "%.2f", r->gb_per_cpu / rw);
    if (r->gb_per_thread_cpu > 0) {
      snprintf(thr, sizeof thr, "%.2f", r->gb_per_thread_cpu);
      if (rw_thread > 0)
        snprintf(thr_ratio, sizeof thr_ratio, "%.2f", r->gb_per_thread_cpu / rw_thread);
    }
    printf("  %-24s %-16s %8.2f %9.2f %13s %8s %10s %8s\n", r->c->name, method_label(r),
           r->gbps, r->gb_per_cpu, sc, ratio, thr, thr_ratio);
  }
  fflush(stdout);
}

static int parse_pairs(const char *list, bool sel[PAIR_COUNT]) {
  memset(sel, 0, sizeof(bool) * PAIR_COUNT);
  char *dup = strdup(list);
  if (!dup)
    return -ENOMEM;
  int rc = 0;
  for (char *save, *t = strtok_r(dup, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    int found = -1;
    for (int i = 0; i < PAIR_COUNT; i++)
      if (strcmp(t, bench_pairs[i].id) == 0)
        found = i;
    if (found < 0) {
      cli_msg("unknown pair '%s'", t);
      rc = -EINVAL;
      break;
    }
    sel[found] = true;
  }
  free(dup);
  return rc;
}

int cmd_bench(int argc, char **argv) {
  cli_prog = "splicer bench";
  struct bench_env env;
  memset(&env, 0, sizeof env);
  env.size = 256u << 20;
  env.devnull = env.listener = -1;
  int repeat = 3;
  bool sel[PAIR_COUNT], bare = true;
  for (int i = 0; i < PAIR_COUNT; i++)
    sel[i] = true;
  const char *json = NULL, *svg = NULL, *dir = NULL;
  const char *peers[MAX_CONTENDERS];
  int n_peers = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = strcmp(a, "--size") == 0 || strcmp(a, "--pairs") == 0 ||
                 strcmp(a, "--repeat") == 0 || strcmp(a, "--dir") == 0 ||
                 strcmp(a, "--json") == 0 || strcmp(a, "--svg") == 0 ||
                 strcmp(a, "--peer") == 0;
    if (takes && !v) {
      cli_msg("option '%s' needs a value", a);
      return usage(stderr, EXIT_USAGE);
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
      return usage(stdout, EXIT_OK);
    else if (strcmp(a, "--size") == 0) {
      int64_t s = cli_parse_size(v);
      if (s <= 0) {
        cli_msg("bad size '%s'", v);
        return EXIT_USAGE;
      }
      env.size = (uint64_t)s;
    } else if (strcmp(a, "--pairs") == 0) {
      if (parse_pairs(v, sel) < 0)
        return usage(stderr, EXIT_USAGE);
    } else if (strcmp(a, "--repeat") == 0) {
      repeat = atoi(v);
      if (repeat < 1 || repeat > 100) {
        cli_msg("bad repeat count '%s'", v);
        return EXIT_USAGE;
      }
    } else if (strcmp(a, "--dir") == 0)
      dir = v;
    else if (strcmp(a, "--json") == 0)
      json = v;
    else if (strcmp(a, "--svg") == 0)
      svg = v;
    else if (strcmp(a, "--peer") == 0) {
      if (!strchr(v, '=') || v[0] == '=' || n_peers == 24) {
        cli_msg("bad peer '%s': want NAME=COMMAND", v);
        return EXIT_USAGE;
      }
      peers[n_peers++] = v;
    } else if (strcmp(a, "--strace") == 0)
      env.strace = true;
    else if (strcmp(a, "--no-bare") == 0)
      bare = false;
    else {
      cli_msg("unknown option '%s'", a);
      return usage(stderr, EXIT_USAGE);
    }
    if (takes)
      i++;
  }

  /* a contender's error must be reported, not kill the whole run */
  signal(SIGPIPE, SIG_IGN);
  n_contenders = 0;
  add_builtin(bare);
  for (int i = 0; i < n_peers; i++) {
    const char *eq = strchr(peers[i], '=');
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq - peers[i]), peers[i]);
    struct contender *c = add(name, KIND_PEER);
    if (c)
      c->cmd = eq + 1;
  }

  int rc = EXIT_FAIL;
  struct result *res = NULL;
  size_t n = 0;
  int r = setup_env(&env, dir);
  if (r < 0) {
    cli_err(r, env.dir, "cannot prepare the data");
    goto out;
  }
  res = calloc((size_t)PAIR_COUNT * (size_t)n_contenders, sizeof *res);
  if (!res) {
    cli_err(-ENOMEM, NULL, NULL);
    goto out;
  }
  for (int p = 0; p < PAIR_COUNT; p++)
    for (int k = 0; k < n_contenders; k++) {
      if (!sel[p])
        continue;
      struct result *x = &res[n++];
      x->pair = p;
      x->c = &contenders[k];
      x->applies = applies(p, x->c);
      x->ok = true;
      x->syscalls_per_gib = -1;
    }

  /* rounds over everything, so that a burst of noise on the shared machine
   * hurts one run of each contender, not all runs of one; and within a
   * pair each round starts one contender further on, because the first run
   * after a pair is set up measured up to 25% faster than the same code run
   * later in the round (thread placement on a 2-core machine) */
  for (int rep = 0; rep < repeat; rep++) {
    for (size_t k = 0; k < n; k++) {
      size_t first = k, count = 0;
      while (first > 0 && res[first - 1].pair == res[k].pair)
        first--;
      while (first + count < n && res[first + count].pair == res[k].pair)
        count++;
      size_t i = first + (k - first + (size_t)rep) % count;
      struct result *x = &res[i];
      if (!x->applies || !x->ok)
        continue;
      struct sample sm;
      if (run_one(&env, x->pair, x->c, false, &sm) < 0) {
        x->ok = false;
        snprintf(x->error, sizeof x->error, "%s", sm.error);
        continue;
      }
      if (x->runs == 0 || sm.wall < x->best_wall)
        x->best_wall = sm.wall;
      if (x->runs == 0 || sm.cpu < x->best_cpu)
        x->best_cpu = sm.cpu;
      if (x->runs == 0 || sm.thread_cpu < x->best_thread_cpu)
        x->best_thread_cpu = sm.thread_cpu;
      if (sm.syscalls != UINT64_MAX)
        x->syscalls_per_gib =
            (double)sm.syscalls * (double)(1u << 30) / (double)env.size;
      x->method_used = sm.method;
      x->runs++;
    }
  }
  if (env.strace)
    for (size_t i = 0; i < n; i++) {
      struct result *x = &res[i];
      struct sample sm;
      if (x->applies && x->ok && x->c->kind == KIND_PEER &&
          run_one(&env, x->pair, x->c, true, &sm) == 0 &&
          sm.syscalls != UINT64_MAX)
        x->syscalls_per_gib =
            (double)sm.syscalls * (double)(1u << 30) / (double)env.size;
    }
  for (size_t i = 0; i < n; i++) {
    struct result *x = &res[i];
    if (x->runs > 0) {
      x->gbps = (double)env.size / 1e9 / x->best_wall;
      x->gb_per_cpu = x->best_cpu > 0 ? (double)env.size / 1e9 / x->best_cpu : 0;
      x->gb_per_thread_cpu =
          x->best_thread_cpu > 0 ? (double)env.size / 1e9 / x->best_thread_cpu : -1;
    }
  }
  print_table(&env, res, n, repeat);
  rc = EXIT_OK;
  if (json && report_json(json, &env, res, n, repeat) < 0) {
    cli_err(-errno, json, "cannot write");
    rc = EXIT_FAIL;
  }
  if (svg && report_svg(svg, &env, res, n) < 0) {
    cli_err(-errno, svg, "cannot write");
    rc = EXIT_FAIL;
  }
out:
  free(res);
  if (env.src_path[0])
    unlink(env.src_path);
  if (env.dst_path[0])
    unlink(env.dst_path);
  if (env.devnull >= 0)
    close(env.devnull);
  if (env.listener >= 0)
    close(env.listener);
  return rc;
}
