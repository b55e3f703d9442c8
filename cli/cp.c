/* splicer cp [-p] [--stats] [-q] SRC DST: one file to another with the
 * session's zero-copy methods; behaves like cp(1) where they overlap. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void) {
  fprintf(stderr, "usage: splicer cp [-p] [--stats] [-q] SRC DST\n"
                  "       SRC or DST may be - for stdin or stdout\n");
  return EXIT_USAGE;
}

/* cp(1) copies into an existing directory under the source's name. */
static char *dest_path(const char *src, const char *dst, bool *is_dir_err) {
  struct stat st;
  *is_dir_err = false;
  if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (strcmp(src, "-") == 0) {
      *is_dir_err = true;
      return NULL;
    }
    char *tmp = strdup(src);
    if (!tmp)
      return NULL;
    const char *base = basename(tmp);
    size_t n = strlen(dst) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
      snprintf(out, n, "%s/%s", dst, base);
    free(tmp);
    return out;
  }
  return strdup(dst);
}

/* -p: mode, owner where permitted, and times, as cp -p does. */
static int preserve(int fd, const char *path, const struct stat *st) {
  mode_t mode = st->st_mode & 07777;
  if (fchown(fd, st->st_uid, st->st_gid) < 0) {
    if (errno != EPERM) {
      cli_err(-errno, path, "preserving ownership");
      return -1;
    }
    mode &= 0777; /* never keep set-id bits for someone else's file */
  }
  if (fchmod(fd, mode) < 0) {
    cli_err(-errno, path, "preserving mode");
    return -1;
  }
  struct timespec ts[2] = {st->st_atim, st->st_mtim};
  if (futimens(fd, ts) < 0) {
    cli_err(-errno, path, "preserving times");
    return -1;
  }
  return 0;
}

int cmd_cp(int argc, char **argv) {
  bool keep = false, stats = false, quiet = false;
  const char *ops[2];
  int nops = 0;
  bool opts_done = false;
  cli_prog = "splicer cp";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!opts_done && strcmp(a, "--") == 0)
      opts_done = true;
    else if (!opts_done && strcmp(a, "-p") == 0)
      keep = true;
    else if (!opts_done && strcmp(a, "--stats") == 0)
      stats = true;
    else if (!opts_done && (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0))
      quiet = true;
    else if (!opts_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
      usage();
      return EXIT_OK;
    } else if (!opts_done && a[0] == '-' && a[1]) {
      cli_msg("unknown option '%s'", a);
      return usage();
    } else if (nops < 2)
      ops[nops++] = a;
    else {
      cli_msg("extra operand '%s'", a);
      return usage();
    }
  }
  if (nops != 2) {
    cli_msg(nops ? "missing destination operand after '%s'"
                 : "missing file operands%s",
            nops ? ops[0] : "");
    return usage();
  }
  const char *src = ops[0];
  int rc = EXIT_FAIL;
  int in = -1, out = -1;
  char *dst = NULL;
  splicer_session *s = NULL;
  struct stat sst, dst_st;

  if (strcmp(src, "-") == 0)
    in = STDIN_FILENO;
  else if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
    cli_err(-errno, src, "cannot open");
    goto out;
  }
  if (fstat(in, &sst) < 0) {
    cli_err(-errno, src, "cannot stat");
    goto out;
  }
  if (S_ISDIR(sst.st_mode)) {
    cli_err(-EISDIR, src, "refusing to copy a directory");
    goto out;
  }

  if (strcmp(ops[1], "-") == 0) {
    dst = strdup("-");
    if (!dst)
      goto nomem;
    out = STDOUT_FILENO;
  } else {
    bool dir_err;
    dst = dest_path(src, ops[1], &dir_err);
    if (dir_err) {
      cli_err(-EISDIR, ops[1], "cannot copy stdin into a directory");
      goto out;
    }
    if (!dst)
      goto nomem;
    if (stat(dst, &dst_st) == 0 && dst_st.st_dev == sst.st_dev &&
        dst_st.st_ino == sst.st_ino) {
      cli_msg("'%s' and '%s' are the same file", src, dst);
      goto out;
    }
    /* a new file gets the source's permission bits (less the umask), an
     * existing one keeps its own, as with cp(1) */
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY,
               sst.st_mode & 0777);
    if (out < 0) {
      cli_err(-errno, dst, "cannot create");
      goto out;
    }
  }

  int r = splicer_session_new(&s);
  if (r < 0) {
    cli_err(r, NULL, "cannot create a session");
    goto out;
  }
  r = splicer_open(s, in, SPLICER_OFF_CUR, out, SPLICER_OFF_CUR,
                   SPLICER_TO_EOF);
  if (r < 0) {
    cli_err(r, NULL, "cannot copy '%s' to '%s'", src, dst);
    goto out;
  }
  struct progress pg;
  progress_init(&pg, S_ISREG(sst.st_mode) ? (uint64_t)sst.st_size : 0,
                !quiet && isatty(STDERR_FILENO));
  int64_t n;
  while ((n = splicer_step(s)) > 0)
    progress_update(&pg, s, false);
  progress_done(&pg, s);
  if (n < 0) {
    splicer_progress p;
    splicer_progress_get(s, &p, sizeof p);
    cli_err((int)n, NULL, "copying '%s' to '%s' stopped after %llu bytes", src,
            dst, (unsigned long long)p.delivered);
    rc = n == -EPIPE ? EXIT_PIPE : EXIT_FAIL;
    if (stats)
      cli_print_stats(s);
    goto out;
  }
  if (stats)
    cli_print_stats(s);
  if (keep && out != STDOUT_FILENO && preserve(out, dst, &sst) < 0)
    goto out;
  rc = EXIT_OK;
  goto out;
nomem:
  cli_err(-ENOMEM, NULL, NULL);
out:
  splicer_session_free(s);
  if (in > STDERR_FILENO)
    close(in);
  if (out > STDERR_FILENO && close(out) < 0 && rc == EXIT_OK) {
    cli_err(-errno, dst, "closing");
    rc = EXIT_FAIL;
  }
  free(dst);
  return rc;
}
