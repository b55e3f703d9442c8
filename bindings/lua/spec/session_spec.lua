-- The idiomatic layer: sessions, transfers, buffers, conventions.
local splicer = require "splicer"
local fx = require "splicer_testfx"

local function tmpfile(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(content or "")
  f:close()
  return path
end

local function pattern(n)
  local t, line = {}, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
  for i = 1, math.floor(n / #line) + 1 do t[i] = line end
  return table.concat(t):sub(1, n)
end

local function read_all(fd)
  local parts = {}
  while true do
    local s = assert(fx.read(fd, 65536))
    if s == "" then break end
    parts[#parts + 1] = s
  end
  return table.concat(parts)
end

test("version", function()
  ok(splicer.version:match("^%d+%.%d+%.%d+$"), "version string")
  is_count(splicer.version_number, "version_number")
  eq(splicer.version_number, splicer.VERSION_MAJOR * 10000 + splicer.VERSION_MINOR * 100 + splicer.VERSION_PATCH)
end)

test("constants are integers", function()
  for _, k in ipairs { "F_MOVE", "F_NONBLOCK", "F_MORE", "F_GIFT", "OFF_CUR", "TEE_MAX",
                       "METHOD_SPLICE", "METHOD_COUNT", "OPT_CHUNK" } do
    is_count(math.abs(splicer[k]), k)
  end
  eq(splicer.F_MORE, 4)
  eq(splicer.OFF_CUR, -1)
  eq(splicer.TO_EOF, -1)
end)

test("session lifecycle: close is idempotent, closed session errors", function()
  local s = assert(splicer.session())
  ok(tostring(s):match("^splicer%.session %("), tostring(s))
  s:close()
  s:close()
  ok(s:is_closed())
  eq(tostring(s), "splicer.session (closed)")
  fails(function() s:copy(0, 1) end, "closed session")
  fails(function() s:step() end, "closed session")
  fails(function() s:progress() end, "closed session")
end)

test("options: set, get, booleans, errors", function()
  local s = assert(splicer.session { chunk = 65536, nonblock = true, fallback = false, pipe_size = 65536 })
  eq(s:get("chunk"), 65536)
  is_count(s:get("chunk"))
  eq(s:get("nonblock"), true)
  eq(s:get("fallback"), false)
  eq(s:get("sigpipe"), true)
  ok(s:set("nonblock", false))
  eq(s:get("nonblock"), false)
  local r, msg, name = s:set("chunk", 0)
  eq(r, nil); eq(name, "EINVAL"); eq(type(msg), "string")
  r, msg, name = s:set("bogus", 1)
  eq(r, nil); eq(name, "EINVAL"); ok(msg:find("bogus"))
  r, msg, name = splicer.session { chunk = -5 }
  eq(r, nil); eq(name, "EINVAL")
  ok(s:set("methods", { "read_write" }))
  eq(s:get("methods"), 2 ^ splicer.METHOD_READ_WRITE)
  s:close()
end)

test("copy file -> file through io handles", function()
  local data = pattern(300000)
  local src, dst = tmpfile(data), os.tmpname()
  local s = assert(splicer.session())
  local fi, fo = assert(io.open(src, "rb")), assert(io.open(dst, "wb"))
  local n = assert(s:copy(fi, fo))
  is_count(n, "copy result")
  eq(n, #data)
  fi:close(); fo:close()
  eq(slurp(dst), data)
  local p = s:progress()
  eq(p.method, "copy_file_range")
  eq(p.finished, true)
  eq(p.delivered, #data); eq(p.consumed, #data); eq(p.pending, 0)
  is_count(p.delivered)
  local st = s:stats()
  eq(st.bytes, #data)
  is_count(st.syscalls)
  eq(st.bytes_by_method.copy_file_range, #data)
  s:close()
  os.remove(src); os.remove(dst)
end)

test("fds: numbers and objects with getfd()", function()
  local data = pattern(5000)
  local src, dst = tmpfile(data), os.tmpname()
  local fi, fo = assert(fx.open(src, "r")), assert(fx.open(dst, "w"))
  local s = assert(splicer.session())
  eq(s:copy(fi, { getfd = function() return fo end }, 1000), 1000)
  eq(s:copy(fi, fo), 4000)
  fx.close(fi); fx.close(fo)
  eq(slurp(dst), data)
  fails(function() s:copy("x", fo) end, "file descriptor expected")
  fails(function() s:copy({}, fo) end, "getfd")
  local closed = io.open(src, "rb"); closed:close()
  fails(function() s:copy(closed, 1) end, "closed file")
  local r, msg, name = s:copy(12345, fo)
  eq(r, nil); eq(name, "EBADF")
  s:close()
  os.remove(src); os.remove(dst)
end)

test("io handles: buffered writes go first, read-ahead is given back", function()
  local data = pattern(10000)
  local src, dst = tmpfile(data), os.tmpname()
  local fi, fo = assert(io.open(src, "rb")), assert(io.open(dst, "wb"))
  eq(fi:read(10), data:sub(1, 10))  -- stdio has read ahead far more than 10
  fo:write("HEAD:")                   -- still in stdio's buffer
  local s = assert(splicer.session())
  eq(s:copy(fi, fo), #data - 10)
  fo:write(":TAIL")
  fi:close(); fo:close()
  eq(slurp(dst), "HEAD:" .. data:sub(11) .. ":TAIL")
  s:close()
  os.remove(src); os.remove(dst)
end)

test("copy_range leaves positions alone", function()
  local data = pattern(8192)
  local src, dst = tmpfile(data), tmpfile(string.rep("-", 100))
  local fi, fo = assert(fx.open(src, "r")), assert(fx.open(dst, "r+"))
  local s = assert(splicer.session())
  eq(s:copy_range(fi, 100, fo, 50, 1000), 1000)
  eq(fx.lseek(fi, 0, "cur"), 0)
  eq(fx.lseek(fo, 0, "cur"), 0)
  fx.close(fi); fx.close(fo)
  eq(slurp(dst), string.rep("-", 50) .. data:sub(101, 1100))
  s:close()
  os.remove(src); os.remove(dst)
end)

test("64-bit offsets stay exact", function()
  local src, dst = tmpfile(""), os.tmpname()
  local big = 5 * 2 ^ 30 + 7                    -- past 2^32
  if math.type then big = math.tointeger(big) end
  local fi = assert(io.open(src, "r+b"))
  fi:seek("set", big); fi:write("xyz"); fi:close()
  local a, b = assert(fx.open(src, "r")), assert(fx.open(dst, "w"))
  local s = assert(splicer.session())
  eq(s:copy_range(a, big, b, nil, 3), 3)
  local p = s:progress()
  is_count(p.delivered)
  eq(splicer.copy_file_range(a, big + 1, b, nil, 10), 2)
  fx.close(a); fx.close(b)
  eq(slurp(dst), "xyzyz")
  s:close()
  os.remove(src); os.remove(dst)
end)

test("argument checks: no silent rounding", function()
  local s = assert(splicer.session())
  fails(function() s:copy(0, 1, 1.5) end, "integer representation")
  fails(function() s:copy(0, 1, -2) end, "length must be")
  fails(function() splicer.splice(0, 0.5, 1, nil, 1) end, "integer representation")
  fails(function() s:set("chunk", "lots") end, "integer expected")
  s:close()
end)

test("pipe -> file and file -> pipe", function()
  local data = pattern(50000)
  local r, w = assert(fx.pipe())
  local dst = os.tmpname()
  local fo = assert(fx.open(dst, "w"))
  local s = assert(splicer.session())
  eq(fx.write(w, data), #data)
  fx.close(w)
  eq(s:copy(r, fo), #data)
  eq(s:progress().method, "splice")
  fx.close(r); fx.close(fo)
  eq(slurp(dst), data)

  local src = tmpfile(data)
  r, w = assert(fx.pipe())
  local fi = assert(fx.open(src, "r"))
  eq(s:copy(fi, w, 20000), 20000)
  eq(fx.read(r, 65536), data:sub(1, 20000))
  fx.close(fi); fx.close(r); fx.close(w)
  s:close()
  os.remove(src); os.remove(dst)
end)

test("tee to several destinations", function()
  local data = pattern(70000)
  local src, d1 = tmpfile(data), os.tmpname()
  local r, w = assert(fx.pipe())
  local fi, f1 = assert(io.open(src, "rb")), assert(io.open(d1, "wb"))
  local s = assert(splicer.session())
  local n = assert(s:tee(fi, { f1, w }, 60000))
  eq(n, 60000)
  f1:close()
  eq(slurp(d1), data:sub(1, 60000))
  fx.close(w)
  eq(read_all(r), data:sub(1, 60000))
  fx.close(r); fi:close()
  local none, _, name = s:tee(0, {})
  eq(none, nil); eq(name, "EINVAL")
  s:close()
  os.remove(src); os.remove(d1)
end)

test("send a sealed buffer", function()
  local b = assert(splicer.buf(10000))
  eq(b:size(), 10000)
  eq(b:write("hello, "), 7)
  eq(b:write("world", 7), 12)
  local none, _, name = b:write("x", 10000)
  eq(none, nil); eq(name, "EINVAL")
  ok(tostring(b):match("splicer%.buf"))
  local r, w = assert(fx.pipe())
  local s = assert(splicer.session())
  eq(s:send(b, w, 12), 12)
  ok(b:is_sealed())
  fails(function() b:write("late") end, "handed over")
  fails(function() s:send(b, w) end, "handed over")
  eq(fx.read(r, 100), "hello, world")
  local b2 = assert(splicer.buf(100))
  b2:free(); b2:free()
  fx.close(r); fx.close(w)
  s:close()
end)

test("non-blocking: EAGAIN, wait, resume, nothing lost", function()
  local data = pattern(200000)
  local src = tmpfile(data)
  local r, w = assert(fx.pipe())
  local fi = assert(fx.open(src, "r"))
  local s = assert(splicer.session { nonblock = true, chunk = 32768 })
  ok(s:open(fi, w))
  local got, saw_eagain = {}, false
  while true do
    local n, msg, name = s:step()
    if n == 0 then break end
    if not n then
      eq(name, "EAGAIN", msg)
      saw_eagain = true
      local fd, ev = s:wait()
      eq(fd, w); eq(ev, "w")
      local p = s:progress()
      eq(p.consumed, p.delivered + p.pending)
      got[#got + 1] = assert(fx.read(r, 1048576))
    else
      is_count(n)
    end
  end
  fx.close(w)
  got[#got + 1] = read_all(r)
  ok(saw_eagain, "a 64 KiB pipe must fill up")
  eq(table.concat(got), data)
  ok(not fx.is_nonblock(fi), "caller's flags restored")
  ok(s:stats().eagain > 0)
  local none, _, name = s:wait()
  eq(none, nil); eq(name, "EINVAL")
  fx.close(fi); fx.close(r)
  s:close()
  os.remove(src)
end)

test("abort drops pending bytes", function()
  local r, w = assert(fx.pipe())
  local a, b = assert(fx.socketpair())
  fx.fill(b)      -- b's send buffer full: nothing can be delivered to it
  local s = assert(splicer.session { nonblock = true })
  eq(fx.write(w, pattern(4096)), 4096)
  ok(s:open(r, b))
  local n, _, name = s:step()
  if n == nil then eq(name, "EAGAIN") end
  local p = s:progress()
  local dropped = assert(s:abort())
  is_count(dropped)
  eq(dropped, p.pending)
  eq(s:step(), 0)
  for _, fd in ipairs { r, w, a, b } do fx.close(fd) end
  s:close()
end)

test("EPIPE is an error value, not a signal", function()
  local r, w = assert(fx.pipe())
  fx.close(r)
  local src = tmpfile(pattern(1000))
  local fi = assert(fx.open(src, "r"))
  local s = assert(splicer.session())
  local n, msg, name = s:copy(fi, w)
  eq(n, nil); eq(name, "EPIPE"); eq(msg, "Broken pipe")
  s:abort()
  fx.close(fi); fx.close(w)
  s:close()
  os.remove(src)
end)

test("copy with EBUSY while bytes are pending", function()
  local r, w = assert(fx.pipe())
  local a, b = assert(fx.socketpair())
  fx.fill(b)
  local s = assert(splicer.session { nonblock = true })
  eq(fx.write(w, "abc"), 3)
  ok(s:open(r, b))
  s:step()
  if s:progress().pending > 0 then
    local none, _, name = s:open(r, b)
    eq(none, nil); eq(name, "EBUSY")
  end
  s:abort()
  for _, fd in ipairs { r, w, a, b } do fx.close(fd) end
  s:close()
end)

test("no fd or session leaks; collector frees sessions", function()
  local before = fx.fd_count()
  for _ = 1, 200 do
    local s = splicer.session()
    local r, w = fx.pipe()
    fx.write(w, "x")
    fx.close(w)
    local fo = fx.open("/dev/null", "w")
    s:copy(r, fo)       -- creates the session's pipes only when needed
    fx.close(r); fx.close(fo)
  end
  collectgarbage(); collectgarbage()
  eq(fx.fd_count(), before)
end)

test("the collector frees a session's own pipes (every interpreter)", function()
  -- idle pool pipes are the pool's, not a leak: trimmed before counting
  splicer.pool.trim()
  local before = fx.fd_count()
  for _, pooled in ipairs { false, true } do
    for _ = 1, 50 do
      local s = splicer.session { pool = pooled }
      local a, b = fx.socketpair()
      fx.write(b, "through the session's own pipe")
      fx.shutdown(b, "w")
      local null = fx.open("/dev/null", "w")
      eq(s:copy(a, null), 30)
      eq(s:progress().method, "splice_pipe")
      fx.close(a); fx.close(b); fx.close(null)
    end
    collectgarbage(); collectgarbage()
    splicer.pool.trim()
    eq(fx.fd_count(), before, pooled and "pooled sessions" or "sessions with pipes of their own")
  end
end)

test("<close> closes the session (Lua 5.4)", function()
  if not _VERSION:match("5%.[4-9]") then skip("needs Lua 5.4") end
  local keep
  local chunk = assert(load([[
    local splicer, out = ...
    do
      local s <close> = assert(splicer.session())
      out.s = s
    end
  ]]))
  local out = {}
  chunk(splicer, out)
  keep = out.s
  ok(keep:is_closed())
end)

test("splicer.copy and method_for", function()
  local data = pattern(1234)
  local src, dst = tmpfile(data), os.tmpname()
  local fi, fo = io.open(src, "rb"), io.open(dst, "wb")
  eq(splicer.method_for(fi, fo), "copy_file_range")
  eq(splicer.copy(fi, fo), 1234)
  eq(select("#", splicer.copy(fi, fo)), 1)
  fi:close(); fo:close()
  eq(slurp(dst), data)
  local r, w = fx.pipe()
  eq(splicer.method_for(r, 1), "splice")
  local none, _, name = splicer.method_for(9999, 1)
  eq(none, nil); eq(name, "EBADF")
  fx.close(r); fx.close(w)
  os.remove(src); os.remove(dst)
end)

test("LuaSocket objects via getfd()", function()
  local okk, socket = pcall(require, "socket")
  if not okk then skip("LuaSocket not installed") end
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  local peer = assert(server:accept())
  -- LuaSocket keeps its sockets O_NONBLOCK and nobody reads until the copy
  -- is done: a payload that fits the socket buffers even under memory
  -- pressure, so the copy never meets EAGAIN
  local data = pattern(16384)
  local src = tmpfile(data)
  local fi = assert(io.open(src, "rb"))
  local s = assert(splicer.session())
  eq(splicer.method_for(fi, client), "sendfile")
  eq(s:copy(fi, client), #data)
  client:close()
  eq(peer:receive("*a"), data)
  peer:close(); server:close(); fi:close()
  s:close()
  os.remove(src)
end)
