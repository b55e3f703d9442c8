"""Fixtures shared by the binding's tests: pipes, socket pairs, data."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

import splicer


@pytest.fixture(autouse=True)
def _no_fd_leak() -> Iterator[None]:
    """Every test leaves the fds it found (idle pool pipes are the pool's)."""
    import gc

    gc.collect()
    splicer.pool.trim()
    before = sorted(os.listdir("/proc/self/fd"))
    yield
    gc.collect()
    splicer.pool.trim()
    after = sorted(os.listdir("/proc/self/fd"))
    assert len(after) <= len(before), f"fds leaked: {sorted(set(after) - set(before))}"


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def sockpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        a = socket.create_connection(lst.getsockname())
        b, _ = lst.accept()
    yield a, b
    a.close()
    b.close()


def data(n: int, seed: int = 1) -> bytes:
    """n bytes of the conformance suite's pattern (tests/README.md section 2)."""
    out = bytearray(n)
    for k in range(n):
        x = (seed + (k & 0xFFFFFFFF) * 2654435761) & 0xFFFFFFFF
        x ^= x >> 16
        out[k] = (x ^ (x >> 8)) & 0xFF
    return bytes(out)


def recv_all(sock: socket.socket) -> bytes:
    out = bytearray()
    while chunk := sock.recv(1 << 16):
        out += chunk
    return bytes(out)
