#!/usr/bin/env bash
# The C unit tests through ctest, summarised as "N passed, N failed, N skipped".
#   BUILD_DIR=build-asan tests/c/suite.sh      a sanitizer build (see .ci/run)
#   SPLICER_VALGRIND=1 tests/c/suite.sh        every test under valgrind memcheck
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=${BUILD_DIR:-build}
[ -f "$dir/CMakeCache.txt" ] || scripts/build >/dev/null
cmake --build "$dir" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
args=(--test-dir "$dir/tests/c" --output-on-failure -j2)
if [ -n "${SPLICER_VALGRIND:-}" ]; then
  # header_* tests run the compiler, not splicer code: leave them out
  args=(--test-dir "$dir/tests/c" --output-on-failure -j2 -E '^header_'
        -T memcheck --overwrite MemoryCheckCommandOptions="--leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite,indirect --trace-children=no")
fi
log=$(mktemp)
ctest "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
total=$(grep -oE 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
failed=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' | tail -1)
skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$log")
if [ -n "${SPLICER_VALGRIND:-}" ]; then
  defects=$(grep -oE 'Memory checking results:|[A-Za-z ]+ - [0-9]+' "$log" | grep -E ' - [0-9]+' | grep -oE '[0-9]+$' | paste -sd+ | bc 2>/dev/null || echo 0)
  [ "${defects:-0}" -gt 0 ] && { echo "valgrind found $defects defects"; failed=$(( ${failed:-0} + 1 )); }
fi
rm -f "$log"
total=${total:-0} failed=${failed:-1}
passed=$(( total - failed - skipped ))
[ $passed -lt 0 ] && passed=0
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
