#!/usr/bin/env bash
# The "ruby" suite (run from the repository root by scripts/test):
#   1. builds the extension with warnings as errors (C: -Wall -Wextra -Werror);
#   2. checks that loading the library under `ruby -w` prints nothing;
#   3. runs the minitest suite under `ruby -w` (sessions, blocking and
#      interrupts, fibers, Ruby's buffers, lifecycle and the pool, io_splice,
#      the examples), failing on any warning from our files;
#   4. builds the gem, installs it into a fresh GEM_HOME in a directory
#      outside the repository, and runs a smoke test there;
# and ends with one line "N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
P=0 F=0 S=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok    $1"; P=$((P + 1)); }
bad() { echo "FAIL  $1"; F=$((F + 1)); }

if SPLICER_WERROR=1 ./build-ext.sh >"$tmp/build.log" 2>&1; then
  ok "extension builds with -Wall -Wextra -Werror"
else
  cat "$tmp/build.log"; bad "extension build"
  echo "$P passed, $F failed, $S skipped"; exit 1
fi
rubyw=(ruby -w -I"$here/lib" -I"$here/build/lib")

if "${rubyw[@]}" -e 'require "splicer"; require "splicer/io_splice"; Splicer::Session.open { }' 2>"$tmp/warn" &&
   [ ! -s "$tmp/warn" ]; then
  ok "ruby -w: require \"splicer\" and \"splicer/io_splice\" print nothing"
else
  cat "$tmp/warn"; bad "ruby -w: loading prints warnings"
fi

# every test file in one process; minitest prints its own summary
timeout 600 "${rubyw[@]}" -e 'ARGV.each { |f| require File.expand_path(f) }' test/*_test.rb \
  >"$tmp/tests.log" 2>"$tmp/tests.err"
rc=$?
cat "$tmp/tests.log"
line=$(grep -E '^[0-9]+ runs, [0-9]+ assertions, [0-9]+ failures, [0-9]+ errors, [0-9]+ skips' "$tmp/tests.log" | tail -n 1)
if [ -z "$line" ]; then
  cat "$tmp/tests.err"; bad "minitest did not finish (exit $rc)"
else
  read -r runs _ _ _ failures _ errors _ skips _ <<<"${line//,/}"
  P=$((P + runs - failures - errors - skips)) F=$((F + failures + errors)) S=$((S + skips))
  [ "$rc" -ne 0 ] && [ $((failures + errors)) -eq 0 ] && bad "minitest exited $rc"
fi
# warnings from our own files (threads reporting expected exceptions are not warnings)
if grep -E "(lib|test|examples|conformance)/[^ ]*\.rb:[0-9]+: warning" "$tmp/tests.err"; then
  bad "ruby -w: warnings while testing"
else
  ok "ruby -w: no warning while testing"
fi

# the gem: built from this directory (the core is reached through the
# ext/splicer/core link and packed as files), installed and used elsewhere
gemdir=$(mktemp -d /tmp/splicer-gem.XXXXXX)
if gem build splicer.gemspec -o "$gemdir/splicer.gem" >"$tmp/gem.log" 2>&1 &&
   tar -xOf "$gemdir/splicer.gem" data.tar.gz | tar -tz >"$gemdir/files" &&
   grep -x 'ext/splicer/core/src/session.c' "$gemdir/files" >>"$tmp/gem.log" &&
   (cd "$gemdir" && env -u RUBYLIB GEM_HOME="$gemdir/home" GEM_PATH="$gemdir/home" \
      gem install --local --no-document ./splicer.gem) >>"$tmp/gem.log" 2>&1 &&
   (cd "$gemdir" && env -u RUBYLIB GEM_HOME="$gemdir/home" GEM_PATH="$gemdir/home" ruby -w -e '
      require "splicer"
      require "splicer/io_splice"
      where = $LOADED_FEATURES.grep(/splicer/)
      abort "loaded from the repository: #{where}" unless where.all? { |f| f.start_with?(ENV["GEM_HOME"]) }
      r, w = IO.pipe
      w.write("through the installed gem")
      w.close
      File.open("out", "w") { |f| Splicer.copy(r, f) }
      abort "copy" unless File.read("out") == "through the installed gem"
      x, y = IO.pipe
      IO.vmsplice(y, "io_splice")
      abort "vmsplice" unless x.read_nonblock(20) == "io_splice"
      puts "gem ok: #{where.grep(/core\.so/).first}"') >>"$tmp/gem.log" 2>&1; then
  grep "gem ok" "$tmp/gem.log"
  ok "gem build, gem install --local into a fresh GEM_HOME outside the repository, smoke test"
else
  cat "$tmp/gem.log"; bad "gem build / install / smoke test"
fi
rm -rf "$gemdir"

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
