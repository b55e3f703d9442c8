#!/usr/bin/env bash
# Builds splicer/_core<EXT_SUFFIX> next to the package sources for one
# interpreter, without pip or setuptools, so that tests and the conformance
# runner import the package from this directory:
#   bindings/python/build-inplace.sh [PYTHON]        (default python3)
# Warnings are errors, as for the rest of the project's C; the generated
# wrapper is exempt from the two SWIG's own code trips.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${1:-python3}
cd "$here"
read -r inc suffix < <("$py" -c 'import sysconfig as s; print(s.get_paths()["include"], s.get_config_var("EXT_SUFFIX"))')
out=splicer/_core$suffix
srcs=(splicer_wrap.c core/src/*.c)
newest=$(ls -t "${srcs[@]}" core/include/splicer.h core/src/*.h 2>/dev/null | head -n 1)
if [ -f "$out" ] && [ "$out" -nt "$newest" ]; then exit 0; fi
${CC:-cc} ${CFLAGS:--O2 -g} -std=gnu11 -fPIC -shared -fvisibility=hidden -D_GNU_SOURCE \
  -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
  -Icore/include -Icore/src -I"$inc" -o "$out.tmp" "${srcs[@]}"
mv "$out.tmp" "$out"
