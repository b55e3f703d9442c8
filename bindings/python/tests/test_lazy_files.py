"""lazy_files: an open that leaves a regular file's access mode to the
kernel's first syscall.  The one-shot functions use it; what they raise, and
what they leave untouched, is what an eager open gives."""

from __future__ import annotations

import asyncio
import io
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import data, strace_phases

import splicer
import splicer.aio
from splicer import core

PAYLOAD = data(10_000, seed=7)


def test_option_round_trip() -> None:
    with splicer.Session() as s:
        assert s.get("lazy_files") is False
        s.set("lazy_files", True)
        assert s.get("lazy_files") is True
        assert s.get(core.OPT_LAZY_FILES) == 1
        s.set("lazy_files", 0)
        assert s.get("lazy_files") is False
    with splicer.Session(lazy_files=True) as s:
        assert s.get("lazy_files") is True


def test_option_validation() -> None:
    with splicer.Session(lazy_files=True) as s:
        with pytest.raises(OSError) as e:
            s.set("lazy_files", 2)
        assert e.value.errno == 22
        with pytest.raises(OSError):
            s.set("lazy_files", -1)
        with pytest.raises(TypeError):
            s.set("lazy_files", "yes")
        assert s.get("lazy_files") is True  # a refused value changes nothing


def test_one_shot_session_is_lazy() -> None:
    assert splicer._session().get("lazy_files") is True


# -- ends an eager open refuses -------------------------------------------------


class Ends:
    """A source and a destination, the fds to close, and a check that nothing
    moved (the source's position and bytes, the destination's bytes)."""

    def __init__(self) -> None:
        self.src: Any = None
        self.dst: Any = None
        self.closers: list[Callable[[], None]] = []
        self.checks: list[Callable[[], None]] = []

    def unmoved(self) -> None:
        for check in self.checks:
            check()

    def close(self) -> None:
        for c in reversed(self.closers):
            c()


def _file(ends: Ends, path: Path, flags: int, mode: str, body: bytes) -> io.BufferedIOBase:
    """A file object on a new fd opened with flags (no truncation: the object
    is made from the fd), holding body, at position 0."""
    path.write_bytes(body)
    f = open(os.open(path, flags), mode)  # noqa: SIM115
    ends.closers.append(f.close)

    def check() -> None:
        assert os.lseek(f.fileno(), 0, os.SEEK_CUR) == 0
        assert path.read_bytes() == body

    ends.checks.append(check)
    return f  # type: ignore[return-value]


def _write_only_source(ends: Ends, d: Path) -> None:
    ends.src = _file(ends, d / "src", os.O_WRONLY, "wb", PAYLOAD)


def _readable_source(ends: Ends, d: Path) -> None:
    ends.src = _file(ends, d / "src", os.O_RDONLY, "rb", PAYLOAD)


def _nothing_readable(fd: int) -> Callable[[], None]:
    def check() -> None:
        os.set_blocking(fd, False)
        with pytest.raises(BlockingIOError):
            os.read(fd, 1)

    return check


def case_file_write_only_to_file(ends: Ends, d: Path) -> None:
    _write_only_source(ends, d)
    ends.dst = _file(ends, d / "dst", os.O_WRONLY, "wb", b"before")


def case_file_to_read_only_file(ends: Ends, d: Path) -> None:
    _readable_source(ends, d)
    ends.dst = _file(ends, d / "dst", os.O_RDONLY, "rb", b"before")


def case_file_write_only_to_dev_null(ends: Ends, d: Path) -> None:
    _write_only_source(ends, d)
    ends.dst = open(os.devnull, "wb")  # noqa: SIM115
    ends.closers.append(ends.dst.close)


def case_file_write_only_to_pipe(ends: Ends, d: Path) -> None:
    _write_only_source(ends, d)
    r, w = os.pipe()
    ends.closers += [lambda: os.close(r), lambda: os.close(w)]
    ends.checks.append(_nothing_readable(r))
    ends.dst = w


def case_file_write_only_to_socket(ends: Ends, d: Path) -> None:
    _write_only_source(ends, d)
    a, b = socket.socketpair()
    ends.closers += [a.close, b.close]
    ends.checks.append(_nothing_readable(b.fileno()))
    ends.dst = a


def case_pipe_to_read_only_file(ends: Ends, d: Path) -> None:
    r, w = os.pipe()
    ends.closers += [lambda: os.close(r), lambda: os.close(w)]
    os.write(w, PAYLOAD)

    def bytes_still_there() -> None:
        os.set_blocking(r, False)
        assert os.read(r, len(PAYLOAD) + 1) == PAYLOAD
        os.write(w, PAYLOAD)  # for the next check, if any

    ends.checks.append(bytes_still_there)
    ends.src = r
    ends.dst = _file(ends, d / "dst", os.O_RDONLY, "rb", b"before")


def case_o_path_source_to_file(ends: Ends, d: Path) -> None:
    (d / "src").write_bytes(PAYLOAD)
    fd = os.open(d / "src", os.O_PATH)  # fstat works on it, reads and writes do not
    ends.closers.append(lambda: os.close(fd))
    ends.src = fd
    ends.dst = _file(ends, d / "dst", os.O_WRONLY, "wb", b"before")


CASES = [
    case_file_write_only_to_file,
    case_file_to_read_only_file,
    case_file_write_only_to_dev_null,
    case_file_write_only_to_pipe,
    case_file_write_only_to_socket,
    case_pipe_to_read_only_file,
    case_o_path_source_to_file,
]


def _fd(obj: Any) -> int:
    return obj if isinstance(obj, int) else int(obj.fileno())


@pytest.fixture
def ends_in(tmp_path: Path) -> Iterator[Callable[[Callable[[Ends, Path], None], str], Ends]]:
    made: list[Ends] = []

    def make(setup: Callable[[Ends, Path], None], name: str) -> Ends:
        d = tmp_path / name
        d.mkdir()
        ends = Ends()
        made.append(ends)
        setup(ends, d)
        return ends

    yield make
    for ends in made:
        ends.close()


def _raised(call: Callable[[], object]) -> tuple[type[BaseException], int | None, str, object]:
    with pytest.raises(OSError) as e:
        call()
    return type(e.value), e.value.errno, str(e.value), getattr(e.value, "method", "absent")


@pytest.mark.parametrize("setup", CASES, ids=lambda f: f.__name__[5:])
@pytest.mark.parametrize("as_fd", [False, True], ids=["objects", "fds"])
def test_one_shot_copy_raises_what_an_eager_open_raises(
    setup: Callable[[Ends, Path], None],
    as_fd: bool,
    ends_in: Callable[[Callable[[Ends, Path], None], str], Ends],
    tmp_path: Path,
) -> None:
    def ends_of(e: Ends) -> tuple[Any, Any]:
        return (_fd(e.src), _fd(e.dst)) if as_fd else (e.src, e.dst)

    eager_ends = ends_in(setup, "eager")
    with splicer.Session() as eager:
        assert eager.get("lazy_files") is False
        expected = _raised(lambda: eager.copy(*ends_of(eager_ends)))
    eager_ends.unmoved()
    assert expected == (OSError, 9, "[Errno 9] open: Bad file descriptor", None)

    lazy_ends = ends_in(setup, "lazy")
    assert _raised(lambda: splicer.copy(*ends_of(lazy_ends))) == expected
    lazy_ends.unmoved()
    src, dst = ends_of(lazy_ends)
    assert _raised(lambda: splicer.copy_range(src, None, dst, None)) == expected
    lazy_ends.unmoved()

    # the thread's session is left ready for the next copy
    (tmp_path / "good").write_bytes(PAYLOAD)
    with open(tmp_path / "good", "rb") as f, open(tmp_path / "copy", "wb") as g:
        assert splicer.copy(f, g) == len(PAYLOAD)
    assert (tmp_path / "copy").read_bytes() == PAYLOAD
    assert splicer._session().progress.finished


@pytest.mark.parametrize("setup", CASES, ids=lambda f: f.__name__[5:])
def test_asyncio_copy_raises_what_an_eager_open_raises(
    setup: Callable[[Ends, Path], None],
    ends_in: Callable[[Callable[[Ends, Path], None], str], Ends],
    tmp_path: Path,
) -> None:
    eager_ends = ends_in(setup, "eager")
    with splicer.Session() as eager:
        expected = _raised(
            lambda: asyncio.run(splicer.aio.copy(eager_ends.src, eager_ends.dst, session=eager))
        )
    eager_ends.unmoved()
    assert expected == (OSError, 9, "[Errno 9] open: Bad file descriptor", None)

    lazy_ends = ends_in(setup, "lazy")
    assert _raised(lambda: asyncio.run(splicer.aio.copy(lazy_ends.src, lazy_ends.dst))) == expected
    lazy_ends.unmoved()

    (tmp_path / "good").write_bytes(PAYLOAD)
    with open(tmp_path / "good", "rb") as f, open(tmp_path / "copy", "wb") as g:
        assert asyncio.run(splicer.aio.copy(f, g)) == len(PAYLOAD)
    assert (tmp_path / "copy").read_bytes() == PAYLOAD


def test_lazy_session_copy_raises_the_open_error(
    ends_in: Callable[[Callable[[Ends, Path], None], str], Ends],
) -> None:
    ends = ends_in(case_file_write_only_to_file, "x")
    with splicer.Session(lazy_files=True) as s:
        e = _raised(lambda: s.copy(ends.src, ends.dst))
        assert e == (OSError, 9, "[Errno 9] open: Bad file descriptor", None)
        # as after a refused open: nothing pending, nothing to resume
        assert s.progress.pending == 0 and s.abort() == 0
    ends.unmoved()


def test_lazy_open_then_step_is_ebadf_with_nothing_moved(
    ends_in: Callable[[Callable[[Ends, Path], None], str], Ends],
) -> None:
    ends = ends_in(case_file_to_read_only_file, "x")
    with splicer.Session(lazy_files=True) as s:
        s.open(ends.src, ends.dst)  # the open does not read the flags
        with pytest.raises(OSError) as e:
            s.step()
        assert e.value.errno == 9
        # the transfer ended as a refused open leaves it: no method
        assert e.value.method is None  # type: ignore[attr-defined]
        assert str(e.value) == "[Errno 9] step: Bad file descriptor"
        p = s.progress
        assert (p.consumed, p.delivered, p.pending, p.finished) == (0, 0, 0, False)
        assert p.method == "none"
        assert s.stats.bytes == 0
        assert s.step() == 0  # nothing left to step
    ends.unmoved()
    with splicer.Session() as s, pytest.raises(OSError) as e:
        s.open(ends.src, ends.dst)  # eager: the open itself
    assert str(e.value) == "[Errno 9] open: Bad file descriptor"


def test_lazy_copy_of_good_files(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(PAYLOAD)
    with splicer.Session(lazy_files=True) as s:
        with open(tmp_path / "src", "rb") as f, open(tmp_path / "dst", "wb") as g:
            assert s.copy(f, g) == len(PAYLOAD)
            assert f.tell() == len(PAYLOAD) and g.tell() == len(PAYLOAD)
        assert s.progress.method == "copy_file_range"
    assert (tmp_path / "dst").read_bytes() == PAYLOAD


def test_lazy_append_destination_still_falls_back(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(PAYLOAD)
    (tmp_path / "dst").write_bytes(b"head")
    with open(tmp_path / "src", "rb") as f, open(tmp_path / "dst", "ab") as g:
        assert splicer.copy(f, g) == len(PAYLOAD)
        assert g.tell() == 4 + len(PAYLOAD)
    assert (tmp_path / "dst").read_bytes() == b"head" + PAYLOAD


def test_lazy_append_destination_without_fallback_is_a_step_error(tmp_path: Path) -> None:
    """copy_file_range refuses an O_APPEND destination with EBADF: without
    fallback that is the step's error, the transfer open with its method, as
    with an eager open."""
    (tmp_path / "src").write_bytes(PAYLOAD)
    (tmp_path / "dst").write_bytes(b"head")
    with open(tmp_path / "src", "rb") as f, open(tmp_path / "dst", "ab") as g:
        for lazy in (False, True):
            with splicer.Session(lazy_files=lazy, fallback=False) as s:
                for op, call in (("copy", lambda: s.copy(f, g)), ("step", s.step)):
                    if op == "step":
                        s.open(f, g)
                    assert _raised(call) == (
                        OSError,
                        9,
                        f"[Errno 9] {op}: Bad file descriptor (method copy_file_range)",
                        "copy_file_range",
                    )
                    p = s.progress
                    assert (p.consumed, p.method, p.finished) == (0, "copy_file_range", False)
    assert (tmp_path / "dst").read_bytes() == b"head"


# -- a destination object's position after a copy --------------------------------


def test_read_write_destination_position_follows(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"NEW")
    os.close(w)
    (tmp_path / "out").write_bytes(b"abcdefgh")
    with open(tmp_path / "out", "r+b") as dst:
        assert dst.read(2) == b"ab"  # the buffer read ahead of the position
        assert splicer.copy(r, dst) == 3
        assert dst.tell() == 5
        assert dst.read() == b"fgh"
    assert (tmp_path / "out").read_bytes() == b"abNEWfgh"


def test_append_fd_not_at_its_end(tmp_path: Path, pipe: tuple[int, int]) -> None:
    """An O_APPEND fd whose position is not the end (os.fdopen does not move
    it): writes land at the end, and the object's position is where they
    ended."""
    r, w = pipe
    os.write(w, b"tail")
    os.close(w)
    (tmp_path / "out").write_bytes(b"head")
    with open(os.open(tmp_path / "out", os.O_WRONLY | os.O_APPEND), "wb") as dst:
        assert dst.tell() == 0
        assert splicer.copy(r, dst) == 4
        assert dst.tell() == 8
        dst.write(b"!")
    assert (tmp_path / "out").read_bytes() == b"headtail!"


# -- syscalls counted by strace ------------------------------------------------

_MARK = 9999  # fstat of this fd (not open) separates the phases in the trace

_CHILD = r"""
import asyncio, json, os, sys, tempfile
import splicer, splicer.aio

N = 10
MARK = int(sys.argv[1])
work = tempfile.mkdtemp()
src_path, dst_path = os.path.join(work, "src"), os.path.join(work, "dst")
with open(src_path, "wb") as f:
    f.write(os.urandom(65536))
phases = []

def mark():
    try:
        os.fstat(MARK)
    except OSError:
        pass

def phase(name, copy):
    with open(src_path, "rb") as f, open(dst_path, "wb") as g:
        fds = [f.fileno(), g.fileno()]
        mark()
        for _ in range(N):
            f.seek(0)
            g.seek(0)
            assert copy(f, g) == 65536
        mark()
    phases.append([name, fds])

splicer.copy(open(src_path, "rb"), open(dst_path, "wb"))  # the thread's session
eager = splicer.Session()
phase("one-shot", splicer.copy)
phase("eager session", eager.copy)
phase("one-shot fds", lambda f, g: splicer.copy(f.fileno(), g.fileno()))
phase("asyncio", lambda f, g: asyncio.run(splicer.aio.copy(f, g)))
print(json.dumps({"n": N, "phases": phases}))
"""


def _getfl_counts() -> tuple[int, dict[str, int]]:
    """Run _CHILD under strace: per phase, the fcntl(F_GETFL) calls made on
    the phase's two files."""
    n, phases = strace_phases(_CHILD, _MARK)
    counts = {
        name: sum(1 for sc, fd, rest in calls if sc == "fcntl" and fd in fds and "F_GETFL" in rest)
        for name, fds, calls in phases
    }
    return n, counts


def test_lazy_one_shot_copy_reads_no_file_flags() -> None:
    """Counted by strace: a one-shot copy between two files (and asyncio's
    copy on a session of its own) makes no fcntl(F_GETFL) for them, in the C
    library or in this binding; an eager
    session makes one per file (what the one-shot spares)."""
    n, c = _getfl_counts()
    assert c["one-shot"] == 0
    assert c["one-shot fds"] == 0
    assert c["asyncio"] == 0
    assert c["eager session"] == 2 * n
