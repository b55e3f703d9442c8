# frozen_string_literal: true

require_relative "test_helper"

# Kept descriptors: Session#keep, #forget, #forget_all.
class KeepTest < Minitest::Test
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
end
