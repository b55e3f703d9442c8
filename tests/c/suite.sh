#!/usr/bin/env bash
# The C unit tests through ctest, summarised as "N passed, N failed, N skipped".
#   BUILD_DIR=build-asan tests/c/suite.sh      a sanitizer build (see .ci/run)
#   SPLICER_VALGRIND=1 tests/c/suite.sh        every test under valgrind memcheck
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=${BUILD_DIR:-build}
[ -f "$dir/CMakeCache.txt" ] || scripts/build >/dev/null
cmake --build "$dir" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
if [ -n "${SPLICER_VALGRIND:-}" ]; then
  # every test program under memcheck: any error or definite/indirect leak
  # fails it (exit 99); skips (77) stay skips
  P=0 F=0 S=0
  for t in "$dir"/tests/c/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$(timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
          "$t" 2>&1)
    rc=$?
    case $rc in
      0) P=$((P + 1)); echo "valgrind $name: ok" ;;
      77) S=$((S + 1)); echo "valgrind $name: skipped" ;;
      *) F=$((F + 1)); echo "valgrind $name: FAILED (exit $rc)"; echo "$out" | tail -40 ;;
    esac
  done
  echo "$P passed, $F failed, $S skipped"
  [ $F -eq 0 ]
  exit
fi
args=(--test-dir "$dir/tests/c" --output-on-failure -j2)
log=$(mktemp)
ctest "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
total=$(grep -oE 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
failed=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' | tail -1)
skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$log")
rm -f "$log"
total=${total:-0} failed=${failed:-1}
passed=$(( total - failed - skipped ))
[ $passed -lt 0 ] && passed=0
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
