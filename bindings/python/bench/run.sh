#!/usr/bin/env bash
# The Python binding's benchmark (BENCH.md):
#   bindings/python/bench/run.sh [SIZE_MIB] [RUNS] [PYTHON]
# 1. GB per CPU-second of splicer.copy against shutil.copyfileobj,
#    socket.sendfile, an os.splice loop and a read/write loop on five fd
#    pairs, interleaved run by run (default 256 MiB, 3 runs);
# 2. the per-call overhead against C: Session.step() and raw.sendfile() at
#    4 KiB, 64 KiB and 1 MiB against bindings/lua/bench/bench_c.c (the same
#    loops calling the core), pinned to one CPU, best of RUNS interleaved;
# 3. 4 KiB copies on kept fds against the same fds not kept (bench.py kept),
#    pinned, best of RUNS interleaved.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py_dir=$(dirname "$here")
root=$(cd "$py_dir/../.." && pwd)
size=${1:-256} runs=${2:-3} py=${3:-/usr/bin/python3}
"$py_dir/build-inplace.sh" "$py"
export PYTHONPATH=$py_dir
tmp=$(mktemp -d /var/tmp/splicer-pybench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "# $("$py" -c 'import platform; print(platform.python_implementation(), platform.python_version())'), $(uname -sr), $(nproc) CPUs"
pin=""
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && pin="taskset -c $(($(nproc) - 1))"
echo "## GB per CPU-second ($size MiB per run)"
$pin "$py" "$here/bench.py" pairs "$size" "$runs"

cc -O2 -D_GNU_SOURCE -I"$root/core/include" -I"$root/core/src" -o "$tmp/bench_c" \
  "$root/bindings/lua/bench/bench_c.c" "$root"/core/src/*.c
head -c $((64 << 20)) /dev/urandom >"$tmp/data"
cat "$tmp/data" >/dev/null
best() { sort -g | head -n 1; }
echo "## per-call overhead against C (best of $runs, ns per call)"
printf '%-8s %-8s %8s %10s %10s %9s %10s %s\n' mode chunk calls "C" "Python" "over" "floor" "over without floor"
floor_total=$($pin "$py" "$here/bench.py" floor "$tmp/data" 4096 1000000 | cut -d' ' -f1)
floor=$(awk -v t="$floor_total" 'BEGIN { printf "%.1f", t / 1000000 * 1e9 }')
for mode in step sendfile; do
  for chunk in 4096 65536 1048576; do
    case $chunk in 4096) calls=500000 ;; 65536) calls=150000 ;; *) calls=15000 ;; esac
    : >"$tmp/c"; : >"$tmp/p"
    for _ in $(seq "$runs"); do
      $pin "$tmp/bench_c" "$mode" "$tmp/data" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/c"
      $pin "$py" "$here/bench.py" "$mode" "$tmp/data" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/p"
    done
    c=$(best <"$tmp/c"); p=$(best <"$tmp/p")
    awk -v m="$mode" -v ch="$chunk" -v n="$calls" -v c="$c" -v p="$p" -v fl="$floor" 'BEGIN {
      cn = c / n * 1e9; pn = p / n * 1e9
      printf "%-8s %-8s %8d %10.0f %10.0f %8.1f%% %10.1f %8.1f%%\n", m, ch, n, cn, pn,
        (pn - cn) / cn * 100, fl, (pn - fl - cn) / cn * 100 }'
  done
done

echo "## 4 KiB copies, fds kept or not (best of $runs, ns per copy)"
printf '%-6s %10s %10s\n' pair "not kept" kept
for pair in file unix; do
  : >"$tmp/no"; : >"$tmp/yes"
  for _ in $(seq "$runs"); do
    for keep in no yes; do
      $pin "$py" "$here/bench.py" kept "$pair" "$keep" 40000 | cut -d' ' -f1 >>"$tmp/$keep"
    done
  done
  printf '%-6s %10s %10s\n' "$pair" "$(best <"$tmp/no")" "$(best <"$tmp/yes")"
done
