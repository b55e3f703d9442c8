package splicer

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"syscall"
	"time"

	"splicer.dev/splicer/internal/capi"
	"splicer.dev/splicer/internal/sbuf"
)

// Buf is page-aligned memory owned by the C library, to fill through
// Bytes and hand to Session.WriteBuf, which seals it read-only before
// vmsplice(2) maps its pages into a pipe.  Every Buf must be handed over
// or freed with Free.
type Buf = sbuf.Buf

// NewBuf allocates a Buf of size bytes.
func NewBuf(size int) (*Buf, error) { return sbuf.NewBuf(size) }

// bufSource stands for the source of WriteBuf: a sealed buffer is always
// ready, so its callbacks never wait.
type bufSource struct{}

func (bufSource) Control(f func(uintptr)) error         { f(^uintptr(0)); return nil }
func (bufSource) Read(f func(uintptr) bool) error       { return callUntilDone(f) }
func (bufSource) Write(f func(uintptr) bool) error      { return callUntilDone(f) }
func (bufSource) SyscallConn() (syscall.RawConn, error) { return bufSource{}, nil }

func callUntilDone(f func(uintptr) bool) error {
	for !f(^uintptr(0)) {
	}
	return nil
}

// The package-level functions take sessions from a small free list.  A
// session holds no pipe between transfers (its pipes are the pipe pool's,
// lent per batch).  A session whose transfer failed may still hold bytes
// of that stream; it is closed, never reused, and the pool closes the
// pipe that held them.
var sessions struct {
	mu   sync.Mutex
	free []*Session
}

func getSession() (*Session, error) {
	sessions.mu.Lock()
	if n := len(sessions.free); n > 0 {
		s := sessions.free[n-1]
		sessions.free = sessions.free[:n-1]
		sessions.mu.Unlock()
		return s, nil
	}
	sessions.mu.Unlock()
	// The Go runtime's handler ignores the kernel's SIGPIPE (a program
	// that called signal.Notify for it receives it, as for a write by os
	// or net), so these sessions skip even the guard's one query per call;
	// standard output and error follow os.File's rule (stdEPIPE).  Their
	// callers copy each file once and see the error of a lazy open as the
	// error of an eager one (WithLazyFiles), so the open skips an fcntl(2)
	// per regular file.
	return New(WithSIGPIPEGuard(false), WithLazyFiles(true))
}

func putSession(s *Session) {
	if s.last != nil {
		s.Close()
		return
	}
	sessions.mu.Lock()
	if len(sessions.free) < 4*runtime.GOMAXPROCS(0) {
		sessions.free = append(sessions.free, s)
		s = nil
	}
	sessions.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// hasFD reports whether v could take part in a zero-copy transfer.
func hasFD(v any) bool {
	_, ok := v.(syscall.Conn)
	return ok
}

// Copy is a drop-in for io.Copy: it copies from src to dst until EOF or
// an error and returns the bytes written.  When both sides are
// syscall.Conn (*os.File, *net.TCPConn, *net.UnixConn, ...) the bytes
// move in the kernel through a Session taken from a free list, with pipes
// borrowed from the process-wide pipe pool per batch (see SetPoolLimits);
// otherwise Copy is io.Copy.
//
// Like io.Copy it may copy a connection onto itself (an echo) and a file
// onto itself (one *os.File: EINVAL, since the copy would chase its own
// output; two of one file: disjoint ranges only).  A datagram destination
// gets one write per datagram (at most 32 KiB from a stream source); from
// a datagram source an empty datagram is not the end of input.  When dst
// is an *os.File on standard output or error and the copy fails with
// EPIPE, the program gets SIGPIPE as os.File.Write would give it: it dies
// of it, unless it called signal.Notify for SIGPIPE or ignores it.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	return CopyContext(nil, dst, src)
}

// CopyContext is Copy that stops when ctx is done (see
// Session.CopyContext for how a waiting transfer is woken).
func CopyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	if r, _ := readerOf(src); !hasFD(r) || !hasFD(dst) {
		return bufferedCopy(ctx, dst, src)
	}
	s, err := getSession()
	if err != nil {
		return 0, err
	}
	n, err := s.CopyContext(ctx, dst, src)
	putSession(s)
	return n, err
}

// CopyN is a drop-in for io.CopyN, zero-copy as Copy is.
func CopyN(dst io.Writer, src io.Reader, n int64) (int64, error) {
	if !hasFD(src) || !hasFD(dst) {
		return io.CopyN(dst, src, n)
	}
	s, err := getSession()
	if err != nil {
		return 0, err
	}
	written, err := s.CopyN(dst, src, n)
	putSession(s)
	return written, err
}

// bufferedCopy is io.Copy, checking ctx between reads when there is one.
func bufferedCopy(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	if ctx == nil || ctx.Done() == nil {
		return io.Copy(dst, src)
	}
	buf := make([]byte, 32*1024)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, &OpError{Op: "copy", Method: MethodReadWrite, Err: err}
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			written += int64(nw)
			if werr != nil {
				return written, werr
			}
			if nw != nr {
				return written, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// interruptOnDone arranges for a transfer parked on the poller to wake up
// when ctx is done, by moving the deadlines of its connections into the
// past.  The returned function undoes that and turns the resulting
// deadline error into ctx's error.
func interruptOnDone(ctx context.Context, x *xfer) func(error) error {
	if ctx == nil || ctx.Done() == nil {
		return func(err error) error { return err }
	}
	setAll := func(t time.Time) {
		if d, ok := x.src.(readDeadliner); ok {
			d.SetReadDeadline(t)
		}
		for _, dst := range x.dsts {
			if d, ok := dst.(writeDeadliner); ok {
				d.SetWriteDeadline(t)
			}
		}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		setAll(time.Unix(1, 0))
	})
	return func(err error) error {
		if stop() {
			return err // ctx was not done during the transfer
		}
		<-fired
		setAll(time.Time{})
		var oe *OpError
		if err != nil && errors.As(err, &oe) {
			oe.Err = ctx.Err()
		}
		return err
	}
}

var _ = capi.OffCur
