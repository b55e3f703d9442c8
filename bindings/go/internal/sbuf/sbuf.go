// Package sbuf holds the library-owned vmsplice buffer type shared by the
// idiomatic package (which hands buffers to sessions) and the raw
// sub-package (which vmsplices them directly).  Users see it as
// splicer.Buf and raw.Buf.
package sbuf

import (
	"errors"
	"sync"
	"syscall"

	"splicer.dev/splicer/internal/capi"
)

// ErrHandedOver is returned for a buffer already given to a session.
var ErrHandedOver = errors.New("splicer: buffer was handed over to a session")

// Buf is page-aligned memory owned by the C library, to fill and then
// hand to vmsplice.  The zero value is not usable; see NewBuf.  Every Buf
// must be handed to a session or freed with Free.
type Buf struct {
	mu     sync.Mutex
	h      capi.Buf
	size   int
	handed bool
	freed  bool
}

// NewBuf allocates a buffer of size bytes (rounded up to whole pages by the
// library).
func NewBuf(size int) (*Buf, error) {
	if size <= 0 {
		return nil, &errorWithOp{"buf_new", syscall.EINVAL}
	}
	h, r := capi.BufNew(uint64(size))
	if r < 0 {
		return nil, &errorWithOp{"buf_new", syscall.Errno(-r)}
	}
	// No cleanup frees it behind the caller's back: the slice Bytes
	// returns points into C memory, which the garbage collector cannot
	// see, so a cleanup could free pages a live slice still uses.
	return &Buf{h: h, size: size}, nil
}

// Bytes returns the buffer's memory, writable until the buffer is handed
// to a session.  After the hand-over the memory is sealed read-only: a
// write through a slice obtained earlier faults and crashes the program,
// which is the point — it can no longer change bytes a reader has not
// consumed yet.  Bytes returns nil once the buffer was handed over or
// freed.
func (b *Buf) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handed || b.freed {
		return nil
	}
	return capi.BufData(b.h)
}

// Size is the usable size asked of NewBuf.
func (b *Buf) Size() int { return b.size }

// Free releases a buffer that was never handed over.  It is idempotent,
// and a no-op for a buffer handed to a session (the session frees it).
func (b *Buf) Free() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handed || b.freed {
		return
	}
	b.freed = true
	capi.BufFree(b.h)
}

// Handle gives the C handle to the splicer packages while the buffer is
// usable; ok is false after a hand-over or Free.
func (b *Buf) Handle() (h capi.Buf, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.h, !b.handed && !b.freed
}

// HandOver runs open with the handle; when open succeeds (returns >= 0)
// the session owns the buffer from then on.
func (b *Buf) HandOver(open func(capi.Buf) int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handed || b.freed {
		return -int(syscall.EINVAL)
	}
	r := open(b.h)
	if r >= 0 {
		b.handed = true
	}
	return r
}

type errorWithOp struct {
	op  string
	err error
}

func (e *errorWithOp) Error() string { return "splicer: " + e.op + ": " + e.err.Error() }
func (e *errorWithOp) Unwrap() error { return e.err }
