/* The reference conformance runner: shared state of one case. */
#ifndef CONFORMANCE_RUNNER_H
#define CONFORMANCE_RUNNER_H

#include "json.h"

#include <pthread.h>
#include <splicer.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_FIXTURES 32
#define MAX_SESSIONS 8

struct bytes {
  unsigned char *p;
  size_t n, cap;
};

struct reader {
  pthread_t thread;
  int running;
  int fd;
  int64_t reads[16];
  size_t n_reads;
  int pause_ms;
  struct bytes got;
  int err;
};

struct fixture {
  const jval *spec;
  const char *name;
  const char *kind;
  int fd;          /* the end the case uses; -1 for "invalid" */
  int peer;        /* the runner's end, -1 if none or closed */
  int peer_reads;  /* the peer is where bytes sent to fd arrive */
  int peer_closed_by_case; /* close_peer: what arrived was read before */
  int dgram;       /* datagram fixture: the peer reads whole datagrams */
  size_t max_datagram; /* largest datagram the peer received */
  int shares_file; /* same_as: another fixture's file, unlinked by it */
  int is_file;     /* file or memfd: arrived = content */
  int readable;    /* fd may be read (file content collection) */
  char path[512];  /* file: its path */
  char mnt[512];   /* file on its own tmpfs: the mount point */
  struct reader rd;
  int has_reader;
  struct bytes arrived;
};

struct ctx {
  splicer_session *s; /* the current session (use_session) */
  splicer_session *sessions[MAX_SESSIONS];
  const char *session_names[MAX_SESSIONS];
  size_t n_sessions;
  splicer_pool_stats pool_start; /* the pool's counters when the case began */
  struct fixture fx[MAX_FIXTURES];
  size_t n_fx;
  const char *rundir;
  unsigned case_no;
  char detail[1024]; /* FAIL detail or SKIP reason */
  int skip;
  void *sealed;         /* memory of the last buffer handed over */
  size_t sealed_size;
  void *raw_bufs[64];   /* vmsplice'd memory: kept until the case ends */
  size_t n_raw_bufs;
};

/* util.c */
uint8_t pattern_byte(uint32_t seed, uint64_t i);
void pattern_fill(unsigned char *p, size_t n, uint32_t seed, uint64_t offset);
uint64_t fnv1a64(const unsigned char *p, size_t n);
int bytes_append(struct bytes *b, const void *p, size_t n);
void bytes_free(struct bytes *b);
int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A data spec into a fresh malloc'd buffer; *n receives its size. */
unsigned char *data_make(struct ctx *c, const jval *spec, size_t *n);
const char *result_str(int64_t r, char *buf, size_t len);
const char *expect_str(const jval *e, char *buf, size_t len);
/* 1 when the result r (a count or -errno) meets the expectation e. */
int result_matches(const jval *e, int64_t r);
/* 1 when the value v meets a number expectation (integer or range). */
int number_matches(const jval *e, int64_t v);
int method_from_name(const char *name);
/* A method mask from an integer or an array of names; -1 if malformed. */
int64_t mask_from(const jval *v);
int count_fds(void);

/* fixture.c */
int fixtures_setup(struct ctx *c, const jval *fixtures);
struct fixture *fixture_find(struct ctx *c, const char *name);
struct fixture *fixture_by_fd(struct ctx *c, int fd);
/* Read what the peer can give now without blocking, at most max bytes
 * (0: no limit); one read only when once is set.  Returns the count or -1. */
int64_t fixture_drain(struct ctx *c, struct fixture *f, size_t max, int once);
int fixture_write_peer(struct ctx *c, struct fixture *f, const unsigned char *p, size_t n);
int fixture_close_peer(struct fixture *f);
/* The peer of a datagram fixture sends one datagram.  Returns the count or
 * -1 (the case has failed). */
int64_t fixture_send_datagram(struct ctx *c, struct fixture *f, const unsigned char *p, size_t n);
/* The end of a case: collect, compare with "arrived", release everything. */
int fixtures_finish(struct ctx *c, const jval *arrived, int check);

/* ops.c */
int run_step(struct ctx *c, const jval *step, size_t index);

#endif
