# frozen_string_literal: true

# cp.rb: copy a file the way cp(1) does, in the kernel.
#   ruby cp.rb [--stats] SOURCE DEST
# DEST may be a directory.  A regular file to a regular file goes through
# copy_file_range (a reflink where the filesystem can); "-" is standard
# input or output, so `ruby cp.rb big.iso - | ...` splices into the pipe.
require "splicer"

stats = ARGV.delete("--stats")
abort "usage: #{$PROGRAM_NAME} [--stats] SOURCE DEST" unless ARGV.size == 2
source, dest = ARGV
dest = File.join(dest, File.basename(source)) if File.directory?(dest)

src = source == "-" ? $stdin : File.open(source, "rb")
dst = dest == "-" ? $stdout : File.open(dest, File::WRONLY | File::CREAT | File::TRUNC, src.stat.mode & 0o777)
begin
  Splicer::Session.open do |s|
    n = s.copy(src, dst)
    st = s.stats
    warn format("%<n>d bytes by %<m>s, %<c>d syscalls, %<f>d fallbacks", n: n, m: s.progress.method,
                                                                        c: st.syscalls, f: st.fallbacks) if stats
  end
rescue SystemCallError => e
  abort "cp.rb: #{source} -> #{dest}: #{e.message}"
ensure
  src.close unless src == $stdin
  dst.close unless dst == $stdout
end
