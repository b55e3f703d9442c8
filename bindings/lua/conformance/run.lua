-- The Lua conformance runner: every case of tests/cases through the
-- idiomatic API (require "splicer"; the raw functions for raw_* ops), with
-- the output format of tests/README.md §1:
--     lua conformance/run.lua [-k TEXT] [-v] DIR_OR_FILE...
-- Fixtures that plain Lua cannot make (pipes, sockets, memfd, a concurrent
-- reader) come from the test-only module splicer_testfx.
local splicer = require "splicer"
local fx = require "splicer_testfx"
local json = require "json"

io.stdout:setvbuf("line")

local NAN_OK = {}  -- marker: a step without expectation

-- ---------------------------------------------------------------------------
-- arguments

local paths, filter, verbose = {}, nil, false
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "-k" then filter = arg[i + 1]; i = i + 1
    elseif a == "-v" then verbose = true
    else paths[#paths + 1] = a end
    i = i + 1
  end
  if #paths == 0 then
    io.stderr:write("usage: run.lua [-k TEXT] [-v] DIR_OR_FILE...\n")
    os.exit(2)
  end
end

local function case_files()
  local files = {}
  for _, p in ipairs(paths) do
    if p:match("%.json$") then
      files[#files + 1] = p
    else
      local list, names = io.popen('ls -1 "' .. p .. '" 2>/dev/null'), {}
      for name in list:lines() do
        if name:match("%.json$") then names[#names + 1] = name end
      end
      list:close()
      table.sort(names)
      for _, n in ipairs(names) do files[#files + 1] = p .. "/" .. n end
    end
  end
  return files
end

-- ---------------------------------------------------------------------------
-- values

local function data_bytes(spec)
  if spec == nil then return "" end
  if spec.zero then return string.rep("\0", spec.size) end
  return fx.pattern(spec.seed or 1, spec.offset or 0, spec.size)
end

local function show(v)
  if type(v) == "table" then
    if v == json.null then return "null" end
    local parts = {}
    if json.is_array(v) then
      for _, x in ipairs(v) do parts[#parts + 1] = show(x) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if type(v) == "number" and v % 1 == 0 and v == v then return ("%d"):format(v) end
  return tostring(v)
end

local Fail = {}
local function fail(detail) error(setmetatable({ detail = detail }, Fail), 0) end
local Skip = {}
local function skip(reason) error(setmetatable({ reason = reason }, Skip), 0) end

local function offset(v)
  if v == nil or v == "cur" then return nil end
  return v
end

local function len(v)
  if v == nil or v == "eof" then return nil end
  return v
end

local flag_value = { MOVE = splicer.F_MOVE, NONBLOCK = splicer.F_NONBLOCK, MORE = splicer.F_MORE, GIFT = splicer.F_GIFT }
local function flags(list)
  local f = 0
  for _, name in ipairs(list or {}) do
    f = f + assert(flag_value[name], "unknown flag " .. tostring(name))
  end
  return f
end

local method_number = {}
for m = 0, splicer.METHOD_COUNT - 1 do method_number[splicer.method_name(m)] = m end
local function mask_of(v)
  if type(v) ~= "table" then return v end
  local seen, m = {}, 0
  for _, name in ipairs(v) do
    local n = method_number[name] or fail("unknown method " .. tostring(name))
    if not seen[n] then seen[n] = true; m = m + 2 ^ n end
  end
  return math.tointeger and math.tointeger(m) or m
end

local option_name = {
  PIPE_SIZE = "pipe_size", CHUNK = "chunk", NONBLOCK = "nonblock",
  FALLBACK = "fallback", METHODS = "methods", SIGPIPE = "sigpipe",
  POOL = "pool", LAZY_FILES = "lazy_files",
}

local pool_option_name = { MAX_PIPES = "max_pipes", MAX_IDLE = "max_idle", PIPE_SIZE = "pipe_size" }
local function pool_option(v)
  if type(v) == "number" then return v end
  return pool_option_name[v] or fail("bad pool option " .. tostring(v))
end

-- a number expectation: exact integer or {min, max}
local function number_ok(expect, got)
  if type(got) ~= "number" then return false end
  if type(expect) == "table" then
    return (expect.min == nil or got >= expect.min) and (expect.max == nil or got <= expect.max)
  end
  return got == expect
end

-- check a call's outcome (value, or nil, msg, errname) against a result
-- expectation (§5.2)
local function check_result(what, expect, v, msg, errname)
  if expect == nil then
    if v == nil and errname == nil then fail(what .. ": could not run: " .. tostring(msg)) end
    return
  end
  if type(expect) == "string" then
    if v ~= nil then fail(what .. ": expected " .. expect .. ", got " .. show(v)) end
    if errname ~= expect then fail(what .. ": expected " .. expect .. ", got " .. tostring(errname)) end
    return
  end
  if v == nil then fail(what .. ": expected " .. show(expect) .. ", got " .. tostring(errname) .. " (" .. tostring(msg) .. ")") end
  if not number_ok(expect, v) then fail(what .. ": expected " .. show(expect) .. ", got " .. show(v)) end
end

-- idiomatic successes that carry no number mean 0 in the C API
local function as_result(v, msg, errname)
  if v == true then return 0 end
  if v == false then return 0 end
  return v, msg, errname
end

-- ---------------------------------------------------------------------------
-- fixtures

local rundir
local counter = 0

local function new_path(dir)
  counter = counter + 1
  return (dir or rundir) .. "/f" .. counter
end

local function must(v, ...)
  if v == nil then
    local msg, errname = ...
    fail("setup: " .. tostring(msg) .. " (" .. tostring(errname) .. ")")
  end
  return v, ...
end

local function setup_fixture(c, f)
  local x = { name = f.name, kind = f.kind, arrived = {}, spec = f }
  c.fixtures[f.name] = x
  c.order[#c.order + 1] = x
  local kind = f.kind
  if kind == "file" and f.same_as then
    -- another fd of an earlier file fixture's file (unlinked once, by it)
    local o = c.fixtures[f.same_as]
    if not o or o == x or o.kind ~= "file" or not o.path then
      fail("setup: same_as " .. tostring(f.same_as) .. " is not an earlier file fixture")
    end
    x.path, x.shares_file = o.path, true
    x.mode = f.mode or "rw"
    x.fd = must(fx.reopen(x.path, x.mode, f.append))
    if f.pos then must(fx.lseek(x.fd, f.pos, "set")) end
  elseif kind == "file" then
    local dir = rundir
    if f.tmpfs then
      dir = new_path() .. ".mnt"
      os.execute('mkdir -p "' .. dir .. '"')
      x.mount = dir
      if not fx.mount_tmpfs(dir, f.tmpfs.size) then
        os.remove(dir)
        x.mount = nil
        skip("cannot mount tmpfs")
      end
    end
    x.path = new_path(dir)
    local h = must(io.open(x.path, "wb"))
    must(h:write(data_bytes(f.data)))
    h:close()
    x.mode = f.mode or "rw"
    x.fd = must(fx.reopen(x.path, x.mode, f.append))
    if f.pos then must(fx.lseek(x.fd, f.pos, "set")) end
  elseif kind == "memfd" then
    x.fd = must(fx.memfd("splicer-conformance"))
    must(fx.write_all(x.fd, data_bytes(f.data)))
    must(fx.lseek(x.fd, f.pos or 0, "set"))
  elseif kind == "pipe" then
    local r, w = must(fx.pipe())
    if f["end"] == "r" then x.fd, x.peer = r, w else x.fd, x.peer = w, r end
    x.peer_writes = f["end"] == "r"
    if f.capacity then must(splicer.set_pipe_size(x.fd, f.capacity)) end
  elseif kind == "socketpair" or kind == "tcp" then
    local a, b
    if kind == "tcp" then a, b = must(fx.tcp_pair()) else a, b = must(fx.socketpair()) end
    x.fd, x.peer = a, b
    if f.sndbuf then must(fx.set_bufsize(a, "snd", f.sndbuf)) end
    if f.rcvbuf then must(fx.set_bufsize(b, "rcv", f.rcvbuf)) end
  elseif kind == "udp_pair" or kind == "unix_dgram_pair" then
    local a, b
    if kind == "udp_pair" then a, b = must(fx.udp_pair()) else a, b = must(fx.socketpair("dgram")) end
    x.fd, x.peer, x.dgram, x.max_datagram = a, b, true, 0
    if f.sndbuf then must(fx.set_bufsize(a, "snd", f.sndbuf)) end
    if f.rcvbuf then must(fx.set_bufsize(b, "rcv", f.rcvbuf)) end
  elseif kind == "dev_null" then
    x.fd = must(fx.reopen("/dev/null", "rw"))
  elseif kind == "dev_zero" then
    x.fd = must(fx.reopen("/dev/zero", "r"))
  elseif kind == "proc_file" then
    x.fd = must(fx.reopen(f.path, "r"))
  elseif kind == "invalid" then
    x.fd = -1
  else
    fail("unsupported fixture kind " .. tostring(kind))
  end

  if x.peer and not x.dgram then   -- datagrams are sent by steps
    if f.data then
      local bytes = data_bytes(f.data)
      must(fx.write_all(x.peer, bytes))
      if kind == "tcp" then fx.tcp_wait_bytes(x.fd, #bytes) end
    end
    if f.eof then
      if kind == "pipe" then fx.close(x.peer); x.peer = nil
      else
        must(fx.shutdown(x.peer, "w"))
        if kind == "tcp" then fx.tcp_wait_fin(x.fd) end
      end
    end
    if f.peer_closed and x.peer then fx.close(x.peer); x.peer = nil end
    if f.reader and x.peer then
      x.reader_path = new_path() .. ".reader"
      local out = must(fx.open(x.reader_path, "w"))
      x.reader = must(fx.reader_start(x.peer, out, f.reader.reads or { 65536 }, f.reader.pause_ms or 0))
      fx.close(out)
      fx.close(x.peer)   -- the child holds it now
      x.peer = nil
    end
  end
  if f.nonblock and kind ~= "invalid" then must(fx.set_nonblock(x.fd, true)) end
end

local function fixture(c, name)
  local x = c.fixtures[name]
  if not x then fail("unknown fixture " .. tostring(name)) end
  return x
end

local function fd(c, name) return fixture(c, name).fd end

-- One whole datagram the peer receives within timeout_ms, appended to what
-- arrived; nil when none came.
local function recv_datagram(x, timeout_ms)
  local d = fx.recv_datagram(x.peer, timeout_ms)
  if d == nil then return nil end
  if #d > x.max_datagram then x.max_datagram = #d end
  x.arrived[#x.arrived + 1] = d
  return #d
end

-- Whole datagrams the peer can receive now (all, or one with once).
local function drain_datagrams(x, once)
  local total = 0
  while true do
    local n = recv_datagram(x, 0)
    if not n then break end
    total = total + n
    if once then break end
  end
  return total
end

-- ---------------------------------------------------------------------------
-- ops

local ops = {}

function ops.set(c, st)
  local name = type(st.option) == "number" and st.option or option_name[st.option]
  return as_result(c.s:set(name, mask_of(st.value)))
end

function ops.get(c, st)
  local name = type(st.option) == "number" and st.option or option_name[st.option]
  local v, msg, err = c.s:get(name)
  if type(v) == "boolean" then v = v and 1 or 0 end
  if st.option == "METHODS" and type(st.expect) == "table" and json.is_array(st.expect) then
    return v, msg, err, mask_of(st.expect)
  end
  return v, msg, err
end

function ops.open(c, st)
  return as_result(c.s:open(fd(c, st.src), fd(c, st.dst), len(st.len), offset(st.off_in), offset(st.off_out)))
end

function ops.open_tee(c, st)
  local dsts = {}
  for i, name in ipairs(st.dsts) do dsts[i] = fd(c, name) end
  return as_result(c.s:open_tee(fd(c, st.src), dsts, len(st.len), offset(st.off_in)))
end

function ops.open_buf(c, st)
  local buf, msg, err = splicer.buf(st.size)
  if not buf then return nil, msg, err end
  if st.data then
    local okw, m2, e2 = buf:write(data_bytes(st.data))
    if not okw then buf:free(); return nil, m2, e2 end
  end
  local okk, m3, e3 = c.s:open_buf(buf, fd(c, st.dst), len(st.len))
  if not okk then buf:free(); return nil, m3, e3 end
  c.last_buf = buf
  return 0
end

function ops.sealed_write(c)
  -- The Lua API never exposes the buffer's memory: a write through it after
  -- the hand-over is refused with an error instead of faulting.
  local b = c.last_buf
  if not b then fail("sealed_write: no buffer was handed over") end
  if pcall(b.write, b, "x") then fail("sealed_write: the write was accepted") end
  return "fault"
end

function ops.step(c) return c.s:step() end
function ops.run(c) return c.s:run() end
function ops.copy(c, st) return c.s:copy(fd(c, st.src), fd(c, st.dst), len(st.len)) end
function ops.abort(c) return c.s:abort() end

local function fixture_of_fd(c, n)
  for _, x in ipairs(c.order) do
    if x.fd == n then return x end
  end
end

function ops.wait(c, st)
  local n, ev, err = c.s:wait()
  local e = st.expect
  if type(e) == "string" or n == nil then
    return n, ev, err
  end
  local x = fixture_of_fd(c, n)
  local got = { fd = x and x.name or ("fd " .. n), events = ev == "r" and "POLLIN" or "POLLOUT" }
  if e and (got.fd ~= e.fd or got.events ~= e.events) then
    fail("wait: expected " .. show(e) .. ", got " .. show(got))
  end
  return NAN_OK
end

local function check_fields(what, expect, got, fields)
  for k, v in pairs(expect) do
    local g = got[fields and fields[k] or k]
    if k == "by_method" then
      for m, want in pairs(v) do
        local have = g[m]
        if not number_ok(want, have) then
          fail(what .. ".by_method." .. m .. ": expected " .. show(want) .. ", got " .. show(have))
        end
      end
    elseif type(v) == "number" or (type(v) == "table" and not json.is_array(v)) then
      if not number_ok(v, g) then fail(what .. "." .. k .. ": expected " .. show(v) .. ", got " .. show(g)) end
    elseif v ~= g then
      fail(what .. "." .. k .. ": expected " .. show(v) .. ", got " .. show(g))
    end
  end
end

function ops.progress(c, st)
  local p, msg, err = c.s:progress()
  if not p then return nil, msg, err end
  if st.expect then check_fields("progress", st.expect, p) end
  return NAN_OK
end

function ops.stats(c, st)
  local t, msg, err = c.s:stats()
  if not t then return nil, msg, err end
  if st.expect then check_fields("stats", st.expect, t, { by_method = "bytes_by_method" }) end
  return NAN_OK
end

function ops.method_for(c, st)
  local m, msg, err = splicer.method_for(fd(c, st.src), fd(c, st.dst))
  local e = st.expect
  if e == nil then return NAN_OK end
  if method_number[e] then
    if m ~= e then fail("method_for: expected " .. e .. ", got " .. tostring(m or err)) end
  elseif m ~= nil or err ~= e then
    fail("method_for: expected " .. e .. ", got " .. tostring(m or err))
  end
  return NAN_OK
end

function ops.pump(c, st)
  local reads = st.reads or { 65536 }
  local total, eagains, k = 0, 0, 0
  local result, rmsg, rerr
  local done = false
  for _ = 1, 100000 do
    local r, msg, err = c.s:step()
    if r and r > 0 then
      total = total + r
    elseif r == 0 then
      result = total; done = true; break
    elseif err ~= "EAGAIN" then
      result, rmsg, rerr = nil, msg, err; done = true; break
    else
      eagains = eagains + 1
      local wfd, ev, werr = c.s:wait()
      if not wfd then fail("pump: wait failed: " .. tostring(werr)) end
      local x = fixture_of_fd(c, wfd)
      if ev == "w" and x and x.peer then
        local n
        if x.dgram then
          n = drain_datagrams(x, true)
        else
          local got = fx.read_now(x.peer, reads[k % #reads + 1])
          x.arrived[#x.arrived + 1] = got
          n = #got
        end
        k = k + 1
        -- a stack that moves data on a timer (TCP acks) catches up
        if n == 0 then fx.poll(x.peer, "r", 10) end
      elseif ev == "w" and x and x.reader then
        fx.poll(wfd, "w", 1000)   -- its concurrent reader makes room
      else
        fail("pump: source not readable")
      end
    end
  end
  if not done then fail("pump: 100000 steps without finishing") end
  check_result("pump", st.expect, result, rmsg, rerr)
  if st.eagain ~= nil and not number_ok(st.eagain, eagains) then
    fail("pump: expected eagain " .. show(st.eagain) .. ", got " .. eagains)
  end
  return NAN_OK
end

function ops.drain(c, st)
  local x = fixture(c, st.fixture)
  if not x.peer then fail("drain: " .. st.fixture .. " has no peer") end
  if x.dgram then return drain_datagrams(x, false) end
  local got = fx.read_now(x.peer, st.max or 1e15)
  x.arrived[#x.arrived + 1] = got
  return #got
end

function ops.write_peer(c, st)
  local x = fixture(c, st.fixture)
  if not x.peer then fail("write_peer: " .. st.fixture .. " has no peer") end
  local bytes = data_bytes(st.data)
  local before = x.kind == "tcp" and fx.tcp_queued(x.fd) or -1
  local n, msg, name = fx.write_all(x.peer, bytes)
  if n and before >= 0 then fx.tcp_wait_bytes(x.fd, before + #bytes) end
  return n, msg, name
end

function ops.close_peer(c, st)
  local x = fixture(c, st.fixture)
  if x.peer then fx.close(x.peer); x.peer = nil end
  return 0
end

function ops.send_datagram(c, st)
  local x = fixture(c, st.fixture)
  if not x.dgram then fail("send_datagram: " .. st.fixture .. " is not a datagram fixture") end
  local n, msg, err = fx.send_datagram(x.peer, data_bytes(st.data))
  if not n then fail("send_datagram: " .. tostring(msg) .. " (" .. tostring(err) .. ")") end
  return n
end

function ops.use_session(c, st)
  if type(st.name) ~= "string" then fail("use_session: name is required") end
  for _, e in ipairs(c.sessions) do
    if e.name == st.name then c.s = e.s; return 0 end
  end
  local s, msg, err = splicer.session()
  if not s then fail("use_session: " .. tostring(msg) .. " (" .. tostring(err) .. ")") end
  c.sessions[#c.sessions + 1] = { name = st.name, s = s }
  c.s = s
  return 0
end

function ops.keep(c, st)
  local kind = st.kind
  if kind == nil then kind = "unknown" end
  local known = { unknown = true, stream = true, dgram = true, seqpacket = true, pipe = true }
  if not (type(kind) == "number" or known[kind]) then fail("bad kind") end
  return as_result(c.s:keep(fd(c, st.fixture), kind, st.nonblock == true))
end

function ops.forget(c, st)
  if st.all == true then return as_result(c.s:forget_all()) end
  return as_result(c.s:forget(fd(c, st.fixture)))
end

function ops.pool_set(c, st) return as_result(splicer.pool.set(pool_option(st.option), st.value)) end
function ops.pool_get(c, st) return splicer.pool.get(pool_option(st.option)) end
function ops.pool_trim() return splicer.pool.trim() end

-- counters since the case began; gauges as they are now
local pool_gauge = { in_use = true, idle = true, peak_in_use = true }
function ops.pool_stats(c, st)
  local now, msg, err = splicer.pool.stats()
  if not now then return nil, msg, err end
  local got = {}
  for k, v in pairs(now) do got[k] = pool_gauge[k] and v or v - c.pool_start[k] end
  for k in pairs(st.expect or {}) do
    if got[k] == nil then fail("pool_stats: unknown field " .. tostring(k)) end
  end
  if st.expect then check_fields("pool_stats", st.expect, got) end
  return NAN_OK
end

function ops.position(c, st) return fx.lseek(fd(c, st.fixture), 0, "cur") end

function ops.raw_splice(c, st)
  return splicer.splice(fd(c, st.src), offset(st.off_in), fd(c, st.dst), offset(st.off_out), len(st.len), flags(st.flags))
end

function ops.raw_tee(c, st)
  return splicer.tee(fd(c, st.src), fd(c, st.dst), len(st.len), flags(st.flags))
end

function ops.raw_vmsplice(c, st)
  local data = data_bytes(st.data)
  local n = st.iovecs or 1
  local pieces, pos = {}, 1
  local base, extra = math.floor(#data / math.max(n, 1)), #data % math.max(n, 1)
  for i = 1, n do
    local size = base + (i <= extra and 1 or 0)
    pieces[i] = data:sub(pos, pos + size - 1)
    pos = pos + size
  end
  c.keep[#c.keep + 1] = pieces   -- the pipe refers to these until the case ends
  return splicer.vmsplice(fd(c, st.dst), pieces, flags(st.flags))
end

function ops.raw_sendfile(c, st)
  return splicer.sendfile(fd(c, st.dst), fd(c, st.src), offset(st.off_in), len(st.len))
end

function ops.raw_copy_file_range(c, st)
  return splicer.copy_file_range(fd(c, st.src), offset(st.off_in), fd(c, st.dst), offset(st.off_out), len(st.len))
end

function ops.pipe_size(c, st) return splicer.pipe_size(fd(c, st.fixture)) end
function ops.set_pipe_size(c, st) return splicer.set_pipe_size(fd(c, st.fixture), st.size) end

-- ---------------------------------------------------------------------------
-- one case

local function finish(c)
  -- main first, then the others in the order use_session made them
  for _, e in ipairs(c.sessions) do e.s:close() end
  local contents = {}
  local wanted = {}
  for _, a in ipairs(c.case.arrived or {}) do wanted[a.fixture] = true end
  -- file content first, while the fds are open
  for _, x in ipairs(c.order) do
    if wanted[x.name] and (x.kind == "file" or x.kind == "memfd") then
      if x.kind == "memfd" or x.mode ~= "w" then
        contents[x.name] = fx.pread_all(x.fd)
      else
        local h = io.open(x.path, "rb")
        contents[x.name] = h and h:read("*a")
        if h then h:close() end
      end
    end
  end
  -- close the fds the case used and the peers the runner writes with
  for _, x in ipairs(c.order) do
    if x.fd and x.fd >= 0 then fx.close(x.fd); x.fd = nil end
    if x.peer and x.peer_writes then fx.close(x.peer); x.peer = nil end
  end
  -- collect what reached the peers
  for _, x in ipairs(c.order) do
    if x.reader then
      fx.reader_join(x.reader)
      local h = io.open(x.reader_path, "rb")
      x.arrived[#x.arrived + 1] = h and h:read("*a") or ""
      if h then h:close() end
      os.remove(x.reader_path)
    elseif x.peer and x.dgram then
      -- no end of file: until nothing arrives for 50 ms
      while recv_datagram(x, 50) do end
    elseif x.peer and wanted[x.name] then
      while true do
        local s = fx.read(x.peer, 1048576)
        if not s or s == "" then break end
        x.arrived[#x.arrived + 1] = s
      end
    end
    if contents[x.name] == nil and (x.kind == "pipe" or x.kind == "socketpair" or x.kind == "tcp" or x.dgram) then
      contents[x.name] = table.concat(x.arrived)
    end
  end
  for _, x in ipairs(c.order) do
    if x.peer then fx.close(x.peer); x.peer = nil end
    if x.path and not x.shares_file then os.remove(x.path) end
    if x.mount then fx.umount(x.mount); os.remove(x.mount) end
  end
  return contents
end

-- The pool's options as the runner found them: every case starts from them.
local pool_defaults = {}
for _, name in ipairs { "max_pipes", "max_idle", "pipe_size" } do
  pool_defaults[name] = assert(splicer.pool.get(name))
end

local function pool_reset(c)
  for name, v in pairs(pool_defaults) do assert(splicer.pool.set(name, v)) end
  splicer.pool.trim()
  c.pool_start = assert(splicer.pool.stats())
end

local function run_case(case)
  if case.skip then return "SKIP", case.skip end
  local c = { case = case, fixtures = {}, order = {}, keep = {}, sessions = {} }
  local okk, err = pcall(function()
    pool_reset(c)
    c.s = assert(splicer.session())
    c.sessions[1] = { name = "main", s = c.s }
    for _, f in ipairs(case.fixtures) do setup_fixture(c, f) end
    for i, st in ipairs(case.steps) do
      local op = ops[st.op]
      if not op then fail("unsupported op " .. tostring(st.op)) end
      local v, msg, err, expect_override = op(c, st)
      if v ~= NAN_OK and v ~= "fault" then
        check_result(("step %d (%s)"):format(i - 1, st.op), expect_override or st.expect, v, msg, err)
      end
    end
  end)
  local finished_ok, contents = pcall(finish, c)
  if not okk then
    if getmetatable(err) == Skip then return "SKIP", err.reason end
    if getmetatable(err) == Fail then return "FAIL", err.detail end
    return "FAIL", "runner error: " .. tostring(err)
  end
  if not finished_ok then return "FAIL", "finish: " .. tostring(contents) end
  for _, a in ipairs(case.arrived or {}) do
    local got = contents[a.fixture]
    if got == nil then return "FAIL", "arrived: nothing collected for " .. a.fixture end
    local x = c.fixtures[a.fixture]
    if a.max_datagram and x and x.max_datagram and x.max_datagram > a.max_datagram then
      return "FAIL", ("arrived %s: a datagram of %d bytes, more than %d"):format(a.fixture, x.max_datagram, a.max_datagram)
    end
    local h = fx.fnv1a64(got)
    if #got ~= a.size or h ~= a.hash then
      return "FAIL", ("arrived %s: expected %d bytes %s, got %d bytes %s"):format(a.fixture, a.size, a.hash, #got, h)
    end
  end
  return "PASS"
end

-- ---------------------------------------------------------------------------
-- main

local tmp = os.getenv("TMPDIR")
if not tmp or tmp == "" then tmp = "/tmp" end
rundir = assert(fx.mkdtemp(tmp .. "/splicer-lua-conformance.XXXXXX"))

local P, F, S = 0, 0, 0
local status = 0
for _, file in ipairs(case_files()) do
  local h = io.open(file, "rb")
  local text = h and h:read("*a")
  if h then h:close() end
  local okk, doc = pcall(json.decode, text or "")
  if not text or not okk or type(doc) ~= "table" or type(doc.cases) ~= "table" then
    io.stderr:write(file, ": ", tostring(text and doc or "cannot read"), "\n")
    status = 2
  else
    for _, case in ipairs(doc.cases) do
      if not filter or case.id:find(filter, 1, true) then
        local verdict, detail = run_case(case)
        if verdict == "PASS" then
          P = P + 1
          print(case.id .. " PASS")
        elseif verdict == "SKIP" then
          S = S + 1
          print(case.id .. " SKIP " .. detail)
        else
          F = F + 1
          if not verbose and #detail > 300 then detail = detail:sub(1, 300) .. "..." end
          print(case.id .. " FAIL " .. detail)
        end
        collectgarbage()
      end
    end
  end
end
os.execute('rm -rf "' .. rundir .. '"')
print(("%d passed, %d failed, %d skipped"):format(P, F, S))
if status == 0 and F > 0 then status = 1 end
os.exit(status)
