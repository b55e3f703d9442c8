package splicer

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"syscall"

	"splicer.dev/splicer/internal/capi"
)

// endpoint is one side of a transfer as the runtime sees it.
type endpoint struct {
	rc    syscall.RawConn
	write bool
	fd    int  // as Control saw it (fan-outs only); the callbacks are authoritative
	poll  bool // non-blocking, so the runtime's poller waits for it
	file  bool // regular file or block device: always ready, never polled
	known bool // poll and file are settled
	kind  int  // what the type says (kindOf), kept for the open only; 0: unknown
}

// endpointOf returns the endpoint of v, or ok == false when v has no file
// descriptor.  It makes no syscall: what only the kernel can tell is asked
// once the transfer is open (xfer.classify), and often the method the core
// chose has told it already.
func endpointOf(v any, write bool) (ep endpoint, ok bool, err error) {
	sc, isConn := v.(syscall.Conn)
	if !isConn {
		return ep, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return ep, false, fileError(err)
	}
	ep = endpoint{rc: rc, write: write, fd: -1}
	switch v.(type) {
	case *net.TCPConn, *net.UnixConn, *net.UDPConn, *net.IPConn:
		// The net package makes every socket non-blocking and registers
		// it with the poller, or fails to create the connection.
		ep.known, ep.poll = true, true
		ep.kind = kindOf(v)
	}
	return ep, true, nil
}

// classify asks the kernel what the endpoint's fd is: one fcntl(2) for a
// non-blocking fd (which the runtime polls: os.Pipe, sockets), and an
// fstat(2) more for a blocking one, to tell a regular file (always ready)
// from a pipe or terminal the runtime does not poll.
func (ep *endpoint) classify(fd int) error {
	// F_GETFL never blocks, so the raw form skips the scheduler's hand-off.
	fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return e
	}
	ep.known = true
	if fl&syscall.O_NONBLOCK != 0 {
		ep.poll = true
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG, syscall.S_IFBLK:
		ep.file = true
	}
	return nil
}

// fileError gives the errors of an *os.File's RawConn the meaning os gives
// them elsewhere: os wraps its methods' errors so that a closed file is
// os.ErrClosed, but a RawConn returns the poller's own "use of closed
// file", which no exported error matches.
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
	ctx      context.Context
	maxSteps uint64
	src      any // the caller's objects, for deadlines
	dsts     []any

	// A copy opens with offIn, offOut and n; a fan-out or a buffer through
	// open.
	open          func(h capi.Session, fds []int) int
	offIn, offOut int64
	n             uint64
	opened        bool

	total   int64 // delivered during the current drive
	done    bool
	err     error
	waiting bool
	wfd     int
	wev     int16

	// Backing arrays of a copy's slices, so that a session's reused copy
	// transfer allocates nothing.
	epArr  [2]endpoint
	fdArr  [2]int
	fnArr  [2]func(uintptr) bool
	dstArr [1]any
}

// newCopyXfer returns an xfer for one source and one destination whose
// callbacks are made once, for a session to reuse.
func newCopyXfer() *xfer {
	x := &xfer{op: "copy"}
	x.fds, x.fns = x.fdArr[:], x.fnArr[:]
	for i := range x.fns {
		x.fns[i] = x.level(i)
	}
	return x
}

// forget drops the caller's objects, so that a pooled session does not
// keep files and connections reachable after its transfer ended.
func (x *xfer) forget() {
	x.src, x.dstArr, x.dsts, x.ctx = nil, [1]any{}, nil, nil
	x.epArr = [2]endpoint{}
	x.eps = nil
}

// newXfer prepares a transfer from src to dsts; ok is false when a side
// has no file descriptor (the caller copies through a buffer instead).
// dstLevel[i] is the index in eps of dsts[i].
func newXfer(op string, src any, dsts []any) (x *xfer, dstLevel []int, ok bool, err error) {
	var in endpoint
	if _, isBuf := src.(bufSource); isBuf {
		in = endpoint{rc: bufSource{}, fd: -1, file: true, known: true}
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
		if len(dsts) > 1 {
			if err := ep.rc.Control(func(fd uintptr) { ep.fd = int(fd) }); err != nil {
				return nil, nil, true, fileError(err)
			}
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
	for i := range x.eps {
		if ep := &x.eps[i]; !ep.file && !ep.poll {
			return false
		}
	}
	return true
}

// classify settles every endpoint once the transfer is open.  The method
// the core chose already tells what some endpoints are: it picks
// copy_file_range only between two regular files, and sendfile only from a
// regular file or a block device; neither kind ever waits.
func (x *xfer) classify(m int) error {
	switch m {
	case capi.MethodCopyFileRange:
		for i := range x.eps {
			x.eps[i].known, x.eps[i].file = true, true
		}
	case capi.MethodSendfile:
		x.eps[0].known, x.eps[0].file = true, true
	}
	for i := range x.eps {
		if !x.eps[i].known {
			if err := x.eps[i].classify(x.fds[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *xfer) level(i int) func(uintptr) bool {
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
		ep := &x.eps[i]
		mine := x.wfd == int(fd) && ep.poll && (x.wev&capi.POLLOUT != 0) == ep.write
		return !mine
	}
}

func (x *xfer) enter(i int) error {
	if x.eps[i].write {
		return fileError(x.eps[i].rc.Write(x.fns[i]))
	}
	return fileError(x.eps[i].rc.Read(x.fns[i]))
}

func (x *xfer) run() {
	x.waiting = false
	if !x.opened {
		var r int
		m := -1
		if x.open == nil {
			kin, kout := x.s.openKinds(x.fds[0], x.eps[0].kind, x.fds[1], x.eps[1].kind)
			r, m = capi.OpenMethod(x.h, x.fds[0], x.offIn, x.fds[1], x.offOut, x.n, kin, kout)
		} else {
			r = x.open(x.h, x.fds)
		}
		if r < 0 {
			x.err = &OpError{Op: x.op, Err: errnoOf(int64(r))}
			return
		}
		if err := x.classify(m); err != nil {
			// Nothing moved yet: leave no transfer open that the caller
			// cannot Resume.
			capi.Abort(x.h)
			x.err = &OpError{Op: x.op, Err: err}
			return
		}
		x.opened = true
	}
	// NONBLOCK follows the endpoints; a cgo call only when it changes.
	if r := x.s.setNonblock(x.h, x.nonblocking()); r < 0 {
		x.err = errnoOf(int64(r))
		return
	}
	res := capi.RunSteps(x.h, x.maxSteps)
	r := res.R
	x.total += int64(res.Delivered)
	switch {
	case r == 0:
		x.done = true
	case r == -int64(syscall.EAGAIN):
		if res.Stale {
			// The named fd stays ready while steps find nothing to do:
			// let other goroutines run, then step again (drive loops).
			runtime.Gosched()
		} else if res.WaitFD >= 0 {
			x.waiting, x.wfd, x.wev = true, res.WaitFD, res.WaitEvents
		}
	case r > 0:
		if x.ctx != nil && x.ctx.Err() != nil {
			x.err = x.ctx.Err()
		}
	case r == -int64(syscall.EBADF) && progressOf(x.h).Method == MethodNone:
		// The open's own refusal, which a lazy open (WithLazyFiles) leaves
		// to the first step: the core ended the transfer as a refused open
		// leaves it, so it is reported as that open's error.  The lazy open
		// had replaced the session's previous transfer: none is left to
		// Resume.
		x.opened = false
		x.s.last = nil
		x.err = &OpError{Op: x.op, Err: errnoOf(r)}
	default:
		x.err = errnoOf(r)
	}
}

// drive runs the transfer until it finished or failed.
func (x *xfer) drive() (int64, error) {
	x.total, x.done, x.err = 0, false, nil
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
	m := MethodNone
	if x.opened {
		m = progressOf(x.h).Method
	}
	return x.total, &OpError{Op: x.op, Method: m, Err: x.err}
}

// transfer runs a prepared transfer on the session.
func (s *Session) transfer(x *xfer, ctx context.Context) (int64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, &OpError{Op: x.op, Err: err}
	}
	defer s.release()
	return s.transferLocked(x, h, ctx)
}

// transferLocked is transfer for a caller that holds the session.  The
// NONBLOCK option is left as the transfer needed it: the step-level calls,
// the only ones it affects, put the caller's value back first.
func (s *Session) transferLocked(x *xfer, h capi.Session, ctx context.Context) (int64, error) {
	x.s, x.h = s, h
	if ctx != nil && ctx.Err() != nil {
		return 0, &OpError{Op: x.op, Err: ctx.Err()}
	}
	x.ctx, x.maxSteps = nil, 0
	if ctx != nil {
		x.ctx = ctx
		// Steps on files never wait, so a context is also checked every
		// so many chunks.
		x.maxSteps = 16
	}
	n, err := x.drive()
	if err != nil {
		stdEPIPE(x.dsts, err)
	}
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
	in, ok, err := endpointOf(src, false)
	if err == nil && ok {
		var out endpoint
		out, ok, err = endpointOf(dst, true)
		if err == nil && ok {
			return s.copyEndpoints(ctx, dst, dstOff, out, src, srcOff, in, n)
		}
	}
	if err != nil {
		return 0, true, &OpError{Op: "copy", Err: err}
	}
	return 0, false, nil
}

func (s *Session) copyEndpoints(ctx context.Context, dst io.Writer, dstOff int64, out endpoint, src io.Reader, srcOff int64, in endpoint, n int64) (int64, bool, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, true, &OpError{Op: "copy", Err: err}
	}
	defer s.release()
	// The session's copy transfer is reused unless it is kept for Resume.
	if s.cx == nil || s.cx == s.last {
		s.cx = newCopyXfer()
	}
	x := s.cx
	x.epArr = [2]endpoint{in, out}
	x.eps = x.epArr[:]
	x.src, x.dstArr[0] = src, dst
	x.dsts = x.dstArr[:]
	x.offIn, x.offOut, x.n, x.opened = srcOff, dstOff, lenArg(n), false
	stop := interruptOnDone(ctx, x)
	written, err := s.transferLocked(x, h, ctx)
	err = stop(err)
	if s.last != x {
		x.forget()
	}
	return written, true, err
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
