# frozen_string_literal: true

# io_splice's public API over splicer, for applications written against the
# io_splice gem: replace `require "io/splice"` with
#
#   require "splicer/io_splice"
#
# and IO.splice, IO.trysplice, IO.tee, IO.trytee, IO.vmsplice, IO#pipe_size,
# IO#pipe_size=, the IO::Splice constants and IO::Splice.copy_stream behave
# as io_splice documents them.  Where they differ (see the README's section
# for io_splice users), it is because Ruby 3 changed under io_splice (its
# pipes and sockets are O_NONBLOCK) or to lose nothing:
#   * without F_NONBLOCK, IO.splice and IO.tee block until they can move
#     something, as io_splice documents, also on Ruby 3's non-blocking pipes
#     and sockets: they wait with IO#wait_readable / IO#wait_writable, so
#     the wait releases the GVL, can be interrupted (Thread#kill,
#     Thread#raise, Timeout) and cooperates with a Fiber.scheduler;
#   * IO.vmsplice hands the kernel a sealed copy of the strings, so a string
#     changed or collected afterwards cannot change what the reader gets;
#   * IO::Splice.copy_stream runs on a splicer session: it picks the best
#     method for the pair (copy_file_range, sendfile, splice), delivers what
#     Ruby had buffered, and never drops bytes it took from the source.
require "splicer"

class IO
  # Constants and helpers of io_splice.
  module Splice
    # splice(2) / tee(2) / vmsplice(2) flags.
    F_MOVE = Splicer::F_MOVE
    F_NONBLOCK = Splicer::F_NONBLOCK
    F_MORE = Splicer::F_MORE
    F_GIFT = Splicer::F_GIFT
    # io_splice's userspace flag (deprecated there): retry until len bytes
    # moved or the source ended.
    WAITALL = 0x4000000
    # Atomic pipe write size (PIPE_BUF in <limits.h>).
    PIPE_BUF = 4096
    # Most bytes one call asks to move (from HAProxy, as io_splice has it).
    MAX_AT_ONCE = 1 << 30
    # fcntl(2) commands for the pipe capacity (IO#pipe_size uses them).
    F_SETPIPE_SZ = 1031
    F_GETPIPE_SZ = 1032
    # Capacity of a new pipe, as the running kernel gives it.
    PIPE_CAPA = IO.pipe { |r, _w| Splicer.pipe_size(r) }

    class << self
      # Copy src to dst (IOs, objects with to_io, or paths) until end of file
      # or len bytes; EOFError when fewer than len bytes could be copied.
      # With src_offset, src is read from there and its position is left
      # alone.  Returns the bytes copied.
      def copy_stream(src, dst, len = nil, src_offset = nil)
        opened = []
        if need_open?(src)
          src = File.open(src, "rb")
          opened << src
        end
        if need_open?(dst)
          dst = File.open(dst, "wb")
          opened << dst
        end
        n = Splicer::Session.open(chunk: Splicer::ONE_SHOT_CHUNK, lazy_files: true) do |s|
          src_offset ? s.copy_range(src, src_offset, dst, nil, len) : s.copy(src, dst, len)
        end
        raise EOFError, "end of file reached (#{n} of #{len} bytes copied)" if len && n < len

        n
      ensure
        opened.each(&:close)
      end

      # Splice exactly len bytes from src to dst (one of them a pipe),
      # waiting as needed; EOFError if src ends before any byte moved.
      # Returns len, or fewer when src ended early.
      def full(src, dst, len, src_offset)
        IO.splice(src, src_offset, dst, nil, len, WAITALL)
      end

      # Splice up to len bytes from src to dst (one of them a pipe); waits
      # instead of raising EAGAIN.  Returns the bytes moved, nil at end of
      # file.
      def partial(src, dst, len, src_offset)
        IO.splice(src, src_offset, dst, nil, len)
      rescue EOFError
        nil
      end

      # :nodoc: a path to open (io_splice's rule: no to_io, but to_path or
      # a String)
      def need_open?(obj)
        return false if obj.respond_to?(:to_io)

        obj.respond_to?(:to_path) || obj.is_a?(String)
      end

      # :nodoc: one splice(2) or tee(2) as io_splice does it.  The kernel
      # call never blocks on the pipe (F_NONBLOCK is always passed); without
      # the caller's F_NONBLOCK an EAGAIN is waited out with IO#wait_*.
      # Returns the bytes moved (0 at end of input) or :EAGAIN (caller's
      # F_NONBLOCK and try).
      def transfer(io_in, io_out, len, flags, try)
        user_flags = Integer(flags)
        nonblock = try || user_flags.anybits?(F_NONBLOCK)
        waitall = user_flags.anybits?(WAITALL) && !try
        kernel_flags = (user_flags & ~WAITALL) | F_NONBLOCK
        done = 0
        loop do
          n = yield(len - done, kernel_flags)
          return done if n.zero? # end of input
          return n unless waitall

          done += n
          return done if done >= len
        rescue Errno::EAGAIN
          return done if waitall && done.positive? && nonblock
          return :EAGAIN if try
          raise if nonblock

          wait_ready(io_in, io_out)
        end
      end

      private

      # Until io_in has something to read and io_out room to write.
      def wait_ready(io_in, io_out)
        waitable(io_in).wait_readable
        waitable(io_out).wait_writable
      end

      def waitable(obj)
        Splicer.io_of(obj) || IO.for_fd(Splicer::Core.fd_of(obj, false, false), autoclose: false)
      end
    end
  end

  class << self
    # IO.splice(io_in, off_in, io_out, off_out, len [, flags]) -> Integer
    #
    # Splice len bytes from or to a pipe (either io_in or io_out must be
    # one; both may be).  off_in / off_out, when not nil, are offsets for
    # the non-pipe descriptor.  flags: IO::Splice::F_MOVE, F_NONBLOCK,
    # F_MORE.  Returns the bytes spliced; raises EOFError when io_in is at
    # end of file, Errno::EAGAIN when F_NONBLOCK is given and nothing can
    # move.  Without F_NONBLOCK it blocks until something moves.
    def splice(io_in, off_in, io_out, off_out, len, flags = 0)
      n = IO::Splice.transfer(io_in, io_out, len, flags, false) do |want, kflags|
        Splicer.splice(io_in, off_in, io_out, off_out, want, kflags)
      end
      raise EOFError, "end of file reached" if n.zero?

      n
    end

    # IO.trysplice(io_in, off_in, io_out, off_out, len [, flags]) -> Integer, :EAGAIN or nil
    #
    # IO.splice that never blocks on the pipe: :EAGAIN instead of raising
    # Errno::EAGAIN, nil at end of file.
    def trysplice(io_in, off_in, io_out, off_out, len, flags = 0)
      n = IO::Splice.transfer(io_in, io_out, len, flags, true) do |want, kflags|
        Splicer.splice(io_in, off_in, io_out, off_out, want, kflags)
      end
      n == 0 ? nil : n # n may be :EAGAIN
    end

    # IO.tee(io_in, io_out, len [, flags]) -> Integer
    #
    # Duplicate up to len bytes from pipe io_in into pipe io_out without
    # consuming them.  Raises EOFError when io_in is closed and emptied,
    # Errno::EAGAIN with F_NONBLOCK when nothing can be duplicated.
    def tee(io_in, io_out, len, flags = 0)
      n = IO::Splice.transfer(io_in, io_out, len, flags, false) do |want, kflags|
        Splicer.tee(io_in, io_out, want, kflags)
      end
      raise EOFError, "end of file reached" if n.zero?

      n
    end

    # IO.trytee(io_in, io_out, len [, flags]) -> Integer, :EAGAIN or nil
    def trytee(io_in, io_out, len, flags = 0)
      n = IO::Splice.transfer(io_in, io_out, len, flags, true) do |want, kflags|
        Splicer.tee(io_in, io_out, want, kflags)
      end
      n == 0 ? nil : n # n may be :EAGAIN
    end

    # IO.vmsplice(io, string_or_array [, flags]) -> Integer
    #
    # Transfer the strings into io (the write end of a pipe, or anything a
    # session can write to), in full: without F_NONBLOCK it waits for
    # room.  With F_NONBLOCK it returns what fitted, or raises
    # Errno::EAGAIN when nothing did.
    def vmsplice(io, data, flags = 0)
      strings = data.is_a?(String) ? [data] : Array(data)
      strings.each { |s| raise TypeError, "String expected, got #{s.class}" unless s.is_a?(String) }
      total = strings.sum(&:bytesize)
      return 0 if total.zero?

      buf = Splicer::Buf.new(total)
      strings.reduce(0) { |offset, s| buf.write(s, offset) }
      nonblock = Integer(flags).anybits?(IO::Splice::F_NONBLOCK)
      Splicer::Session.open(nonblock: nonblock) do |s|
        s.open_buf(buf, io, total)
        r = s.run(exception: false)
        next r if r.is_a?(Integer)

        delivered = s.progress.delivered
        raise Errno::EAGAIN, "vmsplice" if delivered.zero?

        delivered
      end
    end
  end

  # The capacity of the pipe this IO is an end of, in bytes.
  def pipe_size = Splicer.pipe_size(self)

  # Set the pipe's capacity (the kernel rounds it up to a power of two
  # number of pages).  Errno::EPERM above /proc/sys/fs/pipe-max-size for an
  # unprivileged process, Errno::EBUSY below what the pipe holds.
  def pipe_size=(size)
    Splicer.set_pipe_size(self, size)
  end
end
