-- The raw syscall wrappers and the generated layer's conventions.
local splicer = require "splicer"
local core = require "splicer.core"
local fx = require "splicer_testfx"

local function tmpfile(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(content or "")
  f:close()
  return path
end

test("splice: pipe -> file and file -> pipe, offsets by value", function()
  local r, w = assert(fx.pipe())
  local path = tmpfile("0123456789")
  local f = assert(fx.open(path, "r+"))
  local n = assert(splicer.splice(f, 2, w, nil, 5))
  is_count(n)
  eq(n, 5)
  eq(fx.lseek(f, 0, "cur"), 0, "position untouched by an explicit offset")
  eq(splicer.splice(f, nil, w, nil, 3, splicer.F_MORE), 3)
  eq(fx.lseek(f, 0, "cur"), 3, "OFF_CUR advances the position")
  eq(fx.read(r, 100), "23456012")
  eq(fx.write(w, "abc"), 3)
  eq(splicer.splice(r, nil, f, 7, 3), 3)
  fx.close(f); fx.close(r); fx.close(w)
  local g = io.open(path, "rb"); eq(g:read("*a"), "0123456abc"); g:close()
  os.remove(path)
end)

test("splice errors: nil, message, errno name", function()
  local a, b = tmpfile("x"), tmpfile("")
  local fa, fb = fx.open(a, "r"), fx.open(b, "w")
  local n, msg, name = splicer.splice(fa, nil, fb, nil, 1)
  eq(n, nil); eq(name, "EINVAL"); eq(type(msg), "string")
  n, msg, name = splicer.splice(-1, nil, fb, nil, 1)
  eq(n, nil); eq(name, "EBADF"); eq(msg, "Bad file descriptor")
  local r, w = fx.pipe()
  n, msg, name = splicer.splice(r, 0, fb, nil, 1)
  eq(name, "ESPIPE")
  eq(splicer.errname(-11), "EAGAIN")
  eq(splicer.strerror(-32), "Broken pipe")
  for _, fd in ipairs { fa, fb, r, w } do fx.close(fd) end
  os.remove(a); os.remove(b)
end)

test("tee duplicates without consuming", function()
  local r1, w1 = fx.pipe()
  local r2, w2 = fx.pipe()
  fx.write(w1, "shared bytes")
  eq(splicer.tee(r1, w2, 100), 12)
  eq(fx.read(r2, 100), "shared bytes")
  eq(fx.read(r1, 100), "shared bytes")
  fx.set_nonblock(r1, true)
  local n, _, name = splicer.tee(r1, w2, 100, splicer.F_NONBLOCK)
  eq(n, nil); eq(name, "EAGAIN")
  for _, fd in ipairs { r1, w1, r2, w2 } do fx.close(fd) end
end)

test("vmsplice: a string or a list of strings", function()
  local r, w = fx.pipe()
  local keep = { "alpha ", "beta ", "gamma" }   -- referenced until read
  eq(splicer.vmsplice(w, keep), 16)
  local one = "one more"
  eq(splicer.vmsplice(w, one, 0), 8)
  eq(fx.read(r, 100), "alpha beta gammaone more")
  local n, _, name = splicer.vmsplice(r, "x")
  eq(n, nil); eq(name, "EBADF")
  fails(function() splicer.vmsplice(w, { 1 }) end, "strings expected")
  fx.close(r); fx.close(w)
end)

test("sendfile and copy_file_range", function()
  local path, out = tmpfile("sendfile data"), os.tmpname()
  local f, o = fx.open(path, "r"), fx.open(out, "w")
  local r, w = fx.pipe()
  eq(splicer.sendfile(w, f, 9, 100), 4)
  eq(fx.read(r, 10), "data")
  eq(fx.lseek(f, 0, "cur"), 0)
  eq(splicer.copy_file_range(f, nil, o, nil, 8), 8)
  eq(splicer.copy_file_range(f, nil, o, nil, 100), 5)
  eq(splicer.copy_file_range(f, nil, o, nil, 100), 0, "end of input")
  for _, fd in ipairs { f, o, r, w } do fx.close(fd) end
  local g = io.open(out, "rb"); eq(g:read("*a"), "sendfile data"); g:close()
  os.remove(path); os.remove(out)
end)

test("pipe_size and set_pipe_size", function()
  local r, w = fx.pipe()
  local n = assert(splicer.pipe_size(r))
  is_count(n)
  ok(n >= 4096)
  local got = assert(splicer.set_pipe_size(w, 131072))
  ok(got >= 131072)
  eq(splicer.pipe_size(r), got)
  local f = io.open("/dev/null", "rb")
  local none, _, name = splicer.pipe_size(f)
  eq(none, nil); eq(name, "EBADF")
  f:close()
  fx.close(r); fx.close(w)
end)

test("generated layer mirrors the header", function()
  for _, fname in ipairs { "session_new", "session_free", "session_set", "session_get", "open",
                           "open_tee", "step", "run", "wait", "abort", "copy", "progress_get",
                           "method_name", "method_for", "stats_get", "buf_new", "buf_size",
                           "buf_free", "open_buf", "splice", "tee", "vmsplice", "sendfile",
                           "copy_file_range", "pipe_size", "set_pipe_size", "strerror",
                           "errname", "version_number", "version_string" } do
    eq(type(core[fname]), "function", fname)
  end
  eq(core.buf_data, nil, "raw addresses are not exposed")
  local s = core.session_new()
  eq(core.session_get(s, core.OPT_PIPE_SIZE), 262144)
  eq(core.session_set(s, core.OPT_CHUNK, 4096), 0)
  core.session_free(s)
  -- freed: the userdata no longer lends its address (using it is an error),
  -- and the collector will not free it a second time
  fails(function() core.step(s) end, "closed session")
  fails(function() core.session_free(s) end, "closed session")
  local n, _, name = core.step(nil)
  eq(n, nil); eq(name, "EINVAL")
  s = nil
  collectgarbage()
end)

test("lengths: nil, -1 and math.huge mean to end of file", function()
  local data = string.rep("z", 3000)
  local path = tmpfile(data)
  for _, len in ipairs { -1, math.huge, false } do
    local s = splicer.session()
    local f = io.open(path, "rb")
    local o = io.open("/dev/null", "wb")
    eq(s:copy(f, o, len or nil), 3000)
    f:close(); o:close(); s:close()
  end
  os.remove(path)
end)
