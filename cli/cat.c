/* splicer cat [FILE...]: each FILE (or stdin, or - for stdin) to stdout,
 * whatever stdout is (file, pipe, socket, terminal). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One operand to stdout.  Returns EXIT_OK, EXIT_FAIL or EXIT_PIPE. */
static int cat_one(splicer_session *s, const char *path,
                   const struct stat *out_st) {
  int fd = STDIN_FILENO;
  if (strcmp(path, "-") != 0 &&
      (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
    cli_err(-errno, path, NULL);
    return EXIT_FAIL;
  }
  int rc = EXIT_OK;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    cli_err(-errno, path, NULL);
    rc = EXIT_FAIL;
  } else if (S_ISDIR(st.st_mode)) {
    cli_err(-EISDIR, path, NULL);
    rc = EXIT_FAIL;
  } else if (out_st && S_ISREG(st.st_mode) && st.st_dev == out_st->st_dev &&
             st.st_ino == out_st->st_ino) {
    /* would read what it writes until the disk is full, as cat(1) says */
    cli_msg("%s: input file is output file", path);
    rc = EXIT_FAIL;
  } else {
    int64_t n = splicer_copy(s, fd, STDOUT_FILENO, SPLICER_TO_EOF);
    if (n < 0) {
      splicer_progress p;
      splicer_progress_get(s, &p, sizeof p);
      if (n == -EPIPE) {
        rc = EXIT_PIPE; /* the reader is gone: quietly, like cat(1) */
      } else {
        cli_err((int)n, path, "stopped after %llu bytes",
                (unsigned long long)p.delivered);
        rc = EXIT_FAIL;
      }
      splicer_abort(s);
    }
  }
  if (fd != STDIN_FILENO)
    close(fd);
  return rc;
}

int cmd_cat(int argc, char **argv) {
  cli_prog = "splicer cat";
  int first = 1;
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fprintf(stdout, "usage: splicer cat [FILE...]   (- or no FILE: stdin)\n");
    return EXIT_OK;
  }
  if (argc > 1 && strcmp(argv[1], "--") == 0)
    first = 2;
  else if (argc > 1 && argv[1][0] == '-' && argv[1][1]) {
    cli_msg("unknown option '%s'", argv[1]);
    fprintf(stderr, "usage: splicer cat [FILE...]\n");
    return EXIT_USAGE;
  }
  splicer_session *s;
  int r = splicer_session_new(&s);
  if (r < 0) {
    cli_err(r, NULL, "cannot create a session");
    return EXIT_FAIL;
  }
  struct stat out_st;
  bool out_reg = fstat(STDOUT_FILENO, &out_st) == 0 && S_ISREG(out_st.st_mode);
  int rc = EXIT_OK;
  if (first >= argc) {
    rc = cat_one(s, "-", out_reg ? &out_st : NULL);
  } else {
    for (int i = first; i < argc && rc != EXIT_PIPE; i++) {
      int one = cat_one(s, argv[i], out_reg ? &out_st : NULL);
      if (one != EXIT_OK)
        rc = one;
    }
  }
  splicer_session_free(s);
  return rc;
}
