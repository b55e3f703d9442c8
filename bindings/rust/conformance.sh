#!/usr/bin/env bash
# Runs tests/cases through the Rust runner; prints the C runner's line format.
# Run from the repository root: bindings/rust/conformance.sh [CASES...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/bindings/rust"
cargo build --quiet --release -p splicer-conformance
cd "$root"
if [ $# -eq 0 ]; then set -- tests/cases; fi
exec timeout 600 bindings/rust/target/release/splicer-conformance "$@"
