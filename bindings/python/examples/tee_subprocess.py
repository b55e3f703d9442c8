#!/usr/bin/env python3
"""tee_subprocess.py FILE HOST PORT CMD [ARG...]: run CMD and send its
standard output both to FILE and to a TCP peer, with tee(2): the bytes are
duplicated inside the kernel, never read into Python."""

from __future__ import annotations

import socket
import subprocess
import sys

import splicer


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print("usage: tee_subprocess.py FILE HOST PORT CMD [ARG...]", file=sys.stderr)
        return 2
    path, host, port, cmd = argv[0], argv[1], int(argv[2]), argv[3:]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with open(path, "wb") as out, socket.create_connection((host, port)) as peer:
        n = splicer.tee(proc.stdout, out, peer)
        peer.shutdown(socket.SHUT_WR)
    proc.stdout.close()
    print(f"{n} bytes to {path} and {host}:{port}", file=sys.stderr)
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
