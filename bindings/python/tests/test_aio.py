"""asyncio: copies driven by the loop; cancel then resume, every byte once."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import splicer
import splicer.aio


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_socket_to_socket() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, a_peer = socket.socketpair()
        b, b_peer = socket.socketpair()
        for x in (a, a_peer, b, b_peer):
            x.setblocking(False)
        payload = os.urandom(2_000_000)

        async def feed() -> None:
            await loop.sock_sendall(a_peer, payload)
            a_peer.shutdown(socket.SHUT_WR)

        async def drain() -> bytes:
            got = bytearray()
            while chunk := await loop.sock_recv(b_peer, 1 << 20):
                got += chunk
            return bytes(got)

        feeder = asyncio.create_task(feed())
        reader = asyncio.create_task(drain())
        assert await splicer.aio.copy(a, b) == len(payload)
        b.shutdown(socket.SHUT_WR)
        await feeder
        assert await reader == payload
        for x in (a, a_peer, b, b_peer):
            x.close()

    run(main())


def test_cancel_then_resume_delivers_every_byte_once() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        src_peer, src = socket.socketpair()
        dst, dst_peer = socket.socketpair()
        dst.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for x in (src_peer, src, dst, dst_peer):
            x.setblocking(False)
        payload = os.urandom(300_000)
        await loop.sock_sendall(src_peer, payload[:100_000])
        session = splicer.Session(methods=["read_write"])
        task = asyncio.create_task(splicer.aio.copy(src, dst, session=session))
        await asyncio.sleep(0.1)  # stuck: nobody reads dst
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        p = session.progress
        assert p.pending > 0 and p.consumed == p.delivered + p.pending
        got = bytearray()

        async def drain() -> None:
            while chunk := await loop.sock_recv(dst_peer, 1 << 16):
                got.extend(chunk)

        # the rest is sent while the transfer resumes: the session may have
        # taken less than the first 100,000 bytes (a pooled read/write batch
        # is at most 64 KiB), and the source's buffer holds no 300,000
        async def feed() -> None:
            await loop.sock_sendall(src_peer, payload[100_000:])
            src_peer.shutdown(socket.SHUT_WR)

        reader = asyncio.create_task(drain())
        feeder = asyncio.create_task(feed())
        resumed = await splicer.aio.resume(session)
        await feeder
        dst.shutdown(socket.SHUT_WR)
        await reader
        assert p.delivered + resumed == len(payload)
        assert bytes(got) == payload
        session.close()
        for x in (src_peer, src, dst, dst_peer):
            x.close()

    run(main())


def test_tee_and_files(tmp_path: Path) -> None:
    payload = os.urandom(500_000)
    (tmp_path / "in").write_bytes(payload)

    async def main() -> None:
        with (
            open(tmp_path / "in", "rb") as src,
            open(tmp_path / "a", "wb") as a,
            open(tmp_path / "b", "wb") as b,
        ):
            assert await splicer.aio.tee(src, a, b) == len(payload)

    run(main())
    assert (tmp_path / "a").read_bytes() == payload
    assert (tmp_path / "b").read_bytes() == payload


def test_take_socket_returns_what_the_reader_buffered() -> None:
    async def main() -> None:
        received = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readexactly(6) == b"hello "  # more is buffered now
            await asyncio.sleep(0.05)
            sock, head = await splicer.aio.take_socket(reader, writer)
            r, w = os.pipe()
            os.write(w, head)
            os.set_blocking(r, False)
            n = await splicer.aio.copy(sock, w)
            os.close(w)
            received.set_result(os.read(r, 1 << 20))
            os.close(r)
            assert n + len(head) == len(b"world, and more")
            sock.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello world, and more")
        await writer.drain()
        writer.write_eof()
        assert await received == b"world, and more"
        writer.close()
        server.close()
        await server.wait_closed()

    run(main())
