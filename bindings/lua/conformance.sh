#!/usr/bin/env bash
# The Lua conformance runner over tests/cases (run from the repository root):
# builds the module and the fixtures helper, then runs every case through the
# idiomatic API and prints the lines of tests/README.md §1, ending with
# "N passed, N failed, N skipped".
#   bindings/lua/conformance.sh [-k TEXT] [-v] [DIR_OR_FILE...]
# SPLICER_LUA=luajit (or lua5.1) runs it under another interpreter.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/bindings/lua"
L=${SPLICER_LUA:-lua5.4}
make -s -C "$here" "$L" "testfx-$L" >&2 || { echo "build failed" >&2; exit 2; }
args=()
have_path=0
for a in "$@"; do
  case "$a" in -k|-v) ;; *) [ "${prev:-}" = "-k" ] || have_path=1 ;; esac
  args+=("$a"); prev=$a
done
[ $have_path = 1 ] || args+=("$root/tests/cases")
export LUA_CPATH="$here/build/$L/?.so;;" LUA_PATH="$here/?.lua;$here/conformance/?.lua;;"
exec timeout 900 "$L" "$here/conformance/run.lua" "${args[@]}"
