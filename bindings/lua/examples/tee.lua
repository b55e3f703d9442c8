-- tee.lua: copy standard input to standard output and to every FILE, like
-- tee(1), with one fan-out transfer (tee(2) when the input is a pipe).
--   lua tee.lua [-a] FILE...
local splicer = require "splicer"

local mode = "wb"
local files, dsts = {}, { io.stdout }
for _, a in ipairs(arg) do
  if a == "-a" then
    mode = "ab"
  else
    local f = assert(io.open(a, mode))
    files[#files + 1] = f
    dsts[#dsts + 1] = f
  end
end
if #dsts > splicer.TEE_MAX then
  io.stderr:write("tee.lua: at most ", splicer.TEE_MAX - 1, " files\n")
  os.exit(2)
end

local s = assert(splicer.session())
local n, msg = s:tee(io.stdin, dsts)
s:close()
for _, f in ipairs(files) do f:close() end
if not n then
  io.stderr:write("tee.lua: ", msg, "\n")
  os.exit(1)
end
io.stderr:write(("tee.lua: %d bytes to %d destinations\n"):format(n, #dsts))
