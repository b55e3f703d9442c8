#!/usr/bin/env bash
# The Lua binding's overhead against C (run from anywhere):
#   bindings/lua/bench/run.sh [RUNS]
# For chunks of 4 KiB, 64 KiB and 1 MiB, moves a page-cached file to
# /dev/null with raw sendfile calls and with session steps, in C and in Lua
# 5.4 and LuaJIT, RUNS times each (default 5, interleaved); prints the best (least)
# CPU time per call (the least is the least disturbed by other load) and the overhead of each interpreter over C.  File ->
# /dev/null is the cheapest transfer there is, so the per-call cost of the
# binding shows at its largest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lua_dir=$(dirname "$here")
runs=${1:-5}
# one CPU for every run, so that migrations do not blur the comparison
pin=""
command -v taskset >/dev/null && pin="taskset -c $(( $(nproc) - 1 ))"
make -s -C "$lua_dir" lua5.4 luajit testfx-lua5.4 testfx-luajit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -D_GNU_SOURCE -I"$lua_dir/vendor/include" -I"$lua_dir/vendor/src" \
  -o "$tmp/bench_c" "$here/bench_c.c" "$lua_dir"/vendor/src/*.c
file="$tmp/data"
head -c $((64 << 20)) /dev/urandom >"$file"
cat "$file" >/dev/null   # into the page cache

run_lua() { # interp mode chunk calls
  LUA_CPATH="$lua_dir/build/$1/?.so;;" LUA_PATH="$lua_dir/?.lua;;" $pin "$1" "$here/bench.lua" "$2" "$file" "$3" "$4"
}
best() { sort -g | head -n 1; }

printf '%-8s %-9s %8s %12s %12s %12s %9s %9s\n' mode chunk calls "C ns/call" "5.4 ns/call" "JIT ns/call" "5.4 over" "JIT over"
for mode in sendfile step; do
  for chunk in 4096 65536 1048576; do
    case $chunk in 4096) calls=1000000 ;; 65536) calls=300000 ;; *) calls=30000 ;; esac
    : >"$tmp/c"; : >"$tmp/l"; : >"$tmp/j"
    for _ in $(seq "$runs"); do
      $pin "$tmp/bench_c" "$mode" "$file" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/c"
      run_lua lua5.4 "$mode" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/l"
      run_lua luajit "$mode" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/j"
    done
    c=$(best <"$tmp/c"); l=$(best <"$tmp/l"); j=$(best <"$tmp/j")
    awk -v m="$mode" -v ch="$chunk" -v n="$calls" -v c="$c" -v l="$l" -v j="$j" 'BEGIN {
      printf "%-8s %-9s %8d %12.0f %12.0f %12.0f %8.1f%% %8.1f%%\n", m, ch, n,
        c / n * 1e9, l / n * 1e9, j / n * 1e9, (l - c) / c * 100, (j - c) / c * 100 }'
  done
done
