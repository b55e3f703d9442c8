package splicer

import (
	"errors"
	"net"
	"os"
	"reflect"
	"syscall"

	"splicer.dev/splicer/internal/capi"
)

// Kept descriptors (splicer_session_keep): every transfer the session opens
// validates and classifies its descriptors, an fstat(2) and an fcntl(2)
// each, about as much as a copy of a few KiB costs.  A program that opens
// many transfers on the same files or connections (a proxy relaying one
// connection, a server writing many files to one socket) keeps them in
// the session, and later transfers take what was kept without a syscall.
//
// Copy and the other copy paths already skip the classification of a
// *net.TCPConn, *net.UDPConn or *net.UnixConn, whose kind they know from
// its type; keeping pays off for the other descriptors (files, pipes).

// KeepMax is the most descriptors one session keeps (SPLICER_KEEP_MAX).
const KeepMax = capi.KeepMax

// FDKind says what a kept descriptor is (enum splicer_fd_kind), for KeepAs.
type FDKind int

// The kinds.  FDNonblock is ORed with a kind other than FDUnknown.
const (
	FDUnknown   FDKind = capi.FDUnknown   // classify the descriptor now (fstat, fcntl), once
	FDStream    FDKind = capi.FDStream    // a SOCK_STREAM socket (TCP, Unix stream)
	FDDgram     FDKind = capi.FDDgram     // a SOCK_DGRAM socket (UDP, Unix datagram)
	FDSeqpacket FDKind = capi.FDSeqpacket // a SOCK_SEQPACKET socket
	FDPipe      FDKind = capi.FDPipe      // either end of a pipe or FIFO
	// FDNonblock says O_NONBLOCK is set on the descriptor, so that keeping
	// it makes no syscall at all; without it its flags are read once.
	FDNonblock FDKind = capi.FDNonblock
)

// keptFD is a descriptor the caller kept, and the object it came from: a
// closed object can still be forgotten, and an *os.File is not finalized
// (its descriptor closed) while the session keeps it.
type keptFD struct {
	fd  int
	obj any
}

// KindOf returns the kind Keep gives f: FDStream|FDNonblock for a
// *net.TCPConn, FDDgram|FDNonblock for a *net.UDPConn, the kind of a
// *net.UnixConn's network ("unix", "unixgram", "unixpacket") |
// FDNonblock (the net package makes every socket non-blocking), and
// FDUnknown for anything else, which the C library classifies.  It makes
// no syscall.  (A connection whose descriptor something made blocking,
// os.File.Fd on the file of its File method say, is not what its type
// says; the net package itself would then block a thread on it too.)
func KindOf(f any) FDKind { return FDKind(kindOf(f)) }

func kindOf(v any) int {
	switch c := v.(type) {
	case *net.TCPConn:
		return capi.FDStream | capi.FDNonblock
	case *net.UDPConn:
		return capi.FDDgram | capi.FDNonblock
	case *net.UnixConn:
		a, _ := c.LocalAddr().(*net.UnixAddr)
		if a == nil {
			return capi.FDUnknown
		}
		switch a.Net {
		case "unix":
			return capi.FDStream | capi.FDNonblock
		case "unixgram":
			return capi.FDDgram | capi.FDNonblock
		case "unixpacket":
			return capi.FDSeqpacket | capi.FDNonblock
		}
	}
	return capi.FDUnknown
}

// Keep keeps the descriptor of f (an *os.File, a *net.TCPConn,
// *net.UnixConn, FD, any syscall.Conn) classified for the session's later
// transfers, which then make no syscall to validate it.  The kind is
// KindOf(f): a net connection's is known from its type and keeping it
// makes no syscall; anything else is classified now, once.  Keeping a
// kept descriptor again replaces what was kept (after its flags changed,
// say).  A transfer already open is not affected.
//
// The caller vouches for a kept descriptor: until Forget (or ForgetAll,
// or Close of the session) it stays open on the same file — f is not
// closed, nothing is dup2(2)ed over its descriptor, and its status flags
// (O_NONBLOCK, O_APPEND) are not changed (os.File.Fd, which makes a file
// blocking, counts as a change).  A kept regular file may grow or shrink
// (though the choice of method for it to a TCP socket goes by its size
// when it was kept).
// The session holds a reference to f until it is forgotten.
//
// Keep waits for a transfer running in another goroutine to return.  The
// error is an *OpError whose Err is syscall.ENOSPC when KeepMax
// descriptors are kept already, syscall.EBADF when the descriptor is not
// open (for an *os.File or connection already closed, an error that is
// both os.ErrClosed or net.ErrClosed and EBADF), syscall.EINVAL for a
// kind KeepAs does not know.
func (s *Session) Keep(f any) error { return s.keep(f, kindOf(f)) }

// KeepAs is Keep with the kind given by the caller, which is trusted: a
// kind given wrongly makes the kernel refuse the transfer's syscalls rather
// than the open refuse the descriptor (a pipe's read end kept as FDPipe
// and used as a destination fails with EBADF at the first step, nothing
// taken from the source).  FDUnknown classifies the descriptor now; a
// kind other than FDUnknown, ORed with FDNonblock when O_NONBLOCK is set
// on it (os.Pipe's ends, net connections), makes no syscall.
func (s *Session) KeepAs(f any, kind FDKind) error { return s.keep(f, int(kind)) }

func (s *Session) keep(f any, kind int) error {
	rc, err := rawConnOf(f)
	if err != nil {
		return &OpError{Op: "keep", Err: err}
	}
	h, err := s.acquire()
	if err != nil {
		return &OpError{Op: "keep", Err: err}
	}
	defer s.release()
	fd, r := -1, 0
	// Inside Control the descriptor cannot be closed under the call.
	if err := rc.Control(func(u uintptr) {
		fd = int(u)
		r = capi.SessionKeep(h, fd, kind)
	}); err != nil {
		return &OpError{Op: "keep", Err: closedOr(fileError(err))}
	}
	if r < 0 {
		return &OpError{Op: "keep", Err: errnoOf(int64(r))}
	}
	if i := s.keptIndex(fd); i >= 0 {
		s.kept[i].obj = f
		return nil
	}
	s.kept = append(s.kept, keptFD{fd, f})
	return nil
}

// Forget stops keeping the descriptor of f: call it before closing f or
// changing its flags.  When f was closed already (against the rule of
// Keep), the descriptor it was kept from is forgotten.  The error is an
// *OpError whose Err is syscall.ENOENT when f is not kept.  Forget waits
// for a transfer running in another goroutine to return.
func (s *Session) Forget(f any) error {
	rc, err := rawConnOf(f)
	if err != nil {
		return &OpError{Op: "forget", Err: err}
	}
	h, err := s.acquire()
	if err != nil {
		return &OpError{Op: "forget", Err: err}
	}
	defer s.release()
	fd, r := -1, 0
	if cerr := rc.Control(func(u uintptr) {
		fd = int(u)
		r = capi.SessionForget(h, fd)
	}); cerr != nil {
		// Closed: find the descriptor by the object it was kept from.
		fd = -1
		for _, k := range s.kept {
			if sameObject(k.obj, f) {
				fd = k.fd
			}
		}
		switch {
		case fd >= 0:
			r = capi.SessionForget(h, fd)
		case reflect.TypeOf(f).Comparable():
			r = -int(syscall.ENOENT) // no kept descriptor came from f
		default:
			return &OpError{Op: "forget", Err: closedOr(fileError(cerr))}
		}
	}
	if r < 0 {
		return &OpError{Op: "forget", Err: errnoOf(int64(r))}
	}
	if i := s.keptIndex(fd); i >= 0 {
		last := len(s.kept) - 1
		s.kept[i] = s.kept[last]
		s.kept[last] = keptFD{}
		s.kept = s.kept[:last]
	}
	return nil
}

// ForgetAll stops keeping every descriptor the session keeps.
func (s *Session) ForgetAll() error {
	h, err := s.acquire()
	if err != nil {
		return &OpError{Op: "forget", Err: err}
	}
	defer s.release()
	if r := capi.SessionForget(h, -1); r < 0 {
		return &OpError{Op: "forget", Err: errnoOf(int64(r))}
	}
	clear(s.kept)
	s.kept = s.kept[:0]
	return nil
}

// keeps reports whether the caller kept fd (the session is held).
func (s *Session) keeps(fd int) bool { return s.keptIndex(fd) >= 0 }

// openKinds gives the kinds capi.OpenMethod is to keep fdIn and fdOut as
// for one open: what their types tell (kindIn, kindOut; 0 for unknown),
// except 0 for an fd the caller kept, which is the session's already and
// must stay kept after the open.  The session is held.
func (s *Session) openKinds(fdIn, kindIn, fdOut, kindOut int) (int, int) {
	if len(s.kept) > 0 {
		if s.keeps(fdIn) {
			kindIn = 0
		}
		if s.keeps(fdOut) {
			kindOut = 0
		}
	}
	return kindIn, kindOut
}

// keptIndex is where s.kept records fd, or -1.
func (s *Session) keptIndex(fd int) int {
	for i := range s.kept {
		if s.kept[i].fd == fd {
			return i
		}
	}
	return -1
}

func rawConnOf(f any) (syscall.RawConn, error) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return nil, syscall.EBADF
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, closedOr(fileError(err))
	}
	return rc, nil
}

// sameObject is a == b for objects that may not be comparable.
func sameObject(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// closedError is a file or connection that was closed before the call
// could reach its descriptor: it is the error of its package (os.ErrClosed,
// net.ErrClosed) and, as the C library would answer for a descriptor not
// open, syscall.EBADF.
type closedError struct{ err error }

func (e closedError) Error() string   { return e.err.Error() }
func (e closedError) Unwrap() []error { return []error{e.err, syscall.EBADF} }

// closedOr makes a closed file's or connection's error a closedError.
func closedOr(err error) error {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return closedError{err}
	}
	return err
}
