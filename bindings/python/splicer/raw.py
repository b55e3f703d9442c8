"""The syscall wrappers, one per syscall, as in splicer.h.

Offsets are by value (None or -1: the fd's own position, which then
advances), lengths are ints, flags are ``F_*`` ORed.  Each returns the
syscall's count and raises OSError on failure.  The GIL is released during
the call; EINTR runs the signal handlers and retries (PEP 475), so Ctrl-C
interrupts a call blocked on an empty pipe.

vmsplice(2) makes the pipe refer to the buffers' memory: keep them alive and
unchanged until the reader consumed them (``splicer.Buf`` with
``Session.write_buf`` is the safe way).  A file spliced or sent to a pipe or
socket is referred to the same way: rewriting it in place before the peer
read the bytes can change what it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from . import _core as _core
from . import core as _gen
from ._ends import FileLike

__all__ = [
    "F_GIFT",
    "F_MORE",
    "F_MOVE",
    "F_NONBLOCK",
    "copy_file_range",
    "pipe_size",
    "sendfile",
    "set_pipe_size",
    "splice",
    "tee",
    "vmsplice",
]

F_MOVE: Final[int] = _gen.F_MOVE
F_NONBLOCK: Final[int] = _gen.F_NONBLOCK
F_MORE: Final[int] = _gen.F_MORE
F_GIFT: Final[int] = _gen.F_GIFT

Buffer = bytes | bytearray | memoryview

if TYPE_CHECKING:

    def splice(
        fd_in: FileLike,
        off_in: int | None,
        fd_out: FileLike,
        off_out: int | None,
        length: int,
        flags: int = 0,
    ) -> int:
        """splice(2): move up to ``length`` bytes between a pipe and another fd."""

    def tee(fd_in: FileLike, fd_out: FileLike, length: int, flags: int = 0) -> int:
        """tee(2): duplicate up to ``length`` bytes of one pipe into another."""

    def vmsplice(pipe: FileLike, buffers: Buffer | Sequence[Buffer], flags: int = 0) -> int:
        """vmsplice(2): map the buffers into a pipe's write end (a read end is
        EBADF).  See the module's caveat."""

    def sendfile(fd_out: FileLike, fd_in: FileLike, off_in: int | None, length: int) -> int:
        """sendfile(2): up to ``length`` bytes of ``fd_in`` to ``fd_out``."""

    def copy_file_range(
        fd_in: FileLike, off_in: int | None, fd_out: FileLike, off_out: int | None, length: int
    ) -> int:
        """copy_file_range(2) between regular files."""

    def pipe_size(pipe: FileLike) -> int:
        """F_GETPIPE_SZ: the pipe's capacity in bytes."""

    def set_pipe_size(pipe: FileLike, size: int) -> int:
        """F_SETPIPE_SZ: ask for ``size`` bytes; return what the kernel gave."""

else:
    # the generated C functions themselves: a raw call costs one C call
    splice = _core.splice
    tee = _core.tee
    vmsplice = _core.vmsplice
    sendfile = _core.sendfile
    copy_file_range = _core.copy_file_range
    pipe_size = _core.pipe_size
    set_pipe_size = _core.set_pipe_size
