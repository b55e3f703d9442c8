"""The examples, run as a user would: cp.py, the asyncio proxy, the tee of
a subprocess's output to a file and a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from conftest import recv_all

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def test_cp(tmp_path: Path) -> None:
    payload = os.urandom(3_000_000)
    (tmp_path / "in").write_bytes(payload)
    r = subprocess.run(
        [sys.executable, EXAMPLES / "cp.py", "--stats", tmp_path / "in", tmp_path / "out"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "copy_file_range" in r.stderr
    assert (tmp_path / "out").read_bytes() == payload
    # through stdin and stdout (pipes)
    with open(tmp_path / "in", "rb") as stdin:
        r2 = subprocess.run(
            [sys.executable, EXAMPLES / "cp.py", "-", "-"],
            env=ENV,
            stdin=stdin,
            capture_output=True,
            timeout=60,
        )
    assert r2.returncode == 0 and r2.stdout == payload


def test_tee_subprocess(tmp_path: Path) -> None:
    payload = os.urandom(2_000_000)
    (tmp_path / "in").write_bytes(payload)
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        got: list[bytes] = []

        def receive() -> None:
            conn, _ = lst.accept()
            with conn:
                got.append(recv_all(conn))

        t = threading.Thread(target=receive)
        t.start()
        r = subprocess.run(
            [
                sys.executable,
                EXAMPLES / "tee_subprocess.py",
                tmp_path / "out",
                "127.0.0.1",
                str(port),
                "cat",
                tmp_path / "in",
            ],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        t.join(10)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == payload
    assert got[0] == payload


def test_aio_proxy() -> None:
    # an echo server upstream
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(1)

    def echo() -> None:
        conn, _ = upstream.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                conn.sendall(chunk)

    t = threading.Thread(target=echo)
    t.start()
    proxy = subprocess.Popen(
        [
            sys.executable,
            EXAMPLES / "aio_proxy.py",
            "--connections",
            "1",
            "0",
            "127.0.0.1",
            str(upstream.getsockname()[1]),
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proxy.stdout is not None
    port = int(proxy.stdout.readline())
    payload = b"HELLO proxy\n" + os.urandom(1_500_000)
    with socket.create_connection(("127.0.0.1", port)) as c:
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(recv_all(c)))
        reader.start()
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        reader.join(30)
    _, err = proxy.communicate(timeout=30)
    t.join(10)
    upstream.close()
    assert proxy.returncode == 0, err
    assert "HELLO proxy" in err
    assert got[0] == payload
