"""The process-wide pipe pool shared by every session (splicer_pool_set(3)).

A staged transfer borrows its pipe(s) from the pool for each batch and gives
them back the moment they are empty, so an idle session holds no pipe and
pipe memory is bounded by the pool, not by the number of sessions.  A pipe
that holds bytes never goes back.  When the pool has no pipe to lend, the
batch goes through read/write (counted in ``misses``), and nothing is lost.

    splicer.pool.configure(max_pipes=64, max_idle=8)
    splicer.pool.stats().in_use
    splicer.pool.trim()          # close the idle pipes
"""

from __future__ import annotations

from typing import Final

from . import _core as _core
from . import core as _gen

__all__ = ["OPTIONS", "PoolStats", "configure", "get", "set", "stats", "trim"]

PoolStats = _core.PoolStats

#: Pool option names and their numbers in the C API.
OPTIONS: Final[dict[str, int]] = {
    "max_pipes": _gen.POOL_MAX_PIPES,
    "max_idle": _gen.POOL_MAX_IDLE,
    "pipe_size": _gen.POOL_PIPE_SIZE,
}


def _number(option: str | int) -> int:
    if isinstance(option, str):
        if option not in OPTIONS:
            raise ValueError(f"unknown pool option {option!r} (one of {', '.join(OPTIONS)})")
        return OPTIONS[option]
    return option


def get(option: str | int) -> int:
    """The value in effect of ``max_pipes``, ``max_idle`` or ``pipe_size``."""
    return _gen.pool_get(_number(option))  # type: ignore[no-any-return]


def set(option: str | int, value: int) -> None:  # noqa: A001  (the C API's name)
    """Set one pool option (OSError EINVAL when out of range)."""
    _gen.pool_set(_number(option), value)


def configure(
    *, max_pipes: int | None = None, max_idle: int | None = None, pipe_size: int | None = None
) -> None:
    """Set any of the three options at once (None: leave it)."""
    for name, value in (("max_pipes", max_pipes), ("max_idle", max_idle), ("pipe_size", pipe_size)):
        if value is not None:
            set(name, value)


def stats() -> PoolStats:
    """borrowed, returned, created, closed, misses, in_use, idle, peak_in_use,
    discarded, undersized, spills (gauges: in_use, idle, peak_in_use; the rest
    count since the process started).  spills: pipes given back early, a
    session's destination being full while the pool had no idle pipe, the bytes
    left moved into a buffer."""
    st: PoolStats = _gen.pool_stats_get()
    return st


def trim() -> int:
    """Close every idle pipe; return how many were closed."""
    return _gen.pool_trim()  # type: ignore[no-any-return]
