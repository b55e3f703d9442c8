#!/usr/bin/env bash
# Builds the extension in place for the repository's own use (tests,
# conformance, examples, benchmarks): build/lib/splicer/core.so, so that
#   ruby -I bindings/ruby/lib -I bindings/ruby/build/lib ...
# finds both layers.  Build output goes to stderr; rebuilds only what changed.
#   SPLICER_WERROR=1 bindings/ruby/build-ext.sh     warnings are errors
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
obj="$here/build/ext"
mkdir -p "$obj" "$here/build/lib/splicer"
cd "$obj"
# reconfigure when extconf.rb changed, or to add -Werror the Makefile lacks
if [ ! -f Makefile ] || [ "$here/ext/splicer/extconf.rb" -nt Makefile ] ||
   { [ "${SPLICER_WERROR:-}" = 1 ] && ! grep -q -- '-Werror' Makefile; }; then
  ruby "$here/ext/splicer/extconf.rb" >&2
fi
make -j2 V="${V:-0}" >&2
cp -p core.so "$here/build/lib/splicer/core.so"
