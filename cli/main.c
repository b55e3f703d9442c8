/* splicer: the command-line face of the library.  Dispatches to one file
 * per subcommand. */
#include "cli.h"

#include <string.h>

static void help(FILE *f) {
  fprintf(f,
          "usage: splicer COMMAND [ARGS]\n"
          "Move bytes between files, pipes and sockets inside the kernel\n"
          "(splice, tee, sendfile, copy_file_range), falling back to\n"
          "read/write where the kernel cannot.\n"
          "\n"
          "commands:\n"
          "  cp [-p] [--stats] [-q] SRC DST   copy a file (- is stdin/stdout);\n"
          "                                   progress line on a terminal\n"
          "  cat [FILE...]                    files (or stdin) to stdout\n"
          "  tee [-a] [-i] FILE...            stdin to stdout and each FILE\n"
          "  bench [--size N] [--pairs LIST] [--json FILE] [--svg FILE] ...\n"
          "                                   measure every fd pair and method\n"
          "  --help, --version\n"
          "\n"
          "exit status: 0 success; 1 a file could not be opened, read or\n"
          "written (the message names it and the errno, and the bytes done);\n"
          "2 usage error; 141 the reader of stdout went away (EPIPE).\n"
          "See splicer(1).\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    help(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    help(stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    /* the library actually linked, which is what matters for behaviour */
    printf("splicer %s\n", splicer_version_string());
    return EXIT_OK;
  }
  if (strcmp(cmd, "cp") == 0)
    return cmd_cp(argc - 1, argv + 1);
  if (strcmp(cmd, "cat") == 0)
    return cmd_cat(argc - 1, argv + 1);
  if (strcmp(cmd, "tee") == 0)
    return cmd_tee(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(argc - 1, argv + 1);
  cli_msg("unknown command '%s'", cmd);
  help(stderr);
  return EXIT_USAGE;
}
