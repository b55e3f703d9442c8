package splicer

import "splicer.dev/splicer/internal/capi"

// Method is a way of moving bytes (enum splicer_method).
type Method int

// The methods, in the order of the C enum.
const (
	MethodNone          Method = capi.MethodNone
	MethodCopyFileRange Method = capi.MethodCopyFileRange // file -> file, in the kernel
	MethodSendfile      Method = capi.MethodSendfile      // file -> socket and others
	MethodSplice        Method = capi.MethodSplice        // one end is a pipe
	MethodSplicePipe    Method = capi.MethodSplicePipe    // through the session's pipe
	MethodTee           Method = capi.MethodTee           // fan-out through tee(2)
	MethodVmsplice      Method = capi.MethodVmsplice      // a sealed Buf
	MethodReadWrite     Method = capi.MethodReadWrite     // the fallback: read(2)/write(2)
	methodCount                = capi.MethodCount
)

// String is the method's name: "copy_file_range", "splice", ...
func (m Method) String() string { return capi.MethodName(int(m)) }

// MethodFor reports the method a transfer between two file descriptors
// would try first (splicer_method_for).
func MethodFor(fdIn, fdOut int) (Method, error) {
	r := capi.MethodFor(fdIn, fdOut)
	if r < 0 {
		return MethodNone, &OpError{Op: "method_for", Err: errnoOf(int64(r))}
	}
	return Method(r), nil
}

// Progress describes the open (or last) transfer of a session.  Consumed
// == Delivered + Pending at every moment.
type Progress struct {
	Consumed  uint64 // taken from the source
	Delivered uint64 // written to the destination (the least of them, for a tee)
	Pending   uint64 // consumed but not yet delivered: held by the session
	Method    Method // method in use
	Finished  bool   // the length was reached or the source hit EOF, and nothing is pending
}

// Stats are the cumulative statistics of a session over all its transfers.
type Stats struct {
	Bytes     uint64 // delivered (to every destination, for a tee)
	Syscalls  uint64 // data-moving syscalls made
	Fallbacks uint64 // times a method was abandoned for the next one
	EAGAIN    uint64 // times a syscall returned EAGAIN
	// ByMethod holds the bytes delivered by each method, indexed by Method.
	ByMethod [methodCount]uint64
	// PoolMisses counts the batches that went through read/write because
	// the pipe pool had no pipe to lend (see WithPool).
	PoolMisses uint64
	// PoolSpills counts the batches whose last bytes were moved from a pool
	// pipe into a buffer, so that the pipe could go back to the pool while
	// the destination was full and the pool short of pipes.
	PoolSpills uint64
}

// Version is the version of the C library linked into the program.
func Version() string { return capi.VersionStringLinked() }
