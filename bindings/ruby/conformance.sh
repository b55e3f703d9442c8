#!/usr/bin/env bash
# The Ruby conformance runner over tests/cases (run from the repository
# root): builds the extension, then runs every case through the idiomatic
# API and prints the lines of tests/README.md section 1, ending with
# "N passed, N failed, N skipped".
#   bindings/ruby/conformance.sh [-k TEXT] [-v] [DIR_OR_FILE...]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/bindings/ruby"
"$here/build-ext.sh" >/dev/null 2>&1 || { "$here/build-ext.sh" >&2; echo "build failed" >&2; exit 2; }
args=()
have_path=0
prev=""
for a in "$@"; do
  case "$a" in -k|-v) ;; *) [ "$prev" = "-k" ] || have_path=1 ;; esac
  args+=("$a"); prev=$a
done
[ $have_path = 1 ] || args+=("$root/tests/cases")
exec timeout 900 ruby -w -I"$here/lib" -I"$here/build/lib" "$here/conformance/run.rb" "${args[@]}"
