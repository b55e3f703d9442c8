package splicer

import (
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"syscall"

	"splicer.dev/splicer/internal/capi"
)

// endpoint is one side of a transfer as the runtime sees it.
type endpoint struct {
	rc    syscall.RawConn
	write bool
	fd    int  // as Control saw it; the callbacks are authoritative
	poll  bool // non-blocking, so the runtime's poller waits for it
	file  bool // regular file or block device: always ready, never polled
}

// endpointOf returns the endpoint of v, or ok == false when v has no file
// descriptor.
func endpointOf(v any, write bool) (ep endpoint, ok bool, err error) {
	sc, isConn := v.(syscall.Conn)
	if !isConn {
		return ep, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return ep, false, err
	}
	ep = endpoint{rc: &osErrors{rc}, write: write, fd: -1}
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ep.fd = int(fd)
		var st syscall.Stat_t
		if cerr = syscall.Fstat(int(fd), &st); cerr != nil {
			return
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG, syscall.S_IFBLK:
			ep.file = true
		}
		fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if e != 0 {
			cerr = e
			return
		}
		ep.poll = fl&syscall.O_NONBLOCK != 0
	})
	if err == nil {
		err = cerr
	}
	return ep, err == nil, fileError(err)
}

// osErrors gives the errors of an *os.File's RawConn the meaning os gives
// them elsewhere: os wraps its methods' errors so that a closed file is
// os.ErrClosed, but a RawConn returns the poller's own "use of closed
// file", which no exported error matches.
type osErrors struct{ syscall.RawConn }

func (c *osErrors) Control(f func(uintptr)) error    { return fileError(c.RawConn.Control(f)) }
func (c *osErrors) Read(f func(uintptr) bool) error  { return fileError(c.RawConn.Read(f)) }
func (c *osErrors) Write(f func(uintptr) bool) error { return fileError(c.RawConn.Write(f)) }

func fileError(err error) error {
	if err != nil && err.Error() == "use of closed file" {
		return os.ErrClosed
	}
	return err
}

// xfer drives one transfer.  The endpoints' RawConn callbacks nest: the
// source's Read callback enters each destination's Write callback, and
// the innermost one steps the C session.  So every fd is locked against
// Close while C uses it, and when a step would block, the callback of the
// fd splicer_wait names returns false and parks its goroutine on the
// poller; the runtime calls it again once the fd is ready.  A readiness
// event cannot be missed: the runtime arms the wait before the callback
// makes the syscall that found the fd not ready.
type xfer struct {
	s        *Session
	h        capi.Session
	op       string
	eps      []endpoint // eps[0]: the source; then destinations by fd
	fds      []int
	fns      []func(uintptr) bool
	open     func(h capi.Session, fds []int) int
	opened   bool
	ctx      context.Context
	maxSteps uint64
	src      any // the caller's objects, for deadlines
	dsts     []any

	total   int64 // delivered during the current drive
	done    bool
	err     error
	waiting bool
	wfd     int
	wev     int16
}

// newXfer prepares a transfer from src to dsts; ok is false when a side
// has no file descriptor (the caller copies through a buffer instead).
// dstLevel[i] is the index in eps of dsts[i].
func newXfer(op string, src any, dsts []any) (x *xfer, dstLevel []int, ok bool, err error) {
	var in endpoint
	if _, isBuf := src.(bufSource); isBuf {
		in = endpoint{rc: bufSource{}, fd: -1, file: true}
	} else if in, ok, err = endpointOf(src, false); !ok || err != nil {
		return nil, nil, ok, err
	}
	x = &xfer{op: op, eps: []endpoint{in}, src: src, dsts: dsts}
	var outs []endpoint
	for _, d := range dsts {
		ep, ok, err := endpointOf(d, true)
		if !ok || err != nil {
			return nil, nil, ok, err
		}
		outs = append(outs, ep)
	}
	// One lock per distinct destination fd (a second Write lock on the
	// same fd would deadlock), taken in fd order so that two fan-outs to
	// the same connections cannot wait for each other.
	order := make([]int, len(outs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return outs[order[a]].fd < outs[order[b]].fd })
	dstLevel = make([]int, len(outs))
	for _, i := range order {
		lv := len(x.eps)
		for j := 1; j < len(x.eps); j++ {
			if x.eps[j].fd == outs[i].fd {
				lv = j
			}
		}
		if lv == len(x.eps) {
			x.eps = append(x.eps, outs[i])
		}
		dstLevel[i] = lv
	}
	x.fds = make([]int, len(x.eps))
	x.fns = make([]func(uintptr) bool, len(x.eps))
	for i := range x.eps {
		x.fns[i] = x.level(i)
	}
	return x, dstLevel, true, nil
}

// nonblocking reports whether every endpoint the kernel could make wait is
// one the runtime polls.  A blocking pipe or terminal (say an inherited
// standard input) is not in the poller; the transfer then blocks on it,
// as os.File.Read would.
func (x *xfer) nonblocking() bool {
	for _, ep := range x.eps {
		if !ep.file && !ep.poll {
			return false
		}
	}
	return true
}

func (x *xfer) level(i int) func(uintptr) bool {
	ep := &x.eps[i]
	return func(fd uintptr) bool {
		x.fds[i] = int(fd)
		if i+1 < len(x.eps) {
			if err := x.enter(i + 1); err != nil && x.err == nil {
				x.err = err
			}
		} else {
			x.run()
		}
		if x.err != nil || x.done || !x.waiting {
			return true
		}
		mine := x.wfd == int(fd) && ep.poll && (x.wev&capi.POLLOUT != 0) == ep.write
		return !mine
	}
}

func (x *xfer) enter(i int) error {
	if x.eps[i].write {
		return x.eps[i].rc.Write(x.fns[i])
	}
	return x.eps[i].rc.Read(x.fns[i])
}

func (x *xfer) run() {
	x.waiting = false
	if !x.opened {
		if r := x.open(x.h, x.fds); r < 0 {
			x.err = &OpError{Op: x.op, Err: errnoOf(int64(r))}
			return
		}
		x.opened = true
	}
	r, d := capi.RunSteps(x.h, x.maxSteps)
	x.total += int64(d)
	switch {
	case r == 0:
		x.done = true
	case r == -int64(syscall.EAGAIN):
		fd, ev, rr := capi.Wait(x.h)
		if rr == 0 {
			x.waiting, x.wfd, x.wev = true, fd, ev
		}
	case r > 0:
		if x.ctx != nil && x.ctx.Err() != nil {
			x.err = x.ctx.Err()
		}
	default:
		x.err = errnoOf(r)
	}
}

// drive runs the transfer until it finished or failed.
func (x *xfer) drive() (int64, error) {
	x.total, x.done, x.err = 0, false, nil
	if r := x.s.setNonblock(x.h, x.nonblocking()); r < 0 {
		return 0, &OpError{Op: x.op, Err: errnoOf(int64(r))}
	}
	for !x.done && x.err == nil {
		if err := x.enter(0); err != nil && x.err == nil {
			x.err = err
		}
		if x.err == nil && x.waiting {
			// splicer_wait named an fd that none of the callbacks can
			// wait for: report it rather than spin.
			x.err = syscall.EAGAIN
		}
		if x.err == nil && !x.done && x.ctx != nil && x.ctx.Err() != nil {
			x.err = x.ctx.Err()
		}
	}
	if x.err == nil {
		return x.total, nil
	}
	var oe *OpError
	if errors.As(x.err, &oe) && oe.Op == x.op {
		return x.total, x.err
	}
	return x.total, &OpError{Op: x.op, Method: progressOf(x.h).Method, Err: x.err}
}

// transfer runs a prepared transfer on the session.
func (s *Session) transfer(x *xfer, ctx context.Context) (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, &OpError{Op: x.op, Err: err}
	}
	defer s.release()
	x.s, x.h = s, h
	if ctx != nil && ctx.Err() != nil {
		return 0, &OpError{Op: x.op, Err: ctx.Err()}
	}
	if ctx != nil {
		x.ctx = ctx
		// Steps on files never wait, so a context is also checked every
		// so many chunks.
		x.maxSteps = 16
	}
	n, err := x.drive()
	s.setNonblock(h, s.userNonblk != 0)
	switch {
	case !x.opened:
		// a refused open (EBUSY, say) leaves the previous transfer as it was
	case err != nil:
		s.last = x
	default:
		s.last = nil
	}
	return n, err
}

// Resume continues the last transfer after an error that left it open (a
// deadline that passed, a cancelled context): bytes it still holds are
// delivered first.  It returns the bytes delivered by this call.  Resume
// after a transfer that finished returns 0, nil.
func (s *Session) Resume() (int64, error) {
	return s.ResumeContext(nil)
}

// ResumeContext is Resume with cancellation (see CopyContext).
func (s *Session) ResumeContext(ctx context.Context) (int64, error) {
	s.op.Lock()
	x := s.last
	s.op.Unlock()
	if x == nil {
		return 0, nil
	}
	stop := interruptOnDone(ctx, x)
	n, err := s.transfer(x, ctx)
	return n, stop(err)
}

// readerOf unwraps an *io.LimitedReader, so that io.CopyN-style callers
// keep the zero-copy path.
func readerOf(src io.Reader) (io.Reader, int64) {
	if lr, ok := src.(*io.LimitedReader); ok {
		return lr.R, lr.N
	}
	return src, -1
}

func lenArg(n int64) uint64 {
	if n < 0 {
		return capi.ToEOF
	}
	return uint64(n)
}

// copyRange is the engine of Copy, CopyN and CopyRange.  handled is false
// when a side has no file descriptor.
func (s *Session) copyRange(ctx context.Context, dst io.Writer, dstOff int64, src io.Reader, srcOff int64, n int64) (written int64, handled bool, err error) {
	x, _, ok, err := newXfer("copy", src, []any{dst})
	if err != nil {
		return 0, true, &OpError{Op: "copy", Err: err}
	}
	if !ok {
		return 0, false, nil
	}
	x.open = func(h capi.Session, fds []int) int {
		return capi.Open(h, fds[0], srcOff, fds[1], dstOff, lenArg(n))
	}
	stop := interruptOnDone(ctx, x)
	written, err = s.transfer(x, ctx)
	return written, true, stop(err)
}

// Copy copies from src to dst until EOF or an error, like io.Copy, and
// returns the bytes written.  When both sides are syscall.Conn the bytes
// move in the kernel with the best method for the pair; otherwise Copy is
// io.Copy.  An *io.LimitedReader source is copied as CopyN.
func (s *Session) Copy(dst io.Writer, src io.Reader) (int64, error) {
	return s.CopyContext(nil, dst, src)
}

// CopyContext is Copy that stops when ctx is done, returning an error
// that wraps ctx.Err().  To wake a transfer parked on the poller it sets a
// past read deadline on src and write deadline on dst (when they have
// such methods) and clears both deadlines before it returns.
func (s *Session) CopyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	r, limit := readerOf(src)
	if limit >= 0 {
		lr := src.(*io.LimitedReader)
		n, handled, err := s.copyRange(ctx, dst, OffCur, r, OffCur, limit)
		if handled {
			lr.N -= n
			return n, err
		}
	} else if n, handled, err := s.copyRange(ctx, dst, OffCur, src, OffCur, -1); handled {
		return n, err
	}
	return bufferedCopy(ctx, dst, src)
}

// CopyN copies n bytes (or until an error) from src to dst, like
// io.CopyN: it returns io.EOF when src ended early.  The source is never
// read past n bytes.
func (s *Session) CopyN(dst io.Writer, src io.Reader, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	written, handled, err := s.copyRange(nil, dst, OffCur, src, OffCur, n)
	if !handled {
		return io.CopyN(dst, src, n)
	}
	if err == nil && written < n {
		err = io.EOF
	}
	return written, err
}

// CopyRange copies n bytes (n < 0: until EOF) from src at srcOff to dst at
// dstOff.  An offset >= 0 reads or writes there and leaves the file's
// position alone; OffCur uses and advances the position.  Both sides must
// have a file descriptor; an offset on a pipe or socket is ESPIPE.
func (s *Session) CopyRange(dst io.Writer, dstOff int64, src io.Reader, srcOff int64, n int64) (int64, error) {
	written, handled, err := s.copyRange(nil, dst, dstOff, src, srcOff, n)
	if !handled {
		return 0, &OpError{Op: "copy", Err: syscall.EBADF}
	}
	return written, err
}

// Tee copies from src until EOF to every destination (at most 16), with
// tee(2) when all have file descriptors, and returns the bytes every
// destination received.  Without descriptors it is io.Copy to an
// io.MultiWriter.
func (s *Session) Tee(src io.Reader, dsts ...io.Writer) (int64, error) {
	return s.TeeN(src, -1, dsts...)
}

// TeeN is Tee of at most n bytes (n < 0: until EOF).
func (s *Session) TeeN(src io.Reader, n int64, dsts ...io.Writer) (int64, error) {
	anys := make([]any, len(dsts))
	for i, d := range dsts {
		anys[i] = d
	}
	x, levels, ok, err := newXfer("tee", src, anys)
	if err != nil {
		return 0, &OpError{Op: "tee", Err: err}
	}
	if !ok || len(dsts) == 0 {
		w := io.MultiWriter(dsts...)
		if n >= 0 {
			return io.CopyN(w, src, n)
		}
		return io.Copy(w, src)
	}
	x.open = func(h capi.Session, fds []int) int {
		out := make([]int, len(levels))
		for i, lv := range levels {
			out[i] = fds[lv]
		}
		return capi.OpenTee(h, fds[0], OffCur, out, lenArg(n))
	}
	return s.transfer(x, nil)
}

// WriteBuf hands the first n bytes of b to the session and writes them to
// dst with vmsplice(2) (or write(2) when dst cannot take pages).  The
// buffer is sealed read-only first and belongs to the session from then
// on, even when the write fails later; on an error before the hand-over
// the caller still owns it.
func (s *Session) WriteBuf(dst io.Writer, b *Buf, n int) (int64, error) {
	if b == nil || n < 0 || n > b.Size() {
		return 0, &OpError{Op: "write_buf", Err: syscall.EINVAL}
	}
	x, _, ok, err := newXfer("write_buf", bufSource{}, []any{dst})
	if err != nil {
		return 0, &OpError{Op: "write_buf", Err: err}
	}
	if !ok {
		return 0, &OpError{Op: "write_buf", Err: syscall.EBADF}
	}
	x.open = func(h capi.Session, fds []int) int {
		return b.HandOver(func(bh capi.Buf) int { return capi.OpenBuf(h, bh, uint64(n), fds[1]) })
	}
	return s.transfer(x, nil)
}
