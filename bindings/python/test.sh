#!/usr/bin/env bash
# The "python" suite (run from the repository root by scripts/test):
#   - builds the extension in place for the Debian python3 and for the newest
#     CPython found under pyenv (a visible SKIP when there is none), each with
#     its own venv holding the pinned tools of requirements-dev.txt;
#   - runs the pytest suite (tests/, examples included) on each;
#   - ruff (lint and format) and mypy --strict, once;
#   - the packaging proof: `python -m build` gives an sdist and a wheel that
#     carry the C core (bindings/python/core is a link to ../../core, not a
#     copy); each installs into a fresh venv in a directory outside the
#     repository, where a smoke test runs; `pip install bindings/python` too.
# Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
P=0 F=0 S=0
ok() { echo "ok    $*"; P=$((P + 1)); }
bad() { echo "FAIL  $*"; F=$((F + 1)); }
skip() { echo "SKIP  $*"; S=$((S + 1)); }
tmp=$(mktemp -d /tmp/splicer-python-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
venvs=$here/build/venvs
mkdir -p "$venvs"
req_sum=$(sha256sum requirements-dev.txt | cut -c1-12)

# venv PYTHON NAME: a venv with the pinned tools, reused while the pins hold
venv() {
  local py=$1 dir=$venvs/$2-$req_sum
  if [ ! -x "$dir/bin/python" ]; then
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2 && "$dir/bin/pip" install -q --disable-pip-version-check \
      -r requirements-dev.txt >&2 || { rm -rf "$dir"; return 1; }
  fi
  echo "$dir"
}

# pytest_on LABEL VENV: the suite against the in-place build
pytest_on() {
  local label=$1 dir=$2 log=$tmp/pytest-$1.log
  PYTHONPATH=$here timeout 600 "$dir/bin/python" -m pytest -q -p no:cacheprovider tests >"$log" 2>&1
  local rc=$?
  tail -n 15 "$log"
  local line p f s
  line=$(grep -E '^=*.*[0-9]+ (passed|failed)' "$log" | tail -n 1)
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  f=0
  for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$line" | grep -oE '[0-9]+'); do f=$((f + n)); done
  s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  if [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then f=$((f + 1)); fi
  echo "pytest on $label: $p passed, $f failed, $s skipped"
  P=$((P + p)) F=$((F + f)) S=$((S + s))
}

# --- interpreters: Debian's python3 and the newest CPython pyenv has
system_py=/usr/bin/python3
[ -x "$system_py" ] || system_py=$(command -v python3)
newest_py=""
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for cand in $(ls -d "$pyenv_root"/versions/3.* 2>/dev/null | sort -V -r); do
  if [ -x "$cand/bin/python3" ] && "$cand/bin/python3" -c 'import sys, sysconfig; sys.exit(not sysconfig.get_paths()["include"])' 2>/dev/null &&
     [ -f "$("$cand/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
    newest_py=$cand/bin/python3
    break
  fi
done
labels=() pys=()
labels+=("system-$("$system_py" -c 'import platform; print(platform.python_version())')") pys+=("$system_py")
if [ -n "$newest_py" ]; then
  v=$("$newest_py" -c 'import platform; print(platform.python_version())')
  if [ "$("$newest_py" -c 'import sys; print(sys.version_info[:2])')" = "$("$system_py" -c 'import sys; print(sys.version_info[:2])')" ]; then
    skip "newest CPython: pyenv's newest ($v) is the system's minor version"
  else
    labels+=("cpython-$v") pys+=("$newest_py")
  fi
else
  skip "newest CPython: no pyenv interpreter with headers under $pyenv_root/versions"
fi

lint_venv=""
for k in "${!pys[@]}"; do
  label=${labels[$k]} py=${pys[$k]}
  echo "--- $label ($py)"
  if ! "$here/build-inplace.sh" "$py" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log"; bad "build for $label (-Wall -Wextra -Werror)"; continue
  fi
  ok "build for $label (-Wall -Wextra -Werror)"
  if ! dir=$(venv "$py" "$label"); then bad "venv for $label (pip from PyPI)"; continue; fi
  [ -z "$lint_venv" ] && lint_venv=$dir
  pytest_on "$label" "$dir"
done

# --- lint and types, once
if [ -n "$lint_venv" ]; then
  if "$lint_venv/bin/ruff" check . && "$lint_venv/bin/ruff" format --check . >/dev/null; then ok "ruff check + format"; else bad "ruff"; fi
  if "$lint_venv/bin/mypy" splicer conformance/run.py examples >"$tmp/mypy.log" 2>&1; then ok "mypy --strict"; else cat "$tmp/mypy.log"; bad "mypy"; fi
fi

# --- packaging: sdist and wheel from `python -m build`, installed outside the repository
smoke() { # VENV: import, a copy, and the module really comes from the venv
  (cd "$tmp" && "$1/bin/python" - <<'PY'
import os, sys, tempfile
import splicer, splicer.aio, splicer.raw
assert "/bindings/python" not in splicer.__file__, splicer.__file__
d = tempfile.mkdtemp()
src, dst = os.path.join(d, "a"), os.path.join(d, "b")
open(src, "wb").write(os.urandom(100000))
with open(src, "rb") as f, open(dst, "wb") as g:
    assert splicer.copy(f, g) == 100000
assert open(src, "rb").read() == open(dst, "rb").read()
print("smoke ok:", splicer.__file__, splicer.version)
PY
  )
}
if [ -n "$lint_venv" ]; then
  rm -rf "$tmp/dist"
  if (cd "$here" && "$lint_venv/bin/python" -m build --outdir "$tmp/dist" . >"$tmp/build-dist.log" 2>&1); then
    ok "python -m build (sdist + wheel)"
    sdist=$(ls "$tmp"/dist/*.tar.gz) wheel=$(ls "$tmp"/dist/*.whl)
    listing=$(tar -tvzf "$sdist")
    if grep -q '/core/src/transfer.c$' <<<"$listing" && grep -q '/core/include/splicer.h$' <<<"$listing" &&
       ! grep -q '^l' <<<"$listing"; then
      ok "sdist carries the core's files (no link)"
    else
      bad "sdist without the core's files"
    fi
    for art in "$sdist" "$wheel"; do
      name=$(basename "$art")
      rm -rf "$tmp/v" && "$system_py" -m venv "$tmp/v" &&
        (cd "$tmp" && "$tmp/v/bin/pip" install -q --disable-pip-version-check "$art") >"$tmp/inst.log" 2>&1 &&
        smoke "$tmp/v" >"$tmp/smoke.log" 2>&1 && ok "install $name into a fresh venv outside the repository: $(tail -n 1 "$tmp/smoke.log")" ||
        { tail -n 20 "$tmp/inst.log" "$tmp/smoke.log" 2>/dev/null; bad "install $name"; }
    done
  else
    tail -n 30 "$tmp/build-dist.log"; bad "python -m build"
  fi
  rm -rf "$tmp/v" && "$system_py" -m venv "$tmp/v" &&
    "$tmp/v/bin/pip" install -q --disable-pip-version-check "$here" >"$tmp/inst.log" 2>&1 &&
    smoke "$tmp/v" >"$tmp/smoke.log" 2>&1 && ok "pip install bindings/python: $(tail -n 1 "$tmp/smoke.log")" ||
    { tail -n 20 "$tmp/inst.log" "$tmp/smoke.log" 2>/dev/null; bad "pip install bindings/python"; }
  rm -rf "$here/build/lib."* "$here/build/bdist."* "$here"/*.egg-info
fi

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
