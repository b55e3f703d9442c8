-- luarocks make (in bindings/lua) builds and installs the Lua binding of
-- splicer: the generated module splicer.core (splicer_wrap.c + the vendored
-- C core, kept in sync by scripts/sync) and the idiomatic splicer.lua.
rockspec_format = "3.0"
package = "splicer"
version = "scm-1"
source = {
  url = "git+file://./bindings/lua",
}
description = {
  summary = "Zero-copy transfers between file descriptors (splice, tee, vmsplice, sendfile, copy_file_range)",
  detailed = [[
A transfer session that moves bytes between files, pipes and sockets inside
the Linux kernel, choosing the fastest method for each pair of fds and
falling back when the kernel refuses one; with raw wrappers of each syscall.
Works on Lua 5.1 to 5.4 and LuaJIT 2.1.
]],
  license = "MIT OR Apache-2.0",
  labels = { "io", "linux", "zero-copy", "splice" },
}
supported_platforms = { "linux" }
dependencies = { "lua >= 5.1" }
build = {
  type = "builtin",
  modules = {
    splicer = "splicer.lua",
    ["splicer.core"] = {
      -- the same list as vendor/src/*.c (test.sh fails when they differ)
      sources = {
        "splicer_wrap.c",
        "vendor/src/buf.c",
        "vendor/src/errors.c",
        "vendor/src/pool.c",
        "vendor/src/raw.c",
        "vendor/src/session.c",
        "vendor/src/transfer.c",
        "vendor/src/version.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "vendor/include", "vendor/src" },
    },
  },
  copy_directories = { "examples" },
}
