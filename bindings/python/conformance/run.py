"""The Python conformance runner: every case of tests/cases through the
idiomatic API (``import splicer``; ``splicer.raw`` for the raw_* ops), with
the output of tests/README.md section 1:

    python3 run.py [-k TEXT] [-v] DIR_OR_FILE...

Each case runs in a forked child, as in the C runner, so that a crash, a
hang or a leaked mount ends only that case.  Fixtures are made with the os
and socket modules; sockets are passed as socket objects, pipes and files as
ints, as a Python program holds them.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import os
import select
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

import splicer
from splicer import core as low

CASE_TIMEOUT = 20.0
SKIP_TMPFS = "cannot mount tmpfs"

POOL_OPTIONS = ("max_pipes", "max_idle", "pipe_size")
POOL_OPTION_NAMES = {"MAX_PIPES": "max_pipes", "MAX_IDLE": "max_idle", "PIPE_SIZE": "pipe_size"}
OPTION_NAMES = {
    "PIPE_SIZE": "pipe_size",
    "CHUNK": "chunk",
    "NONBLOCK": "nonblock",
    "FALLBACK": "fallback",
    "METHODS": "methods",
    "SIGPIPE": "sigpipe",
    "POOL": "pool",
    "LAZY_FILES": "lazy_files",
}
FLAGS = {
    "MOVE": splicer.raw.F_MOVE,
    "NONBLOCK": splicer.raw.F_NONBLOCK,
    "MORE": splicer.raw.F_MORE,
    "GIFT": splicer.raw.F_GIFT,
}
COUNTERS = (
    "borrowed",
    "returned",
    "created",
    "closed",
    "misses",
    "discarded",
    "undersized",
    "spills",
)
GAUGES = ("in_use", "idle", "peak_in_use")
STATS_FIELDS = ("bytes", "syscalls", "fallbacks", "eagain", "pool_misses", "pool_spills")

libc = ctypes.CDLL(None, use_errno=True)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


# -- data -------------------------------------------------------------------


def pattern(seed: int, offset: int, size: int) -> bytes:
    """tests/README.md section 2, 32-bit arithmetic."""
    out = bytearray(size)
    mult = 2654435761
    for k in range(size):
        x = (seed + ((offset + k) & 0xFFFFFFFF) * mult) & 0xFFFFFFFF
        x ^= x >> 16
        out[k] = (x ^ (x >> 8)) & 0xFF
    return bytes(out)


_pattern_cache: dict[tuple[int, int, int], bytes] = {}


def data_of(spec: dict[str, Any] | None) -> bytes:
    if spec is None:
        raise Fail("bad data spec")
    size = spec["size"]
    if spec.get("zero"):
        return bytes(size)
    key = (spec.get("seed", 1), spec.get("offset", 0), size)
    if key not in _pattern_cache:
        _pattern_cache[key] = pattern(*key)
    return _pattern_cache[key]


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# -- results ----------------------------------------------------------------


def errname(e: OSError) -> str:
    return str(low.errname(-(e.errno or 0)))


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """(True, value) or (False, error name) of an idiomatic call."""
    try:
        return True, fn(*args, **kwargs)
    except OSError as e:
        return False, errname(e)


def show(v: Any) -> str:
    if isinstance(v, dict):
        return "[" + str(v.get("min", "")) + ".." + str(v.get("max", "")) + "]"
    return str(v)


def number_ok(expect: Any, v: int) -> bool:
    if expect is None:
        return True
    if isinstance(expect, dict):
        return ("min" not in expect or v >= expect["min"]) and (
            "max" not in expect or v <= expect["max"]
        )
    return isinstance(expect, int) and not isinstance(expect, bool) and v == expect


def check(expect: Any, ok: bool, value: Any) -> None:
    if expect is None:
        return
    if isinstance(expect, str):
        if ok or value != expect:
            raise Fail(f"expected {expect}, got {value}")
        return
    if not ok:
        raise Fail(f"expected {show(expect)}, got {value}")
    if value is None:
        value = 0  # a call whose C counterpart returns 0
    if not number_ok(expect, value):
        raise Fail(f"expected {show(expect)}, got {value}")


def unknown(expect: dict[str, Any], known: tuple[str, ...]) -> None:
    """A field this runner does not read fails the step rather than pass
    unchecked."""
    extra = sorted(k for k in expect if k not in known)
    if extra:
        raise Fail(f"unsupported field {extra[0]}")


# -- fixtures -----------------------------------------------------------------


class Reader(threading.Thread):
    """A concurrent consumer of a peer, until end of file."""

    def __init__(self, fd: int, reads: list[int], pause_ms: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.reads, self.pause = fd, reads or [65536], pause_ms / 1000
        self.got = bytearray()
        self.err: OSError | None = None

    def run(self) -> None:
        k = 0
        while True:
            if self.pause:
                time.sleep(self.pause)
            want = min(self.reads[k % len(self.reads)], 1 << 20)
            k += 1
            try:
                b = os.read(self.fd, want)
            except OSError as e:
                self.err = e
                return
            if not b:
                return
            self.got += b


class Fixture:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.kind: str = spec["kind"]
        self.obj: Any = -1  # what the steps pass: an int or a socket
        self.fd = -1
        self.peer: Any = None  # socket or int
        self.peer_reads = False
        self.peer_closed_by_case = False
        self.dgram = False
        self.max_datagram = 0
        self.is_file = False
        self.readable = False
        self.shares_file = False
        self.path = ""
        self.mnt = ""
        self.reader: Reader | None = None
        self.arrived = bytearray()

    def peer_fd(self) -> int:
        return self.peer if isinstance(self.peer, int) else self.peer.fileno()

    def close_peer(self) -> None:
        if self.peer is not None:
            if isinstance(self.peer, int):
                os.close(self.peer)
            else:
                self.peer.close()
            self.peer = None


def queued(fd: int) -> int:
    """FIONREAD: bytes readable at fd now, or -1."""
    buf = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return -1
    return int.from_bytes(buf, sys.byteorder, signed=True)


def wait_tcp_fin(sock: socket.socket) -> None:
    """After the peer's shutdown: wait (up to 5 s) until its FIN arrived,
    i.e. the fixture's end is in CLOSE_WAIT (a loopback segment can be late
    on a loaded machine)."""
    for _ in range(500):
        try:
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        except OSError:
            return
        if state == 8:  # TCP_CLOSE_WAIT
            return
        time.sleep(0.01)


def mount_tmpfs(path: str, size: int) -> bool:
    opts = f"size={size},mode=0700".encode()
    return bool(
        libc.mount(b"tmpfs", path.encode(), b"tmpfs", ctypes.c_ulong(2 | 4), opts) == 0
    )  # MS_NOSUID | MS_NODEV


def umount(path: str) -> None:
    libc.umount2(path.encode(), 2)  # MNT_DETACH


class Case:
    def __init__(self, case: dict[str, Any], rundir: str, case_no: int) -> None:
        self.case = case
        self.rundir = rundir
        self.case_no = case_no
        self.fixtures: list[Fixture] = []
        self.by_name: dict[str, Fixture] = {}
        self.sessions: dict[str, splicer.Session] = {}
        self.s: splicer.Session | None = None
        self.pool_start: Any = None
        self.last_buf: Any = None
        self.keep: list[Any] = []

    # -- setup

    def fixture(self, name: Any) -> Fixture:
        f = self.by_name.get(name) if isinstance(name, str) else None
        if f is None:
            raise Fail(f"no fixture {name}")
        return f

    def obj(self, name: Any) -> Any:
        return self.fixture(name).obj

    def setup(self, spec: dict[str, Any]) -> None:
        f = Fixture(spec)
        self.fixtures.append(f)
        self.by_name[f.name] = f
        kind = f.kind
        if kind == "file":
            self.setup_file(f)
        elif kind == "memfd":
            f.fd = os.memfd_create("splicer-conformance", os.MFD_CLOEXEC)
            f.obj, f.is_file, f.readable = f.fd, True, True
            if "data" in spec:
                os.write(f.fd, data_of(spec["data"]))
            os.lseek(f.fd, spec.get("pos", 0), os.SEEK_SET)
        elif kind == "pipe":
            r, w = os.pipe2(os.O_CLOEXEC)
            end = spec.get("end")
            if end == "r":
                f.fd, f.peer = r, w
            elif end == "w":
                f.fd, f.peer, f.peer_reads = w, r, True
            else:
                os.close(r)
                os.close(w)
                raise Fail(f"fixture {f.name}: end must be r or w")
            f.obj = f.fd
            if "capacity" in spec:
                splicer.raw.set_pipe_size(r, spec["capacity"])
        elif kind in ("socketpair", "tcp"):
            if kind == "socketpair":
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
                    lst.bind(("127.0.0.1", 0))
                    lst.listen(1)
                    a = socket.create_connection(lst.getsockname())
                    b, _ = lst.accept()
            self.socket_ends(f, a, b)
        elif kind in ("udp_pair", "unix_dgram_pair"):
            if kind == "unix_dgram_pair":
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            else:
                a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                a.bind(("127.0.0.1", 0))
                b.bind(("127.0.0.1", 0))
                a.connect(b.getsockname())
                b.connect(a.getsockname())
            self.socket_ends(f, a, b)
            f.dgram = True
        elif kind == "dev_null":
            f.fd = f.obj = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        elif kind == "dev_zero":
            f.fd = f.obj = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)
        elif kind == "proc_file":
            path = spec.get("path", "")
            if not path.startswith("/proc/"):
                raise Fail(f"fixture {f.name}: path must be under /proc/")
            f.fd = f.obj = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        elif kind == "invalid":
            f.fd = f.obj = -1
        else:
            raise Fail(f"unsupported fixture kind {kind}")

        if f.peer is not None and not f.peer_reads:
            if "data" in spec:
                os.write(f.peer, data_of(spec["data"]))
            if spec.get("eof") or spec.get("peer_closed"):
                f.close_peer()
        elif f.peer is not None and f.dgram:
            pass  # datagrams are sent by steps
        elif f.peer is not None:
            if kind != "pipe" and "data" in spec:
                self.peer_send(f, data_of(spec["data"]))
            if spec.get("peer_closed"):
                f.close_peer()
            else:
                if spec.get("eof") and kind != "pipe":
                    f.peer.shutdown(socket.SHUT_WR)
                    if kind == "tcp":
                        wait_tcp_fin(f.obj)
                rd = spec.get("reader")
                if rd is not None:
                    reads = [n for n in rd.get("reads", []) if isinstance(n, int) and n > 0]
                    f.reader = Reader(f.peer_fd(), reads[:16], rd.get("pause_ms", 0))
                    f.reader.start()
        if spec.get("nonblock") and f.fd >= 0:
            if isinstance(f.obj, socket.socket):
                f.obj.setblocking(False)
            else:
                os.set_blocking(f.fd, False)

    def peer_send(self, f: Fixture, data: bytes) -> None:
        """The peer of a socket writes; over tcp, wait until the bytes are
        readable at the fixture's fd (tests/README.md section 4, tcp)."""
        before = queued(f.fd) if f.kind == "tcp" else -1
        f.peer.sendall(data)
        if before >= 0:
            for _ in range(500):
                if queued(f.fd) < 0 or queued(f.fd) >= before + len(data):
                    break
                time.sleep(0.01)

    def socket_ends(self, f: Fixture, a: socket.socket, b: socket.socket) -> None:
        f.obj, f.fd, f.peer, f.peer_reads = a, a.fileno(), b, True
        if "sndbuf" in f.spec:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, f.spec["sndbuf"])
        if "rcvbuf" in f.spec:
            b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, f.spec["rcvbuf"])

    def setup_file(self, f: Fixture) -> None:
        spec = f.spec
        other = spec.get("same_as")
        if other is not None:
            o = self.by_name.get(other)
            if o is None or o is f or o.kind != "file" or not o.path:
                raise Fail(f"fixture {f.name}: same_as {other} is not an earlier file fixture")
            f.path, f.shares_file = o.path, True
        else:
            directory = self.rundir
            if "tmpfs" in spec:
                f.mnt = f"{self.rundir}/m{self.case_no}-{f.name}"
                os.mkdir(f.mnt, 0o700)
                if not mount_tmpfs(f.mnt, spec["tmpfs"]["size"]):
                    os.rmdir(f.mnt)
                    f.mnt = ""
                    raise Skip(SKIP_TMPFS)
                directory = f.mnt
            f.path = f"{directory}/c{self.case_no}-{f.name}"
            w = os.open(f.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            try:
                if "data" in spec:
                    data = memoryview(data_of(spec["data"]))
                    while data:
                        data = data[os.write(w, data) :]
            finally:
                os.close(w)
        mode = spec.get("mode", "rw")
        flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}.get(mode)
        if flags is None:
            raise Fail(f"fixture {f.name}: bad mode")
        if spec.get("append"):
            flags |= os.O_APPEND
        f.fd = f.obj = os.open(f.path, flags | os.O_CLOEXEC)
        f.readable = mode != "w"
        f.is_file = True
        if "pos" in spec:
            os.lseek(f.fd, spec["pos"], os.SEEK_SET)

    # -- peers

    def recv_datagram(self, f: Fixture, timeout_ms: int) -> int | None:
        """One datagram the peer can receive now: its size, or None."""
        if not select.select([f.peer], [], [], timeout_ms / 1000)[0]:
            return None
        try:
            b = f.peer.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        f.max_datagram = max(f.max_datagram, len(b))
        f.arrived += b
        return len(b)

    def drain(self, f: Fixture, limit: int, once: bool) -> int:
        if f.peer is None or not f.peer_reads or f.reader is not None:
            raise Fail(f"fixture {f.name} has no peer to read")
        total = 0
        if f.dgram:
            while (n := self.recv_datagram(f, 0)) is not None:
                total += n
                if once:
                    break
            return total
        fd = f.peer_fd()
        while True:
            want = 65536 if not limit else min(65536, limit - total)
            if want == 0 or not select.select([fd], [], [], 0)[0]:
                break
            b = os.read(fd, want)
            if not b:
                break
            f.arrived += b
            total += len(b)
            if once:
                break
        return total

    # -- finish

    def finish(self, check_arrived: bool) -> None:
        for s in self.sessions.values():  # main first, then in creation order
            s.close()
        self.s = None
        wanted = {a["fixture"] for a in self.case.get("arrived", [])}
        for f in self.fixtures:
            if f.is_file and check_arrived:
                fd = f.fd if f.readable else os.open(f.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    size = os.fstat(fd).st_size
                    off = 0
                    while off < size:
                        b = os.pread(fd, 65536, off)
                        if not b:
                            raise Fail(f"pread {f.name}: short")
                        f.arrived += b
                        off += len(b)
                finally:
                    if fd != f.fd:
                        os.close(fd)
        for f in self.fixtures:
            if f.fd >= 0:
                if isinstance(f.obj, socket.socket):
                    f.obj.close()
                else:
                    os.close(f.fd)
            f.fd = -1
            if f.peer is not None and not f.peer_reads:
                f.close_peer()
        for f in self.fixtures:
            if f.reader is not None:
                f.reader.join()
                f.arrived += f.reader.got
                if f.reader.err and check_arrived:
                    check_arrived = False
                    raise Fail(f"fixture {f.name}: reader: {f.reader.err}")
        if check_arrived:
            for a in self.case.get("arrived", []):
                found = self.by_name.get(a["fixture"])
                if found is None:
                    raise Fail("arrived: unknown fixture")
                f = found
                if not f.is_file and f.reader is None and not f.peer_closed_by_case:
                    if f.peer is None or not f.peer_reads:
                        raise Fail(f"arrived: fixture {f.name} cannot receive bytes")
                    if f.dgram:
                        while self.recv_datagram(f, 50) is not None:
                            pass
                    else:
                        fd = f.peer_fd()
                        while b := os.read(fd, 65536):
                            f.arrived += b
                if "max_datagram" in a and f.max_datagram > a["max_datagram"]:
                    raise Fail(
                        f"arrived at {f.name}: a datagram of {f.max_datagram} bytes, "
                        f"more than {a['max_datagram']}"
                    )
                got = fnv1a64(bytes(f.arrived))
                if len(f.arrived) != a["size"] or got != a["hash"]:
                    raise Fail(
                        f"arrived at {f.name}: expected {a['size']} bytes {a['hash']}, "
                        f"got {len(f.arrived)} bytes {got}"
                    )
        del wanted

    def release(self) -> None:
        for f in self.fixtures:
            if f.fd >= 0:
                if isinstance(f.obj, socket.socket):
                    f.obj.close()
                else:
                    os.close(f.fd)
                f.fd = -1
            f.close_peer()
            if f.path and not f.shares_file:
                try:
                    os.unlink(f.path)
                except FileNotFoundError:
                    pass
            if f.mnt:
                umount(f.mnt)
                os.rmdir(f.mnt)


# -- steps ----------------------------------------------------------------------


def offset(v: Any) -> int | None:
    if v is None or v == "cur":
        return None
    if isinstance(v, int):
        return v
    raise Fail("bad offset")


def length(v: Any) -> int | None:
    if v is None or v == "eof":
        return None
    if isinstance(v, int) and v >= 0:
        return v
    raise Fail("bad len")


def flags(v: Any) -> int:
    return sum(FLAGS[name] for name in (v or []))


def option(v: Any) -> str | int:
    if isinstance(v, int):
        return v
    if v in OPTION_NAMES:
        return OPTION_NAMES[v]
    raise Fail("bad option")


def pool_option(v: Any) -> str | int:
    if isinstance(v, int):
        return v
    if v in POOL_OPTION_NAMES:
        return POOL_OPTION_NAMES[v]
    raise Fail("bad pool option")


def fd_kind(v: Any) -> splicer.FdKind | int:
    """A step's kind: a name, or an integer passed as it is."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.upper() in splicer.FdKind.__members__:
        return splicer.FdKind[v.upper()]
    raise Fail("bad kind")


def method_names(v: Any) -> frozenset[str]:
    if isinstance(v, int):
        return frozenset(n for m, n in enumerate(splicer.METHODS) if v & (1 << m))
    return frozenset(v)


def run_step(c: Case, st: dict[str, Any]) -> None:
    op = st.get("op")
    x = st.get("expect")
    s = c.s
    assert s is not None

    if op == "set":
        value = st.get("value")
        name = option(st.get("option"))
        if isinstance(value, list):
            value = list(value)
        check(x, *outcome(s.set, name, value))
    elif op == "get":
        name = option(st.get("option"))
        ok, v = outcome(s.get, name)
        if ok and isinstance(v, bool):
            v = int(v)
        if ok and isinstance(v, frozenset):
            if isinstance(x, list):
                if v != method_names(x):
                    raise Fail(f"expected mask {sorted(x)}, got {sorted(v)}")
                return
            v = sum(1 << splicer.METHODS.index(n) for n in v)
        check(x, ok, v)
    elif op == "open":
        check(
            x,
            *outcome(
                s.open,
                c.obj(st.get("src")),
                c.obj(st.get("dst")),
                length(st.get("len")),
                offset_in=offset(st.get("off_in")),
                offset_out=offset(st.get("off_out")),
            ),
        )
    elif op == "open_tee":
        dsts = [c.obj(n) for n in st.get("dsts", [])]
        check(
            x,
            *outcome(
                s.open_tee,
                c.obj(st.get("src")),
                dsts,
                length(st.get("len")),
                offset_in=offset(st.get("off_in")),
            ),
        )
    elif op == "open_buf":
        data = data_of(st.get("data"))
        buf = splicer.Buf(st["size"])
        if len(data) > len(buf):
            raise Fail("data larger than the buffer")
        with memoryview(buf) as m:
            m[: len(data)] = data
        ok, v = outcome(s.open_buf, buf, c.obj(st.get("dst")), st["len"])
        if ok:
            c.last_buf = buf
        check(x, ok, v)
    elif op == "sealed_write":
        # Python never hands out the memory of a handed-over Buf: taking a
        # view (the only way to write into it) must be refused
        if c.last_buf is None:
            raise Fail("no buffer was handed over")
        try:
            memoryview(c.last_buf)
        except BufferError:
            return
        raise Fail("a handed-over buffer could still be written")
    elif op == "step":
        check(x, *outcome(s.step))
    elif op == "run":
        check(x, *outcome(s.run))
    elif op == "copy":
        check(
            x, *outcome(s.copy, c.obj(st.get("src")), c.obj(st.get("dst")), length(st.get("len")))
        )
    elif op == "abort":
        check(x, *outcome(s.abort))
    elif op == "wait":
        ok, v = outcome(s.wait)
        if x is None:
            return
        if isinstance(x, str):
            check(x, ok, v)
            return
        if not ok:
            raise Fail(f"expected an fd to wait on, got {v}")
        fd, ev = v
        f = next((f for f in c.fixtures if f.fd == fd and fd >= 0), None)
        got = (
            f.name if f else "(unknown fd)",
            "POLLIN" if ev == selectors.EVENT_READ else "POLLOUT",
        )
        if got != (x.get("fd"), x.get("events")):
            raise Fail(f"expected {x.get('fd')} {x.get('events')}, got {got[0]} {got[1]}")
    elif op == "progress":
        p = s.progress
        if x is None:
            return
        if p.consumed != p.delivered + p.pending:
            raise Fail(f"consumed {p.consumed} != delivered {p.delivered} + pending {p.pending}")
        for key in ("consumed", "delivered", "pending"):
            if key in x and not number_ok(x[key], getattr(p, key)):
                raise Fail(f"{key}: expected {show(x[key])}, got {getattr(p, key)}")
        if "method" in x and x["method"] != p.method:
            raise Fail(f"method: expected {x['method']}, got {p.method}")
        if "finished" in x and x["finished"] != p.finished:
            raise Fail(f"finished: expected {x['finished']}, got {p.finished}")
    elif op == "stats":
        t = s.stats
        if x is None:
            return
        unknown(x, STATS_FIELDS + ("by_method",))
        for key in STATS_FIELDS:
            if key in x and not number_ok(x[key], getattr(t, key)):
                raise Fail(f"{key}: expected {show(x[key])}, got {getattr(t, key)}")
        for method, want in x.get("by_method", {}).items():
            if method not in t.bytes_by_method:
                raise Fail(f"by_method: unknown method {method}")
            if not number_ok(want, t.bytes_by_method[method]):
                raise Fail(
                    f"by_method.{method}: expected {show(want)}, "
                    f"got {t.bytes_by_method[method]}"
                )
    elif op == "method_for":
        ok, v = outcome(splicer.method_for, c.obj(st.get("src")), c.obj(st.get("dst")))
        if x is not None and v != x:
            raise Fail(f"expected {x}, got {v}")
    elif op == "pump":
        pump(c, st)
    elif op == "drain":
        check(x, True, c.drain(c.fixture(st.get("fixture")), st.get("max", 0), False))
    elif op == "write_peer":
        f = c.fixture(st.get("fixture"))
        data = data_of(st.get("data"))
        if f.peer is None:
            raise Fail(f"fixture {f.name} has no peer to write")
        if f.peer_reads and f.kind == "pipe":
            raise Fail(f"fixture {f.name}: its peer is the read end")
        if isinstance(f.peer, int):
            view = memoryview(data)
            while view:
                view = view[os.write(f.peer, view) :]
        else:
            c.peer_send(f, data)
        check(x, True, len(data))
    elif op == "close_peer":
        f = c.fixture(st.get("fixture"))
        if f.peer is None or f.reader is not None:
            raise Fail(f"fixture {f.name} has no peer to close")
        f.close_peer()
        f.peer_closed_by_case = True
        check(x, True, 0)
    elif op == "send_datagram":
        f = c.fixture(st.get("fixture"))
        if not f.dgram or f.peer is None:
            raise Fail(f"fixture {f.name} is not a datagram fixture")
        check(x, True, f.peer.send(data_of(st.get("data"))))
    elif op == "position":
        check(x, *outcome(os.lseek, c.fixture(st.get("fixture")).fd, 0, os.SEEK_CUR))
    elif op == "raw_splice":
        check(
            x,
            *outcome(
                splicer.raw.splice,
                c.obj(st.get("src")),
                offset(st.get("off_in")),
                c.obj(st.get("dst")),
                offset(st.get("off_out")),
                st["len"],
                flags(st.get("flags")),
            ),
        )
    elif op == "raw_tee":
        check(
            x,
            *outcome(
                splicer.raw.tee,
                c.obj(st.get("src")),
                c.obj(st.get("dst")),
                st["len"],
                flags(st.get("flags")),
            ),
        )
    elif op == "raw_vmsplice":
        data = data_of(st.get("data"))
        parts = st.get("iovecs", 1)
        if not 1 <= parts <= 64:
            raise Fail("bad iovecs")
        pieces, pos = [], 0
        for k in range(parts):
            n = len(data) // parts + (1 if k < len(data) % parts else 0)
            pieces.append(data[pos : pos + n])
            pos += n
        c.keep.append(pieces)  # the pipe refers to them until the case ends
        check(
            x, *outcome(splicer.raw.vmsplice, c.obj(st.get("dst")), pieces, flags(st.get("flags")))
        )
    elif op == "raw_sendfile":
        check(
            x,
            *outcome(
                splicer.raw.sendfile,
                c.obj(st.get("dst")),
                c.obj(st.get("src")),
                offset(st.get("off_in")),
                st["len"],
            ),
        )
    elif op == "raw_copy_file_range":
        check(
            x,
            *outcome(
                splicer.raw.copy_file_range,
                c.obj(st.get("src")),
                offset(st.get("off_in")),
                c.obj(st.get("dst")),
                offset(st.get("off_out")),
                st["len"],
            ),
        )
    elif op == "pipe_size":
        check(x, *outcome(splicer.raw.pipe_size, c.obj(st.get("fixture"))))
    elif op == "set_pipe_size":
        check(x, *outcome(splicer.raw.set_pipe_size, c.obj(st.get("fixture")), st.get("size", 0)))
    elif op == "use_session":
        sname = st.get("name")
        if not isinstance(sname, str):
            raise Fail("name is required")
        if sname not in c.sessions:
            c.sessions[sname] = splicer.Session()
        c.s = c.sessions[sname]
        check(x, True, 0)
    elif op == "pool_set":
        if "value" not in st:
            raise Fail("value is required")
        check(x, *outcome(splicer.pool.set, pool_option(st.get("option")), st["value"]))
    elif op == "pool_get":
        check(x, *outcome(splicer.pool.get, pool_option(st.get("option"))))
    elif op == "pool_stats":
        ps = splicer.pool.stats()
        if x is None:
            return
        unknown(x, COUNTERS + GAUGES)
        for key in COUNTERS:
            v = getattr(ps, key) - getattr(c.pool_start, key)
            if key in x and not number_ok(x[key], v):
                raise Fail(f"{key}: expected {show(x[key])}, got {v}")
        for key in GAUGES:
            if key in x and not number_ok(x[key], getattr(ps, key)):
                raise Fail(f"{key}: expected {show(x[key])}, got {getattr(ps, key)}")
    elif op == "pool_trim":
        check(x, *outcome(splicer.pool.trim))
    elif op == "keep":
        check(
            x,
            *outcome(
                s.keep,
                c.obj(st.get("fixture")),
                fd_kind(st.get("kind", "unknown")),
                nonblock=st.get("nonblock") is True,
            ),
        )
    elif op == "forget":
        if st.get("all") is True:
            check(x, *outcome(s.forget_all))
        else:
            check(x, *outcome(s.forget, c.obj(st.get("fixture"))))
    else:
        raise Fail("unsupported op")


def pump(c: Case, st: dict[str, Any]) -> None:
    s = c.s
    assert s is not None
    reads = [n for n in st.get("reads", []) if isinstance(n, int) and n > 0][:16] or [65536]
    total = eagains = k = 0
    result: tuple[bool, Any] | None = None
    for _ in range(100000):
        try:
            r = s.step()
        except BlockingIOError:
            r = -1
        except OSError as e:
            result = (False, errname(e))
            break
        if r > 0:
            total += r
            continue
        if r == 0:
            result = (True, total)
            break
        eagains += 1
        try:
            fd, ev = s.wait()
        except OSError as e:
            raise Fail(f"wait after EAGAIN: {errname(e)}") from None
        f = next((f for f in c.fixtures if f.fd == fd and fd >= 0), None)
        if ev != selectors.EVENT_WRITE or f is None or f.peer is None or not f.peer_reads:
            raise Fail("pump: source not readable")
        got = c.drain(f, reads[k % len(reads)], True)
        k += 1
        if got == 0:
            select.select([f.peer_fd()], [], [], 0.01)
    if result is None:
        raise Fail("pump: did not finish in 100000 steps")
    check(st.get("expect"), *result)
    if "eagain" in st and not number_ok(st["eagain"], eagains):
        raise Fail(f"eagain: expected {show(st['eagain'])}, got {eagains}")


# -- one case, isolated -----------------------------------------------------


def count_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_case(case: dict[str, Any], rundir: str, case_no: int, pool_defaults: list[int]) -> str:
    if "skip" in case:
        return f"SKIP {case['skip']}"
    if any("tmpfs" in f for f in case.get("fixtures", [])) and libc.unshare(0x00020000) == 0:
        libc.mount(b"none", b"/", None, ctypes.c_ulong(16384 | 262144), None)  # MS_REC|MS_PRIVATE
    fds_before = count_fds()
    for name, value in zip(POOL_OPTIONS, pool_defaults, strict=False):
        splicer.pool.set(name, value)
    splicer.pool.trim()
    c = Case(case, rundir, case_no)
    c.pool_start = splicer.pool.stats()
    c.s = c.sessions["main"] = splicer.Session()
    verdict = "PASS"
    try:
        try:
            for spec in case["fixtures"]:
                c.setup(spec)
            for index, st in enumerate(case["steps"]):
                try:
                    run_step(c, st)
                except Fail as e:
                    raise Fail(f"step {index} ({st.get('op', '?')}): {e}") from None
            ok = True
        except Skip as e:
            verdict = f"SKIP {e}"
            ok = False
        except Fail as e:
            verdict = f"FAIL {e}"
            ok = False
        try:
            c.finish(ok)
        except Fail as e:
            if verdict == "PASS":
                verdict = f"FAIL {e}"
    except Exception as e:  # a runner error is a failure of the case, not of the run
        verdict = f"FAIL runner error: {type(e).__name__}: {e}"
    finally:
        c.release()
    del c
    gc.collect()
    splicer.pool.trim()  # idle pipes are the pool's, not a leak
    fds_after = count_fds()
    if verdict == "PASS" and fds_before != fds_after:
        verdict = f"FAIL fd leak: {fds_before} open before the case, {fds_after} after"
    return verdict.replace("\n", " ")


def run_isolated(case: dict[str, Any], rundir: str, case_no: int, pool_defaults: list[int]) -> str:
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            line = run_case(case, rundir, case_no, pool_defaults)
        except BaseException as e:  # noqa: BLE001  (the child reports whatever happened)
            line = f"FAIL runner error: {type(e).__name__}: {e}"
        os.write(w, line.encode()[:1200])
        os._exit(0)
    os.close(w)
    buf = b""
    deadline = time.monotonic() + CASE_TIMEOUT
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        if not select.select([r], [], [], left)[0]:
            timed_out = True
            break
        chunk = os.read(r, 4096)
        if not chunk:
            break
        buf += chunk
    os.close(r)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    text = buf.decode(errors="replace")
    if timed_out:
        return "FAIL timeout"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"FAIL killed by signal {sig} ({signal.strsignal(sig)})" + (
            f" after: {text}" if text else ""
        )
    if os.WEXITSTATUS(status) != 0:
        return f"FAIL exit status {os.WEXITSTATUS(status)}"
    return text or "FAIL no result"


def case_files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            names = sorted(
                (n for n in os.listdir(p) if n.endswith(".json") and not n.startswith(".")),
                key=lambda n: n.encode(),
            )
            files += [os.path.join(p, n) for n in names]
        else:
            files.append(p)
    return files


def main(argv: list[str]) -> int:
    filt, verbose, paths = None, False, []
    args = iter(argv)
    for a in args:
        if a == "-k":
            filt = next(args, None)
        elif a == "-v":
            verbose = True
        else:
            paths.append(a)
    if not paths:
        print("usage: run.py [-k TEXT] [-v] DIR_OR_FILE...", file=sys.stderr)
        return 2
    docs = []
    for path in case_files(paths):
        try:
            doc = json.loads(Path(path).read_text())
            if not isinstance(doc.get("cases"), list):
                raise ValueError('no "cases" array')
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        docs.append(doc)
    pool_defaults = [splicer.pool.get(name) for name in POOL_OPTIONS]
    rundir = tempfile.mkdtemp(
        prefix="splicer-python-conformance-", dir=os.environ.get("TMPDIR") or "/tmp"
    )
    passed = failed = skipped = 0
    case_no = 0
    try:
        for doc in docs:
            for case in doc["cases"]:
                if filt and filt not in case["id"]:
                    continue
                case_no += 1
                line = run_isolated(case, rundir, case_no, pool_defaults)
                if line.startswith("PASS"):
                    passed += 1
                elif line.startswith("SKIP"):
                    skipped += 1
                else:
                    failed += 1
                    if not verbose and len(line) > 300:
                        line = line[:296] + "..."
                print(f"{case['id']} {line}", flush=True)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
