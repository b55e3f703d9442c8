# frozen_string_literal: true

require_relative "test_helper"
require_relative "strace_helper"
require "splicer/io_splice"

# lazy_files: an open that leaves a regular file's access mode to the
# kernel's first syscall.  The one-shot copies use it; what they raise, and
# what they leave untouched, is what an eager open gives.
class LazyFilesTest < Minitest::Test
  include StraceHelper

  PAYLOAD = Array.new(10_000) { |i| (i * 7) & 0xff }.pack("C*").freeze

  def test_option
    Splicer::Session.open do |s|
      assert_equal false, s[:lazy_files]
      s[:lazy_files] = true
      assert_equal true, s.get(:lazy_files)
      assert_equal 1, Splicer::Core.session_get(s.instance_variable_get(:@h), Splicer::Core::OPT_LAZY_FILES)
      assert_equal true, s.get(Splicer::Core::OPT_LAZY_FILES)
      assert_raises(Errno::EINVAL) { s.set(:lazy_files, 2) }
      assert_raises(Errno::EINVAL) { s.set(:lazy_files, -1) }
      assert_raises(TypeError) { s.set(:lazy_files, "yes") }
      assert_equal true, s[:lazy_files], "a refused value changes nothing"
      s.set("lazy_files", false)
      assert_equal false, s[:lazy_files]
    end
    Splicer::Session.open(lazy_files: true) { |s| assert_equal true, s[:lazy_files] }
  end

  # --- ends an eager open refuses --------------------------------------------

  # A file holding body, on a new descriptor opened with flags (no
  # truncation), at position 0; the check that nothing moved is added.
  def file(name, flags, body, checks)
    File.binwrite(path(name), body)
    f = track(File.open(path(name), flags | File::BINARY))
    checks << lambda do
      assert_equal 0, f.sysseek(0, IO::SEEK_CUR), "#{name}'s position"
      assert_equal body, File.binread(path(name)), "#{name}'s bytes"
    end
    f
  end

  def nothing_readable(io) = -> { assert_equal :wait_readable, io.read_nonblock(1, exception: false) }

  # Each case: [source, destination, checks that nothing moved].
  CASES = {
    file_write_only_to_file: lambda do |t, dir, checks|
      [t.file("#{dir}/src", File::WRONLY, PAYLOAD, checks), t.file("#{dir}/dst", File::WRONLY, "before", checks)]
    end,
    file_to_read_only_file: lambda do |t, dir, checks|
      [t.file("#{dir}/src", File::RDONLY, PAYLOAD, checks), t.file("#{dir}/dst", File::RDONLY, "before", checks)]
    end,
    file_write_only_to_dev_null: lambda do |t, dir, checks|
      [t.file("#{dir}/src", File::WRONLY, PAYLOAD, checks), t.track(File.open(IO::NULL, "wb"))]
    end,
    file_write_only_to_pipe: lambda do |t, dir, checks|
      r, w = t.pipe
      checks << t.nothing_readable(r)
      [t.file("#{dir}/src", File::WRONLY, PAYLOAD, checks), w]
    end,
    file_write_only_to_socket: lambda do |t, dir, checks|
      a, b = t.socketpair
      checks << t.nothing_readable(b)
      [t.file("#{dir}/src", File::WRONLY, PAYLOAD, checks), a]
    end,
    pipe_to_read_only_file: lambda do |t, dir, checks|
      r, w = t.pipe
      w.write(PAYLOAD)
      checks << lambda do
        t.assert_equal PAYLOAD, r.read_nonblock(PAYLOAD.bytesize + 1), "the pipe's bytes"
        w.write(PAYLOAD) # for a later check
      end
      [r, t.file("#{dir}/dst", File::RDONLY, "before", checks)]
    end
  }.freeze

  def raised(&) = assert_raises(SystemCallError, &).then { |e| [e.class, e.errno, e.message] }

  # The case's ends made afresh under dir, passed to the block (as Integer
  # fds when fds is true); then the check that nothing moved.
  def with_ends(kind, dir, fds)
    Dir.mkdir(path(dir))
    checks = []
    src, dst = CASES.fetch(kind).call(self, dir, checks)
    yield(*(fds ? [src.fileno, dst.fileno] : [src, dst]))
    checks.each(&:call)
  end

  CASES.each_key do |kind|
    [false, true].each do |fds|
      define_method("test_one_shot_copy_raises_what_an_eager_open_raises_#{kind}#{fds ? '_fds' : ''}") do
        expected = nil
        with_ends(kind, "eager", fds) do |src, dst|
          Splicer::Session.open do |s|
            assert_equal false, s[:lazy_files]
            expected = raised { s.copy(src, dst) }
          end
        end
        assert_equal [Errno::EBADF, Errno::EBADF::Errno, "Bad file descriptor - splicer_open"], expected

        with_ends(kind, "lazy", fds) do |src, dst|
          assert_equal expected, raised { Splicer.copy(src, dst) }
        end
        with_ends(kind, "stream", fds) do |src, dst|
          assert_equal expected, raised { IO::Splice.copy_stream(src, dst) }
        end
        with_ends(kind, "range", fds) do |src, dst|
          assert_equal expected, raised { Splicer::Session.open(lazy_files: true) { |s| s.copy_range(src, nil, dst, nil) } }
        end

        # the shared sessions are left ready for the next copy
        assert_equal PAYLOAD.bytesize, Splicer.copy(file_with(PAYLOAD, "good"), new_file("copy"))
        assert_equal PAYLOAD, File.binread(path("copy"))
      end
    end
  end

  # O_PATH as <asm-generic/fcntl.h> has it (x86, arm, riscv...); Ruby names
  # no such constant
  O_PATH = 0o10_000_000

  def test_o_path_source_is_the_eager_error
    skip "O_PATH differs on #{RUBY_PLATFORM}" unless RUBY_PLATFORM.match?(/x86|aarch64|arm|riscv/)
    File.binwrite(path("src"), PAYLOAD)
    results = [true, false].map do |lazy|
      fd = IO.sysopen(path("src"), O_PATH)
      begin
        dst = new_file("dst-#{lazy}")
        e = raised { lazy ? Splicer.copy(fd, dst) : Splicer::Session.open { |s| s.copy(fd, dst) } }
        assert_equal 0, File.size(path("dst-#{lazy}"))
        e
      ensure
        IO.for_fd(fd).close
      end
    end
    assert_equal [Errno::EBADF, Errno::EBADF::Errno, "Bad file descriptor - splicer_open"], results[0]
    assert_equal results[1], results[0]
  end

  def test_one_shot_sessions_are_lazy
    sessions = Splicer.instance_variable_get(:@free_sessions)
    Splicer.copy(file_with("x"), new_file)
    refute_empty sessions
    assert(sessions.all? { |s| s[:lazy_files] })
  end

  def test_lazy_session_copy_raises_the_open_error_and_ends_the_transfer
    with_ends(:file_write_only_to_file, "x", false) do |src, dst|
      Splicer::Session.open(lazy_files: true) do |s|
        e = assert_raises(Errno::EBADF) { s.copy(src, dst) }
        assert_equal "Bad file descriptor - splicer_open", e.message
        assert_nil e.cause
        # as after a refused open: nothing pending, nothing to resume
        assert_equal 0, s.progress.pending
        assert_equal 0, s.resume
      end
    end
  end

  def test_lazy_open_then_step_is_ebadf_with_nothing_moved
    with_ends(:file_to_read_only_file, "x", false) do |src, dst|
      Splicer::Session.open(lazy_files: true) do |s|
        s.open(src, dst) # the open does not read the flags
        e = assert_raises(Errno::EBADF) { s.step }
        assert_equal "Bad file descriptor - step (none)", e.message
        # the transfer ended as a refused open leaves it
        p = s.progress
        assert_equal [0, 0, 0, :none, false], [p.consumed, p.delivered, p.pending, p.method, p.finished]
        assert_equal 0, s.stats.bytes
        assert_equal 0, s.step
        assert_equal 0, s.run
      end
      Splicer::Session.open do |s|
        e = assert_raises(Errno::EBADF) { s.open(src, dst) } # eager: the open itself
        assert_equal "Bad file descriptor - splicer_open", e.message
      end
    end
  end

  def test_lazy_copy_of_good_files_and_append
    Splicer::Session.open(lazy_files: true) do |s|
      src = file_with(PAYLOAD)
      dst = new_file
      assert_equal PAYLOAD.bytesize, s.copy(src, dst)
      assert_equal :copy_file_range, s.progress.method
      assert_equal [PAYLOAD.bytesize, PAYLOAD.bytesize], [src.pos, dst.pos]
      File.binwrite(path("app"), "head")
      app = track(File.open(path("app"), "ab"))
      src.rewind
      assert_equal PAYLOAD.bytesize, s.copy(src, app) # O_APPEND: falls back as with an eager open
    end
    assert_equal PAYLOAD, File.binread(path("dst"))
    assert_equal "head#{PAYLOAD}", File.binread(path("app"))
  end

  # copy_file_range refuses an O_APPEND destination with EBADF: without
  # fallback that is the step's error, the transfer open with its method, as
  # with an eager open.
  def test_append_destination_without_fallback_is_a_step_error
    src = file_with(PAYLOAD)
    File.binwrite(path("app"), "head")
    app = track(File.open(path("app"), "ab"))
    [false, true].each do |lazy|
      Splicer::Session.open(lazy_files: lazy, fallback: false) do |s|
        e = assert_raises(Errno::EBADF) { s.copy(src, app) }
        assert_equal "Bad file descriptor - copy (copy_file_range)", e.message
        s.open(src, app)
        e = assert_raises(Errno::EBADF) { s.step }
        assert_equal "Bad file descriptor - step (copy_file_range)", e.message
        p = s.progress
        assert_equal [0, :copy_file_range, false], [p.consumed, p.method, p.finished], "lazy: #{lazy}"
      end
    end
    assert_equal 0, src.pos
    assert_equal "head", File.binread(path("app"))
  end

  # --- syscalls counted by strace --------------------------------------------

  # run by strace_phases, which defines MARK and mark (the call on it) first
  CHILD = <<~'RUBY'
    require "json"
    require "tmpdir"
    require "splicer"

    N = 10
    dir = Dir.mktmpdir
    src_path = File.join(dir, "src")
    dst_path = File.join(dir, "dst")
    File.binwrite(src_path, Random.bytes(65_536))
    phases = []
    phase = lambda do |name, &copy|
      File.open(src_path, "rb") do |f|
        File.open(dst_path, "wb") do |g|
          mark.call
          N.times do
            f.rewind
            g.rewind
            copy.call(f, g) == 65_536 or abort
          end
          mark.call
          phases << [name, [f.fileno, g.fileno]]
        end
      end
    end

    File.open(src_path, "rb") { |f| File.open(dst_path, "wb") { |g| Splicer.copy(f, g) } } # a shared session
    eager = Splicer::Session.new(chunk: Splicer::ONE_SHOT_CHUNK)
    phase.call("one-shot") { |f, g| Splicer.copy(f, g) }
    phase.call("eager session") { |f, g| eager.copy(f, g) }
    phase.call("one-shot fds") { |f, g| Splicer.copy(f.fileno, g.fileno) }
    phase.call("eager session fds") { |f, g| eager.copy(f.fileno, g.fileno) }
    puts JSON.generate({ n: N, phases: phases })
  RUBY

  # Runs CHILD under strace: per phase, the fcntl(F_GETFL) calls made on the
  # phase's two files.
  def getfl_counts
    n, phases = strace_phases(CHILD, trace: "fcntl")
    counts = phases.to_h do |name, fds, calls|
      [name, calls.count { |_, fd, rest| fds.include?(fd) && rest.start_with?(" F_GETFL") }]
    end
    [n, counts]
  end

  def test_lazy_one_shot_copy_reads_no_file_flags
    n, c = getfl_counts
    # IOs: none at all, in the C library or in the binding
    assert_equal 0, c["one-shot"]
    # an eager open reads each file's flags
    assert_equal 2 * n, c["eager session"]
    # Integer fds: the binding still asks each whether it is O_NONBLOCK (the
    # waiting); the C library's reads are the ones spared
    assert_equal c["eager session fds"] - (2 * n), c["one-shot fds"]
  end
end
