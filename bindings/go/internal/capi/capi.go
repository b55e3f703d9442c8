// Package capi mirrors the C API of splicer (core/include/splicer.h) one
// function per function.  It keeps the C conventions: results are the C
// results (a count, or a negative errno value), pointers are handles.  The
// idiomatic package and the raw sub-package are built on it; users never
// import it.
package capi

/*
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include "splicer.h"

// One cgo call that steps the open transfer until it finished, failed,
// would block, or made max_steps steps (0: no limit), and reports how many
// bytes those steps delivered.  splicer_run() loses that count when it
// returns -EAGAIN, and a cgo call per step would cost more than the count.
//
// After -EAGAIN it also fetches splicer_wait()'s answer and checks it with
// a zero-timeout poll(2).  When a step touches both ends (a direct splice
// from a socket to a pipe, say), the core names the end that is not ready
// by polling the source after the step; if data reached the source in
// between, it names the destination although the destination is ready.  A
// level-triggered poller just returns at once; the Go runtime's poller is
// edge-triggered and would wait for an edge that never comes.  So a named
// fd that is ready means "step again", a few times here, and then
// stale = 1 tells the caller to yield and come back rather than wait.
typedef struct {
	int64_t r;
	uint64_t delivered;
	int wait_fd;
	short wait_events;
	int stale;
} capi_run_result;

static capi_run_result capi_run(splicer_session *s, uint64_t max_steps) {
	capi_run_result out = {0, 0, -1, 0, 0};
	int stale = 0;
	for (uint64_t i = 0; max_steps == 0 || i < max_steps; i++) {
		int64_t r = splicer_step(s);
		if (r > 0) {
			out.delivered += (uint64_t)r;
			continue;
		}
		out.r = r;
		if (r != -EAGAIN || splicer_wait(s, &out.wait_fd, &out.wait_events) < 0)
			return out;
		struct pollfd p = {.fd = out.wait_fd, .events = out.wait_events};
		int n;
		do
			n = poll(&p, 1, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0 || !(p.revents & out.wait_events))
			return out; // really not ready: the caller waits for it
		if (++stale > 8) {
			out.stale = 1;
			return out;
		}
	}
	out.r = 1; // stopped by max_steps, not finished
	return out;
}

// splicer_open() and, when it succeeded, the method it chose: one cgo call
// instead of two on every Copy.
//
// kind_in and kind_out are what the caller knows of each fd from its type
// (enum splicer_fd_kind | SPLICER_FD_NONBLOCK), or 0.  An fd with a kind is
// kept for this open only, so that the open makes no syscall for it, and
// forgotten right after: the open transfer holds its own copy of the
// endpoint.  The caller passes 0 for an fd it kept itself, since it must
// stay kept.  A keep that fails (ENOSPC: the session keeps 8 fds already)
// only means the open classifies that fd as usual.
typedef struct { int r; int method; } capi_open_result;

static capi_open_result capi_open_method(splicer_session *s, int fd_in,
                                         int64_t off_in, int fd_out,
                                         int64_t off_out, uint64_t len,
                                         int kind_in, int kind_out) {
	capi_open_result out = {0, SPLICER_METHOD_NONE};
	int kept_in = kind_in != 0 && splicer_session_keep(s, fd_in, kind_in) == 0;
	int kept_out = kind_out != 0 && !(kept_in && fd_out == fd_in) &&
	               splicer_session_keep(s, fd_out, kind_out) == 0;
	out.r = splicer_open(s, fd_in, off_in, fd_out, off_out, len);
	if (kept_in)
		splicer_session_forget(s, fd_in);
	if (kept_out)
		splicer_session_forget(s, fd_out);
	if (out.r == 0) {
		splicer_progress p;
		if (splicer_progress_get(s, &p, sizeof p) == 0)
			out.method = p.method;
	}
	return out;
}

// splicer_wait() with its results returned by value: Go variables passed
// by address to C escape to the heap, and a transfer that parks calls this
// every time.
typedef struct { int r; int fd; short events; } capi_wait_result;

static capi_wait_result capi_wait(splicer_session *s) {
	capi_wait_result out = {0, -1, 0};
	out.r = splicer_wait(s, &out.fd, &out.events);
	return out;
}

static int capi_open_tee(splicer_session *s, int fd_in, int64_t off_in,
                         int fd0, int fd1, int fd2, int fd3, const int *more,
                         size_t n_out, uint64_t len) {
	// Up to four destinations travel by value, so the common fan-outs pass
	// no Go memory to C.
	int fds[SPLICER_TEE_MAX];
	int head[4] = {fd0, fd1, fd2, fd3};
	if (n_out > SPLICER_TEE_MAX)
		return splicer_open_tee(s, fd_in, off_in, more, n_out, len);
	for (size_t i = 0; i < n_out; i++)
		fds[i] = i < 4 ? head[i] : more[i - 4];
	return splicer_open_tee(s, fd_in, off_in, fds, n_out, len);
}

*/
import "C"

import "unsafe"

// Version and limits of the header this package was compiled against.
const (
	VersionMajor  = C.SPLICER_VERSION_MAJOR
	VersionMinor  = C.SPLICER_VERSION_MINOR
	VersionPatch  = C.SPLICER_VERSION_PATCH
	VersionNumber = VersionMajor*10000 + VersionMinor*100 + VersionPatch
	VersionString = C.SPLICER_VERSION_STRING
	OffCur        = C.SPLICER_OFF_CUR
	ToEOF         = uint64(C.SPLICER_TO_EOF)
	TeeMax        = C.SPLICER_TEE_MAX
	POLLIN        = C.POLLIN
	POLLOUT       = C.POLLOUT
)

// enum splicer_option
const (
	OptPipeSize  = C.SPLICER_OPT_PIPE_SIZE
	OptChunk     = C.SPLICER_OPT_CHUNK
	OptNonblock  = C.SPLICER_OPT_NONBLOCK
	OptFallback  = C.SPLICER_OPT_FALLBACK
	OptMethods   = C.SPLICER_OPT_METHODS
	OptSigpipe   = C.SPLICER_OPT_SIGPIPE
	OptPool      = C.SPLICER_OPT_POOL
	OptLazyFiles = C.SPLICER_OPT_LAZY_FILES
)

// SPLICER_KEEP_MAX, enum splicer_fd_kind and SPLICER_FD_NONBLOCK.
const (
	KeepMax     = C.SPLICER_KEEP_MAX
	FDUnknown   = C.SPLICER_FD_UNKNOWN
	FDStream    = C.SPLICER_FD_STREAM
	FDDgram     = C.SPLICER_FD_DGRAM
	FDSeqpacket = C.SPLICER_FD_SEQPACKET
	FDPipe      = C.SPLICER_FD_PIPE
	FDNonblock  = C.SPLICER_FD_NONBLOCK
)

// enum splicer_pool_option
const (
	PoolMaxPipes = C.SPLICER_POOL_MAX_PIPES
	PoolMaxIdle  = C.SPLICER_POOL_MAX_IDLE
	PoolPipeSize = C.SPLICER_POOL_PIPE_SIZE
)

// enum splicer_method
const (
	MethodNone          = C.SPLICER_METHOD_NONE
	MethodCopyFileRange = C.SPLICER_METHOD_COPY_FILE_RANGE
	MethodSendfile      = C.SPLICER_METHOD_SENDFILE
	MethodSplice        = C.SPLICER_METHOD_SPLICE
	MethodSplicePipe    = C.SPLICER_METHOD_SPLICE_PIPE
	MethodTee           = C.SPLICER_METHOD_TEE
	MethodVmsplice      = C.SPLICER_METHOD_VMSPLICE
	MethodReadWrite     = C.SPLICER_METHOD_READ_WRITE
	MethodCount         = C.SPLICER_METHOD_COUNT
)

// SPLICER_F_* flags of the raw wrappers.
const (
	FMove     = C.SPLICER_F_MOVE
	FNonblock = C.SPLICER_F_NONBLOCK
	FMore     = C.SPLICER_F_MORE
	FGift     = C.SPLICER_F_GIFT
)

// Session is a splicer_session pointer.  The zero value is NULL.
type Session struct{ p *C.splicer_session }

// Nil reports whether the handle is NULL.
func (s Session) Nil() bool { return s.p == nil }

// Buf is a splicer_buf pointer.  The zero value is NULL.
type Buf struct{ p *C.splicer_buf }

// Nil reports whether the handle is NULL.
func (b Buf) Nil() bool { return b.p == nil }

// Progress mirrors splicer_progress.
type Progress struct {
	Consumed, Delivered, Pending uint64
	Method, Finished             int32
}

// Stats mirrors splicer_stats (without its reserved slots).
type Stats struct {
	Bytes, Syscalls, Fallbacks, Eagain uint64
	BytesByMethod                      [MethodCount]uint64
	PoolMisses, PoolSpills             uint64
}

// PoolStats mirrors splicer_pool_stats (without its reserved slots).
type PoolStats struct {
	Borrowed, Returned, Created, Closed, Misses uint64
	InUse, Idle, PeakInUse                      uint64
	Discarded, Undersized, Spills               uint64
}

// VersionNumberLinked is splicer_version_number().
func VersionNumberLinked() uint { return uint(C.splicer_version_number()) }

// VersionStringLinked is splicer_version_string().
func VersionStringLinked() string { return C.GoString(C.splicer_version_string()) }

// Strerror is splicer_strerror().
func Strerror(err int) string { return C.GoString(C.splicer_strerror(C.int(err))) }

// Errname is splicer_errname().
func Errname(err int) string { return C.GoString(C.splicer_errname(C.int(err))) }

// SessionNew is splicer_session_new().
func SessionNew() (Session, int) {
	var p *C.splicer_session
	r := C.splicer_session_new(&p)
	return Session{p}, int(r)
}

// SessionFree is splicer_session_free().
func SessionFree(s Session) { C.splicer_session_free(s.p) }

// SessionSet is splicer_session_set().
func SessionSet(s Session, option int, value int64) int {
	return int(C.splicer_session_set(s.p, C.int(option), C.int64_t(value)))
}

// SessionGet is splicer_session_get().
func SessionGet(s Session, option int) (int64, int) {
	var v C.int64_t
	r := C.splicer_session_get(s.p, C.int(option), &v)
	return int64(v), int(r)
}

// SessionKeep is splicer_session_keep().
func SessionKeep(s Session, fd, kind int) int {
	return int(C.splicer_session_keep(s.p, C.int(fd), C.int(kind)))
}

// SessionForget is splicer_session_forget(); fd -1 forgets every kept fd.
func SessionForget(s Session, fd int) int {
	return int(C.splicer_session_forget(s.p, C.int(fd)))
}

// OpenMethod is splicer_open() followed, on success, by the method of
// splicer_progress_get().  kindIn and kindOut, when not 0, are the kinds
// (FDStream|FDNonblock, ...) the caller knows the fds to be: each such fd
// is kept for the open and forgotten after it, all in one cgo call, so
// that the open makes no syscall for it.  Pass 0 for an fd the session
// keeps for the caller: it would be forgotten.
func OpenMethod(s Session, fdIn int, offIn int64, fdOut int, offOut int64, n uint64, kindIn, kindOut int) (r, method int) {
	out := C.capi_open_method(s.p, C.int(fdIn), C.int64_t(offIn), C.int(fdOut), C.int64_t(offOut), C.uint64_t(n),
		C.int(kindIn), C.int(kindOut))
	return int(out.r), int(out.method)
}

// OpenTee is splicer_open_tee().
func OpenTee(s Session, fdIn int, offIn int64, fdsOut []int, n uint64) int {
	var head [4]C.int
	for i := 0; i < len(fdsOut) && i < 4; i++ {
		head[i] = C.int(fdsOut[i])
	}
	var more *C.int
	if len(fdsOut) > 4 {
		// C memory: the list outlives nothing, but Go memory holding fds
		// would need pinning for no gain.
		m := (*C.int)(C.malloc(C.size_t(len(fdsOut)) * C.size_t(unsafe.Sizeof(C.int(0)))))
		defer C.free(unsafe.Pointer(m))
		ms := unsafe.Slice(m, len(fdsOut))
		for i, fd := range fdsOut {
			ms[i] = C.int(fd)
		}
		if len(fdsOut) > TeeMax {
			more = m // splicer_open_tee sees the whole list and refuses it
		} else {
			more = &ms[4]
		}
	}
	return int(C.capi_open_tee(s.p, C.int(fdIn), C.int64_t(offIn), head[0], head[1], head[2], head[3],
		more, C.size_t(len(fdsOut)), C.uint64_t(n)))
}

// Step is splicer_step().
func Step(s Session) int64 { return int64(C.splicer_step(s.p)) }

// Run is splicer_run().
func Run(s Session) int64 { return int64(C.splicer_run(s.p)) }

// RunResult is the outcome of RunSteps.
type RunResult struct {
	R         int64  // 0 finished, > 0 stopped by maxSteps, < 0 failed or EAGAIN
	Delivered uint64 // bytes the steps delivered, in every case
	// After EAGAIN: the fd and events splicer_wait() named (WaitFD < 0 when
	// it had no answer), and Stale when that fd kept being ready, so the
	// caller should yield and step again rather than wait for it.
	WaitFD     int
	WaitEvents int16
	Stale      bool
}

// RunSteps steps until the transfer finished, failed or would block, or
// maxSteps steps were made (0 means no limit); see capi_run.
func RunSteps(s Session, maxSteps uint64) RunResult {
	out := C.capi_run(s.p, C.uint64_t(maxSteps))
	return RunResult{
		R:          int64(out.r),
		Delivered:  uint64(out.delivered),
		WaitFD:     int(out.wait_fd),
		WaitEvents: int16(out.wait_events),
		Stale:      out.stale != 0,
	}
}

// Wait is splicer_wait().
func Wait(s Session) (fd int, events int16, r int) {
	out := C.capi_wait(s.p)
	return int(out.fd), int16(out.events), int(out.r)
}

// Abort is splicer_abort().
func Abort(s Session) int64 { return int64(C.splicer_abort(s.p)) }

// Copy is splicer_copy().
func Copy(s Session, fdIn, fdOut int, n uint64) int64 {
	return int64(C.splicer_copy(s.p, C.int(fdIn), C.int(fdOut), C.uint64_t(n)))
}

// ProgressGet is splicer_progress_get().
func ProgressGet(s Session) (Progress, int) {
	var p C.splicer_progress
	r := C.splicer_progress_get(s.p, &p, C.size_t(unsafe.Sizeof(p)))
	return Progress{
		Consumed:  uint64(p.consumed),
		Delivered: uint64(p.delivered),
		Pending:   uint64(p.pending),
		Method:    int32(p.method),
		Finished:  int32(p.finished),
	}, int(r)
}

// StatsGet is splicer_stats_get().
func StatsGet(s Session) (Stats, int) {
	var cs C.splicer_stats
	r := C.splicer_stats_get(s.p, &cs, C.size_t(unsafe.Sizeof(cs)))
	st := Stats{
		Bytes:      uint64(cs.bytes),
		Syscalls:   uint64(cs.syscalls),
		Fallbacks:  uint64(cs.fallbacks),
		Eagain:     uint64(cs.eagain),
		PoolMisses: uint64(cs.pool_misses),
		PoolSpills: uint64(cs.pool_spills),
	}
	for i := range st.BytesByMethod {
		st.BytesByMethod[i] = uint64(cs.bytes_by_method[i])
	}
	return st, int(r)
}

// PoolSet is splicer_pool_set().
func PoolSet(option int, value int64) int {
	return int(C.splicer_pool_set(C.int(option), C.int64_t(value)))
}

// PoolGet is splicer_pool_get().
func PoolGet(option int) (int64, int) {
	var v C.int64_t
	r := C.splicer_pool_get(C.int(option), &v)
	return int64(v), int(r)
}

// PoolStatsGet is splicer_pool_stats_get().
func PoolStatsGet() (PoolStats, int) {
	var ps C.splicer_pool_stats
	r := C.splicer_pool_stats_get(&ps, C.size_t(unsafe.Sizeof(ps)))
	return PoolStats{
		Borrowed:   uint64(ps.borrowed),
		Returned:   uint64(ps.returned),
		Created:    uint64(ps.created),
		Closed:     uint64(ps.closed),
		Misses:     uint64(ps.misses),
		InUse:      uint64(ps.in_use),
		Idle:       uint64(ps.idle),
		PeakInUse:  uint64(ps.peak_in_use),
		Discarded:  uint64(ps.discarded),
		Undersized: uint64(ps.undersized),
		Spills:     uint64(ps.spills),
	}, int(r)
}

// PoolTrim is splicer_pool_trim().
func PoolTrim() int { return int(C.splicer_pool_trim()) }

// MethodName is splicer_method_name().
func MethodName(method int) string { return C.GoString(C.splicer_method_name(C.int(method))) }

// MethodFor is splicer_method_for().
func MethodFor(fdIn, fdOut int) int { return int(C.splicer_method_for(C.int(fdIn), C.int(fdOut))) }

// BufNew is splicer_buf_new().
func BufNew(size uint64) (Buf, int) {
	var p *C.splicer_buf
	r := C.splicer_buf_new(&p, C.size_t(size))
	return Buf{p}, int(r)
}

// BufData is splicer_buf_data(): the buffer's memory as a slice of
// BufSize bytes.  The memory belongs to the C library.
func BufData(b Buf) []byte {
	p := C.splicer_buf_data(b.p)
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(C.splicer_buf_size(b.p)))
}

// BufSize is splicer_buf_size().
func BufSize(b Buf) uint64 { return uint64(C.splicer_buf_size(b.p)) }

// BufFree is splicer_buf_free().
func BufFree(b Buf) { C.splicer_buf_free(b.p) }

// OpenBuf is splicer_open_buf().
func OpenBuf(s Session, b Buf, n uint64, fdOut int) int {
	return int(C.splicer_open_buf(s.p, b.p, C.size_t(n), C.int(fdOut)))
}

// Splice is splicer_splice().
func Splice(fdIn int, offIn int64, fdOut int, offOut int64, n uint64, flags uint) int64 {
	return int64(C.splicer_splice(C.int(fdIn), C.int64_t(offIn), C.int(fdOut), C.int64_t(offOut), C.uint64_t(n), C.unsigned(flags)))
}

// Tee is splicer_tee().
func Tee(fdIn, fdOut int, n uint64, flags uint) int64 {
	return int64(C.splicer_tee(C.int(fdIn), C.int(fdOut), C.uint64_t(n), C.unsigned(flags)))
}

// VmspliceBufs is splicer_vmsplice() of several library-buffer regions:
// region i is bytes [offs[i], offs[i]+lens[i]) of bufs[i].
func VmspliceBufs(pipeFd int, bufs []Buf, offs, lens []uint64, flags uint) int64 {
	if len(bufs) == 0 {
		return int64(C.splicer_vmsplice(C.int(pipeFd), nil, 0, C.unsigned(flags)))
	}
	iov := (*C.struct_iovec)(C.malloc(C.size_t(len(bufs)) * C.size_t(unsafe.Sizeof(C.struct_iovec{}))))
	defer C.free(unsafe.Pointer(iov))
	v := unsafe.Slice(iov, len(bufs))
	for i, b := range bufs {
		v[i].iov_base = unsafe.Add(C.splicer_buf_data(b.p), offs[i])
		v[i].iov_len = C.size_t(lens[i])
	}
	return int64(C.splicer_vmsplice(C.int(pipeFd), iov, C.size_t(len(bufs)), C.unsigned(flags)))
}

// Sendfile is splicer_sendfile().
func Sendfile(fdOut, fdIn int, offIn int64, n uint64) int64 {
	return int64(C.splicer_sendfile(C.int(fdOut), C.int(fdIn), C.int64_t(offIn), C.uint64_t(n)))
}

// CopyFileRange is splicer_copy_file_range().
func CopyFileRange(fdIn int, offIn int64, fdOut int, offOut int64, n uint64) int64 {
	return int64(C.splicer_copy_file_range(C.int(fdIn), C.int64_t(offIn), C.int(fdOut), C.int64_t(offOut), C.uint64_t(n)))
}

// PipeSize is splicer_pipe_size().
func PipeSize(pipeFd int) int { return int(C.splicer_pipe_size(C.int(pipeFd))) }

// SetPipeSize is splicer_set_pipe_size().
func SetPipeSize(pipeFd, size int) int {
	return int(C.splicer_set_pipe_size(C.int(pipeFd), C.int(size)))
}
