/* Helpers shared by the hardening tests: a seeded generator, fd fixtures of
 * every kind, timing and resource probes.  Built on tests/c/testutil. */
#ifndef SPLICER_HARDENING_H
#define SPLICER_HARDENING_H

#include "testutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: tiny, fast, and every 64-bit seed gives a good stream */
typedef struct {
  uint64_t s;
} h_rng;
void h_rng_seed(h_rng *r, uint64_t seed);
uint64_t h_next(h_rng *r);
uint64_t h_below(h_rng *r, uint64_t n); /* 0 .. n-1; 0 for n == 0 */
bool h_chance(h_rng *r, unsigned percent);
uint64_t h_mix(uint64_t a, uint64_t b);

/* fd kinds a transfer can have at either end */
enum h_kind { H_FILE, H_MEMFD, H_PIPE, H_UNIX, H_TCP, H_APPEND, H_KINDS };
const char *h_kind_name(int kind);
bool h_is_stream(int kind); /* pipe or socket: has a peer */

/* One end of a transfer.  fd is what splicer gets; peer is the far end
 * (the write end feeding a source, the read end draining a destination),
 * -1 for files. */
struct h_end {
  int kind;
  int fd;
  int peer;
};
/* a source holding nothing yet (files: empty) */
void h_end_open(struct h_end *e, int kind, bool source);
void h_end_close(struct h_end *e);
/* the whole content of a regular file */
unsigned char *h_slurp(int fd, size_t *len);
/* write all of p to fd (blocking) */
void h_write_all(int fd, const void *p, size_t n);

double h_now(void);              /* seconds, monotonic */
long h_rss_kib(void);            /* VmRSS of this process */
int h_env_int(const char *name, int dflt);

/* one line of the machine-readable summary run.sh collects:
 * "RESULT name key=value ..." */
void h_result(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
