/* A small, strict JSON reader for the case files: RFC 8259 only (no
 * comments, no trailing commas, no duplicate keys), integers kept exact. */
#ifndef CONFORMANCE_JSON_H
#define CONFORMANCE_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype t;
  int b;            /* J_BOOL */
  int is_int;       /* J_NUM: an integer that fits int64 */
  int64_t i;        /* J_NUM when is_int */
  double d;         /* J_NUM */
  char *s;          /* J_STR (NUL-terminated; no embedded NUL accepted) */
  size_t n;         /* J_ARR, J_OBJ: number of items */
  struct jval *items;
  char **keys;      /* J_OBJ: keys[k] names items[k] */
} jval;

/* Parse text[0..len); on failure returns -1 and writes a message with the
 * line number into err. */
int json_parse(const char *text, size_t len, jval *out, char *err, size_t errlen);
void json_free(jval *v);

/* Lookups that return NULL when absent or of another type. */
const jval *json_get(const jval *obj, const char *key);
const char *json_str(const jval *obj, const char *key);
int json_int(const jval *obj, const char *key, int64_t *out); /* 1 found, 0 not */
int json_bool(const jval *obj, const char *key, int dflt);

#endif
