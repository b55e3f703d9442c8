-- A small, strict JSON decoder (RFC 8259) for the conformance case files.
-- Objects become tables, arrays become sequences carrying json.array as
-- metatable (so that [] and {} stay apart), null becomes json.null, and
-- numbers without fraction or exponent are integers on Lua 5.3+.
local json = {}
json.array = { __name = "json.array" }
json.null = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })

local byte, sub, find, char, concat = string.byte, string.sub, string.find, string.char, table.concat

local function fail(s, i, what)
  local line, col = 1, 1
  for p = 1, i - 1 do
    if byte(s, p) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  error(("json: %s at line %d column %d"):format(what, line, col), 0)
end

local function skip_ws(s, i)
  local _, e = find(s, "^[ \t\r\n]*", i)
  return e + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
              0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function parse_string(s, i)
  -- i is just past the opening quote
  local parts, start = {}, i
  while true do
    local c = byte(s, i)
    if not c then fail(s, i, "unterminated string") end
    if c == 34 then -- "
      parts[#parts + 1] = sub(s, start, i - 1)
      return concat(parts), i + 1
    elseif c == 92 then -- backslash
      parts[#parts + 1] = sub(s, start, i - 1)
      local e = sub(s, i + 1, i + 1)
      if escapes[e] then
        parts[#parts + 1] = escapes[e]
        i = i + 2
      elseif e == "u" then
        local hex = sub(s, i + 2, i + 5)
        if not find(hex, "^%x%x%x%x$") then fail(s, i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, i, i + 1) == "\\u" then
          local lo = tonumber(sub(s, i + 2, i + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
            i = i + 6
          end
        end
        parts[#parts + 1] = utf8_char(cp)
      else
        fail(s, i, "bad escape")
      end
      start = i
    elseif c < 32 then
      fail(s, i, "control character in string")
    else
      i = i + 1
    end
  end
end

local parse_value

local function parse_number(s, i)
  local _, e = find(s, "^-?%d+", i)
  if not e then fail(s, i, "bad number") end
  local int_part = sub(s, i, e)
  if find(int_part, "^-?0%d") then fail(s, i, "leading zero") end
  local _, fe = find(s, "^%.%d+", e + 1)
  local _, ee = find(s, "^[eE][-+]?%d+", (fe or e) + 1)
  local last = ee or fe or e
  local text = sub(s, i, last)
  local n = tonumber(text)
  if not fe and not ee and math.tointeger then n = math.tointeger(n) or n end
  return n, last + 1
end

function parse_value(s, i)
  i = skip_ws(s, i)
  local c = sub(s, i, i)
  if c == "{" then
    local obj = {}
    i = skip_ws(s, i + 1)
    if sub(s, i, i) == "}" then return obj, i + 1 end
    while true do
      if sub(s, i, i) ~= '"' then fail(s, i, "object key expected") end
      local k
      k, i = parse_string(s, i + 1)
      i = skip_ws(s, i)
      if sub(s, i, i) ~= ":" then fail(s, i, "':' expected") end
      obj[k], i = parse_value(s, i + 1)
      i = skip_ws(s, i)
      local d = sub(s, i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then fail(s, i, "',' or '}' expected") end
      i = skip_ws(s, i + 1)
    end
  elseif c == "[" then
    local arr = setmetatable({}, json.array)
    i = skip_ws(s, i + 1)
    if sub(s, i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = parse_value(s, i)
      i = skip_ws(s, i)
      local d = sub(s, i, i)
      if d == "]" then return arr, i + 1 end
      if d ~= "," then fail(s, i, "',' or ']' expected") end
      i = i + 1
    end
  elseif c == '"' then
    return parse_string(s, i + 1)
  elseif find(s, "^true", i) then
    return true, i + 4
  elseif find(s, "^false", i) then
    return false, i + 5
  elseif find(s, "^null", i) then
    return json.null, i + 4
  elseif find(c, "[-%d]") then
    return parse_number(s, i)
  end
  fail(s, i, "unexpected " .. (c == "" and "end of input" or "'" .. c .. "'"))
end

--- json.decode(text) -> value; raises "json: ... at line L column C".
function json.decode(s)
  local v, i = parse_value(s, 1)
  i = skip_ws(s, i)
  if i <= #s then fail(s, i, "trailing characters") end
  return v
end

function json.is_array(v) return getmetatable(v) == json.array end

return json
