#!/usr/bin/env bash
# Build the libFuzzer target over the public API and run it.
#   fuzz/run.sh [SECONDS]     default 60 (what CI runs)
# New inputs go to build-fuzz/corpus (fuzz/corpus holds the seeds and is
# only read); crashes land in build-fuzz/ as crash-*.  Ends with one line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build-fuzz
cc=${CLANG:-clang}
mkdir -p "$out/corpus"
if ! command -v "$cc" >/dev/null; then
  echo "SKIP: $cc not found"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
       -Icore/include -Icore/src)
if ! "$cc" "${flags[@]}" core/src/*.c fuzz/fuzz_session.c -o "$out/fuzz_session"; then
  echo "fuzz: build failed"; echo "0 passed, 1 failed"; exit 1
fi
log=$out/fuzz.log
t0=$(date +%s)
# -timeout: one input never takes a second; -rss_limit_mb: far above need
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
timeout $((secs + 120)) "$out/fuzz_session" -max_total_time="$secs" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
  "$out/corpus" fuzz/corpus >"$log" 2>&1
rc=$?
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
corpus=$(ls "$out/corpus" | wc -l)
echo "RESULT fuzz seconds=$secs wall=$(( $(date +%s) - t0 )) execs=${execs:-0} cov=${cov:-0} corpus=$corpus rc=$rc"
if [ $rc -ne 0 ]; then
  tail -60 "$log"
  echo "fuzz: FAILED (exit $rc); reproduce: $out/fuzz_session $out/crash-*"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
