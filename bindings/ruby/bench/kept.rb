# frozen_string_literal: true

# kept.rb -- small copies on kept descriptors against the same copies on
# descriptors classified at every open (README: "Kept descriptors").
#   ruby kept.rb PAIR KEEP CALLS   ->   "<ns per copy> ns per copy"
# PAIR "file": copy_range of 4 KiB at offset 0 from a page-cached file to
#      another (copy_file_range);
#      "unix": 4 KiB written into one Unix stream socketpair, copied from
#      its other end into a second pair, and read from there (the write and
#      the read are in the time).  Ruby's sockets are O_NONBLOCK: kept as
#      :stream with nonblock: true.
# KEEP "yes" keeps both ends in the session first, "no" does not.  The ends
# are Integer fds, as a loop that cares about speed would hold them.
require "socket"
require "tmpdir"
require "splicer"

pair, keep, calls = ARGV
calls = Integer(calls)
chunk = 4096
payload = Random.bytes(chunk)
Dir.mktmpdir("splicer-bench-") do |dir|
  ios = []
  if pair == "file"
    File.binwrite(File.join(dir, "src"), payload)
    ios << File.open(File.join(dir, "src"), "rb") << File.open(File.join(dir, "dst"), "wb")
    src, dst = ios.map(&:fileno)
  else
    a, b = UNIXSocket.pair
    c, d = UNIXSocket.pair
    ios.push(a, b, c, d)
    src = b.fileno
    dst = c.fileno
    buf = String.new(capacity: chunk)
  end
  s = Splicer::Session.new
  if keep == "yes"
    if pair == "file"
      s.keep(src).keep(dst)
    else
      s.keep(src, :stream, nonblock: true).keep(dst, :stream, nonblock: true)
    end
  end
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  if pair == "file"
    calls.times { s.copy_range(src, 0, dst, 0, chunk) }
  else
    calls.times do
      a.write(payload)
      s.copy_range(src, nil, dst, nil, chunk)
      d.read(chunk, buf)
    end
  end
  t1 = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  abort "moved #{s.stats.bytes} of #{calls * chunk}" unless s.stats.bytes == calls * chunk
  s.close
  ios.each(&:close)
  puts "#{(t1 - t0) / calls} ns per copy"
end
