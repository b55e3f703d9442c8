#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
  const char *p, *end, *start;
  char *err;
  size_t errlen;
  int depth;
};

static int fail(struct parser *ps, const char *what) {
  int line = 1;
  for (const char *q = ps->start; q < ps->p && q < ps->end; q++)
    line += *q == '\n';
  snprintf(ps->err, ps->errlen, "line %d: %s", line, what);
  return -1;
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int literal(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail(ps, "invalid literal");
  ps->p += n;
  return 0;
}

static int hex4(struct parser *ps, unsigned *out) {
  if (ps->end - ps->p < 4)
    return fail(ps, "short \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = *ps->p++;
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return fail(ps, "bad \\u escape");
  }
  *out = v;
  return 0;
}

static void put_utf8(char *buf, size_t *n, unsigned cp) {
  if (cp < 0x80) {
    buf[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    buf[(*n)++] = (char)(0xc0 | (cp >> 6));
    buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    buf[(*n)++] = (char)(0xe0 | (cp >> 12));
    buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    buf[(*n)++] = (char)(0xf0 | (cp >> 18));
    buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
  }
}

/* The escaped form is never shorter than the decoded one, so a buffer of
 * the raw length is enough. */
static int parse_string(struct parser *ps, char **out) {
  ps->p++; /* opening quote */
  const char *q = ps->p;
  while (q < ps->end && *q != '"') {
    if (*q == '\\')
      q++;
    q++;
  }
  if (q >= ps->end)
    return fail(ps, "unterminated string");
  char *buf = malloc((size_t)(q - ps->p) + 1);
  if (!buf)
    return fail(ps, "out of memory");
  size_t n = 0;
  while (*ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p++;
    if (c < 0x20) {
      free(buf);
      return fail(ps, "control character in string");
    }
    if (c != '\\') {
      buf[n++] = (char)c;
      continue;
    }
    char e = *ps->p++;
    unsigned cp;
    switch (e) {
    case '"': buf[n++] = '"'; break;
    case '\\': buf[n++] = '\\'; break;
    case '/': buf[n++] = '/'; break;
    case 'b': buf[n++] = '\b'; break;
    case 'f': buf[n++] = '\f'; break;
    case 'n': buf[n++] = '\n'; break;
    case 'r': buf[n++] = '\r'; break;
    case 't': buf[n++] = '\t'; break;
    case 'u':
      if (hex4(ps, &cp) < 0) {
        free(buf);
        return -1;
      }
      if (cp >= 0xd800 && cp < 0xdc00) {
        unsigned lo;
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
          free(buf);
          return fail(ps, "lone surrogate");
        }
        ps->p += 2;
        if (hex4(ps, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
          free(buf);
          return fail(ps, "bad surrogate pair");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        free(buf);
        return fail(ps, "lone surrogate");
      }
      if (cp == 0) {
        free(buf);
        return fail(ps, "NUL in string");
      }
      put_utf8(buf, &n, cp);
      break;
    default:
      free(buf);
      return fail(ps, "bad escape");
    }
  }
  ps->p++; /* closing quote */
  buf[n] = 0;
  *out = buf;
  return 0;
}

static int parse_number(struct parser *ps, jval *v) {
  const char *s = ps->p;
  const char *q = s;
  int integral = 1;
  if (q < ps->end && *q == '-')
    q++;
  if (q >= ps->end || *q < '0' || *q > '9')
    return fail(ps, "bad number");
  if (*q == '0')
    q++;
  else
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  if (q < ps->end && *q == '.') {
    integral = 0;
    q++;
    if (q >= ps->end || *q < '0' || *q > '9')
      return fail(ps, "bad fraction");
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    if (q < ps->end && (*q == '+' || *q == '-'))
      q++;
    if (q >= ps->end || *q < '0' || *q > '9')
      return fail(ps, "bad exponent");
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  }
  char tmp[64];
  size_t n = (size_t)(q - s);
  if (n >= sizeof tmp)
    return fail(ps, "number too long");
  memcpy(tmp, s, n);
  tmp[n] = 0;
  v->t = J_NUM;
  v->d = strtod(tmp, NULL);
  if (integral) {
    /* exact: accumulate with an overflow check instead of strtoll's clamp */
    const char *d = tmp[0] == '-' ? tmp + 1 : tmp;
    uint64_t acc = 0, lim = tmp[0] == '-' ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int ok = 1;
    for (; *d; d++) {
      unsigned dig = (unsigned)(*d - '0');
      if (acc > (lim - dig) / 10) {
        ok = 0;
        break;
      }
      acc = acc * 10 + dig;
    }
    if (ok) {
      v->is_int = 1;
      v->i = tmp[0] == '-' ? (int64_t)(0 - acc) : (int64_t)acc;
    }
  }
  ps->p = q;
  return 0;
}

static int parse_value(struct parser *ps, jval *v);

static int push(jval **items, size_t *n, size_t *cap) {
  if (*n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 4;
  jval *ni = realloc(*items, nc * sizeof **items);
  if (!ni)
    return -1;
  *items = ni;
  *cap = nc;
  return 0;
}

static int parse_array(struct parser *ps, jval *v) {
  size_t cap = 0;
  v->t = J_ARR;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return 0;
  }
  for (;;) {
    if (push(&v->items, &v->n, &cap) < 0)
      return fail(ps, "out of memory");
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    if (parse_value(ps, &v->items[v->n]) < 0) {
      json_free(&v->items[v->n]);
      return -1;
    }
    v->n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      return 0;
    }
    return fail(ps, "expected , or ] in array");
  }
}

static int parse_object(struct parser *ps, jval *v) {
  size_t cap = 0;
  v->t = J_OBJ;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    return 0;
  }
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
      return fail(ps, "expected a key");
    char *key;
    if (parse_string(ps, &key) < 0)
      return -1;
    for (size_t k = 0; k < v->n; k++)
      if (strcmp(v->keys[k], key) == 0) {
        free(key);
        return fail(ps, "duplicate key");
      }
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
      free(key);
      return fail(ps, "expected :");
    }
    ps->p++;
    size_t oldcap = cap;
    if (push(&v->items, &v->n, &cap) < 0) {
      free(key);
      return fail(ps, "out of memory");
    }
    if (cap != oldcap) {
      char **nk = realloc(v->keys, cap * sizeof *nk);
      if (!nk) {
        free(key);
        return fail(ps, "out of memory");
      }
      v->keys = nk;
    }
    v->keys[v->n] = key;
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    if (parse_value(ps, &v->items[v->n]) < 0) {
      json_free(&v->items[v->n]);
      free(key);
      return -1;
    }
    v->n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      return 0;
    }
    return fail(ps, "expected , or } in object");
  }
}

static int parse_value(struct parser *ps, jval *v) {
  skip_ws(ps);
  if (ps->p >= ps->end)
    return fail(ps, "unexpected end");
  if (++ps->depth > 64)
    return fail(ps, "nested too deeply");
  int r;
  switch (*ps->p) {
  case '{': r = parse_object(ps, v); break;
  case '[': r = parse_array(ps, v); break;
  case '"': v->t = J_STR; r = parse_string(ps, &v->s); break;
  case 't': v->t = J_BOOL; v->b = 1; r = literal(ps, "true"); break;
  case 'f': v->t = J_BOOL; v->b = 0; r = literal(ps, "false"); break;
  case 'n': v->t = J_NULL; r = literal(ps, "null"); break;
  default: r = parse_number(ps, v); break;
  }
  ps->depth--;
  return r;
}

int json_parse(const char *text, size_t len, jval *out, char *err, size_t errlen) {
  struct parser ps = {text, text + len, text, err, errlen, 0};
  memset(out, 0, sizeof *out);
  if (parse_value(&ps, out) < 0) {
    json_free(out);
    return -1;
  }
  skip_ws(&ps);
  if (ps.p != ps.end) {
    json_free(out);
    return fail(&ps, "trailing characters");
  }
  return 0;
}

void json_free(jval *v) {
  if (!v)
    return;
  for (size_t k = 0; k < v->n; k++) {
    json_free(&v->items[k]);
    if (v->keys)
      free(v->keys[k]);
  }
  free(v->items);
  free(v->keys);
  free(v->s);
  memset(v, 0, sizeof *v);
}

const jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->t != J_OBJ)
    return NULL;
  for (size_t k = 0; k < obj->n; k++)
    if (strcmp(obj->keys[k], key) == 0)
      return &obj->items[k];
  return NULL;
}

const char *json_str(const jval *obj, const char *key) {
  const jval *v = json_get(obj, key);
  return v && v->t == J_STR ? v->s : NULL;
}

int json_int(const jval *obj, const char *key, int64_t *out) {
  const jval *v = json_get(obj, key);
  if (!v || v->t != J_NUM || !v->is_int)
    return 0;
  *out = v->i;
  return 1;
}

int json_bool(const jval *obj, const char *key, int dflt) {
  const jval *v = json_get(obj, key);
  return v && v->t == J_BOOL ? v->b : dflt;
}
