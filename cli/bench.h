/* Internals of `splicer bench`: fd pairs, contenders, results. */
#ifndef SPLICER_CLI_BENCH_H
#define SPLICER_CLI_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum pair_id {
  PAIR_FILE_NULL,
  PAIR_FILE_PIPE,
  PAIR_PIPE_FILE,
  PAIR_FILE_FILE,
  PAIR_FILE_UNIX,
  PAIR_FILE_TCP,
  PAIR_TCP_TCP,
  PAIR_TEE3,
  PAIR_COUNT
};

struct pair_def {
  const char *id;    /* "file-null": for --pairs and JSON */
  const char *label; /* "file -> /dev/null": for people */
};
extern const struct pair_def bench_pairs[PAIR_COUNT];

enum contender_kind {
  KIND_SPLICER, /* the library in this process, methods limited by a mask */
  KIND_BARE,    /* a bare syscall loop of one method, in this process */
  KIND_PEER     /* another program, spawned with the pair's fds */
};

/* Bare loops: a plain read/write loop and one loop per kernel method. */
enum bare_loop {
  BARE_RW,
  BARE_SENDFILE,
  BARE_CFR,
  BARE_SPLICE,      /* one end is a pipe */
  BARE_SPLICE_PIPE, /* through a pipe of our own */
  BARE_TEE          /* tee(2) fan-out through pipes of our own */
};

struct contender {
  char name[64];
  int kind;
  int method;      /* KIND_SPLICER: enum splicer_method, NONE = auto;
                      KIND_BARE: the splicer method the loop stands for */
  int bare;        /* KIND_BARE: enum bare_loop */
  bool own_pipes;  /* KIND_SPLICER: SPLICER_OPT_POOL 0 (the session's own
                      pipes, as before the pipe pool) */
  const char *cmd; /* KIND_PEER: shell command with {in} {out} {tee} */
};

struct result {
  int pair;
  const struct contender *c;
  bool applies; /* false: the contender cannot serve this pair */
  bool ok;
  char error[160];
  int runs;
  double best_wall, best_cpu; /* seconds, best of the runs */
  double best_thread_cpu;     /* the copying thread's own CPU (in-process
                                 contenders); < 0 for a spawned peer */
  double gbps, gb_per_cpu;    /* derived from the bests */
  double gb_per_thread_cpu;   /* < 0 when not measured */
  double syscalls_per_gib;    /* < 0 when not counted */
  int method_used;            /* KIND_SPLICER: method that moved most */
};

/* The environment of one bench run. */
struct bench_env {
  uint64_t size;
  char dir[512];
  char src_path[600], dst_path[600];
  char fs_name[32];
  int devnull;
  int listener; /* TCP on 127.0.0.1, for the TCP pairs */
  int port;
  bool strace;
};

/* One prepared pair: the fds a contender copies between, plus the helper
 * threads that feed the source or drain the destinations. */
struct fixture {
  const struct bench_env *env;
  int pair;
  int in;              /* what the contender reads */
  int out[3];          /* what it writes: out[0], and out[1..2] for tee */
  int n_out;
  const char *in_path; /* NULL when a peer cannot open the source by name */
  const char *out_path;
  /* helpers */
  int feed_src, feed_dst; /* feeder: file -> pipe/socket */
  int drain[3];
  int n_drain;
  pthread_t feeder_thr, drain_thr;
  bool feeder_on, drain_on;
  uint64_t drained; /* bytes the drain thread threw away */
  int helper_err;   /* -errno of a helper, 0 if fine */
};

int fixture_prepare(struct fixture *f, const struct bench_env *env, int pair);
int fixture_start(struct fixture *f);   /* start helpers: inside the timing */
void fixture_close_outputs(struct fixture *f); /* EOF for the drains */
void fixture_close_input(struct fixture *f);
int fixture_finish(struct fixture *f, uint64_t *arrived); /* join, count */
void fixture_cleanup(struct fixture *f);

/* loops.c: a bare loop; returns bytes moved or -errno, counts syscalls */
int64_t bare_run(int loop, struct fixture *f, uint64_t *syscalls);

/* report.c */
int report_json(const char *path, const struct bench_env *env,
                const struct result *r, size_t n, int repeat);
int report_svg(const char *path, const struct bench_env *env,
               const struct result *r, size_t n);

#endif
