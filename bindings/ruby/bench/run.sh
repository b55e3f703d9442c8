#!/usr/bin/env bash
# The Ruby binding's benchmarks (run from anywhere):
#   bindings/ruby/bench/run.sh [RUNS]              both parts, RUNS runs each (default 3)
#   bindings/ruby/bench/run.sh RUNS overhead|throughput|kept
# 1. overhead against C: a page-cached 64 MiB file to /dev/null at chunks of
#    4 KiB, 64 KiB and 1 MiB, by raw sendfile calls, by session steps, by
#    steps of the generated layer alone (Splicer::Core.step), and by whole
#    copies (the steps in C); the same loops in C (overhead_c.c).  Each pinned to one CPU, interleaved, RUNS times; the
#    least CPU time of the runs per call (the least disturbed by the other
#    load on a shared machine), and the overhead of Ruby over C.
# 2. throughput.rb: GB per CPU-second against IO.copy_stream and a
#    read/write loop for each pair (see its head);
# 3. kept.rb: 4 KiB copies on kept descriptors against the same ones not
#    kept, pinned, best of RUNS interleaved.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ruby_dir=$(dirname "$here")
root=$(cd "$ruby_dir/../.." && pwd)
runs=${1:-3}
part=${2:-all}
"$ruby_dir/build-ext.sh" >/dev/null 2>&1
rb=(ruby -I"$ruby_dir/lib" -I"$ruby_dir/build/lib")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pin=""
command -v taskset >/dev/null && pin="taskset -c $(( $(nproc) - 1 ))"

if [ "$part" = all ] || [ "$part" = overhead ]; then
  cc -O2 -D_GNU_SOURCE -I"$root/core/include" -I"$root/core/src" -o "$tmp/overhead_c" \
    "$here/overhead_c.c" "$root"/core/src/*.c -lpthread
  head -c $((64 << 20)) /dev/urandom >"$tmp/data"
  cat "$tmp/data" >/dev/null
  best() { sort -g | head -n 1; }
  echo "overhead against C: CPU per call, best of $runs (Ruby $(ruby -e 'print RUBY_VERSION'), $(uname -r))"
  printf '%-9s %-8s %8s %12s %12s %9s\n' mode chunk calls "C ns/call" "Ruby ns/call" "over C"
  for mode in sendfile step core-step copy; do
    for chunk in 4096 65536 1048576; do
      case $chunk in 4096) calls=300000 ;; 65536) calls=100000 ;; *) calls=10000 ;; esac
      cmode=$mode; [ "$mode" = core-step ] && cmode=step
      : >"$tmp/c"; : >"$tmp/r"
      for _ in $(seq "$runs"); do
        $pin "$tmp/overhead_c" "$cmode" "$tmp/data" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/c"
        $pin "${rb[@]}" "$here/overhead.rb" "$mode" "$tmp/data" "$chunk" "$calls" | cut -d' ' -f1 >>"$tmp/r"
      done
      c=$(best <"$tmp/c"); r=$(best <"$tmp/r")
      awk -v m="$mode" -v ch="$chunk" -v n="$calls" -v c="$c" -v r="$r" 'BEGIN {
        printf "%-9s %-8s %8d %12.0f %12.0f %8.1f%%\n", m, ch, n, c / n * 1e9, r / n * 1e9, (r - c) / c * 100 }'
    done
  done
  echo
fi

if [ "$part" = all ] || [ "$part" = throughput ]; then
  "${rb[@]}" "$here/throughput.rb" "$runs" 256
fi

if [ "$part" = all ] || [ "$part" = kept ]; then
  echo "4 KiB copies, descriptors kept or not (best of $runs, ns per copy)"
  printf '%-6s %10s %10s\n' pair "not kept" kept
  for pair in file unix; do
    : >"$tmp/no"; : >"$tmp/yes"
    for _ in $(seq "$runs"); do
      for keep in no yes; do
        $pin "${rb[@]}" "$here/kept.rb" "$pair" "$keep" 40000 | cut -d' ' -f1 >>"$tmp/$keep"
      done
    done
    printf '%-6s %10s %10s\n' "$pair" "$(sort -g "$tmp/no" | head -n 1)" "$(sort -g "$tmp/yes" | head -n 1)"
  done
fi
