/*
 * splicer.i -- the language-neutral part of splicer's SWIG interface.
 *
 * It includes the real public header, so the generated layer can never
 * drift from the C API, and only says what cannot be bound as it stands.
 * A language file (splicer_lua.i) declares the %module, its typemaps for
 * counts, -errno results, fds and out-parameters, and then includes this.
 */

%{
#include <errno.h>
#include <string.h>

#include "splicer.h"
%}

/* Names lose their prefix: the module is already called splicer, so Lua
 * code reads core.splice(...), core.OPT_CHUNK, core.METHOD_TEE. */
%rename("%(regex:/^(splicer|SPLICER)_(.+)$/\\2/)s") "";

/* Attribute macro of the header, meaningless to SWIG's parser. */
#define SPLICER_API

/* A raw address is of no use to a script and would let it write into a
 * sealed buffer: buffers are filled and read through buf_write/buf_read. */
%ignore splicer_buf_data;

/* These travel as tables (see the out-parameter typemaps), not as proxy
 * objects with per-field accessors. */
%ignore splicer_progress;
%ignore splicer_stats;

/* Opaque handles.  Declaring the structs empty makes them SWIG classes so
 * that a collected handle that is still owned is freed by its destructor;
 * neither has a constructor (the _new functions are the constructors). */
%nodefaultctor splicer_session;
%nodefaultctor splicer_buf;
struct splicer_session {};
struct splicer_buf {};
%extend splicer_session {
  ~splicer_session() { splicer_session_free($self); }
}
%extend splicer_buf {
  ~splicer_buf() { splicer_buf_free($self); }
}

/* Constants the parser cannot evaluate (UINT64_MAX) or that a transfer loop
 * needs to decode splicer_wait(). */
%{
#include <poll.h>
%}
%constant int POLLIN = POLLIN;
%constant int POLLOUT = POLLOUT;

/* UINT64_MAX is beyond the parser, and -1 is what a script can write in
 * every Lua: the language files map a length of -1 to SPLICER_TO_EOF. */
%constant int TO_EOF = -1;

/* Buffer access without raw pointers.  They return bytes copied, or -EINVAL
 * for a range outside the buffer or a buffer that was handed over. */
%rename(buf_write) swig_splicer_buf_write;
%inline %{
static int64_t swig_splicer_buf_write(splicer_buf *buf, size_t offset,
                                      const char *bytes, size_t nbytes) {
  size_t size = splicer_buf_size(buf);
  if (!buf || offset > size || nbytes > size - offset)
    return -EINVAL;
  memcpy((char *)splicer_buf_data(buf) + offset, bytes, nbytes);
  return (int64_t)nbytes;
}
%}

%include "splicer.h"
