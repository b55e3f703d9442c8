"""asyncio: zero-copy transfers driven by the event loop.

    n = await splicer.aio.copy(src_sock, dst_sock)

The session runs in non-blocking mode: each turn steps until a step would
block, then waits with ``loop.add_reader``/``add_writer`` on the fd and the
event ``splicer_wait`` names.  Cancelling the task leaves the bytes the
session took from the source pending in it: pass your own ``session=`` to
keep them, and ``await splicer.aio.resume(session)`` delivers them (every
byte exactly once).  Without a session of yours, a cancelled transfer's
pending bytes are dropped with its private session.

Sockets that an asyncio stream owns are registered with the loop by its
transport; ``take_socket(reader, writer)`` takes the socket over and returns
the bytes the StreamReader had already buffered, which the caller delivers
first (see examples/aio_proxy.py).
"""

from __future__ import annotations

import asyncio
import os
import socket

from . import Session
from . import _core as _core
from . import core as _gen
from ._ends import Destination, FileLike, Source

__all__ = ["copy", "resume", "take_socket", "tee"]


async def _wait(fd: int, events: int) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if events == _gen.POLLIN:
        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)
    else:
        loop.add_writer(fd, ready)
        try:
            await fut
        finally:
            loop.remove_writer(fd)


async def _drive(session: Session) -> int:
    total = 0
    while True:
        n, fd, events = _core.drive_async(session)
        total += n
        if fd < 0:
            return total
        await _wait(fd, events)


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _wait(fd, _gen.POLLOUT)


def _nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


async def copy(
    src: FileLike,
    dst: FileLike,
    length: int | None = None,
    *,
    session: Session | None = None,
) -> int:
    """Move ``src`` to ``dst`` (until end of file, or ``length`` bytes) without
    blocking the event loop; return the bytes delivered."""
    if session is None:
        # its own session, for this copy only: a file's access mode is left
        # to the kernel, whose refusal is raised as the open's
        with Session(lazy_files=True) as own:
            return await copy(src, dst, length, session=own)
    s = session
    source = Source(src, length)
    d = Destination(dst)
    delivered = 0
    if source.head:
        await _write_all(d.fd, source.head)
        delivered = len(source.head)
        if length is not None:
            length -= delivered
    if length != 0 or not source.head:
        _core.open_fds(s, source.fd, source.offset, d.fd, None, length, True)
        delivered += await _drive(s)
    if source.after:
        source.after(delivered)
    if d.after:
        d.after(delivered)
    return delivered


async def tee(
    src: FileLike,
    *dsts: FileLike,
    length: int | None = None,
    session: Session | None = None,
) -> int:
    """The same bytes from ``src`` to every destination, without blocking the
    event loop; return the bytes delivered to every one of them."""
    if not dsts:
        raise TypeError("tee() needs at least one destination")
    if session is None:
        with Session() as own:
            return await tee(src, *dsts, length=length, session=own)
    s = session
    source = Source(src, length)
    ds = [Destination(d) for d in dsts]
    delivered = 0
    if source.head:
        for d in ds:
            await _write_all(d.fd, source.head)
        delivered = len(source.head)
        if length is not None:
            length -= delivered
    if length != 0 or not source.head:
        _core.open_tee_fds(s, source.fd, source.offset, [d.fd for d in ds], length, True)
        delivered += await _drive(s)
    if source.after:
        source.after(delivered)
    for d in ds:
        if d.after:
            d.after(delivered)
    return delivered


async def resume(session: Session) -> int:
    """Go on with ``session``'s open transfer (after a cancellation): its
    pending bytes first, then to its end; return the bytes delivered."""
    _gen.session_set(session, _gen.OPT_NONBLOCK, 1)
    return await _drive(session)


async def take_socket(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[socket.socket, bytes]:
    """Take the socket of an asyncio stream pair away from its transport.

    Waits until the transport has written everything it holds, stops it
    reading, and returns a non-blocking socket on the same connection (a
    duplicate fd; the transport's own is closed) and the bytes the
    StreamReader had already buffered: deliver those first.
    """
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is None:
        raise ValueError("the stream's transport has no socket")
    transport.set_write_buffer_limits(0)
    await writer.drain()  # returns once the transport's buffer is empty
    transport.pause_reading()  # type: ignore[attr-defined]
    # StreamReader has no public way to take what it buffered without
    # waiting for more; its buffer is a bytearray since Python 3.4
    buffered = bytes(reader._buffer)  # type: ignore[attr-defined]
    reader._buffer.clear()  # type: ignore[attr-defined]
    taken = socket.socket(fileno=os.dup(sock.fileno()))
    taken.setblocking(False)
    transport.close()
    return taken, buffered
