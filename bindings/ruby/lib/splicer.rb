# frozen_string_literal: true

# splicer: zero-copy transfers between file descriptors on Linux.
#
#   require "splicer"
#   Splicer.copy(File.open("in"), socket)              # => bytes copied
#   Splicer::Session.open(chunk: 1 << 20) do |s|
#     s.copy(client, upstream)
#     p s.stats
#   end
#
# This is the idiomatic layer over the generated extension Splicer::Core
# (one function per function of splicer.h).  Conventions:
#   * a source or destination is an IO (File, pipe, Socket), anything with
#     to_io or fileno, or an Integer fd.  A session borrows descriptors and
#     never closes them.  Ruby's buffers come first: a writer's buffer is
#     flushed before the transfer, and bytes already read ahead into a
#     reader's buffer are delivered first (given back to the fd when it is
#     seekable);
#   * failures raise SystemCallError subclasses (Errno::EPIPE, ...) whose
#     message names the operation and the method ("Broken pipe - copy
#     (splice_pipe)"); a wrong argument raises TypeError or ArgumentError,
#     and no number is silently rounded or truncated;
#   * blocking: an IO is waited on the way Ruby's own IO methods wait (Ruby
#     sets O_NONBLOCK on its pipes and sockets, and IO#read still blocks);
#     an Integer fd is taken as C takes it: when it is O_NONBLOCK, a
#     transfer that cannot progress raises IO::EAGAINWaitReadable or
#     IO::EAGAINWaitWritable (subclasses of Errno::EAGAIN).  A session made
#     with nonblock: true never waits.  Every wait releases the GVL and can
#     be interrupted (Thread#kill, Thread#raise, Timeout); under a
#     Fiber.scheduler it is IO#wait_readable / IO#wait_writable;
#   * offsets are byte offsets, nil meaning the descriptor's own position;
#     a length of nil means "until end of file".
require "io/wait"
require_relative "splicer/version"
require "splicer/core"

module Splicer
  # The C library's version ("0.1.0") and number (MAJOR*10000+MINOR*100+PATCH).
  def self.library_version = Core.version_string
  def self.library_version_number = Core.version_number

  # Methods by number, as splicer_method_name() names them.
  METHOD_NAMES = Array.new(Core::METHOD_COUNT) { |m| Core.method_name(m).to_sym }.freeze
  METHOD_NUMBERS = METHOD_NAMES.each_with_index.to_h.freeze
  private_constant :METHOD_NUMBERS

  # Flags of the raw wrappers (SPLICE_F_*).
  F_MOVE = Core::F_MOVE
  F_NONBLOCK = Core::F_NONBLOCK
  F_MORE = Core::F_MORE
  F_GIFT = Core::F_GIFT
  # Most destinations of one tee.
  TEE_MAX = Core::TEE_MAX
  # Most descriptors one session keeps (Session#keep).
  KEEP_MAX = Core::KEEP_MAX
  # What Session#keep is told about a descriptor (enum splicer_fd_kind).
  FD_KINDS = {
    unknown: Core::FD_UNKNOWN, stream: Core::FD_STREAM, dgram: Core::FD_DGRAM,
    seqpacket: Core::FD_SEQPACKET, pipe: Core::FD_PIPE
  }.freeze

  # Progress of the open (or last) transfer: consumed == delivered + pending.
  # method is a Symbol (:splice, :sendfile, ...).
  Progress = Struct.new(:consumed, :delivered, :pending, :method, :finished) do
    alias_method :finished?, :finished
  end

  # Cumulative statistics of a session.  bytes_by_method is a Hash from
  # method Symbol to bytes.  pool_misses: batches done by read/write because
  # the pipe pool had no pipe to lend.  pool_spills: batches whose last bytes
  # were moved from a pool pipe into a buffer, so that the pipe could go back
  # while the destination was full and the pool short.
  Stats = Struct.new(:bytes, :syscalls, :fallbacks, :eagain, :bytes_by_method, :pool_misses, :pool_spills)

  OPTIONS = {
    pipe_size: Core::OPT_PIPE_SIZE, chunk: Core::OPT_CHUNK, nonblock: Core::OPT_NONBLOCK,
    fallback: Core::OPT_FALLBACK, methods: Core::OPT_METHODS, sigpipe: Core::OPT_SIGPIPE,
    pool: Core::OPT_POOL, lazy_files: Core::OPT_LAZY_FILES
  }.freeze
  BOOLEAN_OPTIONS = [Core::OPT_NONBLOCK, Core::OPT_FALLBACK, Core::OPT_SIGPIPE, Core::OPT_POOL,
                     Core::OPT_LAZY_FILES].freeze
  private_constant :BOOLEAN_OPTIONS

  # The chunk of the one-shot copies (Splicer.copy, IO::Splice.copy_stream):
  # like IO.copy_stream, they hand the kernel large requests, so that a
  # direct method (sendfile, copy_file_range, splice) costs few calls; the
  # library's default (1 MiB) suits step-by-step use.  It bounds only the
  # direct methods: staged batches are bounded by the pipe, read/write by its
  # 256 KiB buffer.
  ONE_SHOT_CHUNK = 16 << 20

  class << self
    # Copy from src to dst until end of file (or len bytes) on a session
    # taken from a small shared set, as IO.copy_stream does.
    # Returns the bytes copied.  When it fails, what the session held
    # undelivered is dropped (keep a Session to resume instead).  The
    # sessions have lazy_files on: each call opens its descriptors once, and
    # raises what an eager open would.
    def copy(src, dst, len = nil)
      session = @free_sessions.pop || Session.new(chunk: ONE_SHOT_CHUNK, lazy_files: true)
      begin
        session.copy(src, dst, len)
      rescue Exception # Thread#kill and Thread#raise too: never leave the next caller an EBUSY
        session.abort
        raise
      ensure
        if @free_sessions.size < 8 then @free_sessions.push(session) else session.close end
      end
    end

    # The method a transfer from src to dst would try first (:splice, ...).
    def method_for(src, dst) = METHOD_NAMES[Core.method_for(src, dst)]

    # Symbolic name of an errno ("EPIPE"); negative values are accepted too.
    def errname(errno) = Core.errname(errno)

    # Description of an errno ("Broken pipe").
    def strerror(errno) = Core.strerror(errno)

    # Raw wrappers: one syscall each (EINTR retried), the GVL released.
    # Descriptors as everywhere; offsets nil for the fd's position.
    # Each returns the syscall's count or raises its errno.

    # splice(2): at least one end must be a pipe.
    def splice(src, off_in, dst, off_out, len, flags = 0) = Core.splice(src, off_in, dst, off_out, len, flags)

    # tee(2): duplicate up to len bytes from pipe src into pipe dst.
    def tee(src, dst, len, flags = 0) = Core.tee(src, dst, len, flags)

    # vmsplice(2) of a String or an Array of Strings into a pipe's write end.
    # The pipe refers to the strings' memory, it does not copy it: keep them
    # referenced and unchanged until the reader consumed them (or use
    # Session#write_buf, which hands over a sealed copy).
    def vmsplice(pipe, data, flags = 0) = Core.vmsplice(pipe, data, flags)

    # sendfile(2): up to len bytes of src (from off_in, or its position) to dst.
    def sendfile(dst, src, off_in, len) = Core.sendfile(dst, src, off_in, len)

    # copy_file_range(2) between regular files.
    def copy_file_range(src, off_in, dst, off_out, len) = Core.copy_file_range(src, off_in, dst, off_out, len)

    # F_GETPIPE_SZ: the pipe's capacity in bytes.
    def pipe_size(pipe) = Core.pipe_size(pipe)

    # F_SETPIPE_SZ: returns the capacity the kernel gave.
    def set_pipe_size(pipe, size) = Core.set_pipe_size(pipe, size)

    # The C option number of an option name (or an Integer, passed as is).
    def option_id(name)
      return name if name.is_a?(Integer)

      OPTIONS.fetch(name) do
        raise TypeError, "option name expected, got #{name.class}" unless name.is_a?(Symbol) || name.is_a?(String)

        OPTIONS.fetch(name.to_sym) { raise ArgumentError, "unknown option #{name.inspect} (#{OPTIONS.keys.join(', ')})" }
      end
    end

    # A bitmask of methods from an Array of names (or an Integer mask).
    def method_mask(methods)
      return methods if methods.is_a?(Integer)

      Array(methods).reduce(0) do |mask, name|
        m = METHOD_NUMBERS[name.is_a?(String) ? name.to_sym : name]
        raise ArgumentError, "unknown method #{name.inspect} (#{METHOD_NAMES.join(', ')})" unless m

        mask | (1 << m)
      end
    end

    # Method names of a bitmask.
    def methods_of(mask) = METHOD_NAMES.each_index.select { |m| mask[m] == 1 }.map { |m| METHOD_NAMES[m] }

    # The value the C library takes for an option.
    def option_value(id, value)
      case value
      when true, false
        raise TypeError, "option #{id} takes an Integer, not #{value}" unless BOOLEAN_OPTIONS.include?(id) || !OPTIONS.value?(id)

        value ? 1 : 0
      when Integer then value
      when Array, Symbol, String
        raise TypeError, "only the methods option takes method names" unless id == Core::OPT_METHODS

        method_mask(value)
      else raise TypeError, "option value expected (Integer, true/false, method names), got #{value.class}"
      end
    end

    # Ruby's view of an option's C value.
    def option_result(id, value)
      if BOOLEAN_OPTIONS.include?(id) then !value.zero?
      elsif id == Core::OPT_METHODS then methods_of(value)
      else value
      end
    end

    # Write all of data to dst (an IO, an Integer fd, anything with to_io or
    # fileno), at offset off when given; waits as IO#write does.
    def write_fully(dst, data, off = nil)
      io = io_of(dst) || IO.for_fd(Core.fd_of(dst, false, true), autoclose: false)
      if off
        done = 0
        done += io.pwrite(data.byteslice(done..), off + done) while done < data.bytesize
      else
        io.write(data)
        io.flush
      end
      data.bytesize
    end

    # The IO behind obj, or nil for an Integer fd or a fileno-only object.
    def io_of(obj)
      return obj if obj.is_a?(IO)
      return nil if obj.is_a?(Integer)

      obj.respond_to?(:to_io) ? obj.to_io : nil
    end
  end
  @free_sessions = []

  # A sealed buffer for vmsplice: fill it, then hand it to
  # Session#write_buf.  The hand-over makes its memory read-only and gives
  # it to the session; the Buf is frozen from then on.
  class Buf
    # A buffer holding a copy of string.
    def self.from(string)
      string = String(string)
      buf = new(string.bytesize)
      buf.write(string)
      buf
    end

    attr_reader :size

    # size bytes of page-aligned memory (size > 0).
    def initialize(size)
      @b = Core.buf_new(size)
      @size = size
    end

    # Copy str into the buffer at offset (default 0).  Returns the offset
    # just past the written bytes.
    def write(str, offset = 0)
      raise FrozenError.new("can't modify a Splicer::Buf handed over to a session", receiver: self) if frozen?

      offset + Core.buf_write(@b, offset, str)
    end

    alias sealed? frozen?

    # Release a buffer that was never handed over (the collector does it too).
    def free
      return if frozen? || @b.nil?

      Core.buf_free(@b)
      @b = nil
    end

    def inspect = "#<#{self.class} #{@size} bytes#{frozen? ? ', handed over' : ''}>"

    # :nodoc: the generated handle, for Session#open_buf
    def __handle
      raise FrozenError.new("Splicer::Buf was already handed over to a session", receiver: self) if frozen?
      raise IOError, "Splicer::Buf was freed" if @b.nil?

      @b
    end

    # :nodoc: after a successful hand-over
    def __handed_over
      @b = nil
      freeze
    end
  end

  # A transfer session: it owns (or borrows from the pool) the kernel pipes
  # bytes travel through, holds what it took from a source until it is
  # delivered, and counts what it did.  Used by one thread (or fiber) at a
  # time.
  class Session
    OP_STEP = 0
    OP_RUN = 1
    OP_COPY = 2
    OP_COPY_RANGE = 3
    OP_TEE = 4
    OP_WRITE_BUF = 5
    OP_RESUME = 6
    private_constant :OP_STEP, :OP_RUN, :OP_COPY, :OP_COPY_RANGE, :OP_TEE, :OP_WRITE_BUF, :OP_RESUME

    # A kept descriptor, as the checks of an open would find it: whether a
    # write to it may raise SIGPIPE (a pipe or socket), and whether it is
    # O_NONBLOCK.
    Kept = Struct.new(:sigpipe_prone, :nonblocking)
    private_constant :Kept

    # Splicer::Session.open(**options) { |s| ... }: the block's value, the
    # session closed at its end; without a block, the session.
    def self.open(**options)
      session = new(**options)
      return session unless block_given?

      begin
        yield session
      ensure
        session.close
      end
    end

    # Options (each may be left out for the library's default):
    #   pipe_size: bytes one batch takes at most (and the size of the
    #              session's own pipes when pool: false)
    #   chunk:     most bytes one syscall moves
    #   nonblock:  true: never wait; a transfer that cannot progress raises
    #              IO::EAGAINWaitReadable / IO::EAGAINWaitWritable (or
    #              returns :wait_readable / :wait_writable with
    #              exception: false); #wait says on what
    #   fallback:  false: raise the kernel's error instead of falling back
    #   methods:   the methods allowed, e.g. [:splice, :read_write]
    #   sigpipe:   false: let SIGPIPE reach the process's handler
    #   pool:      false: the session keeps pipes of its own instead of
    #              borrowing the process-wide pool's for each batch
    #   lazy_files: true: an open does not read the status flags of a
    #              regular file that is not kept, one fcntl(2) less per file,
    #              for programs that copy many files once each; the kernel
    #              checks the access mode at the first step instead, before
    #              any byte moves.  A source not open for reading or a
    #              destination not open for writing then passes #open, and
    #              the first #step or #run raises Errno::EBADF with nothing
    #              moved and the transfer ended as a refused open leaves it
    #              (#progress: method :none); #copy and #copy_range raise the
    #              open's error either way.  Fan-outs and buffers always
    #              check at open.
    def initialize(pipe_size: nil, chunk: nil, nonblock: nil, fallback: nil, methods: nil,
                   sigpipe: nil, pool: nil, lazy_files: nil)
      @h = Core.session_new
      @nonblock = false
      @own = nil
      @ends = nil
      @wait_ios = nil
      @sigpipe = false
      @kept = nil
      # The C session never blocks: every wait happens in Core.drive, with
      # the GVL released and interruptible (see the file's head).
      Core.session_set(@h, Core::OPT_NONBLOCK, 1)
      { pipe_size: pipe_size, chunk: chunk, nonblock: nonblock, fallback: fallback, methods: methods,
        sigpipe: sigpipe, pool: pool, lazy_files: lazy_files }.each do |name, value|
        set(name, value) unless value.nil?
      end
    rescue StandardError
      close
      raise
    end

    # Set an option by name (or C number).  Booleans for nonblock,
    # fallback, sigpipe, pool and lazy_files; method names for methods.
    def set(name, value)
      id = Splicer.option_id(name)
      v = Splicer.option_value(id, value)
      Core.session_set(handle, id, v)
      if id == Core::OPT_NONBLOCK
        Core.session_set(@h, id, 1)
        @nonblock = !v.zero?
        @own = @nonblock || (@ends && raw_nonblocking_fds(@ends))
      end
      value
    end
    alias []= set

    # An option's value: booleans as booleans, methods as names.
    def get(name)
      id = Splicer.option_id(name)
      value = Core.session_get(handle, id)
      value = @nonblock ? 1 : 0 if id == Core::OPT_NONBLOCK
      Splicer.option_result(id, value)
    end
    alias [] get

    # Keep a descriptor (an IO, anything with to_io or fileno, an Integer
    # fd) classified for this session's later opens, which then make no
    # fstat/fcntl for it.  kind: :unknown (classified now, once), :stream,
    # :dgram, :seqpacket, :pipe, or an Integer (Splicer::FD_KINDS values)
    # passed to the C library as it is; a kind given is trusted.  nonblock:
    # true says the fd is O_NONBLOCK (Ruby sets it on the pipes and sockets
    # it makes), so that keeping it makes no syscall; otherwise its flags
    # are read once.  The caller vouches that the fd stays open on the same
    # file with the same flags (O_NONBLOCK, O_APPEND) until #forget: the
    # session's opens also take from what was found out here whether the
    # fd is a pipe or socket (the SIGPIPE guard) and whether it is
    # O_NONBLOCK (the waiting, for an Integer fd), instead of asking the
    # kernel each time.  At most KEEP_MAX descriptors: Errno::ENOSPC
    # beyond; Errno::EBADF for one not open, Errno::EINVAL for an unknown
    # kind number or nonblock with :unknown.  Returns self.
    def keep(io, kind = :unknown, nonblock: false)
      k = case kind
          when Integer then kind
          when Symbol, String
            FD_KINDS.fetch(kind.to_sym) { raise ArgumentError, "unknown fd kind #{kind.inspect} (#{FD_KINDS.keys.join(', ')})" }
          else raise TypeError, "fd kind expected (Symbol or Integer), got #{kind.class}"
          end
      k |= Core::FD_NONBLOCK if nonblock
      fd = Core.fd_of(io, false, false)
      Core.session_keep(handle, fd, k)
      (@kept ||= {})[fd] = kept_traits(fd, k)
      self
    end

    # Stop keeping a descriptor (before closing it or changing its flags);
    # later opens ask the kernel about it again.  Errno::ENOENT when it is
    # not kept.  Returns self.
    def forget(io)
      fd = Core.fd_of(io, false, false)
      Core.session_forget(handle, fd)
      @kept&.delete(fd)
      self
    end

    # Stop keeping every kept descriptor.  Returns self.
    def forget_all
      Core.session_forget(handle, -1)
      @kept = nil
      self
    end

    # Copy from the descriptors' positions until end of file or len bytes.
    # Returns the bytes delivered.  After an error the transfer stays open:
    # #progress says what was delivered, #resume goes on (after EAGAIN or an
    # interrupt), #abort drops what is pending.
    def copy(src, dst, len = nil)
      h = handle
      early = read_ahead(src, [dst], len)
      return early if len && early == len && early.positive?

      Core.open(h, src, nil, dst, nil, rest(len, early))
      started(src, [dst])
      done(early + drive_opened(h, OP_COPY))
    end

    # Copy with explicit offsets: an Integer offset reads (writes) there and
    # leaves the descriptor's position alone; nil uses the position.
    def copy_range(src, off_in, dst, off_out, len = nil)
      h = handle
      early = off_in.nil? ? read_ahead(src, [dst], len, off_out) : 0
      return early if len && early == len && early.positive?

      Core.open(h, src, off_in, dst, rest(off_out, -early), rest(len, early))
      started(src, [dst])
      done(early + drive_opened(h, OP_COPY_RANGE))
    end

    # The same bytes from src to every destination (1 .. TEE_MAX of any
    # kind).  Returns the bytes every destination received.
    def tee(src, *dsts, len: nil, off_in: nil)
      h = handle
      early = off_in.nil? ? read_ahead(src, dsts, len) : 0
      return early if len && early == len && early.positive?

      Core.open_tee(h, src, off_in, dsts, rest(len, early))
      started(src, dsts)
      done(early + Core.drive(h, false, self, @own, OP_TEE, true, @sigpipe))
    end

    # Hand a Splicer::Buf (or a copy of a String) over to the session and
    # deliver its first len bytes (all of it by default) with vmsplice.
    def write_buf(buf, dst, len = nil)
      return 0 if buf.is_a?(String) && buf.empty? && len.to_i.zero?

      open_buf(buf, dst, len)
      done(Core.drive(@h, false, self, @own, OP_WRITE_BUF, true, @sigpipe))
    end

    # Begin a transfer that #step, #run or #resume move.  Returns self.
    # Bytes in src's read buffer are written to dst during open.
    def open(src, dst, len = nil, off_in: nil, off_out: nil)
      h = handle
      early = off_in.nil? ? read_ahead(src, [dst], len, off_out) : 0
      Core.open(h, src, off_in, dst, rest(off_out, -early), rest(len, early))
      started(src, [dst])
      self
    end

    # Begin a fan-out (see #tee).  Returns self.
    def open_tee(src, *dsts, len: nil, off_in: nil)
      h = handle
      early = off_in.nil? ? read_ahead(src, dsts, len) : 0
      Core.open_tee(h, src, off_in, dsts, rest(len, early))
      started(src, dsts)
      self
    end

    # Begin delivering a Splicer::Buf (or a copy of a String).  Returns self.
    def open_buf(buf, dst, len = nil)
      h = handle
      buf = Buf.from(buf) if buf.is_a?(String)
      raise TypeError, "Splicer::Buf or String expected, got #{buf.class}" unless buf.is_a?(Buf)

      Core.open_buf(h, buf.__handle, len.nil? ? buf.size : len, dst)
      buf.__handed_over
      started(nil, [dst])
      self
    end

    # Move bytes of the open transfer: pending ones first, then at most one
    # chunk more.  Returns the bytes delivered (> 0), or 0 when the
    # transfer is finished.  Waits unless the session is non-blocking
    # (see the file's head); exception: false returns :wait_readable or
    # :wait_writable instead of raising EAGAIN.
    def step(exception: true) = Core.drive(@h || handle, true, self, @own, OP_STEP, exception, @sigpipe)

    # Step until the transfer is finished.  Returns the bytes delivered by
    # this call.
    def run(exception: true) = Core.drive(@h || handle, false, self, @own, OP_RUN, exception, @sigpipe)

    # Go on with a transfer that stopped (EAGAIN, an interrupt, an error
    # that went away): pending bytes first, then to the end.
    def resume(exception: true) = Core.drive(@h || handle, false, self, @own, OP_RESUME, exception, @sigpipe)

    # After EAGAIN: [endpoint, :read] (wait until the source is readable) or
    # [endpoint, :write] (until that destination is writable), endpoint as
    # it was given (an IO, an Integer fd, ...).
    def wait
      fd, events = Core.wait(handle)
      [endpoint(fd) || fd, events == Core::POLLIN ? :read : :write]
    end

    # End the open transfer, dropping what is pending.  Returns how many
    # bytes were dropped.
    def abort
      n = Core.abort(handle)
      @ends = nil
      @own = @nonblock || nil
      n
    end

    # Progress of the open (or last) transfer.
    def progress
      consumed, delivered, pending, method, finished = Core.progress_get(handle)
      Progress.new(consumed, delivered, pending, METHOD_NAMES[method], finished)
    end

    # Statistics of every transfer so far.
    def stats
      bytes, syscalls, fallbacks, eagain, by, misses, spills = Core.stats_get(handle)
      by_method = {}
      by.each_with_index { |n, m| by_method[METHOD_NAMES[m]] = n unless m.zero? }
      Stats.new(bytes, syscalls, fallbacks, eagain, by_method, misses, spills)
    end

    # Free the session and its pipes (pending bytes are dropped); the
    # descriptors it was given stay open.  Closing twice is fine.
    def close
      h = @h
      @h = nil
      @ends = nil
      @wait_ios = nil
      @kept = nil
      Core.session_free(h) if h
      nil
    end

    def closed? = @h.nil?

    def inspect
      return "#<#{self.class} (closed)>" if closed?

      p = progress
      state = if p.method == :none then "idle" elsif p.finished then "finished" else "open" end
      "#<#{self.class} #{p.method} #{state} delivered=#{p.delivered} pending=#{p.pending}>"
    end

    private

    def handle = @h || raise(IOError, "closed Splicer::Session")

    # A transfer that ran to its end needs its endpoints no more: they are no
    # longer kept from the collector.
    def done(bytes)
      @ends = nil
      bytes
    end

    # Drives a copy this call opened.  An EBADF that left no transfer (no
    # method) is the open's own refusal, which a lazy open (lazy_files) leaves
    # to the kernel's check at the first step: raise what that open raises,
    # so that the option changes no copy's outcome.
    def drive_opened(h, op)
      Core.drive(h, false, self, @own, op, true, @sigpipe)
    rescue Errno::EBADF
      raise unless progress.method == :none

      @ends = nil # nothing left to keep them for
      raise Errno::EBADF, "splicer_open", cause: nil
    end

    # A length (or offset) less what read_ahead delivered; nil stays nil, and
    # a bad value goes on to the C layer's checks untouched.
    def rest(value, early) = early.zero? || value.nil? ? value : value - early

    # Bytes Ruby already read into src's buffer (from a pipe or socket: a
    # seekable file gives them back to its fd instead) go to every
    # destination first.  Returns how many.
    def read_ahead(src, dsts, len, off_out = nil)
      return 0 if src.is_a?(Integer)

      n = Core.read_pending(src)
      return 0 if n.zero?
      raise TypeError, "length: Integer expected, got #{len.class}" unless len.nil? || len.is_a?(Integer)
      raise ArgumentError, "length: #{len} is negative" if len&.negative?

      n = len if len && len < n
      return 0 if n.zero?

      data = Splicer.io_of(src).read_nonblock(n)
      dsts.each { |dst| Splicer.write_fully(dst, data, off_out) }
      data.bytesize
    end

    # After a successful open: the endpoints (kept referenced, so that an IO
    # given inline is not collected and closed mid-transfer); which EAGAINs
    # are the caller's (all of them when nonblock, else those on an Integer
    # fd, or fileno-only object, that is O_NONBLOCK); and whether a
    # destination is a pipe or socket, where writes raise SIGPIPE (for
    # Core.drive's guard).  A kept descriptor is not asked: what #keep
    # found out holds until #forget.
    def started(src, dsts)
      @ends = src.nil? ? dsts : [src, *dsts]
      @own = @nonblock || raw_nonblocking_fds(@ends)
      kept = @kept
      @sigpipe = dsts.any? do |e|
        k = kept && kept[e.is_a?(Integer) ? e : Core.fd_of(e, false, false)]
        k ? k.sigpipe_prone : Core.sigpipe_prone?(e)
      end
    end

    def raw_nonblocking_fds(ends)
      own = nil
      kept = @kept
      ends.each do |e|
        next if e.is_a?(IO) || e.respond_to?(:to_io)

        fd = e.is_a?(Integer) ? e : Core.fd_of(e, false, false)
        k = kept && kept[fd]
        (own ||= []) << fd if fd >= 0 && (k ? k.nonblocking : Core.nonblocking?(fd))
      end
      own
    end

    # What an open would ask of fd, asked once when the C session kept it
    # with kind k: a kind given is a pipe or socket, as the C library takes
    # it, and with FD_NONBLOCK the fd is O_NONBLOCK without asking.
    def kept_traits(fd, k)
      if (k & ~Core::FD_NONBLOCK) == Core::FD_UNKNOWN
        Kept.new(Core.sigpipe_prone?(fd), Core.nonblocking?(fd))
      else
        Kept.new(true, k.anybits?(Core::FD_NONBLOCK) || Core.nonblocking?(fd))
      end
    end

    def endpoint(fd)
      @ends&.find do |e|
        case e
        when Integer then e == fd
        when IO then !e.closed? && e.fileno == fd
        else Core.fd_of(e, false, false) == fd
        end
      end
    end

    # Called by Core.drive under a fiber scheduler: wait the scheduler's way.
    def __wait_io(fd, events)
      e = endpoint(fd)
      io = (e && Splicer.io_of(e)) || ((@wait_ios ||= {})[fd] ||= IO.for_fd(fd, autoclose: false))
      (events & Core::POLLIN).zero? ? io.wait_writable : io.wait_readable
    end
  end

  # The process-wide pipe pool: staged transfers borrow a pipe for each
  # batch and give it back the moment it is empty (a pipe holding bytes is
  # never given back), so pipe memory is bounded by the pool, not by the
  # number of sessions.
  module Pool
    OPTIONS = { max_pipes: Core::POOL_MAX_PIPES, max_idle: Core::POOL_MAX_IDLE,
                pipe_size: Core::POOL_PIPE_SIZE }.freeze

    # Counters since the process started (in_use, idle and peak_in_use are
    # gauges).  spills: pipes given back early, a session's destination being
    # full while the pool had no idle pipe, the bytes left moved into a buffer.
    Stats = Struct.new(:borrowed, :returned, :created, :closed, :misses, :in_use, :idle, :peak_in_use,
                       :discarded, :undersized, :spills)

    class << self
      # An option by name (:max_pipes, :max_idle, :pipe_size) or C number.
      def get(name) = Core.pool_get(option(name))

      # Set an option; returns value.
      def set(name, value)
        Core.pool_set(option(name), value)
        value
      end

      def max_pipes = get(:max_pipes)
      def max_pipes=(value)
        set(:max_pipes, value)
      end

      def max_idle = get(:max_idle)
      def max_idle=(value)
        set(:max_idle, value)
      end

      def pipe_size = get(:pipe_size)
      def pipe_size=(value)
        set(:pipe_size, value)
      end

      # Set several options at once: configure(max_pipes: 64, max_idle: 8).
      def configure(**options)
        options.each { |name, value| set(name, value) }
        nil
      end

      def stats = Stats.new(*Core.pool_stats_get)

      # Close every idle pipe; returns how many.
      def trim = Core.pool_trim

      private

      def option(name)
        return name if name.is_a?(Integer)

        OPTIONS.fetch(name.is_a?(String) ? name.to_sym : name) do
          raise ArgumentError, "unknown pool option #{name.inspect} (#{OPTIONS.keys.join(', ')})"
        end
      end
    end
  end
end
