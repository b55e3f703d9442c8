/* Shared declarations of the splicer command's subcommands. */
#ifndef SPLICER_CLI_H
#define SPLICER_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "splicer.h"

/* Exit codes, documented in splicer(1) and `splicer --help`. */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,  /* an operand could not be opened, read or written */
  EXIT_USAGE = 2, /* bad options or operands: nothing was done */
  EXIT_PIPE = 141 /* stdout's reader went away (as a shell reports SIGPIPE) */
};

extern const char *cli_prog; /* "splicer cp", ... for messages */

/* Messages: "splicer cp: PATH: ENOENT (No such file or directory)". */
void cli_err(int err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "12.3 MiB" into buf; returns buf. */
const char *cli_human(uint64_t bytes, char *buf, size_t n);
/* "256M", "1G", "4096", "64k" -> bytes; -1 if not a size. */
int64_t cli_parse_size(const char *s);
double cli_now(void); /* monotonic seconds */

/* The terminal progress line (pv style) on stderr. */
struct progress {
  bool on;
  uint64_t total; /* 0 if unknown */
  double start, last;
  size_t width; /* of the last line drawn, to blank it */
};
void progress_init(struct progress *p, uint64_t total, bool on);
void progress_update(struct progress *p, const splicer_session *s, bool force);
void progress_done(struct progress *p, const splicer_session *s);

/* Print a session's statistics to stderr (cp --stats). */
void cli_print_stats(const splicer_session *s);

int cmd_cp(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_tee(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
