-- Kept descriptors: s:keep, s:forget, s:forget_all.
local splicer = require "splicer"
local fx = require "splicer_testfx"

local function pipes(n)
  local r, w = {}, {}
  for i = 1, n do r[i], w[i] = assert(fx.pipe()) end
  return r, w
end

local function close_all(...)
  for _, list in ipairs { ... } do
    for _, fd in ipairs(list) do fx.close(fd) end
  end
end

test("keep: constants", function()
  eq(splicer.KEEP_MAX, 8)
  eq(splicer.FD_UNKNOWN, 0); eq(splicer.FD_STREAM, 1); eq(splicer.FD_DGRAM, 2)
  eq(splicer.FD_SEQPACKET, 3); eq(splicer.FD_PIPE, 4); eq(splicer.FD_NONBLOCK, 0x100)
end)

test("keep: the ninth fd is ENOSPC, a kept fd again replaces it, a forgotten slot takes another", function()
  local s = assert(splicer.session())
  local r, w = pipes(splicer.KEEP_MAX + 1)
  for i = 1, splicer.KEEP_MAX do eq(s:keep(r[i]), true, "keep " .. i) end
  local v, msg, name = s:keep(r[9], "pipe")
  eq(v, nil); eq(name, "ENOSPC"); eq(type(msg), "string")
  eq(s:keep(r[3], "pipe", true), true)  -- again: replaced, no slot taken
  eq(s:forget(r[3]), true)
  eq(s:keep(r[9], splicer.FD_PIPE), true)
  v, msg, name = s:keep(r[3])
  eq(v, nil); eq(name, "ENOSPC")
  eq(s:forget_all(), true)
  for i = 1, splicer.KEEP_MAX do eq(s:keep(r[i]), true, "after forget_all " .. i) end
  s:close()
  close_all(r, w)
end)

test("forget: an fd not kept is ENOENT; forget_all always succeeds", function()
  local s = assert(splicer.session())
  local r, w = assert(fx.pipe())
  local v, _, name = s:forget(r)
  eq(v, nil); eq(name, "ENOENT")
  eq(s:forget_all(), true)
  eq(s:keep(r), true)
  eq(s:keep(w, "pipe"), true)
  eq(s:forget(r), true)
  v, _, name = s:forget(r)
  eq(v, nil); eq(name, "ENOENT")
  eq(s:forget(w), true)
  s:close()
  fx.close(r); fx.close(w)
end)

test("keep: a closed fd is EBADF, unless nonblock makes no syscall", function()
  local s = assert(splicer.session())
  local r, w = assert(fx.pipe())
  fx.close(r); fx.close(w)
  for _, kind in ipairs { "unknown", "stream", "pipe" } do
    local v, _, name = s:keep(r, kind)
    eq(v, nil, kind); eq(name, "EBADF", kind)
  end
  local v, _, name = s:keep(-1, "stream", true)
  eq(v, nil); eq(name, "EBADF")
  v, _, name = s:forget(r)
  eq(name, "ENOENT", "nothing was kept")
  -- a known kind with nonblock is taken on the caller's word
  eq(s:keep(r, "stream", true), true)
  eq(s:forget(r), true)
  s:close()
end)

test("keep: unknown kinds are EINVAL; misuse raises", function()
  local s = assert(splicer.session())
  local r, w = assert(fx.pipe())
  for _, kind in ipairs { 5, -1, 0x100 } do
    local v, _, name = s:keep(r, kind)
    eq(v, nil, tostring(kind)); eq(name, "EINVAL", tostring(kind))
  end
  local v, msg, name = s:keep(r, "unknown", true)
  eq(v, nil); eq(name, "EINVAL")
  v, msg, name = s:keep(r, "socket")
  eq(v, nil); eq(name, "EINVAL"); ok(msg:find("socket"), msg)
  v, _, name = s:forget(r)
  eq(name, "ENOENT", "none was kept")
  fails(function() s:keep("3") end, "file descriptor expected")
  -- an io file: its fd, as for every other call
  eq(s:keep(io.stdout), true)
  eq(s:forget(io.stdout), true)
  -- an object with getfd(), as LuaSocket's
  local obj = { getfd = function() return r end }
  eq(s:keep(obj, "pipe"), true)
  eq(s:forget(obj), true)
  s:close()
  fails(function() s:keep(r) end, "closed session")
  fails(function() s:forget_all() end, "closed session")
  fx.close(r); fx.close(w)
end)

test("keep: two kept files copy every byte", function()
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-keep.XXXXXX"))
  local data = fx.pattern(7, 0, 300000)
  local fi = assert(fx.open(dir .. "/src", "w"))
  assert(fx.write_all(fi, data)); fx.close(fi)
  fi = assert(fx.open(dir .. "/src", "r"))
  local fo = assert(fx.open(dir .. "/dst", "w"))
  local s = assert(splicer.session())
  eq(s:keep(fi), true); eq(s:keep(fo), true)
  eq(s:copy(fi, fo), 300000)
  eq(s:copy(fi, fo), 0)
  eq(s:stats().bytes, 300000)
  eq(s:forget_all(), true)
  s:close()
  fx.close(fi); fx.close(fo)
  local f = assert(io.open(dir .. "/dst", "rb"))
  local got = f:read("*a"); f:close()
  eq(#got, #data); ok(got == data, "same bytes")
  os.remove(dir .. "/src"); os.remove(dir .. "/dst"); os.remove(dir)
end)

test("keep: a kept pipe and stream socket copy every byte", function()
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-keep.XXXXXX"))
  local r, w = assert(fx.pipe())
  local a, b = assert(fx.socketpair())
  local out = assert(fx.open(dir .. "/out", "w"))
  local pid = assert(fx.reader_start(b, out, { 65536 }, 0))
  fx.close(b); fx.close(out)
  local s = assert(splicer.session())
  eq(s:keep(r, "pipe"), true)
  eq(s:keep(a, "stream"), true)
  for k = 0, 1 do  -- two opens on the same kept fds
    assert(fx.write_all(w, fx.pattern(3, k * 50000, 50000)))
    eq(s:copy(r, a, 50000), 50000)
  end
  eq(s:progress().method, "splice")  -- pipe to socket: one splice, no staging pipe
  eq(s:forget(r), true); eq(s:forget(a), true)
  s:close()
  fx.close(r); fx.close(w); fx.close(a)
  eq(fx.reader_join(pid), 0)
  local f = assert(io.open(dir .. "/out", "rb"))
  local got = f:read("*a"); f:close()
  eq(#got, 100000); ok(got == fx.pattern(3, 0, 100000), "same bytes")
  os.remove(dir .. "/out"); os.remove(dir)
end)
