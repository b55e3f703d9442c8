/* Error names and messages.  A fixed table keeps them identical across C
 * libraries and lets every binding show the same text. */
#include "internal.h"

#include <errno.h>
#include <stddef.h>

struct errinfo {
  int code;
  const char *name;
  const char *message;
};

#define E(code, msg) {code, #code, msg}
static const struct errinfo errtab[] = {
    E(EPERM, "Operation not permitted"),
    E(ENOENT, "No such file or directory"),
    E(EINTR, "Interrupted system call"),
    E(EIO, "Input/output error"),
    E(ENXIO, "No such device or address"),
    E(E2BIG, "Argument list too long"),
    E(EBADF, "Bad file descriptor"),
    E(EAGAIN, "Resource temporarily unavailable"),
    E(ENOMEM, "Cannot allocate memory"),
    E(EACCES, "Permission denied"),
    E(EFAULT, "Bad address"),
    E(EBUSY, "Device or resource busy"),
    E(EEXIST, "File exists"),
    E(EXDEV, "Invalid cross-device link"),
    E(ENODEV, "No such device"),
    E(ENOTDIR, "Not a directory"),
    E(EISDIR, "Is a directory"),
    E(EINVAL, "Invalid argument"),
    E(ENFILE, "Too many open files in system"),
    E(EMFILE, "Too many open files"),
    E(ETXTBSY, "Text file busy"),
    E(EFBIG, "File too large"),
    E(ENOSPC, "No space left on device"),
    E(ESPIPE, "Illegal seek"),
    E(EROFS, "Read-only file system"),
    E(EPIPE, "Broken pipe"),
    E(ERANGE, "Numerical result out of range"),
    E(ENOSYS, "Function not implemented"),
    E(EOVERFLOW, "Value too large for defined data type"),
    E(ENOTSOCK, "Socket operation on non-socket"),
    E(EOPNOTSUPP, "Operation not supported"),
    E(ENETDOWN, "Network is down"),
    E(ENETUNREACH, "Network is unreachable"),
    E(ECONNABORTED, "Software caused connection abort"),
    E(ECONNRESET, "Connection reset by peer"),
    E(ENOBUFS, "No buffer space available"),
    E(ENOTCONN, "Transport endpoint is not connected"),
    E(ESHUTDOWN, "Cannot send after transport endpoint shutdown"),
    E(ETIMEDOUT, "Connection timed out"),
    E(ECONNREFUSED, "Connection refused"),
    E(EHOSTUNREACH, "No route to host"),
    E(EALREADY, "Operation already in progress"),
    E(EINPROGRESS, "Operation now in progress"),
    E(EDQUOT, "Disk quota exceeded"),
    E(ECANCELED, "Operation canceled"),
};
#undef E

static const struct errinfo *lookup(int err) {
  if (err < 0)
    err = -err;
  for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
    if (errtab[i].code == err)
      return &errtab[i];
  return NULL;
}

const char *splicer_strerror(int err) {
  if (err == 0)
    return "Success";
  const struct errinfo *e = lookup(err);
  return e ? e->message : "Unknown error";
}

const char *splicer_errname(int err) {
  if (err == 0)
    return "OK";
  const struct errinfo *e = lookup(err);
  return e ? e->name : "EUNKNOWN";
}
