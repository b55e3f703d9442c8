"""Kept descriptors: Session.keep / forget / forget_all."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from conftest import data, recv_all, strace_phases

import splicer
from splicer import FdKind, FileLike


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


# -- the driver's own checks: what it records at keep time ---------------------

_OPT_NONBLOCK = splicer.core.OPT_NONBLOCK


def _decisions(s: splicer.Session, src: FileLike, dst: FileLike) -> tuple[int, int]:
    """What an open decides for the waiting: the C session's NONBLOCK mode and
    how long a blocking step waits (-1 for ever, 0 BlockingIOError, else a
    socket's timeout in ms)."""
    s.open(src, dst, 0)
    try:
        return splicer.core.session_get(s, _OPT_NONBLOCK), s._wait_ms
    finally:
        s.abort()


def test_kept_ends_decide_as_ends_asked_at_every_open(tmp_path: Path) -> None:
    """For every kind of end, and every way of keeping it, an open on the kept
    fd waits (or not) exactly as an open on the same fd not kept."""
    f = open(tmp_path / "f", "w+b")
    g = open(tmp_path / "g", "w+b")
    null = open(os.devnull, "wb")
    br, bw = os.pipe()  # a blocking pipe
    nr, nw = os.pipe()
    os.set_blocking(nr, False)
    timed, timed_peer = socket.socketpair()
    timed.settimeout(2.5)  # O_NONBLOCK, waits 2500 ms
    plain, plain_peer = socket.socketpair()  # blocking, no timeout
    raw_nb, raw_nb_peer = socket.socketpair()
    raw_nb.setblocking(False)
    Kind = FdKind | Literal["pipe", "stream"] | None
    # (source, destination, the end kept, its ways of being kept, expected)
    cases: list[
        tuple[FileLike, FileLike, FileLike, list[tuple[Kind, bool | None]], tuple[int, int]]
    ] = [
        (f, g, f, [(None, None)], (0, -1)),
        (f, g, g, [(None, None)], (0, -1)),
        (f, null, null, [(None, None)], (0, -1)),
        (br, g, br, [(None, None), ("pipe", None), (FdKind.PIPE, False)], (1, -1)),
        (f, bw, bw, [(None, None), ("pipe", None)], (1, -1)),
        (nr, g, nr, [(None, None), ("pipe", None), ("pipe", True)], (1, 0)),
        (f, timed, timed, [(None, None), (FdKind.UNKNOWN, None), ("stream", None)], (1, 2500)),
        (f, plain, plain, [(None, None), (FdKind.UNKNOWN, None)], (1, -1)),
        (f, raw_nb.fileno(), raw_nb.fileno(), [(None, None), ("stream", True)], (1, 0)),
    ]
    try:
        for src, dst, end, ways, expected in cases:
            with splicer.Session() as s:
                asked = _decisions(s, src, dst)
            assert asked == expected, (src, dst)
            for kind, nonblock in ways:
                with splicer.Session() as s:
                    s.keep(end, kind, nonblock=nonblock)
                    assert _decisions(s, src, dst) == asked, (end, kind, nonblock)
                    assert _decisions(s, src, dst) == asked  # and again
                    s.forget(end)
                    assert _decisions(s, src, dst) == asked
    finally:
        for o in (f, g, null, timed, timed_peer, plain, plain_peer, raw_nb, raw_nb_peer):
            o.close()
        for fd in (br, bw, nr, nw):
            os.close(fd)


def test_an_open_takes_what_was_kept_until_forget(tmp_path: Path, pipe: tuple[int, int]) -> None:
    """The record, not the fd, decides for a kept fd: kept as O_NONBLOCK (a
    claim nothing checks), a blocking pipe is treated as one until it is
    forgotten, and a failed keep or forget leaves the record as it was."""
    r, w = pipe
    with open(tmp_path / "f", "wb") as f, splicer.Session() as s:
        assert _decisions(s, r, f) == (1, -1)
        s.keep(r, "pipe", nonblock=True)
        assert _decisions(s, r, f) == (1, 0)
        with pytest.raises(OSError):
            s.keep(r, 99)  # EINVAL: nothing replaced
        with pytest.raises(FileNotFoundError):
            s.forget(w)
        assert _decisions(s, r, f) == (1, 0)
        s.forget(r)
        assert _decisions(s, r, f) == (1, -1)  # asked again
        s.keep(r, "pipe", nonblock=True)
        s.keep(r, "pipe")  # replaced: the flags read now
        assert _decisions(s, r, f) == (1, -1)
        s.keep(r, "pipe", nonblock=True)
        s.keep(f)
        s.forget_all()
        assert _decisions(s, r, f) == (1, -1)
        # a bare handle of the generated layer has no record: the driver
        # asks the fd, whatever the C session keeps
        h = splicer.core.session_new()
        try:
            splicer.core.session_keep(h, r, splicer.core.FD_PIPE | splicer.core.FD_NONBLOCK)
            assert splicer._core.open_fds(h, r, None, f.fileno(), None, 0, False) is False
            assert splicer.core.session_get(h, _OPT_NONBLOCK) == 1
        finally:
            splicer.core.session_free(h)
    # fan-outs and buffers take the record too
    (tmp_path / "src").write_bytes(b"x")
    with open(tmp_path / "src", "rb") as src, splicer.Session() as s:
        s.keep(w, "pipe", nonblock=True)
        s.open_tee(src, [w], 0)
        assert s._wait_ms == 0
        s.open_buf(splicer.Buf(4096), w, 1)
        assert s._wait_ms == 0
        s.abort()
        s.forget(w)
        s.open_tee(src, [w], 0)
        assert s._wait_ms == -1
        s.open_buf(splicer.Buf(4096), w, 1)
        assert s._wait_ms == -1
        s.abort()


def test_kept_ends_give_the_same_results(
    tmp_path: Path, pipe: tuple[int, int], sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Waiting, BlockingIOError and timeouts on kept ends are those of ends
    not kept: a blocking pipe waits for its writer, an empty O_NONBLOCK one
    raises BlockingIOError, a socket with a timeout raises TimeoutError."""
    r, w = pipe
    a, b = sockpair
    payload = data(200_000, seed=9)
    for keep in (False, True):
        os.set_blocking(r, True)
        with open(tmp_path / "out", "w+b") as out, splicer.Session() as s:
            if keep:
                s.keep(r)
                s.keep(out)
                s.keep(a)

            def late_writer() -> None:
                time.sleep(0.05)
                os.write(w, payload[:50_000])

            t = threading.Thread(target=late_writer)
            t.start()
            assert s.copy(r, out, 50_000) == 50_000  # waited for the writer
            t.join()
            if keep:
                s.forget(r)  # its flags change: forget it first
            os.set_blocking(r, False)
            if keep:
                s.keep(r, "pipe", nonblock=True)
            with pytest.raises(BlockingIOError):
                s.copy(r, out, 10)
            a.settimeout(0.05)
            if keep:
                s.keep(a)  # again: now O_NONBLOCK (timeout), from the object, no syscall
            with pytest.raises(TimeoutError):
                s.copy(a, out, 10)
            s.abort()
            a.settimeout(None)
            if keep:
                s.keep(a)
            b.sendall(payload)
            assert s.copy(a, out, len(payload)) == len(payload)
            out.seek(0)
            assert out.read() == payload[:50_000] + payload
            s.forget_all()


# -- syscalls counted by strace ------------------------------------------------

_MARK = 9999  # fstat of this fd (not open) separates the phases in the trace

_CHILD = r"""
import json, os, socket, sys, tempfile
import splicer
from splicer import _core, core as gen

N = 20
MARK = int(sys.argv[1])
phases = []

def phase(name, fds, body):
    try:
        os.fstat(MARK)
    except OSError:
        pass
    body()
    try:
        os.fstat(MARK)
    except OSError:
        pass
    phases.append([name, sorted(fds)])

work = tempfile.mkdtemp()
src = os.open(os.path.join(work, "src"), os.O_RDWR | os.O_CREAT, 0o600)
dst = os.open(os.path.join(work, "dst"), os.O_RDWR | os.O_CREAT, 0o600)
os.write(src, os.urandom(4096))
a, b = socket.socketpair()
c, d = socket.socketpair()
for o in (a, b, c, d):
    o.setblocking(False)
sin, sout = b.fileno(), c.fileno()

def files(s):
    def body():
        for _ in range(N):
            assert s.copy_range(src, 0, dst, 0, 4096) == 4096
    return body

def socks(s):
    def body():
        for _ in range(N):
            a.send(b"x" * 4096)
            assert s.copy_range(sin, None, sout, None, 4096) == 4096
            assert len(d.recv(8192)) == 4096
    return body

s = splicer.Session()
phase("files unkept", [src, dst], files(s))
s.keep(src)
s.keep(dst)
phase("files kept", [src, dst], files(s))
s.forget_all()
phase("files forgotten", [src, dst], files(s))
phase("socks unkept", [sin, sout], socks(s))
phase("keep stream nonblock", [sin, sout],
      lambda: (s.keep(sin, "stream", nonblock=True), s.keep(sout, "stream", nonblock=True)))
phase("socks kept", [sin, sout], socks(s))
s.forget(sin)
s.forget(sout)
phase("socks forgotten", [sin, sout], socks(s))
s.keep(b)  # a socket object: its type and its timeout (0: O_NONBLOCK) are its kind
s.keep(c)
phase("socket objects kept", [sin, sout], socks(s))
s.close()

# the C session keeps the fds, the driver has no record (a bare handle):
# what is left is the driver's own per-open checks
h = gen.session_new()
gen.session_keep(h, src, gen.FD_UNKNOWN)
gen.session_keep(h, dst, gen.FD_UNKNOWN)
gen.session_keep(h, sin, gen.FD_STREAM | gen.FD_NONBLOCK)
gen.session_keep(h, sout, gen.FD_STREAM | gen.FD_NONBLOCK)

def bare_files():
    for _ in range(N):
        assert _core.transfer(h, src, 0, dst, 0, 4096, -1, False) == 4096

def bare_socks():
    for _ in range(N):
        a.send(b"x" * 4096)
        assert _core.transfer(h, sin, None, sout, None, 4096, -1, False) == 4096
        assert len(d.recv(8192)) == 4096

phase("files kept in C only", [src, dst], bare_files)
phase("socks kept in C only", [sin, sout], bare_socks)
gen.session_free(h)
print(json.dumps({"n": N, "phases": phases}))
"""


def _traced_counts() -> tuple[int, dict[str, int]]:
    """Run _CHILD under strace: per phase, the fstat/fcntl-family syscalls
    made on the phase's fds."""
    n, phases = strace_phases(_CHILD, _MARK)
    return n, {name: sum(1 for _, fd, _ in calls if fd in fds) for name, fds, calls in phases}


def test_opens_on_kept_fds_make_no_fstat_or_fcntl() -> None:
    """Counted by strace over N copies: none on kept fds, in the C library or
    in the driver; the driver's own per-open checks on fds it did not record;
    and the checks back after forget."""
    n, c = _traced_counts()
    # kept through Session.keep: nothing at all, files or sockets
    assert c["files kept"] == 0
    assert c["socks kept"] == 0
    assert c["socket objects kept"] == 0
    # a known kind with nonblock makes no syscall when kept either
    assert c["keep stream nonblock"] == 0
    # the driver's own checks when it has no record: an fstat per end (files
    # never wait), and an fcntl too for an end that may wait
    assert c["files kept in C only"] == 2 * n
    assert c["socks kept in C only"] == 4 * n
    # not kept, or forgotten: the C library's checks and the driver's
    assert c["files unkept"] >= c["files kept in C only"] + 2 * n
    assert c["socks unkept"] >= c["socks kept in C only"] + 2 * n
    assert c["files forgotten"] == c["files unkept"]
    assert c["socks forgotten"] == c["socks unkept"]
