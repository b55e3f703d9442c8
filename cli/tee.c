/* splicer tee [-a] [-i] FILE...: stdin to stdout and to each FILE, as
 * tee(1) does, with one fan-out transfer (tee(2) when stdin is a pipe). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int usage(FILE *f, int rc) {
  fprintf(f, "usage: splicer tee [-a] [-i] FILE...\n"
             "  -a, --append              append to the FILEs, do not truncate\n"
             "  -i, --ignore-interrupts   ignore SIGINT\n"
             "at most %d FILEs (stdout is one more destination)\n",
          SPLICER_TEE_MAX - 1);
  return rc;
}

int cmd_tee(int argc, char **argv) {
  bool append = false, opts_done = false;
  int fds[SPLICER_TEE_MAX];
  size_t n = 0;
  int rc = EXIT_OK;
  cli_prog = "splicer tee";
  fds[n++] = STDOUT_FILENO;
  /* options first, so that a FILE named like an option after -- works */
  int i = 1;
  for (; i < argc && !opts_done; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0)
      opts_done = true;
    else if (strcmp(a, "-a") == 0 || strcmp(a, "--append") == 0)
      append = true;
    else if (strcmp(a, "-i") == 0 || strcmp(a, "--ignore-interrupts") == 0)
      signal(SIGINT, SIG_IGN);
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
      return usage(stdout, EXIT_OK);
    else if (a[0] == '-' && a[1]) {
      cli_msg("unknown option '%s'", a);
      return usage(stderr, EXIT_USAGE);
    } else
      break;
  }
  if (argc - i > SPLICER_TEE_MAX - 1) {
    cli_msg("too many files: at most %d", SPLICER_TEE_MAX - 1);
    return usage(stderr, EXIT_USAGE);
  }
  /* as tee(1): a FILE that cannot be opened is reported, the others are
   * still written, and the exit status says so */
  for (; i < argc; i++) {
    int fd = open(argv[i],
                  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY |
                      (append ? O_APPEND : O_TRUNC),
                  0666);
    if (fd < 0) {
      cli_err(-errno, argv[i], NULL);
      rc = EXIT_FAIL;
      continue;
    }
    fds[n++] = fd;
  }
  splicer_session *s;
  int r = splicer_session_new(&s);
  if (r < 0) {
    cli_err(r, NULL, "cannot create a session");
    rc = EXIT_FAIL;
    goto out;
  }
  /* a fan-out with an O_APPEND destination (-a, or stdout opened with >>)
   * is handled by the session: splice refuses those, so it uses read/write */
  if (r >= 0)
    r = splicer_open_tee(s, STDIN_FILENO, SPLICER_OFF_CUR, fds, n,
                         SPLICER_TO_EOF);
  if (r < 0) {
    cli_err(r, NULL, "cannot start the fan-out");
    rc = EXIT_FAIL;
  } else {
    int64_t got = splicer_run(s);
    if (got == -EPIPE) {
      rc = EXIT_PIPE; /* a reader is gone: quietly, as tee(1) on SIGPIPE */
    } else if (got < 0) {
      splicer_progress p;
      splicer_progress_get(s, &p, sizeof p);
      cli_err((int)got, NULL, "stopped after %llu bytes",
              (unsigned long long)p.delivered);
      rc = EXIT_FAIL;
    }
  }
  splicer_session_free(s);
out:
  for (size_t k = 1; k < n; k++)
    if (close(fds[k]) < 0 && rc == EXIT_OK) {
      cli_err(-errno, NULL, "closing an output");
      rc = EXIT_FAIL;
    }
  return rc;
}
