"""splicer: zero-copy transfers between file descriptors on Linux.

    import splicer
    with open("in.bin", "rb") as src, socket.create_connection(addr) as dst:
        n = splicer.copy(src, dst)            # sendfile, in the kernel

A *session* picks the fastest method for each pair of fds (copy_file_range,
sendfile, splice, tee, vmsplice), falls back to the next one and finally to
read/write when the kernel refuses, and holds the bytes it took from the
source but could not deliver yet, so that nothing is lost or duplicated.

- Sources and destinations are ints or objects with ``fileno()`` (files,
  sockets, pipes, subprocess pipes).  A buffered writer is flushed first; a
  buffered reader's read-ahead is delivered first, never skipped.
- Failures raise ``OSError`` with the errno, so the usual subclasses apply
  (``BrokenPipeError``, ``BlockingIOError``, ``ConnectionResetError``...);
  the message and the ``method`` attribute name the method in use.  Bad
  arguments raise ``TypeError`` or ``ValueError``.
- Blocking calls release the GIL and can be interrupted (Ctrl-C): the bytes
  the session holds stay pending, and ``Session.resume()`` delivers them.
- ``splicer.aio`` drives transfers from asyncio, ``splicer.raw`` has the
  syscall wrappers, ``splicer.pool`` the process-wide pipe pool.
"""

from __future__ import annotations

import enum
import operator
import selectors
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Final, Literal

from . import _core as _core
from . import core as _gen  # registers the handle classes (their destructors)
from ._ends import Destination, FileLike, HasFileno, Source, _fd_of, min_timeout, write_all

__all__ = [
    "Buf",
    "FdKind",
    "FileLike",
    "KEEP_MAX",
    "HasFileno",
    "METHODS",
    "PoolStats",
    "Progress",
    "Session",
    "Stats",
    "TEE_MAX",
    "copy",
    "copy_range",
    "method_for",
    "tee",
    "version",
    "version_number",
]

Buf = _core.Buf
Progress = _core.Progress
Stats = _core.Stats
PoolStats = _core.PoolStats

version: Final[str] = _gen.version_string()
version_number: Final[int] = _gen.version_number()
TEE_MAX: Final[int] = _gen.TEE_MAX
#: Most fds one session keeps (``Session.keep``).
KEEP_MAX: Final[int] = _gen.KEEP_MAX


class FdKind(enum.IntEnum):
    """What ``Session.keep`` is told about an fd (enum splicer_fd_kind)."""

    UNKNOWN = _gen.FD_UNKNOWN  # classify it now (fstat, fcntl), once
    STREAM = _gen.FD_STREAM  # a SOCK_STREAM socket (TCP, Unix stream)
    DGRAM = _gen.FD_DGRAM  # a SOCK_DGRAM socket
    SEQPACKET = _gen.FD_SEQPACKET  # a SOCK_SEQPACKET socket
    PIPE = _gen.FD_PIPE  # either end of a pipe or FIFO


KindName = Literal["unknown", "stream", "dgram", "seqpacket", "pipe"]
_FD_NONBLOCK: Final[int] = _gen.FD_NONBLOCK
_SOCKET_KINDS: Final[dict[int, FdKind]] = {
    socket.SOCK_STREAM: FdKind.STREAM,
    socket.SOCK_DGRAM: FdKind.DGRAM,
    socket.SOCK_SEQPACKET: FdKind.SEQPACKET,
}


def _kind_number(kind: FdKind | KindName | int) -> int:
    """A kind's number: a name, an FdKind, or an int passed as it is (the C
    library refuses an unknown one with EINVAL)."""
    if isinstance(kind, str):
        try:
            return int(FdKind[kind.upper()])
        except KeyError:
            names = ", ".join(k.name.lower() for k in FdKind)
            raise ValueError(f"unknown fd kind {kind!r} (one of {names})") from None
    if isinstance(kind, bool):
        raise TypeError("kind must be an FdKind, a name or an int, not bool")
    try:
        return operator.index(kind)
    except TypeError:
        raise TypeError(
            f"kind must be an FdKind, a name or an int, not {type(kind).__name__}"
        ) from None


#: Method names, by their number in the C API (0 is "none").
METHODS: Final[tuple[str, ...]] = tuple(_gen.method_name(m) for m in range(_gen.METHOD_COUNT))
_METHOD_NUMBER: Final[dict[str, int]] = {name: m for m, name in enumerate(METHODS)}

_OPTIONS: Final[dict[str, int]] = {
    "pipe_size": _gen.OPT_PIPE_SIZE,
    "chunk": _gen.OPT_CHUNK,
    "nonblock": _gen.OPT_NONBLOCK,
    "fallback": _gen.OPT_FALLBACK,
    "methods": _gen.OPT_METHODS,
    "sigpipe": _gen.OPT_SIGPIPE,
    "pool": _gen.OPT_POOL,
    "lazy_files": _gen.OPT_LAZY_FILES,
}
_TO_EOF: Final = 2**64 - 1
_BOOLEAN_OPTIONS: Final = frozenset({"nonblock", "fallback", "sigpipe", "pool", "lazy_files"})


def _method_mask(methods: Iterable[str] | int) -> int:
    if isinstance(methods, int):
        if isinstance(methods, bool):
            raise TypeError("methods must be method names or a bitmask, not bool")
        return methods
    names = [methods] if isinstance(methods, str) else list(methods)
    mask = 0
    for name in names:
        m = _METHOD_NUMBER.get(name) if isinstance(name, str) else None
        if m is None:
            raise ValueError(f"unknown method {name!r} (one of {', '.join(METHODS[1:])})")
        mask |= 1 << m
    return mask


def _method_names(mask: int) -> frozenset[str]:
    return frozenset(name for m, name in enumerate(METHODS) if mask & (1 << m))


def _check_length(length: int | None) -> int | None:
    """None, or an int in 0 .. 2**64-1 (TypeError, ValueError otherwise)."""
    if length is None:
        return None
    try:
        n = operator.index(length)
    except TypeError:
        raise TypeError(f"length must be an integer or None, not {type(length).__name__}") from None
    if n < 0:
        raise ValueError("length must be >= 0 (None: until end of file)")
    if n > _TO_EOF:
        raise ValueError("length out of range (at most 2**64 - 1)")
    return n


def _wait_for(fd_nonblock: bool, timeouts: list[int]) -> int:
    """How long a blocking step waits: the sockets' timeout, else for ever,
    unless an end is an O_NONBLOCK fd (0: BlockingIOError, as os.read)."""
    t = min_timeout(timeouts)
    return 0 if fd_nonblock and t < 0 else t


def method_for(src: FileLike, dst: FileLike) -> str:
    """Name of the method a transfer from ``src`` to ``dst`` would try first."""
    m: int = _gen.method_for(src, dst)
    return METHODS[m]


class Session(_core.SessionBase):
    """A transfer session: options, one open transfer at a time, statistics.

    ``Session(pipe_size=, chunk=, nonblock=, fallback=, methods=, sigpipe=,
    pool=, lazy_files=)``; every option may be left out (the C defaults).  Use
    it as a context manager, or call ``close()``; an unclosed session is freed
    by the collector.  A session is used by one thread at a time.

    ``lazy_files=True`` saves one ``fcntl(F_GETFL)`` per regular file per
    open (a file not kept): the kernel checks the access mode at the first
    step instead, before any byte moves.  A source not open for reading or a
    destination not open for writing then passes ``open()`` and makes the
    first ``step()``/``run()`` raise ``OSError`` ``EBADF``, with nothing
    moved and the transfer ended as a refused open leaves it (``progress``:
    no method); ``copy()`` and ``copy_range()`` raise the open's error either
    way.  For programs that copy many files once each (``splicer.copy`` uses
    it).

    In blocking mode (the default) ``copy``, ``run`` and ``step`` wait for
    the fds (without the GIL) and can be interrupted; with ``nonblock=True``
    they raise ``BlockingIOError`` instead of waiting, and ``wait()`` tells
    what to wait for.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        pipe_size: int | None = None,
        chunk: int | None = None,
        nonblock: bool = False,
        fallback: bool | None = None,
        methods: Iterable[str] | int | None = None,
        sigpipe: bool | None = None,
        pool: bool | None = None,
        lazy_files: bool | None = None,
    ) -> None:
        # the C session is made by SessionBase; _nonblock is the user's mode,
        # _wait_ms how long a blocking step may wait, decided at open: -1 for
        # ever, 0 when an end is O_NONBLOCK (BlockingIOError), > 0 a socket's
        # timeout
        self._nonblock = 0
        self._wait_ms = -1
        opts = {
            "pipe_size": pipe_size,
            "chunk": chunk,
            "nonblock": nonblock or None,  # blocking is the default already
            "fallback": fallback,
            "methods": methods,
            "sigpipe": sigpipe,
            "pool": pool,
            "lazy_files": lazy_files,
        }
        for name, value in opts.items():
            if value is not None:
                self.set(name, value)

    # -- options -------------------------------------------------------------

    def set(self, option: str | int, value: Any) -> None:
        """Set an option by name (as in the constructor) or C number."""
        if isinstance(option, str):
            if option not in _OPTIONS:
                raise ValueError(f"unknown option {option!r} (one of {', '.join(_OPTIONS)})")
            number = _OPTIONS[option]
            if option == "methods":
                value = _method_mask(value)
            elif option in _BOOLEAN_OPTIONS:
                if not isinstance(value, (bool, int)):
                    raise TypeError(f"{option} must be a bool, not {type(value).__name__}")
                value = int(value)
            if option == "nonblock":
                # the C library checks the value; blocking use then drives the
                # C session in non-blocking mode where an end may block (see
                # _core.transfer), and every open sets it again
                _gen.session_set(self, number, value)
                if not value:
                    _gen.session_set(self, number, 1)
                self._nonblock = int(bool(value))
                return
        else:
            number = option
        _gen.session_set(self, number, value)

    def get(self, option: str | int) -> Any:
        """An option's value: booleans as bool, ``methods`` as a frozenset."""
        if isinstance(option, str):
            if option not in _OPTIONS:
                raise ValueError(f"unknown option {option!r} (one of {', '.join(_OPTIONS)})")
            if option == "nonblock":
                return bool(self._nonblock)
            value = _gen.session_get(self, _OPTIONS[option])
            if option in _BOOLEAN_OPTIONS:
                return bool(value)
            if option == "methods":
                return _method_names(value)
            return value
        return _gen.session_get(self, option)

    @property
    def nonblock(self) -> bool:
        return bool(self._nonblock)

    # -- kept descriptors ----------------------------------------------------

    def keep(
        self,
        obj: FileLike,
        kind: FdKind | KindName | int | None = None,
        *,
        nonblock: bool | None = None,
    ) -> None:
        """Keep ``obj``'s fd classified for this session's later opens, which
        then make no fstat/fcntl for it, in the C library or in this binding's
        choice of how to wait (at most ``KEEP_MAX`` fds).

        ``kind`` None is ``FdKind.UNKNOWN`` (the fd is classified now, once),
        except for a ``socket.socket`` of type SOCK_STREAM, SOCK_DGRAM or
        SOCK_SEQPACKET, whose kind is its type.  ``nonblock`` None is true for
        such a socket with a timeout (Python made its fd O_NONBLOCK), so that
        keeping it makes no syscall; otherwise the C library reads the fd's
        flags once.  A kind given is trusted: given wrongly, the transfer's
        syscalls fail rather than the open.

        The caller vouches that the fd stays open on the same file with the
        same status flags (O_NONBLOCK, O_APPEND) until ``forget()``: opens
        take whether it may wait and whether it is O_NONBLOCK from what was
        found out here (for a socket object: that its timeout stays set, or
        stays None).  Keeping a kept fd again replaces what was kept.
        Raises OSError: EBADF (not an open fd), ENOSPC (``KEEP_MAX`` fds
        kept), EINVAL (an unknown kind, or ``nonblock`` with
        ``FdKind.UNKNOWN``).
        """
        fd = _fd_of(obj)
        if kind is None:
            number = int(FdKind.UNKNOWN)
            if isinstance(obj, socket.socket):
                number = int(_SOCKET_KINDS.get(obj.type, FdKind.UNKNOWN))
        else:
            number = _kind_number(kind)
        if nonblock is None:
            # a socket with a timeout is O_NONBLOCK (socket.settimeout); one
            # without may still be (socket(fileno=...)): then ask the kernel
            nonblock = (
                number != FdKind.UNKNOWN
                and isinstance(obj, socket.socket)
                and obj.gettimeout() is not None
            )
        if nonblock:
            number |= _FD_NONBLOCK
        _gen.session_keep(self, fd, number)

    def forget(self, obj: FileLike) -> None:
        """Stop keeping ``obj``'s fd: call it before closing the fd or changing
        its flags (``os.set_blocking``, ``settimeout``); later opens ask the
        kernel about it again.  OSError ENOENT when it is not kept."""
        _gen.session_forget(self, _fd_of(obj))

    def forget_all(self) -> None:
        """Stop keeping every kept fd."""
        _gen.session_forget(self, -1)

    # -- whole transfers -----------------------------------------------------

    def _transfer(
        self,
        src: FileLike,
        dst: FileLike,
        offset_in: int | None,
        offset_out: int | None,
        length: int | None,
    ) -> int:
        if type(src) is int and type(dst) is int:
            timeout = 0 if self._nonblock else -1
            return _core.transfer(
                self, src, offset_in, dst, offset_out, length, timeout, self._nonblock
            )
        length = _check_length(length)
        s = Source(src, length)
        d = Destination(dst)
        timeout = 0 if self._nonblock else min_timeout([s.timeout_ms, d.timeout_ms])
        if offset_in is None:
            offset_in = s.offset
        else:
            s.after = None  # a given offset leaves the object's position alone
        if offset_out is not None:
            d.after = None
        delivered = 0
        if s.head:
            write_all(d.fd, s.head, timeout)
            delivered = len(s.head)
            if length is not None:
                length -= delivered
        if length != 0 or not s.head:  # a zero length still opens (fds checked)
            try:
                delivered += _core.transfer(
                    self, s.fd, offset_in, d.fd, offset_out, length, timeout, self._nonblock
                )
            except BlockingIOError as e:
                e.characters_written += delivered
                raise
        if s.after:
            s.after(delivered)
        if d.after:
            d.after(delivered)
        return delivered

    def copy(self, src: FileLike, dst: FileLike, length: int | None = None) -> int:
        """Move up to ``length`` bytes (None: until end of file) from ``src``'s
        position to ``dst``'s; return how many were delivered.

        After an error the transfer stays open: ``progress`` tells what was
        delivered and what is pending, ``resume()`` goes on, ``abort()`` drops.
        """
        return self._transfer(src, dst, None, None, length)

    def copy_range(
        self,
        src: FileLike,
        offset_in: int | None,
        dst: FileLike,
        offset_out: int | None,
        length: int | None = None,
    ) -> int:
        """As ``copy``, reading at ``offset_in`` and writing at ``offset_out``
        (None: the fd's position); given offsets leave positions alone."""
        return self._transfer(src, dst, offset_in, offset_out, length)

    def tee(self, src: FileLike, *dsts: FileLike, length: int | None = None) -> int:
        """The same bytes from ``src`` to every destination (1 .. TEE_MAX);
        return the bytes delivered to every one of them."""
        if not dsts:
            raise TypeError("tee() needs at least one destination")
        length = _check_length(length)
        s = Source(src, length)
        ds = [Destination(d) for d in dsts]
        timeout = 0 if self._nonblock else min_timeout([s.timeout_ms, *(d.timeout_ms for d in ds)])
        delivered = 0
        if s.head:
            for d in ds:
                write_all(d.fd, s.head, timeout)
            delivered = len(s.head)
            if length is not None:
                length -= delivered
        if length != 0 or not s.head:
            if (
                _core.open_tee_fds(self, s.fd, s.offset, [d.fd for d in ds], length, self._nonblock)
                and timeout < 0
            ):
                timeout = 0
            try:
                delivered += _core.drive(self, False, timeout)
            except BlockingIOError as e:
                e.characters_written += delivered
                raise
        if s.after:
            s.after(delivered)
        for d in ds:
            if d.after:
                d.after(delivered)
        return delivered

    def write_buf(self, dst: FileLike, buf: Buf, length: int | None = None) -> int:
        """Hand ``buf`` over (it is sealed read-only and belongs to the session
        from now on) and deliver its first ``length`` bytes (None: all)."""
        self.open_buf(buf, dst, length)
        return self.run()

    # -- stepping ------------------------------------------------------------

    def open(
        self,
        src: FileLike,
        dst: FileLike,
        length: int | None = None,
        *,
        offset_in: int | None = None,
        offset_out: int | None = None,
    ) -> None:
        """Begin a transfer that ``step()``/``run()`` move.  A buffered writer
        is flushed; a seekable buffered reader is read from its logical
        position (its own position is left alone); a non-blocking one that
        holds read-ahead is refused (ValueError), since stepping on its fd
        would skip those bytes."""
        s = Source(src, length, stepping=True)
        d = Destination(dst)
        fd_nonblock = _core.open_fds(
            self,
            s.fd,
            s.offset if offset_in is None else offset_in,
            d.fd,
            offset_out,
            length,
            self._nonblock,
        )
        self._wait_ms = _wait_for(fd_nonblock, [s.timeout_ms, d.timeout_ms])

    def open_tee(
        self,
        src: FileLike,
        dsts: Iterable[FileLike],
        length: int | None = None,
        *,
        offset_in: int | None = None,
    ) -> None:
        """Begin a fan-out to every destination of ``dsts``."""
        s = Source(src, length, stepping=True)
        ds = [Destination(d) for d in dsts]
        fd_nonblock = _core.open_tee_fds(
            self,
            s.fd,
            s.offset if offset_in is None else offset_in,
            [d.fd for d in ds],
            length,
            self._nonblock,
        )
        self._wait_ms = _wait_for(fd_nonblock, [s.timeout_ms, *(d.timeout_ms for d in ds)])

    def open_buf(self, buf: Buf, dst: FileLike, length: int | None = None) -> None:
        """Begin a transfer of ``buf``'s first ``length`` bytes by vmsplice.
        Refused (BufferError) while a memoryview of it is alive."""
        d = Destination(dst)
        fd_nonblock = _core.open_buf_obj(self, buf, length, d.fd, self._nonblock)
        self._wait_ms = _wait_for(fd_nonblock, [d.timeout_ms])

    def resume(self) -> int:
        """Deliver what an interrupted transfer (KeyboardInterrupt, a timeout,
        BlockingIOError, a cancelled task) holds and go on to its end; return
        the bytes delivered by this call."""
        return self.run()

    def wait(self) -> tuple[int, int]:
        """After ``BlockingIOError``: ``(fd, events)`` to wait for, events being
        ``selectors.EVENT_READ`` or ``selectors.EVENT_WRITE``."""
        fd, events = _gen.wait(self)
        return fd, selectors.EVENT_READ if events == _gen.POLLIN else selectors.EVENT_WRITE

    def abort(self) -> int:
        """End the open transfer, dropping its pending bytes; return how many."""
        return _gen.abort(self)  # type: ignore[no-any-return]

    # -- reporting -----------------------------------------------------------

    @property
    def progress(self) -> Progress:
        """consumed, delivered, pending, method, finished of the open or last
        transfer (consumed == delivered + pending)."""
        p: Progress = _gen.progress_get(self)
        return p

    @property
    def stats(self) -> Stats:
        """bytes, syscalls, fallbacks, eagain, pool_misses, bytes_by_method,
        pool_spills, summed over every transfer of the session.  pool_misses:
        batches done by read/write because the pipe pool had no pipe to lend;
        pool_spills: batches whose last bytes were moved from a pool pipe into
        a buffer, so that the pipe could go back while the destination was full
        and the pool short."""
        st: Stats = _gen.stats_get(self)
        return st

    # -- lifetime ------------------------------------------------------------

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<splicer.Session closed>"
        p = self.progress
        state = "idle" if p.method == "none" else "finished" if p.finished else "open"
        return (
            f"<splicer.Session {state} method={p.method} delivered={p.delivered} "
            f"pending={p.pending}{' nonblock' if self._nonblock else ''}>"
        )


# -- one-shot functions on a per-thread session --------------------------------

_local = threading.local()


def _session() -> Session:
    s: Session | None = getattr(_local, "session", None)
    if s is None:
        # each call opens its fds once: lazy files spare an fcntl per file,
        # and copy() raises what an eager open would
        s = _local.session = Session(lazy_files=True)
    return s


def _one_shot(call: Any, *args: Any, **kwargs: Any) -> int:
    s = _session()
    try:
        return call(s, *args, **kwargs)  # type: ignore[no-any-return]
    except BaseException as e:
        # the next call must not meet EBUSY: drop what this one left pending,
        # and say so (a Session keeps them for resume())
        p = s.progress
        dropped = s.abort()
        if hasattr(e, "add_note") and (p.delivered or dropped):
            e.add_note(
                f"splicer: {p.delivered} bytes were delivered; {dropped} taken from the "
                "source were dropped (use a Session to resume instead)"
            )
        raise


def copy(src: FileLike, dst: FileLike, length: int | None = None) -> int:
    """Move ``src`` to ``dst`` (until end of file, or ``length`` bytes) from
    their positions; return the bytes delivered.  See ``Session.copy``."""
    return _one_shot(Session.copy, src, dst, length)


def copy_range(
    src: FileLike,
    offset_in: int | None,
    dst: FileLike,
    offset_out: int | None,
    length: int | None = None,
) -> int:
    """``copy`` at given offsets (None: the fd's position)."""
    return _one_shot(Session.copy_range, src, offset_in, dst, offset_out, length)


def tee(src: FileLike, *dsts: FileLike, length: int | None = None) -> int:
    """The same bytes from ``src`` to every destination; see ``Session.tee``."""
    return _one_shot(Session.tee, src, *dsts, length=length)


from . import aio, pool, raw  # noqa: E402  (they import the names above)

__all__ += ["aio", "pool", "raw"]
