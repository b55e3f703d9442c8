/* A source file truncated while it is being copied: the transfer stops
 * cleanly at the new end of file (no error, no hang), the counts are exact
 * (delivered == bytes at the destination == how far the source position
 * moved), and every delivered byte is the file's original byte.
 *
 * The new size is page-aligned: truncating to the middle of a page zeroes
 * the rest of that page in the page cache, and a pipe or socket may still
 * refer to it (the page-reference caveat of docs/SECURITY.md), so bytes
 * past an unaligned cut could legitimately read as zeros downstream. */
#include "hardening.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (64 << 20)
#define CUT (8 << 20)

static int cases;
static uint64_t total;

struct cutter {
  int src;
  int watch;    /* a destination file whose growth triggers the cut, or -1 */
  struct tu_reader *reader;
};
static void *cut_soon(void *arg) {
  struct cutter *c = arg;
  /* wait until the copy is under way, then cut */
  for (int i = 0; i < 20000; i++) {
    struct stat st;
    if (c->watch >= 0 && fstat(c->watch, &st) == 0 && st.st_size > (1 << 20))
      break;
    if (c->reader && __atomic_load_n(&c->reader->len, __ATOMIC_RELAXED) > (1 << 20))
      break;
    usleep(50);
  }
  CHECK_EQ(ftruncate(c->src, CUT), 0);
  return NULL;
}

static void check_result(splicer_session *s, int src, int64_t res,
                         uint64_t got_bytes, const char *what) {
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(res >= 0, "%s: %lld (%s)", what, (long long)res, tu_name(res));
  CHECK(p.finished && p.pending == 0 && p.consumed == p.delivered,
        "%s: not finished cleanly", what);
  CHECK((uint64_t)res == p.delivered && got_bytes == p.delivered,
        "%s: returned %lld, delivered %llu, destination has %llu", what,
        (long long)res, (unsigned long long)p.delivered,
        (unsigned long long)got_bytes);
  CHECK(p.delivered >= CUT && p.delivered < SIZE,
        "%s: delivered %llu (cut at %d)", what,
        (unsigned long long)p.delivered, CUT);
  CHECK_EQ(lseek(src, 0, SEEK_CUR), (off_t)p.delivered);
  total += p.delivered;
  cases++;
  printf("  %-24s stopped after %llu bytes (cut at %d)\n", what,
         (unsigned long long)p.delivered, CUT);
}

static void to_file(int method) {
  char what[64];
  snprintf(what, sizeof what, "file->file %s",
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  /* small chunks: the cut lands mid-transfer */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 65536), 0);
  int in = tu_file(SIZE, 17), out = tu_tmpfile();
  struct cutter c = {in, out, NULL};
  pthread_t t;
  pthread_create(&t, NULL, cut_soon, &c);
  int64_t res = splicer_copy(s, in, out, SPLICER_TO_EOF);
  pthread_join(t, NULL);
  off_t size = lseek(out, 0, SEEK_END);
  check_result(s, in, res, (uint64_t)size, what);
  tu_check_file(out, 0, (size_t)size, 17, 0);
  close(in);
  close(out);
  splicer_session_free(s);
}

static void to_stream(int kind, int method) {
  char what[64];
  snprintf(what, sizeof what, "file->%s %s", h_kind_name(kind),
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 65536), 0);
  int in = tu_file(SIZE, 17);
  struct h_end d;
  h_end_open(&d, kind, false);
  /* a slow reader keeps the transfer going while the cut happens */
  struct tu_reader r = {.chunk = 16384};
  tu_reader_start(&r, d.peer, 0);
  struct cutter c = {in, -1, &r};
  pthread_t t;
  pthread_create(&t, NULL, cut_soon, &c);
  int64_t res = splicer_copy(s, in, d.fd, SPLICER_TO_EOF);
  pthread_join(t, NULL);
  if (kind == H_PIPE) {
    close(d.fd);
    d.fd = -1;
  } else {
    shutdown(d.fd, SHUT_WR);
  }
  tu_reader_join(&r);
  check_result(s, in, res, r.len, what);
  unsigned char *want = malloc(r.len + 1);
  tu_fill(want, r.len, 17, 0);
  CHECK(memcmp(r.data, want, r.len) == 0, "%s: bytes differ", what);
  free(want);
  tu_reader_free(&r);
  h_end_close(&d);
  close(in);
  splicer_session_free(s);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  double t0 = h_now();
  to_file(0);
  to_file(SPLICER_METHOD_SENDFILE);
  to_file(SPLICER_METHOD_SPLICE_PIPE);
  to_file(SPLICER_METHOD_READ_WRITE);
  to_stream(H_PIPE, 0);
  to_stream(H_UNIX, 0);
  to_stream(H_TCP, SPLICER_METHOD_SPLICE_PIPE);
  to_stream(H_UNIX, SPLICER_METHOD_READ_WRITE);
  h_result("fault_truncate", "cases=%d bytes=%llu cut=%d seconds=%.1f", cases,
           (unsigned long long)total, CUT, h_now() - t0);
  tu_pass("source truncated mid-transfer: clean stop, exact counts");
  return 0;
}
