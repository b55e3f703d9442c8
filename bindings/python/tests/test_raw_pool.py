"""splicer.raw mirrors the syscall wrappers; splicer.pool the pipe pool."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import splicer
from splicer import raw


def test_splice_tee_vmsplice(pipe: tuple[int, int]) -> None:
    r, w = pipe
    r2, w2 = os.pipe()
    try:
        second = bytearray(b"def")  # the pipe refers to it until it is read
        assert raw.vmsplice(w, [b"abc", second]) == 6
        assert raw.tee(r, w2, 100) == 6
        assert raw.splice(r2, None, w, None, 100, raw.F_MOVE) == 6
        assert os.read(r, 100) == b"abcdefabcdef"
        assert raw.pipe_size(r) >= 4096
        assert raw.set_pipe_size(r, 65536) == 65536
        with pytest.raises(OSError) as e:
            raw.vmsplice(r, b"x")  # a read end
        assert e.value.errno == 9
        with pytest.raises(BlockingIOError):
            raw.splice(r, None, w2, None, 10, raw.F_NONBLOCK)
    finally:
        os.close(r2)
        os.close(w2)


def test_sendfile_and_copy_file_range(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"0123456789")
    with open(tmp_path / "in", "rb") as src, open(tmp_path / "out", "w+b") as dst:
        assert raw.copy_file_range(src, 2, dst, None, 4) == 4
        assert raw.sendfile(dst, src, 0, 2) == 2
        assert src.tell() == 0
        dst.seek(0)
        assert dst.read() == b"234501"
    a, b = socket.socketpair()
    with open(tmp_path / "in", "rb") as src:
        assert raw.sendfile(a, src, None, 100) == 10
    assert b.recv(100) == b"0123456789"
    a.close()
    b.close()


def test_raw_errors(pipe: tuple[int, int]) -> None:
    with pytest.raises(OSError) as e:
        raw.splice(pipe[0], -2, pipe[1], None, 1)
    assert e.value.errno == 22
    with pytest.raises(ValueError):
        raw.tee(pipe[0], pipe[1], -1)
    with pytest.raises(TypeError):
        raw.vmsplice(pipe[1], 5)  # type: ignore[arg-type]


def test_pool_options_and_stats(pipe: tuple[int, int]) -> None:
    saved = {k: splicer.pool.get(k) for k in splicer.pool.OPTIONS}
    try:
        splicer.pool.configure(max_pipes=4, max_idle=2, pipe_size=65536)
        assert splicer.pool.get("max_pipes") == 4
        assert splicer.pool.get("max_idle") == 2
        assert splicer.pool.get("pipe_size") == 65536
        with pytest.raises(OSError) as e:
            splicer.pool.set("max_pipes", -1)
        assert e.value.errno == 22
        with pytest.raises(ValueError):
            splicer.pool.get("nope")
        before = splicer.pool.stats()
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        b.sendall(b"x" * 100_000)
        b.shutdown(socket.SHUT_WR)
        got = bytearray()
        import threading

        def drain() -> None:
            while chunk := d.recv(65536):
                got.extend(chunk)

        t = threading.Thread(target=drain)
        t.start()
        with splicer.Session() as s:
            assert s.copy(a, c) == 100_000
            assert s.stats.pool_misses == 0
            # one pipe lent of 4: the pool is never short, nothing spills
            assert s.stats.pool_spills == 0
        c.shutdown(socket.SHUT_WR)
        t.join()
        after = splicer.pool.stats()
        assert after.borrowed > before.borrowed
        assert after.returned - before.returned == after.borrowed - before.borrowed
        assert after.in_use == 0 and after.peak_in_use >= 1
        assert len(after) == 11 and after.undersized >= 0 and after.discarded >= 0
        assert after.spills == before.spills and after[10] == after.spills
        assert splicer.pool.trim() >= 1
        assert splicer.pool.stats().idle == 0
        for x in (a, b, c, d):
            x.close()
    finally:
        splicer.pool.configure(**saved)


def test_pool_of_zero_counts_misses() -> None:
    saved = splicer.pool.get("max_pipes")
    try:
        splicer.pool.set("max_pipes", 0)
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        b.sendall(b"y" * 1000)
        b.shutdown(socket.SHUT_WR)
        with splicer.Session() as s:
            assert s.copy(a, c) == 1000
            assert s.stats.pool_misses >= 1
            assert s.stats.bytes_by_method["read_write"] == 1000
        assert d.recv(2000) == b"y" * 1000
        for x in (a, b, c, d):
            x.close()
    finally:
        splicer.pool.set("max_pipes", saved)


def test_pool_spills_when_short() -> None:
    """A destination full while the pool's only pipe is lent to its session:
    the bytes left go into a buffer and the pipe back to the pool, so another
    session splices through it; the first transfer still delivers every byte."""
    saved = splicer.pool.get("max_pipes")
    socks = [*socket.socketpair(), *socket.socketpair(), *socket.socketpair(), *socket.socketpair()]
    src, src_peer, dst, dst_peer, src2, src2_peer, dst2, dst2_peer = socks
    try:
        splicer.pool.set("max_pipes", 1)
        splicer.pool.trim()
        before = splicer.pool.stats()
        payload = os.urandom(100_000)
        src_peer.sendall(payload)
        src_peer.shutdown(socket.SHUT_WR)
        dst.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        dst_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with splicer.Session(nonblock=True) as s:
            s.open(src, dst)
            assert s.step() >= 1
            assert s.progress.pending >= 1
            assert (s.stats.pool_spills, s.stats.pool_misses) == (1, 0)
            mid = splicer.pool.stats()
            assert mid.spills - before.spills == 1
            assert (mid.in_use, mid.idle, mid.discarded) == (0, 1, before.discarded)
            # the pipe is back: another session splices instead of missing
            other_payload = os.urandom(30_000)
            src2_peer.sendall(other_payload)
            src2_peer.shutdown(socket.SHUT_WR)
            with splicer.Session() as other:
                assert other.copy(src2, dst2) == 30_000
                assert other.stats.pool_misses == 0
                assert other.stats.bytes_by_method["splice_pipe"] == 30_000
            dst2.shutdown(socket.SHUT_WR)
            got2 = bytearray()
            while chunk := dst2_peer.recv(65536):
                got2 += chunk
            assert bytes(got2) == other_payload
            # the spilled transfer delivers every byte, once: each EAGAIN is
            # a destination whose peer has bytes to read
            got = bytearray()
            while True:
                try:
                    if s.step() == 0:
                        break
                except BlockingIOError:
                    got += dst_peer.recv(65536)
            assert s.progress.delivered == len(payload)
        dst.shutdown(socket.SHUT_WR)
        while chunk := dst_peer.recv(65536):
            got += chunk
        assert bytes(got) == payload
        after = splicer.pool.stats()
        assert (after.in_use, after.discarded) == (0, before.discarded)
    finally:
        splicer.pool.set("max_pipes", saved)
        splicer.pool.trim()
        for x in socks:
            x.close()
