/* No fd leaks over 10,000 sessions, every internal fd close-on-exec, no
 * internal fd survives exec. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  int before = tu_count_fds();
  int in = tu_file(100000, 1), sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  for (int i = 0; i < 10000; i++) {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    /* staged transfer: creates the internal pipe */
    CHECK_EQ(write(sv[1], "abcdefgh", 8), 8);
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, 8), 0);
    CHECK_EQ(splicer_run(s), 8);
    if (i % 3 == 0) {
      int fds[3] = {out, out, out};
      CHECK_EQ(splicer_open_tee(s, in, 0, fds, 3, 10), 0);
      CHECK_EQ(splicer_run(s), 10);
    }
    splicer_session_free(s);
  }
  /* the pool keeps the empty pipes for reuse: at most its idle cap */
  splicer_pool_stats ps;
  CHECK_EQ(splicer_pool_stats_get(&ps, sizeof ps), 0);
  CHECK_EQ(ps.in_use, 0);
  CHECK(ps.idle >= 1 && ps.idle <= 32, "idle %llu", (unsigned long long)ps.idle);
  CHECK_EQ(tu_count_fds(), before + 4 + 2 * (int)ps.idle);
  CHECK_EQ(splicer_pool_trim(), (int)ps.idle);
  CHECK_EQ(tu_count_fds(), before + 4);
  tu_pass("10,000 sessions, no fd leak");

  /* while a tee holds 4 pipes: every fd the session made is close-on-exec,
   * and none survives exec (a child looks for their pipe inodes) */
  {
    bool was_open[1024] = {false};
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.' && atoi(e->d_name) < 1024 && atoi(e->d_name) != dirfd(d))
        was_open[atoi(e->d_name)] = true;
    closedir(d);
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    int fds[4] = {out, out, out, out};
    CHECK_EQ(splicer_open_tee(s, in, 0, fds, 4, 1000), 0);
    CHECK_EQ(splicer_run(s), 1000);
    char cmd[4096] = "ls -l /proc/self/fd/ | grep -c";
    int made = 0;
    for (int fd = 3; fd < 1024; fd++) {
      if (was_open[fd] || fcntl(fd, F_GETFD) < 0)
        continue;
      CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
      struct stat st;
      CHECK_EQ(fstat(fd, &st), 0);
      size_t len = strlen(cmd);
      snprintf(cmd + len, sizeof cmd - len, " -e 'pipe:\\[%lu\\]'", (unsigned long)st.st_ino);
      made++;
    }
    CHECK_EQ(made, 8); /* 4 pipes, now idle in the pool */
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    int n = -1;
    CHECK(fscanf(p, "%d", &n) == 1, "popen");
    pclose(p);
    CHECK_EQ(n, 0);
    splicer_session_free(s);
  }
  tu_pass("internal fds are close-on-exec");

  close(in); close(out); close(sv[0]); close(sv[1]);
  splicer_pool_trim();
  CHECK_EQ(tu_count_fds(), before);
  return 0;
}
