/* Library-owned buffers for vmsplice.  Handing one over seals it read-only:
 * the pipe refers to these pages, so a later write must fault rather than
 * silently change bytes a reader has not consumed yet. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int splicer_buf_new(splicer_buf **out, size_t size) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (size == 0 || size > ((size_t)1 << 40))
    return -EINVAL;
  splicer_buf *b = calloc(1, sizeof *b);
  if (!b)
    return -ENOMEM;
  b->size = size;
  b->map_size = (size + (size_t)page - 1) & ~((size_t)page - 1);
  void *p = mmap(NULL, b->map_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    free(b);
    return -ENOMEM;
  }
  b->data = p;
  *out = b;
  return 0;
}

void *splicer_buf_data(splicer_buf *b) { return b ? b->data : NULL; }

size_t splicer_buf_size(const splicer_buf *b) { return b ? b->size : 0; }

void splicer_buf_free(splicer_buf *b) {
  if (!b)
    return;
  /* Pages still referenced by a pipe or socket stay alive until the kernel
   * drops them; unmapping only removes our view, which nobody can write. */
  munmap(b->data, b->map_size);
  free(b);
}

int splicer__buf_seal(splicer_buf *b) {
  if (mprotect(b->data, b->map_size, PROT_READ) < 0)
    return -errno;
  b->sealed = true;
  return 0;
}
