# frozen_string_literal: true

require_relative "test_helper"

# Transfers through Splicer.copy and Splicer::Session: every fd pair, the
# methods, offsets, tee, sealed buffers, progress and statistics.
class SessionTest < Minitest::Test
  def test_version
    assert_match(/\A\d+\.\d+\.\d+\z/, Splicer.library_version)
    assert_equal Splicer::VERSION, Splicer.library_version
    assert_kind_of Integer, Splicer.library_version_number
  end

  def test_copy_file_to_file_uses_copy_file_range
    bytes = data(300_000)
    src = file_with(bytes)
    dst = new_file
    Splicer::Session.open do |s|
      assert_equal bytes.bytesize, s.copy(src, dst)
      assert_equal :copy_file_range, s.progress.method
      st = s.stats
      assert_equal bytes.bytesize, st.bytes
      assert_equal bytes.bytesize, st.bytes_by_method[:copy_file_range]
      assert_equal 0, st.fallbacks
      assert_equal 0, st.pool_misses
      assert_equal 0, st.pool_spills
    end
    assert_equal bytes, File.binread(path("dst"))
    assert_equal bytes.bytesize, src.pos, "the source's position advanced"
  end

  def test_splicer_copy_every_pair
    bytes = data(200_000)
    # file -> pipe (splice), pipe -> file (splice)
    r, w = pipe
    got = reader(r)
    assert_equal bytes.bytesize, Splicer.copy(file_with(bytes), w)
    w.close
    assert_equal bytes, got.value
    r, w = pipe
    writer = Thread.new { w.write(bytes) && w.close }
    assert_equal bytes.bytesize, Splicer.copy(r, new_file("p2f"))
    writer.join
    assert_equal bytes, File.binread(path("p2f"))
    # socket -> socket (splice through a pipe), file -> socket (sendfile)
    a, b = socketpair
    c, d = socketpair
    got = reader(d)
    writer = Thread.new { a.write(bytes) && a.close_write }
    assert_equal bytes.bytesize, Splicer.copy(b, c)
    writer.join
    assert_equal bytes.bytesize, Splicer.copy(file_with(bytes, "again"), c)
    c.close
    assert_equal bytes * 2, got.value
  end

  def test_methods_for_pairs
    r, w = pipe
    a, b = socketpair
    f = file_with("x")
    g = new_file
    assert_equal :copy_file_range, Splicer.method_for(f, g)
    assert_equal :splice, Splicer.method_for(r, g)
    assert_equal :sendfile, Splicer.method_for(f, a)
    assert_equal :splice_pipe, Splicer.method_for(a, b)
    assert_equal :splice, Splicer.method_for(f, w)
    assert_raises(Errno::EBADF) { Splicer.method_for(-1, g) }
  end

  def test_tcp_to_tcp_and_len_limit_leaves_the_rest
    a, b = tcp_pair
    c, d = tcp_pair
    bytes = data(50_000)
    a.write(bytes)
    a.close_write
    got = reader(d)
    assert_equal 20_000, Splicer.copy(b, c, 20_000)
    assert_equal bytes.byteslice(20_000..), b.read, "the source is never read past len"
    c.close
    assert_equal bytes.byteslice(0, 20_000), got.value
  end

  def test_copy_range_offsets_leave_positions_alone
    bytes = data(10_000)
    src = file_with(bytes)
    dst = new_file
    dst.write("Z" * 100)
    dst.flush
    Splicer::Session.open do |s|
      assert_equal 1000, s.copy_range(src, 500, dst, 50, 1000)
    end
    assert_equal 0, src.pos
    assert_equal 100, dst.pos
    out = File.binread(path("dst"))
    assert_equal ("Z" * 50) + bytes.byteslice(500, 1000), out
  end

  def test_copy_range_nil_offsets_use_positions
    src = file_with(data(1000))
    src.sysseek(100)
    dst = new_file
    Splicer::Session.open { |s| assert_equal 900, s.copy_range(src, nil, dst, nil) }
    assert_equal data(1000).byteslice(100..), File.binread(path("dst"))
  end

  def test_tee_to_several_destinations
    bytes = data(150_000)
    src = file_with(bytes)
    r1, w1 = pipe
    r2, w2 = pipe
    out = new_file
    got1 = reader(r1)
    got2 = reader(r2)
    Splicer::Session.open do |s|
      assert_equal bytes.bytesize, s.tee(src, w1, w2, out)
    end
    [w1, w2].each(&:close)
    assert_equal bytes, got1.value
    assert_equal bytes, got2.value
    assert_equal bytes, File.binread(path("dst"))
  end

  def test_tee_with_len_and_offset
    src = file_with(data(5000))
    r, w = pipe
    got = reader(r)
    Splicer::Session.open { |s| assert_equal 1000, s.tee(src, w, len: 1000, off_in: 2000) }
    w.close
    assert_equal data(5000).byteslice(2000, 1000), got.value
    assert_equal 0, src.pos
  end

  def test_tee_errors
    Splicer::Session.open do |s|
      assert_raises(Errno::EINVAL) { s.tee(file_with("x")) }
      assert_raises(Errno::EINVAL) { s.tee(file_with("x", "b"), *Array.new(Splicer::TEE_MAX + 1) { new_file("d") }) }
    end
  end

  def test_write_buf_seals_the_buffer
    r, w = pipe
    got = reader(r)
    buf = Splicer::Buf.new(10_000)
    assert_equal 5, buf.write("hello")
    assert_equal 10, buf.write("world", 5)
    refute buf.sealed?
    Splicer::Session.open do |s|
      assert_equal 10, s.write_buf(buf, w, 10)
      assert buf.sealed?
      assert_raises(FrozenError) { buf.write("x") }
      assert_raises(FrozenError) { s.write_buf(buf, w) }
      assert_equal 6, s.write_buf(" again", w)
      assert_equal :vmsplice, s.progress.method
    end
    w.close
    assert_equal "helloworld again", got.value
  end

  def test_write_buf_errors
    buf = Splicer::Buf.new(100)
    Splicer::Session.open do |s|
      assert_raises(Errno::EINVAL) { s.write_buf(buf, new_file, 101) }
      refute buf.sealed?, "a failed hand-over leaves the buffer with the caller"
      assert_raises(TypeError) { s.write_buf(42, new_file) }
      assert_equal 0, s.write_buf("", new_file("e"))
    end
    assert_raises(Errno::EINVAL) { Splicer::Buf.new(0) }
    assert_raises(Errno::EINVAL) { buf.write("x" * 101) }
    buf.free
  end

  def test_open_step_run_progress
    bytes = data(100_000)
    src = file_with(bytes)
    dst = new_file
    Splicer::Session.open(chunk: 16_384) do |s|
      assert_same s, s.open(src, dst, 50_000)
      first = s.step
      assert_operator first, :>, 0
      assert_operator first, :<=, 16_384
      p = s.progress
      assert_equal first, p.delivered
      refute p.finished?
      rest = s.run
      assert_equal 50_000, first + rest
      assert s.progress.finished?
      assert_equal 0, s.step, "a finished transfer steps to 0"
      assert_equal 0, s.run
    end
    assert_equal bytes.byteslice(0, 50_000), File.binread(path("dst"))
  end

  def test_options
    s = Splicer::Session.new(chunk: 4096, pipe_size: 65_536, fallback: false, methods: %i[splice read_write],
                             sigpipe: false, pool: false)
    assert_equal 4096, s.get(:chunk)
    assert_equal 4096, s[:chunk]
    assert_equal false, s[:fallback]
    assert_equal false, s[:sigpipe]
    assert_equal false, s[:pool]
    assert_equal false, s[:nonblock]
    assert_equal %i[splice read_write], s[:methods]
    s[:methods] = 1 << 7
    assert_equal [:read_write], s[:methods]
    s[:nonblock] = true
    assert_equal true, s[:nonblock]
    s.set("chunk", 8192)
    assert_equal 8192, s.get("chunk")
    assert_equal 8192, s.get(Splicer::Core::OPT_CHUNK)
    assert_raises(ArgumentError) { s.set(:nope, 1) }
    assert_raises(ArgumentError) { s.set(:methods, [:teleport]) }
    assert_raises(TypeError) { s.set(:chunk, true) }
    assert_raises(TypeError) { s.set(:chunk, 4096.0) }
    assert_raises(TypeError) { s.set(:chunk, [:splice]) }
    assert_raises(TypeError) { s.set(4.2, 1) }
    assert_raises(Errno::EINVAL) { s.set(:chunk, 0) }
    assert_raises(Errno::EINVAL) { s.set(:nonblock, 2) }
    assert_equal true, s[:nonblock], "a refused value changes nothing"
    assert_raises(Errno::EINVAL) { s.set(999, 1) }
    assert_raises(ArgumentError) { s.set(:chunk, 2**63) }
    assert_raises(ArgumentError) { Splicer::Session.new(colour: :red) }
    s.close
  end

  def test_session_block_form_and_close
    session = nil
    value = Splicer::Session.open do |s|
      session = s
      refute s.closed?
      :result
    end
    assert_equal :result, value
    assert session.closed?
    assert_raises(IOError) { session.copy(file_with("x"), new_file) }
    assert_raises(IOError) { session.progress }
    assert_nil session.close, "closing twice is fine"
    assert_match(/closed/, session.inspect)
    s = Splicer::Session.open
    assert_match(/none idle/, s.inspect)
    s.close
  end

  def test_splicer_copy_reuses_and_recovers
    r, w = pipe
    r.close
    err = assert_raises(Errno::EPIPE) { Splicer.copy(file_with(data(100_000)), w) }
    assert_match(/copy \(splice\)/, err.message)
    # the next call is not left an EBUSY by the failed one
    assert_equal 5, Splicer.copy(file_with("hello", "b"), new_file)
  end

  def test_echo_on_one_socket
    a, b = socketpair
    bytes = data(70_000)
    writer = Thread.new { a.write(bytes) && a.close_write }
    got = reader(a)
    assert_equal bytes.bytesize, Splicer.copy(b, b)
    writer.join
    b.close_write
    assert_equal bytes, got.value
  end

  def test_file_onto_itself
    bytes = data(8192)
    f = file_with(bytes, "self", "r+")
    Splicer::Session.open do |s|
      assert_raises(Errno::EINVAL) { s.copy(f, f) }
      assert_equal 4096, s.copy_range(f, 0, f, 4096, 4096)
      assert_raises(Errno::EINVAL) { s.copy_range(f, 0, f, 100, 4096) }
    end
    assert_equal bytes.byteslice(0, 4096) * 2, File.binread(path("self"))
  end

  def test_datagram_destination_gets_datagram_sized_writes
    a, b = track(*UNIXSocket.pair(:DGRAM))
    b.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 1 << 20)
    bytes = data(100_000)
    got = []
    collector = Thread.new do
      total = 0
      while total < bytes.bytesize
        d = b.recv(65_536)
        got << d
        total += d.bytesize
      end
    end
    assert_equal bytes.bytesize, Splicer.copy(file_with(bytes), a)
    collector.join(10)
    assert_equal bytes, got.join
    assert got.all? { |d| d.bytesize <= 32_768 }, "at most 32 KiB per datagram: #{got.map(&:bytesize)}"
  end

  def test_zero_length_datagram_is_not_end_of_input
    a, b = track(*UNIXSocket.pair(:DGRAM))
    b.send("abc", 0)
    b.send("", 0)
    b.send("def", 0)
    dst = new_file
    Splicer::Session.open { |s| assert_equal 6, s.copy(a, dst, 6) }
    assert_equal "abcdef", File.binread(path("dst"))
  end

  def test_to_io_and_fileno_objects
    wrapper = Struct.new(:io) { def to_io = io }
    fileno_only = Struct.new(:fd) { def fileno = fd }
    src = file_with(data(1000))
    dst = new_file
    assert_equal 1000, Splicer.copy(wrapper.new(src), fileno_only.new(dst.fileno))
    assert_equal data(1000), File.binread(path("dst"))
    bad = Struct.new(:x) { def fileno = "three" }
    assert_raises(TypeError) { Splicer.copy(bad.new(1), dst) }
  end

  def test_integer_fds
    src = file_with(data(3000))
    dst = new_file
    assert_equal 3000, Splicer.copy(src.fileno, dst.fileno)
    assert_equal data(3000), File.binread(path("dst"))
  end

  def test_raw_wrappers
    bytes = data(20_000)
    src = file_with(bytes)
    r, w = pipe
    assert_equal 1000, Splicer.splice(src, 100, w, nil, 1000)
    assert_equal 0, src.pos
    r2, w2 = pipe
    assert_equal 1000, Splicer.tee(r, w2, 5000)
    assert_equal bytes.byteslice(100, 1000), r2.read_nonblock(5000)
    assert_equal 1000, Splicer.splice(r, nil, new_file("raw"), 0, 1000, Splicer::F_MOVE)
    assert_equal 6, Splicer.vmsplice(w, %w[abc def])
    assert_equal "abcdef", r.read_nonblock(10)
    out = new_file("sf")
    assert_equal 500, Splicer.sendfile(out, src, 10, 500)
    assert_equal 700, Splicer.copy_file_range(src, 0, out, 500, 700)
    out.flush
    assert_equal bytes.byteslice(10, 500) + bytes.byteslice(0, 700), File.binread(path("sf"))
    assert_equal 65_536, Splicer.pipe_size(r)
    assert_operator Splicer.set_pipe_size(w, 200_000), :>=, 200_000
    assert_raises(Errno::ESPIPE) { Splicer.splice(r, 5, w2, nil, 10) }
    assert_raises(Errno::EBADF) { Splicer.vmsplice(r, "x") }
    assert_raises(Errno::EBADF) { Splicer.pipe_size(src) }
    assert_raises(Errno::EAGAIN) { Splicer.splice(r, nil, w2, nil, 10, Splicer::F_NONBLOCK) }
    assert_raises(TypeError) { Splicer.vmsplice(w, [1]) }
    w2.close
  end

  def test_stats_accumulate_and_inspect
    s = Splicer::Session.new
    s.copy(file_with("abc"), new_file)
    s.copy(file_with("defg", "b"), new_file("c"))
    st = s.stats
    assert_equal 7, st.bytes
    assert_operator st.syscalls, :>=, 2
    assert_equal Splicer::METHOD_NAMES.size - 1, st.bytes_by_method.size
    refute st.bytes_by_method.key?(:none)
    assert_match(/copy_file_range finished delivered=4/, s.inspect)
    s.close
  end

  def test_errors_name_the_operation_and_method
    a, b = socketpair
    b.close
    s = Splicer::Session.new
    err = assert_raises(Errno::EPIPE) { s.copy(file_with(data(300_000)), a) }
    assert_kind_of SystemCallError, err
    assert_equal Errno::EPIPE::Errno, err.errno
    assert_match(/Broken pipe - copy \((sendfile|splice_pipe|read_write)\)/, err.message)
    assert_accounted(s)
    s.abort
    assert_raises(Errno::EBADF) { s.copy(-1, new_file) }
    err = assert_raises(Errno::EBADF) { s.copy(file_with("x", "w", "w"), new_file) }
    assert_match(/splicer_open/, err.message)
    s.close
  end

  def test_bad_arguments
    s = Splicer::Session.new
    src = file_with("abc")
    dst = new_file
    assert_raises(TypeError) { s.copy(src, dst, 1.5) }
    assert_raises(TypeError) { s.copy(src, dst, "10") }
    assert_raises(ArgumentError) { s.copy(src, dst, -5) }
    assert_raises(ArgumentError) { s.copy(src, dst, 2**64) }
    assert_raises(TypeError) { s.copy(nil, dst) }
    assert_raises(TypeError) { s.copy(3.0, dst) }
    assert_raises(TypeError) { s.copy("/etc/passwd", dst) }
    assert_raises(ArgumentError) { s.copy(2**31, dst) }
    assert_raises(ArgumentError) { s.copy_range(src, 2**63, dst, nil) }
    assert_raises(Errno::EINVAL) { s.copy_range(src, -2, dst, nil) }
    assert_raises(TypeError) { s.tee(src, 1.0) }
    assert_raises(TypeError) { s.copy_range(src, 1.0, dst, nil) }
    assert_raises(ArgumentError) { Splicer.splice(src, nil, dst, nil, 10, -1) }
    assert_raises(ArgumentError) { Splicer.splice(src, nil, dst, nil, 10, 2**32) }
    closed = File.open(path("dst"))
    closed.close
    assert_raises(IOError) { s.copy(closed, dst) }
    # 2**64 - 1 is SPLICER_TO_EOF itself: accepted, as "until end of file"
    assert_equal 3, s.copy(src, dst, (2**64) - 1)
    s.close
  end

  def test_ebusy_while_pending_then_resume
    a, b = socketpair
    c, d = socketpair
    c.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    d.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    bytes = data(100_000)
    a.write(bytes)
    a.close_write
    s = Splicer::Session.new(nonblock: true)
    assert_raises(IO::EAGAINWaitWritable) { s.copy(b, c) }
    p = assert_accounted(s)
    assert_operator p.pending, :>, 0
    assert_raises(Errno::EBUSY) { s.copy(b, new_file) }
    got = reader(d)
    s[:nonblock] = false
    rest = s.resume
    c.close
    assert_equal bytes, got.value, "every byte exactly once"
    assert_equal bytes.bytesize, p.delivered + rest
    s.close
  end
end
