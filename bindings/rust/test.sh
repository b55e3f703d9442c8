#!/usr/bin/env bash
# The Rust suite: clippy, tests (unit, integration, doc), docs, examples,
# packaging, and a crate outside the repository that depends on splicer by
# path and builds with rustc + cc only.  Ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pass=0 fail=0
check() { # check NAME CMD...: one pass or fail for a command that runs no tests
  if timeout 900 "${@:2}" >"$log" 2>&1; then pass=$((pass + 1)); echo "ok: $1"
  else fail=$((fail + 1)); echo "FAIL: $1"; tail -n 30 "$log"; fi
}
check clippy cargo clippy --workspace --all-targets --all-features -- -D warnings
check fmt cargo fmt --all -- --check
# before the tests: tests/examples.rs runs these binaries (the tokio proxy
# with a few MiB each way, cp with --stats and the mode)
check examples cargo build --examples --all-features -p splicer
# the test counts: every "test result:" line of cargo test
timeout 1200 cargo test --workspace --all-features 2>&1 | tee "$log" | grep -E '^test result:|FAILED|panicked' || true
p=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | paste -sd+ | bc)
f=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | paste -sd+ | bc)
pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0}))
grep -qE '^test result:' "$log" || { fail=$((fail + 1)); tail -n 30 "$log"; }
# the benchmark harness runs (tiny sizes: a smoke test, not a measurement)
check bench-smoke cargo run --quiet -p splicer-bench -- --mib 4 --reps 1
check percall-smoke cargo run --quiet -p splicer-bench --bin percall -- 1 5
check doc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps
# cargo package --workspace builds each crate against the others through a
# local registry, whose sources cargo extracts, and compiles, once per name
# and version: what an earlier run left (another splicer-sys 0.1.0) would be
# used instead of this one, so both go
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/splicer-sys-*
pkg_target=$(mktemp -d)
check package cargo package --workspace --exclude splicer-conformance --exclude splicer-bench --exclude splicer-regen --allow-dirty --target-dir "$pkg_target"
rm -rf "$pkg_target"
# outside the repository: a path dependency, no libclang (bindings are checked in)
out=$(mktemp -d)
mkdir -p "$out/src"
cat >"$out/Cargo.toml" <<TOML
[package]
name = "outside"
version = "0.1.0"
edition = "2021"
[dependencies]
splicer = { path = "$here/splicer" }
[workspace]
TOML
cat >"$out/src/main.rs" <<'RS'
fn main() -> std::io::Result<()> {
    let zero = std::fs::File::open("/dev/zero")?;
    let null = std::fs::File::create("/dev/null")?;
    assert_eq!(splicer::copy_n(&zero, &null, 1 << 20)?, 1 << 20);
    println!("outside crate: splicer {}", splicer::version());
    Ok(())
}
RS
check outside-crate env CARGO_TARGET_DIR="$here/target/outside" LIBCLANG_PATH=/nonexistent cargo run --quiet --manifest-path "$out/Cargo.toml"
rm -rf "$out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
