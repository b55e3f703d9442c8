package splicer

import (
	"errors"
	"syscall"
)

// OpError is the error of every failed operation of this package.  Err is
// a syscall.Errno for an error the kernel reported (so that
// errors.Is(err, syscall.EPIPE) works), or the error of the connection
// (os.ErrDeadlineExceeded, net.ErrClosed, context.Canceled, ...).
type OpError struct {
	// Op is the operation: "new", "set", "copy", "tee", "write_buf", ...
	Op string
	// Method is the transfer method in use when the error happened
	// (MethodNone before one was chosen).
	Method Method
	// Err is the underlying error.
	Err error
}

func (e *OpError) Error() string {
	s := "splicer: " + e.Op
	if e.Method != MethodNone {
		s += " (" + e.Method.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the error is a deadline that passed.
func (e *OpError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// errnoOf turns a negative C result into an Errno.
func errnoOf(r int64) error { return syscall.Errno(-r) }

// ErrClosed is returned by the methods of a closed Session.
var ErrClosed = errors.New("splicer: session closed")
