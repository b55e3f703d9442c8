# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"

# A minimal Fiber scheduler (the interface of Ruby 3.1's Fiber::SchedulerInterface):
# io_wait parks the fiber until IO.select says the IO is ready.  It records
# every io_wait, so a test can tell that a transfer waited through it.
class TestScheduler
  attr_reader :io_waits

  def initialize
    @readable = {}
    @writable = {}
    @sleeping = {}
    @ready = []
    @io_waits = []
    @lock = Thread::Mutex.new
    @wake_r, @wake_w = IO.pipe
  end

  def fiber(&block)
    fiber = Fiber.new(blocking: false, &block)
    fiber.resume
    fiber
  end

  def io_wait(io, events, _timeout)
    @io_waits << [io, events]
    fiber = Fiber.current
    @readable[io] = fiber if events.anybits?(IO::READABLE)
    @writable[io] = fiber if events.anybits?(IO::WRITABLE)
    Fiber.yield
    events
  ensure
    @readable.delete(io)
    @writable.delete(io)
  end

  def kernel_sleep(duration = nil)
    @sleeping[Fiber.current] = duration ? now + duration : nil
    Fiber.yield
    true
  end

  def block(_blocker, timeout = nil)
    @sleeping[Fiber.current] = timeout ? now + timeout : nil
    Fiber.yield
    true
  end

  def unblock(_blocker, fiber)
    @lock.synchronize { @ready << fiber }
    @wake_w.write_nonblock(".", exception: false)
  end

  def close
    run
    @wake_r.close
    @wake_w.close
  end

  def run
    until @readable.empty? && @writable.empty? && @sleeping.empty? && @ready.empty?
      timeout = @sleeping.values.compact.map { |t| [t - now, 0].max }.min
      r, w = IO.select(@readable.keys + [@wake_r], @writable.keys, [], timeout)
      @wake_r.read_nonblock(64, exception: false) if r&.delete(@wake_r)
      r&.each { |io| @readable[io]&.resume }
      w&.each { |io| @writable[io]&.resume }
      due = @sleeping.select { |_, t| t && t <= now }.keys
      due.each do |f|
        @sleeping.delete(f)
        f.resume
      end
      ready = @lock.synchronize { @ready.slice!(0..) }
      ready.each do |f|
        @sleeping.delete(f)
        f.resume if f.alive?
      end
    end
  end

  private

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

# Blocking, the GVL, interrupts (Thread#kill, Thread#raise, Timeout, trap
# handlers), fibers, and the non-blocking API.
class BlockingTest < Minitest::Test
  def test_other_threads_run_while_a_copy_waits
    r, w = pipe
    out = new_file
    copier = Thread.new { Splicer.copy(r, out) }
    wait_until_blocked(copier)
    counter = 0
    spinner = Thread.new { 100_000.times { counter += 1 } }
    spinner.join(5)
    assert_equal 100_000, counter, "another thread ran while the copy waited"
    w.write("done")
    w.close
    assert_equal 4, copier.value
  end

  def test_generated_layer_releases_the_gvl_while_blocked
    r, w = pipe
    r.nonblock = false
    h = Splicer::Core.session_new
    Splicer::Core.open(h, r.fileno, nil, new_file, nil, nil)
    stepper = Thread.new { Splicer::Core.step(h) } # blocks in read(2)/splice(2)
    wait_until_blocked(stepper)
    counter = 0
    Thread.new { 50_000.times { counter += 1 } }.join(5)
    assert_equal 50_000, counter, "other threads ran while Core.step blocked"
    w.write("unblock")
    assert_equal 7, stepper.value
    Splicer::Core.session_free(h)
  end

  def test_thread_kill_interrupts_a_copy_reading_a_pipe_nobody_writes
    r, _w = pipe
    s = Splicer::Session.new
    copier = Thread.new { s.copy(r, new_file) }
    wait_until_blocked(copier)
    copier.kill
    assert copier.join(2), "Thread#kill ended the blocked copy"
    refute copier.alive?
    assert_accounted(s)
    s.close
  end

  def test_thread_kill_on_a_blocking_integer_fd
    r, w = pipe
    r.nonblock = false
    s = Splicer::Session.new
    copier = Thread.new { s.copy(r.fileno, new_file) }
    wait_until_blocked(copier)
    copier.kill
    assert copier.join(2), "a blocking descriptor is waited on interruptibly too"
    refute r.nonblock?, "the descriptor's own flags are left as they were"
    w.write("after")
    w.close
    assert_equal 5, s.resume, "the session goes on after the interrupt"
    s.close
  end

  def test_thread_raise_with_bytes_pending_then_resume
    a, b = socketpair
    c, d = socketpair
    c.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    d.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    bytes = data(100_000)
    a.write(bytes)
    a.close_write
    s = Splicer::Session.new(chunk: 32_768)
    copier = Thread.new { s.copy(b, c) }
    copier.report_on_exception = false
    wait_until_blocked(copier)
    copier.raise(Interrupt, "stop")
    err = assert_raises(Interrupt) { copier.value }
    assert_equal "stop", err.message
    p = assert_accounted(s)
    assert_operator p.pending, :>, 0, "bytes taken from the source stay held, not lost"
    got = reader(d)
    rest = s.resume
    c.close
    assert_equal bytes, got.value, "every byte exactly once"
    assert_equal bytes.bytesize, p.delivered + rest
    s.close
  end

  def test_timeout_interrupts_a_copy
    r, _w = pipe
    s = Splicer::Session.new
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Timeout::Error) { Timeout.timeout(0.2) { s.copy(r, new_file) } }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 2
    s.close
  end

  def test_trap_handlers_run_and_the_copy_goes_on
    r, w = pipe
    trapped = false
    old = Signal.trap("USR2") { trapped = true }
    helper = Thread.new do
      sleep 0.2
      Process.kill("USR2", Process.pid)
      sleep 0.2
      w.write("late bytes")
      w.close
    end
    assert_equal 10, Splicer.copy(r, new_file)
    helper.join
    assert trapped, "the trap handler ran while the copy waited"
  ensure
    Signal.trap("USR2", old || "DEFAULT")
  end

  def test_fiber_scheduler_waits_with_io_wait
    r, w = pipe
    out = new_file
    scheduler = TestScheduler.new
    order = []
    result = nil
    Thread.new do
      Fiber.set_scheduler(scheduler)
      Fiber.schedule do
        order << :copy_start
        result = Splicer.copy(r, out)
        order << :copy_done
      end
      Fiber.schedule do
        order << :writer
        w.write("through the scheduler")
        w.close
      end
    end.join(10)
    assert_equal 21, result
    assert_equal %i[copy_start writer copy_done], order, "the copy yielded to the other fiber"
    assert(scheduler.io_waits.any? { |io, events| io == r && events.anybits?(IO::READABLE) },
           "waited with IO#wait_readable on the source: #{scheduler.io_waits.inspect}")
    assert_equal "through the scheduler", File.binread(path("dst"))
  end

  def test_fiber_scheduler_two_transfers_interleave
    a, b = socketpair
    c, d = socketpair
    e, f = socketpair
    d.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    c.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    bytes = data(300_000)
    scheduler = TestScheduler.new
    got = nil
    sent = nil
    Thread.new do
      Fiber.set_scheduler(scheduler)
      Fiber.schedule { sent = Splicer.copy(b, c) } # b -> c, waits for d's reader
      Fiber.schedule { got = +"".b; (got << d.readpartial(8192)) while got.bytesize < bytes.bytesize }
      Fiber.schedule do
        a.write(bytes)
        a.close_write
      end
    end.join(20)
    assert_equal bytes.bytesize, sent
    assert_equal bytes, got
    assert(scheduler.io_waits.any? { |io, events| io == c && events.anybits?(IO::WRITABLE) },
           "the full destination was waited on through the scheduler")
    [e, f].each(&:close)
  end

  # The main thread of a one-thread program: the unblocking function is
  # called from the signal handler (no helper thread), and Ctrl-C gets in.
  def test_sigint_interrupts_the_main_thread_of_a_one_thread_program
    code = <<~RUBY
      require "splicer"
      r, _w = IO.pipe
      $stdout.sync = true
      puts "waiting"
      begin
        Splicer.copy(r, File.open(File::NULL, "w"))
      rescue Interrupt
        puts "interrupted"
      end
    RUBY
    IO.popen([RbConfig.ruby, *$LOAD_PATH.grep(%r{bindings/ruby/(lib|build/lib)}).flat_map { |d| ["-I", d] },
              "-e", code], "r") do |child|
      assert_equal "waiting\n", child.gets
      sleep 0.2
      Process.kill("INT", child.pid)
      assert_equal "interrupted\n", Timeout.timeout(5) { child.gets }
    end
  end

  # With no fd to spare for the wake-up eventfd (EMFILE), a copy still waits
  # (the way IO#wait_readable does) and still delivers.
  def test_wait_without_a_spare_fd
    r, w = pipe
    out = new_file
    pid = fork do
      w.close
      nofile = Dir.children("/proc/self/fd").map(&:to_i).max + 1
      Process.setrlimit(:NOFILE, nofile, Process.getrlimit(:NOFILE)[1])
      fillers = []
      loop { fillers << File.open(File::NULL) } # every free fd below the limit
    rescue Errno::EMFILE
      exit!(Splicer.copy(r, out) == 8 ? 0 : 1)
    end
    sleep 0.2
    w.write("no spare")
    w.close
    _, status = Process.wait2(pid)
    assert status.success?, status.inspect
    assert_equal "no spare", File.binread(path("dst"))
  end

  # The result of a copy into a pipe whose reader is gone, in a child
  # process: [exit status or nil, terminating signal or nil, what it said].
  def epipe_in_child(sigpipe:, disposition:, handler: false)
    r, w = IO.pipe
    pid = fork do
      r.close
      dst_r, dst_w = IO.pipe
      dst_r.close
      hits = 0
      if handler
        Signal.trap("PIPE") { hits += 1 }
      else
        Signal.trap("PIPE", disposition)
      end
      begin
        Splicer::Session.open(sigpipe: sigpipe) { |s| s.copy(File.open(__FILE__), dst_w) }
        w.write("copied")
      rescue Errno::EPIPE
        sleep 0.1 # a handler runs at the next check of interrupts
        w.write("EPIPE handler=#{hits}")
      end
      w.close
      exit!(0)
    end
    w.close
    _, status = Process.wait2(pid)
    said = r.read
    r.close
    [status.exitstatus, status.termsig, said]
  end

  def test_sigpipe_option_with_the_system_default_disposition
    assert_equal [0, nil, "EPIPE handler=0"], epipe_in_child(sigpipe: true, disposition: "SYSTEM_DEFAULT")
    assert_equal [nil, Signal.list["PIPE"], ""], epipe_in_child(sigpipe: false, disposition: "SYSTEM_DEFAULT"),
                 "sigpipe: false lets the signal do what the process arranged"
  end

  def test_sigpipe_option_with_a_ruby_trap_handler
    assert_equal [0, nil, "EPIPE handler=0"], epipe_in_child(sigpipe: true, disposition: nil, handler: true),
                 "the signal a closed reader raises is consumed, the handler does not see it"
    assert_equal [0, nil, "EPIPE handler=1"], epipe_in_child(sigpipe: false, disposition: nil, handler: true)
  end

  def test_nonblock_session_raises_wait_errors
    r, w = pipe
    out = new_file
    s = Splicer::Session.new(nonblock: true)
    err = assert_raises(IO::EAGAINWaitReadable) { s.copy(r, out) }
    assert_kind_of Errno::EAGAIN, err
    assert_kind_of IO::WaitReadable, err
    assert_match(/copy \(splice\)/, err.message)
    assert_equal [r, :read], s.wait
    assert_equal :wait_readable, s.step(exception: false)
    assert_equal :wait_readable, s.run(exception: false)
    w.write("abc")
    assert_equal 3, s.step
    assert_raises(Errno::EINVAL) { s.wait } # the last step did not return EAGAIN
    w.close
    assert_equal 0, s.run
    assert s.progress.finished?
    s.close
  end

  def test_nonblock_destination_full_wait_names_it
    a, b = socketpair
    b.setsockopt(Socket::SOL_SOCKET, Socket::SO_SNDBUF, 4096)
    a.setsockopt(Socket::SOL_SOCKET, Socket::SO_RCVBUF, 4096)
    src = file_with(data(500_000))
    s = Splicer::Session.new(nonblock: true)
    assert_raises(IO::EAGAINWaitWritable) { s.copy(src, b) }
    assert_equal [b, :write], s.wait
    got = +"".b
    loop do
      n = s.step(exception: false)
      break if n == 0 # n may be a Symbol

      got << a.read_nonblock(65_536, exception: false).to_s if n.is_a?(Symbol)
    end
    b.close
    got << a.read
    assert_equal data(500_000), got
    assert_operator s.stats.eagain, :>=, 1
    s.close
  end

  def test_integer_fd_that_is_o_nonblock_raises_eagain
    r, w = pipe
    r.nonblock = true
    s = Splicer::Session.new
    assert_raises(IO::EAGAINWaitReadable) { s.copy(r.fileno, new_file) }
    w.write("x")
    w.close
    assert_equal 1, s.resume
    s.close
  end

  def test_io_object_is_waited_on_although_o_nonblock
    r, w = pipe
    assert r.nonblock?, "Ruby's pipes are O_NONBLOCK"
    writer = Thread.new do
      sleep 0.1
      w.write("waited for")
      w.close
    end
    assert_equal 10, Splicer.copy(r, new_file)
    writer.join
  end

  def test_step_waits_until_it_delivers
    r, w = pipe
    s = Splicer::Session.new
    s.open(r, new_file)
    writer = Thread.new do
      sleep 0.1
      w.write("12345")
    end
    assert_equal 5, s.step
    writer.join
    w.close
    assert_equal 0, s.step
    s.close
  end
end
