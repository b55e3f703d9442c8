/* A tiny RLIMIT_NOFILE: no room for the internal pipe gives a clear
 * -EMFILE, nothing is taken from the source, nothing leaks, and the same
 * session works once fds are free again. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
  int before = tu_count_fds();
  int sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  /* EMFILE: no room for the internal pipe */
  {
    struct rlimit old, tiny;
    getrlimit(RLIMIT_NOFILE, &old);
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    int now = tu_count_fds();
    int highest = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)))
      if (atoi(e->d_name) > highest) highest = atoi(e->d_name);
    closedir(d);
    (void)now;
    tiny.rlim_cur = (rlim_t)highest + 1;
    tiny.rlim_max = old.rlim_max;
    /* fill every slot below the limit */
    int extra[1024], ne = 0;
    if (setrlimit(RLIMIT_NOFILE, &tiny) != 0)
      tu_skip("setrlimit(RLIMIT_NOFILE) refused here (valgrind reserves fds)");
    int fd;
    while (ne < 1024 && (fd = dup(0)) >= 0)
      extra[ne++] = fd;
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, 1), 0);
    CHECK_EQ(splicer_run(s), -EMFILE);
    splicer_progress pr;
    splicer_progress_get(s, &pr, sizeof pr);
    CHECK(pr.consumed == 0 && pr.pending == 0, "nothing taken on EMFILE");
    CHECK_EQ(splicer_abort(s), 0);
    for (int i = 0; i < ne; i++) close(extra[i]);
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* the byte is still in the socket, and now it moves */
    CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, out, 0, 1), 0);
    CHECK_EQ(splicer_run(s), 1);
    splicer_session_free(s);
  }
  tu_pass("EMFILE is reported, nothing leaked or lost");
  close(out); close(sv[0]); close(sv[1]);
  CHECK_EQ(tu_count_fds(), before);
  return 0;
}
