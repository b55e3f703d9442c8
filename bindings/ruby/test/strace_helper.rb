# frozen_string_literal: true

require "json"
require "open3"

# Syscalls counted by strace: a child Ruby run under it, its trace cut into
# the child's phases.
module StraceHelper
  MARK = 9999 # fcntl(F_GETFL) of this descriptor (not open) separates the phases

  # What runs before a child's own source: MARK, and mark, the call on it.
  CHILD_PRELUDE = <<~'RUBY'
    MARK = Integer(ARGV[0])
    mark = lambda do
      Splicer::Core.nonblocking?(MARK)
    rescue Errno::EBADF
      nil
    end
  RUBY

  # Runs the Ruby source child under strace, tracing the syscalls in trace
  # (skips when strace is not installed or cannot trace here).  The child
  # opens and closes each of its phases with mark.call and prints the JSON
  # {"n": N, "phases": [[name, fds], ...]}.  Returns N and, per phase, its
  # name, its fds and the calls made between its two marks, each [syscall,
  # first argument (a descriptor), the rest after that argument's comma].
  def strace_phases(child, trace:)
    strace = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, "strace") }
                .find { |f| File.executable?(f) }
    skip "strace is not installed" unless strace
    out_path = path("trace")
    libs = $LOAD_PATH.grep(%r{bindings/ruby/(lib|build/lib)}).flat_map { |d| ["-I", d] }
    out, err, status = Open3.capture3(strace, "-f", "-qq", "-o", out_path, "-e", "trace=#{trace}",
                                      RbConfig.ruby, *libs, "-e", CHILD_PRELUDE + child, MARK.to_s)
    skip "strace cannot trace here: #{err.strip}" if !status.success? && err =~ /ptrace/i
    assert status.success?, err
    report = JSON.parse(out)
    segments = []
    current = nil
    File.foreach(out_path) do |line|
      m = /\A(?:\d+\s+)?(\w+)\((-?\d+),(.*)/.match(line) or next
      if m[2].to_i == MARK
        if current then segments << current && current = nil else current = [] end
      elsif current
        current << [m[1], m[2].to_i, m[3]]
      end
    end
    assert_equal report["phases"].size, segments.size
    [report["n"], report["phases"].zip(segments).map { |(name, fds), calls| [name, fds, calls] }]
  end
end
