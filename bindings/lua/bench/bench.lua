-- bench.lua -- the Lua side of the overhead benchmark (see bench_c.c): the
-- same loops through require "splicer".
--   lua bench.lua MODE FILE CHUNK CALLS   ->   "<cpu seconds> <bytes>"
local splicer = require "splicer"
local mode, path, chunk, calls = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
-- plain numeric fds, as a loop that cares about speed would hold them
-- (an io file is flushed and looked up on every call)
local fx = require "splicer_testfx"
local ffd = assert(fx.reopen(path, "r"))
local nfd = assert(fx.reopen("/dev/null", "w"))
local size = fx.fstat(ffd)
size = size - size % chunk
local bytes = 0
local t0
if mode == "sendfile" then
  local sendfile = splicer.sendfile
  local off = 0
  t0 = os.clock()
  for _ = 1, calls do
    local n = sendfile(nfd, ffd, off, chunk)
    if not n then error("sendfile failed") end
    bytes = bytes + n
    off = off + n
    if off >= size then off = 0 end
  end
else
  local s = assert(splicer.session { chunk = chunk })
  local i = 0
  t0 = os.clock()
  while i < calls do
    assert(s:open(ffd, nfd, size, 0))
    while i < calls do
      local n, msg = s:step()
      if not n then error(msg) end
      if n == 0 then break end
      bytes = bytes + n
      i = i + 1
    end
  end
  s:close()
end
print(("%.6f %d"):format(os.clock() - t0, bytes))
