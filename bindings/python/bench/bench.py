"""The Python binding's benchmark (see BENCH.md; run.sh drives it).

    python bench.py pairs SIZE_MIB RUNS      GB per CPU-second of each method on
                                             each fd pair, side by side per run
    python bench.py step FILE CHUNK CALLS    Session.step() calls, as bench_c step
    python bench.py sendfile FILE CHUNK CALLS  raw.sendfile() calls, as bench_c
    python bench.py kept PAIR KEEP CALLS     4 KiB copies on one Session, PAIR file
                                             (file -> file) or unix (an O_NONBLOCK
                                             Unix stream socket -> another), the fds
                                             kept (KEEP yes) or not (no): ns per copy

CPU time is this process's (user + system, getrusage) around the copy only:
the peers (a TCP sender or receiver, a pipe writer) are other processes.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import splicer

BUF = 1 << 18  # the read/write loop's and the os.splice loop's chunk (256 KiB)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- the contenders: each moves everything from fd src to fd dst --------------


def by_splicer(src: int, dst: int, n: int) -> int:
    return splicer.copy(src, dst)


def by_copyfileobj(src: int, dst: int, n: int) -> int:
    with open(src, "rb", closefd=False) as fi, open(dst, "wb", closefd=False) as fo:
        shutil.copyfileobj(fi, fo)  # its default buffer: 64 KiB on Linux
    return n


def by_copyfileobj_1m(src: int, dst: int, n: int) -> int:
    with open(src, "rb", closefd=False) as fi, open(dst, "wb", closefd=False) as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)
    return n


def by_socket_sendfile(src: int, dst: int, n: int) -> int:
    with socket.socket(fileno=os.dup(dst)) as s, open(src, "rb", closefd=False) as f:
        return s.sendfile(f)


def by_os_splice(src: int, dst: int, n: int) -> int:
    """os.splice in a loop, through a pipe of its own when neither end is one."""
    import stat

    def is_pipe(fd: int) -> bool:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)

    total = 0
    if is_pipe(src) or is_pipe(dst):
        while m := os.splice(src, dst, BUF):
            total += m
        return total
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, 1031, BUF)  # F_SETPIPE_SZ
        while m := os.splice(src, w, BUF):
            left = m
            while left:
                left -= os.splice(r, dst, left)
            total += m
    finally:
        os.close(r)
        os.close(w)
    return total


def by_read_write(src: int, dst: int, n: int) -> int:
    buf = bytearray(BUF)
    view = memoryview(buf)
    total = 0
    while m := os.readv(src, [buf]):
        off = 0
        while off < m:
            off += os.write(dst, view[off:m])
        total += m
    return total


METHODS: dict[str, Callable[[int, int, int], int]] = {
    "splicer": by_splicer,
    "copyfileobj": by_copyfileobj,
    "copyfileobj 1M": by_copyfileobj_1m,
    "socket.sendfile": by_socket_sendfile,
    "os.splice loop": by_os_splice,
    "read/write loop": by_read_write,
}

# -- fd pairs -----------------------------------------------------------------

SINK = (
    "import socket,sys\ns=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
    "b=bytearray(1<<20)\nwhile s.recv_into(b):pass\n"
)
SOURCE = (
    "import os,socket,sys\nl=socket.socket();l.bind(('127.0.0.1',0));l.listen(1)\n"
    "print(l.getsockname()[1],flush=True)\nc,_=l.accept();f=os.open(sys.argv[1],os.O_RDONLY)\n"
    "n=os.fstat(f).st_size;o=0\nwhile o<n:o+=os.sendfile(c.fileno(),f,o,n-o)\nc.close()\n"
)


# the peers run on the first CPU, the copier (run.sh pins it) on the last, so
# that a peer's work is never scheduled into the copier's measurement window
PEER_PIN = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


class Pair:
    """Sets up the two fds of one pair for one run, and tears them down."""

    def __init__(self, kind: str, data: str, work: str) -> None:
        self.kind, self.data, self.work = kind, data, work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.fds: list[int] = []
        self.socks: list[socket.socket] = []

    def tcp_sink(self) -> int:
        with socket.socket() as lst:
            lst.bind(("127.0.0.1", 0))
            lst.listen(1)
            self.procs.append(
                subprocess.Popen([*PEER_PIN, sys.executable, "-c", SINK, str(lst.getsockname()[1])])
            )
            c, _ = lst.accept()
        self.socks.append(c)
        return c.fileno()

    def tcp_source(self) -> int:
        p = subprocess.Popen(
            [*PEER_PIN, sys.executable, "-c", SOURCE, self.data], stdout=subprocess.PIPE
        )
        self.procs.append(p)
        assert p.stdout is not None
        port = int(p.stdout.readline())
        c = socket.create_connection(("127.0.0.1", port))
        self.socks.append(c)
        return c.fileno()

    def open(self) -> tuple[int, int]:
        k = self.kind
        out = os.path.join(self.work, "out")
        if k == "file->/dev/null":
            src, dst = os.open(self.data, os.O_RDONLY), os.open("/dev/null", os.O_WRONLY)
        elif k == "file->TCP":
            src, dst = os.open(self.data, os.O_RDONLY), self.tcp_sink()
        elif k == "TCP->TCP":
            dst = self.tcp_sink()
            src = self.tcp_source()
        elif k == "pipe->file":
            p = subprocess.Popen([*PEER_PIN, "cat", self.data], stdout=subprocess.PIPE)
            self.procs.append(p)
            assert p.stdout is not None
            src = os.dup(p.stdout.fileno())
            p.stdout.close()
            dst = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        elif k == "file->file":
            src = os.open(self.data, os.O_RDONLY)
            dst = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        else:
            raise ValueError(k)
        for fd in (src, dst):
            if not any(s.fileno() == fd for s in self.socks):
                self.fds.append(fd)
        return src, dst

    def close(self) -> None:
        for s in self.socks:
            s.close()
        for fd in self.fds:
            os.close(fd)
        for p in self.procs:
            p.wait()
        self.socks, self.fds, self.procs = [], [], []
        out = os.path.join(self.work, "out")
        if os.path.exists(out):
            os.unlink(out)


DEVNULL_REPEAT = 16
PAIRS = ["file->/dev/null", "file->TCP", "TCP->TCP", "pipe->file", "file->file"]


def applies(method: str, pair: str) -> bool:
    return method != "socket.sendfile" or pair == "file->TCP"


def pairs(size_mib: int, runs: int) -> None:
    work = tempfile.mkdtemp(prefix="splicer-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    data = os.path.join(work, "data")
    with open(data, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    with open(data, "rb") as f:
        while f.read(1 << 24):
            pass  # into the page cache
    n = size_mib << 20
    head = " ".join(f"{'run' + str(r + 1):>6}" for r in range(runs))
    print(f"{'pair':16} {'method':16} {head}   GB/s (median)")
    try:
        for pair in PAIRS:
            cpu_rates: dict[str, list[float]] = {m: [] for m in METHODS if applies(m, pair)}
            wall_rates: dict[str, list[float]] = {m: [] for m in cpu_rates}
            for _ in range(runs):
                for name in cpu_rates:  # interleaved: every run is side by side
                    p = Pair(pair, data, work)
                    src, dst = p.open()
                    # file -> /dev/null moves tens of GB per CPU-second: repeat
                    # it so that a run lasts long enough to measure
                    reps = DEVNULL_REPEAT if pair == "file->/dev/null" else 1
                    c0, t0 = cpu(), time.perf_counter()
                    moved = 0
                    for k in range(reps):
                        if k:
                            os.lseek(src, 0, os.SEEK_SET)
                        moved += METHODS[name](src, dst, n)
                    c1, t1 = cpu(), time.perf_counter()
                    moved //= reps
                    p.close()
                    if moved != n:
                        raise SystemExit(f"{pair} {name}: moved {moved} of {n}")
                    cpu_rates[name].append(reps * n / 1e9 / max(c1 - c0, 1e-9))
                    wall_rates[name].append(reps * n / 1e9 / (t1 - t0))
            for name, rates in cpu_rates.items():
                walls = sorted(wall_rates[name])
                cells = " ".join(f"{r:6.2f}" for r in rates)
                print(f"{pair:16} {name:16} {cells}   {walls[len(walls) // 2]:6.2f}")
            others = [m for m in cpu_rates if m != "splicer"]
            best = [max(cpu_rates[m][r] for m in others) for r in range(runs)]
            vs_best = " ".join(f"{cpu_rates['splicer'][r] / best[r]:6.2f}" for r in range(runs))
            print(f"{pair:16} {'x best other':16} {vs_best}")
            for cfo in ("copyfileobj", "copyfileobj 1M"):
                vs = " ".join(
                    f"{cpu_rates['splicer'][r] / cpu_rates[cfo][r]:6.2f}" for r in range(runs)
                )
                print(f"{pair:16} {'x ' + cfo:16} {vs}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def overhead(mode: str, path: str, chunk: int, calls: int) -> None:
    """The loops of bindings/lua/bench/bench_c.c, through the binding, as
    tight as Python writes them.  "floor" is the same loop calling a C
    function that does nothing (len of an empty string): the interpreter's
    own share of each call, which no binding can remove."""
    ffd = os.open(path, os.O_RDONLY)
    nfd = os.open("/dev/null", os.O_WRONLY)
    size = os.fstat(ffd).st_size
    size -= size % chunk
    per_open = size // chunk
    moved = 0
    if mode == "sendfile":
        sendfile = splicer.raw.sendfile
        t0 = time.process_time()
        done = 0
        while done < calls:
            n = min(per_open, calls - done)
            for k in range(n):
                moved += sendfile(nfd, ffd, k * chunk, chunk)
            done += n
    elif mode == "step":
        s = splicer.Session(chunk=chunk)
        step = s.step
        t0 = time.process_time()
        done = 0
        while done < calls:
            n = min(per_open, calls - done)
            s.open(ffd, nfd, size, offset_in=0)
            for _ in range(n):
                moved += step()
            done += n
        s.close()
    else:
        empty = ""
        t0 = time.process_time()
        for _ in range(calls):
            moved += len(empty)
    print(f"{time.process_time() - t0:.6f} {moved}")


def kept(pair: str, keep: bool, calls: int) -> None:
    """Small copies on kept fds against the same copies on fds classified at
    every open.  file: copy_range of 4 KiB at offset 0 from a page-cached
    file to another (copy_file_range).  unix: 4 KiB written into one Unix
    stream socketpair, copied from its other end into a second pair, and
    read from there: the write and the read are in the time.  The sockets
    are O_NONBLOCK, as a relay's are (kept as such: no syscall), so that the
    C library does not switch their flags around each transfer."""
    chunk = 4096
    payload = os.urandom(chunk)
    closing: list[int] = []
    with splicer.Session() as s:
        if pair == "file":
            work = tempfile.mkdtemp(prefix="splicer-bench-")
            src = os.open(os.path.join(work, "src"), os.O_RDWR | os.O_CREAT, 0o600)
            dst = os.open(os.path.join(work, "dst"), os.O_RDWR | os.O_CREAT, 0o600)
            os.write(src, payload)
            closing += [src, dst]
            feed = drain = None
        else:
            work = ""
            a, b = socket.socketpair()
            c, d = socket.socketpair()
            b.setblocking(False)
            c.setblocking(False)
            src, dst = b.detach(), c.detach()
            fa, fd = a.detach(), d.detach()
            closing += [src, dst, fa, fd]
            buf = bytearray(chunk)

            def feed() -> None:
                os.write(fa, payload)

            def drain() -> None:
                os.readv(fd, [buf])

        if keep:
            for fd_ in (src, dst):
                if pair == "file":
                    s.keep(fd_)
                else:
                    s.keep(fd_, "stream", nonblock=True)
        copy_range = s.copy_range
        t0 = time.perf_counter_ns()
        if feed is None:
            for _ in range(calls):
                copy_range(src, 0, dst, 0, chunk)
        else:
            for _ in range(calls):
                feed()
                copy_range(src, None, dst, None, chunk)
                drain()
        t1 = time.perf_counter_ns()
        if s.stats.bytes != calls * chunk:
            raise SystemExit(f"kept {pair}: moved {s.stats.bytes} of {calls * chunk}")
    for fd_ in closing:
        os.close(fd_)
    if work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{(t1 - t0) / calls:.0f} ns per copy")


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        pairs(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "kept":
        kept(sys.argv[2], sys.argv[3] == "yes", int(sys.argv[4]))
    else:
        overhead(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
