"""Issue 12's drop-in behaviours: echo on one socket, a file onto itself,
datagram sockets."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

import splicer


def test_echo_on_one_socket(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = tcp_pair
    payload = os.urandom(500_000)
    got = bytearray()

    def talk() -> None:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)

    def listen() -> None:
        while chunk := client.recv(1 << 16):
            got.extend(chunk)

    threads = [threading.Thread(target=talk), threading.Thread(target=listen)]
    for t in threads:
        t.start()
    assert splicer.copy(server, server) == len(payload)
    server.shutdown(socket.SHUT_WR)
    for t in threads:
        t.join()
    assert bytes(got) == payload


def test_file_onto_itself(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abcdef")
    fd = os.open(tmp_path / "f", os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            splicer.copy(fd, fd)  # the same range: it would chase its own output
        assert e.value.errno == 22
        assert splicer.copy_range(fd, 0, fd, 6) == 6  # disjoint: appended
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"abcdefabcdef"


def test_stream_to_udp_sends_datagram_sized_writes() -> None:
    a, b = socket.socketpair()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    v.bind(("127.0.0.1", 0))
    v.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    u.connect(v.getsockname())
    payload = os.urandom(100_000)
    b.sendall(payload)
    b.shutdown(socket.SHUT_WR)
    assert splicer.copy(a, u) == len(payload)
    got = bytearray()
    sizes = []
    v.settimeout(0.5)
    while len(got) < len(payload):
        d = v.recv(65536)
        sizes.append(len(d))
        got += d
    assert bytes(got) == payload
    assert max(sizes) <= 32 * 1024
    for x in (a, b, u, v):
        x.close()


def test_empty_datagram_is_not_end_of_input() -> None:
    a, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    r, w = os.pipe()
    for d in (b"abc", b"", b"def"):
        peer.send(d)
    a.setblocking(False)
    with splicer.Session() as s:
        with pytest.raises(BlockingIOError) as e:
            s.copy(a, w)
        assert e.value.characters_written == 6
    assert os.read(r, 100) == b"abcdef"
    for fd in (r, w):
        os.close(fd)
    a.close()
    peer.close()
