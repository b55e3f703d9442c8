--- splicer: zero-copy transfers between file descriptors (Linux).
--
--     local splicer = require "splicer"
--     local s = assert(splicer.session{chunk = 65536})
--     local n, msg, errname = s:copy(io.open("in", "rb"), io.stdout)
--
-- This is the idiomatic layer over the generated module splicer.core (one C
-- function per function of splicer.h).  Conventions:
--   * failures return nil, message, errno_name ("EPIPE", "EAGAIN", ...), as
--     luaposix and luv do; misuse (a closed session, a wrong argument type)
--     raises an error;
--   * a source or destination is an io library file, a numeric fd, or any
--     object with a getfd() method (LuaSocket).  A session borrows fds and
--     never closes them.  An io file is flushed before its fd is used, so
--     bytes written through it come first; read-ahead of a seekable input is
--     given back to the fd;
--   * counts are integers on Lua 5.3+; on Lua 5.1 and LuaJIT they are
--     numbers, exact up to 2^53 bytes;
--   * offsets are 0-based byte offsets; nil means "the fd's own position";
--     a length of nil means "until end of file".
local core = require "splicer.core"

local error, getmetatable, setmetatable, pairs, ipairs, type, tostring, debug =
  error, getmetatable, setmetatable, pairs, ipairs, type, tostring, debug
local core_step, core_run, core_copy, core_open, core_wait =
  core.step, core.run, core.copy, core.open, core.wait

local M = {}

M.version = core.version_string()
M.version_number = core.version_number()

-- Constants without their SPLICER_ prefix: OPT_*, POOL_*, METHOD_*, F_*,
-- OFF_CUR, TO_EOF, TEE_MAX, VERSION_*.
for k, v in pairs(core) do
  if type(k) == "string" and k:match("^[A-Z][A-Z0-9_]*$") and k ~= "POLLIN" and k ~= "POLLOUT" then
    M[k] = v
  end
end

-- Raw syscall wrappers, straight from the generated layer (on LuaJIT, see
-- below; EINTR retried; nil offsets mean the fd's position; flags default
-- to 0):
--   splice(fd_in, off_in, fd_out, off_out, len [, flags])
--   tee(pipe_in, pipe_out, len [, flags])
--   vmsplice(pipe, string_or_list_of_strings [, flags])  -- the pipe refers to
--       the strings' memory: keep them referenced until the reader read them
--   sendfile(fd_out, fd_in, off_in, len)
--   copy_file_range(fd_in, off_in, fd_out, off_out, len)
--   pipe_size(pipe), set_pipe_size(pipe, bytes)
M.splice = core.splice
M.tee = core.tee
M.vmsplice = core.vmsplice
M.sendfile = core.sendfile
M.copy_file_range = core.copy_file_range
M.pipe_size = core.pipe_size
M.set_pipe_size = core.set_pipe_size
M.strerror = core.strerror
M.errname = core.errname
M.method_name = core.method_name

-- LuaJIT: the raw calls through the FFI.  The JIT compiler cannot compile a
-- call of a classic C function (the generated layer's): it ends the trace
-- there and makes the call from the interpreter, so a loop of raw calls runs
-- largely interpreted, while a call through the FFI is compiled with the
-- loop.  Each function below calls the C library itself only for
-- arguments it can check completely: numeric fds, offsets, lengths, flags
-- and sizes that are whole and in range, nil offsets and lengths meaning
-- what they mean to the generated layer, and the argument counts it
-- accepts.  Every other call (io files, objects with getfd(), wrong values
-- or counts) goes to the generated function as a tail call, so its errors
-- and messages stay as they are.  Results are the same Lua values: a number,
-- or nil, message, errno_name.
--
-- Interpreted, an FFI call costs more than a classic one: the FFI is used
-- only when the JIT compiler is on as this module loads.
local function ffi_library()
  if type(jit) ~= "table" or not jit.status() then return nil end
  local has_ffi, ffi = pcall(require, "ffi")
  local path = has_ffi and package.searchpath and package.searchpath("splicer.core", package.cpath)
  if not path then return nil end
  local ok, lib = pcall(function()
    ffi.cdef [[
int64_t splicer_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                       uint64_t len, unsigned flags);
int64_t splicer_tee(int fd_in, int fd_out, uint64_t len, unsigned flags);
int64_t splicer_vmsplice(int pipe_fd, const struct iovec *iov, size_t n,
                         unsigned flags);
int64_t splicer_sendfile(int fd_out, int fd_in, int64_t off_in, uint64_t len);
int64_t splicer_copy_file_range(int fd_in, int64_t off_in, int fd_out,
                                int64_t off_out, uint64_t len);
int splicer_pipe_size(int pipe_fd);
int splicer_set_pipe_size(int pipe_fd, int size);
unsigned splicer_version_number(void);
]]
    -- The file that require found (ffi.load of a loaded library returns
    -- the same one).  Should a searcher other than package.cpath's have
    -- loaded splicer.core, this may be another copy: the raw calls keep no
    -- state, so only its version has to match.
    local l = ffi.load(path)
    assert(l.splicer_version_number() == core.version_number())
    return l
  end)
  if not ok then return nil end
  return ffi, lib
end

local ffi, lib = ffi_library()
if ffi then
  local select, tonumber, huge = select, tonumber, math.huge
  local splice, tee, vmsplice, sendfile, copy_file_range, pipe_size, set_pipe_size =
    M.splice, M.tee, M.vmsplice, M.sendfile, M.copy_file_range, M.pipe_size, M.set_pipe_size
  local strerror, errname = core.strerror, core.errname
  local OFF_CUR = core.OFF_CUR
  -- SPLICER_TO_EOF is UINT64_MAX, which no Lua number converts to (-1
  -- does not: a negative number to uint64_t is undefined in C)
  local TO_EOF = ffi.new("uint64_t", 0) - 1

  -- Each returns the value for the C call, or nil when the generated
  -- function must judge the argument.
  local function int_arg(x)  -- fds, sizes
    if type(x) == "number" and x >= -2147483648 and x <= 2147483647 and x % 1 == 0 then return x end
  end
  local function off_arg(x)
    local t = type(x)  -- not x == nil: a NULL pointer cdata equals nil
    if t == "number" then
      if x >= -2^63 and x < 2^63 and x % 1 == 0 then return x end
    elseif t == "nil" then
      return OFF_CUR
    end
  end
  local function len_arg(x)
    local t = type(x)
    if t == "number" then
      if x >= 0 and x < 2^63 and x % 1 == 0 then return x end
      if x == -1 or x == huge then return TO_EOF end
    elseif t == "nil" then
      return TO_EOF
    end
  end
  local function flags_arg(n, i, x)  -- the ith argument of n, 0 when left out
    if n < i then return 0 end
    if type(x) == "number" and x >= 0 and x <= 4294967295 and x % 1 == 0 then return x end
  end
  local function result(n)
    if n >= 0 then return n end
    return nil, strerror(n), errname(n)
  end

  function M.splice(...)
    local n = select("#", ...)
    local fd_in, off_in, fd_out, off_out, len, flags = ...
    if n >= 4 and n <= 6 then
      fd_in, off_in, fd_out, off_out = int_arg(fd_in), off_arg(off_in), int_arg(fd_out), off_arg(off_out)
      len, flags = len_arg(len), flags_arg(n, 6, flags)
      if fd_in and off_in and fd_out and off_out and len and flags then
        return result(tonumber(lib.splicer_splice(fd_in, off_in, fd_out, off_out, len, flags)))
      end
    end
    return splice(...)
  end

  function M.tee(...)
    local n = select("#", ...)
    local fd_in, fd_out, len, flags = ...
    if n >= 2 and n <= 4 then
      fd_in, fd_out, len, flags = int_arg(fd_in), int_arg(fd_out), len_arg(len), flags_arg(n, 4, flags)
      if fd_in and fd_out and len and flags then
        return result(tonumber(lib.splicer_tee(fd_in, fd_out, len, flags)))
      end
    end
    return tee(...)
  end

  -- One string (a list goes to the generated function): the iovec is
  -- shaped as struct iovec, which is left undeclared here so that no other
  -- FFI user's declaration of it conflicts.
  local iov = ffi.new("struct { const char *base; size_t len; }[1]")
  local iovp = ffi.cast("const struct iovec *", iov)
  function M.vmsplice(...)
    local n = select("#", ...)
    local fd, str, flags = ...
    if n >= 2 and n <= 3 and type(str) == "string" then
      fd, flags = int_arg(fd), flags_arg(n, 3, flags)
      if fd and flags then
        iov[0].base, iov[0].len = str, #str
        return result(tonumber(lib.splicer_vmsplice(fd, iovp, 1, flags)))
      end
    end
    return vmsplice(...)
  end

  function M.sendfile(...)
    local n = select("#", ...)
    local fd_out, fd_in, off_in, len = ...
    if n >= 3 and n <= 4 then
      fd_out, fd_in, off_in, len = int_arg(fd_out), int_arg(fd_in), off_arg(off_in), len_arg(len)
      if fd_out and fd_in and off_in and len then
        return result(tonumber(lib.splicer_sendfile(fd_out, fd_in, off_in, len)))
      end
    end
    return sendfile(...)
  end

  function M.copy_file_range(...)
    local n = select("#", ...)
    local fd_in, off_in, fd_out, off_out, len = ...
    if n >= 4 and n <= 5 then
      fd_in, off_in, fd_out, off_out = int_arg(fd_in), off_arg(off_in), int_arg(fd_out), off_arg(off_out)
      len = len_arg(len)
      if fd_in and off_in and fd_out and off_out and len then
        return result(tonumber(lib.splicer_copy_file_range(fd_in, off_in, fd_out, off_out, len)))
      end
    end
    return copy_file_range(...)
  end

  function M.pipe_size(...)
    local fd = ...
    if select("#", ...) == 1 then
      fd = int_arg(fd)
      if fd then return result(lib.splicer_pipe_size(fd)) end
    end
    return pipe_size(...)
  end

  function M.set_pipe_size(...)
    local fd, size = ...
    if select("#", ...) == 2 then
      fd, size = int_arg(fd), int_arg(size)
      if fd and size then return result(lib.splicer_set_pipe_size(fd, size)) end
    end
    return set_pipe_size(...)
  end
end

--- Name of the method a transfer from src to dst would try first.
function M.method_for(src, dst)
  local m, msg, err = core.method_for(src, dst)
  if not m then return nil, msg, err end
  return core.method_name(m)
end

-- Method names <-> numbers, for the methods option.
local method_number = {}
for m = 0, core.METHOD_COUNT - 1 do method_number[core.method_name(m)] = m end

local function method_mask(list)
  local mask = 0
  for _, name in ipairs(list) do
    local m = method_number[name]
    if not m then return nil, "unknown method '" .. tostring(name) .. "'", "EINVAL" end
    local bit = 1
    for _ = 1, m do bit = bit * 2 end
    if mask % (bit * 2) < bit then mask = mask + bit end
  end
  return mask
end

-- ---------------------------------------------------------------------------
-- The session
--
-- A session is the generated layer's handle itself, given this module's
-- metatable: methods that need no translation are the C functions, so a
-- transfer step costs one C call and no Lua frame, and __gc works on
-- LuaJIT and 5.1 too (their tables have no finalizers, userdata do).  A
-- closed handle makes every C function raise "attempt to use a closed
-- session".

local Session = {}
local session_mt = { __index = Session, __name = "splicer.session" }
local closed = setmetatable({}, { __mode = "k" })
local setudmeta = debug.setmetatable

local option_id = {
  pipe_size = core.OPT_PIPE_SIZE,
  chunk = core.OPT_CHUNK,
  nonblock = core.OPT_NONBLOCK,
  fallback = core.OPT_FALLBACK,
  methods = core.OPT_METHODS,   -- a list of method names, or a bitmask
  sigpipe = core.OPT_SIGPIPE,
  pool = core.OPT_POOL,         -- false: the session keeps pipes of its own
  lazy_files = core.OPT_LAZY_FILES,  -- true: a file's access mode checked by its first syscall
}
local boolean_option = { nonblock = true, fallback = true, sigpipe = true, pool = true, lazy_files = true }

-- An option is named as in splicer.session{}, or given by its number
-- (splicer.OPT_*), which is passed to the C library as it is.
local function option(name)
  if type(name) == "number" then return name end
  local id = option_id[name]
  if not id then return nil, "unknown option '" .. tostring(name) .. "'", "EINVAL" end
  return id
end

local function check(self)
  if getmetatable(self) ~= session_mt then error("splicer: session expected", 3) end
  if closed[self] then error("splicer: attempt to use a closed session", 3) end
end

--- splicer.session{pipe_size=, chunk=, nonblock=, fallback=, methods=, sigpipe=,
-- pool=, lazy_files=}: pool = false makes a session that creates and keeps
-- pipes of its own instead of borrowing them from splicer.pool for each
-- batch.  lazy_files = true saves one fcntl(2) per regular file per open (a
-- file not kept), for programs that copy many files once each: the kernel
-- checks the access mode at the transfer's first syscall instead, before any
-- byte moves, so a source not open for reading or a destination not open
-- for writing passes s:open() and is nil, message, "EBADF" from the first
-- s:step() or s:run(), with nothing moved and the transfer ended as a
-- refused open leaves it (progress method "none").  s:copy() returns the
-- same either way; fan-outs and buffers always check at open.
-- @return the session, or nil, message, errno_name.
function M.session(opts)
  if opts ~= nil and type(opts) ~= "table" then error("splicer.session: options table expected", 2) end
  local self, msg, err = core.session_new()
  if not self then return nil, msg, err end
  setudmeta(self, session_mt)
  for k, v in pairs(opts or {}) do
    local ok, msg2, err2 = self:set(k, v)
    if not ok then
      self:close()
      return nil, msg2, err2
    end
  end
  return self
end

--- s:set(name, value): booleans for nonblock/fallback/sigpipe/pool/lazy_files,
-- a list of method names for methods.  @return true, or nil, message,
-- errno_name.
function Session:set(name, value)
  check(self)
  local id, msg0, err0 = option(name)
  if not id then return nil, msg0, err0 end
  if boolean_option[name] and type(value) == "boolean" then
    value = value and 1 or 0
  elseif name == "methods" and type(value) == "table" then
    local mask, msg, err = method_mask(value)
    if not mask then return nil, msg, err end
    value = mask
  end
  local r, msg, err = core.session_set(self, id, value)
  if not r then return nil, msg, err end
  return true
end

--- s:get(name) @return the option's value (booleans as booleans).
function Session:get(name)
  check(self)
  local id, msg0, err0 = option(name)
  if not id then return nil, msg0, err0 end
  local v, msg, err = core.session_get(self, id)
  if v == nil then return nil, msg, err end
  if boolean_option[name] then return v ~= 0 end
  return v
end

-- Kept descriptors: s:keep(fd [, kind [, nonblock]]) classifies fd (a
-- number, an io file or an object with getfd()) once for
-- every later open of the session, which then makes no fstat/fcntl for it.
-- kind: "unknown" (default: classified now, once), "stream", "dgram",
-- "seqpacket", "pipe", or a number (splicer.FD_*) passed as it is; a kind
-- given is trusted.  nonblock = true (with a kind other than "unknown") says
-- the fd is O_NONBLOCK, so that keeping it makes no syscall at all;
-- otherwise its flags are read once.  The caller vouches that the fd stays
-- open with unchanged flags until s:forget(fd).  At most splicer.KEEP_MAX.
local fd_kind = {
  unknown = core.FD_UNKNOWN, stream = core.FD_STREAM, dgram = core.FD_DGRAM,
  seqpacket = core.FD_SEQPACKET, pipe = core.FD_PIPE,
}
local FD_NONBLOCK = core.FD_NONBLOCK

--- s:keep(fd [, kind [, nonblock]]) @return true, or nil, message, errno_name
-- ("EBADF": not an open fd; "ENOSPC": KEEP_MAX fds kept; "EINVAL": an
-- unknown kind, or nonblock with "unknown").
function Session:keep(fd, kind, nonblock)
  check(self)
  local k
  if kind == nil then
    k = core.FD_UNKNOWN
  elseif type(kind) == "number" then
    k = kind
  else
    k = fd_kind[kind]
    if not k then return nil, "unknown fd kind '" .. tostring(kind) .. "'", "EINVAL" end
  end
  -- k | FD_NONBLOCK without bit operators (Lua 5.1, LuaJIT): the floored
  -- modulo tests the bit of a negative number too
  if nonblock and k % (2 * FD_NONBLOCK) < FD_NONBLOCK then k = k + FD_NONBLOCK end
  local r, msg, err = core.session_keep(self, fd, k)
  if not r then return nil, msg, err end
  return true
end

--- s:forget(fd): stop keeping fd (before closing it or changing its flags).
-- @return true, or nil, message, "ENOENT" when it is not kept.
function Session:forget(fd)
  check(self)
  local r, msg, err = core.session_forget(self, fd)
  if not r then return nil, msg, err end
  return true
end

--- s:forget_all(): stop keeping every kept fd.  @return true.
function Session:forget_all()
  return self:forget(-1)
end

--- s:copy(src, dst [, len]): from the fds' positions, until len bytes or end
-- of file.  @return bytes delivered, or nil, message, errno_name.  After an
-- error the transfer stays open: s:progress() says what was delivered, and
-- s:run() resumes it (after EAGAIN) or s:abort() drops it.
Session.copy = core.copy

--- s:copy_range(src, off_in, dst, off_out [, len]): offsets >= 0 leave the
-- fds' positions alone; nil uses the position.
function Session:copy_range(src, off_in, dst, off_out, len)
  check(self)
  local ok, msg, err = core_open(self, src, off_in, dst, off_out, len)
  if not ok then return nil, msg, err end
  return core_run(self)
end

--- s:tee(src, {dst1, dst2, ...} [, len [, off_in]]): the same bytes to
-- every destination.  @return bytes delivered to every destination.
function Session:tee(src, dsts, len, off_in)
  check(self)
  local ok, msg, err = core.open_tee(self, src, off_in, dsts, len)
  if not ok then return nil, msg, err end
  return core_run(self)
end

--- s:open(src, dst [, len [, off_in [, off_out]]]): begin a resumable
-- transfer; s:step() moves it.  @return true, or nil, message, errno_name.
function Session:open(src, dst, len, off_in, off_out)
  check(self)
  local ok, msg, err = core_open(self, src, off_in, dst, off_out, len)
  if not ok then return nil, msg, err end
  return true
end

--- s:open_tee(src, dsts [, len [, off_in]]), s:open_buf(buf, dst [, len]):
-- as s:open.
function Session:open_tee(src, dsts, len, off_in)
  check(self)
  local ok, msg, err = core.open_tee(self, src, off_in, dsts, len)
  if not ok then return nil, msg, err end
  return true
end

local Buf = {}

function Session:open_buf(buf, dst, len)
  check(self)
  if getmetatable(buf) ~= Buf then error("splicer: splicer.buf expected", 2) end
  local bud = buf._ud
  if not bud then error("splicer: buffer was already handed over", 2) end
  local ok, msg, err = core.open_buf(self, bud, len or buf._size, dst)
  if not ok then return nil, msg, err end
  -- The session owns the sealed buffer now (the generated layer has already
  -- detached the userdata from it).
  buf._ud = nil
  return true
end

--- s:send(buf, dst [, len]): hand a splicer.buf over (it is sealed read-only
-- and belongs to the session from now on) and deliver its first len bytes.
function Session:send(buf, dst, len)
  local ok, msg, err = self:open_buf(buf, dst, len)
  if not ok then return nil, msg, err end
  return core_run(self)
end

--- s:step() @return bytes delivered by this step (> 0), 0 when finished,
-- or nil, message, errno_name ("EAGAIN": see s:wait()).
Session.step = core_step

--- s:run() step until finished. @return bytes delivered by this call.
Session.run = core_run

--- s:abort() end the transfer. @return bytes dropped (consumed, undelivered).
Session.abort = core.abort

--- s:wait() after EAGAIN: @return fd, "r" (wait until readable) or "w".
function Session:wait()
  local fd, events, err = core_wait(self)
  if not fd then return nil, events, err end
  return fd, events == core.POLLIN and "r" or "w"
end

--- s:progress() @return {consumed, delivered, pending, method (name), finished}.
function Session:progress()
  local p, msg, err = core.progress_get(self)
  if not p then return nil, msg, err end
  p.method = core.method_name(p.method)
  return p
end

--- s:stats() @return {bytes, syscalls, fallbacks, eagain, bytes_by_method,
-- pool_misses, pool_spills} (pool_misses: batches done by read/write because
-- the pool had no pipe to lend; pool_spills: batches whose last bytes were
-- moved from a pool pipe into a buffer, so that the pipe could go back while
-- the destination was full and the pool short).
Session.stats = core.stats_get

--- s:close(): free the session and its pipes; the caller's fds stay open.
-- Closing twice is fine.
function Session:close()
  if getmetatable(self) ~= session_mt then error("splicer: session expected", 2) end
  if not closed[self] then
    closed[self] = true
    core.session_free(self)
  end
end

function Session:is_closed() return closed[self] == true end

session_mt.__gc = Session.close
session_mt.__close = Session.close   -- local s <close> = splicer.session()

function session_mt:__tostring()
  if closed[self] then return "splicer.session (closed)" end
  local p = core.progress_get(self)
  return ("splicer.session (%s, %s)"):format(
    p and core.method_name(p.method) or "?",
    (not p or p.method == core.METHOD_NONE) and "idle"
      or p.finished and "finished" or "open")
end

-- ---------------------------------------------------------------------------
-- Sealed buffers for vmsplice

Buf.__index = Buf
Buf.__name = "splicer.buf"

--- splicer.buf(size): page-aligned memory to fill and hand to s:send().
function M.buf(size)
  local ud, msg, err = core.buf_new(size)
  if not ud then return nil, msg, err end
  return setmetatable({ _ud = ud, _size = size }, Buf)
end

local function unsealed(buf)
  local ud = buf._ud
  if not ud then
    error("splicer: buffer was handed over to a session (it is read-only now)", 3)
  end
  return ud
end

--- buf:write(str [, offset]): copy str into the buffer at the 0-based
-- offset (default 0).  @return offset just past the written bytes, or
-- nil, message, errno_name when it does not fit.
function Buf:write(str, offset)
  local ud = unsealed(self)
  offset = offset or 0
  local n, msg, err = core.buf_write(ud, offset, str)
  if not n then return nil, msg, err end
  return offset + n
end

function Buf:size() return self._size end
Buf.__len = Buf.size
function Buf:is_sealed() return self._ud == nil end

--- buf:free(): release a buffer that was never handed over (optional: the
-- collector does it too).
function Buf:free()
  local ud = self._ud
  if ud then
    self._ud = nil
    core.buf_free(ud)
  end
end

function Buf:__tostring()
  return ("splicer.buf (%d bytes%s)"):format(self._size, self._ud and "" or ", handed over")
end

M.Session, M.Buf = Session, Buf
M.session_metatable = session_mt

-- ---------------------------------------------------------------------------
-- The process-wide pipe pool
--
-- A staged transfer (socket to socket, a tee, a buffer to a socket) borrows
-- its pipe from one pool shared by the whole process for each batch, and
-- gives it back as soon as the batch is delivered: an idle session holds no
-- pipe.  A pipe holding bytes is never lent again (a session closed or
-- aborted with bytes pending closes it).  When the pool has no pipe to lend
-- a batch goes through read/write, counted in misses.  Options:
--   max_pipes  most pipes in existence, borrowed + idle (0 .. 2^20; 0: every
--              batch by read/write; default from fs.pipe-user-pages-soft)
--   max_idle   most empty pipes kept (0 .. 2^20; default 32)
--   pipe_size  bytes asked for each new pipe (4096 .. 2^30; default 256 KiB)

local pool_option_id = {
  max_pipes = core.POOL_MAX_PIPES,
  max_idle = core.POOL_MAX_IDLE,
  pipe_size = core.POOL_PIPE_SIZE,
}

local function pool_option(name)
  if type(name) == "number" then return name end
  local id = pool_option_id[name]
  if not id then return nil, "unknown pool option '" .. tostring(name) .. "'", "EINVAL" end
  return id
end

local pool = {}

--- splicer.pool.set(name, value): name is "max_pipes", "max_idle",
-- "pipe_size" or a number (splicer.POOL_*).  Safe while transfers run.
-- @return true, or nil, message, errno_name ("EINVAL": out of range).
function pool.set(name, value)
  local id, msg, err = pool_option(name)
  if not id then return nil, msg, err end
  local r, msg2, err2 = core.pool_set(id, value)
  if not r then return nil, msg2, err2 end
  return true
end

--- splicer.pool.get(name) @return the value in effect (max_pipes: the
-- derived default until set), or nil, message, errno_name.
function pool.get(name)
  local id, msg, err = pool_option(name)
  if not id then return nil, msg, err end
  return core.pool_get(id)
end

--- splicer.pool.stats() @return {borrowed, returned, created, closed,
-- misses, discarded, undersized, spills (counted since the process started),
-- in_use, idle, peak_in_use (as they are now)}.
pool.stats = core.pool_stats_get

--- splicer.pool.trim(): close every idle pipe and restart peak_in_use.
-- @return how many pipes were closed.
pool.trim = core.pool_trim

M.pool = pool

-- ---------------------------------------------------------------------------
-- One-shot convenience: splicer.copy(src, dst [, len]) on a shared session.
-- Each call opens its fds once: lazy_files spares an fcntl(2) per file, and
-- a failure is the same nil, message, errno_name an eager open gives.

local shared
function M.copy(src, dst, len)
  if not shared then
    local msg, err
    shared, msg, err = M.session { lazy_files = true }
    if not shared then return nil, msg, err end
  end
  local n, msg, err = shared:copy(src, dst, len)
  if not n then
    -- never leave the next call an EBUSY: drop what this one left pending
    shared:abort()
    return nil, msg, err
  end
  return n
end

return M
