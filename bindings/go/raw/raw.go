// Package raw exposes splicer's thin syscall wrappers: one function per
// syscall, EINTR retried, offsets by value (OffCur: the fd's own
// position).  They block or not as the fds and flags say and know nothing
// of the Go runtime's poller; use the splicer package for transfers
// between connections.  Errors are *os.SyscallError wrapping a
// syscall.Errno.
package raw

import (
	"os"
	"syscall"

	"splicer.dev/splicer/internal/capi"
	"splicer.dev/splicer/internal/sbuf"
)

// OffCur as an offset means "no offset: use and advance the fd's
// position".
const OffCur int64 = capi.OffCur

// Flags for Splice, Tee and Vmsplice.
const (
	FMove     uint = capi.FMove     // SPLICE_F_MOVE
	FNonblock uint = capi.FNonblock // SPLICE_F_NONBLOCK: the pipe side only
	FMore     uint = capi.FMore     // SPLICE_F_MORE: more data follows
	FGift     uint = capi.FGift     // SPLICE_F_GIFT (vmsplice)
)

// Buf is library-owned memory for Vmsplice (the same type as splicer.Buf).
type Buf = sbuf.Buf

// NewBuf allocates a Buf of size bytes.
func NewBuf(size int) (*Buf, error) { return sbuf.NewBuf(size) }

func result(name string, r int64) (int64, error) {
	if r < 0 {
		return 0, os.NewSyscallError(name, syscall.Errno(-r))
	}
	return r, nil
}

// Splice moves up to n bytes between a pipe and another fd (splice(2)).
// It returns the bytes moved, 0 at end of input.
func Splice(fdIn int, offIn int64, fdOut int, offOut int64, n int64, flags uint) (int64, error) {
	if n < 0 {
		return 0, os.NewSyscallError("splice", syscall.EINVAL)
	}
	return result("splice", capi.Splice(fdIn, offIn, fdOut, offOut, uint64(n), flags))
}

// Tee duplicates up to n bytes from pipe fdIn into pipe fdOut without
// consuming them (tee(2)).
func Tee(fdIn, fdOut int, n int64, flags uint) (int64, error) {
	if n < 0 {
		return 0, os.NewSyscallError("tee", syscall.EINVAL)
	}
	return result("tee", capi.Tee(fdIn, fdOut, uint64(n), flags))
}

// Region is bytes [Off, Off+Len) of a Buf.
type Region struct {
	Buf      *Buf
	Off, Len int
}

// Vmsplice maps the regions, in order, into pipe pipeFd (vmsplice(2)).
// Only library-owned memory is accepted: the pipe refers to the pages, it
// does not copy them, and Go memory could be reused by the garbage
// collector while the pipe still refers to it.  CAVEAT: changing the bytes
// before the reader consumed them changes what the reader gets; the
// session API (splicer.Session.WriteBuf) seals the buffer to prevent that.
func Vmsplice(pipeFd int, flags uint, iov ...Region) (int64, error) {
	bufs := make([]capi.Buf, len(iov))
	offs := make([]uint64, len(iov))
	lens := make([]uint64, len(iov))
	for i, r := range iov {
		if r.Buf == nil || r.Off < 0 || r.Len < 0 || r.Off+r.Len > r.Buf.Size() {
			return 0, os.NewSyscallError("vmsplice", syscall.EINVAL)
		}
		h, ok := r.Buf.Handle()
		if !ok {
			return 0, os.NewSyscallError("vmsplice", syscall.EINVAL)
		}
		bufs[i], offs[i], lens[i] = h, uint64(r.Off), uint64(r.Len)
	}
	return result("vmsplice", capi.VmspliceBufs(pipeFd, bufs, offs, lens, flags))
}

// Sendfile sends up to n bytes of fdIn, from offIn (leaving its position
// alone) or from its position (OffCur), to fdOut (sendfile(2)).
func Sendfile(fdOut, fdIn int, offIn int64, n int64) (int64, error) {
	if n < 0 {
		return 0, os.NewSyscallError("sendfile", syscall.EINVAL)
	}
	return result("sendfile", capi.Sendfile(fdOut, fdIn, offIn, uint64(n)))
}

// CopyFileRange copies up to n bytes between regular files
// (copy_file_range(2)); 0 at end of input.
func CopyFileRange(fdIn int, offIn int64, fdOut int, offOut int64, n int64) (int64, error) {
	if n < 0 {
		return 0, os.NewSyscallError("copy_file_range", syscall.EINVAL)
	}
	return result("copy_file_range", capi.CopyFileRange(fdIn, offIn, fdOut, offOut, uint64(n)))
}

// PipeSize returns a pipe's capacity in bytes (F_GETPIPE_SZ).
func PipeSize(pipeFd int) (int, error) {
	r, err := result("fcntl", int64(capi.PipeSize(pipeFd)))
	return int(r), err
}

// SetPipeSize asks for a pipe capacity of size bytes (F_SETPIPE_SZ) and
// returns what the kernel gave.
func SetPipeSize(pipeFd, size int) (int, error) {
	r, err := result("fcntl", int64(capi.SetPipeSize(pipeFd, size)))
	return int(r), err
}

// ErrName is the symbolic name of an errno value ("EAGAIN"), as the C
// library spells it.
func ErrName(err syscall.Errno) string { return capi.Errname(-int(err)) }
