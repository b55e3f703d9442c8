"""The GIL is released around blocking calls, and blocked calls are
interruptible (Ctrl-C), with pending bytes accounted and resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import splicer


def test_two_blocked_copies_do_not_stop_a_third_thread(tmp_path: Path) -> None:
    pipes = [os.pipe() for _ in range(2)]
    results: list[int] = []

    def blocked(k: int) -> None:
        with open(tmp_path / f"o{k}", "wb") as dst:
            results.append(splicer.copy(pipes[k][0], dst))

    copiers = [threading.Thread(target=blocked, args=(k,)) for k in range(2)]
    for t in copiers:
        t.start()
    time.sleep(0.2)  # both are waiting on pipes nobody writes
    assert all(t.is_alive() for t in copiers)
    counted = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        counted += 1  # Python code running in this (third) thread
    assert counted > 10_000
    assert all(t.is_alive() for t in copiers)
    for _r, w in pipes:
        os.write(w, b"end")
        os.close(w)
    for t in copiers:
        t.join(5)
    assert results == [3, 3]
    for r, _ in pipes:
        os.close(r)


CHILD = textwrap.dedent(
    """
    import json, os, socket, sys, threading
    import splicer
    src_peer, src = socket.socketpair()
    dst, dst_peer = socket.socketpair()
    dst.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    dst_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = bytes(range(256)) * 1024
    threading.Thread(target=lambda: (src_peer.sendall(payload), src_peer.shutdown(socket.SHUT_WR)),
                     daemon=True).start()
    s = splicer.Session(methods=["read_write"])
    print("ready", flush=True)
    try:
        s.copy(src, dst)
        print(json.dumps({"interrupted": False}), flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        p = s.progress
    got = bytearray()
    def reader():
        while chunk := dst_peer.recv(65536):
            got.extend(chunk)
    t = threading.Thread(target=reader)
    t.start()
    resumed = s.resume()
    dst.shutdown(socket.SHUT_WR)
    t.join()
    print(json.dumps({"interrupted": True, "consumed": p.consumed, "delivered": p.delivered,
                      "pending": p.pending, "resumed": resumed,
                      "exact": bytes(got) == payload, "total": len(got)}), flush=True)
    """
)


def test_sigint_interrupts_a_blocked_copy_and_resume_delivers(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # the copy is now blocked: nobody reads the destination
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    r = json.loads(out.strip().splitlines()[-1])
    assert r["interrupted"]
    assert r["consumed"] == r["delivered"] + r["pending"]
    assert r["pending"] > 0  # taken from the source, held by the session
    assert r["exact"] and r["total"] == 256 * 1024  # every byte exactly once
    assert r["delivered"] + r["resumed"] == 256 * 1024


RAW_CHILD = textwrap.dedent(
    """
    import os, sys
    import splicer
    r, w = os.pipe()
    r2, w2 = os.pipe()
    print("ready", flush=True)
    try:
        splicer.raw.splice(r, None, w2, None, 100)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    """
)


def test_sigint_interrupts_a_blocked_raw_splice() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", RAW_CHILD], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "interrupted"


def test_signal_handler_that_returns_lets_the_copy_go_on(
    pipe: tuple[int, int], tmp_path: Path
) -> None:
    r, w = pipe
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: seen.append(1))
    try:

        def later() -> None:
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.1)
            os.write(w, b"after the signal")
            os.close(w)

        t = threading.Thread(target=later)
        t.start()
        with open(tmp_path / "o", "wb") as dst:
            assert splicer.copy(r, dst) == len(b"after the signal")
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert seen == [1]


OTHER_THREAD_CHILD = textwrap.dedent(
    """
    import os, signal, threading, time
    import splicer
    r, w = os.pipe()
    out = os.open(os.devnull, os.O_WRONLY)
    def elsewhere():
        time.sleep(0.3)
        # the signal lands on this thread, not on the one blocked in copy
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
    threading.Thread(target=elsewhere, daemon=True).start()
    t0 = time.monotonic()
    try:
        splicer.copy(r, out)
    except KeyboardInterrupt:
        print("interrupted after %.2f s" % (time.monotonic() - t0), flush=True)
    """
)


def test_sigint_delivered_to_another_thread_still_interrupts() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", OTHER_THREAD_CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    assert out.startswith("interrupted after"), out
