#!/usr/bin/env bash
# Tests of the splicer command.  Run from the repository root after
# scripts/build (the binary is build/cli/splicer, or $SPLICER).  Ends with
# one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
S=${SPLICER:-$PWD/build/cli/splicer}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
umask 022
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
check() { # check NAME COMMAND...: passes when the command succeeds
  local name=$1; shift
  if "$@"; then ok "$name"; else no "$name"; fi
}
run() { timeout 60 "$S" "$@"; }

if [ ! -x "$S" ]; then
  echo "no binary at $S (run scripts/build)"
  echo "0 passed, 1 failed"
  exit 1
fi

head -c 3000000 /dev/urandom >"$T/src"
printf 'first\n' >"$T/a"
printf 'second\n' >"$T/b"

# --version, --help, usage errors
out=$(run --version); rc=$?
check "--version prints the version" [ $rc -eq 0 -a -n "$(grep -E '^splicer [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out")" ]
out=$(run --help); rc=$?
check "--help exits 0 and lists the commands" [ $rc -eq 0 -a -n "$(grep -F 'bench' <<<"$out")" ]
check "--help documents exit codes" grep -q 'exit status' <<<"$out"
run frobnicate 2>/dev/null; check "unknown command is a usage error (2)" [ $? -eq 2 ]
run cp "$T/src" 2>/dev/null; check "cp with one operand is a usage error (2)" [ $? -eq 2 ]
run cp --bogus "$T/src" "$T/x" 2>/dev/null; check "cp unknown option is a usage error (2)" [ $? -eq 2 ]

# cp
chmod 640 "$T/src"
run cp "$T/src" "$T/dst"; rc=$?
check "cp copies a file" [ $rc -eq 0 ] && cmp -s "$T/src" "$T/dst" || no "cp content"
check "cp keeps the mode of a new file (640)" [ "$(stat -c %a "$T/dst")" = 640 ]
chmod 600 "$T/src"; touch -d '2001-02-03 04:05:06' "$T/src"
run cp -p "$T/src" "$T/dstp"
check "cp -p keeps mode 600" [ "$(stat -c %a "$T/dstp")" = 600 ]
check "cp -p keeps the mtime" [ "$(stat -c %Y "$T/dstp")" = "$(stat -c %Y "$T/src")" ]
printf x >"$T/existing"; chmod 604 "$T/existing"
run cp "$T/src" "$T/existing"
check "cp over an existing file keeps that file's mode (as cp)" [ "$(stat -c %a "$T/existing")" = 604 ] && cmp -s "$T/src" "$T/existing" || no "cp over existing: content"
mkdir "$T/dir"
run cp "$T/src" "$T/dir"
check "cp into a directory uses the source's name" cmp -s "$T/src" "$T/dir/src"
err=$(run cp "$T/dir" "$T/x" 2>&1); rc=$?
check "cp refuses a directory (exit 1)" [ $rc -eq 1 -a ! -e "$T/x" ]
check "cp directory message names path and EISDIR" grep -q "$T/dir.*EISDIR" <<<"$err"
err=$(run cp "$T/missing" "$T/x" 2>&1); rc=$?
check "cp of a missing file exits 1" [ $rc -eq 1 ]
check "cp missing message names path and ENOENT" grep -q "$T/missing.*ENOENT" <<<"$err"
err=$(run cp "$T/src" "$T/src" 2>&1); rc=$?
check "cp refuses to copy a file onto itself" [ $rc -eq 1 ] && cmp -s "$T/src" "$T/dst" || no "cp onto itself kept the data"
cat "$T/src" | run cp - "$T/fromstdin"
check "cp - reads stdin" cmp -s "$T/src" "$T/fromstdin"
run cp "$T/src" - | cat >"$T/tostdout"
check "cp SRC - writes stdout (a pipe)" cmp -s "$T/src" "$T/tostdout"
run cp "$T/src" - >"$T/tostdoutfile"
check "cp SRC - writes stdout (a file)" cmp -s "$T/src" "$T/tostdoutfile"
err=$(run cp --stats "$T/src" "$T/stats" 2>&1)
check "cp --stats prints syscalls and methods" grep -q 'syscalls' <<<"$err"
err=$(run cp "$T/src" "$T/nodir/x" 2>&1); rc=$?
check "cp to a missing directory: exit 1, ENOENT with the path" [ $rc -eq 1 -a -n "$(grep "$T/nodir/x.*ENOENT" <<<"$err")" ]
if [ -w /dev/full ]; then
  err=$(run cp "$T/src" /dev/full 2>&1); rc=$?
  check "cp to a full device: exit 1, ENOSPC and bytes done" [ $rc -eq 1 -a -n "$(grep 'ENOSPC' <<<"$err" | grep 'after [0-9]* bytes')" ]
fi

# cat
run cat "$T/a" "$T/src" "$T/b" | cat >"$T/catout"
cat "$T/a" "$T/src" "$T/b" >"$T/catref"
check "cat of several files to a pipe equals cat(1)" cmp -s "$T/catout" "$T/catref"
printf 'in\n' | run cat "$T/a" - "$T/b" >"$T/catstdin"
check "cat - reads stdin in place" [ "$(cat "$T/catstdin")" = "$(printf 'first\nin\nsecond')" ]
out=$(run cat "$T/a" "$T/missing" "$T/b" 2>"$T/caterr"); rc=$?
check "cat goes on after a missing file, exit 1" [ $rc -eq 1 -a "$out" = "$(printf 'first\nsecond')" ]
check "cat missing message names path and ENOENT" grep -q "$T/missing.*ENOENT" "$T/caterr"
run cat <"$T/src" >"$T/catnoarg"
check "cat without operands copies stdin" cmp -s "$T/src" "$T/catnoarg"
head -c 20000000 /dev/zero >"$T/big"
timeout 60 bash -c "set -o pipefail; '$S' cat '$T/big' | head -c 10 >/dev/null"; rc=$?
check "cat to a closed pipe ends quietly with 141" [ $rc -eq 141 ]

# tee
run tee "$T/t1" "$T/t2" <"$T/src" | cat >"$T/teeout"
check "tee writes stdout" cmp -s "$T/src" "$T/teeout"
check "tee writes each file" cmp -s "$T/src" "$T/t1" && cmp -s "$T/src" "$T/t2" || no "tee file content"
printf 'old\n' >"$T/ta"; printf 'old\n' >"$T/ra"
printf 'new\n' | run tee -a "$T/ta" >/dev/null
printf 'new\n' | tee -a "$T/ra" >/dev/null
check "tee -a appends like tee(1)" cmp -s "$T/ta" "$T/ra"
printf 'old\n' >"$T/tt"; printf 'old\n' >"$T/rt"
printf 'new\n' | run tee "$T/tt" >/dev/null
printf 'new\n' | tee "$T/rt" >/dev/null
check "tee truncates like tee(1)" cmp -s "$T/tt" "$T/rt"
cat "$T/src" | run tee "$T/tp" | cat >"$T/tpout"
check "tee from a pipe to a pipe and a file" cmp -s "$T/src" "$T/tpout" && cmp -s "$T/src" "$T/tp" || no "tee pipe file"
out=$(printf 'x\n' | run tee "$T/nodir/f" "$T/tok" 2>"$T/teeerr"); rc=$?
printf 'x\n' | tee "$T/nodir/f" "$T/rok" >/dev/null 2>&1; rrc=$?
check "tee with an unopenable file: same status as tee(1), others written" [ $rc -eq $rrc -a "$out" = x ] && cmp -s "$T/tok" "$T/rok" || no "tee unopenable: others"
check "tee error names path and ENOENT" grep -q "$T/nodir/f.*ENOENT" "$T/teeerr"

# bench
out=$(timeout 120 "$S" bench --size 1M --repeat 1 --json "$T/b.json" --svg "$T/b.svg" 2>&1); rc=$?
check "bench --size 1M runs" [ $rc -eq 0 ]
if command -v python3 >/dev/null; then
  check "bench --json writes valid JSON with every pair" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
pairs = {r["pair"] for r in d["results"]}
assert len(pairs) == 8, pairs
assert all(r["ok"] for r in d["results"] if r["kind"] == "splicer" and r["contender"] == "splicer auto")
' "$T/b.json"
else
  check "bench --json writes valid JSON" jq -e '.results | length > 0' "$T/b.json"
fi
check "bench --svg writes an SVG" grep -q '</svg>' "$T/b.svg"
timeout 60 "$S" bench --size 1M --pairs file-null,nope >/dev/null 2>&1
check "bench with an unknown pair is a usage error (2)" [ $? -eq 2 ]

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
