# Builds the extension splicer/core: the SWIG-generated wrapper (checked in,
# so installing needs no SWIG) compiled together with the C core.
#
# The core's sources are found in ext/splicer/core: in the repository that is
# a symbolic link to the top-level core/ directory; `gem build` follows it
# and packs the files themselves, so an installed gem carries real copies.
require "mkmf"

core = File.join(__dir__, "core")
unless File.file?(File.join(core, "include", "splicer.h")) && Dir.exist?(File.join(core, "src"))
  abort "splicer: the C core is missing (#{core}/include/splicer.h, #{core}/src): " \
        "build the gem from the repository (bindings/ruby) or install the packaged gem"
end
abort "splicer: Linux only (splice, tee, vmsplice, sendfile, copy_file_range)" unless RUBY_PLATFORM.include?("linux")

core_src = File.join(core, "src")
core_sources = Dir.children(core_src).select { |f| f.end_with?(".c") }.sort

$INCFLAGS << " -I#{File.join(core, 'include')} -I#{core_src}"
# The core's functions stay inside the extension: only Init_core is exported.
$defs.push("-D_GNU_SOURCE", "-DSPLICER_NO_VISIBILITY")
$CFLAGS << " -std=gnu11 -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter"
$CFLAGS << " -Werror" if ENV["SPLICER_WERROR"] == "1"
$VPATH << core_src
$srcs = ["splicer_wrap.c"] + core_sources

have_header("sys/eventfd.h") or abort "splicer: sys/eventfd.h is required"
have_header("ruby/fiber/scheduler.h") or abort "splicer: Ruby 3.1 or newer is required"
have_library("pthread")

create_makefile("splicer/core")
