# frozen_string_literal: true

# The Ruby conformance runner: every case of tests/cases through the
# idiomatic API (require "splicer"; the raw functions for raw_* ops), with
# the output format of tests/README.md section 1:
#     ruby conformance/run.rb [-k TEXT] [-v] DIR_OR_FILE...
# Fixtures are made with Ruby's own classes (File, IO.pipe, UNIXSocket,
# TCPSocket, UDPSocket; memfd_create through Fiddle) and handed to the
# session as Integer fds, which the binding takes as C does (an O_NONBLOCK
# fd makes a step raise EAGAIN; Ruby IO objects would be waited on).
require "json"
require "socket"
require "fiddle"
require "timeout"
require "io/nonblock"
require "io/wait"
require "tmpdir"
require "fileutils"
require "splicer"
require_relative "pattern"

$stdout.sync = true

# A case's outcome other than PASS.
class CaseFail < StandardError; end

class CaseSkip < StandardError; end

# One fixture of a case (tests/README.md section 4).
class Fixture
  attr_accessor :name, :kind, :spec, :io, :fd, :peer, :peer_reads, :arrived, :path, :mnt, :reader,
                :reader_out, :dgram, :max_datagram, :peer_closed_by_case, :is_file, :readable, :shares_file

  def initialize(spec)
    @spec = spec
    @name = spec["name"]
    @kind = spec["kind"]
    @fd = -1
    @arrived = +"".b
    @max_datagram = 0
  end
end

# The runner's state for one case.
class CaseRun
  F_SETPIPE_SZ = 1031
  MFD_CLOEXEC = 1
  OPTION_NAMES = { "PIPE_SIZE" => :pipe_size, "CHUNK" => :chunk, "NONBLOCK" => :nonblock,
                   "FALLBACK" => :fallback, "METHODS" => :methods, "SIGPIPE" => :sigpipe,
                   "POOL" => :pool, "LAZY_FILES" => :lazy_files }.freeze
  POOL_OPTION_NAMES = { "MAX_PIPES" => :max_pipes, "MAX_IDLE" => :max_idle, "PIPE_SIZE" => :pipe_size }.freeze
  FLAG_VALUES = { "MOVE" => Splicer::F_MOVE, "NONBLOCK" => Splicer::F_NONBLOCK,
                  "MORE" => Splicer::F_MORE, "GIFT" => Splicer::F_GIFT }.freeze
  NO_RESULT = Object.new.freeze # a step that checked its own expectation

  class << self
    attr_accessor :rundir, :pool_defaults

    def memfd_create
      @memfd_create ||= Fiddle::Function.new(Fiddle.dlopen(nil)["memfd_create"],
                                             [Fiddle::TYPE_VOIDP, Fiddle::TYPE_INT], Fiddle::TYPE_INT)
    end
  end

  def initialize(kase, number)
    @case = kase
    @number = number
    @fixtures = {}
    @order = []
    @sessions = {}
    @keep = []
    @sealed = nil
  end

  def run
    return ["SKIP", @case["skip"]] if @case["skip"]

    pool_reset
    @s = @sessions["main"] = Splicer::Session.new
    failure = nil
    begin
      Timeout.timeout(20) do
        @case.fetch("fixtures").each { |f| setup(Fixture.new(f)) }
        @case.fetch("steps").each_with_index { |st, i| step(st, i) }
      end
    rescue CaseSkip => e
      failure = ["SKIP", e.message]
    rescue CaseFail => e
      failure = ["FAIL", e.message]
    rescue Timeout::Error
      failure = %w[FAIL timeout]
    rescue StandardError => e
      failure = ["FAIL", "runner error: #{e.class}: #{e.message.lines.first&.chomp}"]
    end
    contents = begin
      finish(failure.nil?)
    rescue StandardError => e
      failure ||= ["FAIL", "finish: #{e.class}: #{e.message}"]
      nil
    end
    return failure if failure

    check_arrived(contents)
  end

  private

  def fail!(msg) = raise(CaseFail, msg)

  def pool_reset
    CaseRun.pool_defaults.each { |name, value| Splicer::Pool.set(name, value) }
    Splicer::Pool.trim
    @pool_start = Splicer::Pool.stats
  end

  # ---- fixtures ------------------------------------------------------------

  def setup(fx)
    fail!("fixture #{fx.name}: duplicate name") if @fixtures.key?(fx.name)
    @fixtures[fx.name] = fx
    @order << fx
    spec = fx.spec
    case fx.kind
    when "file" then setup_file(fx)
    when "memfd" then setup_memfd(fx)
    when "pipe" then setup_pipe(fx)
    when "socketpair", "tcp" then setup_stream_socket(fx)
    when "udp_pair", "unix_dgram_pair" then setup_dgram(fx)
    when "dev_null" then open_path(fx, "/dev/null", File::RDWR)
    when "dev_zero" then open_path(fx, "/dev/zero", File::RDONLY)
    when "proc_file"
      path = spec["path"].to_s
      fail!("fixture #{fx.name}: path must be under /proc/") unless path.start_with?("/proc/")
      open_path(fx, path, File::RDONLY)
    when "invalid" then fx.fd = -1
    else fail!("unsupported fixture kind #{fx.kind}")
    end
    feed(fx)
    fx.io.nonblock = true if spec["nonblock"] && fx.io
  end

  def open_path(fx, path, flags)
    fx.io = File.new(path, flags)
    fx.fd = fx.io.fileno
  end

  def setup_file(fx)
    spec = fx.spec
    if (other = spec["same_as"])
      o = @fixtures[other]
      fail!("fixture #{fx.name}: same_as #{other} is not an earlier file fixture") unless o&.kind == "file" && o != fx

      fx.path = o.path
      fx.shares_file = true
      return open_file(fx)
    end
    dir = CaseRun.rundir
    if (tmpfs = spec["tmpfs"])
      fx.mnt = File.join(CaseRun.rundir, "m#{@number}-#{fx.name}")
      Dir.mkdir(fx.mnt, 0o700)
      unless system("mount", "-t", "tmpfs", "-o", "size=#{tmpfs['size']},mode=0700", "tmpfs", fx.mnt,
                    out: File::NULL, err: File::NULL)
        Dir.rmdir(fx.mnt)
        fx.mnt = nil
        raise CaseSkip, "cannot mount tmpfs"
      end
      dir = fx.mnt
    end
    fx.path = File.join(dir, "c#{@number}-#{fx.name}")
    File.open(fx.path, File::CREAT | File::EXCL | File::WRONLY, 0o600) do |f|
      f.syswrite(Pattern.bytes(spec["data"])) if spec["data"]
    end
    open_file(fx)
  end

  def open_file(fx)
    spec = fx.spec
    mode = spec.fetch("mode", "rw")
    flags = { "r" => File::RDONLY, "w" => File::WRONLY, "rw" => File::RDWR }.fetch(mode) do
      fail!("fixture #{fx.name}: bad mode")
    end
    flags |= File::APPEND if spec["append"]
    fx.io = File.new(fx.path, flags)
    fx.io.binmode
    fx.fd = fx.io.fileno
    fx.is_file = true
    fx.readable = mode != "w"
    fx.io.sysseek(spec["pos"]) if spec["pos"]
  end

  def setup_memfd(fx)
    fd = CaseRun.memfd_create.call("splicer-conformance", MFD_CLOEXEC)
    fail!("memfd_create: #{Fiddle.last_error}") if fd.negative?
    fx.io = IO.for_fd(fd, autoclose: true)
    fx.io.binmode
    fx.fd = fd
    fx.is_file = true
    fx.readable = true
    data = Pattern.bytes(fx.spec["data"])
    fx.io.syswrite(data) unless data.empty?
    fx.io.sysseek(fx.spec.fetch("pos", 0))
  end

  def setup_pipe(fx)
    r, w = IO.pipe
    [r, w].each { |e| e.nonblock = false }
    case fx.spec["end"]
    when "r" then fx.io, fx.peer = r, w
    when "w"
      fx.io, fx.peer = w, r
      fx.peer_reads = true
    else
      r.close
      w.close
      fail!("fixture #{fx.name}: end must be r or w")
    end
    fx.fd = fx.io.fileno
    r.fcntl(F_SETPIPE_SZ, fx.spec["capacity"]) if fx.spec["capacity"]
  end

  def setup_stream_socket(fx)
    if fx.kind == "tcp"
      server = TCPServer.new("127.0.0.1", 0)
      fx.io = TCPSocket.new("127.0.0.1", server.addr[1])
      fx.peer = server.accept
      server.close
    else
      fx.io, fx.peer = UNIXSocket.pair(:STREAM)
    end
    fx.peer_reads = true
    socket_options(fx)
  end

  def setup_dgram(fx)
    if fx.kind == "udp_pair"
      a = UDPSocket.new
      b = UDPSocket.new
      a.bind("127.0.0.1", 0)
      b.bind("127.0.0.1", 0)
      a.connect("127.0.0.1", b.addr[1])
      b.connect("127.0.0.1", a.addr[1])
      fx.io, fx.peer = a, b
    else
      fx.io, fx.peer = UNIXSocket.pair(:DGRAM)
    end
    fx.peer_reads = true
    fx.dgram = true
    socket_options(fx)
  end

  def socket_options(fx)
    [fx.io, fx.peer].each { |e| e.nonblock = false }
    fx.fd = fx.io.fileno
    fx.io.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, fx.spec["sndbuf"]) if fx.spec["sndbuf"]
    fx.peer.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, fx.spec["rcvbuf"]) if fx.spec["rcvbuf"]
  end

  # data, eof, peer_closed, reader: in the order of section 4
  def feed(fx)
    spec = fx.spec
    return unless fx.peer

    if !fx.peer_reads
      fx.peer.write(Pattern.bytes(spec["data"])) if spec["data"]
      if spec["eof"] || spec["peer_closed"]
        fx.peer.close
        fx.peer = nil
      end
    elsif fx.dgram
      nil # datagrams are sent by steps
    else
      peer_write(fx, Pattern.bytes(spec["data"])) if spec["data"] && fx.kind != "pipe"
      if spec["peer_closed"]
        fx.peer.close
        fx.peer = nil
      else
        if spec["eof"] && fx.kind != "pipe"
          fx.peer.shutdown(:WR)
          wait_tcp_fin(fx) if fx.kind == "tcp"
        end
        start_reader(fx, spec["reader"]) if spec["reader"]
      end
    end
  end

  # The peer writes data; over tcp, the runner then waits (up to 5 s) until
  # those bytes are readable at the fixture's fd: a loopback segment can be
  # late on a loaded machine (a dropped one waits for a 200 ms
  # retransmission), and a case must never see a source that is only late
  # (tests/README.md section 4, tcp).
  def peer_write(fx, data)
    before = fx.kind == "tcp" ? fx.io.nread : 0
    fx.peer.write(data)
    return unless fx.kind == "tcp"

    500.times do
      break if fx.io.nread >= before + data.bytesize

      sleep 0.01
    end
  end

  TCP_CLOSE_WAIT = 8

  # ... and after the peer's shutdown, until its FIN has arrived.
  def wait_tcp_fin(fx)
    500.times do
      state = fx.io.getsockopt(Socket::IPPROTO_TCP, Socket::TCP_INFO).data.unpack1("C")
      break if state == TCP_CLOSE_WAIT

      sleep 0.01
    end
  end

  def start_reader(fx, spec)
    reads = Array(spec["reads"]).select { |n| n.is_a?(Integer) && n.positive? }
    reads = [65_536] if reads.empty?
    pause = spec.fetch("pause_ms", 0) / 1000.0
    peer = fx.peer
    fx.reader_out = +"".b
    out = fx.reader_out
    fx.reader = Thread.new do
      k = 0
      loop do
        sleep(pause) if pause.positive?
        out << peer.readpartial([reads[k % reads.size], 1 << 20].min)
        k += 1
      end
    rescue EOFError
      nil
    end
  end

  def fixture(name)
    @fixtures[name] || fail!("no fixture #{name.inspect}")
  end

  def fd(name) = fixture(name).fd

  def fixture_by_fd(fd) = @order.find { |f| f.fd == fd && fd >= 0 }

  # One whole datagram the peer can receive within timeout: its size, or
  # nil when none came.
  def recv_datagram(fx, timeout)
    return nil unless fx.peer.wait_readable(timeout)

    data = fx.peer.recv_nonblock(65_536, exception: false)
    return nil if data == :wait_readable

    fx.max_datagram = data.bytesize if data.bytesize > fx.max_datagram
    fx.arrived << data
    data.bytesize
  end

  def drain(fx, max, once)
    fail!("fixture #{fx.name} has no peer to read") if fx.peer.nil? || !fx.peer_reads || fx.reader
    total = 0
    if fx.dgram
      while (n = recv_datagram(fx, 0))
        total += n
        break if once
      end
      return total
    end
    loop do
      want = 65_536
      want = [want, max - total].min if max&.positive?
      break if want.zero?

      data = fx.peer.read_nonblock(want, exception: false)
      break if data.nil? || data == :wait_readable

      fx.arrived << data
      total += data.bytesize
      break if once
    end
    total
  end

  # ---- values --------------------------------------------------------------

  def offset(value)
    value.nil? || value == "cur" ? nil : value
  end

  def length(value)
    value.nil? || value == "eof" ? nil : value
  end

  def flags(list) = Array(list).sum { |name| FLAG_VALUES.fetch(name) { fail!("unknown flag #{name}") } }

  def option(value)
    return value if value.is_a?(Integer)

    OPTION_NAMES.fetch(value) { fail!("bad option #{value.inspect}") }
  end

  def pool_option(value)
    return value if value.is_a?(Integer)

    POOL_OPTION_NAMES.fetch(value) { fail!("bad pool option #{value.inspect}") }
  end

  def method_value(value) = value.is_a?(Array) ? value.map(&:to_sym) : value

  def mask(value) = Splicer.method_mask(method_value(value))

  def number_ok?(expect, got)
    return false unless got.is_a?(Integer)
    return got == expect if expect.is_a?(Integer)

    (expect["min"].nil? || got >= expect["min"]) && (expect["max"].nil? || got <= expect["max"])
  end

  def show(value) = value.is_a?(Hash) || value.is_a?(Array) ? JSON.generate(value) : value.to_s

  # Runs an idiomatic call: [value, nil] or [nil, errno name].  Success
  # without a number (nil, the session itself) is 0 as in C.
  def call
    v = yield
    v = 0 if v.nil? || v.is_a?(Splicer::Session)
    [v, nil]
  rescue SystemCallError => e
    [nil, Splicer.errname(e.errno)]
  end

  def check_result(where, expect, value, err)
    return if expect.nil?

    if expect.is_a?(String)
      got = err || show(value)
      fail!("#{where}: expected #{expect}, got #{got}") unless err == expect
      return
    end
    fail!("#{where}: expected #{show(expect)}, got #{err}") if err
    fail!("#{where}: expected #{show(expect)}, got #{show(value)}") unless number_ok?(expect, value)
  end

  def check_fields(what, expect, got)
    expect.each do |key, want|
      have = got[key]
      case want
      when Integer, Hash
        if key == "by_method"
          want.each do |m, n|
            h = have[m.to_sym]
            fail!("#{what}.by_method.#{m}: expected #{show(n)}, got #{h.inspect}") unless number_ok?(n, h)
          end
        elsif !number_ok?(want, have)
          fail!("#{what}.#{key}: expected #{show(want)}, got #{have.inspect}")
        end
      else
        have = have.to_s if have.is_a?(Symbol)
        fail!("#{what}.#{key}: expected #{show(want)}, got #{have.inspect}") unless have == want
      end
    end
  end

  # ---- steps ---------------------------------------------------------------

  def step(st, index)
    op = st["op"]
    handler = "op_#{op}"
    fail!("step #{index} (#{op}): unsupported op") unless respond_to?(handler, true)
    result = send(handler, st)
    return if result.equal?(NO_RESULT)

    value, err = result
    check_result("step #{index} (#{op})", st["expect"], value, err)
  rescue CaseFail => e
    raise if e.message.start_with?("step ")

    raise CaseFail, "step #{index} (#{op}): #{e.message}"
  end

  def op_set(st)
    value = st["value"]
    value = method_value(value) if value.is_a?(Array)
    value, err = call { @s.set(option(st["option"]), value) }
    [err ? nil : 0, err] # a setter returns what it was given; C returns 0
  end

  def op_get(st)
    value, err = call { @s.get(option(st["option"])) }
    value = value ? 1 : 0 if [true, false].include?(value)
    value = Splicer.method_mask(value) if value.is_a?(Array)
    expect = st["expect"]
    if expect.is_a?(Array)
      want = mask(expect)
      fail!("expected mask #{want}, got #{err || value}") unless err.nil? && value == want
      return NO_RESULT
    end
    [value, err]
  end

  def op_open(st)
    call do
      @s.open(fd(st["src"]), fd(st["dst"]), length(st["len"]), off_in: offset(st["off_in"]),
                                                                off_out: offset(st["off_out"]))
    end
  end

  def op_open_tee(st)
    dsts = st.fetch("dsts").map { |n| fd(n) }
    call { @s.open_tee(fd(st["src"]), *dsts, len: length(st["len"]), off_in: offset(st["off_in"])) }
  end

  def op_open_buf(st)
    dst = fd(st["dst"])
    data = Pattern.bytes(st["data"])
    value, err = call do
      buf = Splicer::Buf.new(st.fetch("size"))
      begin
        fail!("data larger than the buffer") if data.bytesize > buf.size
        buf.write(data) unless data.empty?
        @s.open_buf(buf, dst, st.fetch("len"))
        @sealed = buf
      rescue StandardError
        buf.free
        raise
      end
      0
    end
    [value, err]
  end

  # The API never exposes the buffer's memory: a write through the Buf
  # after the hand-over must be refused (FrozenError) instead of faulting.
  def op_sealed_write(_st)
    fail!("no buffer was handed over") unless @sealed
    begin
      @sealed.write("x")
    rescue FrozenError
      return NO_RESULT
    end
    fail!("the write to a sealed buffer was accepted")
  end

  def op_step(_st) = call { @s.step }
  def op_run(_st) = call { @s.run }
  def op_abort(_st) = call { @s.abort }
  def op_copy(st) = call { @s.copy(fd(st["src"]), fd(st["dst"]), length(st["len"])) }

  def op_wait(st)
    expect = st["expect"]
    value, err = call { @s.wait }
    return [value, err] if expect.is_a?(String) || expect.nil? && err
    return NO_RESULT if expect.nil?

    fail!("expected an fd to wait on, got #{err}") if err
    endpoint, events = value
    fx = fixture_by_fd(endpoint)
    got_fd = fx ? fx.name : "fd #{endpoint}"
    got_ev = events == :read ? "POLLIN" : "POLLOUT"
    unless got_fd == expect["fd"] && got_ev == expect["events"]
      fail!("expected #{expect['fd']} #{expect['events']}, got #{got_fd} #{got_ev}")
    end
    NO_RESULT
  end

  def op_progress(st)
    value, err = call { @s.progress }
    fail!("progress: #{err}") if err
    if value.consumed != value.delivered + value.pending
      fail!("consumed #{value.consumed} != delivered #{value.delivered} + pending #{value.pending}")
    end
    check_fields("progress", st["expect"], value.to_h.transform_keys(&:to_s)) if st["expect"]
    NO_RESULT
  end

  def op_stats(st)
    value, err = call { @s.stats }
    fail!("stats: #{err}") if err
    check_fields("stats", st["expect"], value.to_h.transform_keys(&:to_s).merge("by_method" => value.bytes_by_method)) if st["expect"]
    NO_RESULT
  end

  def op_use_session(st)
    name = st["name"] || fail!("name is required")
    @s = @sessions[name] ||= Splicer::Session.new
    [0, nil]
  end

  def op_method_for(st)
    value, err = call { Splicer.method_for(fd(st["src"]), fd(st["dst"])) }
    want = st["expect"]
    return NO_RESULT if want.nil?

    got = err || value.to_s
    fail!("expected #{want}, got #{got}") unless got == want
    NO_RESULT
  end

  def op_pump(st)
    reads = Array(st["reads"]).select { |n| n.is_a?(Integer) && n.positive? }.first(16)
    reads = [65_536] if reads.empty?
    total = 0
    eagains = 0
    k = 0
    result = nil
    100_000.times do
      r, err = call { @s.step(exception: false) }
      if err
        result = [nil, err]
        break
      elsif r.is_a?(Integer) && r.positive?
        total += r
        next
      elsif r.is_a?(Integer)
        result = [total, nil]
        break
      end
      eagains += 1
      endpoint, events = @s.wait
      fx = fixture_by_fd(endpoint)
      fail!("pump: source not readable") unless events == :write && fx&.peer && fx.peer_reads && !fx.reader
      got = drain(fx, reads[k % reads.size], true)
      k += 1
      fx.peer.wait_readable(0.01) if got.zero?
    end
    fail!("pump: did not finish in 100000 steps") unless result
    check_result("pump", st["expect"], *result)
    if st.key?("eagain") && !number_ok?(st["eagain"], eagains)
      fail!("eagain: expected #{show(st['eagain'])}, got #{eagains}")
    end
    NO_RESULT
  end

  def op_drain(st)
    fx = fixture(st["fixture"])
    [drain(fx, st["max"], false), nil]
  end

  def op_write_peer(st)
    fx = fixture(st["fixture"])
    fail!("fixture #{fx.name} has no peer to write") unless fx.peer
    fail!("fixture #{fx.name}: its peer is the read end") if fx.peer_reads && fx.kind == "pipe"
    data = Pattern.bytes(st["data"])
    peer_write(fx, data)
    [data.bytesize, nil]
  end

  def op_close_peer(st)
    fx = fixture(st["fixture"])
    fail!("fixture #{fx.name} has no peer to close") if fx.peer.nil? || fx.reader
    fx.peer.close
    fx.peer = nil
    fx.peer_closed_by_case = true
    [0, nil]
  end

  def op_send_datagram(st)
    fx = fixture(st["fixture"])
    fail!("fixture #{fx.name} is not a datagram fixture") unless fx.dgram && fx.peer
    [fx.peer.send(Pattern.bytes(st["data"]), 0), nil]
  end

  def op_position(st)
    fx = fixture(st["fixture"])
    call { fx.io.sysseek(0, IO::SEEK_CUR) }
  end

  def op_raw_splice(st)
    call do
      Splicer.splice(fd(st["src"]), offset(st["off_in"]), fd(st["dst"]), offset(st["off_out"]), st.fetch("len"),
                     flags(st["flags"]))
    end
  end

  def op_raw_tee(st) = call { Splicer.tee(fd(st["src"]), fd(st["dst"]), st.fetch("len"), flags(st["flags"])) }

  def op_raw_vmsplice(st)
    data = Pattern.bytes(st["data"])
    parts = st.fetch("iovecs", 1)
    fail!("bad iovecs") unless parts.is_a?(Integer) && parts.between?(1, 64)
    base, extra = data.bytesize.divmod(parts)
    pos = 0
    pieces = Array.new(parts) do |i|
      size = base + (i < extra ? 1 : 0)
      piece = data.byteslice(pos, size)
      pos += size
      piece
    end
    @keep << pieces # the pipe refers to these until the case ends
    call { Splicer.vmsplice(fd(st["dst"]), pieces, flags(st["flags"])) }
  end

  def op_raw_sendfile(st)
    call { Splicer.sendfile(fd(st["dst"]), fd(st["src"]), offset(st["off_in"]), st.fetch("len")) }
  end

  def op_raw_copy_file_range(st)
    call do
      Splicer.copy_file_range(fd(st["src"]), offset(st["off_in"]), fd(st["dst"]), offset(st["off_out"]),
                              st.fetch("len"))
    end
  end

  def op_pipe_size(st) = call { Splicer.pipe_size(fd(st["fixture"])) }
  def op_set_pipe_size(st) = call { Splicer.set_pipe_size(fd(st["fixture"]), st.fetch("size")) }

  def op_pool_set(st)
    fail!("value is required") unless st.key?("value")
    _, err = call { Splicer::Pool.set(pool_option(st["option"]), st["value"]) }
    [err ? nil : 0, err]
  end

  def op_pool_get(st) = call { Splicer::Pool.get(pool_option(st["option"])) }

  def op_pool_trim(_st) = call { Splicer::Pool.trim }

  def op_keep(st)
    kind = st.fetch("kind", "unknown")
    kind = kind.to_sym if kind.is_a?(String) && Splicer::FD_KINDS.key?(kind.to_sym)
    fail!("bad kind") unless kind.is_a?(Integer) || kind.is_a?(Symbol)
    call { @s.keep(fd(st["fixture"]), kind, nonblock: st["nonblock"] == true) }
  end

  def op_forget(st)
    return call { @s.forget_all } if st["all"] == true

    call { @s.forget(fd(st["fixture"])) }
  end

  def op_pool_stats(st)
    now = Splicer::Pool.stats
    return NO_RESULT unless st["expect"]

    start = @pool_start
    got = {}
    %i[borrowed returned created closed misses discarded undersized spills].each { |k| got[k.to_s] = now[k] - start[k] }
    %i[in_use idle peak_in_use].each { |k| got[k.to_s] = now[k] }
    check_fields("pool_stats", st["expect"], got)
    NO_RESULT
  end

  # ---- the end of a case ---------------------------------------------------

  # Section 3.1 step 4: sessions freed, content read, fds closed, peers
  # read to their end.  Returns what arrived, by fixture name.
  def finish(check)
    @sessions.each_value(&:close)
    @s = nil
    wanted = Array(@case["arrived"]).to_h { |a| [a["fixture"], true] }
    contents = {}
    @order.each do |fx|
      next unless fx.is_file && check && wanted[fx.name]

      contents[fx.name] = fx.readable ? read_whole(fx.io) : File.binread(fx.path)
    end
    @order.each do |fx|
      fx.io&.close unless fx.io&.closed?
      fx.io = nil
      fx.fd = -1
      if fx.peer && !fx.peer_reads
        fx.peer.close
        fx.peer = nil
      end
    end
    @order.each do |fx|
      if fx.reader
        fx.reader.join
        fx.arrived << fx.reader_out
      elsif check && wanted[fx.name] && !fx.is_file && !fx.peer_closed_by_case
        fail!("arrived: fixture #{fx.name} cannot receive bytes") unless fx.peer && fx.peer_reads
        read_to_end(fx)
      end
      contents[fx.name] ||= fx.arrived unless fx.is_file
    end
    contents
  ensure
    @order.each do |fx|
      fx.reader&.kill
      fx.io&.close unless fx.io.nil? || fx.io.closed?
      fx.peer&.close unless fx.peer.nil? || fx.peer.closed?
      File.unlink(fx.path) if fx.path && !fx.shares_file && File.exist?(fx.path)
      next unless fx.mnt

      system("umount", "-l", fx.mnt, out: File::NULL, err: File::NULL)
      Dir.rmdir(fx.mnt)
    end
  end

  def read_whole(io)
    size = io.stat.size
    out = +"".b
    out << io.pread([size - out.bytesize, 1 << 20].min, out.bytesize) while out.bytesize < size
    out
  end

  def read_to_end(fx)
    if fx.dgram
      nil while recv_datagram(fx, 0.05) # no end of file: until 50 ms of silence
      return
    end
    loop { fx.arrived << fx.peer.readpartial(1 << 20) }
  rescue EOFError
    nil
  end

  def check_arrived(contents)
    Array(@case["arrived"]).each do |a|
      name = a["fixture"]
      got = contents[name]
      return ["FAIL", "arrived: nothing collected for #{name}"] if got.nil?

      fx = @fixtures[name]
      if a["max_datagram"] && fx.max_datagram > a["max_datagram"]
        return ["FAIL", "arrived at #{name}: a datagram of #{fx.max_datagram} bytes, more than #{a['max_datagram']}"]
      end
      hash = Pattern.fnv1a64(got)
      if got.bytesize != a["size"] || hash != a["hash"]
        return ["FAIL", "arrived at #{name}: expected #{a['size']} bytes #{a['hash']}, got #{got.bytesize} bytes #{hash}"]
      end
    end
    ["PASS"]
  end
end

# ---- main ---------------------------------------------------------------------

def case_files(paths)
  paths.flat_map do |p|
    if File.directory?(p)
      Dir.children(p).select { |n| n.end_with?(".json") && !n.start_with?(".") }.sort.map { |n| File.join(p, n) }
    else
      [p]
    end
  end
end

def open_fds = Dir.children("/proc/self/fd").size

def main(argv)
  filter = nil
  verbose = false
  paths = []
  while (a = argv.shift)
    case a
    when "-k" then filter = argv.shift
    when "-v" then verbose = true
    else paths << a
    end
  end
  if paths.empty?
    warn "usage: run.rb [-k TEXT] [-v] DIR_OR_FILE..."
    return 2
  end
  docs = []
  case_files(paths).each do |file|
    doc = JSON.parse(File.read(file))
    raise "no \"cases\" array" unless doc["cases"].is_a?(Array)

    docs << doc
  rescue StandardError => e
    warn "#{file}: #{e.message}"
    return 2
  end

  CaseRun.pool_defaults = Splicer::Pool::OPTIONS.keys.to_h { |k| [k, Splicer::Pool.get(k)] }
  tmp = ENV.fetch("TMPDIR", "")
  tmp = "/tmp" if tmp.empty?
  CaseRun.rundir = Dir.mktmpdir("splicer-ruby-conformance.", tmp)
  Thread.new { nil }.join # the VM's own fds (timer thread) exist before the first count
  passed = failed = skipped = 0
  number = 0
  begin
    docs.each do |doc|
      doc["cases"].each do |kase|
        id = kase["id"]
        next if filter && !id.include?(filter)

        number += 1
        Splicer::Pool.trim
        before = open_fds
        verdict, detail = CaseRun.new(kase, number).run
        GC.start
        Splicer::Pool.trim # idle pool pipes are the pool's, not a leak
        after = open_fds
        if verdict == "PASS" && before != after
          verdict = "FAIL"
          detail = "fd leak: #{before} open before the case, #{after} after"
        end
        case verdict
        when "PASS"
          passed += 1
          puts "#{id} PASS"
        when "SKIP"
          skipped += 1
          puts "#{id} SKIP #{detail}"
        else
          failed += 1
          detail = "#{detail[0, 296]}..." if !verbose && detail.size > 300
          puts "#{id} FAIL #{detail}"
        end
      end
    end
  ensure
    FileUtils.rm_rf(CaseRun.rundir)
  end
  puts "#{passed} passed, #{failed} failed, #{skipped} skipped"
  failed.positive? ? 1 : 0
end

exit(main(ARGV.dup))
