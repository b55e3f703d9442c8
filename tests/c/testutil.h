/* Shared helpers of the C unit tests: checks, fixtures, a draining reader. */
#ifndef SPLICER_TESTUTIL_H
#define SPLICER_TESTUTIL_H

#include <splicer.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define TU_SKIP 77

/* CHECK(cond, fmt, ...): on failure print where and why, exit 1. */
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* CHECK_EQ for integers, printing both sides and errno names. */
#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    CHECK(a_ == b_, "%lld (%s) != %lld (%s)", a_, tu_name(a_), b_,             \
          tu_name(b_));                                                        \
  } while (0)

const char *tu_name(long long v);
void tu_skip(const char *why);
void tu_pass(const char *name);

/* deterministic bytes: pattern byte i of a stream seeded with seed */
void tu_fill(unsigned char *p, size_t n, uint32_t seed, uint64_t start);
uint64_t tu_fnv(const unsigned char *p, size_t n);

/* A new session limited to one method (0: all methods); exits on failure. */
splicer_session *tu_session(int method);

int tu_tmpfile(void);                         /* unlinked, O_CLOEXEC */
int tu_file(size_t size, uint32_t seed);      /* pattern file, position 0 */
void tu_check_file(int fd, uint64_t off, size_t size, uint32_t seed,
                   uint64_t start);           /* bytes equal the pattern */
void tu_pipe(int p[2]);
void tu_socketpair(int sv[2]);
void tu_tcp_pair(int sv[2]);                  /* connected over 127.0.0.1 */
void tu_set_nonblock(int fd, bool on);
int tu_count_fds(void);

/* A thread that reads fd until EOF (or until want bytes), collecting. */
struct tu_reader {
  int fd;
  size_t want;        /* stop after this many bytes; 0: until EOF */
  size_t chunk;       /* read size */
  unsigned delay_us;  /* pause between reads: a slow consumer */
  unsigned char *data;
  size_t len;
  void *thread;
};
void tu_reader_start(struct tu_reader *r, int fd, size_t want);
void tu_reader_join(struct tu_reader *r);
void tu_reader_free(struct tu_reader *r);

/* Run fn in a forked child; returns its wait status. */
int tu_in_child(void (*fn)(void *), void *arg);

#endif
