#!/usr/bin/env bash
# The Go conformance runner over the shared cases (tests/README.md).
# Run from the repository root: bindings/go/conformance.sh [CASES...]
# (default tests/cases).  Prints one line per case and the summary.
set -euo pipefail
root=$(pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then set -- tests/cases; fi
args=()
for a in "$@"; do
  case $a in /*) args+=("$a") ;; *) args+=("$root/$a") ;; esac
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/conformance" ./internal/conformance) >&2
"$bin/conformance" "${args[@]}"
