"""Fixtures shared by the binding's tests: pipes, socket pairs, data, and
the syscalls of a child run under strace."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


# A traced call: the syscall's name, its first argument (an fd) and the rest
# of strace's line after that argument's comma; a phase: its name, its fds
# and its calls.
TracedCall = tuple[str, int, str]
TracedPhase = tuple[str, list[int], list[TracedCall]]

_TRACED_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((-?\d+),(.*)$")


def strace_phases(child: str, mark: int) -> tuple[int, list[TracedPhase]]:
    """Run the Python source child, with mark as its argument, under strace
    (fstat, newfstatat, statx and fcntl traced; skipped when strace is not
    installed or cannot trace here).  The child opens and closes each of its
    phases with a syscall on the fd mark (not open) and prints the JSON
    {"n": N, "phases": [[name, fds], ...]}; this returns N and, per phase,
    its name, its fds and the calls made between its two marks."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    env = dict(os.environ)
    pkg_root = str(Path(splicer.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace"
        r = subprocess.run(
            [strace, "-f", "-qq", "-o", str(trace),
             "-e", "trace=fstat,newfstatat,statx,fcntl",
             sys.executable, "-c", child, str(mark)],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        if r.returncode != 0 and "ptrace" in r.stderr.lower():
            pytest.skip(f"strace cannot trace here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        lines = trace.read_text().splitlines()
    report = json.loads(r.stdout)
    segments: list[list[TracedCall]] = []
    current: list[TracedCall] | None = None
    for line in lines:
        m = _TRACED_CALL.match(line)
        if not m:
            continue
        if int(m.group(2)) == mark:
            if current is None:
                current = []
            else:
                segments.append(current)
                current = None
        elif current is not None:
            current.append((m.group(1), int(m.group(2)), m.group(3)))
    assert len(segments) == len(report["phases"])
    phases = [(name, fds, seg) for (name, fds), seg in zip(report["phases"], segments, strict=True)]
    return report["n"], phases
