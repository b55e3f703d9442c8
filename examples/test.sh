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
EVENT_PROXY_CONNS=2 timeout 60 "$dir/examples/c/event_proxy" "$port" "$(cat "$tmp/upstream_port")" &
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
echo "$P passed, $F failed"
[ $F -eq 0 ]
