# frozen_string_literal: true

# overhead.rb -- the Ruby side of the binding's overhead against C (see
# overhead_c.c): the same loops through require "splicer".
#   ruby overhead.rb MODE FILE CHUNK CALLS   ->   "<cpu seconds> <bytes>"
# MODE "sendfile": CALLS raw Splicer.sendfile(null, file, off, CHUNK);
#      "step":     a session with chunk: CHUNK moving FILE to /dev/null,
#                  re-opened at its end, CALLS steps;
#      "core-step": as "step", through the generated layer's
#                  Splicer::Core.step (the GVL released too, no idiomatic
#                  layer): what Session#step adds is the difference;
#      "copy":     CALLS / (FILE size / CHUNK) whole copies of FILE to
#                  /dev/null by session.copy_range, chunk: CHUNK (one Ruby
#                  call per file, the steps in C).
# The descriptors are Integer fds, as a loop that cares about speed would
# hold them, and /dev/null is opened O_NONBLOCK: nothing in the loop can
# block, so the C session is not asked to toggle O_NONBLOCK on it.
require "splicer"

mode, path, chunk, calls = ARGV
chunk = Integer(chunk)
calls = Integer(calls)
file = File.open(path, "rb")
null = File.open(File::NULL, File::WRONLY | File::NONBLOCK)
ffd = file.fileno
nfd = null.fileno
size = file.size - (file.size % chunk)
bytes = 0
cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
case mode
when "sendfile"
  off = 0
  t0 = cpu.call
  calls.times do
    n = Splicer.sendfile(nfd, ffd, off, chunk)
    bytes += n
    off += n
    off = 0 if off >= size
  end
when "step"
  s = Splicer::Session.new(chunk: chunk)
  i = 0
  t0 = cpu.call
  while i < calls
    s.open(ffd, nfd, size, off_in: 0)
    while i < calls
      n = s.step
      break if n.zero?

      bytes += n
      i += 1
    end
  end
  s.close
when "core-step"
  s = Splicer::Session.new(chunk: chunk)
  h = s.instance_variable_get(:@h)
  i = 0
  t0 = cpu.call
  while i < calls
    s.open(ffd, nfd, size, off_in: 0)
    while i < calls
      n = Splicer::Core.step(h)
      break if n.zero?

      bytes += n
      i += 1
    end
  end
  s.close
when "copy"
  s = Splicer::Session.new(chunk: chunk)
  copies = [calls * chunk / size, 1].max
  t0 = cpu.call
  copies.times { bytes += s.copy_range(ffd, 0, nfd, nil, size) }
  s.close
else abort "usage: overhead.rb sendfile|step|core-step|copy FILE CHUNK CALLS"
end
printf("%.6f %d\n", cpu.call - t0, bytes)
