#!/usr/bin/env python3
"""cp.py [--stats] SRC DST: copy SRC to DST with splicer ("-" is stdin/stdout).

File to file goes through copy_file_range, a file to a socket or /dev/null
through sendfile, a pipe through splice; nothing passes through Python.
"""

from __future__ import annotations

import sys

import splicer


def main(argv: list[str]) -> int:
    show_stats = "--stats" in argv
    args = [a for a in argv if a != "--stats"]
    if len(args) != 2:
        print("usage: cp.py [--stats] SRC DST", file=sys.stderr)
        return 2
    src = sys.stdin.buffer if args[0] == "-" else open(args[0], "rb")  # noqa: SIM115
    dst = sys.stdout.buffer if args[1] == "-" else open(args[1], "wb")  # noqa: SIM115
    try:
        with splicer.Session() as s:
            n = s.copy(src, dst)
            if show_stats:
                st = s.stats
                print(
                    f"{n} bytes by {s.progress.method}, {st.syscalls} syscalls, "
                    f"{st.fallbacks} fallbacks",
                    file=sys.stderr,
                )
    except BrokenPipeError:
        return 1  # the reader went away (cp.py big - | head): end quietly
    except OSError as e:
        print(f"cp.py: {e}", file=sys.stderr)
        return 1
    finally:
        for f in (src, dst):
            if f not in (sys.stdin.buffer, sys.stdout.buffer):
                f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
