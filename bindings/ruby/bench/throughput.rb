# frozen_string_literal: true

# throughput.rb -- GB per CPU-second of Splicer.copy against IO.copy_stream
# and a read/write loop, for each pair of descriptors:
#   ruby throughput.rb [RUNS [MIB]]         (default 3 runs of 256 MiB)
# Pairs: file -> /dev/null, file -> TCP, TCP -> TCP, pipe -> file,
# file -> file, pipe -> pipe (default 64 KiB pipes, and 1 MiB pipes).  The copy runs in this process's main thread;
# its CPU (CLOCK_THREAD_CPUTIME_ID: user + system of that thread alone) is
# what the figures divide by.  Sockets and pipes are fed and drained by
# child processes (which use splicer themselves, the same for every
# contender), so their work is not counted.  Contenders run interleaved,
# RUNS times; every run prints one line per pair and contender, then a
# table of medians and of the ratios in each run.
require "socket"
require "tmpdir"
require "fileutils"
require "etc"
require "splicer"

runs = Integer(ARGV[0] || 3)
size = Integer(ARGV[1] || 256) << 20
dir = Dir.mktmpdir("splicer-ruby-bench")
at_exit { FileUtils.rm_rf(dir) }
source = File.join(dir, "data")
File.open(source, "wb") do |f|
  block = Random.new(1).bytes(1 << 20)
  (size >> 20).times { f.write(block) }
end
File.binread(source) # into the page cache; read_write loops below need it there too
CHUNK = 65_536

CONTENDERS = {
  "splicer" => ->(src, dst) { Splicer.copy(src, dst) },
  "IO.copy_stream" => ->(src, dst) { IO.copy_stream(src, dst) },
  # readpartial and write wait on Ruby's non-blocking pipes and sockets
  "read/write 64K" => lambda do |src, dst|
    buf = String.new(capacity: CHUNK)
    dst.sync = true
    total = 0
    begin
      loop do
        src.readpartial(CHUNK, buf)
        dst.write(buf)
        total += buf.bytesize
      end
    rescue EOFError
      total
    end
  end
}.freeze

def tcp_pair
  server = TCPServer.new("127.0.0.1", 0)
  a = TCPSocket.new("127.0.0.1", server.addr[1])
  b = server.accept
  server.close
  [a, b]
end

# A child process writing the data file into io, then closing it.  The
# child closes the parent's ends (others) first: a copy of a write end left
# in a child would keep its reader from ever seeing end of file.
def feeder(io, path, others)
  fork do
    others.each(&:close)
    File.open(path, "rb") { |f| Splicer.copy(f, io) }
    io.close
    exit!(0)
  rescue StandardError => e
    warn "feeder: #{e.message}"
    exit!(1) # never run the parent's at_exit (it removes the data)
  end
end

# A child process reading io to its end, into /dev/null.
def drainer(io, others)
  fork do
    others.each(&:close)
    File.open(File::NULL, "wb") { |null| Splicer.copy(io, null) }
    exit!(0)
  rescue StandardError => e
    warn "drainer: #{e.message}"
    exit!(1)
  end
end

# Each pair: a lambda giving [src, dst, children, cleanup] for one copy.
PAIRS = {
  "file -> /dev/null" => lambda do |path, _dir|
    [File.open(path, "rb"), File.open(File::NULL, "wb"), []]
  end,
  "file -> TCP" => lambda do |path, _dir|
    out, peer = tcp_pair
    kid = drainer(peer, [out])
    peer.close
    [File.open(path, "rb"), out, [kid]]
  end,
  "TCP -> TCP" => lambda do |path, _dir|
    feed, src = tcp_pair
    dst, peer = tcp_pair
    kids = [feeder(feed, path, [src, dst, peer]), drainer(peer, [feed, src, dst])]
    feed.close
    peer.close
    [src, dst, kids]
  end,
  "pipe -> file" => lambda do |path, dir|
    r, w = IO.pipe
    kid = feeder(w, path, [r])
    w.close
    [r, File.open(File.join(dir, "out"), "wb"), [kid]]
  end,
  "file -> file" => lambda do |path, dir|
    [File.open(path, "rb"), File.open(File.join(dir, "out"), "wb"), []]
  end,
  "pipe -> pipe" => lambda do |path, _dir|
    r, w = IO.pipe
    r2, w2 = IO.pipe
    kids = [feeder(w, path, [r, r2, w2]), drainer(r2, [r, w, w2])]
    w.close
    r2.close
    [r, w2, kids]
  end,
  # the same with 1 MiB pipes: fewer wake-ups per byte for every contender,
  # so what is left is the cost of moving the bytes
  "pipe -> pipe, 1 MiB pipes" => lambda do |path, _dir|
    r, w = IO.pipe
    r2, w2 = IO.pipe
    [w, w2].each { |p| Splicer.set_pipe_size(p, 1 << 20) }
    kids = [feeder(w, path, [r, r2, w2]), drainer(r2, [r, w, w2])]
    w.close
    r2.close
    [r, w2, kids]
  end
}.freeze

# One copy, measured; a copy that fails (a reset connection on a loaded
# machine, say) is said and done again, up to three times.
def measure(pair, contender, path, dir, size)
  tries = 0
  begin
    measure_once(pair, contender, path, dir, size)
  rescue StandardError => e
    tries += 1
    raise if tries == 3

    warn "#{pair} #{contender}: #{e.message} (again)"
    retry
  end
end

def measure_once(pair, contender, path, dir, size)
  src, dst, kids = PAIRS.fetch(pair).call(path, dir)
  failed = 0
  begin
    clock = Process::CLOCK_THREAD_CPUTIME_ID
    wall0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    cpu0 = Process.clock_gettime(clock)
    n = CONTENDERS.fetch(contender).call(src, dst)
    cpu = Process.clock_gettime(clock) - cpu0
    wall = Process.clock_gettime(Process::CLOCK_MONOTONIC) - wall0
  ensure
    [src, dst].each { |io| io.close unless io.closed? }
    failed = kids.count { |k| !Process.wait2(k)[1].success? }
  end
  raise "#{n} bytes of #{size}" unless n == size
  raise "#{failed} helper processes failed" if failed.positive?

  { gbps: n / wall / 1e9, gb_per_cpu: n / cpu / 1e9 }
end

results = Hash.new { |h, k| h[k] = [] }
puts "#{runs} runs of #{size >> 20} MiB; Ruby #{RUBY_VERSION}, splicer #{Splicer.library_version}, " \
     "Linux #{`uname -r`.strip}, #{Etc.nprocessors} CPUs, load average #{File.read('/proc/loadavg').split[0, 3].join(' ')}"
runs.times do |run|
  PAIRS.each_key do |pair|
    CONTENDERS.each_key do |contender|
      r = measure(pair, contender, source, dir, size)
      results[[pair, contender]] << r
      printf("run %d  %-26s %-15s %6.2f GB/s %7.2f GB/CPU-s\n", run + 1, pair, contender, r[:gbps], r[:gb_per_cpu])
    end
  end
end

median = ->(xs) { xs.sort[xs.size / 2] }
puts "load average after: #{File.read('/proc/loadavg').split[0, 3].join(' ')}"
puts
puts "| pair | splicer GB/CPU-s | IO.copy_stream | read/write 64K | splicer / copy_stream (each run) | " \
     "splicer / read/write (each run) | splicer GB/s | copy_stream GB/s |"
puts "|---|---|---|---|---|---|---|---|"
PAIRS.each_key do |pair|
  s = results[[pair, "splicer"]]
  c = results[[pair, "IO.copy_stream"]]
  w = results[[pair, "read/write 64K"]]
  ratio = ->(a, b) { a.zip(b).map { |x, y| format("%.2f", x[:gb_per_cpu] / y[:gb_per_cpu]) }.join(" ") }
  printf("| %s | %.2f | %.2f | %.2f | %s | %s | %.2f | %.2f |\n", pair,
         median.call(s.map { |x| x[:gb_per_cpu] }), median.call(c.map { |x| x[:gb_per_cpu] }),
         median.call(w.map { |x| x[:gb_per_cpu] }), ratio.call(s, c), ratio.call(s, w),
         median.call(s.map { |x| x[:gbps] }), median.call(c.map { |x| x[:gbps] }))
end
