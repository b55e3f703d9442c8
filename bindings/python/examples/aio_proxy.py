#!/usr/bin/env python3
"""aio_proxy.py [--connections N] LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT

An asyncio TCP proxy that relays both directions with splicer.aio.copy:
the bytes move socket -> pipe -> socket inside the kernel.  It takes the
sockets from asyncio streams (it reads the client's first line through its
StreamReader, to log it), and delivers what the StreamReader had already
buffered before splicing the rest.  Prints the port it listens on (0: any).
"""

from __future__ import annotations

import asyncio
import socket
import sys

import splicer
import splicer.aio


async def relay(src: socket.socket, dst: socket.socket, head: bytes) -> int:
    if head:
        await asyncio.get_running_loop().sock_sendall(dst, head)
    n = await splicer.aio.copy(src, dst)
    try:
        dst.shutdown(socket.SHUT_WR)  # pass the end of the stream on
    except OSError:
        pass
    return len(head) + n


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: tuple[str, int]
) -> None:
    first_line = await reader.readline()
    print(f"client says: {first_line[:60]!r}", file=sys.stderr)
    up_reader, up_writer = await asyncio.open_connection(*upstream)
    client, client_buffered = await splicer.aio.take_socket(reader, writer)
    server, server_buffered = await splicer.aio.take_socket(up_reader, up_writer)
    with client, server:
        up, down = await asyncio.gather(
            relay(client, server, first_line + client_buffered),
            relay(server, client, server_buffered),
        )
    print(f"relayed {up} bytes up, {down} down", file=sys.stderr)


async def main(argv: list[str]) -> int:
    connections = 0
    if argv[:1] == ["--connections"]:
        connections, argv = int(argv[1]), argv[2:]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    upstream = (argv[1], int(argv[2]))
    done = asyncio.Event()
    served = 0

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            await handle(r, w, upstream)
        finally:
            served += 1
            if connections and served >= connections:
                done.set()

    server = await asyncio.start_server(on_client, "127.0.0.1", int(argv[0]))
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        if connections:
            await done.wait()
        else:
            await server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
