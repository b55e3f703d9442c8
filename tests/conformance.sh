#!/usr/bin/env bash
# The conformance suite in one command (tests/README.md):
#   1. validate every case file against tests/schema.json (python3 + jsonschema;
#      a warning if that is missing),
#   2. build if needed (scripts/build),
#   3. run the C reference runner and every binding runner present and
#      executable (bindings/{go,rust,lua,python,ruby}/conformance.sh), each given the
#      case paths, from the repository root,
#   4. diff each binding's normalised lines against C's,
#   5. end with "N passed, N failed, N skipped": cases summed over all
#      runners, plus one failure per runner that differs from C, crashed,
#      or printed no summary, and one for invalid case files.
#
#   tests/conformance.sh [CASES...]          default: tests/cases
#   SPLICER_CONFORMANCE_RUNNERS="c go"       only these runners
#   SPLICER_CONFORMANCE_VERBOSE=1            print every line, not only non-PASS
#   BUILD_DIR=build-asan                     use another build (sanitizers)
# Each runner's full output is kept in $BUILD_DIR/conformance/<runner>.out.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
runners=${SPLICER_CONFORMANCE_RUNNERS:-c go rust lua python ruby}
verbose=${SPLICER_CONFORMANCE_VERBOSE:-}
if [ $# -gt 0 ]; then cases=("$@"); else cases=(tests/cases); fi
P=0 F=0 S=0

# --- 1. schema
if python3 -c 'import jsonschema' 2>/dev/null; then
  if ! python3 - "${cases[@]}" <<'EOF'
import glob, json, os, sys
import jsonschema
schema = json.load(open("tests/schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
files = []
for arg in sys.argv[1:]:
    files += sorted(glob.glob(os.path.join(arg, "*.json"))) if os.path.isdir(arg) else [arg]
bad, ids = 0, {}
for path in files:
    try:
        doc = json.load(open(path))
    except ValueError as e:
        print(f"schema: {path}: {e}"); bad += 1; continue
    for err in validator.iter_errors(doc):
        where = "/".join(str(p) for p in err.absolute_path)
        print(f"schema: {path}: {where}: {err.message[:200]}"); bad += 1
    for case in doc.get("cases", []) if isinstance(doc, dict) else []:
        cid = case.get("id") if isinstance(case, dict) else None
        if cid in ids:
            print(f"schema: {path}: duplicate id {cid} (also in {ids[cid]})"); bad += 1
        ids[cid] = path
print(f"schema: {len(files)} files, {len(ids)} cases, {bad} problems")
sys.exit(1 if bad else 0)
EOF
  then
    F=$((F + 1))
  fi
else
  echo "warning: python3 module jsonschema not found: case files not validated against tests/schema.json" >&2
fi

# --- 2. build
if [ -f "$dir/CMakeCache.txt" ]; then
  cmake --build "$dir" >/dev/null 2>&1 || BUILD_DIR=$dir scripts/build >/dev/null
else
  BUILD_DIR=$dir scripts/build >/dev/null
fi
c_runner=$dir/tests/c/splicer-conformance
if [ ! -x "$c_runner" ]; then
  echo "build failed: no $c_runner"
  echo "$P passed, $((F + 1)) failed, $S skipped"
  exit 1
fi

# --- 3. runners
outdir=$dir/conformance
mkdir -p "$outdir"
normalise() {
  grep -E '^[^ ]+ (PASS|FAIL|SKIP)( |$)' "$1" | sed -E 's/^([^ ]+ FAIL).*/\1/'
}
ran=""
for r in $runners; do
  if [ "$r" = c ]; then
    cmd=("$c_runner")
  else
    script=bindings/$r/conformance.sh
    [ -x "$script" ] || continue
    cmd=("$script")
  fi
  out=$outdir/$r.out
  echo "=== runner $r: ${cmd[*]} ${cases[*]}"
  timeout "${SPLICER_CONFORMANCE_TIMEOUT:-600}" "${cmd[@]}" "${cases[@]}" >"$out" 2>"$outdir/$r.err"
  rc=$?
  if [ -n "$verbose" ]; then
    grep -E '^[^ ]+ (PASS|FAIL|SKIP)( |$)' "$out"
  else
    grep -E '^[^ ]+ (FAIL|SKIP)( |$)' "$out"
  fi
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$r: no summary line (exit $rc); stderr:"
    tail -n 20 "$outdir/$r.err"
    F=$((F + 1))
    continue
  fi
  # count the case lines themselves; a summary that disagrees is a runner bug
  p=$(grep -cE '^[^ ]+ PASS$' "$out")
  f=$(grep -cE '^[^ ]+ FAIL( |$)' "$out")
  s=$(grep -cE '^[^ ]+ SKIP ' "$out")
  if [ "$line" != "$p passed, $f failed, $s skipped" ] && [ "$line" != "$p passed, $f failed" -o "$s" -ne 0 ]; then
    echo "$r: summary \"$line\" disagrees with its case lines ($p passed, $f failed, $s skipped)"
    F=$((F + 1))
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$r: exit status $rc with no failed case"
    f=1
  fi
  echo "$r: $p passed, $f failed, $s skipped"
  P=$((P + p)) F=$((F + f)) S=$((S + s))
  normalise "$out" >"$outdir/$r.norm"
  ran+=" $r"
done

# --- 4. every binding prints what C prints
if [[ " $ran " == *" c "* ]]; then
  for r in $ran; do
    [ "$r" = c ] && continue
    if ! diff -u "$outdir/c.norm" "$outdir/$r.norm" >"$outdir/$r.diff"; then
      echo "$r: normalised output differs from c ($(grep -c '^[-+][^-+]' "$outdir/$r.diff") lines):"
      head -n 40 "$outdir/$r.diff"
      F=$((F + 1))
    fi
  done
fi

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
