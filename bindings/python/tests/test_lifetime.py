"""No leak: an unclosed Session is freed by the collector with all its fds,
and every internal fd is close-on-exec."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys

import pytest

import splicer


def fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def pipes_open() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                out.add(fd)
        except OSError:
            pass
    return out


def held_session(pool: bool) -> splicer.Session:
    """A session holding pending bytes in its pipe (or a borrowed pool pipe)."""
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.sendall(os.urandom(200_000))
    s = splicer.Session(nonblock=True, pool=pool)
    with pytest.raises(BlockingIOError):
        s.copy(a, c)
    assert s.progress.pending > 0
    for x in (a, b, c, d):
        x.close()
    return s


@pytest.mark.parametrize("pool", [True, False])
def test_unclosed_session_is_collected_without_fds(pool: bool) -> None:
    gc.collect()
    splicer.pool.trim()
    before = fds()
    s = held_session(pool)
    assert fds() - before  # it holds a pipe now
    del s
    gc.collect()
    splicer.pool.trim()  # idle pool pipes are the pool's, not the session's
    assert fds() == before


def test_session_in_a_cycle_is_collected() -> None:
    gc.collect()
    splicer.pool.trim()
    before = fds()
    s = held_session(False)
    holder: list[object] = [s]
    holder.append(holder)
    del s, holder
    gc.collect()
    assert fds() == before


def test_internal_fds_do_not_pass_to_children() -> None:
    others = pipes_open()
    s = held_session(False)
    mine = pipes_open() - others
    assert mine
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(' '.join(os.listdir('/proc/self/fd')))"],
        close_fds=False,
        capture_output=True,
        text=True,
        check=True,
    )
    inherited = set(child.stdout.split())
    assert not (mine & inherited), f"session pipes reached the child: {mine & inherited}"
    s.close()
