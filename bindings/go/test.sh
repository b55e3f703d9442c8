#!/usr/bin/env bash
# The Go suite, run from the repository root by scripts/test:
#   vendored core fresh, go vet, gofmt, go test -race, examples build,
#   the splicer_system build tag against a libsplicer installed from this
#   tree, the module used from outside the repository with only Go and a C
#   compiler, and a last line "N passed, N failed".
set -uo pipefail
root=$(pwd)
here=$(cd "$(dirname "$0")" && pwd)
P=0 F=0
ok() { echo "ok   $1"; P=$((P + 1)); }
bad() { echo "FAIL $1"; F=$((F + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x "$root/scripts/sync" ] && { "$root/scripts/sync" --check >/dev/null 2>&1 && ok "vendored core is fresh" || bad "vendored core is stale (run scripts/sync)"; }

cd "$here"
go vet ./... && ok "go vet" || bad "go vet"
unformatted=$(gofmt -l .)
[ -z "$unformatted" ] && ok "gofmt" || bad "gofmt: $unformatted"
go build ./examples/... && ok "examples build" || bad "examples build"

# go test -race: every test (and example) counts
timeout 900 go test -race -count=1 -json ./... >"$work/test.json" 2>"$work/test.err"
rc=$?
tp=$(grep -c '"Action":"pass","Package":"[^"]*","Test":' "$work/test.json")
tf=$(grep -c '"Action":"fail","Package":"[^"]*","Test":' "$work/test.json")
grep -o '"Action":"fail","Package":"[^"]*","Test":"[^"]*"' "$work/test.json" | sed 's/^/FAIL /'
P=$((P + tp)) F=$((F + tf))
echo "go test -race: $tp passed, $tf failed"
if [ $rc -ne 0 ] && [ "$tf" -eq 0 ]; then
  bad "go test -race exited $rc"; cat "$work/test.err"; grep '"Output"' "$work/test.json" | tail -20
fi

# the splicer_system build tag: install the C library into a temporary
# prefix, link it through pkg-config and run the suite against it;
# TestLinkage checks that libsplicer.so is the one mapped.  The prefix is
# given at configure time too, because splicer.pc records it then.
sys_ok=false
if command -v cmake >/dev/null && command -v pkg-config >/dev/null; then
  if (cd "$root" &&
      cmake -S . -B "$work/sys/build" -DCMAKE_INSTALL_PREFIX="$work/sys/prefix" \
        -DSPLICER_BUILD_TESTS=OFF -DSPLICER_BUILD_CLI=OFF -DSPLICER_BUILD_EXAMPLES=OFF &&
      cmake --build "$work/sys/build" -j2 &&
      cmake --install "$work/sys/build" --prefix "$work/sys/prefix") >"$work/sys.log" 2>&1; then
    libdir=$(dirname "$(ls "$work"/sys/prefix/lib*/pkgconfig/splicer.pc | head -1)")
    libdir=${libdir%/pkgconfig}
    if PKG_CONFIG_PATH="$libdir/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$libdir" \
        timeout 600 go test -tags splicer_system -count=1 -short ./... >>"$work/sys.log" 2>&1 &&
        PKG_CONFIG_PATH="$libdir/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$libdir" \
        go test -tags splicer_system -count=1 -run '^TestLinkage$' -v . >"$work/sys.link" 2>&1 &&
        grep -q '^--- PASS: TestLinkage' "$work/sys.link"; then
      sys_ok=true
    fi
  fi
fi
if $sys_ok; then
  ok "splicer_system build tag: go test against $libdir/libsplicer.so"
else
  bad "splicer_system build tag"; tail -30 "$work/sys.log" 2>/dev/null
fi

# the module alone, outside the repository: copy it, require it by a
# replace directive, build and run a program with it
mkdir -p "$work/mod" "$work/app"
cp -r "$here/." "$work/mod/"
cat >"$work/app/go.mod" <<EOM
module example.com/app

go 1.24

require splicer.dev/splicer v0.0.0

replace splicer.dev/splicer => ../mod
EOM
cat >"$work/app/main.go" <<'EOM'
package main

import (
	"fmt"
	"os"
	"strings"

	"splicer.dev/splicer"
)

func main() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go func() { w.WriteString(strings.Repeat("z", 1<<20)); w.Close() }()
	f, err := os.CreateTemp("", "splicer-app")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	n, err := splicer.Copy(f, r)
	fmt.Println(splicer.Version(), n, err)
}
EOM
if (cd "$work/app" && GOFLAGS=-mod=mod GOPROXY=off go build -o app . && ./app) >"$work/app.out" 2>&1 && grep -q ' 1048576 <nil>$' "$work/app.out"; then
  ok "module used from outside the repository ($(cat "$work/app.out"))"
else
  bad "module used from outside the repository"; cat "$work/app.out"
fi

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
