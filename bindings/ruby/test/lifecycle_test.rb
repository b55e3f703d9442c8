# frozen_string_literal: true

require_relative "test_helper"

# Resources: a collected session releases its pipes, Pool.trim closes idle
# pool pipes, no internal fd survives exec; and the pipe pool's settings
# and statistics.
class LifecycleTest < Minitest::Test
  O_CLOEXEC = 0o2000000

  def setup
    super
    @pool_defaults = Splicer::Pool::OPTIONS.keys.to_h { |k| [k, Splicer::Pool.get(k)] }
    Splicer::Pool.trim
  end

  def teardown
    Splicer::Pool.configure(**@pool_defaults)
    Splicer::Pool.trim
    super
  end

  # A socket -> socket copy through a session that owns its pipes; the
  # session is left for the collector.
  def staged_copy_in_a_thread(bytes, pool:)
    Thread.new do
      a, b = UNIXSocket.pair
      c, d = UNIXSocket.pair
      a.write(bytes)
      a.close_write
      got = reader(d)
      Splicer::Session.new(pool: pool).copy(b, c)
      c.close
      got.value.bytesize.tap { [a, b, d].each(&:close) }
    end.value
  end

  def collect
    3.times { GC.start(full_mark: true, immediate_sweep: true) }
  end

  def test_collected_session_releases_its_pipes
    collect
    before = open_fds
    assert_equal 50_000, staged_copy_in_a_thread(data(50_000), pool: false)
    collect
    assert_empty open_fds - before, "the session's own pipes were closed when it was collected"
  end

  def test_pool_trim_closes_idle_pipes
    collect
    before = open_fds
    stats0 = Splicer::Pool.stats
    assert_equal 60_000, staged_copy_in_a_thread(data(60_000), pool: true)
    collect
    stats = Splicer::Pool.stats
    assert_operator stats.borrowed, :>, stats0.borrowed
    assert_operator stats.idle, :>=, 1, "the pipe went back to the pool, empty"
    assert_equal 0, stats.in_use
    assert_operator Splicer::Pool.trim, :>=, 1
    assert_equal 0, Splicer::Pool.stats.idle
    assert_empty open_fds - before, "no pipe is left once idle pool pipes are trimmed"
  end

  def cloexec?(fd)
    File.read("/proc/self/fdinfo/#{fd}")[/^flags:\s+(\d+)/, 1].to_i(8).anybits?(O_CLOEXEC)
  rescue Errno::ENOENT
    true # closed meanwhile (the listing's own directory fd)
  end

  def test_no_internal_fd_survives_exec
    inherited = open_fds.reject { |fd| cloexec?(fd) } # what this process was given, open across exec
    start = open_fds
    a, b = socketpair
    c, d = socketpair
    c.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    d.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    a.write(data(100_000))
    own = Splicer::Session.new(pool: false, nonblock: true)
    pooled = Splicer::Session.new(nonblock: true)
    assert_raises(IO::EAGAINWaitWritable) { own.copy(b, c) } # holds its own pipe, with bytes
    assert_operator own.progress.pending, :>, 0
    r, w = pipe
    waiter = Thread.new { Splicer.copy(r, new_file) } # waits on an eventfd
    wait_until_blocked(waiter)
    Splicer.copy(file_with(data(10_000)), w) # leaves an idle pool pipe
    created = open_fds - start
    assert_operator created.size, :>=, 4, "the session's pipes, the pool's, the waiter's eventfd"
    assert_empty created.reject { |fd| cloexec?(fd) }, "every fd made since is close-on-exec"
    # and what exec sees: stdin, stdout, stderr, ls's own directory fd and
    # what the process inherited, none of ours
    listed = IO.popen(["ls", "-1", "/proc/self/fd"], close_others: false, &:read).split.map(&:to_i)
    assert_empty listed - [0, 1, 2, 3] - inherited, "fds seen after exec: #{listed.inspect}"
    w.close
    waiter.join
    [own, pooled].each(&:close)
  end

  def test_pool_settings
    Splicer::Pool.configure(max_pipes: 64, max_idle: 4, pipe_size: 1 << 17)
    assert_equal 64, Splicer::Pool.max_pipes
    assert_equal 4, Splicer::Pool.max_idle
    assert_equal 1 << 17, Splicer::Pool.pipe_size
    Splicer::Pool.max_idle = 2
    assert_equal 2, Splicer::Pool.get(:max_idle)
    assert_equal 2, Splicer::Pool.get("max_idle")
    assert_equal 2, Splicer::Pool.get(Splicer::Core::POOL_MAX_IDLE)
    assert_raises(Errno::EINVAL) { Splicer::Pool.max_pipes = -1 }
    assert_raises(Errno::EINVAL) { Splicer::Pool.pipe_size = 100 }
    assert_raises(Errno::EINVAL) { Splicer::Pool.set(999, 1) }
    assert_raises(ArgumentError) { Splicer::Pool.get(:size) }
    assert_raises(TypeError) { Splicer::Pool.max_idle = 1.5 }
    assert_raises(ArgumentError) { Splicer::Pool.max_idle = 2**64 }
  end

  def test_pool_stats_fields
    st = Splicer::Pool.stats
    assert_equal %i[borrowed returned created closed misses in_use idle peak_in_use discarded undersized spills],
                 st.members
    assert(st.to_a.all?(Integer))
  end

  def test_pool_misses_go_through_read_write
    Splicer::Pool.max_pipes = 0
    misses0 = Splicer::Pool.stats.misses
    bytes = data(80_000)
    a, b = socketpair
    c, d = socketpair
    a.write(bytes)
    a.close_write
    got = reader(d)
    s = Splicer::Session.new
    assert_equal bytes.bytesize, s.copy(b, c)
    c.close
    assert_equal bytes, got.value
    st = s.stats
    assert_operator st.pool_misses, :>=, 1
    assert_equal bytes.bytesize, st.bytes_by_method[:splice_pipe] + st.bytes_by_method[:read_write]
    assert_operator Splicer::Pool.stats.misses, :>, misses0
    assert_equal 0, st.pool_spills, "a pool with no pipe at all has none to give back"
    s.close
  end

  # The only pipe lent to a session whose destination is full: the bytes
  # left go into a buffer and the pipe back to the pool, so another session
  # splices through it; the first transfer still delivers every byte.
  def test_pool_spills_when_short
    Splicer::Pool.max_pipes = 1
    before = Splicer::Pool.stats
    bytes = data(100_000, 7)
    a, b = socketpair
    c, d = socketpair
    c.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    d.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    a.write(bytes)
    a.close_write
    s = Splicer::Session.new(nonblock: true)
    s.open(b, c)
    assert_operator s.step, :>=, 1
    assert_operator s.progress.pending, :>=, 1
    assert_equal [1, 0], [s.stats.pool_spills, s.stats.pool_misses]
    mid = Splicer::Pool.stats
    assert_equal 1, mid.spills - before.spills
    assert_equal [0, 1, before.discarded], [mid.in_use, mid.idle, mid.discarded]
    # the pipe is back: another session splices instead of missing
    other = data(30_000, 8)
    e, f = socketpair
    g, h = socketpair
    e.write(other)
    e.close_write
    Splicer::Session.open do |o|
      assert_equal other.bytesize, o.copy(f, g)
      assert_equal 0, o.stats.pool_misses
      assert_equal other.bytesize, o.stats.bytes_by_method[:splice_pipe]
    end
    g.close
    assert_equal other, h.read
    # the spilled transfer delivers every byte, once: each wait is a
    # destination whose peer has bytes to read
    got = +"".b
    loop do
      n = s.step(exception: false)
      break if n == 0
      next if n.is_a?(Integer)

      assert_equal :wait_writable, n
      got << d.readpartial(65_536)
    end
    assert_equal bytes.bytesize, s.progress.delivered
    s.close
    c.close
    got << d.read
    assert_equal bytes, got
    assert_equal [0, before.discarded], [Splicer::Pool.stats.in_use, Splicer::Pool.stats.discarded]
  end

  def test_session_without_pool_borrows_nothing
    borrowed = Splicer::Pool.stats.borrowed
    assert_equal 30_000, staged_copy_in_a_thread(data(30_000), pool: false)
    assert_equal borrowed, Splicer::Pool.stats.borrowed
  end

  def test_pipe_size_option_with_the_pool
    s = Splicer::Session.new(pipe_size: 1 << 20)
    assert_equal Splicer::Pool.pipe_size, s[:pipe_size], "a batch is bounded by the pool's pipes"
    s.close
    s = Splicer::Session.new(pipe_size: 1 << 16, pool: false)
    assert_equal 1 << 16, s[:pipe_size]
    s.close
  end
end
