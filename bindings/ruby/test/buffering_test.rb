# frozen_string_literal: true

require_relative "test_helper"

# Ruby's IO buffers: a writer's buffer is flushed before the transfer, and
# bytes already read ahead into a reader's buffer are delivered first (a
# seekable reader gives them back to its fd instead).  None is skipped.
class BufferingTest < Minitest::Test
  def test_writer_buffer_is_flushed_first
    dst = File.open(path("out"), "wb")
    dst.sync = false
    dst.write("head:")
    Splicer.copy(file_with("body"), dst)
    dst.write(":tail")
    dst.close
    assert_equal "head:body:tail", File.binread(path("out"))
  end

  def test_pipe_read_ahead_is_delivered_first
    r, w = pipe
    w.write("line one\nthe rest of the stream")
    w.close
    assert_equal "line one\n", r.gets
    assert_equal 22, Splicer.copy(r, new_file)
    assert_equal "the rest of the stream", File.binread(path("dst"))
  end

  def test_socket_read_ahead_and_more_from_the_fd
    a, b = socketpair
    c, d = socketpair
    a.write("HEAD\nfirst part;")
    assert_equal "HEAD\n", b.gets
    got = reader(d)
    writer = Thread.new do
      sleep 0.05
      a.write("second part")
      a.close_write
    end
    assert_equal 22, Splicer.copy(b, c)
    writer.join
    c.close
    assert_equal "first part;second part", got.value
  end

  def test_read_ahead_longer_than_len
    r, w = pipe
    w.write("x\nabcdefghij")
    w.close
    r.gets
    assert_equal 4, Splicer.copy(r, new_file, 4)
    assert_equal "abcd", File.binread(path("dst"))
    assert_equal "efghij", r.read, "bytes past len stay for the reader"
  end

  def test_seekable_read_ahead_is_given_back
    f = file_with("first line\nsecond line\n")
    assert_equal "first line\n", f.gets
    assert_equal 12, Splicer.copy(f, new_file)
    assert_equal "second line\n", File.binread(path("dst"))
    assert_equal 23, f.pos
  end

  def test_read_ahead_goes_to_every_tee_destination
    r, w = pipe
    w.write("skip\nshared")
    w.close
    r.gets
    out1 = new_file("one")
    out2 = new_file("two")
    Splicer::Session.open { |s| assert_equal 6, s.tee(r, out1, out2) }
    assert_equal "shared", File.binread(path("one"))
    assert_equal "shared", File.binread(path("two"))
  end

  def test_read_ahead_with_an_output_offset
    r, w = pipe
    w.write("-\n0123456789")
    w.close
    r.gets
    dst = new_file
    dst.write("ABCDEFGHIJKLMNOP")
    dst.flush
    Splicer::Session.open { |s| assert_equal 10, s.copy_range(r, nil, dst, 3, 10) }
    assert_equal "ABC0123456789NOP", File.binread(path("dst"))
  end

  def test_open_delivers_read_ahead_then_steps
    r, w = pipe
    w.write("a\nbc")
    r.gets
    out = new_file
    Splicer::Session.open do |s|
      s.open(r, out)
      assert_equal "bc", File.binread(path("dst")), "written during open"
      w.write("de")
      w.close
      assert_equal 2, s.run
    end
    assert_equal "bcde", File.binread(path("dst"))
  end

  def test_generated_layer_refuses_unreachable_read_ahead
    r, w = pipe
    w.write("a\nb")
    r.gets
    h = Splicer::Core.session_new
    err = assert_raises(IOError) { Splicer::Core.open(h, r, nil, new_file, nil, nil) }
    assert_match(/buffered/, err.message)
    Splicer::Core.session_free(h)
    assert_raises(IOError) { Splicer::Core.step(h) }
  end

  def test_write_through_integer_destination_with_read_ahead
    r, w = pipe
    w.write("x\nyz")
    w.close
    r.gets
    dst = new_file
    assert_equal 2, Splicer.copy(r, dst.fileno)
    assert_equal "yz", File.binread(path("dst"))
  end
end
