#!/usr/bin/env bash
# The Python conformance runner over tests/cases (run from the repository
# root by tests/conformance.sh): builds the extension in place for the
# interpreter, then runs every case through the idiomatic API and prints the
# lines of tests/README.md section 1, ending with "N passed, N failed, N skipped".
#   bindings/python/conformance.sh [-k TEXT] [-v] [DIR_OR_FILE...]
# SPLICER_PYTHON selects the interpreter (default python3).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/bindings/python"
py=${SPLICER_PYTHON:-python3}
"$here/build-inplace.sh" "$py" >&2 || { echo "build failed" >&2; exit 2; }
args=()
have_path=0
prev=""
for a in "$@"; do
  case "$a" in -k|-v) ;; *) [ "$prev" = "-k" ] || have_path=1 ;; esac
  args+=("$a"); prev=$a
done
[ $have_path = 1 ] || args+=("$root/tests/cases")
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 900 "$py" "$here/conformance/run.py" "${args[@]}"
