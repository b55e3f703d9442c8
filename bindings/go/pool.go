package splicer

import (
	"syscall"

	"splicer.dev/splicer/internal/capi"
)

// The pipe pool.
//
// A transfer that stages bytes in a kernel pipe (socket → socket, a Tee,
// WriteBuf) borrows its pipe(s) from one pool shared by the whole process
// when it takes a batch from the source, and gives them back the moment
// the batch is delivered.  So an idle session — and a Copy parked on a
// connection that has no data yet — holds no pipe, and pipe memory and
// descriptors are bounded by the pool, not by the number of connections.
// A pipe that still holds bytes never goes back: when its session is
// aborted or closed with bytes pending, the pipe is closed, so no byte of
// one stream can reach another.  When the pool has no pipe to lend (its
// cap, EMFILE, ENFILE, the kernel's per-user pipe limit), that batch goes
// through read(2)/write(2) instead: nothing is lost, and the miss is
// counted (PoolStats.Misses, Stats.PoolMisses).  When a destination is
// full while the pool has no idle pipe and half its cap or more is lent,
// the bytes left in the session's pipe are moved into a buffer and the
// pipe goes back at once, so that other sessions splice instead of missing
// (PoolStats.Spills, Stats.PoolSpills).
//
// Copy, CopyN, CopyContext and every Session use the pool unless
// WithPool(false) gives a session pipes of its own.  The settings below
// are process-wide and safe to change while transfers run.

// PoolKey names a setting of the pipe pool (enum splicer_pool_option).
type PoolKey int

// The pool's settings.
const (
	// PoolMaxPipes caps the pipes in existence, borrowed plus idle
	// (0 .. 1<<20; 0 sends every batch through read/write).  The default
	// is derived from fs.pipe-user-pages-soft so that every pipe keeps its
	// full size: 128 pipes of 256 KiB under the usual 64 MiB limit.
	PoolMaxPipes PoolKey = capi.PoolMaxPipes
	// PoolMaxIdle caps the empty pipes kept for reuse (0 .. 1<<20;
	// default 32).
	PoolMaxIdle PoolKey = capi.PoolMaxIdle
	// PoolPipeSize is the size asked of the kernel for each new pipe
	// (4096 .. 1<<30; default 256 KiB).  Changing it closes the idle
	// pipes.
	PoolPipeSize PoolKey = capi.PoolPipeSize
)

// SetPoolOption sets one setting of the pipe pool (splicer_pool_set).  An
// unknown key or a value out of range is an *OpError wrapping
// syscall.EINVAL.
func SetPoolOption(key PoolKey, value int64) error {
	if r := capi.PoolSet(int(key), value); r < 0 {
		return &OpError{Op: "pool_set", Err: errnoOf(int64(r))}
	}
	return nil
}

// PoolOption reads one setting of the pipe pool: the value in effect (for
// PoolMaxPipes, the derived default until it is set).
func PoolOption(key PoolKey) (int64, error) {
	v, r := capi.PoolGet(int(key))
	if r < 0 {
		return 0, &OpError{Op: "pool_get", Err: errnoOf(int64(r))}
	}
	return v, nil
}

// SetPoolLimits caps the pipes the pool may have in existence (borrowed
// plus idle) and the empty ones it keeps.  Lowering maxPipes below what
// is borrowed takes effect as pipes come back; lowering maxIdle closes
// the excess at once.  On an error (syscall.EINVAL: a value out of
// range) neither limit is changed.
func SetPoolLimits(maxPipes, maxIdle int) error {
	if maxPipes < 0 || maxIdle < 0 {
		return &OpError{Op: "pool_set", Err: syscall.EINVAL}
	}
	old, err := PoolOption(PoolMaxPipes)
	if err != nil {
		return err
	}
	if err := SetPoolOption(PoolMaxPipes, int64(maxPipes)); err != nil {
		return err
	}
	if err := SetPoolOption(PoolMaxIdle, int64(maxIdle)); err != nil {
		SetPoolOption(PoolMaxPipes, old)
		return err
	}
	return nil
}

// PoolLimits returns the pool's caps: most pipes in existence, most idle.
func PoolLimits() (maxPipes, maxIdle int) {
	p, _ := PoolOption(PoolMaxPipes)
	i, _ := PoolOption(PoolMaxIdle)
	return int(p), int(i)
}

// SetPoolPipeSize sets the size asked of the kernel for each new pool
// pipe.  Idle pipes are closed; borrowed pipes of the old size are closed
// when they come back.  A pipe the kernel will not give that size (the
// per-user limit is spent) is closed rather than used small, and that
// batch goes through read/write.
func SetPoolPipeSize(n int) error { return SetPoolOption(PoolPipeSize, int64(n)) }

// PoolStats are the pipe pool's statistics since the process started.
// InUse, Idle and PeakInUse are gauges; the other fields count events.
type PoolStats struct {
	Borrowed   uint64 // pipes lent to transfers
	Returned   uint64 // pipes given back empty
	Created    uint64 // pipes made by the pool
	Closed     uint64 // pipes closed by the pool (over PoolMaxIdle, trimmed, of an old size, discarded, undersized)
	Misses     uint64 // batches done by read/write because no pipe could be had
	InUse      uint64 // pipes lent now
	Idle       uint64 // empty pipes kept now
	PeakInUse  uint64 // most pipes lent at once, since the start or the last TrimPool
	Discarded  uint64 // pipes closed because they held bytes (a session aborted or closed with bytes pending)
	Undersized uint64 // new pipes closed because the kernel gave less than PoolPipeSize
	// Spills counts the pipes given back early: a session's destination was
	// full while the pool had no idle pipe (and half its cap or more lent),
	// so the bytes left in the pipe were moved into a buffer.
	Spills uint64
}

// ReadPoolStats returns the pipe pool's statistics (like
// runtime.ReadMemStats, a snapshot).
func ReadPoolStats() PoolStats {
	ps, _ := capi.PoolStatsGet()
	return PoolStats(ps)
}

// TrimPool closes every idle pipe of the pool (borrowed pipes are
// untouched), restarts PeakInUse from the pipes in use now, and returns
// how many pipes it closed.
func TrimPool() int { return capi.PoolTrim() }
