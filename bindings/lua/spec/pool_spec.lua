-- splicer.pool: the process-wide pipe pool, its options, statistics and
-- trim; sessions with pool = false; pipes holding bytes never lent again.
-- The pool is one per process and the spec files share it: every test runs
-- inside with_pool, which starts from the defaults with no idle pipe and
-- puts them back afterwards, even when the test fails.
local splicer = require "splicer"
local fx = require "splicer_testfx"

local defaults = {}
for _, name in ipairs { "max_pipes", "max_idle", "pipe_size" } do
  defaults[name] = assert(splicer.pool.get(name))
end

local function with_pool(fn)
  return function()
    splicer.pool.trim()
    local okk, err = pcall(fn)
    for name, v in pairs(defaults) do assert(splicer.pool.set(name, v)) end
    collectgarbage(); collectgarbage()
    splicer.pool.trim()
    if not okk then error(err, 0) end
  end
end

local counters = { "borrowed", "returned", "created", "closed", "misses", "discarded", "undersized", "spills" }

-- the counters since `before`, the gauges as they are
local function since(before)
  local now = assert(splicer.pool.stats())
  for _, k in ipairs(counters) do now[k] = now[k] - before[k] end
  return now
end

local function pattern(n, seed)
  return fx.pattern(seed or 1, 0, n)
end

-- A stream socket whose peer wrote `data` and shut down: a source.
local function source(data)
  local a, b = assert(fx.socketpair())
  assert(fx.write_all(b, data))
  assert(fx.shutdown(b, "w"))
  return a, b
end

local function read_to_end(fd)
  local parts = {}
  while true do
    local s = assert(fx.read(fd, 65536))
    if s == "" then break end
    parts[#parts + 1] = s
  end
  return table.concat(parts)
end

-- socket -> socket on s; 100,000 bytes fit in the sockets' buffers, so no
-- concurrent reader is needed
local function socket_copy(s, data)
  local src, src_peer = source(data)
  local dst, dst_peer = assert(fx.socketpair())
  local n, msg, err = s:copy(src, dst)
  fx.close(dst)
  local got = read_to_end(dst_peer)
  fx.close(src); fx.close(src_peer); fx.close(dst_peer)
  eq(n, #data, "copied (" .. tostring(msg) .. ", " .. tostring(err) .. ")")
  ok(got == data, "the bytes arrived intact")
end

-- A non-blocking session stepped until its destination (small buffers,
-- never read) refuses more: it holds bytes in a borrowed pool pipe.
local function held()
  local src, src_peer = source(pattern(100000, 7))
  local dst, dst_peer = assert(fx.socketpair())
  assert(fx.set_bufsize(dst, "snd", 4096))
  assert(fx.set_bufsize(dst_peer, "rcv", 4096))
  local s = assert(splicer.session { nonblock = true })
  assert(s:open(src, dst))
  local n = assert(s:step())
  ok(n > 0, "a first step moved bytes")
  ok(s:progress().pending > 0, "bytes are held")
  return s, { src, src_peer, dst, dst_peer }
end

test("options: defaults, set and get, by name or number", with_pool(function()
  eq(splicer.pool.get("pipe_size"), 262144)
  eq(splicer.pool.get("max_idle"), 32)
  local max = splicer.pool.get("max_pipes")
  is_count(max, "max_pipes")
  ok(max >= 16 and max <= 1024, "max_pipes " .. tostring(max))
  eq(splicer.pool.get(splicer.POOL_MAX_IDLE), 32)
  eq(splicer.pool.set("max_idle", 4), true)
  eq(splicer.pool.get("max_idle"), 4)
  eq(splicer.pool.set(splicer.POOL_MAX_PIPES, 7), true)
  eq(splicer.pool.get("max_pipes"), 7)
  eq(splicer.pool.set("pipe_size", 65536), true)
  eq(splicer.pool.get("pipe_size"), 65536)
  -- the bounds themselves
  eq(splicer.pool.set("max_pipes", 1048576), true)
  eq(splicer.pool.set("max_idle", 0), true)
  eq(splicer.pool.set("pipe_size", 4096), true)
  eq(splicer.pool.set("pipe_size", 1073741824), true)
end))

test("options: bad values are nil, message, EINVAL and change nothing", with_pool(function()
  local before = { splicer.pool.get("max_pipes"), splicer.pool.get("max_idle"), splicer.pool.get("pipe_size") }
  for _, bad in ipairs {
    { "max_pipes", -1 }, { "max_pipes", 1048577 }, { "max_idle", -1 }, { "max_idle", 1048577 },
    { "pipe_size", 4095 }, { "pipe_size", 1073741825 }, { "pipe_size", -4096 }, { 999, 1 },
  } do
    local r, msg, name = splicer.pool.set(bad[1], bad[2])
    eq(r, nil, tostring(bad[1]) .. " = " .. tostring(bad[2]))
    eq(name, "EINVAL")
    eq(type(msg), "string")
  end
  local r, msg, name = splicer.pool.set("bogus", 1)
  eq(r, nil); eq(name, "EINVAL"); ok(msg:find("bogus"), msg)
  r, msg, name = splicer.pool.get("bogus")
  eq(r, nil); eq(name, "EINVAL"); ok(msg:find("bogus"), msg)
  r, msg, name = splicer.pool.get(999)
  eq(r, nil); eq(name, "EINVAL")
  -- not a whole number, or not a number: a programming error
  fails(function() splicer.pool.set("max_idle", 4.5) end, "integer representation")
  fails(function() splicer.pool.set("max_idle", "four") end, "integer expected")
  eq(splicer.pool.get("max_pipes"), before[1])
  eq(splicer.pool.get("max_idle"), before[2])
  eq(splicer.pool.get("pipe_size"), before[3])
end))

test("stats: a table of the eleven fields, counts", with_pool(function()
  local st = assert(splicer.pool.stats())
  local n = 0
  for k, v in pairs(st) do
    n = n + 1
    is_count(v, k)
  end
  eq(n, 11)
  for _, k in ipairs { "borrowed", "returned", "created", "closed", "misses",
                       "in_use", "idle", "peak_in_use", "discarded", "undersized", "spills" } do
    ok(st[k] ~= nil, k)
  end
  eq(st.idle, 0, "trimmed")
end))

test("stats move around a socket to socket copy", with_pool(function()
  local before = assert(splicer.pool.stats())
  local s = assert(splicer.session())
  socket_copy(s, pattern(100000, 1))
  eq(s:progress().method, "splice_pipe")
  local st = s:stats()
  eq(st.pool_misses, 0)
  is_count(st.pool_misses, "pool_misses")
  eq(st.pool_spills, 0, "a pool with pipes to spare never spills")
  is_count(st.pool_spills, "pool_spills")
  eq(st.bytes_by_method.splice_pipe, 100000)
  local d = since(before)
  ok(d.borrowed >= 1, "borrowed " .. d.borrowed)
  eq(d.returned, d.borrowed, "every borrowed pipe came back empty")
  eq(d.created, 1); eq(d.misses, 0); eq(d.discarded, 0); eq(d.spills, 0)
  eq(d.in_use, 0); eq(d.idle, 1); eq(d.peak_in_use, 1)
  -- the next session reuses the idle pipe
  socket_copy(assert(splicer.session()), pattern(5000, 2))
  d = since(before)
  eq(d.created, 1); eq(d.idle, 1)
  s:close()
end))

test("a cap of 0 loses nothing: every batch by read/write", with_pool(function()
  eq(splicer.pool.set("max_pipes", 0), true)
  local before = assert(splicer.pool.stats())
  local s = assert(splicer.session())
  socket_copy(s, pattern(100000, 3))
  eq(s:progress().method, "splice_pipe")
  local st = s:stats()
  ok(st.pool_misses >= 1, "pool_misses " .. st.pool_misses)
  eq(st.bytes_by_method.read_write, 100000)
  eq(st.bytes_by_method.splice_pipe, 0)
  local d = since(before)
  eq(d.misses, st.pool_misses)
  eq(d.created, 0); eq(d.borrowed, 0); eq(d.in_use, 0)
  s:close()
end))

test("no pipe to lend and read/write not allowed: ENOBUFS, nothing taken", with_pool(function()
  eq(splicer.pool.set("max_pipes", 0), true)
  local data = pattern(50000, 4)
  local src, src_peer = source(data)
  local dst, dst_peer = assert(fx.socketpair())
  local s = assert(splicer.session { methods = { "splice_pipe" } })
  assert(s:open(src, dst))
  local r, msg, name = s:step()
  eq(r, nil); eq(name, "ENOBUFS"); eq(type(msg), "string")
  local p = s:progress()
  eq(p.consumed, 0); eq(p.pending, 0)
  -- pipes again: the same transfer goes on, nothing was lost
  eq(splicer.pool.set("max_pipes", 4), true)
  eq(s:run(), #data)
  s:close()
  fx.close(dst)
  ok(read_to_end(dst_peer) == data)
  for _, fd in ipairs { src, src_peer, dst_peer } do fx.close(fd) end
end))

test("pool = false: the session owns its pipe, the pool is not touched", with_pool(function()
  local before = assert(splicer.pool.stats())
  local fds = fx.fd_count()
  local s = assert(splicer.session { pool = false, pipe_size = 65536 })
  eq(s:get("pool"), false)
  socket_copy(s, pattern(100000, 5))
  eq(s:stats().pool_misses, 0)
  eq(fx.fd_count(), fds + 2, "its own pipe, kept between transfers")
  eq(s:get("pipe_size"), 65536)
  socket_copy(s, pattern(1000, 6))
  eq(fx.fd_count(), fds + 2)
  local d = since(before)
  eq(d.borrowed, 0); eq(d.created, 0); eq(d.misses, 0); eq(d.idle, 0)
  s:close()
  eq(fx.fd_count(), fds)
  -- back on the pool: its pipe is the pool's, not the session's
  local t = assert(splicer.session { pool = false })
  ok(t:set("pool", true))
  eq(t:get("pool"), true)
  socket_copy(t, pattern(1000, 6))
  eq(since(before).idle, 1)
  t:close()
  eq(splicer.pool.trim(), 1)
  eq(fx.fd_count(), fds)
  local r, _, name = splicer.session { pool = 2 }
  eq(r, nil); eq(name, "EINVAL")
end))

test("pipe_size with the pool bounds a batch within the pool's size", with_pool(function()
  local s = assert(splicer.session { pipe_size = 20000 })
  eq(s:get("pipe_size"), 20000)
  ok(s:set("pipe_size", 1048576))
  eq(s:get("pipe_size"), splicer.pool.get("pipe_size"))
  s:close()
end))

test("closing a session with bytes pending discards its pipe", with_pool(function()
  local before = assert(splicer.pool.stats())
  local s, fds = held()
  eq(since(before).in_use, 1)
  s:close()
  local d = since(before)
  eq(d.discarded, 1); eq(d.closed, 1); eq(d.returned, 0)
  eq(d.in_use, 0); eq(d.idle, 0)
  for _, fd in ipairs(fds) do fx.close(fd) end
end))

test("the collector discards the pipe of a session dropped with bytes", with_pool(function()
  local before = assert(splicer.pool.stats())
  local fds
  do
    local _
    _, fds = held()
  end
  collectgarbage(); collectgarbage()
  local d = since(before)
  eq(d.discarded, 1); eq(d.in_use, 0); eq(d.idle, 0)
  for _, fd in ipairs(fds) do fx.close(fd) end
end))

test("a full destination spills its pipe back when the pool is short", with_pool(function()
  eq(splicer.pool.set("max_pipes", 1), true)
  local before = assert(splicer.pool.stats())
  local s, fds = held()
  -- the only pipe was lent to this session: the bytes left went into a
  -- buffer and the pipe back to the pool, once
  local st = s:stats()
  eq(st.pool_spills, 1); eq(st.pool_misses, 0)
  local d = since(before)
  eq(d.spills, 1); eq(d.in_use, 0); eq(d.idle, 1); eq(d.discarded, 0)
  -- so another session splices through it instead of missing
  local other = assert(splicer.session())
  socket_copy(other, pattern(30000, 12))
  eq(other:stats().pool_misses, 0)
  eq(other:stats().bytes_by_method.splice_pipe, 30000)
  other:close()
  -- and the spilled transfer delivers every byte, once: each EAGAIN is a
  -- destination whose peer has bytes to read
  local dst, dst_peer = fds[3], fds[4]
  local parts = {}
  while true do
    local n, msg, name = s:step()
    if n == 0 then break end
    if n == nil then
      eq(name, "EAGAIN", msg)
      parts[#parts + 1] = assert(fx.read(dst_peer, 65536))
    end
  end
  eq(s:progress().delivered, 100000)
  s:close()
  fx.close(dst)
  parts[#parts + 1] = read_to_end(dst_peer)
  ok(table.concat(parts) == pattern(100000, 7), "the bytes arrived intact")
  d = since(before)
  eq(d.in_use, 0); eq(d.discarded, 0)
  for _, fd in ipairs { fds[1], fds[2], dst_peer } do fx.close(fd) end
end))

test("abort with bytes held closes the pipe; pool is busy meanwhile", with_pool(function()
  local before = assert(splicer.pool.stats())
  local s, fds = held()
  local pending = s:progress().pending
  local r, _, name = s:set("pool", false)
  eq(r, nil); eq(name, "EBUSY")
  eq(s:get("pool"), true)
  eq(s:abort(), pending)
  local d = since(before)
  eq(d.discarded, 1); eq(d.closed, 1); eq(d.in_use, 0); eq(d.idle, 0)
  ok(s:set("pool", false))
  -- the session's next transfer gets its own bytes only
  local data = pattern(1000, 8)
  socket_copy(s, data)
  s:close()
  for _, fd in ipairs(fds) do fx.close(fd) end
end))

test("trim closes idle pipes and restarts the peak", with_pool(function()
  socket_copy(assert(splicer.session()), pattern(20000, 9))
  local before = assert(splicer.pool.stats())
  eq(before.idle, 1); eq(before.peak_in_use, 1)
  local n = splicer.pool.trim()
  is_count(n, "trim")
  eq(n, 1)
  local d = since(before)
  eq(d.idle, 0); eq(d.closed, 1); eq(d.peak_in_use, 0)
  eq(splicer.pool.trim(), 0)
end))

test("max_idle 0 and a new pipe_size close what is no longer kept", with_pool(function()
  socket_copy(assert(splicer.session()), pattern(20000, 10))
  local before = assert(splicer.pool.stats())
  eq(before.idle, 1)
  eq(splicer.pool.set("pipe_size", 65536), true)
  local d = since(before)
  eq(d.idle, 0); eq(d.closed, 1)
  eq(splicer.pool.set("max_idle", 0), true)
  socket_copy(assert(splicer.session()), pattern(100000, 11))
  d = since(before)
  eq(d.idle, 0)
  eq(d.closed, 1 + d.created)
end))
