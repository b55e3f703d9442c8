/* A tiny RLIMIT_NOFILE: no room for an internal pipe.  A session of its
 * own pipes gives a clear -EMFILE and takes nothing from the source; a
 * pooled session counts a pool miss and moves the batch by read/write.
 * Nothing leaks, and the same session works once fds are free again. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Every fd slot below the limit taken: returns how many were added. */
static int exhaust_fds(int extra[], int max, struct rlimit *old) {
  getrlimit(RLIMIT_NOFILE, old);
  int highest = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while ((e = readdir(d)))
    if (atoi(e->d_name) > highest)
      highest = atoi(e->d_name);
  closedir(d);
  struct rlimit tiny = {(rlim_t)highest + 1, old->rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &tiny) != 0)
    tu_skip("setrlimit(RLIMIT_NOFILE) refused here (valgrind reserves fds)");
  int ne = 0, fd;
  while (ne < max && (fd = dup(0)) >= 0)
    extra[ne++] = fd;
  return ne;
}

static void restore_fds(int extra[], int ne, const struct rlimit *old) {
  for (int i = 0; i < ne; i++)
    close(extra[i]);
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, old), 0);
}

int main(void) {
  int before = tu_count_fds();
  int sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  splicer_pool_set(SPLICER_POOL_MAX_IDLE, 0); /* no spare pipe to fall on */
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_POOL, 0), 0);
    struct rlimit old;
    int extra[1024];
    int ne = exhaust_fds(extra, 1024, &old);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, 1), 0);
    CHECK_EQ(splicer_run(s), -EMFILE);
    splicer_progress pr;
    splicer_progress_get(s, &pr, sizeof pr);
    CHECK(pr.consumed == 0 && pr.pending == 0, "nothing taken on EMFILE");
    CHECK_EQ(splicer_abort(s), 0);
    restore_fds(extra, ne, &old);
    /* the byte is still in the socket, and now it moves */
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, 1), 0);
    CHECK_EQ(splicer_run(s), 1);
    splicer_session_free(s);
  }
  tu_pass("EMFILE is reported by a session of its own pipes, nothing leaked or lost");
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    splicer_pool_stats p0, p1;
    CHECK_EQ(splicer_pool_stats_get(&p0, sizeof p0), 0);
    struct rlimit old;
    int extra[1024];
    int ne = exhaust_fds(extra, 1024, &old);
    unsigned char msg[3000];
    tu_fill(msg, sizeof msg, 7, 0);
    CHECK_EQ(write(sv[1], msg, sizeof msg), (long long)sizeof msg);
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, sizeof msg), 0);
    CHECK_EQ(splicer_run(s), (long long)sizeof msg);
    restore_fds(extra, ne, &old);
    splicer_stats st;
    CHECK_EQ(splicer_stats_get(s, &st, sizeof st), 0);
    CHECK(st.pool_misses >= 1, "pool_misses %llu", (unsigned long long)st.pool_misses);
    CHECK_EQ(st.bytes_by_method[SPLICER_METHOD_READ_WRITE], sizeof msg);
    CHECK_EQ(splicer_pool_stats_get(&p1, sizeof p1), 0);
    CHECK(p1.misses > p0.misses, "pool misses counted");
    CHECK_EQ(p1.in_use, 0);
    tu_check_file(out, 0, sizeof msg, 7, 0);
    splicer_session_free(s);
  }
  tu_pass("EMFILE while borrowing: the batch goes by read/write, nothing lost");
  close(out); close(sv[0]); close(sv[1]);
  splicer_pool_trim();
  CHECK_EQ(tu_count_fds(), before);
  return 0;
}
