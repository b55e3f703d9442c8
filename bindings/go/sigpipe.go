package splicer

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// os.File's rule for standard output and error: a write to fd 1 or 2 that
// fails with EPIPE raises SIGPIPE, so that `prog | head` ends the program
// as it would end a C program (os/signal's "SIGPIPE" section).  The
// runtime ignores the kernel's own SIGPIPE for every other descriptor, and
// the zero-copy syscalls of a transfer never pass through os.File.Write,
// where os applies the rule.  So after a transfer to an *os.File on fd 1
// or 2 failed with EPIPE, stdEPIPE lets that file's own write path observe
// the broken pipe: the program then dies of SIGPIPE, or — when it called
// signal.Notify for SIGPIPE, or ignores it — gets the signal on its
// channel, or nothing, and the error is returned, exactly as for
// io.Copy(os.Stdout, f).
//
// The probe never writes a byte anywhere a byte could arrive: a
// zero-length write (a stream socket that can no longer send fails it
// with EPIPE), and for an anonymous pipe, whose reader cannot come back,
// one byte only once poll(2) says no reader is left (POLLERR), so the
// write fails with EPIPE without moving anything.  A named FIFO, where a
// new reader could open it in between, gets the zero-length probe only.
func stdEPIPE(dsts []any, err error) {
	if !errors.Is(err, syscall.EPIPE) {
		return
	}
	for _, d := range dsts {
		f, ok := d.(*os.File)
		if !ok {
			continue
		}
		rc, rerr := f.SyscallConn()
		if rerr != nil {
			continue
		}
		fd := -1
		if rc.Control(func(u uintptr) { fd = int(u) }) != nil || (fd != 1 && fd != 2) {
			continue
		}
		probeEPIPE(f, fd)
	}
}

func probeEPIPE(f *os.File, fd int) {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFSOCK:
		// A zero-length write would send an empty datagram on a datagram
		// socket; only a stream socket is probed.
		if t, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err != nil || t != syscall.SOCK_STREAM {
			return
		}
		f.Write(nil)
	case syscall.S_IFIFO:
		// pipe_write accepts a zero-length write even with no reader.
		if !anonymousPipe(fd) || !pollErr(fd) {
			return
		}
		f.Write([]byte{0})
	}
}

// anonymousPipe reports whether fd is a pipe(2) rather than a named FIFO.
func anonymousPipe(fd int) bool {
	var buf [64]byte
	n, err := syscall.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf[:])
	return err == nil && strings.HasPrefix(string(buf[:n]), "pipe:[")
}

// pollErr reports whether poll(2) finds POLLERR on fd's write side now: for
// a pipe, that no reader is left.
func pollErr(fd int) bool {
	pfd := struct {
		fd              int32
		events, revents int16
	}{int32(fd), 0x4 /* POLLOUT */, 0}
	n, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 0)
	return e == 0 && n == 1 && pfd.revents&0x8 /* POLLERR */ != 0
}
