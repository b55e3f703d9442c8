# Types of the extension module splicer._core (built from splicer_wrap.c):
# the SWIG-generated functions are reached through splicer.core; these are the
# types and drivers written by hand in swig/splicer_python.i.
from collections.abc import Sequence
from typing import Any, NamedTuple, final

class Progress(NamedTuple):
    consumed: int
    delivered: int
    pending: int
    method: str
    finished: bool

class Stats(NamedTuple):
    bytes: int
    syscalls: int
    fallbacks: int
    eagain: int
    pool_misses: int
    bytes_by_method: dict[str, int]
    pool_spills: int

class PoolStats(NamedTuple):
    borrowed: int
    returned: int
    created: int
    closed: int
    misses: int
    in_use: int
    idle: int
    peak_in_use: int
    discarded: int
    undersized: int
    spills: int

class SessionBase:
    _nonblock: int
    _wait_ms: int
    def step(self) -> int: ...
    def run(self) -> int: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

@final
class Buf:
    def __init__(self, size: int) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    @property
    def handed_over(self) -> bool: ...

def transfer(
    session: Any,
    fd_in: Any,
    off_in: int | None,
    fd_out: Any,
    off_out: int | None,
    length: int | None,
    timeout_ms: int,
    nonblock: int,
    /,
) -> int: ...
def open_fds(
    session: Any,
    fd_in: Any,
    off_in: int | None,
    fd_out: Any,
    off_out: int | None,
    length: int | None,
    nonblock: int,
    /,
) -> bool: ...
def open_tee_fds(
    session: Any,
    fd_in: Any,
    off_in: int | None,
    fds_out: Sequence[Any],
    length: int | None,
    nonblock: int,
    /,
) -> bool: ...
def open_buf_obj(
    session: Any, buf: Buf, length: int | None, fd_out: Any, nonblock: int, /
) -> bool: ...
def drive(session: Any, once: int, timeout_ms: int, /) -> int: ...
def drive_async(session: Any, /) -> tuple[int, int, int]: ...
