#!/usr/bin/env bash
# Tests of bench/scale's tooling (not a measurement): go vet and gofmt, the
# driver's unit tests (the byte checks catch a flipped byte, another
# connection's stream, a short stream), then a small end-to-end run of the
# driver (as root: the proxies run as uid 65534) through both proxies and
# the report.  Ends with "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/bench/.build/scale-test
P=0 F=0 S=0
ok() { echo "ok   $1"; P=$((P + 1)); }
bad() { echo "FAIL $1"; F=$((F + 1)); }
skip() { echo "skip $1"; S=$((S + 1)); }
finish() { echo "$P passed, $F failed, $S skipped"; [ $F -eq 0 ]; exit; }
rm -rf "$out"
mkdir -p "$out"

cd bench/scale
if go vet ./... && [ -z "$(gofmt -l .)" ]; then ok "go vet and gofmt"; else bad "go vet / gofmt"; fi
if timeout 300 go test -count=1 ./...; then ok "driver unit tests"; else bad "driver unit tests"; fi
if timeout 300 go build -o "$out/driver" ./driver && timeout 300 go build -o "$out/goproxy" ./goproxy; then
  ok "driver and goproxy build"
else
  bad "driver and goproxy build"
  finish
fi
cd "$root"

# bad input: clear errors, no measurement
if ! "$out/driver" -fd-limit 100 -out "$out/x.json" -ns "1 x" -contender "a=/bin/true" 2>"$out/err" &&
   grep -q 'bad connection count "x"' "$out/err"; then
  ok "driver refuses a bad connection count"
else
  bad "driver with a bad connection count"
fi
if ! "$out/driver" -fd-limit 100 -out "$out/x.json" -ns max -contender "a=/bin/true" 2>"$out/err" &&
   grep -q 'N max needs -rw' "$out/err"; then
  ok "driver refuses N max without the read/write contender"
else
  bad "driver with N max and no -rw"
fi
if ! "$out/goproxy" -mode nonsense -to 127.0.0.1:1 2>"$out/err" && grep -q '^usage:' "$out/err"; then
  ok "goproxy refuses an unknown mode"
else
  bad "goproxy with an unknown mode"
fi

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! command -v prlimit >/dev/null; then
  skip "end-to-end run (needs root, setpriv and prlimit)"
  finish
fi
bin=$out
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin/goproxy"; then
  bin=$(mktemp -d /tmp/splicer-scale-test.XXXXXX)
  chmod 755 "$bin"
  trap 'rm -rf "$bin"' EXIT
fi
[ "$bin" = "$out" ] || cp "$out/goproxy" "$bin/"
cp build/examples/c/event_proxy "$bin/"
# N max from a limit of 300 fds: (300 - the read/write proxy's own) / 2
if timeout 300 "$out/driver" -fd-limit 300 -ns "1 40 max" -repeat 1 -min-bytes 64M \
     -log-dir "$out/logs" -out "$out/scale.json" -rw rw \
     -contender "pool=$bin/goproxy -mode splicer -to {upstream}" \
     -contender "rw=$bin/goproxy -mode rwloop -to {upstream}" \
     -contender "event=$bin/event_proxy 0 {upstream_port}" >"$out/run.log" 2>&1; then
  ok "driver runs three proxies at N = 1, 40 and N max"
else
  bad "driver run (see $out/run.log)"
  finish
fi
if python3 - "$out/scale.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m, rs = d["meta"], d["results"]
assert m["n_max"] == (300 - m["rw_baseline"]) // 2 and m["n_max"] > 100, m
assert len(rs) == 9, len(rs)
for r in rs:
    a = r["active"]
    assert a["verified"] and a["bytes"] >= 64 << 20, (r["contender"], r["n"], a)
    assert r["idle"]["fds"] > r["baseline_fds"], r
    if r["contender"] == "rw":
        assert r["ok"] and r["idle"]["pipes"] == 0 and r["connect"]["failed"] == 0, r
    if r["contender"] in ("pool", "event"):
        assert r["idle"]["pool"]["sessions_pooled"] == 1, r
        assert a["pool_borrowed"] + a["pool_misses"] > 0, r
    if r["n"] == 40:
        assert r["ok"], r
PY
then
  ok "every byte checked, N max computed from the limit, pool statistics read"
else
  bad "results of the run"
fi
if python3 bench/scale/report.py "$out/scale.json" /dev/null start end "$out/scale.svg" >"$out/SCALE.md" &&
   grep -q '^## Targets of issue 11' "$out/SCALE.md" && grep -q '</svg>' "$out/scale.svg"; then
  ok "report and chart written"
else
  bad "report"
fi
finish
