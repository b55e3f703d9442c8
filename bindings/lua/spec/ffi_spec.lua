-- The raw calls through LuaJIT's FFI (splicer.lua): for every argument the
-- FFI path takes, and for every one it hands to the generated function, the
-- answer -- results, errors and what happened to the fds -- is the one the
-- generated function gives.  On the other interpreters splicer.sendfile is
-- core.sendfile, and these cases pin the generated layer's answers.
local splicer = require "splicer"
local core = require "splicer.core"
local fx = require "splicer_testfx"

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack
local has_ffi, ffi = pcall(require, "ffi")
if not (jit and has_ffi) then has_ffi, ffi = false, nil end

local RAW = { "splice", "tee", "vmsplice", "sendfile", "copy_file_range", "pipe_size", "set_pipe_size" }
local SOURCE = "0123456789"

-- Fresh fds for one call: src, a file holding SOURCE (and io_src, an io file
-- on it); dst, an empty file; null, /dev/null (and io_null, obj with a
-- getfd()); r/w, a pipe holding "abcdef"; er/ew, an empty pipe, its read
-- end nonblocking; closed, an fd number that is not open.
local function world()
  local w = { paths = { os.tmpname(), os.tmpname() } }
  local f = assert(io.open(w.paths[1], "wb")); f:write(SOURCE); f:close()
  w.src = assert(fx.open(w.paths[1], "r+"))
  w.dst = assert(fx.open(w.paths[2], "rw"))
  w.null = assert(fx.open("/dev/null", "w"))
  w.r, w.w = assert(fx.pipe())
  assert(fx.write(w.w, "abcdef"))
  fx.set_nonblock(w.r, true)
  w.er, w.ew = assert(fx.pipe())
  fx.set_nonblock(w.er, true)
  w.io_src = assert(io.open(w.paths[1], "rb"))
  w.io_null = assert(io.open("/dev/null", "wb"))
  w.obj = { getfd = function() return w.null end }
  w.closed = assert(fx.open("/dev/null", "r"))
  fx.close(w.closed)
  return w
end

-- What a call left behind: the source's position, the destination file and
-- what each pipe holds (read now, so the world is spent), its capacity.
local function aftermath(w)
  local seen = ("pos %d | dst %q | pipe %q (%d) | empty pipe %q"):format(
    fx.lseek(w.src, 0, "cur"), fx.pread_all(w.dst), fx.read_now(w.r, 1000),
    core.pipe_size(w.r), fx.read_now(w.er, 1000))
  w.io_src:close(); w.io_null:close()
  for _, fd in ipairs { w.src, w.dst, w.null, w.r, w.w, w.er, w.ew } do fx.close(fd) end
  os.remove(w.paths[1]); os.remove(w.paths[2])
  return seen
end

-- The values, so that 4 and 4.0 (5.3+), or a number and an int64 cdata
-- (LuaJIT), do not pass for the same.
local function describe(r)
  local out = {}
  for i = 1, r.n do
    local v, t = r[i], type(r[i])
    if t == "string" then
      out[i] = ("%q"):format(v)
    elseif t == "number" and math.type and math.type(v) == "float" then
      out[i] = "float " .. tostring(v)
    elseif t == "number" or t == "boolean" or t == "nil" then
      out[i] = tostring(v)
    else
      out[i] = t .. " " .. tostring(v)
    end
  end
  return "(" .. table.concat(out, ", ") .. ")"
end

-- Two call shapes: straight from pcall, and from a Lua function, where a
-- raised error names the function and the line that called it.
local function call_direct(f, args) return pack(pcall(f, unpack(args, 1, args.n))) end
local function call_from_lua(f, args)
  return pack(pcall(function() local r = pack(f(unpack(args, 1, args.n))); return unpack(r, 1, r.n) end))
end

local function observe(f, shape, argsfn)
  local w = world()
  local r = shape(f, pack(argsfn(w)))
  return describe(r) .. " " .. aftermath(w)
end

-- agree(name, argsfn, expect): splicer[name] and core[name] called with
-- argsfn(world) in both shapes answer alike, and their answer contains the
-- plain text expect.
local function agree(name, argsfn, expect)
  for _, shape in ipairs { call_direct, call_from_lua } do
    local got = observe(splicer[name], shape, argsfn)
    eq(got, observe(core[name], shape, argsfn), name)
    if expect and not got:find(expect, 1, true) then
      error(name .. ": expected " .. expect .. " in " .. got, 2)
    end
  end
end

local huge, nan = math.huge, 0 / 0
local BAD_FD = "file descriptor expected"
local NOT_INT = "number has no integer representation"
local RANGE = "integer out of range"

test("on LuaJIT with the JIT compiler on, the raw calls go through the FFI", function()
  if not (has_ffi and jit.status()) then skip("needs LuaJIT with the FFI and the JIT compiler on") end
  for _, name in ipairs(RAW) do
    ok(splicer[name] ~= core[name], name)
  end
end)

test("sendfile: success, offsets, lengths nil / -1 / math.huge / left out", function()
  agree("sendfile", function(w) return w.null, w.src, 0, 4 end, "(true, 4) pos 0")
  agree("sendfile", function(w) return w.null, w.src, nil, 4 end, "(true, 4) pos 4")
  agree("sendfile", function(w) return w.null, w.src, 2 end, "(true, 8)")
  agree("sendfile", function(w) return w.null, w.src, 2, nil end, "(true, 8)")
  agree("sendfile", function(w) return w.null, w.src, 2, -1 end, "(true, 8)")
  agree("sendfile", function(w) return w.null, w.src, 2, huge end, "(true, 8)")
  agree("sendfile", function(w) return w.null, w.src, nil, nil end, "(true, 10) pos 10")
  agree("sendfile", function(w) return w.null, w.src, 0, 0 end, "(true, 0)")
  agree("sendfile", function(w) return w.null, w.src, 2 ^ 62, 1 end)
  agree("sendfile", function(w) return w.null, w.src, 0, 2 ^ 62 end, "(true, 10)")
  agree("sendfile", function(w) return w.ew, w.src, 3, 4 end, "empty pipe \"3456\"")
  agree("sendfile", function(w) return w.null, w.src, "2", "4" end, "(true, 4)")
end)

test("sendfile: whole floats are accepted, others rejected alike", function()
  agree("sendfile", function(w) return w.null + 0.0, w.src + 0.0, 2.0, 4.0 end, "(true, 4)")
  agree("sendfile", function(w) return w.null, w.src, 2.5, 4 end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 0, 4.5 end, NOT_INT)
  agree("sendfile", function(w) return w.null + 0.5, w.src, 0, 4 end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, nan, 1 end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 0, nan end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 0, -huge end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 2 ^ 63, 1 end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 0, 2 ^ 63 end, NOT_INT)
  agree("sendfile", function(w) return w.null, w.src, 0, -2 end, "length must be >= 0")
end)

test("sendfile: every errno as the generated function", function()
  agree("sendfile", function(w) return w.null, -1, 0, 1 end, "(true, nil, \"Bad file descriptor\", \"EBADF\")")
  agree("sendfile", function(w) return w.null, w.closed, 0, 1 end, "EBADF")
  agree("sendfile", function(w) return w.r, w.src, 0, 1 end, "EBADF")
  agree("sendfile", function(w) return w.null, w.src, -2, 1 end, "EINVAL")
  agree("sendfile", function(w) return w.null, w.src, -2 ^ 63, 1 end, "EINVAL")
  agree("sendfile", function(w) return w.null, w.r, 0, 1 end, "ESPIPE")
  agree("sendfile", function(w) return w.ew, w.src, nil, 1 end, "(true, 1)")
end)

test("fds out of range, of other types, and wrong argument counts", function()
  agree("sendfile", function(w) return w.null, 2 ^ 31 - 1, 0, 1 end, "EBADF")
  agree("sendfile", function(w) return w.null, -2 ^ 31, 0, 1 end, "EBADF")
  agree("sendfile", function(w) return w.null, 2 ^ 31, 0, 1 end, RANGE)
  agree("sendfile", function(w) return w.null, -2 ^ 31 - 1, 0, 1 end, RANGE)
  agree("sendfile", function(w) return 2 ^ 53, w.src, 0, 1 end, RANGE)
  agree("sendfile", function(w) return w.null, huge, 0, 1 end, NOT_INT)
  agree("sendfile", function(w) return w.null, nan, 0, 1 end, NOT_INT)
  agree("sendfile", function(w) return w.null, "3", 0, 1 end, BAD_FD)
  agree("sendfile", function(w) return w.null, true, 0, 1 end, BAD_FD)
  agree("sendfile", function(w) return w.null, nil, 0, 1 end, BAD_FD)
  agree("sendfile", function(w) return w.null, {}, 0, 1 end, "without getfd")
  agree("sendfile", function(w) return w.null, w.src end, "expected 3..4 args, got 2")
  agree("sendfile", function(w) return w.null, w.src, 0, 1, 2 end, "expected 3..4 args, got 5")
  agree("sendfile", function(w) return w.null, w.src, 0, 1, nil end, "expected 3..4 args, got 5")
  agree("pipe_size", function(w) return w.r, 1 end, "expected 1..1 args, got 2")
  agree("pipe_size", function() end, "expected 1..1 args, got 0")
end)

test("io files and objects with getfd() still work", function()
  agree("sendfile", function(w) return w.io_null, w.io_src, 0, 4 end, "(true, 4)")
  agree("sendfile", function(w) return w.obj, w.src, nil, nil end, "(true, 10)")
  agree("splice", function(w) return w.io_src, 1, w.w, nil, 2 end, "pipe \"abcdef12\"")
  agree("copy_file_range", function(w) return w.io_src, nil, w.dst, nil end, "dst \"0123456789\"")
  agree("tee", function(w) return w.r, { getfd = function() return w.ew end }, 3 end, "empty pipe \"abc\"")
  agree("pipe_size", function(w) return w.io_src end, "EBADF")
  local closed_file = function(w) local f = io.open(w.paths[1], "rb"); f:close(); return w.null, f, 0, 1 end
  agree("sendfile", closed_file, "closed file")
end)

test("splice: offsets, lengths, flags and errnos", function()
  agree("splice", function(w) return w.src, 2, w.w, nil, 5 end, "pos 0 | dst \"\" | pipe \"abcdef23456\"")
  agree("splice", function(w) return w.src, nil, w.w, nil, 3, splicer.F_MORE end, "pos 3")
  agree("splice", function(w) return w.r, nil, w.dst, 4, 2 end, "ab\" | pipe \"cdef\"")
  for _, len in ipairs { -1, huge, false } do
    agree("splice", function(w) return w.r, nil, w.dst, nil, len or nil end, "(true, 6)")
  end
  agree("splice", function(w) return w.r, nil, w.dst, nil end, "(true, 6)")
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, 4.0 end, "(true, 2)")
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, 4294967295 end, "")
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, 4.5 end, NOT_INT)
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, -1 end, "must not be negative")
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, 2 ^ 32 end, RANGE)
  agree("splice", function(w) return w.r, nil, w.dst, nil, 2, nil end, "integer expected, got nil")
  agree("splice", function(w) return w.r, 0, w.dst, nil, 1 end, "ESPIPE")
  agree("splice", function(w) return w.src, nil, w.dst, nil, 1 end, "EINVAL")
  agree("splice", function(w) return w.src, -2, w.w, nil, 1 end, "EINVAL")
  agree("splice", function(w) return -1, nil, w.w, nil, 1 end, "EBADF")
  agree("splice", function(w) return w.er, nil, w.dst, nil, 1, splicer.F_NONBLOCK end, "EAGAIN")
  agree("splice", function(w) return w.r, nil, w.dst end, "expected 4..6 args, got 3")
  agree("splice", function(w) return w.r, nil, w.dst, nil, 1, 0, 0 end, "expected 4..6 args, got 7")
end)

test("tee: lengths, flags and errnos", function()
  agree("tee", function(w) return w.r, w.ew, 4 end, "pipe \"abcdef\" (65536) | empty pipe \"abcd\"")
  for _, len in ipairs { -1, huge, false } do
    agree("tee", function(w) return w.r, w.ew, len or nil end, "(true, 6)")
  end
  agree("tee", function(w) return w.r, w.ew end, "(true, 6)")
  agree("tee", function(w) return w.r, w.ew, 2, 2.0 end, "(true, 2)")
  agree("tee", function(w) return w.r, w.ew, 2, 2.5 end, NOT_INT)
  agree("tee", function(w) return w.er, w.w, 10, splicer.F_NONBLOCK end, "EAGAIN")
  agree("tee", function(w) return w.src, w.ew, 1 end, "EINVAL")
  agree("tee", function(w) return -1, w.ew, 1 end, "EBADF")
  agree("tee", function(w) return w.r end, "expected 2..4 args, got 1")
end)

test("vmsplice: a string, a list, flags and errnos", function()
  agree("vmsplice", function(w) return w.ew, "xyz" end, "(true, 3)")
  agree("vmsplice", function(w) return w.ew, "xyz", 0 end, "empty pipe \"xyz\"")
  agree("vmsplice", function(w) return w.ew, "", 0 end, "(true, 0)")
  agree("vmsplice", function(w) return w.ew, { "a", "bc" } end, "empty pipe \"abc\"")
  agree("vmsplice", function(w) return w.er, "x" end, "EBADF")
  agree("vmsplice", function(w) return w.er, {} end, "EBADF")
  agree("vmsplice", function(w) return w.closed, "x" end, "EBADF")
  agree("vmsplice", function(w) return w.null, "x" end, "EBADF")
  agree("vmsplice", function(w) return w.ew, 5 end, "table expected")
  agree("vmsplice", function(w) return w.ew, "x", 2.5 end, NOT_INT)
  agree("vmsplice", function(w) return w.ew, "x", -1 end, "must not be negative")
  agree("vmsplice", function(w) return w.ew end, "expected 2..3 args, got 1")
end)

test("copy_file_range: offsets, lengths and errnos", function()
  agree("copy_file_range", function(w) return w.src, nil, w.dst, nil, 8 end, "pos 8 | dst \"01234567\"")
  for _, len in ipairs { -1, huge, false } do
    agree("copy_file_range", function(w) return w.src, 2, w.dst, 1, len or nil end, "23456789\" |")
  end
  agree("copy_file_range", function(w) return w.src, 2.0, w.dst, 0, 3.0 end, "(true, 3)")
  agree("copy_file_range", function(w) return w.src, 20, w.dst, nil, 5 end, "(true, 0)")
  agree("copy_file_range", function(w) return w.src, nil, w.dst, 0.5 end, NOT_INT)
  agree("copy_file_range", function(w) return w.r, nil, w.dst, nil, 1 end, "EINVAL")
  agree("copy_file_range", function(w) return w.src, -2, w.dst, nil, 1 end, "EINVAL")
  agree("copy_file_range", function(w) return w.src, nil, w.closed, nil, 1 end, "EBADF")
  agree("copy_file_range", function(w) return w.src, nil, w.dst end, "expected 4..5 args, got 3")
end)

test("pipe_size and set_pipe_size", function()
  agree("pipe_size", function(w) return w.r end, "(true, 65536)")
  agree("pipe_size", function(w) return w.src end, "EBADF")
  agree("pipe_size", function(w) return 1.5 end, NOT_INT)
  agree("set_pipe_size", function(w) return w.w, 8192 end, "(8192)")
  agree("set_pipe_size", function(w) return w.w, 4096.0 end, "(4096)")
  agree("set_pipe_size", function(w) return w.w, 0 end, "EINVAL")
  agree("set_pipe_size", function(w) return w.w, 4096.5 end, NOT_INT)
  agree("set_pipe_size", function(w) return w.w, 2 ^ 31 end, RANGE)
  agree("set_pipe_size", function(w) return w.src, 4096 end, "EBADF")
  agree("set_pipe_size", function(w) return w.w end, "expected 2..2 args, got 1")
end)

test("LuaJIT values the FFI would take otherwise (cdata) go to the generated function", function()
  if not has_ffi then skip("no LuaJIT FFI") end
  agree("sendfile", function(w) return w.null, w.src, ffi.new("int64_t", 0), 1 end, "integer expected, got cdata")
  agree("sendfile", function(w) return w.null, w.src, ffi.new("void *"), 1 end, "integer expected, got cdata")
  agree("sendfile", function(w) return w.null, w.src, 0, ffi.new("void *") end, "integer expected, got cdata")
  agree("sendfile", function(w) return w.null, w.src, 0, ffi.new("int64_t", -1) end, "integer expected, got cdata")
  agree("sendfile", function(w) return ffi.new("int", w.null), w.src, 0, 1 end, BAD_FD)
end)

-- LuaJIT compiles a loop after some 56 iterations: these run long enough
-- for the calls to be made from machine code, where the FFI converts the
-- arguments and the results its own way.
test("loops: the same answers once compiled", function()
  local w = world()
  for _, len in ipairs { -1, huge, 7, false } do
    for i = 1, 300 do
      local off = i % 10
      local n = splicer.sendfile(w.null, w.src, off, len or nil)
      if n ~= (len == 7 and math.min(7, 10 - off) or 10 - off) then
        error(("sendfile #%d, len %s: %s"):format(i, tostring(len), tostring(n)))
      end
    end
  end
  for i = 1, 300 do
    local n, msg, name = splicer.sendfile(w.null, -1, 0, 1)
    if n ~= nil or msg ~= "Bad file descriptor" or name ~= "EBADF" then error("EBADF #" .. i) end
    n, msg, name = splicer.splice(w.src, -2 - i % 3, w.w, nil, 1)
    if n ~= nil or name ~= "EINVAL" then error("EINVAL #" .. i) end
  end
  eq(fx.lseek(w.src, 0, "cur"), 0)
  local total = 0
  for _ = 1, 300 do
    total = total + splicer.sendfile(w.null, w.src, nil, 1) + splicer.sendfile(w.null, w.src, nil)
    fx.lseek(w.src, 0, "set")
  end
  eq(total, 300 * 10)
  local teed = {}
  for i = 1, 300 do
    local s = ("%03d"):format(i)
    eq(splicer.vmsplice(w.ew, s), 3)
    eq(splicer.tee(w.er, w.w, nil, splicer.F_NONBLOCK), 3)
    teed[i] = fx.read_now(w.r, 100)   -- each tee takes a slot of the pipe
    eq(splicer.splice(w.er, nil, w.dst, i * 3 - 3, 3), 3)
    eq(splicer.copy_file_range(w.dst, i * 3 - 3, w.dst, 3000 + i * 3 - 3, 3), 3)
    eq(splicer.pipe_size(w.er), splicer.pipe_size(w.ew))
  end
  local data = fx.pread_all(w.dst)
  eq(#data, 3000 + 900)
  eq(data:sub(1, 9), "001002003")
  eq(data:sub(3000 + 895, 3000 + 900), "299300")
  eq(data:sub(3001, 3000 + 900), data:sub(1, 900))
  eq(teed[1], "abcdef001")
  eq(table.concat(teed):sub(7), data:sub(1, 900))
  aftermath(w)
end)

-- Loading the module again, with the FFI or the JIT compiler unavailable:
-- the raw calls are then the generated functions themselves.
local function fresh_splicer(setup, restore)
  local saved = package.loaded.splicer
  package.loaded.splicer = nil
  setup()
  local okk, m = pcall(require, "splicer")
  restore()
  package.loaded.splicer = saved
  assert(okk, m)
  return m
end

test("a LuaJIT without the FFI, or with the JIT compiler off, uses the generated functions", function()
  if not jit then skip("LuaJIT only") end
  local loaded, preload = package.loaded.ffi, package.preload.ffi
  local m = fresh_splicer(function()
    package.loaded.ffi = nil
    package.preload.ffi = function() error("no FFI in this LuaJIT") end
  end, function()
    package.loaded.ffi, package.preload.ffi = loaded, preload
  end)
  for _, name in ipairs(RAW) do eq(m[name], core[name], name) end
  local was_on = jit.status()
  m = fresh_splicer(function() jit.off() end, function() if was_on then jit.on() end end)
  for _, name in ipairs(RAW) do eq(m[name], core[name], name) end
end)
