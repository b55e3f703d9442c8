-- A tiny spec runner: no dependencies, same output on every interpreter.
--   lua spec/run.lua spec/a_spec.lua spec/b_spec.lua ...
-- Each spec file is a chunk that calls test(name, fn); fn fails by raising
-- an error (the helpers below) and may call skip(reason).  Ends with the
-- line "N passed, N failed, N skipped"; exits non-zero on any failure.
io.stdout:setvbuf("line")
local tests = {}
local current_file

function test(name, fn)
  tests[#tests + 1] = { name = current_file .. ": " .. name, fn = fn }
end

local SKIP = {}
function skip(reason) error(setmetatable({ reason = reason }, SKIP), 0) end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function eq(actual, expected, what)
  if actual ~= expected then
    error((what and what .. ": " or "") .. "expected " .. show(expected) .. ", got " .. show(actual), 2)
  end
end

function ok(cond, what, ...)
  if not cond then
    local extra = select("#", ...) > 0 and (" (" .. table.concat({ tostring((...)), tostring(select(2, ...)) }, ", ") .. ")") or ""
    error((what or "assertion failed") .. extra, 2)
  end
  return cond
end

-- fails(fn, pattern): fn must raise an error matching pattern
function fails(fn, pattern)
  local okk, err = pcall(fn)
  if okk then error("expected an error matching '" .. pattern .. "'", 2) end
  if not tostring(err):find(pattern) then
    error("error '" .. tostring(err) .. "' does not match '" .. pattern .. "'", 2)
  end
end

-- an integer count: a Lua integer on 5.3+, a whole number before
function is_count(n, what)
  if type(n) ~= "number" or n % 1 ~= 0 then error((what or "value") .. ": count expected, got " .. show(n), 2) end
  if math.type and math.type(n) ~= "integer" then
    error((what or "value") .. ": integer subtype expected, got " .. math.type(n), 2)
  end
end

-- slurp(path): the whole content of a file
function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

for _, file in ipairs(arg) do
  current_file = file:match("([^/]+)%.lua$") or file
  local chunk, err = loadfile(file)
  if not chunk then
    tests[#tests + 1] = { name = file, fn = function() error(err, 0) end }
  else
    chunk()
  end
end

local passed, failed, skipped = 0, 0, 0
local tb = debug.traceback
for _, t in ipairs(tests) do
  local okk, err = xpcall(t.fn, function(e)
    if getmetatable(e) == SKIP then return e end
    return tb(tostring(e), 2)
  end)
  if okk then
    passed = passed + 1
    print("ok    " .. t.name)
  elseif getmetatable(err) == SKIP then
    skipped = skipped + 1
    print("skip  " .. t.name .. " (" .. err.reason .. ")")
  else
    failed = failed + 1
    print("FAIL  " .. t.name .. "\n      " .. tostring(err):gsub("\n", "\n      "))
  end
  collectgarbage()
end
print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
os.exit(failed == 0 and 0 or 1)
