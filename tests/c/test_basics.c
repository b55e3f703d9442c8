/* Version, error names, method names, session lifecycle and options. */
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  CHECK_EQ(splicer_version_number(), SPLICER_VERSION_NUMBER);
  CHECK(strcmp(splicer_version_string(), SPLICER_VERSION_STRING) == 0, "version");
  tu_pass("version");

  CHECK(strcmp(splicer_errname(-EAGAIN), "EAGAIN") == 0, "errname");
  CHECK(strcmp(splicer_errname(EPIPE), "EPIPE") == 0, "positive errname");
  CHECK(strcmp(splicer_errname(0), "OK") == 0, "errname 0");
  CHECK(strcmp(splicer_errname(-99999), "EUNKNOWN") == 0, "unknown errname");
  CHECK(strcmp(splicer_strerror(-EAGAIN), "Resource temporarily unavailable") == 0, "strerror");
  CHECK(strcmp(splicer_strerror(-EPIPE), "Broken pipe") == 0, "strerror EPIPE");
  CHECK(strcmp(splicer_strerror(-99999), "Unknown error") == 0, "strerror unknown");
  tu_pass("errors");

  const char *names[] = {"none", "copy_file_range", "sendfile", "splice",
                         "splice_pipe", "tee", "vmsplice", "read_write"};
  for (int i = 0; i < SPLICER_METHOD_COUNT; i++)
    CHECK(strcmp(splicer_method_name(i), names[i]) == 0, "method %d", i);
  CHECK(strcmp(splicer_method_name(-1), "unknown") == 0, "method -1");
  CHECK(strcmp(splicer_method_name(SPLICER_METHOD_COUNT), "unknown") == 0, "method count");
  tu_pass("method names");

  CHECK_EQ(splicer_session_new(NULL), -EINVAL);
  splicer_session_free(NULL);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int64_t v;
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 262144);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_CHUNK, &v), 0);
  CHECK_EQ(v, 1 << 20);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_NONBLOCK, &v), 0);
  CHECK_EQ(v, 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_FALLBACK, &v), 0);
  CHECK_EQ(v, 1);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_SIGPIPE, &v), 0);
  CHECK_EQ(v, 1);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_METHODS, &v), 0);
  CHECK_EQ(v, 0xfe);
  CHECK_EQ(splicer_session_get(s, 12345, &v), -EINVAL);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_CHUNK, NULL), -EINVAL);
  CHECK_EQ(splicer_session_get(NULL, SPLICER_OPT_CHUNK, &v), -EINVAL);
  tu_pass("option defaults");

  CHECK_EQ(splicer_session_set(s, 12345, 1), -EINVAL);
  CHECK_EQ(splicer_session_set(NULL, SPLICER_OPT_CHUNK, 1), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 0), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, -5), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, (1LL << 30) + 1), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 2), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_FALLBACK, -1), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_SIGPIPE, 7), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 0), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1), -EINVAL);   /* NONE */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 0x100), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 100), -EINVAL);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 4096), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_CHUNK, &v), 0);
  CHECK_EQ(v, 4096);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << SPLICER_METHOD_READ_WRITE), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_METHODS, &v), 0);
  CHECK_EQ(v, 1 << SPLICER_METHOD_READ_WRITE);
  tu_pass("option validation");

  /* the pipe size reported is the kernel's: rounded up to a power of two
   * pages once a pipe exists */
  int in = tu_file(10000, 1), p[2];
  tu_pipe(p);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 0xfe), 0);
  /* the session's own pipes: without the pool */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_POOL, 0), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 70000), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 70000); /* no pipe yet: what was asked */
  int sv[2];
  tu_socketpair(sv);
  int out = tu_tmpfile();
  /* socket -> file is staged: it creates the internal pipe */
  CHECK_EQ(write(sv[1], "hello", 5), 5);
  CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, SPLICER_OFF_CUR, 5), 0);
  CHECK_EQ(splicer_run(s), 5);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 131072);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 4096), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 4096);
  /* with the pool: the lesser of the option and the pool pipes' size */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_POOL, 1), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 4096);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 1 << 24), 0);
  CHECK_EQ(splicer_session_get(s, SPLICER_OPT_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 262144);
  tu_pass("pipe size reflects the kernel");

  splicer_stats st;
  CHECK_EQ(splicer_stats_get(s, &st, 0), -EINVAL);
  CHECK_EQ(splicer_stats_get(s, NULL, sizeof st), -EINVAL);
  CHECK_EQ(splicer_stats_get(s, &st, sizeof st), 0);
  CHECK_EQ(st.bytes, 5);
  CHECK_EQ(st.bytes_by_method[SPLICER_METHOD_SPLICE_PIPE], 5);
  /* an older, smaller struct gets the fields it has */
  uint64_t just_bytes = 0;
  CHECK_EQ(splicer_stats_get(s, (splicer_stats *)(void *)&just_bytes, sizeof just_bytes), 0);
  CHECK_EQ(just_bytes, 5);
  splicer_progress pr;
  CHECK_EQ(splicer_progress_get(s, &pr, 4), -EINVAL);
  CHECK_EQ(splicer_progress_get(s, &pr, sizeof pr), 0);
  CHECK(pr.finished == 1 && pr.delivered == 5 && pr.pending == 0 && pr.consumed == 5,
        "progress %d %llu", pr.finished, (unsigned long long)pr.delivered);
  tu_pass("stats and progress sizes");

  int fd; short ev;
  CHECK_EQ(splicer_wait(s, &fd, &ev), -EINVAL); /* no -EAGAIN happened */
  CHECK_EQ(splicer_step(s), 0);                 /* finished */
  CHECK_EQ(splicer_step(NULL), -EINVAL);
  CHECK_EQ(splicer_run(NULL), -EINVAL);
  CHECK_EQ(splicer_abort(NULL), -EINVAL);
  CHECK_EQ(splicer_abort(s), 0);
  tu_pass("calls without a transfer");

  splicer_session_free(s);
  close(in); close(out); close(p[0]); close(p[1]); close(sv[0]); close(sv[1]);
  return 0;
}
