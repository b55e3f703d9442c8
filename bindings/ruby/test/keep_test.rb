# frozen_string_literal: true

require_relative "test_helper"
require_relative "strace_helper"

# Kept descriptors: Session#keep, #forget, #forget_all.
class KeepTest < Minitest::Test
  include StraceHelper

  def test_constants
    assert_equal 8, Splicer::KEEP_MAX
    assert_equal({ unknown: 0, stream: 1, dgram: 2, seqpacket: 3, pipe: 4 }, Splicer::FD_KINDS)
  end

  def test_ninth_is_enospc_and_a_forgotten_slot_takes_another
    pipes = Array.new(Splicer::KEEP_MAX + 1) { pipe }
    Splicer::Session.open do |s|
      pipes.first(Splicer::KEEP_MAX).each { |r, _| assert_same s, s.keep(r) }
      e = assert_raises(Errno::ENOSPC) { s.keep(pipes.last[0], :pipe) }
      assert_match(/keep/, e.message)
      s.keep(pipes[2][0], :pipe, nonblock: true) # kept again: replaced, no slot taken
      s.forget(pipes[2][0])
      s.keep(pipes.last[0].fileno, Splicer::FD_KINDS[:pipe])
      assert_raises(Errno::ENOSPC) { s.keep(pipes[2][0]) }
      assert_same s, s.forget_all
      pipes.first(Splicer::KEEP_MAX).each { |r, _| s.keep(r) }
    end
  end

  def test_forget_of_a_descriptor_not_kept_is_enoent
    r, w = pipe
    Splicer::Session.open do |s|
      assert_raises(Errno::ENOENT) { s.forget(r) }
      s.forget_all # nothing kept: still fine
      s.keep(r).keep(w, :pipe)
      s.forget(r)
      assert_raises(Errno::ENOENT) { s.forget(r.fileno) }
      s.forget(w)
      assert_raises(Errno::ENOENT) { s.forget(w) }
    end
  end

  def test_a_closed_descriptor_is_ebadf
    r, w = IO.pipe
    fd = r.fileno
    r.close
    w.close
    Splicer::Session.open do |s|
      [:unknown, :stream, :pipe].each do |kind|
        assert_raises(Errno::EBADF, kind.to_s) { s.keep(fd, kind) }
      end
      assert_raises(Errno::EBADF) { s.keep(-1, :stream, nonblock: true) }
      assert_raises(IOError) { s.keep(r) } # a closed IO is Ruby's own error
      assert_raises(Errno::ENOENT) { s.forget(fd) } # nothing was kept
      # a known kind with nonblock makes no syscall: taken on the caller's word
      s.keep(fd, :stream, nonblock: true)
      s.forget(fd)
    end
  end

  def test_bad_kinds
    r, = pipe
    Splicer::Session.open do |s|
      [5, -1, 0x100].each do |kind| # an Integer goes to the C library as it is
        assert_raises(Errno::EINVAL, kind.to_s) { s.keep(r, kind) }
      end
      assert_raises(Errno::EINVAL) { s.keep(r, :unknown, nonblock: true) }
      assert_raises(ArgumentError) { s.keep(r, :socket) }
      assert_raises(TypeError) { s.keep(r, 1.0) }
      assert_raises(TypeError) { s.keep("3") }
      assert_raises(Errno::ENOENT) { s.forget(r) } # none was kept
    end
    s = Splicer::Session.new
    s.close
    assert_raises(IOError) { s.keep(r) }
    assert_raises(IOError) { s.forget_all }
  end

  def test_kept_files_copy_every_byte
    bytes = data(300_000, 7)
    src = file_with(bytes)
    dst = new_file
    Splicer::Session.open do |s|
      s.keep(src).keep(dst)
      assert_equal bytes.bytesize, s.copy(src, dst)
      assert_equal 0, s.copy(src, dst)
      assert_equal bytes.bytesize, s.stats.bytes
      s.forget_all
    end
    assert_equal bytes, File.binread(path("dst"))
  end

  def test_kept_sockets_copy_every_byte
    bytes = data(1_000_000, 3)
    a, b = socketpair
    c, d = socketpair
    got = reader(d)
    writer = Thread.new { a.write(bytes) && a.close_write }
    Splicer::Session.open do |s|
      # Ruby makes its sockets O_NONBLOCK: kept with no syscall at all
      assert b.nonblock? && c.nonblock?
      s.keep(b, :stream, nonblock: true).keep(c, :stream, nonblock: true)
      assert_equal bytes.bytesize, s.copy(b, c)
      assert_equal :splice_pipe, s.progress.method
      s.forget(b).forget(c)
    end
    writer.join
    c.close_write
    assert_equal bytes, got.value
  end

  # What an open decides from its ends, without a transfer: the SIGPIPE
  # guard (a destination is a pipe or socket) and the EAGAINs that are the
  # caller's (the O_NONBLOCK Integer fds).
  def decisions(s, src, dst)
    s.open(src, dst, 0)
    [s.instance_variable_get(:@sigpipe), s.instance_variable_get(:@own)]
  ensure
    s.abort
  end

  FilenoOnly = Struct.new(:fileno)

  def test_kept_ends_decide_as_ends_asked_at_every_open
    src = file_with("x")
    dst = new_file
    null = track(File.open(File::NULL, "w"))
    r, w = pipe # Ruby's: O_NONBLOCK
    br, bw = pipe
    bw.nonblock = false
    br.nonblock = false
    a, = socketpair
    # [source, destination, the end kept, its ways of being kept, expected]
    cases = [
      [src.fileno, dst.fileno, dst.fileno, [[:unknown]], [false, nil]],
      [src.fileno, dst.fileno, src.fileno, [[:unknown]], [false, nil]],
      [src, null, null, [[:unknown]], [false, nil]],
      [src, w, w, [[:unknown], [:pipe, true], [:pipe]], [true, nil]],
      [src, w.fileno, w.fileno, [[:unknown], [:pipe, true], [:pipe]], [true, [w.fileno]]],
      [r.fileno, dst, r.fileno, [[:unknown], [:pipe, true]], [false, [r.fileno]]],
      [src, bw.fileno, bw.fileno, [[:unknown], [:pipe]], [true, nil]],
      [br.fileno, dst, br.fileno, [[:unknown], [:pipe, false]], [false, nil]],
      [src, a.fileno, a.fileno, [[:unknown], [:stream, true], [:stream]], [true, [a.fileno]]],
      [src, a, a, [[:unknown], [:stream, true]], [true, nil]],
      [src, FilenoOnly.new(w.fileno), w, [[:unknown], [:pipe, true]], [true, [w.fileno]]]
    ]
    cases.each do |from, to, end_, ways, expected|
      asked = Splicer::Session.open { |s| decisions(s, from, to) }
      assert_equal expected, asked, "#{from.inspect} -> #{to.inspect}"
      ways.each do |kind, nonblock|
        Splicer::Session.open do |s|
          s.keep(end_, kind, nonblock: nonblock || false)
          assert_equal asked, decisions(s, from, to), "#{end_.inspect} kept as #{kind} #{nonblock}"
          assert_equal asked, decisions(s, from, to)
          s.forget(end_)
          assert_equal asked, decisions(s, from, to)
        end
      end
    end
  end

  def test_an_open_takes_what_was_kept_until_forget
    src = file_with("x")
    dst = new_file
    br, bw = pipe
    bw.nonblock = false
    Splicer::Session.open do |s|
      assert_equal [true, nil], decisions(s, src, bw.fileno)
      # claims nothing checks: the blocking pipe as O_NONBLOCK, the file as a pipe
      s.keep(bw, :pipe, nonblock: true).keep(dst, :pipe, nonblock: true)
      assert_equal [true, [bw.fileno]], decisions(s, src, bw.fileno)
      assert_equal [true, [dst.fileno]], decisions(s, src, dst.fileno)
      assert_raises(Errno::EINVAL) { s.keep(bw, 99) } # nothing replaced
      assert_raises(Errno::ENOENT) { s.forget(br) }
      assert_equal [true, [bw.fileno]], decisions(s, src, bw.fileno)
      s.forget(bw)
      assert_equal [true, nil], decisions(s, src, bw.fileno) # asked again
      s.keep(bw, :pipe, nonblock: true).keep(bw, :pipe) # replaced: the flags read now
      assert_equal [true, nil], decisions(s, src, bw.fileno)
      s.forget_all
      assert_equal [false, nil], decisions(s, src, dst.fileno)
      # kept by the C session alone (the generated layer), the ends are asked
      Splicer::Core.session_keep(s.instance_variable_get(:@h), dst.fileno,
                                 Splicer::FD_KINDS[:pipe] | Splicer::Core::FD_NONBLOCK)
      assert_equal [false, nil], decisions(s, src, dst.fileno)
      # a fan-out and a buffer take the record too
      s.keep(bw, :pipe, nonblock: true)
      s.open_tee(src, bw.fileno, dst, len: 0)
      assert_equal [bw.fileno], s.instance_variable_get(:@own)
      s.abort
      s.open_buf("y", bw.fileno)
      assert_equal [bw.fileno], s.instance_variable_get(:@own)
      s.abort
    end
  end

  def test_kept_ends_give_the_same_results
    bytes = data(200_000, 5)
    [false, true].each do |keep|
      r, w = pipe
      r.nonblock = false
      w.nonblock = false
      dst = new_file("dst#{keep}")
      Splicer::Session.open do |s|
        s.keep(r).keep(dst) if keep
        writer = Thread.new do
          sleep 0.05
          w.write(bytes[0, 50_000])
        end
        assert_equal 50_000, s.copy(r.fileno, dst, 50_000) # waited for the writer
        writer.join
        s.forget(r) if keep # its flags change: forget it first
        r.nonblock = true
        s.keep(r, :pipe, nonblock: true) if keep
        assert_raises(IO::EAGAINWaitReadable) { s.copy(r.fileno, dst, 10) }
        s.abort
        # a destination whose reader is gone: EPIPE, with no SIGPIPE
        x, y = pipe
        s.keep(y, :pipe, nonblock: true) if keep
        x.close
        assert_raises(Errno::EPIPE) { s.copy(file_with(bytes, "src#{keep}"), y.fileno) }
        s.abort
        s.forget_all
      end
      assert_equal bytes[0, 50_000], File.binread(path("dst#{keep}"))
    end
  end

  # run by strace_phases, which defines MARK and mark (the call on it) first
  CHILD = <<~'RUBY'
    require "json"
    require "socket"
    require "tmpdir"
    require "splicer"

    N = 20
    phases = []
    phase = lambda do |name, fds, &body|
      mark.call
      body.call
      mark.call
      phases << [name, fds.sort]
    end

    dir = Dir.mktmpdir
    File.binwrite(File.join(dir, "src"), Random.bytes(4096))
    srcf = File.open(File.join(dir, "src"), "rb")
    dstf = File.open(File.join(dir, "dst"), "wb")
    src = srcf.fileno
    dst = dstf.fileno
    a, b = UNIXSocket.pair
    c, d = UNIXSocket.pair
    sin = b.fileno
    sout = c.fileno
    files = ->(s, from = src, to = dst) { N.times { s.copy_range(from, 0, to, 0, 4096) == 4096 or abort } }
    socks = lambda do |s, from = sin, to = sout|
      N.times do
        a.write("x" * 4096)
        s.copy_range(from, nil, to, nil, 4096) == 4096 or abort
        d.readpartial(8192).bytesize == 4096 or abort
      end
    end

    s = Splicer::Session.new
    phase.call("files unkept", [src, dst]) { files.call(s) }
    s.keep(src).keep(dst)
    phase.call("files kept", [src, dst]) { files.call(s) }
    phase.call("file objects kept", [src, dst]) { files.call(s, srcf, dstf) }
    s.forget_all
    phase.call("files forgotten", [src, dst]) { files.call(s) }
    phase.call("socks unkept", [sin, sout]) { socks.call(s) }
    phase.call("keep stream nonblock", [sin, sout]) do
      s.keep(sin, :stream, nonblock: true).keep(sout, :stream, nonblock: true)
    end
    phase.call("socks kept", [sin, sout]) { socks.call(s) }
    s.forget(sin).forget(sout)
    phase.call("socks forgotten", [sin, sout]) { socks.call(s) }
    s.keep(b).keep(c)
    phase.call("socket objects kept", [sin, sout]) { socks.call(s, b, c) }
    s.close

    # kept by the C session alone (the generated layer): what is left is
    # the binding's own per-open checks
    s = Splicer::Session.new
    h = s.instance_variable_get(:@h)
    Splicer::Core.session_keep(h, src, Splicer::Core::FD_UNKNOWN)
    Splicer::Core.session_keep(h, dst, Splicer::Core::FD_UNKNOWN)
    Splicer::Core.session_keep(h, sin, Splicer::Core::FD_STREAM | Splicer::Core::FD_NONBLOCK)
    Splicer::Core.session_keep(h, sout, Splicer::Core::FD_STREAM | Splicer::Core::FD_NONBLOCK)
    phase.call("files kept in C only", [src, dst]) { files.call(s) }
    phase.call("socks kept in C only", [sin, sout]) { socks.call(s) }
    s.close
    puts JSON.generate({ n: N, phases: phases })
  RUBY

  # Runs CHILD under strace: per phase, the fstat/fcntl-family syscalls made
  # on the phase's descriptors.
  def traced_counts
    n, phases = strace_phases(CHILD, trace: "fstat,newfstatat,statx,fcntl")
    [n, phases.to_h { |name, fds, calls| [name, calls.count { |_, fd, _| fds.include?(fd) }] }]
  end

  def test_opens_on_kept_descriptors_make_no_fstat_or_fcntl
    n, c = traced_counts
    # kept through Session#keep: nothing at all, Integer fds or IOs
    assert_equal 0, c["files kept"]
    assert_equal 0, c["file objects kept"]
    assert_equal 0, c["socks kept"]
    assert_equal 0, c["socket objects kept"]
    # a known kind with nonblock makes no syscall when kept either
    assert_equal 0, c["keep stream nonblock"]
    # the binding's own checks when it has no record: an fstat of the
    # destination (SIGPIPE) and an fcntl of each Integer fd (O_NONBLOCK)
    assert_equal 3 * n, c["files kept in C only"]
    assert_equal 3 * n, c["socks kept in C only"]
    # not kept, or forgotten: the C library's checks and the binding's
    assert_operator c["files unkept"], :>=, c["files kept in C only"] + (2 * n)
    assert_operator c["socks unkept"], :>=, c["socks kept in C only"] + (2 * n)
    assert_equal c["files unkept"], c["files forgotten"]
    assert_equal c["socks unkept"], c["socks forgotten"]
  end
end
