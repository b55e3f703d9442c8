"""Sources and destinations: ints, objects with fileno(), and Python's buffering.

A transfer moves bytes between fds, but Python programs hold file objects
that buffer: a writer's pending bytes must reach the fd before the transfer
writes after them, and a reader's read-ahead (bytes it already took from the
fd) must be delivered before the transfer reads on, never skipped.  This
module turns an argument into an fd and says what to do before and after.
"""

from __future__ import annotations

import fcntl
import io
import math
import os
import select
import socket
from collections.abc import Callable
from typing import Protocol


class HasFileno(Protocol):
    def fileno(self) -> int: ...


FileLike = int | HasFileno

_BUFFERED = (io.BufferedReader, io.BufferedRandom, io.BufferedWriter, io.TextIOWrapper)


def _timeout_ms(obj: object) -> int:
    """A socket's timeout for each wait: -1 none, 0 non-blocking, else ms."""
    if isinstance(obj, socket.socket):
        t = obj.gettimeout()
        if t is None:
            return -1
        return 0 if t == 0 else max(1, math.ceil(t * 1000))
    return -1


def _check_fd(fd: object, obj: object) -> int:
    if type(fd) is not int:
        raise TypeError(f"fileno() of {type(obj).__name__} returned {type(fd).__name__}, not int")
    return fd


def _fd_of(obj: object) -> int:
    if type(obj) is int:
        return obj
    if isinstance(obj, bool):
        raise TypeError("a file descriptor must be an int or have fileno(), not bool")
    if isinstance(obj, int):
        return int(obj)
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError(
            "file descriptor expected (an int or an object with fileno()), "
            f"not {type(obj).__name__}"
        )
    return _check_fd(fileno(), obj)


def read_ahead(obj: io.BufferedReader | io.BufferedRandom, fd: int, limit: int | None) -> bytes:
    """Take up to ``limit`` bytes that ``obj`` holds in its buffer.

    ``peek()`` returns the buffered bytes, or makes one raw read when there are
    none: the fd is non-blocking meanwhile, so that read takes what is there
    and never waits.  The bytes returned are consumed from ``obj``.
    """
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not flags & os.O_NONBLOCK:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        head = obj.peek()
    except BlockingIOError:
        head = b""
    finally:
        if not flags & os.O_NONBLOCK:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    n = len(head) if limit is None else min(len(head), limit)
    return obj.read(n) if n else b""


def write_all(fd: int, data: bytes, timeout_ms: int) -> None:
    """Write all of ``data`` to ``fd``, waiting while a non-blocking fd is full."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            if timeout_ms == 0:
                raise
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            if not poller.poll(timeout_ms):
                raise TimeoutError("splicer: timed out writing read-ahead") from None
            continue
        view = view[n:]


class Source:
    """A transfer's source: its fd, the offset to read from, and the fix-ups."""

    __slots__ = ("fd", "offset", "head", "timeout_ms", "after")

    def __init__(self, obj: FileLike, limit: int | None, *, stepping: bool = False) -> None:
        self.offset: int | None = None
        self.head = b""
        self.after: Callable[[int], object] | None = None
        self.timeout_ms = _timeout_ms(obj)
        if isinstance(obj, io.TextIOBase):
            raise TypeError(
                "a text stream cannot be a source: its decoded read-ahead has no byte "
                "position (pass its binary .buffer, e.g. sys.stdin.buffer)"
            )
        self.fd = _fd_of(obj)
        if isinstance(obj, (io.BufferedReader, io.BufferedRandom)):
            if isinstance(obj, io.BufferedRandom):
                obj.flush()  # pending writes first; it also rewinds the read-ahead
            if obj.seekable():
                # read from the logical position (read-ahead included) by
                # offset, leaving the fd alone, then move the object past
                # what was delivered: its cached position stays right
                pos = obj.tell()
                self.offset = pos
                if not stepping:
                    self.after = lambda n: obj.seek(pos + n)
            else:
                head = read_ahead(obj, self.fd, limit)
                if stepping and head:
                    raise ValueError(
                        f"{type(obj).__name__} holds {len(head)} bytes of read-ahead that a "
                        "transfer on its fd would skip: use copy()/tee(), which deliver them "
                        "first, or read them before open()"
                    )
                self.head = head


class Destination:
    """A transfer's destination: its fd and the fix-up of a file object."""

    __slots__ = ("fd", "timeout_ms", "after")

    def __init__(self, obj: FileLike) -> None:
        self.after: Callable[[int], object] | None = None
        self.timeout_ms = _timeout_ms(obj)
        self.fd = _fd_of(obj)
        if isinstance(obj, _BUFFERED):
            obj.flush()  # its pending bytes come before the transfer's
            binary: io.BufferedIOBase = obj.buffer if isinstance(obj, io.TextIOWrapper) else obj
            if binary.seekable():
                # the transfer advances the fd: the object takes the fd's
                # position afterwards, or its cached one would be stale.  It
                # is where the transfer's last write ended, appending or
                # not, so the fd's flags need not be read (an fcntl(2)).
                self.after = lambda n: binary.seek(0, io.SEEK_CUR)


def min_timeout(values: list[int]) -> int:
    """The shortest wait among the ends' timeouts (-1: none)."""
    finite = [v for v in values if v >= 0]
    return min(finite) if finite else -1
