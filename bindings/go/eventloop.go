package splicer

import (
	"io"
	"syscall"
	"unsafe"

	"splicer.dev/splicer/internal/capi"
)

// The step-level API, for a caller that runs its own event loop (or drives
// file descriptors the Go runtime does not poll): Open a transfer, Step or
// Run it, and after an EAGAIN ask Wait which descriptor to poll.  These
// calls map one to one onto the C session; unlike Copy they never park on
// the runtime's poller and block or not as the descriptors and the
// NONBLOCK option say.  The descriptors are borrowed: keep the files and
// connections open until the transfer ended.

// OptionKey names a session option for Set and Get (enum splicer_option).
type OptionKey int

// The session options.
const (
	OptPipeSize  OptionKey = capi.OptPipeSize  // most bytes one batch takes (own pipes: their size)
	OptChunk     OptionKey = capi.OptChunk     // most bytes one syscall moves
	OptNonblock  OptionKey = capi.OptNonblock  // 1: Step and Run never block
	OptFallback  OptionKey = capi.OptFallback  // 1: fall back when the kernel refuses a method
	OptMethods   OptionKey = capi.OptMethods   // bitmask of allowed methods (1 << Method)
	OptSIGPIPE   OptionKey = capi.OptSigpipe   // 1: block and consume SIGPIPE around writes
	OptPool      OptionKey = capi.OptPool      // 1: borrow pipes from the process-wide pool per batch
	OptLazyFiles OptionKey = capi.OptLazyFiles // 1: a copy's open skips a regular file's fcntl (see WithLazyFiles)
)

// Events says what Wait wants the caller to poll for.
type Events int16

// The events Wait returns.
const (
	POLLIN  Events = capi.POLLIN  // the source is not readable yet
	POLLOUT Events = capi.POLLOUT // a destination is not writable yet
)

// FD is a file descriptor the caller owns, usable wherever this package
// wants a file or a connection.  Reads, writes and waits on it block the
// calling thread: the Go runtime does not poll it.
type FD int

// SyscallConn gives the descriptor to the splicer functions.
func (fd FD) SyscallConn() (syscall.RawConn, error) { return fdRaw(fd), nil }

// Read is read(2).
func (fd FD) Read(p []byte) (int, error) {
	n, err := syscall.Read(int(fd), p)
	if n == 0 && err == nil && len(p) > 0 {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

// Write is write(2) until p is written.
func (fd FD) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := syscall.Write(int(fd), p[written:])
		if n > 0 {
			written += n
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

type fdRaw int

func (fd fdRaw) Control(f func(uintptr)) error    { f(uintptr(fd)); return nil }
func (fd fdRaw) Read(f func(uintptr) bool) error  { return fd.loop(f, capi.POLLIN) }
func (fd fdRaw) Write(f func(uintptr) bool) error { return fd.loop(f, capi.POLLOUT) }

// loop calls f until it is done, blocking in poll(2) between calls.
func (fd fdRaw) loop(f func(uintptr) bool, ev int16) error {
	for !f(uintptr(fd)) {
		pfd := struct {
			fd             int32
			events, revent int16
		}{int32(fd), ev, 0}
		_, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, 0, 0, 0, 0)
		if e != 0 && e != syscall.EINTR {
			return e
		}
	}
	return nil
}

// fdOf returns the descriptor of v without locking it.
func fdOf(v any) (int, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return -1, syscall.EBADF
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, fileError(err)
	}
	return fd, nil
}

func (s *Session) result(op string, r int64) (int64, error) {
	if r < 0 {
		return 0, &OpError{Op: op, Err: errnoOf(r)}
	}
	return r, nil
}

// Set sets a session option (splicer_session_set).
func (s *Session) Set(key OptionKey, value int64) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	r := capi.SessionSet(h, int(key), value)
	if r == 0 && key == OptNonblock {
		s.nonblk, s.userNonblk = value, value
	}
	_, err = s.result("set", int64(r))
	return err
}

// Get reads a session option (splicer_session_get); for OptPipeSize, what
// the kernel gave.
func (s *Session) Get(key OptionKey) (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release()
	v, r := capi.SessionGet(h, int(key))
	if r < 0 {
		return 0, &OpError{Op: "get", Err: errnoOf(int64(r))}
	}
	if key == OptNonblock {
		v = s.userNonblk
	}
	return v, nil
}

// Open begins a transfer of up to n bytes (n < 0: until EOF) from src at
// srcOff to dst at dstOff (OffCur: the descriptors' positions), to be
// moved by Step or Run (splicer_open).
func (s *Session) Open(dst any, dstOff int64, src any, srcOff int64, n int64) error {
	in, err := fdOf(src)
	if err != nil {
		return &OpError{Op: "open", Err: err}
	}
	out, err := fdOf(dst)
	if err != nil {
		return &OpError{Op: "open", Err: err}
	}
	// As for Copy: an end whose type tells its kind is kept for the open
	// only (unless the caller kept it), so the open makes no syscall for it.
	return s.openWith("open", func(h capi.Session) int {
		kin, kout := s.openKinds(in, kindOf(src), out, kindOf(dst))
		r, _ := capi.OpenMethod(h, in, srcOff, out, dstOff, lenArg(n), kin, kout)
		return r
	})
}

// OpenTee begins a fan-out of up to n bytes from src to every destination
// (splicer_open_tee).
func (s *Session) OpenTee(src any, srcOff int64, n int64, dsts ...any) error {
	in, err := fdOf(src)
	if err != nil {
		return &OpError{Op: "open_tee", Err: err}
	}
	outs := make([]int, len(dsts))
	for i, d := range dsts {
		if outs[i], err = fdOf(d); err != nil {
			return &OpError{Op: "open_tee", Err: err}
		}
	}
	return s.openWith("open_tee", func(h capi.Session) int { return capi.OpenTee(h, in, srcOff, outs, lenArg(n)) })
}

// OpenBuf begins the transfer of the first n bytes of b to dst
// (splicer_open_buf).  On success the session owns b.
func (s *Session) OpenBuf(dst any, b *Buf, n int) error {
	out, err := fdOf(dst)
	if err != nil {
		return &OpError{Op: "open_buf", Err: err}
	}
	if b == nil || n < 0 {
		return &OpError{Op: "open_buf", Err: syscall.EINVAL}
	}
	return s.openWith("open_buf", func(h capi.Session) int {
		return b.HandOver(func(bh capi.Buf) int { return capi.OpenBuf(h, bh, uint64(n), out) })
	})
}

func (s *Session) openWith(op string, open func(capi.Session) int) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	r := open(h)
	if r == 0 {
		s.last = nil
	}
	_, err = s.result(op, int64(r))
	return err
}

// Step moves bytes of the open transfer: pending ones first, then at most
// one chunk more (splicer_step).  It returns the bytes delivered, 0 when
// the transfer is finished, or an error; syscall.EAGAIN means "poll what
// Wait says, then step again".
func (s *Session) Step() (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release()
	if r := s.setNonblock(h, s.userNonblk != 0); r < 0 {
		return s.result("step", int64(r))
	}
	return s.result("step", capi.Step(h))
}

// Run steps until the transfer is finished (splicer_run) and returns the
// bytes delivered; on EAGAIN what was delivered before is in Progress.
func (s *Session) Run() (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release()
	if r := s.setNonblock(h, s.userNonblk != 0); r < 0 {
		return s.result("run", int64(r))
	}
	return s.result("run", capi.Run(h))
}

// Wait says, after a Step or Run that failed with EAGAIN, which descriptor
// to poll and for what (splicer_wait).
func (s *Session) Wait() (fd int, ev Events, err error) {
	h, err := s.acquire()
	if err != nil {
		return -1, 0, err
	}
	defer s.release()
	fd, e, r := capi.Wait(h)
	if r < 0 {
		return -1, 0, &OpError{Op: "wait", Err: errnoOf(int64(r))}
	}
	return fd, Events(e), nil
}
