"""Whole transfers: every common pair of fd kinds, lengths, offsets, tee."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import data, recv_all

import splicer


def test_pattern_matches_the_suite_reference() -> None:
    # tests/README.md section 2: first 8 bytes of seed 1 and of seed 2**32-1
    assert data(8).hex() == "0162c2058614045c"
    assert data(8, 4294967295).hex() == "0060c00380160652"


def test_version() -> None:
    assert splicer.version.count(".") == 2
    assert splicer.version_number >= 100


def test_file_to_file(tmp_path: Path) -> None:
    payload = os.urandom(300_000)
    (tmp_path / "in").write_bytes(payload)
    with open(tmp_path / "in", "rb") as src, open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(src, dst) == len(payload)
        assert src.tell() == len(payload)
        assert dst.tell() == len(payload)
    assert (tmp_path / "out").read_bytes() == payload


def test_int_fds_and_length(tmp_path: Path) -> None:
    payload = os.urandom(100_000)
    (tmp_path / "in").write_bytes(payload)
    src = os.open(tmp_path / "in", os.O_RDONLY)
    dst = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert splicer.copy(src, dst, 1000) == 1000
        assert os.lseek(src, 0, os.SEEK_CUR) == 1000
        assert splicer.copy(src, dst) == len(payload) - 1000
        assert splicer.copy(src, dst) == 0  # at end of file
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / "out").read_bytes() == payload


def test_file_to_socket_uses_sendfile(
    tmp_path: Path, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    payload = os.urandom(2_000_000)
    (tmp_path / "in").write_bytes(payload)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(recv_all(b)))
    reader.start()
    with open(tmp_path / "in", "rb") as src, splicer.Session() as s:
        assert splicer.method_for(src, a) == "sendfile"
        assert s.copy(src, a) == len(payload)
        assert s.progress.method == "sendfile"
        assert s.stats.bytes_by_method["sendfile"] == len(payload)
    a.shutdown(socket.SHUT_WR)
    reader.join()
    assert got[0] == payload


def test_tcp_to_tcp(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    src_peer, src = tcp_pair
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        dst = socket.create_connection(lst.getsockname())
        dst_peer, _ = lst.accept()
    payload = os.urandom(3_000_000)
    got: list[bytes] = []
    writer = threading.Thread(
        target=lambda: (src_peer.sendall(payload), src_peer.shutdown(socket.SHUT_WR))
    )
    reader = threading.Thread(target=lambda: got.append(recv_all(dst_peer)))
    writer.start()
    reader.start()
    with splicer.Session() as s:
        assert s.copy(src, dst) == len(payload)
        assert s.progress.method == "splice_pipe"
    dst.shutdown(socket.SHUT_WR)
    writer.join()
    reader.join()
    dst.close()
    dst_peer.close()
    assert got[0] == payload


def test_pipe_to_file(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    payload = os.urandom(500_000)
    t = threading.Thread(target=lambda: (os.write(w, payload), os.close(w)))
    t.start()
    with open(tmp_path / "out", "wb") as dst:
        assert splicer.copy(r, dst) == len(payload)
    t.join()
    assert (tmp_path / "out").read_bytes() == payload


def test_copy_range_leaves_positions(tmp_path: Path) -> None:
    payload = os.urandom(10_000)
    (tmp_path / "in").write_bytes(payload)
    with open(tmp_path / "in", "rb") as src, open(tmp_path / "out", "w+b") as dst:
        assert splicer.copy_range(src, 100, dst, 50, 1000) == 1000
        assert src.tell() == 0
        assert dst.tell() == 0
        dst.seek(50)
        assert dst.read() == payload[100:1100]


def test_tee_to_file_and_socket(
    tmp_path: Path, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    payload = os.urandom(400_000)
    (tmp_path / "in").write_bytes(payload)
    proc = subprocess.Popen(["cat", str(tmp_path / "in")], stdout=subprocess.PIPE)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(recv_all(b)))
    reader.start()
    assert proc.stdout is not None
    with open(tmp_path / "out", "wb") as f:
        assert splicer.tee(proc.stdout, f, a) == len(payload)
    a.shutdown(socket.SHUT_WR)
    reader.join()
    proc.stdout.close()
    assert proc.wait() == 0
    assert (tmp_path / "out").read_bytes() == payload
    assert got[0] == payload


def test_tee_needs_a_destination(pipe: tuple[int, int]) -> None:
    with pytest.raises(TypeError):
        splicer.tee(pipe[0])


def test_tee_too_many_destinations_is_einval(pipe: tuple[int, int]) -> None:
    with pytest.raises(OSError) as e:
        splicer.tee(pipe[0], *([pipe[1]] * (splicer.TEE_MAX + 1)))
    assert e.value.errno == 22


def test_one_shot_functions_are_per_thread(tmp_path: Path) -> None:
    payload = os.urandom(200_000)
    (tmp_path / "in").write_bytes(payload)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(20):
                with open(tmp_path / "in", "rb") as src, open(tmp_path / f"o{k}", "wb") as dst:
                    assert splicer.copy(src, dst) == len(payload)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        assert (tmp_path / f"o{k}").read_bytes() == payload
