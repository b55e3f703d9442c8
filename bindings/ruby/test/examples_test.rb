# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# The examples, run as the programs they are: cp.rb on files and pipes, and
# proxy.rb relaying both directions of several connections at once.
class ExamplesTest < Minitest::Test
  EXAMPLES = File.expand_path("../examples", __dir__)

  def ruby_cmd(script, *args)
    [RbConfig.ruby, "-w", *$LOAD_PATH.grep(%r{bindings/ruby/(lib|build/lib)}).flat_map { |d| ["-I", d] },
     File.join(EXAMPLES, script), *args]
  end

  def test_cp_file_to_file_and_directory
    bytes = Random.new(7).bytes(2_000_000)
    File.binwrite(path("in"), bytes)
    out, err, status = Open3.capture3(*ruby_cmd("cp.rb", "--stats", path("in"), path("out")))
    assert status.success?, err
    assert_empty out
    assert_match(/2000000 bytes by copy_file_range/, err)
    assert_equal bytes, File.binread(path("out"))
    Dir.mkdir(path("dir"))
    _, err, status = Open3.capture3(*ruby_cmd("cp.rb", path("in"), path("dir")))
    assert status.success?, err
    assert_equal bytes, File.binread(File.join(path("dir"), "in"))
  end

  def test_cp_through_pipes
    bytes = Random.new(8).bytes(1_000_000)
    out, err, status = Open3.capture3(*ruby_cmd("cp.rb", "-", "-"), stdin_data: bytes, binmode: true)
    assert status.success?, err
    assert_equal bytes, out
  end

  def test_cp_error
    _, err, status = Open3.capture3(*ruby_cmd("cp.rb", path("in"), path("nowhere/out")))
    refute status.success?
    assert_match(/No such file/, err)
  end

  def test_proxy_relays_both_directions
    upstream = TCPServer.new("127.0.0.1", 0)
    # the upstream echoes every byte back, reversed per connection at the end
    serving = Thread.new do
      Array.new(3) do
        Thread.new(upstream.accept) do |c|
          got = c.read
          c.write(got.reverse)
          c.close
        end
      end.each(&:join)
    end
    stdin, stdout, stderr, proxy = Open3.popen3(*ruby_cmd("proxy.rb", "0", "127.0.0.1", upstream.addr[1].to_s))
    stdin.close
    line = stdout.gets
    assert_match(/listening on (\d+)/, line.to_s, stderr.read_nonblock(1000, exception: false).to_s)
    port = Integer(line[/\d+/])
    clients = Array.new(3) do |i|
      Thread.new do
        payload = Random.new(i).bytes(300_000 + i)
        s = TCPSocket.new("127.0.0.1", port)
        writer = Thread.new do
          s.write(payload)
          s.close_write
        end
        answer = s.read
        writer.join
        s.close
        [payload, answer]
      end
    end
    clients.each do |t|
      payload, answer = t.value
      assert_equal payload.reverse, answer
    end
    serving.join
  ensure
    Process.kill("TERM", proxy.pid) if proxy
    proxy&.join
    [stdout, stderr].each { |io| io&.close }
    upstream&.close
  end
end
