// Package splicer moves bytes between file descriptors inside the Linux
// kernel — splice(2), tee(2), vmsplice(2), sendfile(2),
// copy_file_range(2) — so the CPU does not copy them through user space.
//
// Copy is a drop-in for io.Copy: when both sides expose a file descriptor
// (*os.File, *net.TCPConn, *net.UnixConn, anything that is a syscall.Conn)
// the bytes move in the kernel, otherwise it is an ordinary buffered copy.
// A Session gives control over options, offsets, fan-out (Tee), progress
// and statistics.
//
// Bytes that travel through a kernel pipe use pipes from one pool shared
// by the process, borrowed for each batch and given back the moment it is
// delivered, so idle sessions and parked copies hold no pipe (see
// SetPoolLimits, ReadPoolStats, WithPool).
//
// Transfers cooperate with the Go runtime the way net and os do: the
// kernel is asked never to block, and a goroutine whose socket or pipe is
// not ready parks on the runtime's network poller inside the connection's
// syscall.RawConn.  No OS thread waits in C, read and write deadlines are
// honoured (os.ErrDeadlineExceeded), and closing a connection interrupts a
// transfer.  The exception is a file descriptor the runtime does not poll
// (a blocking pipe or terminal, such as an inherited standard input): like
// os.File.Read on it, the transfer then blocks its thread.
package splicer

import (
	"runtime"
	"sync"

	"splicer.dev/splicer/internal/capi"
)

// OffCur as an offset means "use and advance the file's own position".
const OffCur int64 = capi.OffCur

// Session is a transfer session.  Bytes that travel through a kernel pipe
// use pipes borrowed from the process-wide pool for each batch (see
// SetPoolLimits), or pipes of the session's own with WithPool(false).  It
// borrows, never closes, the caller's files and connections.
// Its methods may be called from several goroutines; transfers of one
// session run one at a time.
type Session struct {
	op sync.Mutex // held for a whole transfer: the C session is single-threaded

	mu     sync.Mutex // guards the fields below, never held across a wait
	h      capi.Session
	closed bool
	busy   bool
	nonblk int64 // SPLICER_OPT_NONBLOCK as last set
	// userNonblk is NONBLOCK as the caller set it.  Copy and friends set
	// their own per transfer and leave it; Step and Run, the calls it
	// affects, put the caller's value back first.
	userNonblk int64
	cleanup    runtime.Cleanup

	last *xfer // the open (or last) transfer, for Resume
	cx   *xfer // the copy transfer reused from call to call

	// kept are the descriptors the caller kept (Keep), guarded by op:
	// a copy never forgets them after its open.
	kept []keptFD
}

// Option configures a Session (see New).
type Option func(h capi.Session) int

func intOption(opt int, v int64) Option {
	return func(h capi.Session) int { return capi.SessionSet(h, opt, v) }
}

func boolOption(opt int, on bool) Option {
	v := int64(0)
	if on {
		v = 1
	}
	return intOption(opt, v)
}

// WithPipeSize bounds the bytes one batch of a staged transfer takes from
// the source, and so the bytes the session holds pending (default 256
// KiB).  With the pool (the default) a batch takes the lesser of n and the
// pool pipes' size (SetPoolPipeSize), and PipeSize reports that lesser
// value.  With WithPool(false) the session's own pipes are asked for n
// bytes; the kernel may give less, and the session uses what it got.
func WithPipeSize(n int) Option { return intOption(capi.OptPipeSize, int64(n)) }

// WithPool says whether the session borrows its pipes from the
// process-wide pool for each batch and gives them back the moment they are
// empty (true, the default), or creates pipes of its own and keeps them
// until Close (false).  With the pool an idle session holds no pipe; when
// the pool has no pipe to lend, a batch goes through read/write instead
// and is counted in Stats.PoolMisses.
func WithPool(on bool) Option { return boolOption(capi.OptPool, on) }

// WithChunk limits the bytes one syscall is asked to move (default 1 MiB).
func WithChunk(n int) Option { return intOption(capi.OptChunk, int64(n)) }

// WithFallback says whether a method the kernel refuses falls back to the
// next one and finally to read/write (the default, true) or fails.
func WithFallback(on bool) Option { return boolOption(capi.OptFallback, on) }

// WithMethods restricts the methods a transfer may use.
func WithMethods(ms ...Method) Option {
	var mask int64
	for _, m := range ms {
		mask |= 1 << uint(m)
	}
	return intOption(capi.OptMethods, mask)
}

// WithSIGPIPEGuard says whether the library guards its own writes to pipes
// and sockets against SIGPIPE (on by default, as in C).  The guard acts only
// while SIGPIPE has its default disposition, which would kill the process;
// the Go runtime always installs a handler, so in Go the guard costs one
// sigaction query per transfer call, and turning it off saves that.  The
// runtime's handler ignores a SIGPIPE the kernel raises, unless the program
// asked for SIGPIPE with signal.Notify, which then receives it, as it would
// for a write by os or net.  Either way a transfer to standard output or
// error follows os.File's rule (see Copy).
func WithSIGPIPEGuard(on bool) Option { return boolOption(capi.OptSigpipe, on) }

// WithLazyFiles says whether a copy's open leaves the access mode of a
// regular file to the kernel (true) or reads it with fcntl(2) (false, the
// default).  Lazy opens make one syscall less per regular file per open,
// which counts for a program that copies many files once each; a file kept
// with Keep was checked when it was kept either way.  The kernel's first
// syscall of the transfer checks the same before any byte moves, so a
// source not open for reading or a destination not open for writing is
// EBADF from the first Step or Run instead of from Open, with nothing
// moved, and the transfer ends as a refused open leaves it: Progress
// reports no transfer (MethodNone), which tells this EBADF from a failed
// step's.  So Copy, CopyN, CopyRange and their package-level forms give
// the error of the open either way, with nothing written and no extra
// syscall.  (The lazy open did replace the session's last transfer, which
// an eager open's refusal leaves to Resume.)  Fan-outs (Tee, OpenTee) and
// WriteBuf always check at open.
func WithLazyFiles(on bool) Option { return boolOption(capi.OptLazyFiles, on) }

// New creates a session with the given options.
func New(opts ...Option) (*Session, error) {
	h, r := capi.SessionNew()
	if r < 0 {
		return nil, &OpError{Op: "new", Err: errnoOf(int64(r))}
	}
	for _, o := range opts {
		if r := o(h); r < 0 {
			capi.SessionFree(h)
			return nil, &OpError{Op: "set", Err: errnoOf(int64(r))}
		}
	}
	s := &Session{h: h}
	// A safety net only: Close is the way to release a session.
	s.cleanup = runtime.AddCleanup(s, capi.SessionFree, h)
	return s, nil
}

// Close ends any transfer, dropping bytes still pending (a pool pipe that
// holds them is closed, never lent again), and releases the session's
// pipes.  It is idempotent.  Closing a session while one of its
// transfers runs lets that transfer finish first.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cleanup.Stop()
	if !s.busy {
		capi.SessionFree(s.h)
		s.h = capi.Session{}
	}
	return nil
}

// acquire starts an operation on the C session; release ends it.
func (s *Session) acquire() (capi.Session, error) {
	s.op.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.op.Unlock()
		return capi.Session{}, ErrClosed
	}
	s.busy = true
	return s.h, nil
}

func (s *Session) release() {
	s.mu.Lock()
	s.busy = false
	if s.closed && !s.h.Nil() {
		capi.SessionFree(s.h)
		s.h = capi.Session{}
	}
	s.mu.Unlock()
	runtime.KeepAlive(s)
	s.op.Unlock()
}

// setNonblock keeps SPLICER_OPT_NONBLOCK in step with the endpoints of the
// next transfer without a cgo call when it does not change.
func (s *Session) setNonblock(h capi.Session, on bool) int {
	v := int64(0)
	if on {
		v = 1
	}
	if s.nonblk == v {
		return 0
	}
	r := capi.SessionSet(h, capi.OptNonblock, v)
	if r == 0 {
		s.nonblk = v
	}
	return r
}

// Option reads the current value of a session option; PipeSize reports
// what the kernel gave.
func (s *Session) option(opt int) (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release()
	v, r := capi.SessionGet(h, opt)
	if r < 0 {
		return 0, &OpError{Op: "get", Err: errnoOf(int64(r))}
	}
	return v, nil
}

// PipeSize is the most bytes one batch takes: with the pool, the lesser of
// WithPipeSize and the pool pipes' size; without it, the capacity the
// kernel gave the session's own pipe, or the size asked for before a pipe
// exists.
func (s *Session) PipeSize() (int, error) {
	v, err := s.option(capi.OptPipeSize)
	return int(v), err
}

// Progress describes the open or last transfer.  It waits for a transfer
// running in another goroutine to return.
func (s *Session) Progress() (Progress, error) {
	h, err := s.acquire()
	if err != nil {
		return Progress{}, err
	}
	defer s.release()
	return progressOf(h), nil
}

func progressOf(h capi.Session) Progress {
	p, _ := capi.ProgressGet(h)
	return Progress{
		Consumed:  p.Consumed,
		Delivered: p.Delivered,
		Pending:   p.Pending,
		Method:    Method(p.Method),
		Finished:  p.Finished != 0,
	}
}

// Stats returns the session's cumulative statistics.  It waits for a
// transfer running in another goroutine to return.
func (s *Session) Stats() (Stats, error) {
	h, err := s.acquire()
	if err != nil {
		return Stats{}, err
	}
	defer s.release()
	cs, r := capi.StatsGet(h)
	if r < 0 {
		return Stats{}, &OpError{Op: "stats", Err: errnoOf(int64(r))}
	}
	return Stats{
		Bytes:      cs.Bytes,
		Syscalls:   cs.Syscalls,
		Fallbacks:  cs.Fallbacks,
		EAGAIN:     cs.Eagain,
		ByMethod:   cs.BytesByMethod,
		PoolMisses: cs.PoolMisses,
		PoolSpills: cs.PoolSpills,
	}, nil
}

// Abort ends the open transfer, dropping the bytes it still holds, and
// returns how many were dropped.  A transfer that failed (a deadline, a
// reset peer) keeps its pending bytes so that Resume can deliver them; a
// new transfer on the session is refused with EBUSY until they are
// delivered or dropped.
func (s *Session) Abort() (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release()
	s.last = nil
	r := capi.Abort(h)
	if r < 0 {
		return 0, &OpError{Op: "abort", Err: errnoOf(r)}
	}
	return r, nil
}
