-- lazy_files: an open that leaves a regular file's access mode to the
-- kernel's first syscall.  splicer.copy uses it; what it returns, and what it
-- leaves untouched, is what an eager open gives.
local splicer = require "splicer"
local fx = require "splicer_testfx"

local PAYLOAD = fx.pattern(7, 0, 10000)

local function write_file(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

test("lazy_files: off by default, a boolean", function()
  local s = assert(splicer.session())
  eq(s:get("lazy_files"), false)
  eq(s:set("lazy_files", true), true)
  eq(s:get("lazy_files"), true)
  eq(s:get(splicer.OPT_LAZY_FILES), 1)
  for _, bad in ipairs { 2, -1 } do
    local v, msg, name = s:set("lazy_files", bad)
    eq(v, nil, tostring(bad)); eq(name, "EINVAL", tostring(bad)); eq(type(msg), "string")
  end
  eq(s:get("lazy_files"), true, "a refused value changes nothing")
  eq(s:set("lazy_files", 0), true)
  eq(s:get("lazy_files"), false)
  s:close()
  s = assert(splicer.session { lazy_files = true })
  eq(s:get("lazy_files"), true)
  s:close()
end)

-- Ends an eager open refuses.  Each case makes its ends under dir and
-- returns src and dst; it adds to checks what tells that nothing moved, and
-- to owned the fds to close (or functions that close).
local function file_fd(path, mode, body, checks, owned)
  write_file(path, body)
  local fd = assert(fx.reopen(path, mode))
  owned[#owned + 1] = fd
  checks[#checks + 1] = function()
    eq(fx.lseek(fd, 0, "cur"), 0, path .. "'s position")
    ok(slurp(path) == body, path .. "'s bytes")
  end
  return fd
end

local function io_file(path, mode, body, checks, owned)
  write_file(path, body)
  local f = assert(io.open(path, mode))
  owned[#owned + 1] = function() f:close() end
  checks[#checks + 1] = function()
    eq(f:seek("cur"), #body * (mode:sub(1, 1) == "a" and 1 or 0), path .. "'s position")
    ok(slurp(path) == body, path .. "'s bytes")
  end
  return f
end

local function nothing_readable(fd)
  return function() eq(fx.read_now(fd, 1), "", "nothing reached the reader") end
end

-- A write-only file to the second of the two ends pair() makes (a pipe's
-- read and write ends, or a socket pair's): nothing may reach the first.
local function file_to_pair(pair)
  return function(dir, checks, owned)
    local reader, writer = assert(pair())
    owned[#owned + 1] = reader; owned[#owned + 1] = writer
    checks[#checks + 1] = nothing_readable(reader)
    return file_fd(dir .. "/src", "w", PAYLOAD, checks, owned), writer
  end
end

local cases = {
  { "file write-only to file", function(dir, checks, owned)
    return file_fd(dir .. "/src", "w", PAYLOAD, checks, owned),
      file_fd(dir .. "/dst", "w", "before", checks, owned)
  end },
  { "file to read-only file", function(dir, checks, owned)
    return file_fd(dir .. "/src", "r", PAYLOAD, checks, owned),
      file_fd(dir .. "/dst", "r", "before", checks, owned)
  end },
  { "io files: append-only source, read-only destination", function(dir, checks, owned)
    -- io.open's "ab" is the io library's only write-only mode that keeps
    -- the bytes; "rb" is read-only
    return io_file(dir .. "/src", "ab", PAYLOAD, checks, owned),
      io_file(dir .. "/dst", "rb", "before", checks, owned)
  end },
  { "file write-only to /dev/null", function(dir, checks, owned)
    local null = assert(fx.open("/dev/null", "w"))
    owned[#owned + 1] = null
    return file_fd(dir .. "/src", "w", PAYLOAD, checks, owned), null
  end },
  { "file write-only to pipe", file_to_pair(fx.pipe) },
  { "file write-only to socket", file_to_pair(fx.socketpair) },
  { "pipe to read-only file", function(dir, checks, owned)
    local r, w = assert(fx.pipe())
    owned[#owned + 1] = r; owned[#owned + 1] = w
    assert(fx.write_all(w, PAYLOAD))
    checks[#checks + 1] = function()
      ok(fx.read_now(r, #PAYLOAD + 1) == PAYLOAD, "the pipe's bytes are still there")
      assert(fx.write_all(w, PAYLOAD))  -- for a later check
    end
    return r, file_fd(dir .. "/dst", "r", "before", checks, owned)
  end },
}

-- Runs fn(src, dst) on the case's ends, made afresh; then checks that
-- nothing moved.  Returns what fn returned (at most three values).
local function on_ends(make, fn)
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-lazy.XXXXXX"))
  local checks, owned = {}, {}
  local src, dst = make(dir, checks, owned)
  local a, b, c = fn(src, dst)
  for _, check in ipairs(checks) do check() end
  for _, x in ipairs(owned) do
    if type(x) == "function" then x() else fx.close(x) end
  end
  for _, name in ipairs { "src", "dst" } do os.remove(dir .. "/" .. name) end
  os.remove(dir)
  return a, b, c
end

for _, case in ipairs(cases) do
  local name, make = case[1], case[2]
  test("splicer.copy returns what an eager open gives: " .. name, function()
    local eager = assert(splicer.session())
    eq(eager:get("lazy_files"), false)
    local v, msg, err = on_ends(make, function(src, dst) return eager:copy(src, dst) end)
    eager:close()
    eq(v, nil); eq(err, "EBADF"); eq(msg, splicer.strerror(-9))

    local lv, lmsg, lerr = on_ends(make, splicer.copy)
    eq(lv, v); eq(lmsg, msg); eq(lerr, err)

    -- the shared session is left ready for the next copy
    local dir = assert(fx.mkdtemp("/tmp/splicer-lua-lazy.XXXXXX"))
    write_file(dir .. "/good", PAYLOAD)
    local f, g = assert(io.open(dir .. "/good", "rb")), assert(io.open(dir .. "/copy", "wb"))
    eq(splicer.copy(f, g), #PAYLOAD)
    f:close(); g:close()
    ok(slurp(dir .. "/copy") == PAYLOAD, "the next copy's bytes")
    os.remove(dir .. "/good"); os.remove(dir .. "/copy"); os.remove(dir)
  end)
end

test("lazy open: the first step is EBADF, nothing moved, the transfer ended", function()
  local make = cases[2][2]  -- a destination open for reading only
  on_ends(make, function(src, dst)
    local s = assert(splicer.session { lazy_files = true })
    eq(s:open(src, dst), true)
    local v, msg, err = s:step()
    eq(v, nil); eq(err, "EBADF"); eq(type(msg), "string")
    -- as a refused open leaves it: no transfer, nothing to step
    local p = s:progress()
    eq(p.consumed, 0); eq(p.delivered, 0); eq(p.pending, 0); eq(p.finished, false)
    eq(p.method, "none")
    eq(s:stats().bytes, 0)
    eq(s:step(), 0)
    eq(s:run(), 0)
    -- copy (open and run in one call) gives what the eager open gives
    v, _, err = s:copy(src, dst)
    eq(v, nil); eq(err, "EBADF")
    s:close()
    local eager = assert(splicer.session())
    v, _, err = eager:open(src, dst)
    eq(v, nil); eq(err, "EBADF")
    eager:close()
  end)
end)

test("lazy session: good files copy, an O_APPEND destination falls back", function()
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-lazy.XXXXXX"))
  write_file(dir .. "/src", PAYLOAD)
  write_file(dir .. "/app", "head")
  local s = assert(splicer.session { lazy_files = true })
  local f, g = assert(io.open(dir .. "/src", "rb")), assert(io.open(dir .. "/dst", "wb"))
  eq(s:copy(f, g), #PAYLOAD)
  eq(s:progress().method, "copy_file_range")
  eq(f:seek("cur"), #PAYLOAD); eq(g:seek("cur"), #PAYLOAD)
  g:close()
  f:seek("set", 0)
  local a = assert(io.open(dir .. "/app", "ab"))
  eq(s:copy(f, a), #PAYLOAD)
  a:close(); f:close()
  s:close()
  ok(slurp(dir .. "/dst") == PAYLOAD, "dst")
  ok(slurp(dir .. "/app") == "head" .. PAYLOAD, "app")
  for _, name in ipairs { "src", "dst", "app" } do os.remove(dir .. "/" .. name) end
  os.remove(dir)
end)

test("lazy open: an O_APPEND destination without fallback fails the step, its method kept", function()
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-lazy.XXXXXX"))
  write_file(dir .. "/src", PAYLOAD)
  write_file(dir .. "/app", "head")
  local f, a = assert(io.open(dir .. "/src", "rb")), assert(io.open(dir .. "/app", "ab"))
  local s = assert(splicer.session { lazy_files = true, fallback = false })
  eq(s:open(f, a), true)
  local v, _, err = s:step()
  eq(v, nil); eq(err, "EBADF")
  local p = s:progress()
  eq(p.consumed, 0); eq(p.method, "copy_file_range"); eq(p.finished, false)
  v, _, err = s:step()
  eq(v, nil); eq(err, "EBADF")
  s:close(); a:close(); f:close()
  ok(slurp(dir .. "/app") == "head", "app")
  for _, name in ipairs { "src", "app" } do os.remove(dir .. "/" .. name) end
  os.remove(dir)
end)

test("splicer.copy's shared session has lazy_files on", function()
  local dir = assert(fx.mkdtemp("/tmp/splicer-lua-lazy.XXXXXX"))
  write_file(dir .. "/src", "x")
  local f, g = assert(io.open(dir .. "/src", "rb")), assert(io.open(dir .. "/dst", "wb"))
  eq(splicer.copy(f, g), 1)  -- the shared session exists from here on
  f:close(); g:close()
  os.remove(dir .. "/src"); os.remove(dir .. "/dst"); os.remove(dir)
  local shared
  for i = 1, math.huge do
    local name, value = debug.getupvalue(splicer.copy, i)
    if not name then break end
    if name == "shared" then shared = value end
  end
  ok(shared, "splicer.copy's session")
  eq(shared:get("lazy_files"), true)
end)
