"""Python's buffering: writers flushed first, read-ahead delivered first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import splicer


def test_buffered_writer_is_flushed_first(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"body")
    os.close(w)
    with open(tmp_path / "out", "wb") as dst:
        dst.write(b"head:")  # still in the BufferedWriter
        assert splicer.copy(r, dst) == 4
        dst.write(b":tail")  # the object's position follows the transfer
    assert (tmp_path / "out").read_bytes() == b"head:body:tail"


def test_append_mode_destination(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    (tmp_path / "out").write_bytes(b"old.")
    os.write(w, b"new")
    os.close(w)
    with open(tmp_path / "out", "ab") as dst:
        dst.write(b"mid.")
        assert splicer.copy(r, dst) == 3
        assert dst.tell() == 11
    assert (tmp_path / "out").read_bytes() == b"old.mid.new"


def test_text_destination_is_flushed(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"bytes\n")
    os.close(w)
    with open(tmp_path / "out", "w") as dst:
        dst.write("text\n")
        assert splicer.copy(r, dst) == 6
        dst.write("more\n")
    assert (tmp_path / "out").read_text() == "text\nbytes\nmore\n"


def test_seekable_reader_read_ahead_is_not_skipped(tmp_path: Path, pipe: tuple[int, int]) -> None:
    (tmp_path / "in").write_bytes(b"line one\n" + b"x" * 100_000)
    r, w = pipe
    with open(tmp_path / "in", "rb") as src:
        assert src.readline() == b"line one\n"  # the buffer read far ahead
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.append(os.read(r, 200_000)))
        t.start()
        assert splicer.copy(src, w, 10) == 10
        t.join()
        assert got[0] == b"x" * 10
        assert src.tell() == 19
        assert src.read(3) == b"xxx"


def test_pipe_reader_read_ahead_is_delivered_first(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"first line\nsecond part")
    src = open(r, "rb", closefd=False)
    assert src.readline() == b"first line\n"  # "second part" is in its buffer
    os.write(w, b" and the rest")
    os.close(w)
    with open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(src, dst) == len(b"second part and the rest")
    assert (tmp_path / "out").read_bytes() == b"second part and the rest"
    src.close()


def test_read_ahead_longer_than_length_stays_in_the_reader(
    pipe: tuple[int, int], tmp_path: Path
) -> None:
    r, w = pipe
    os.write(w, b"abcdefghij")
    os.close(w)
    src = open(r, "rb", closefd=False)
    assert src.read(1) == b"a"
    with open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(src, dst, 3) == 3
    assert (tmp_path / "out").read_bytes() == b"bcd"
    assert src.read() == b"efghij"
    src.close()


def test_subprocess_stdout_with_read_ahead(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.write('header\\n' + 'y' * 50000)"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"header\n"
    with open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(proc.stdout, dst) == 50000
    proc.stdout.close()
    proc.wait()
    assert (tmp_path / "out").read_bytes() == b"y" * 50000


def test_socket_makefile_read_ahead(
    sockpair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    a, b = sockpair
    b.sendall(b"GET / HTTP/1.0\r\n\r\nbody bytes")
    b.shutdown(socket.SHUT_WR)
    f = a.makefile("rb")
    assert f.readline() == b"GET / HTTP/1.0\r\n"
    assert f.readline() == b"\r\n"
    with open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(f, dst) == len(b"body bytes")
    assert (tmp_path / "out").read_bytes() == b"body bytes"
    f.close()


def test_text_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("abc")
    with open(tmp_path / "in") as src, open(tmp_path / "out", "wb") as dst:
        with pytest.raises(TypeError, match="text stream"):
            splicer.copy(src, dst)


def test_open_refuses_read_ahead_it_would_skip(pipe: tuple[int, int], tmp_path: Path) -> None:
    r, w = pipe
    os.write(w, b"ab\ncd")
    src = open(r, "rb", closefd=False)
    src.readline()
    with splicer.Session() as s, open(tmp_path / "out", "wb") as dst:
        with pytest.raises(ValueError, match="read-ahead"):
            s.open(src, dst)
    src.close()


def test_socket_timeout_raises_timeout_error(
    sockpair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    a, b = sockpair
    a.settimeout(0.2)
    b.sendall(b"partial")
    with splicer.Session() as s, open(tmp_path / "out", "wb") as dst:
        with pytest.raises(TimeoutError):
            s.copy(a, dst)
        assert s.progress.delivered == 7


def test_nonblocking_socket_raises_blocking_io_error(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = tcp_pair
    a.setblocking(False)
    b.sendall(b"12345")
    r, w = os.pipe()
    try:
        with splicer.Session() as s:
            with pytest.raises(BlockingIOError) as e:
                s.copy(a, w)
            assert e.value.characters_written == 5
            assert os.read(r, 100) == b"12345"
    finally:
        os.close(r)
        os.close(w)
