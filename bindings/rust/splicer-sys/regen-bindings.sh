#!/usr/bin/env bash
# regen-bindings.sh [OUTFILE]: regenerate the bindgen output from
# vendor/include/splicer.h (default: src/bindings.rs).  Needs libclang
# (apt-get install libclang-dev); the bindgen version is pinned by the
# workspace's Cargo.lock so that the output is the same on every machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/src/bindings.rs}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$here/.."
cargo run --quiet --locked -p splicer-regen -- "$out"
