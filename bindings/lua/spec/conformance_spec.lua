-- The conformance runner's own pieces: the pattern generator and hash
-- against tests/README.md §2's reference values, and the JSON decoder.
package.path = "conformance/?.lua;" .. package.path
local fx = require "splicer_testfx"
local json = require "json"

local function hex8(s)
  return (s:sub(1, 8):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

test("pattern and FNV-1a 64 reference values", function()
  for _, r in ipairs {
    { 1, 0, 0, "", "cbf29ce484222325" },
    { 1, 0, 8, "0162c2058614045c", "f4dc9033f034d6dd" },
    { 1, 0, 4096, "0162c2058614045c", "7f1272b0fb14a4b6" },
    { 7, 100, 16, "c456e1314f6d48d1", "9d71130f6634f904" },
    { 4294967295, 0, 8, "0060c00380160652", "142a1cd7bbbda9d6" },
  } do
    local s = fx.pattern(r[1], r[2], r[3])
    eq(#s, r[3])
    eq(hex8(s), r[4])
    eq(fx.fnv1a64(s), r[5])
  end
end)

test("json: values, arrays vs objects, integers", function()
  local v = json.decode([[ {"a": [1, -2, 2.5, 1e3, "x\"\\\/\n\u00e9"], "e": [], "o": {},
                            "n": null, "t": true, "f": false, "big": 4294967295} ]])
  eq(v.a[1], 1); eq(v.a[2], -2); eq(v.a[3], 2.5); eq(v.a[4], 1000)
  eq(v.a[5], "x\"\\/\n\195\169")
  if math.type then
    eq(math.type(v.a[1]), "integer"); eq(math.type(v.big), "integer"); eq(math.type(v.a[4]), "float")
  end
  eq(v.big, 4294967295)
  ok(json.is_array(v.e)); ok(not json.is_array(v.o))
  eq(v.n, json.null); eq(v.t, true); eq(v.f, false)
  eq(json.decode('"\\ud83d\\ude00"'), "\240\159\152\128")
end)

test("json: malformed input is an error with a position", function()
  for _, bad in ipairs { "[1,]", "{\"a\" 1}", "01", "\"abc", "[1] 2", "{\"a\":1,}", "tru", "\"\t\"" } do
    local okk, err = pcall(json.decode, bad)
    ok(not okk, "accepted " .. bad)
    ok(tostring(err):find("line %d+ column %d+"), tostring(err))
  end
end)

test("every case file in tests/cases parses", function()
  local dir = "../../tests/cases"
  local list = io.popen('ls -1 "' .. dir .. '" 2>/dev/null')
  local n = 0
  for name in list:lines() do
    if name:match("%.json$") then
      local h = assert(io.open(dir .. "/" .. name, "rb"))
      local doc = json.decode(h:read("*a"))
      h:close()
      ok(json.is_array(doc.cases), name)
      n = n + 1
    end
  end
  list:close()
  if n == 0 then skip("no tests/cases here") end
end)
