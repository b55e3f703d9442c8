#!/usr/bin/env bash
# The "lua" suite (run from the repository root by scripts/test): builds the
# module for Lua 5.4 and LuaJIT (and 5.1/5.3 when their headers are here),
# runs the unit specs and the examples on each, and ends with one line
# "N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
P=0 F=0 S=0

interps="lua5.4 luajit"
for extra in lua5.1 lua5.3; do
  command -v "$extra" >/dev/null && pkg-config --exists "$extra" 2>/dev/null && interps+=" $extra"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for L in $interps; do
  echo "--- $L"
  if ! command -v "$L" >/dev/null; then
    echo "FAIL  $L is not installed"; F=$((F + 1)); continue
  fi
  if ! make -s "$L" "testfx-$L" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log"; echo "FAIL  build for $L"; F=$((F + 1)); continue
  fi
  export LUA_CPATH="$here/build/$L/?.so;;" LUA_PATH="$here/?.lua;;"

  timeout 120 "$L" spec/run.lua spec/*_spec.lua >"$tmp/spec.log" 2>&1
  rc=$?
  cat "$tmp/spec.log"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/spec.log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL  specs on $L did not finish (exit $rc)"; F=$((F + 1))
  else
    read -r p _ f _ s _ <<<"${line//,/}"
    P=$((P + p)) F=$((F + f)) S=$((S + ${s:-0}))
  fi

  # examples: cat.lua and tee.lua against the system's cat and what went in
  head -c 1000000 /dev/urandom >"$tmp/in"
  printf 'second file\n' >"$tmp/in2"
  if timeout 30 "$L" examples/cat.lua "$tmp/in" "$tmp/in2" >"$tmp/out" &&
     cat "$tmp/in" "$tmp/in2" | cmp -s - "$tmp/out" &&
     timeout 30 "$L" examples/cat.lua <"$tmp/in2" | cmp -s - "$tmp/in2"; then
    echo "ok    $L examples/cat.lua"; P=$((P + 1))
  else
    echo "FAIL  $L examples/cat.lua"; F=$((F + 1))
  fi
  rm -f "$tmp/t1" "$tmp/t2"
  if cat "$tmp/in" | timeout 30 "$L" examples/tee.lua "$tmp/t1" "$tmp/t2" 2>/dev/null >"$tmp/out" &&
     cmp -s "$tmp/out" "$tmp/in" && cmp -s "$tmp/t1" "$tmp/in" && cmp -s "$tmp/t2" "$tmp/in"; then
    echo "ok    $L examples/tee.lua"; P=$((P + 1))
  else
    echo "FAIL  $L examples/tee.lua"; F=$((F + 1))
  fi
done

# the rock: its source list is vendor/src/*.c, and `luarocks make` builds and
# installs a module that loads (into a private tree, never the system's)
listed=$(grep -oE '"vendor/src/[^"]+\.c"' splicer-scm-1.rockspec | tr -d '"' | sort)
actual=$(ls vendor/src/*.c | sort)
if [ "$listed" = "$actual" ]; then
  echo "ok    rockspec lists vendor/src/*.c"; P=$((P + 1))
else
  echo "FAIL  rockspec sources differ from vendor/src/*.c"; F=$((F + 1))
fi
# `luarocks make` for 5.4, and for LuaJIT as a 5.1 rock built against its
# headers; each must give a module that loads
rock() { # label lua-version interpreter tree-lua-dir [luarocks variables...]
  local label=$1 ver=$2 interp=$3 luadir=$4; shift 4
  local rockdir="$tmp/rock-$label"
  if (cd "$tmp/src" && timeout 300 luarocks --lua-version="$ver" make --tree="$rockdir" splicer-scm-1.rockspec "$@") >"$tmp/rock.log" 2>&1 &&
     LUA_PATH="$rockdir/share/lua/$luadir/?.lua" LUA_CPATH="$rockdir/lib/lua/$luadir/?.so" \
       "$interp" -e 'local s = require "splicer"; assert(s.session()):close()'; then
    echo "ok    luarocks make + require \"splicer\" ($label)"; P=$((P + 1))
  else
    tail -n 20 "$tmp/rock.log"; echo "FAIL  luarocks make ($label)"; F=$((F + 1))
  fi
}
if command -v luarocks >/dev/null; then
  mkdir -p "$tmp/src"
  cp -r splicer-scm-1.rockspec splicer.lua splicer_wrap.c vendor examples "$tmp/src/"
  rock lua5.4 5.4 lua5.4 5.4
  if command -v luajit >/dev/null && [ -f /usr/include/luajit-2.1/lua.h ]; then
    rock luajit 5.1 luajit 5.1 LUA_INCDIR=/usr/include/luajit-2.1
  fi
fi

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
