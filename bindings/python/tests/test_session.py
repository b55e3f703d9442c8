"""Sessions: options, stepping, waiting, abort/resume, stats, Buf."""

from __future__ import annotations

import os
import selectors
import socket
import threading
from pathlib import Path

import pytest

import splicer


def test_options_round_trip() -> None:
    with splicer.Session(
        chunk=65536, fallback=False, methods=["splice", "read_write"], pool=False
    ) as s:
        assert s.get("chunk") == 65536
        assert s.get("fallback") is False
        assert s.get("methods") == frozenset({"splice", "read_write"})
        assert s.get("pool") is False
        assert s.get("nonblock") is False
        s.set("nonblock", True)
        assert s.nonblock and s.get("nonblock") is True
        s.set("methods", 1 << 3)
        assert s.get("methods") == frozenset({"splice"})
        assert s.get(100) == s.get("pipe_size")


def test_stepping_with_a_selector(sockpair: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockpair
    r, w = os.pipe()
    payload = os.urandom(1_000_000)
    got = bytearray()
    feeder = threading.Thread(target=lambda: (os.write(w, payload), os.close(w)))
    feeder.start()
    sel = selectors.DefaultSelector()
    with splicer.Session(nonblock=True) as s:
        s.open(r, a)
        b.setblocking(False)
        while True:
            try:
                if s.step() == 0:
                    break
            except BlockingIOError:
                fd, events = s.wait()
                assert events in (selectors.EVENT_READ, selectors.EVENT_WRITE)
                sel.register(fd, events)
                sel.select(0.05)
                sel.unregister(fd)
                try:
                    got += b.recv(1 << 20)
                except BlockingIOError:
                    pass
        p = s.progress
        assert p.finished and p.delivered == len(payload) and p.pending == 0
    sel.close()
    feeder.join()
    a.shutdown(socket.SHUT_WR)
    b.setblocking(True)
    while chunk := b.recv(1 << 20):
        got += chunk
    os.close(r)
    assert bytes(got) == payload


def test_abort_drops_pending_and_counts(sockpair: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockpair
    r, w = os.pipe()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    os.write(w, os.urandom(50000))
    with splicer.Session(nonblock=True, methods=["read_write"]) as s:
        s.open(r, a)
        with pytest.raises(BlockingIOError):
            s.run()
        p = s.progress
        assert p.consumed == p.delivered + p.pending and p.pending > 0
        assert s.abort() == p.pending
        assert s.progress.pending == 0
    os.close(r)
    os.close(w)


def test_stats_and_progress_are_named_tuples(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"a" * 5000)
    with (
        splicer.Session() as s,
        open(tmp_path / "in", "rb") as src,
        open(tmp_path / "o", "wb") as dst,
    ):
        s.copy(src, dst)
        st = s.stats
        assert isinstance(st, tuple) and st.bytes == 5000 and st.syscalls >= 1
        assert st.fallbacks == 0 and st.eagain == 0 and st.pool_misses == 0
        assert st.pool_spills == 0 and len(st) == 7 and st[6] == st.pool_spills
        assert set(st.bytes_by_method) == set(splicer.METHODS[1:])
        p = s.progress
        assert p == (5000, 5000, 0, "copy_file_range", True)
        assert "copy_file_range" in repr(s)


def test_blocking_step_waits_for_data(pipe: tuple[int, int], tmp_path: Path) -> None:
    r, w = pipe
    timer = threading.Timer(0.1, lambda: os.write(w, b"late"))
    timer.start()
    with splicer.Session() as s, open(tmp_path / "o", "wb") as dst:
        s.open(r, dst, 4)
        assert s.step() == 4
        assert s.step() == 0
    timer.join()


def test_buf_write_buf(pipe: tuple[int, int]) -> None:
    r, w = pipe
    buf = splicer.Buf(10000)
    assert len(buf) == 10000 and not buf.handed_over
    with memoryview(buf) as m:
        m[:5] = b"hello"
        m[5:10] = b"world"
    with splicer.Session() as s:
        assert s.write_buf(w, buf, 10) == 10
        assert s.progress.method in ("vmsplice", "read_write")
    assert os.read(r, 100) == b"helloworld"
    assert buf.handed_over and "handed over" in repr(buf)
    with pytest.raises(BufferError):
        memoryview(buf)  # sealed: never writable again
    with splicer.Session() as s, pytest.raises(ValueError):
        s.write_buf(w, buf)


def test_buf_hand_over_refused_while_viewed(pipe: tuple[int, int]) -> None:
    buf = splicer.Buf(4096)
    view = memoryview(buf)
    part = view[10:20]
    with splicer.Session() as s:
        with pytest.raises(BufferError):
            s.write_buf(pipe[1], buf)
        view.release()
        with pytest.raises(BufferError):  # a slice is a view too
            s.write_buf(pipe[1], buf)
        part.release()
        assert s.write_buf(pipe[1], buf, 100) == 100


def test_buf_bad_sizes() -> None:
    with pytest.raises(ValueError):
        splicer.Buf(0)
    with pytest.raises(TypeError):
        splicer.Buf("10")  # type: ignore[arg-type]


def test_buf_length_past_size_is_einval(pipe: tuple[int, int]) -> None:
    buf = splicer.Buf(4096)
    with splicer.Session() as s, pytest.raises(OSError) as e:
        s.write_buf(pipe[1], buf, 4097)
    assert e.value.errno == 22
    assert not buf.handed_over


def test_generated_layer_mirrors_the_header(pipe: tuple[int, int]) -> None:
    from splicer import core

    r, w = pipe
    s = core.session_new()
    os.write(w, b"abc")
    os.close(w)
    rr, ww = os.pipe()
    assert core.copy(s, r, ww, 3) == 3
    assert os.read(rr, 10) == b"abc"
    assert core.progress_get(s).delivered == 3
    assert core.strerror(-32) == "Broken pipe" and core.errname(-11) == "EAGAIN"
    assert core.method_name(4) == "splice_pipe"
    b = core.buf_new(100)
    assert core.buf_write(b, 0, b"xyz") == 3 and core.buf_size(b) == 100
    core.buf_free(b)
    with pytest.raises(ValueError):
        core.buf_size(b)
    core.session_free(s)
    with pytest.raises(ValueError):
        core.step(s)
    os.close(rr)
    os.close(ww)
