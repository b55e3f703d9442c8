"""Kept descriptors: Session.keep / forget / forget_all."""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import data, recv_all

import splicer
from splicer import FdKind


@pytest.fixture
def pipes() -> Iterator[list[int]]:
    """KEEP_MAX + 1 pipe read ends (and their write ends, closed after)."""
    fds = [os.pipe() for _ in range(splicer.KEEP_MAX + 1)]
    yield [r for r, _ in fds]
    for r, w in fds:
        os.close(r)
        os.close(w)


def test_keep_max_is_the_c_limit() -> None:
    assert splicer.KEEP_MAX == 8
    assert [int(k) for k in FdKind] == [0, 1, 2, 3, 4]


def test_ninth_fd_is_enospc_and_a_forgotten_slot_takes_another(pipes: list[int]) -> None:
    with splicer.Session() as s:
        for fd in pipes[:-1]:
            s.keep(fd)
        with pytest.raises(OSError) as e:
            s.keep(pipes[-1], "pipe")
        assert e.value.errno == errno.ENOSPC
        s.keep(pipes[2], FdKind.PIPE)  # a kept fd again replaces it: no slot taken
        s.forget(pipes[2])
        s.keep(pipes[-1])
        with pytest.raises(OSError) as e:
            s.keep(pipes[2])
        assert e.value.errno == errno.ENOSPC
        s.forget_all()
        for fd in pipes[:-1]:
            s.keep(fd)


def test_forget_of_an_fd_not_kept_is_enoent(pipe: tuple[int, int]) -> None:
    r, w = pipe
    with splicer.Session() as s:
        with pytest.raises(FileNotFoundError) as e:
            s.forget(r)
        assert e.value.errno == errno.ENOENT
        s.forget_all()  # nothing kept: still fine
        s.keep(r)
        s.keep(w, "pipe", nonblock=False)
        s.forget(r)
        with pytest.raises(OSError) as e:
            s.forget(r)
        assert e.value.errno == errno.ENOENT
        s.forget(w)


def test_closed_fd_is_ebadf(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    with splicer.Session() as s:
        for kind in (None, "unknown", "stream", FdKind.PIPE):
            with pytest.raises(OSError) as e:
                s.keep(fd, kind)  # classified, or its flags read: EBADF
            assert e.value.errno == errno.EBADF
        with pytest.raises(OSError) as e:
            s.keep(-1, "stream", nonblock=True)
        assert e.value.errno == errno.EBADF
        closed = socket.socket()
        closed.close()  # fileno() is -1 now
        with pytest.raises(OSError) as e:
            s.keep(closed)
        assert e.value.errno == errno.EBADF
        with pytest.raises(OSError) as e:
            s.forget(fd)
        assert e.value.errno == errno.ENOENT  # nothing was kept
        # a known kind with nonblock makes no syscall: the caller vouches
        # for the fd, and a closed one is not noticed until it is used
        s.keep(fd, "stream", nonblock=True)
        s.forget(fd)


def test_bad_kinds(pipe: tuple[int, int]) -> None:
    r, _ = pipe
    with splicer.Session() as s:
        for kind in (5, -1, 0x100):  # an int goes to the C library as it is
            with pytest.raises(OSError) as e:
                s.keep(r, kind)
            assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            s.keep(r, "unknown", nonblock=True)  # NONBLOCK needs a known kind
        assert e.value.errno == errno.EINVAL
        with pytest.raises(ValueError, match="unknown fd kind"):
            s.keep(r, "socket")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            s.keep(r, True)
        with pytest.raises(TypeError):
            s.keep(r, 1.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            s.keep("3")  # type: ignore[arg-type]
        with pytest.raises(OSError) as e:
            s.forget(r)
        assert e.value.errno == errno.ENOENT  # none of them was kept


def test_kept_files_copy_every_byte(tmp_path: Path) -> None:
    payload = data(300_000, seed=7)
    (tmp_path / "src").write_bytes(payload)
    with (
        open(tmp_path / "src", "rb") as src,
        open(tmp_path / "dst", "wb") as dst,
        splicer.Session() as s,
    ):
        s.keep(src)
        s.keep(dst)
        assert s.copy(src, dst) == len(payload)
        assert s.copy(src, dst) == 0  # at the end already
        assert s.stats.bytes == len(payload)
        s.forget_all()
    assert (tmp_path / "dst").read_bytes() == payload


def test_kept_pipe_to_socket_copies_every_byte(
    pipe: tuple[int, int], sockpair: tuple[socket.socket, socket.socket]
) -> None:
    r, w = pipe
    a, b = sockpair
    payload = data(1_000_000, seed=3)

    def feed() -> None:
        os.write(w, payload)
        os.close(w)

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(recv_all(b)))
    feeder = threading.Thread(target=feed)
    with splicer.Session() as s:
        s.keep(r, FdKind.PIPE)
        s.keep(a)  # a SOCK_STREAM socket object: kind stream, its flags read once
        reader.start()
        feeder.start()
        try:
            assert s.copy(r, a) == len(payload)
        finally:
            feeder.join()
            a.shutdown(socket.SHUT_WR)
            reader.join()
        s.forget(r)
        s.forget(a)
    assert got == [payload]


def test_a_socket_objects_type_is_its_kind(
    tmp_path: Path, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """With no kind, a socket object's type is taken as given (no fstat): a
    stream socket that Python was told is SOCK_DGRAM is written to as a
    datagram socket, by read/write."""
    a, b = sockpair
    payload = data(50_000, seed=4)
    (tmp_path / "src").write_bytes(payload)
    told = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM, fileno=os.dup(a.fileno()))
    told.settimeout(5.0)  # O_NONBLOCK: kept as such, with no syscall
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(recv_all(b)))
    reader.start()
    try:
        with open(tmp_path / "src", "rb") as src, splicer.Session() as s:
            s.keep(told)
            assert s.copy(src, told) == len(payload)
            assert s.stats.bytes_by_method["read_write"] == len(payload)
            s.forget(told)
            # classified by the kernel instead, the same socket gets sendfile
            src.seek(0)
            s.keep(told, FdKind.UNKNOWN)
            assert s.copy(src, told) == len(payload)
            assert s.stats.bytes_by_method["sendfile"] == len(payload)
    finally:
        told.close()
        a.shutdown(socket.SHUT_WR)
        reader.join()
    assert got == [payload + payload]
