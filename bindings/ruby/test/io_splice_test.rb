# frozen_string_literal: true

require_relative "test_helper"
require "splicer/io_splice"

# io_splice's documented behaviour (its IO and IO::Splice documentation),
# through require "splicer/io_splice".
class IoSpliceTest < Minitest::Test
  def test_constants
    assert_equal 1, IO::Splice::F_MOVE
    assert_equal 2, IO::Splice::F_NONBLOCK
    assert_equal 4, IO::Splice::F_MORE
    assert_equal 8, IO::Splice::F_GIFT
    assert_equal 4096, IO::Splice::PIPE_BUF
    assert_equal 65_536, IO::Splice::PIPE_CAPA
    assert_equal 1 << 30, IO::Splice::MAX_AT_ONCE
    assert_equal 1031, IO::Splice::F_SETPIPE_SZ
    assert_equal 1032, IO::Splice::F_GETPIPE_SZ
  end

  # "Splice len bytes from/to a pipe ... Returns the number of bytes spliced."
  def test_splice_pipe_to_pipe_and_file_to_pipe_with_offset
    r, w = pipe
    r2, w2 = pipe
    w.write("hello world")
    assert_equal 11, IO.splice(r, nil, w2, nil, 100)
    assert_equal "hello world", r2.read_nonblock(100)
    f = file_with("0123456789")
    # "off_in ... an offset for the non-pipe file descriptor"
    assert_equal 4, IO.splice(f, 3, w2, nil, 4, IO::Splice::F_MOVE)
    assert_equal "3456", r2.read_nonblock(100)
    assert_equal 0, f.pos, "an explicit offset leaves the position alone"
    # pipe -> file at an offset
    out = new_file
    w.write("abc")
    assert_equal 3, IO.splice(r, nil, out, 2, 3)
    assert_equal "\0\0abc", File.binread(path("dst"))
  end

  # "Raises EOFError when io_in has reached end of file."
  def test_splice_eof
    r, w = pipe
    _r2, w2 = pipe
    w.close
    assert_raises(EOFError) { IO.splice(r, nil, w2, nil, 10) }
    assert_raises(EOFError) { IO.splice(file_with(""), nil, w2, nil, 10) }
  end

  # "Raises Errno::EAGAIN if the IO::Splice::F_NONBLOCK flag is set and the
  # pipe has no data to read from or space to write to."
  def test_splice_nonblock_raises_eagain
    r, _w = pipe
    _r2, w2 = pipe
    assert_raises(Errno::EAGAIN) { IO.splice(r, nil, w2, nil, 10, IO::Splice::F_NONBLOCK) }
  end

  # Without F_NONBLOCK IO.splice blocks until it can move something (also
  # on Ruby's O_NONBLOCK pipes), releasing the GVL, and can be interrupted.
  def test_splice_blocks_releases_the_gvl_and_is_interruptible
    r, w = pipe
    _r2, w2 = pipe
    writer = Thread.new do
      sleep 0.1
      w.write("late")
    end
    assert_equal 4, IO.splice(r, nil, w2, nil, 10)
    writer.join
    splicer = Thread.new { IO.splice(r, nil, w2, nil, 10) }
    wait_until_blocked(splicer)
    counter = 0
    Thread.new { 10_000.times { counter += 1 } }.join(5)
    assert_equal 10_000, counter
    splicer.kill
    assert splicer.join(2), "Thread#kill ended IO.splice"
  end

  # "Exactly like IO.splice, except :EAGAIN is returned ... instead of
  # raising Errno::EAGAIN", and nil at end of file.
  def test_trysplice
    r, w = pipe
    r2, w2 = pipe
    assert_equal :EAGAIN, IO.trysplice(r, nil, w2, nil, 10)
    w.write("data")
    assert_equal 4, IO.trysplice(r, nil, w2, nil, 10)
    assert_equal "data", r2.read_nonblock(10)
    # destination full
    w2.pipe_size = 4096
    w2.write("x" * 4096)
    w.write("more")
    assert_equal :EAGAIN, IO.trysplice(r, nil, w2, nil, 10)
    w.close
    r.read_nonblock(10)
    r2.read_nonblock(8192)
    assert_nil IO.trysplice(r, nil, w2, nil, 10)
  end

  # "Copies up to len bytes of data from io_in to io_out" without consuming.
  def test_tee
    r, w = pipe
    r2, w2 = pipe
    w.write("duplicate me")
    assert_equal 12, IO.tee(r, w2, 100)
    assert_equal "duplicate me", r2.read_nonblock(100)
    assert_equal "duplicate me", r.read_nonblock(100), "tee does not consume"
    assert_raises(Errno::EAGAIN) { IO.tee(r, w2, 100, IO::Splice::F_NONBLOCK) }
    assert_equal :EAGAIN, IO.trytee(r, w2, 100)
    w.close
    # "Raises EOFError when io_in is closed and emptied."
    assert_raises(EOFError) { IO.tee(r, w2, 100) }
    assert_nil IO.trytee(r, w2, 100)
  end

  def test_tee_blocks_until_data
    r, w = pipe
    r2, w2 = pipe
    Thread.new do
      sleep 0.1
      w.write("soon")
    end
    assert_equal 4, IO.tee(r, w2, 10)
    assert_equal "soon", r2.read_nonblock(10)
  end

  # "Transfers an array of strings into the pipe descriptor given by io",
  # in full.
  def test_vmsplice
    r, w = pipe
    assert_equal 5, IO.vmsplice(w, "hello")
    assert_equal 6, IO.vmsplice(w, [" ", "world"])
    assert_equal "hello world", r.read_nonblock(100)
    big = data(200_000)
    got = reader(r)
    assert_equal big.bytesize, IO.vmsplice(w, [big.byteslice(0, 100_000), big.byteslice(100_000..)])
    w.close
    assert_equal big, got.value, "all of it, waiting for room"
    assert_equal 0, IO.vmsplice(pipe[1], [])
    assert_raises(TypeError) { IO.vmsplice(w, [42]) }
  end

  def test_vmsplice_nonblock_returns_what_fitted
    r, w = pipe
    w.pipe_size = 4096
    assert_equal 4096, IO.vmsplice(w, "y" * 10_000, IO::Splice::F_NONBLOCK)
    assert_raises(Errno::EAGAIN) { IO.vmsplice(w, "z", IO::Splice::F_NONBLOCK) }
    assert_equal "y" * 4096, r.read_nonblock(10_000)
  end

  # "Returns the pipe capacity"; "Sets and returns the pipe capacity";
  # "Raises Errno::EBUSY if the assigned value is less than the currently
  # filled portion of the pipe."
  def test_pipe_size
    r, w = pipe
    assert_equal IO::Splice::PIPE_CAPA, r.pipe_size
    assert_equal(1 << 20, (w.pipe_size = 1 << 20))
    assert_equal 1 << 20, r.pipe_size
    w.write("x" * 70_000)
    assert_raises(Errno::EBUSY) { w.pipe_size = 4096 }
    assert_raises(Errno::EBADF) { file_with("x").pipe_size }
  end

  # copy_stream: "copies the contents of the IO object given by src to dst";
  # "If len is specified, then only len bytes are copied and EOFError is
  # raised if fewer than len bytes could be copied."
  def test_copy_stream
    bytes = data(300_000)
    a, b = socketpair
    got = reader(b)
    assert_equal bytes.bytesize, IO::Splice.copy_stream(file_with(bytes), a)
    a.close
    assert_equal bytes, got.value
    assert_equal 1000, IO::Splice.copy_stream(file_with(bytes, "b"), new_file, 1000)
    assert_equal bytes.byteslice(0, 1000), File.binread(path("dst"))
    err = assert_raises(EOFError) { IO::Splice.copy_stream(file_with("short", "c"), new_file("d2"), 10) }
    assert_match(/5 of 10/, err.message)
    assert_equal "short", File.binread(path("d2")), "what was read was delivered"
  end

  # paths as src and dst; src_offset reads from there and leaves the
  # position alone (as IO.copy_stream does).
  def test_copy_stream_paths_and_offset
    File.binwrite(path("in"), "0123456789")
    assert_equal 10, IO::Splice.copy_stream(path("in"), path("out"))
    assert_equal "0123456789", File.binread(path("out"))
    f = file_with("abcdefgh", "off")
    r, w = pipe
    assert_equal 3, IO::Splice.copy_stream(f, w, 3, 4)
    assert_equal "efg", r.read_nonblock(10)
    assert_equal 0, f.pos
    assert_equal 8, IO::Splice.copy_stream(f, w)
    assert_equal "abcdefgh", r.read_nonblock(10)
  end

  # Unlike io_splice's own, this copy_stream sees Ruby's read buffer.
  def test_copy_stream_delivers_buffered_bytes
    r, w = pipe
    w.write("skip\nkeep")
    w.close
    r.gets
    assert_equal 4, IO::Splice.copy_stream(r, new_file)
    assert_equal "keep", File.binread(path("dst"))
  end

  def test_full_and_partial
    r, w = pipe
    r2, w2 = pipe
    writer = Thread.new do
      w.write("ab")
      sleep 0.05
      w.write("cdef")
      w.close
    end
    assert_equal 5, IO::Splice.full(r, w2, 5, nil), "full waits for all len bytes"
    assert_equal 1, IO::Splice.partial(r, w2, 100, nil)
    writer.join
    assert_nil IO::Splice.partial(r, w2, 100, nil), "nil at end of file"
    assert_equal "abcdef", r2.read_nonblock(100)
    assert_raises(EOFError) { IO::Splice.full(r, w2, 5, nil) }
  end

  def test_waitall_flag
    r, w = pipe
    r2, w2 = pipe
    Thread.new do
      3.times do |i|
        w.write(i.to_s * 3)
        sleep 0.03
      end
      w.close
    end
    assert_equal 9, IO.splice(r, nil, w2, nil, 9, IO::Splice::WAITALL)
    assert_equal "000111222", r2.read_nonblock(100)
  end
end
