#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The suite's byte generator (tests/README.md section 2): random access,
 * 32-bit arithmetic only, so every language computes it the same way. */
uint8_t pattern_byte(uint32_t seed, uint64_t i) {
  uint32_t x = seed + (uint32_t)i * 2654435761u;
  x ^= x >> 16;
  return (uint8_t)((x ^ (x >> 8)) & 0xff);
}

void pattern_fill(unsigned char *p, size_t n, uint32_t seed, uint64_t offset) {
  for (size_t k = 0; k < n; k++)
    p[k] = pattern_byte(seed, offset + k);
}

uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < n; k++)
    h = (h ^ p[k]) * 0x100000001b3ull;
  return h;
}

int bytes_append(struct bytes *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + n)
      nc *= 2;
    unsigned char *np = realloc(b->p, nc);
    if (!np)
      return -1;
    b->p = np;
    b->cap = nc;
  }
  if (n)
    memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

void bytes_free(struct bytes *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

int fail(struct ctx *c, const char *fmt, ...) {
  if (c->detail[0])
    return -1; /* keep the first reason */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  for (char *q = c->detail; *q; q++)
    if (*q == '\n' || *q == '\r')
      *q = ' ';
  return -1;
}

unsigned char *data_make(struct ctx *c, const jval *spec, size_t *n) {
  int64_t size = 0, seed = 1, offset = 0;
  if (!spec || !json_int(spec, "size", &size) || size < 0 || size > (1ll << 32)) {
    fail(c, "bad data spec");
    return NULL;
  }
  json_int(spec, "seed", &seed);
  json_int(spec, "offset", &offset);
  unsigned char *p = malloc(size ? (size_t)size : 1);
  if (!p) {
    fail(c, "out of memory");
    return NULL;
  }
  if (json_bool(spec, "zero", 0))
    memset(p, 0, (size_t)size);
  else
    pattern_fill(p, (size_t)size, (uint32_t)seed, (uint64_t)offset);
  *n = (size_t)size;
  return p;
}

const char *result_str(int64_t r, char *buf, size_t len) {
  if (r < 0)
    snprintf(buf, len, "%s", splicer_errname((int)r));
  else
    snprintf(buf, len, "%" PRId64, r);
  return buf;
}

const char *expect_str(const jval *e, char *buf, size_t len) {
  if (!e)
    snprintf(buf, len, "(anything)");
  else if (e->t == J_NUM && e->is_int)
    snprintf(buf, len, "%" PRId64, e->i);
  else if (e->t == J_STR)
    snprintf(buf, len, "%s", e->s);
  else if (e->t == J_OBJ) {
    int64_t lo, hi;
    int has_lo = json_int(e, "min", &lo), has_hi = json_int(e, "max", &hi);
    char a[32] = "", b[32] = "";
    if (has_lo)
      snprintf(a, sizeof a, "%" PRId64, lo);
    if (has_hi)
      snprintf(b, sizeof b, "%" PRId64, hi);
    snprintf(buf, len, "[%s..%s]", a, b);
  } else
    snprintf(buf, len, "(malformed)");
  return buf;
}

int number_matches(const jval *e, int64_t v) {
  if (!e)
    return 1;
  if (e->t == J_NUM && e->is_int)
    return v == e->i;
  if (e->t == J_OBJ) {
    int64_t lo, hi;
    if (json_int(e, "min", &lo) && v < lo)
      return 0;
    if (json_int(e, "max", &hi) && v > hi)
      return 0;
    return 1;
  }
  return 0;
}

int result_matches(const jval *e, int64_t r) {
  if (!e)
    return 1;
  if (e->t == J_STR)
    return r < 0 && strcmp(splicer_errname((int)r), e->s) == 0;
  if (r < 0)
    return 0;
  return number_matches(e, r);
}

int method_from_name(const char *name) {
  for (int m = 0; m < SPLICER_METHOD_COUNT; m++)
    if (strcmp(splicer_method_name(m), name) == 0)
      return m;
  return -1;
}

int64_t mask_from(const jval *v) {
  if (!v)
    return -1;
  if (v->t == J_NUM && v->is_int)
    return v->i;
  if (v->t != J_ARR)
    return -1;
  int64_t mask = 0;
  for (size_t k = 0; k < v->n; k++) {
    if (v->items[k].t != J_STR)
      return -1;
    int m = method_from_name(v->items[k].s);
    if (m < 0)
      return -1;
    mask |= (int64_t)1 << m;
  }
  return mask;
}

int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}
