#!/usr/bin/env bash
# Builds and runs the C examples; ends with "N passed, N failed".
# (Go, Rust and Lua examples are built and run by their bindings' suites.)
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
scripts/build >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
P=0 F=0
ok() { echo "ok   $1"; P=$((P + 1)); }
bad() { echo "FAIL $1"; F=$((F + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; kill $(jobs -p) 2>/dev/null' EXIT

# copy_progress: bytes identical, statistics printed
head -c 3000000 /dev/urandom > "$tmp/src"
if timeout 30 "$dir/examples/c/copy_progress" "$tmp/src" "$tmp/dst" > "$tmp/out" 2>/dev/null &&
   cmp -s "$tmp/src" "$tmp/dst" && grep -q '^bytes 3000000 ' "$tmp/out"; then
  ok "copy_progress copies a file and reports its statistics"
else
  bad "copy_progress"
fi
if timeout 10 "$dir/examples/c/copy_progress" "$tmp/missing" "$tmp/x" 2>/dev/null; then
  bad "copy_progress on a missing file must fail"
else
  ok "copy_progress fails on a missing file"
fi

# event_proxy: two clients, each pushing 5 MiB through the proxy to an echo
# upstream and reading it all back
python3 - "$tmp" <<'PY' &
import socket, sys, threading
tmp = sys.argv[1]
up = socket.socket(); up.bind(("127.0.0.1", 0)); up.listen(4)
open(tmp + "/upstream_port", "w").write(str(up.getsockname()[1]))
def echo(c):
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR); c.close()
for _ in range(2):
    c, _ = up.accept()
    threading.Thread(target=echo, args=(c,)).start()
PY
for _ in $(seq 50); do [ -s "$tmp/upstream_port" ] && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EVENT_PROXY_CONNS=2 timeout 60 "$dir/examples/c/event_proxy" "$port" "$(cat "$tmp/upstream_port")" >"$tmp/proxy.out" &
proxy=$!
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null && break; sleep 0.1; done
# that probe used one of the two connections; one real client follows
if timeout 60 python3 - "$port" <<'PY'
import hashlib, os, socket, sys, threading
data = os.urandom(5 << 20)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = bytearray()
def reader():
    while True:
        b = s.recv(1 << 16)
        if not b: break
        got.extend(b)
t = threading.Thread(target=reader); t.start()
s.sendall(data); s.shutdown(socket.SHUT_WR); t.join()
sys.exit(0 if hashlib.sha256(got).digest() == hashlib.sha256(data).digest() else 1)
PY
then ok "event_proxy relays 5 MiB both ways intact"; else bad "event_proxy relay"; fi
if timeout 20 bash -c "wait $proxy" 2>/dev/null || wait $proxy; then
  ok "event_proxy exits cleanly after its connections"
else
  bad "event_proxy exit"
fi

# event_proxy past the old 64-connection cap, with and without the pool:
# 100 clients at once, each pushing 256 KiB through the proxy to an echo
# upstream and reading it all back; the proxy stops after its budget and
# reports every connection served, none failed, none left open
python3 - "$tmp/echo_port" <<'PY' &
import socket, sys, threading
up = socket.socket(); up.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
up.bind(("127.0.0.1", 0)); up.listen(256)
open(sys.argv[1], "w").write(str(up.getsockname()[1]))
def echo(c):
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR); c.close()
while True:
    c, _ = up.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
PY
for _ in $(seq 50); do [ -s "$tmp/echo_port" ] && break; sleep 0.1; done
cat > "$tmp/clients.py" <<'PY'
import hashlib, os, socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
bad = []
def client(i):
    data = os.urandom(256 << 10)
    s = socket.create_connection(("127.0.0.1", port))
    got = bytearray()
    def reader():
        while True:
            b = s.recv(1 << 16)
            if not b: break
            got.extend(b)
    t = threading.Thread(target=reader); t.start()
    s.sendall(data); s.shutdown(socket.SHUT_WR); t.join(); s.close()
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        bad.append(i)
ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
sys.exit(1 if bad else 0)
PY
# the proxy's first line names its port (LISTEN_PORT 0)
listen_port() {
  for _ in $(seq 50); do
    p=$(sed -n 's/^event_proxy: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$1")
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
}
for pool in 1 0; do
  EVENT_PROXY_POOL=$pool EVENT_PROXY_CONNS=100 timeout 60 "$dir/examples/c/event_proxy" 0 \
    "$(cat "$tmp/echo_port")" >"$tmp/proxy$pool.out" 2>"$tmp/proxy$pool.err" &
  proxy=$!
  port=$(listen_port "$tmp/proxy$pool.out")
  if [ -n "$port" ] && timeout 60 python3 "$tmp/clients.py" "$port" 100 && wait $proxy &&
     grep -q '^event_proxy: served 100, failed 0, errors 0, open 0$' "$tmp/proxy$pool.out" &&
     grep -q " in_use=0 .*sessions_pooled=$pool\$" "$tmp/proxy$pool.out"; then
    ok "event_proxy (EVENT_PROXY_POOL=$pool) relays 100 connections at once intact"
  else
    bad "event_proxy (EVENT_PROXY_POOL=$pool) with 100 connections"
  fi
done
if grep -q ' borrowed=0 ' "$tmp/proxy1.out"; then
  bad "event_proxy with the pool borrowed no pipe"
elif grep -q ' borrowed=0 ' "$tmp/proxy0.out"; then
  ok "event_proxy borrows pool pipes by default and none with EVENT_PROXY_POOL=0"
else
  bad "event_proxy with EVENT_PROXY_POOL=0 borrowed pool pipes"
fi

# SIGUSR1 prints the counts and goes on; SIGTERM prints them and ends it
# (no timeout(1) in between: the signals are for the proxy itself; the
# EXIT trap ends it if it hangs)
"$dir/examples/c/event_proxy" 0 "$(cat "$tmp/echo_port")" >"$tmp/sig.out" 2>&1 &
proxy=$!
port=$(listen_port "$tmp/sig.out")
kill -USR1 $proxy 2>/dev/null
for _ in $(seq 50); do grep -q '^pool ' "$tmp/sig.out" && break; sleep 0.1; done
if [ -n "$port" ] && grep -q '^event_proxy: served 0, failed 0, errors 0, open 0$' "$tmp/sig.out" &&
   kill -0 $proxy 2>/dev/null; then
  ok "event_proxy prints its statistics on SIGUSR1 and keeps serving"
else
  bad "event_proxy on SIGUSR1"
fi
kill -TERM $proxy 2>/dev/null
if timeout 10 tail --pid=$proxy -f /dev/null && wait $proxy && [ "$(grep -c '^pool ' "$tmp/sig.out")" = 2 ]; then
  ok "event_proxy prints its statistics and exits 0 on SIGTERM"
else
  bad "event_proxy on SIGTERM"
fi

# bad input: a clear error, exit status 2
if timeout 10 env EVENT_PROXY_POOL=2 "$dir/examples/c/event_proxy" 0 1 2>"$tmp/err"; [ $? = 2 ] &&
   grep -q 'EVENT_PROXY_POOL must be 0 or 1' "$tmp/err"; then
  ok "event_proxy refuses EVENT_PROXY_POOL other than 0 or 1"
else
  bad "event_proxy with EVENT_PROXY_POOL=2"
fi
if timeout 10 "$dir/examples/c/event_proxy" 1 2>"$tmp/err"; [ $? = 2 ] && grep -q '^usage:' "$tmp/err"; then
  ok "event_proxy without its two ports prints its usage"
else
  bad "event_proxy usage"
fi
echo "$P passed, $F failed"
[ $F -eq 0 ]
