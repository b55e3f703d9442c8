#!/usr/bin/env bash
# Writes docs/RELIABILITY.md to stdout from run.sh's result rows.
#   report.sh ROWS TOTAL_SECONDS     (called by run.sh --report)
set -uo pipefail
rows=$1 total=$2
kernel=$(uname -r)
cpus=$(nproc)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<HEAD
# Reliability

What the hardening suite proves about splicer, how, and what it found the
last time it ran.  This file is generated: \`tests/hardening/run.sh --report\`
runs the whole suite with the CI parameters and rewrites it.  The suite is
also a CI stage (\`tests/hardening/run.sh\`).

Last run: $when, commit $commit, Linux $kernel, $cpus CPUs, total ${total} s.
All programs built with AddressSanitizer and UndefinedBehaviorSanitizer
(leak detection on); the fuzz target with \`-fsanitize=fuzzer,address,undefined\`.

## Last results

| test | outcome | seconds | figures |
|---|---|---|---|
HEAD
while IFS='|' read -r name outcome secs res; do
  [ -n "$name" ] || continue
  printf '| %s | %s | %s | %s |\n' "$name" "$outcome" "$secs" "$res"
done <<<"$rows"
cat <<'BODY'

`bytes` counts every byte written to every destination.  A failing run of
the differential test prints its seed and the command that replays it:
`SPLICER_DIFF_SEED=<seed> SPLICER_DIFF_RUNS=1 SPLICER_DIFF_JOBS=1 differential`.

## The tests

All programs are in `tests/hardening/` (one per test, exit 0 pass, 77 skip
with the reason, anything else fail), the fuzz target in `fuzz/`.

### differential — random transfers against a read/write reference
Parameters: `SPLICER_DIFF_RUNS` (10,000 in CI), `SPLICER_DIFF_SEED` (base
seed, random and printed by default; run *i* uses base+*i*),
`SPLICER_DIFF_JOBS` (2 worker processes).

Each run is one session doing 1–4 transfers.  Each transfer draws: copy
(62 %), tee to 1–8 destinations (30 %) or a sealed buffer (8 %); a source of
kind file, memfd, pipe, unix socket or TCP loopback; destinations of those
kinds or an `O_APPEND` file, files pre-filled with other bytes and
positioned anywhere; sizes at the edges (0, 1, 4095/4096/4097, 64 KiB ± 1,
256 KiB ± 1) or random up to 4 MB; `len` of 0, 1–9, less than, equal to or
more than the data, or `SPLICER_TO_EOF`; offsets by value or
`SPLICER_OFF_CUR`; blocking, `SPLICER_OPT_NONBLOCK` or `O_NONBLOCK` fds,
driven by consumer threads with random read sizes (1–16 B up to 256 KiB)
and pauses, or by a single-threaded poll loop on what `splicer_wait`
names; random session pipe sizes (4 KiB–1 MiB), chunks (1 B–1 MiB),
caller pipe sizes and 4 KiB socket buffers; forced methods through
`SPLICER_OPT_METHODS` (single methods, pairs, random masks), fallback on or
off; `splicer_step` or `splicer_run`.

Checked: the method `open` picks is the one the documented chain predicts
(or `-EOPNOTSUPP` when none is allowed); after every call `consumed ==
delivered + pending` and the return value equals the growth of
`delivered`; `-EAGAIN` never in blocking mode and always with a
`splicer_wait` naming the source (POLLIN) or a destination (POLLOUT); at
the end `finished`, stats bytes equal to delivered and `bytes_by_method`
summing to `bytes`.  Every destination's content and position, the
source's position (files) or what is still in it (streams: the library
never read past `len`) are compared with the model and with a plain
read/write reference run on fresh, identical fds.  A forced method the
kernel refuses (with fallback to read/write forbidden) must fail with a
refusal errno before any destination got a byte, and `splicer_abort`
must report exactly the pending bytes.  No fd may remain open after a
worker's runs.

### fuzz — libFuzzer over the public API
`fuzz/run.sh SECONDS` (60 in CI) builds `fuzz/fuzz_session.c` with clang
and runs it from the seed corpus `fuzz/corpus/` (new inputs go to
`build-fuzz/corpus`).  An input is decoded into up to 64 operations: open,
open_tee (0–17 destinations, NULL array), open_buf, step, run, abort,
set/get of valid and invalid options and values, progress and stats with
every struct size, wait, the raw wrappers, feeding and draining the far
ends, closing an fd under an open transfer and reusing its number, and
replacing the session; on a pool of memfds, an `O_APPEND` memfd, pipes,
unix sockets, /dev/null read-write and write-only, and fds that are not
open.  After every operation the invariants are checked; after every input
all fds are closed and the count must be what it was before the input.

### fault_eintr — an EINTR storm
`setitimer` every 50 µs with a `SIGALRM` handler installed without
`SA_RESTART`, unblocked only around splicer's calls, during 12 transfers
(16–32 MiB each, 272 MiB in all): file → pipe, unix, TCP (splice,
sendfile, splice_pipe, read/write), unix → TCP (splice_pipe,
read/write), file → file (copy_file_range, sendfile, splice_pipe,
read/write), tee to pipe + unix + TCP, with readers slow enough that the
transfer sleeps in its writes.  Every byte arrives once, counts exact, no
call returns `-EINTR`.  (Under strace thousands of the data syscalls are
seen returning EINTR and being retried.)

### fault_eagain — EAGAIN on every call
Non-blocking sessions, 4 KiB session and caller pipes and socket buffers, a
consumer reading one byte per step, a stream source fed one byte every
other step: 9 shapes (sendfile, splice, splice_pipe, read/write, tee) of
100,000 bytes.  Every `-EAGAIN` names the right fd and event, the invariant
holds after every step, every byte arrives in order.

### fault_enospc — a full filesystem
A 1 MiB tmpfs mounted in a private mount namespace (`unshare(CLONE_NEWNS)`,
as root; SKIP with the errno where refused).  4 MiB from a file (default,
sendfile, splice_pipe, read/write), a pipe, a unix socket and a TCP socket,
and a tee to the tmpfs file and a pipe.  Each stops with `-ENOSPC`;
`delivered` equals the file's size exactly, the file holds the source's
first bytes, and `splicer_abort` returns exactly the pending bytes.

### fault_pipe_pages — pipe-user-pages-soft exhausted
Root is exempt from the limit, so the test runs in a child that becomes uid
65534.  It opens limit/64 + 64 sessions of their own pipes
(`SPLICER_OPT_POOL` 0; 320 with the default 16384 pages), each keeping a
pipe it asked 256 KiB for, without changing the sysctl.  The sessions past
the limit get 8 KiB pipes and every transfer (100,000 bytes socket →
socket through the pipe) is complete and correct.  Then, with the limit
spent by 1 MiB "hog" pipes before the pipe pool makes its first pipe,
pooled copies must count the undersized pipe (closed, never lent), move
their batches by read/write with every byte correct, ask the kernel once
and not again within the pool's 100 ms back-off, and make full-size pipes
again once the hogs are closed.  SKIP when the limit is 0 or no
unprivileged uid can be taken.

### fault_reset — TCP reset mid-transfer
The reader resets the connection (`SO_LINGER` 0) after 1 MiB of a 64 MiB
transfer: file → TCP (sendfile, splice_pipe, read/write), unix → TCP
(splice_pipe, read/write), tee to a pipe and TCP; and a TCP source that
sends 1 MiB then resets, into a file (splice, read/write).  SIGPIPE is at
its default disposition.  What the kernel gives, writing: `-ECONNRESET`
or `-EPIPE`, varying from run to run for the same method (the RST's error
is reported once, to the first call that meets it; a call that comes after
finds the socket shut down and gets EPIPE; the counts in the table above
are from the last run); reading: `-ECONNRESET`.  Both are accepted for
writes, nothing else is; the counts must be consistent (`delivered` at least what the peer
read) and the file destination must hold exactly `delivered` bytes, a
prefix of what was sent.

### fault_truncate — the source shrinks mid-transfer
A 64 MiB source file is truncated to 8 MiB once the copy is under way, for
file → file (4 methods), pipe, unix, TCP.  The transfer ends without error
at the new end of file, `delivered` equals what the destination holds and
how far the source position moved, and every delivered byte is the
original one.  The cut is page-aligned: cutting inside a page zeroes the
rest of that page in the page cache, and a pipe that still refers to it
would pass the zeros on (the page-reference caveat in SECURITY.md).

### EMFILE
Covered by `tests/c/test_emfile.c` (a tiny `RLIMIT_NOFILE`: a session of
its own pipes gets a clear `-EMFILE` with nothing taken from the source; a
pooled session's batch misses and goes by read/write, nothing lost;
nothing leaked, the session works once fds are free), which runs in the C
unit suite, under ASan and under valgrind.

### pool_threads — 256 threads on a pool of 8 pipes
Parameters: `SPLICER_POOL_THREADS` (256), `SPLICER_SOAK_SECONDS` (half of
the soak's in CI).  Every thread runs staged transfers of its own — socket →
file, a fan-out to two files (two pipes at once, or a miss), and a
non-blocking socket → socket whose consumer reads in small bites, so that
batches wait in their pipes and spill — checking every byte, while another
thread keeps changing the pool's cap (0 to 8), its idle cap, its pipe size,
and trims it.  At the end nothing is in use, created − closed equals idle,
borrowed equals returned plus discarded, and the pool was short (misses
happened) without a byte lost or crossing streams.  Also run under
ThreadSanitizer while it was written (clean).

### soak — 256 concurrent sessions
Parameters: `SPLICER_SOAK_SECONDS` (60 in CI), `SPLICER_SOAK_THREADS` (256).
Runs twice: 60 s in a plain build, where RSS is checked, and 10 s under
ASan+UBSan (`soak-asan`), where ASan's quarantine makes RSS meaningless and
LeakSanitizer checks at exit instead.  Each thread owns a session (replaced every 50 transfers, half of them with
64 KiB pipes) and its fds, and loops over 9 pairs — file → pipe/unix/TCP,
unix → unix, pipe → file, TCP → TCP, file → file, tee file → pipe + unix,
sealed buffer → pipe — with random lengths up to 256 KiB, non-blocking,
driven by `splicer_wait`, checking every byte as it arrives.  A warm-up
phase (5 s) first; afterwards the fd count must equal the count before the
warm-up and RSS (after `splicer_pool_trim` and `malloc_trim`) must be within 4 MiB of RSS after the
warm-up: the warm-up grows the allocator's per-thread arenas and session
buffers to their working size, what remains after trimming is arena
fragmentation of a few pages per arena, while a real leak of a session or
buffer per transfer would be hundreds of MiB over a minute.

### security — what tests/c does not already cover
No byte of an aborted transfer reaches the next one in the same session
(tee to three destinations, the read/write fallback, a sealed buffer staged
through the pipe, TCP splice_pipe): each destination holds a prefix of the
old stream (at least what was delivered) followed by exactly the new bytes.
No internal fd survives exec while the session's eight tee pipes hold
bytes (a re-executed child looks for their inodes).  No SIGPIPE death for a
tee with a closed destination pipe or socket and for sealed buffers into a
closed pipe or socket.  A stream source (pipe, unix, TCP) is never read
past `len`: copy and tee, default, read/write and splice_pipe methods,
blocking and non-blocking, lengths 1, 4095, 4096, 65537, 300000, with 5000
more bytes waiting that must still be in the source.  (tests/c already
covers abort/reuse of a socket copy, exec with idle pipes, SIGPIPE for
single-destination copies, and len for one socket pair.)

### regress_* — bugs found by this suite
Each `regress_*` program is the reproducer of a core bug this suite found,
kept so that it stays fixed.

- `regress_sendfile_off_out`: file → file with `off_out` by value, after
  copy_file_range refused (EXDEV, disk → memfd), fell back to sendfile,
  which wrote at the fd's position and moved it.  Fixed: sendfile is no
  candidate when `off_out >= 0`.
- `regress_tee_append`: a tee whose destination *i* > 0 is an `O_APPEND`
  file failed with `-EINVAL` (the refusal came after destination 0 had its
  bytes, too late to fall back).  Fixed: such a fan-out uses read/write
  from the start.
- `regress_vmsplice_nonblock_fd`: a sealed buffer handed to an `O_NONBLOCK`
  pipe, with `SPLICER_OPT_NONBLOCK` off, blocked once the pipe was full
  instead of returning `-EAGAIN`: vmsplice(2) ignores the pipe's
  `O_NONBLOCK`.  Found by the differential test and again by the fuzzer.
  Fixed: the session passes `SPLICER_F_NONBLOCK` for a non-blocking pipe.
BODY
