-- cat.lua: concatenate files (or standard input) to standard output without
-- copying the bytes through Lua.   lua cat.lua [FILE...]
local splicer = require "splicer"

local s = assert(splicer.session())
local status = 0
local names = #arg > 0 and arg or { "-" }
for _, name in ipairs(names) do
  local f, err = name == "-" and io.stdin or io.open(name, "rb")
  if not f then
    io.stderr:write("cat.lua: ", err, "\n")
    status = 1
  else
    local n, msg = s:copy(f, io.stdout)
    if not n then
      io.stderr:write("cat.lua: ", name, ": ", msg, "\n")
      s:abort()
      status = 1
    end
    if f ~= io.stdin then f:close() end
  end
end
s:close()
os.exit(status)
