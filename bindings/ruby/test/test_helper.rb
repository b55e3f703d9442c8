# frozen_string_literal: true

require "minitest/autorun"
require "socket"
require "tmpdir"
require "fileutils"
require "timeout"
require "io/nonblock"
require "splicer"

# Shared fixtures: temporary files, pipes and sockets that are closed after
# each test, and patterned data.
module SplicerTestHelper
  def setup
    super
    @closables = []
    @dir = Dir.mktmpdir("splicer-ruby-test")
  end

  def teardown
    @closables.reverse_each { |c| c.close unless c.closed? }
    FileUtils.rm_rf(@dir)
    super
  end

  def track(*ios)
    @closables.concat(ios)
    ios.size == 1 ? ios.first : ios
  end

  # n bytes that differ at every offset (so a misplaced byte shows).
  def data(n, seed = 1) = Array.new(n) { |i| (((i * 2_654_435_761) + seed) >> 7) & 0xff }.pack("C*")

  def path(name = "f") = File.join(@dir, name)

  def file_with(content, name = "src", mode = "r")
    File.binwrite(path(name), content)
    track(File.open(path(name), mode + "b"))
  end

  def new_file(name = "dst", mode = "w+") = track(File.open(path(name), mode + "b"))

  def pipe = track(*IO.pipe)

  def socketpair = track(*UNIXSocket.pair)

  def tcp_pair
    server = TCPServer.new("127.0.0.1", 0)
    client = TCPSocket.new("127.0.0.1", server.addr[1])
    peer = server.accept
    server.close
    track(client, peer)
  end

  # A thread reading io until end of file; its value is what it read.
  def reader(io, chunk = 65_536)
    Thread.new do
      out = +"".b
      loop { out << io.readpartial(chunk) }
    rescue EOFError, IOError
      out
    end
  end

  def open_fds = Dir.children("/proc/self/fd").map(&:to_i).sort

  # Block until the thread is parked (sleeping in a wait).
  def wait_until_blocked(thread, timeout = 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    sleep 0.01 until thread.status == "sleep" || !thread.alive? ||
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    sleep 0.05 # and a moment more, so that it is inside the wait
  end

  def assert_accounted(session)
    p = session.progress
    assert_equal p.consumed, p.delivered + p.pending, "consumed == delivered + pending: #{p.inspect}"
    p
  end
end

Minitest::Test.include(SplicerTestHelper)
Minitest::Test.make_my_diffs_pretty!
