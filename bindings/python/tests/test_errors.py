"""Errors are Python's own: OSError subclasses by errno, TypeError and
ValueError for arguments; nothing is truncated, no negative errno leaks."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

import splicer
from splicer import core


def test_broken_pipe_names_the_method(pipe: tuple[int, int], tmp_path: Path) -> None:
    r, w = pipe
    os.close(r)
    (tmp_path / "in").write_bytes(b"x" * 1000)
    with open(tmp_path / "in", "rb") as src, splicer.Session() as s:
        with pytest.raises(BrokenPipeError) as e:
            s.copy(src, w)
    assert e.value.errno == 32
    assert e.value.method == "splice"  # type: ignore[attr-defined]
    assert "splice" in str(e.value) and "Broken pipe" in str(e.value)


def test_bad_fd_is_ebadf(tmp_path: Path) -> None:
    with pytest.raises(OSError) as e:
        splicer.copy(987654, 987655)
    assert e.value.errno == 9


def test_connection_reset(tcp_pair: tuple[socket.socket, socket.socket], tmp_path: Path) -> None:
    a, b = tcp_pair
    a.sendall(b"data")
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()  # unread data + linger 0: a RST
    with open(tmp_path / "out", "wb") as dst, pytest.raises(ConnectionResetError):
        while True:
            a.send(b"more")  # the RST arrives; keep the socket readable
            splicer.copy(a, dst)


@pytest.mark.parametrize("bad", [1.5, "3", None, b"1", object()])
def test_fd_of_wrong_type(bad: object, pipe: tuple[int, int]) -> None:
    with pytest.raises(TypeError):
        splicer.copy(bad, pipe[1])  # type: ignore[arg-type]


def test_fileno_returning_garbage(pipe: tuple[int, int]) -> None:
    class Odd:
        def fileno(self) -> str:
            return "no"

    with pytest.raises(TypeError):
        splicer.copy(Odd(), pipe[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [-1, -(2**70), 2**64, 2**100])
def test_length_out_of_range(length: int, pipe: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        splicer.copy(pipe[0], pipe[1], length)
    with pytest.raises(ValueError):
        core.copy(core.session_new(), pipe[0], pipe[1], length)


def test_length_wrong_type(pipe: tuple[int, int]) -> None:
    with pytest.raises(TypeError):
        splicer.copy(pipe[0], pipe[1], 1.0)  # type: ignore[arg-type]


def test_largest_length_is_to_eof(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"abc")
    with open(tmp_path / "in", "rb") as src, open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(src, dst, 2**64 - 1) == 3


def test_offset_beyond_int64(pipe: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        splicer.raw.splice(pipe[0], 2**63, pipe[1], None, 10)


def test_negative_offset_is_the_c_einval(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"abc")
    with open(tmp_path / "in", "rb") as src, open(tmp_path / "out", "wb") as dst:
        with pytest.raises(OSError) as e:
            splicer.copy_range(src, -2, dst, None)
        assert e.value.errno == 22


def test_nonblocking_session_raises_blocking_io_error(
    pipe: tuple[int, int], tmp_path: Path
) -> None:
    r, w = pipe
    os.write(w, b"12345")
    with splicer.Session(nonblock=True) as s, open(tmp_path / "out", "wb") as dst:
        with pytest.raises(BlockingIOError) as e:
            s.copy(r, dst)
        assert e.value.characters_written == 5
        assert s.wait() == (r, 1)  # selectors.EVENT_READ


def test_busy_session(sockpair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]) -> None:
    a, b = sockpair
    r, w = pipe
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    os.write(w, os.urandom(60000))
    with splicer.Session(nonblock=True, methods=["read_write"]) as s:
        with pytest.raises(BlockingIOError):
            s.copy(r, a)
        assert s.progress.pending > 0
        with pytest.raises(OSError) as e:
            s.open(r, a)
        assert e.value.errno == 16  # EBUSY: the pending bytes come first
        assert s.abort() > 0


def test_closed_session(pipe: tuple[int, int]) -> None:
    s = splicer.Session()
    s.close()
    assert s.closed
    with pytest.raises(ValueError):
        s.step()
    with pytest.raises(ValueError):
        s.copy(pipe[0], pipe[1])
    with pytest.raises(ValueError):
        _ = s.progress
    s.close()  # twice is fine


def test_options_errors() -> None:
    with splicer.Session() as s:
        with pytest.raises(ValueError):
            s.set("no_such", 1)
        with pytest.raises(ValueError):
            s.get("no_such")
        with pytest.raises(ValueError):
            s.set("methods", ["teleport"])
        with pytest.raises(OSError) as e:
            s.set("chunk", 0)
        assert e.value.errno == 22
        with pytest.raises(OSError):
            s.set("nonblock", 2)
        with pytest.raises(OSError):
            s.set(9999, 1)
        with pytest.raises(TypeError):
            s.set("fallback", "yes")
    with pytest.raises(OSError):
        splicer.Session(chunk=-5)


def test_no_negative_errno_reaches_python(pipe: tuple[int, int]) -> None:
    for call in (
        lambda: core.step(core.session_new()),
        lambda: splicer.raw.tee(pipe[0], pipe[0], 10),
        lambda: splicer.raw.sendfile(pipe[1], 999999, None, 10),
    ):
        try:
            v = call()
        except OSError as e:
            assert e.errno is not None and e.errno > 0
        else:
            assert v >= 0


def test_method_for_errors() -> None:
    with pytest.raises(OSError) as e:
        splicer.method_for(999999, 1)
    assert e.value.errno == 9
