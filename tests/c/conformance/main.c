/* splicer-conformance: the reference runner of tests/cases (see
 * tests/README.md).  Each case runs in its own child process, so that a
 * crash, a hang or a leaked mount ends only that case. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CASE_TIMEOUT_MS 20000

struct casefile {
  char *path;
  char *text;
  jval root;
};

static int has_tmpfs(const jval *cs) {
  const jval *fx = json_get(cs, "fixtures");
  for (size_t k = 0; fx && fx->t == J_ARR && k < fx->n; k++)
    if (json_get(&fx->items[k], "tmpfs"))
      return 1;
  return 0;
}

/* The pool's options as the runner found them: every case starts from them
 * (tests/README.md section 5.4). */
static int64_t pool_defaults[3];
static const int pool_options[3] = {SPLICER_POOL_MAX_PIPES, SPLICER_POOL_MAX_IDLE,
                                    SPLICER_POOL_PIPE_SIZE};

static void pool_reset(struct ctx *c) {
  for (int k = 0; k < 3; k++)
    splicer_pool_set(pool_options[k], pool_defaults[k]);
  splicer_pool_trim();
  splicer_pool_stats_get(&c->pool_start, sizeof c->pool_start);
}

/* Runs in the child: the case's status line (without the id) into out. */
static void run_case(const jval *cs, const char *rundir, unsigned case_no, char *out, size_t outlen) {
  const char *skip_reason = json_str(cs, "skip");
  if (skip_reason) {
    snprintf(out, outlen, "SKIP %s", skip_reason);
    return;
  }
  /* a private mount namespace: a tmpfs of this case vanishes with it even
   * if the case is killed */
  if (has_tmpfs(cs) && unshare(CLONE_NEWNS) == 0)
    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL);

  int fds_before = count_fds();
  struct ctx *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(out, outlen, "FAIL out of memory");
    return;
  }
  c->rundir = rundir;
  c->case_no = case_no;
  pool_reset(c);
  int r = splicer_session_new(&c->s);
  if (r < 0)
    fail(c, "splicer_session_new: %s", splicer_errname(r));
  c->sessions[0] = c->s;
  c->session_names[0] = "main";
  c->n_sessions = 1;
  if (r == 0 && fixtures_setup(c, json_get(cs, "fixtures")) == 0) {
    const jval *steps = json_get(cs, "steps");
    for (size_t k = 0; steps && steps->t == J_ARR && k < steps->n; k++)
      if (run_step(c, &steps->items[k], k) < 0)
        break;
  }
  for (size_t k = 0; k < c->n_sessions; k++)
    splicer_session_free(c->sessions[k]);
  c->s = NULL;
  int ok = !c->detail[0];
  const jval *arrived = json_get(cs, "arrived");
  fixtures_finish(c, arrived, ok);
  for (size_t k = 0; k < c->n_raw_bufs; k++)
    free(c->raw_bufs[k]);
  splicer_pool_trim(); /* idle pipes are the pool's, not a leak */
  int fds_after = count_fds();
  if (!c->detail[0] && fds_before != fds_after)
    fail(c, "fd leak: %d open before the case, %d after", fds_before, fds_after);
  if (c->skip)
    snprintf(out, outlen, "SKIP %s", c->detail);
  else if (c->detail[0])
    snprintf(out, outlen, "FAIL %s", c->detail);
  else
    snprintf(out, outlen, "PASS");
  free(c);
}

/* Fork, run, collect the line; a case that hangs or dies is a FAIL. */
static void run_isolated(const jval *cs, const char *rundir, unsigned case_no, char *line, size_t len) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    snprintf(line, len, "FAIL pipe: %s", strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(line, len, "FAIL fork: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    return;
  }
  if (pid == 0) {
    close(p[0]);
    char out[1200];
    run_case(cs, rundir, case_no, out, sizeof out);
    size_t n = strlen(out);
    if (write(p[1], out, n) != (ssize_t)n)
      _exit(3);
    close(p[1]);
    exit(0); /* exit, not _exit: a leak checker reports at exit */
  }
  close(p[1]);
  char buf[1200];
  size_t have = 0;
  int timed_out = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (spent >= CASE_TIMEOUT_MS) {
      timed_out = 1;
      break;
    }
    struct pollfd pfd = {p[0], POLLIN, 0};
    int pr = poll(&pfd, 1, (int)(CASE_TIMEOUT_MS - spent));
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr == 0) {
      timed_out = 1;
      break;
    }
    ssize_t n = read(p[0], buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += (size_t)n;
    if (have == sizeof buf - 1)
      break;
  }
  buf[have] = 0;
  close(p[0]);
  if (timed_out)
    kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (timed_out)
    snprintf(line, len, "FAIL timeout");
  else if (WIFSIGNALED(status))
    snprintf(line, len, "FAIL killed by signal %d (%s)%s%s", WTERMSIG(status),
             strsignal(WTERMSIG(status)), have ? " after: " : "", buf);
  else if (WEXITSTATUS(status) != 0)
    snprintf(line, len, "FAIL exit status %d%s%s", WEXITSTATUS(status), have ? " after: " : "", buf);
  else if (have == 0)
    snprintf(line, len, "FAIL no result");
  else
    snprintf(line, len, "%s", buf);
}

static int load(const char *path, struct casefile *cf) {
  FILE *f = fopen(path, "rbe");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  char *text = malloc(cap);
  for (;;) {
    if (!text)
      break;
    size_t r = fread(text + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
    if (n == cap) {
      char *nt = realloc(text, cap * 2);
      if (!nt) {
        free(text);
        text = NULL;
        break;
      }
      text = nt;
      cap *= 2;
    }
  }
  fclose(f);
  if (!text) {
    fprintf(stderr, "%s: out of memory\n", path);
    return -1;
  }
  char err[256];
  if (json_parse(text, n, &cf->root, err, sizeof err) < 0) {
    fprintf(stderr, "%s: %s\n", path, err);
    free(text);
    return -1;
  }
  const jval *cases = json_get(&cf->root, "cases");
  if (!cases || cases->t != J_ARR) {
    fprintf(stderr, "%s: no \"cases\" array\n", path);
    json_free(&cf->root);
    free(text);
    return -1;
  }
  for (size_t k = 0; k < cases->n; k++)
    if (!json_str(&cases->items[k], "id")) {
      fprintf(stderr, "%s: case %zu has no id\n", path, k);
      json_free(&cf->root);
      free(text);
      return -1;
    }
  cf->text = text;
  cf->path = strdup(path);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expand arguments: a directory is its *.json files in bytewise order. */
static int collect_paths(int argc, char **argv, char ***out, size_t *n_out) {
  size_t n = 0, cap = 16;
  char **paths = malloc(cap * sizeof *paths);
  for (int a = 0; a < argc && paths; a++) {
    struct stat st;
    if (stat(argv[a], &st) < 0) {
      fprintf(stderr, "%s: %s\n", argv[a], strerror(errno));
      goto bad;
    }
    char **names = NULL;
    size_t nn = 0, nc = 0;
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(argv[a]);
      struct dirent *de;
      while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
          continue;
        if (nn == nc) {
          nc = nc ? nc * 2 : 16;
          char **nnames = realloc(names, nc * sizeof *names);
          if (!nnames)
            break;
          names = nnames;
        }
        size_t pl = strlen(argv[a]) + l + 2;
        names[nn] = malloc(pl);
        snprintf(names[nn], pl, "%s/%s", argv[a], de->d_name);
        nn++;
      }
      if (d)
        closedir(d);
      qsort(names, nn, sizeof *names, cmp_str);
    } else {
      names = malloc(sizeof *names);
      names[0] = strdup(argv[a]);
      nn = 1;
    }
    for (size_t k = 0; k < nn; k++) {
      if (n == cap) {
        cap *= 2;
        paths = realloc(paths, cap * sizeof *paths);
        if (!paths)
          return -1;
      }
      paths[n++] = names[k];
    }
    free(names);
  }
  *out = paths;
  *n_out = n;
  return paths ? 0 : -1;
bad:
  for (size_t k = 0; k < n; k++)
    free(paths[k]);
  free(paths);
  return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag == FTW_DP) {
    umount2(path, MNT_DETACH); /* a tmpfs left by a killed case */
    rmdir(path);
  } else {
    unlink(path);
  }
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: splicer-conformance [-v] [-k TEXT] CASES...   (files or directories)\n"
          "       splicer-conformance --pattern SEED SIZE [OFFSET]\n");
  return 2;
}

static int print_pattern(int argc, char **argv) {
  if (argc < 2 || argc > 3)
    return usage();
  uint32_t seed = (uint32_t)strtoul(argv[0], NULL, 0);
  size_t size = (size_t)strtoull(argv[1], NULL, 0);
  uint64_t off = argc == 3 ? strtoull(argv[2], NULL, 0) : 0;
  unsigned char *p = malloc(size ? size : 1);
  if (!p)
    return 1;
  pattern_fill(p, size, seed, off);
  printf("%016" PRIx64 " size %zu head ", fnv1a64(p, size), size);
  for (size_t k = 0; k < size && k < 16; k++)
    printf("%02x", p[k]);
  printf("\n");
  free(p);
  return 0;
}

int main(int argc, char **argv) {
  const char *filter = NULL;
  int verbose = 0, a = 1;
  if (argc > 1 && strcmp(argv[1], "--pattern") == 0)
    return print_pattern(argc - 2, argv + 2);
  for (; a < argc && argv[a][0] == '-'; a++) {
    if (strcmp(argv[a], "-v") == 0)
      verbose = 1;
    else if (strcmp(argv[a], "-k") == 0 && a + 1 < argc)
      filter = argv[++a];
    else
      return usage();
  }
  if (a == argc)
    return usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  char **paths;
  size_t n_paths;
  if (collect_paths(argc - a, argv + a, &paths, &n_paths) < 0)
    return 2;
  struct casefile *files = calloc(n_paths ? n_paths : 1, sizeof *files);
  int bad = !files;
  for (size_t k = 0; !bad && k < n_paths; k++)
    bad = load(paths[k], &files[k]) < 0;
  /* ids are unique over all files */
  for (size_t f1 = 0; !bad && f1 < n_paths; f1++) {
    const jval *c1 = json_get(&files[f1].root, "cases");
    for (size_t i1 = 0; !bad && i1 < c1->n; i1++)
      for (size_t f2 = f1; !bad && f2 < n_paths; f2++) {
        const jval *c2 = json_get(&files[f2].root, "cases");
        for (size_t i2 = f2 == f1 ? i1 + 1 : 0; i2 < c2->n; i2++)
          if (strcmp(json_str(&c1->items[i1], "id"), json_str(&c2->items[i2], "id")) == 0) {
            fprintf(stderr, "duplicate case id %s\n", json_str(&c1->items[i1], "id"));
            bad = 1;
            break;
          }
      }
  }

  for (int k = 0; k < 3; k++)
    splicer_pool_get(pool_options[k], &pool_defaults[k]);
  int passed = 0, failed = 0, skipped = 0;
  char rundir[4096] = "";
  if (!bad) {
    const char *tmp = getenv("TMPDIR");
    snprintf(rundir, sizeof rundir, "%s/splicer-conformance-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(rundir)) {
      fprintf(stderr, "mkdtemp %s: %s\n", rundir, strerror(errno));
      bad = 1;
      rundir[0] = 0;
    }
  }
  unsigned case_no = 0;
  for (size_t k = 0; !bad && k < n_paths; k++) {
    const jval *cases = json_get(&files[k].root, "cases");
    for (size_t i = 0; i < cases->n; i++) {
      const jval *cs = &cases->items[i];
      const char *id = json_str(cs, "id");
      if (filter && !strstr(id, filter))
        continue;
      char line[1300];
      run_isolated(cs, rundir, ++case_no, line, sizeof line);
      if (strncmp(line, "PASS", 4) == 0)
        passed++;
      else if (strncmp(line, "SKIP", 4) == 0)
        skipped++;
      else
        failed++;
      if (!verbose && strncmp(line, "FAIL", 4) == 0 && strlen(line) > 300)
        strcpy(line + 296, "...");
      printf("%s %s\n", id, line);
    }
  }
  if (rundir[0])
    nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  for (size_t k = 0; k < n_paths; k++) {
    if (files && files[k].text) {
      json_free(&files[k].root);
      free(files[k].text);
      free(files[k].path);
    }
    free(paths[k]);
  }
  free(paths);
  free(files);
  if (bad)
    return 2;
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
