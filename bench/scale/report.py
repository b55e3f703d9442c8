#!/usr/bin/env python3
"""bench/scale/report.py scale.json pool_cost.md UPTIME_START UPTIME_END
scale.svg > SCALE.md: the tables of bench/scale (idle, active, reach), the
targets of issue 11 checked against the run, the pool's own cost, a chart
of GB per CPU-second (plain SVG), and bench/scale/analysis.md appended."""
import json
import os
import sys
from html import escape

# contender names as bench/scale/run gives them
SPLICER = "splicer.Copy"
SPLICER_OFF = "splicer, pool off"
IOCOPY = "Go io.Copy"
RWLOOP = "read/write loop"
EVENT = "C event_proxy"
EVENT_OFF = "C event_proxy, pool off"
POOLED = (SPLICER, EVENT)
MIB = 1 << 20


def read(path):
    with open(path) as f:
        return f.read()


def fmt(v, digits=2):
    return "-" if v is None else f"{v:,.{digits}f}"


def num(v):
    return "-" if v is None else f"{v:,}"


class Runs:
    """Every run of one contender at one N; the best one (by GB per
    CPU-second) stands for it, failures count from the worst."""

    def __init__(self, runs):
        self.runs = runs
        measured = [r for r in runs if r.get("active") and r["active"]["gb_per_cpu_s"] > 0]
        self.measured = measured
        self.best = max(measured, key=lambda r: r["active"]["gb_per_cpu_s"], default=None)
        self.fastest = max(measured, key=lambda r: r["active"]["gbps"], default=None)
        self.any = self.best or runs[0]

    def idle(self, key):
        i = self.any.get("idle")
        return None if not i else i.get(key)

    def active(self, key):
        a = self.best and self.best.get("active")
        return None if not a else a.get(key)

    def failed_max(self):
        return max((r["n"] - (r.get("connect") or {}).get("served", 0) for r in self.runs), default=None)

    def all_verified(self):
        return all(r.get("active") and r["active"]["verified"] for r in self.runs)

    def gbps(self):
        """the best GB/s of the runs"""
        return self.fastest["active"]["gbps"] if self.fastest else None

    def busy(self, cpus):
        """share of the machine's CPU that the proxy and the load generator
        used during the fastest run's active phase"""
        if not self.fastest:
            return None
        a = self.fastest["active"]
        return (a["cpu_seconds"] + a["driver_cpu_seconds"]) / (cpus * a["seconds"])

    def runs_text(self):
        return " ".join(f"{r['active']['gb_per_cpu_s']:.2f} ({r['active']['gbps']:.2f})"
                        for r in self.measured)


def verdict(ok, near=False):
    if ok is None:
        return "not measured"
    return "yes" if ok else ("no, within 5% (noise)" if near else "**no**")


def svg_chart(ns, names, value, path):
    """Grouped bars: one group per N, one bar per contender."""
    colors = ["#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#9467bd", "#c5b0d5",
              "#8c564b", "#e377c2"]
    vals = [value(n, c) for n in ns for c in names]
    top = max([v for v in vals if v] + [1.0])
    step = 1 if top <= 8 else 2 if top <= 16 else 5
    top = (int(top / step) + 1) * step
    w, h, left, bottom, topm = 860, 400, 60, 40, 40
    plot_w, plot_h = w - left - 190, h - bottom - topm
    group = plot_w / max(len(ns), 1)
    bar = group * 0.8 / max(len(names), 1)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">'),
           f'<rect width="{w}" height="{h}" fill="white"/>',
           (f'<text x="{left}" y="22" font-size="15">Proxy GB per CPU-second, '
           f'by connections (N) and relay; higher is better</text>')]
    for k in range(int(top / step) + 1):
        v = k * step
        y = topm + plot_h - v / top * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for i, n in enumerate(ns):
        x0 = left + i * group + group * 0.1
        for j, c in enumerate(names):
            v = value(n, c)
            if not v:
                continue
            bh = v / top * plot_h
            x = x0 + j * bar
            out.append(f'<rect x="{x:.1f}" y="{topm + plot_h - bh:.1f}" width="{bar - 1:.1f}" '
                       f'height="{bh:.1f}" fill="{colors[j % len(colors)]}">'
                       f'<title>{escape(c)}, N={n}: {v:.2f} GB/CPU-s</title></rect>')
        out.append(f'<text x="{left + i * group + group / 2:.1f}" y="{topm + plot_h + 18}" '
                   f'text-anchor="middle">N = {n:,}</text>')
    out.append(f'<line x1="{left}" y1="{topm + plot_h}" x2="{left + plot_w}" '
               f'y2="{topm + plot_h}" stroke="black"/>')
    out.append(f'<text x="16" y="{topm + plot_h / 2:.0f}" transform="rotate(-90 16 '
               f'{topm + plot_h / 2:.0f})" text-anchor="middle">GB per CPU-second of the proxy</text>')
    for j, c in enumerate(names):
        y = topm + 10 + j * 20
        out.append(f'<rect x="{left + plot_w + 15}" y="{y - 10}" width="12" height="12" '
                   f'fill="{colors[j % len(colors)]}"/>')
        out.append(f'<text x="{left + plot_w + 32}" y="{y}">{escape(c)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: report.py scale.json pool_cost.md UPTIME_START UPTIME_END scale.svg")
    data = json.loads(read(sys.argv[1]))
    pool_cost = read(sys.argv[2]).strip()
    up_start, up_end, svg_path = sys.argv[3], sys.argv[4], sys.argv[5]
    meta, results = data["meta"], data["results"]
    names = [c["name"] for c in meta["contenders"]]
    ns = []
    for r in results:
        if r["n"] not in ns:
            ns.append(r["n"])
    runs = {}
    for r in results:
        runs.setdefault((r["contender"], r["n"]), []).append(r)
    R = {k: Runs(v) for k, v in runs.items()}

    def get(c, n):
        return R.get((c, n))

    soft_bytes = meta["pipe_user_soft"] * 4096
    n_max = meta["n_max"]
    out = []
    w = out.append
    w("# splicer at scale: a TCP proxy with N connections\n")
    w("Generated by `bench/scale/run` (do not edit by hand; the analysis at the "
      "end comes from `bench/scale/analysis.md`). Raw results: "
      "[scale.json](scale.json).\n")
    w("## How it was measured\n")
    dirs = ("every upstream sends its bytes to its client and every client its "
            "bytes to its upstream, all at once" if meta["dirs"] == "both"
            else "every upstream sends its bytes to its client, all at once")
    w(f"- **Setup.** A TCP proxy on 127.0.0.1 with N concurrent connections, "
      f"relaying both directions of each (client ⇄ proxy ⇄ upstream). The proxy "
      f"runs as uid {meta['uid']} (`setpriv --reuid={meta['uid']} "
      f"--regid={meta['uid']} --clear-groups`), so that the kernel's per-user "
      f"pipe limit applies (`fs.pipe-user-pages-soft` = {meta['pipe_user_soft']:,} "
      f"pages, {soft_bytes / MIB:.0f} MiB; root is exempt), with its fd limit "
      f"at the hard limit, {meta['fd_limit']:,} (`prlimit --nofile`, soft = hard).")
    w("- **Load generator** (`bench/scale/driver`, Go, root): the clients in "
      "one process and the upstream side in another, so that each holds N "
      "sockets within the same fd limit (root cannot raise it here: no "
      "CAP_SYS_RESOURCE). Each client sends a 16-byte hello with its number "
      "through the proxy; the upstream connection it arrives on answers with a "
      "16-byte ack; that pairs them. Payloads are windows of one pseudo-random "
      "sequence at a different offset for every connection and direction, and "
      "every byte is compared on arrival (a byte on the wrong connection or out "
      "of order fails).")
    w(f"- **Contenders.** {SPLICER}: `splicer.Copy` for each direction (pipes "
      f"from the process-wide pool, the default; on EMFILE from Accept or Dial "
      f"it gives the pool's idle pipes back with `splicer.TrimPool()` and tries "
      f"again, as `event_proxy` does). {SPLICER_OFF}: a "
      f"`splicer.New(splicer.WithPool(false))` session per direction (its own "
      f"pipes, kept for its life). {IOCOPY}: `io.Copy` (TCPConn.ReadFrom "
      f"splices through a pipe of Go's own, held for the whole copy). "
      f"{RWLOOP}: Read/Write with a 32 KiB buffer per direction. All four are "
      f"`bench/scale/goproxy`, one goroutine per direction. {EVENT}: "
      f"`examples/c/event_proxy`, one thread, epoll, two non-blocking sessions "
      f"per connection driven by `splicer_wait`; {EVENT_OFF}: the same with "
      f"`SPLICER_OPT_POOL` 0.")
    w(f"- **N** = {', '.join(f'{n:,}' for n in ns)}. N max = {n_max:,}: the "
      f"largest N the fd limit allows a read/write proxy, "
      f"({meta['fd_limit']:,} − {meta['rw_baseline']}) / 2, where "
      f"{meta['rw_baseline']} is the read/write proxy's own fds before its first "
      f"connection (standard streams, listener, epoll, eventfd) and each "
      f"connection costs it 2." if n_max else
      f"- **N** = {', '.join(f'{n:,}' for n in ns)}.")
    w("- **Idle phase** (after the hello/ack exchange and a 1 s pause): the "
      "proxy's fds per connection = (fds now − fds before the first connection) "
      "/ N; pipes = distinct pipes among its fds (fds 0-2, the pipes to the "
      "driver, left out); pipe capacity = the sum of `F_GETPIPE_SZ` over them, "
      "each opened through `/proc/PID/fd/N`; RSS and threads from "
      "`/proc/PID/status`. Pool idle/in use from the proxy's own pool "
      "statistics (it prints them on SIGUSR1).")
    w(f"- **Active phase**: {dirs}, {meta['size'] / MIB:g} MiB per stream per "
      f"round; rounds repeat until at least {meta['min_bytes'] / 2**30:g} GiB moved "
      f"(so N = 1 runs many rounds). CPU = the proxy's utime+stime from "
      f"`/proc/PID/stat` over the phase (all its threads; resolution 10 ms). "
      f"GB = 10^9 bytes delivered and checked (both directions). GB/s = GB / "
      f"wall time; GB/CPU-s = GB / proxy CPU seconds. Peak pipes: sampled from "
      f"`/proc/PID/fd` during the phase (at most every 50 ms, less often when a "
      f"sample is slow); pool peak = the pool's own `peak_in_use` "
      f"(`splicer.ReadPoolStats`, `splicer_pool_stats_get`). Minor faults from "
      f"`/proc/PID/stat`. Load-generator CPU (both processes) is reported too: "
      f"on 2 cores it competes with the proxy, so GB/s depends on it; GB/CPU-s "
      f"does not.")
    w(f"- {meta['repeat']} runs of every contender at every N, interleaved; "
      f"each table shows the run with the best GB/CPU-s, and failures are the "
      f"worst run's.")
    w(f"- **Machine**: {meta['cpus']} CPUs, shared. Load (`uptime`) at the "
      f"start: `{up_start.strip()}`; at the end: `{up_end.strip()}`. The run "
      f"took {meta['seconds'] / 60:.1f} min. Each run's load average is in "
      f"scale.json.\n")
    w("![GB per CPU-second by N and relay](scale.svg)\n")

    # ---- idle
    w("## Idle phase\n")
    w("`fds after`: the proxy's fds once every connection was closed again, "
      "after the active phase (idle pipes kept by a pool show here).\n")
    w("| N | relay | served | fds/conn | pipes | pipe capacity MiB | pool idle "
      "pipes | RSS MiB | threads | fds after |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in ns:
        for c in names:
            x = get(c, n)
            if not x:
                continue
            conn = x.any.get("connect") or {}
            if not x.any.get("idle"):
                w(f"| {n:,} | {c} | {num(conn.get('served'))} | failed: "
                  f"{x.any.get('error', '')} | | | | | | |")
                continue
            pool = x.idle("pool") or {}
            pidle = pool.get("idle") if pool.get("sessions_pooled") else None
            w(f"| {n:,} | {c} | {num(conn.get('served'))} | {fmt(x.idle('fds_per_conn'))} | "
              f"{num(x.idle('pipes'))} | {fmt(x.idle('pipe_bytes') / MIB, 1)} | "
              f"{num(pidle)} | {fmt(x.idle('rss_kib') / 1024, 0)} | {x.idle('threads')} | "
              f"{num(x.any.get('fds_after_close'))} |")
    w("")

    # ---- active
    w("## Active phase\n")
    w("GB/CPU-s and the columns after it: the run with the best GB/CPU-s. "
      "GB/s: the best of the runs; `busy`: the share of the machine's CPU the "
      "proxy and the load generator used together in that run (the rest went "
      "to other work on the machine). `x r/w`, `x io.Copy`: GB/CPU-s against "
      "the read/write loop's and io.Copy's at the same N. `runs`: GB/CPU-s "
      "(GB/s) of every run. `misses`: batches the pool could not lend a pipe "
      "for (done by read/write), as a share of all batches (`misses / (misses "
      "+ borrowed)`). `peak pipes`: sampled / the pool's `peak_in_use`. `peak "
      "RSS`: VmHWM (whole life of the proxy). `load-gen CPU-s`: both load "
      "generator processes.\n")
    w("| N | relay | GB | GB/s | busy | GB/CPU-s | x r/w | x io.Copy | runs | "
      "peak pipes | peak pipe MiB | misses | peak RSS MiB | faults/GB | load-gen CPU-s | "
      "verified |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n in ns:
        rw, io = get(RWLOOP, n), get(IOCOPY, n)
        for c in names:
            x = get(c, n)
            if not x:
                continue
            if not x.best:
                w(f"| {n:,} | {c} | failed: {x.any.get('error', '')} | | | | | | | | | | | | | |")
                continue
            g = x.active("gb_per_cpu_s")
            vs_rw = g / rw.active("gb_per_cpu_s") if rw and rw.best else None
            vs_io = g / io.active("gb_per_cpu_s") if io and io.best else None
            peak = num(x.active("peak_pipes"))
            if x.active("pool_peak_in_use") is not None:
                peak += f" / {x.active('pool_peak_in_use')}"
            misses, borrowed = x.active("pool_misses"), x.active("pool_borrowed")
            miss = (f"{100 * misses / (misses + borrowed):.0f}%"
                    if misses is not None and misses + borrowed > 0 else "-")
            gb = x.active("bytes") / 1e9
            faults = x.active("minor_faults")
            served = (x.best.get("connect") or {}).get("served", n)
            cname = c if served == n else f"{c} (on {served:,} served)"
            ver = "yes" if x.all_verified() else "**no**"
            busy = x.busy(meta["cpus"])
            w(f"| {n:,} | {cname} | {gb:.1f} | {fmt(x.gbps())} | "
              f"{'-' if busy is None else f'{100 * busy:.0f}%'} | {fmt(g)} | "
              f"{fmt(vs_rw)} | {fmt(vs_io)} | {x.runs_text()} | {peak} | "
              f"{fmt(x.active('peak_pipe_bytes') / MIB, 1)} | {miss} | "
              f"{fmt(x.active('hwm_kib') / 1024, 0)} | "
              f"{'-' if faults is None else f'{faults / gb:,.0f}'} | "
              f"{fmt(x.active('driver_cpu_seconds'), 1)} | {ver} |")
    w("")

    # ---- reach
    w("## Reach\n")
    w("Connections served (hello and ack through the proxy) in each run, with "
      "the reasons of the failures. A proxy out of fds stops accepting or "
      "dialing; when nothing moves for 5 s the remaining connections are "
      "counted as failed (`stalled`).\n")
    w("| N | relay | served per run | failures (worst run) |")
    w("|---:|---|---|---|")
    for n in ns:
        if n < max(ns) and not any((get(c, n) and get(c, n).failed_max()) for c in names):
            continue
        for c in names:
            x = get(c, n)
            if not x:
                continue
            served = [f"{(r.get('connect') or {}).get('served', 0):,}" for r in x.runs]
            worst = max(x.runs, key=lambda r: r["n"] - (r.get("connect") or {}).get("served", 0))
            reasons = (worst.get("connect") or {}).get("fail_reasons") or {}
            why = ", ".join(f"{k}: {v:,}" for k, v in sorted(reasons.items())) or "-"
            w(f"| {n:,} | {c} | {' / '.join(served)} of {n:,} | {why} |")
    w("")

    # ---- targets
    w("## Targets of issue 11\n")
    w("Reported, not asserted. A ratio within about 5% of its threshold is "
      "inside this machine's noise.\n")
    w("| target | relay | measured | met |")
    w("|---|---|---|---|")
    t3 = 3000

    def target(name, relay, measured, ok, near=False):
        w(f"| {name} | {relay} | {measured} | {verdict(ok, near)} |")

    for c in POOLED:
        x = get(c, t3)
        if not x or not x.any.get("idle"):
            target(f"idle, N = {t3:,}: ≤ 2.2 fds per connection", c, "-", None)
            continue
        v = x.idle("fds_per_conn")
        target(f"idle, N = {t3:,}: ≤ 2.2 fds per connection", c, f"{v:.2f}", v <= 2.2)
        v = x.idle("pipe_bytes") / MIB
        target(f"idle, N = {t3:,}: ≤ 16 MiB of pipe capacity", c, f"{v:.1f} MiB", v <= 16)
    for c in POOLED:
        x, rw, io = get(c, t3), get(RWLOOP, t3), get(IOCOPY, t3)
        if not (x and x.best and rw and rw.best and io and io.best):
            target(f"active, N = {t3:,}: GB/CPU-s ≥ 1.5x read/write loop and io.Copy", c,
                   "-", None)
            continue
        g = x.active("gb_per_cpu_s")
        v = g / rw.active("gb_per_cpu_s")
        target(f"active, N = {t3:,}: GB/CPU-s ≥ 1.5x the read/write loop", c,
               f"{v:.2f}x ({g:.2f} vs {rw.active('gb_per_cpu_s'):.2f})", v >= 1.5, v >= 1.425)
        v = g / io.active("gb_per_cpu_s")
        target(f"active, N = {t3:,}: GB/CPU-s ≥ 1.5x io.Copy", c,
               f"{v:.2f}x ({g:.2f} vs {io.active('gb_per_cpu_s'):.2f})", v >= 1.5, v >= 1.425)
        v = x.gbps() / rw.gbps()
        target(f"active, N = {t3:,}: GB/s, against the read/write loop's (reported; "
               f"best of the runs)", c,
               f"{x.gbps():.2f} vs {rw.gbps():.2f} GB/s ({v:.2f}x)", v >= 1.0, v >= 0.95)
        pk = x.active("peak_pipe_bytes")
        pool_peak = x.active("pool_peak_in_use")
        size = (x.idle("pool") or {}).get("pipe_size", 0)
        bound = max(pk, (pool_peak or 0) * size)
        target(f"active, N = {t3:,}: peak pipe memory within the per-user soft limit "
               f"({soft_bytes / MIB:.0f} MiB)", c,
               f"{pk / MIB:.1f} MiB sampled; pool peak {pool_peak} pipes x "
               f"{size // 1024} KiB = {(pool_peak or 0) * size / MIB:.0f} MiB",
               bound <= soft_bytes)
    rows = [get(c, t3) for c in names if get(c, t3)]
    if rows:
        bad = [c for c in names if get(c, t3) and not get(c, t3).all_verified()]
        target(f"active, N = {t3:,}: every byte verified", "all",
               "every run, every relay" if not bad else "not in: " + ", ".join(bad), not bad)
    if n_max:
        rw = get(RWLOOP, n_max)
        for c in POOLED:
            x = get(c, n_max)
            if not x or not rw:
                continue
            f, frw = x.failed_max(), rw.failed_max()
            target(f"reach: N max = {n_max:,} served with no failed connection "
                   f"(read/write loop: {frw:,} failed)", c,
                   f"{f:,} failed in the worst of {len(x.runs)} runs", f == 0 and frw == 0)
    for n in (1, 200):
        for c, off in ((SPLICER, SPLICER_OFF), (EVENT, EVENT_OFF)):
            x, y = get(c, n), get(off, n)
            if not (x and x.best and y and y.best):
                continue
            v = x.active("gb_per_cpu_s") / y.active("gb_per_cpu_s")
            target(f"small N = {n}: no regression against session-owned pipes "
                   f"(GB/CPU-s ≥ 0.9x pool off, same run)", c,
                   f"{v:.2f}x ({x.active('gb_per_cpu_s'):.2f} vs "
                   f"{y.active('gb_per_cpu_s'):.2f})", v >= 0.9, v >= 0.855)
    ref = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "results.json")
    if os.path.exists(ref):
        rr = json.loads(read(ref))["results"]
        tcp = [r for r in rr if r.get("pair") == "tcp-tcp" and r.get("ok")
               and r["contender"] in ("splicer auto", "read/write loop")]
        if tcp:
            w("\nFor reference, bench/RESULTS.md (one stream, TCP -> TCP, "
              "the copy in the bench process, not a proxy): " +
              "; ".join(f"{r['contender']} {r['gb_per_cpu_s']:.2f} GB/CPU-s" for r in tcp) +
              ". A proxy relays two sockets per stream and pays both ends' "
              "protocol work, so its figures are not directly comparable; the "
              "small-N target is judged against pool off in the same run.")
    w("")

    # ---- pool cost
    w("## The pool's own cost\n")
    w("`bench/scale/pool_cost`: one borrow plus one return of a pool pipe, "
      "alone and with threads contending for the pool's mutex, against a "
      "64 KiB batch through a pipe; and a whole 64 KiB step with the session's "
      "own pipe against the same step with a pooled pipe.\n")
    w(pool_cost + "\n")

    # ---- findings computed from this run
    w("## What this run shows\n")
    for n in ns:
        for c in POOLED:
            x = get(c, n)
            if not x or not x.best or x.active("pool_misses") is None:
                continue
            m, b = x.active("pool_misses"), x.active("pool_borrowed")
            if m == 0 or n < 1000:
                continue
            rw = get(RWLOOP, n)
            hwm = x.active("hwm_kib") / 1024
            rwhwm = rw.active("hwm_kib") / 1024 if rw and rw.best else None
            gb = x.active("bytes") / 1e9
            w(f"- {c}, N = {n:,}: {m:,} of {m + b:,} batches "
              f"({100 * m / (m + b):.0f}%) went through read/write because the "
              f"pool had no pipe to lend (pool peak {x.active('pool_peak_in_use')} "
              f"in use). Peak RSS {hwm:,.0f} MiB"
              + (f" (read/write loop: {rwhwm:,.0f} MiB)" if rwhwm else "")
              + f"; {x.active('minor_faults') / gb:,.0f} minor faults per GB"
              + (f" (read/write loop: {rw.active('minor_faults') / (rw.active('bytes') / 1e9):,.0f})"
                 if rw and rw.best else "") + ".")
    if n_max:
        for c in names:
            x = get(c, n_max)
            if not x or not x.failed_max():
                continue
            worst = max(x.runs, key=lambda r: r["n"] - (r.get("connect") or {}).get("served", 0))
            pool = (worst.get("idle") or {}).get("pool") or {}
            extra = ""
            if pool.get("sessions_pooled"):
                k = pool.get("idle", 0)
                extra = (f"; the pool then kept {k} idle pipe{'s' if k != 1 else ''} "
                         f"({2 * k} fds)")
            f = x.failed_max()
            w(f"- {c} at N max = {n_max:,}: {f:,} connection{'s' if f > 1 else ''} failed in "
              f"the worst run (its own fds before the first connection: "
              f"{worst.get('baseline_fds')}{extra}).")
    w("")
    here = os.path.dirname(os.path.abspath(__file__))
    analysis = os.path.join(here, "analysis.md")
    if os.path.exists(analysis):
        w(read(analysis).rstrip() + "\n")
    print("\n".join(out))

    svg_chart(ns, names, lambda n, c: get(c, n) and get(c, n).active("gb_per_cpu_s"), svg_path)


if __name__ == "__main__":
    main()
