#!/usr/bin/env bash
# The hardening suite with CI parameters: differential random test, faults,
# soak, security checks, regression tests of bugs found, and the libFuzzer
# target.  Built with ASan+UBSan.  Ends with "N passed, N failed, N skipped".
#   tests/hardening/run.sh            run everything
#   tests/hardening/run.sh --report   ... and write docs/RELIABILITY.md
# Parameters: SPLICER_DIFF_RUNS (10000), SPLICER_SOAK_SECONDS (60),
# SPLICER_FUZZ_SECONDS (60), BUILD_DIR (build-asan: used when the main build
# includes tests/hardening, else build-hardening-asan is configured here).
set -uo pipefail
cd "$(dirname "$0")/../.."
report=0
[ "${1:-}" = "--report" ] && report=1
export SPLICER_DIFF_RUNS=${SPLICER_DIFF_RUNS:-10000}
export SPLICER_SOAK_SECONDS=${SPLICER_SOAK_SECONDS:-60}
fuzz_secs=${SPLICER_FUZZ_SECONDS:-60}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# build NAME_OF_MAIN_DIR FALLBACK_DIR [cmake args]: prints where the
# programs are.  The main build dir is used when it includes
# tests/hardening; otherwise tests/hardening is configured on its own.
build() {
  local main=$1 own=$2; shift 2
  if [ -f "$main/CMakeCache.txt" ] && grep -qs 'tests/hardening' "$main/build.ninja" "$main/CMakeFiles/Makefile.cmake"; then
    cmake --build "$main" >/dev/null 2>&1 || { cmake --build "$main" >&2; return 1; }
    echo "$main/tests/hardening"
  else
    local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    [ -f "$own/CMakeCache.txt" ] || cmake -S tests/hardening -B "$own" "${gen[@]}" "$@" >/dev/null || return 1
    cmake --build "$own" >/dev/null 2>&1 || { cmake --build "$own" >&2; return 1; }
    echo "$own"
  fi
}
# ASan+UBSan for everything; a plain build for the soak's RSS check (ASan's
# quarantine keeps freed memory resident)
bin=$(build "${BUILD_DIR:-build-asan}" build-hardening-asan -DSPLICER_SANITIZE=ON) &&
plain=$(build build build-hardening) ||
  { echo "build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

P=0 F=0 S=0
rows=""     # name|outcome|seconds|RESULT fields
t_all=$(date +%s)
run() { # run NAME LIMIT COMMAND...
  local name=$1 limit=$2; shift 2
  local log t0 rc outcome res
  log=$(mktemp)
  t0=$(date +%s.%N)
  timeout "$limit" "$@" >"$log" 2>&1
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
    0) outcome=pass; P=$((P + 1)) ;;
    77) outcome=skip; S=$((S + 1)) ;;
    124) outcome="FAIL (timeout ${limit}s)"; F=$((F + 1)) ;;
    *) outcome="FAIL (exit $rc)"; F=$((F + 1)) ;;
  esac
  res=$(grep -h '^RESULT ' "$log" | tail -1 | cut -d' ' -f3-)
  local why=""
  [ "$outcome" = skip ] && why=$(grep -h '^SKIP' "$log" | tail -1)
  printf '%-28s %-22s %6ss  %s\n' "$name" "$outcome" "$secs" "${res:-$why}"
  if [ "$outcome" != pass ] && [ "$outcome" != skip ]; then tail -25 "$log" | sed 's/^/    | /'; fi
  rows+="$name|$outcome|$secs|${res:-$why}"$'\n'
  rm -f "$log"
}

run differential 900 "$bin/differential"
run security 300 "$bin/security"
for t in fault_eintr fault_eagain fault_enospc fault_pipe_pages fault_reset fault_truncate; do
  run "$t" 300 "$bin/$t"
done
for src in tests/hardening/regress_*.c; do
  [ -f "$src" ] || continue
  t=$(basename "$src" .c)
  run "$t" 60 "$bin/$t"
done
run pool_threads $((SPLICER_SOAK_SECONDS + 120)) env SPLICER_SOAK_SECONDS=$((SPLICER_SOAK_SECONDS / 2)) "$bin/pool_threads"
run soak $((SPLICER_SOAK_SECONDS * 3 + 120)) "$plain/soak"
run soak-asan 300 env SPLICER_SOAK_SECONDS=10 "$bin/soak"
run fuzz $((fuzz_secs + 600)) fuzz/run.sh "$fuzz_secs"

total=$(( $(date +%s) - t_all ))
echo "hardening: ${total}s"
if [ $report -eq 1 ]; then
  tests/hardening/report.sh "$rows" "$total" >docs/RELIABILITY.md
  echo "wrote docs/RELIABILITY.md"
fi
echo "$P passed, $F failed, $S skipped"
[ $F -eq 0 ]
