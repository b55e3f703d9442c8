package main

// The load: N clients (in the driver) connected through the proxy to N
// upstream connections (in a child process of the driver, the upstream
// side), paired by a hello that carries the client's number, and streams
// of pattern bytes checked on arrival.  The two sides are two processes
// so that each holds N sockets: both run as root, but the fd limit may not
// be raisable (no CAP_SYS_RESOURCE in a container), and a proxy at the
// read/write proxy's largest N needs about the whole limit on each side.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every stream is a window of one pseudo-random sequence of period
// patternPeriod (a prime), starting at an offset derived from the
// connection's number and direction; streamStride is coprime with the
// period, so no two streams of a run start at the same offset and a byte
// that reaches the wrong connection, or the right one in the wrong order,
// fails the check.
const (
	patternPeriod = 1048573
	streamStride  = 65537
)

type pattern struct {
	b []byte // patternPeriod bytes, then the first ones again
}

func newPattern(maxRun int) *pattern {
	r := rand.NewPCG(0x5eed, 0x5ca1e)
	b := make([]byte, patternPeriod+maxRun)
	var w [8]byte
	for i := 0; i < patternPeriod; i += 8 {
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:patternPeriod], w[:])
	}
	// the sequence again, as far as the longest run needs (which may be
	// longer than one period): b[i] = b[i-period] throughout
	for i := patternPeriod; i < len(b); i++ {
		b[i] = b[i-patternPeriod]
	}
	return &pattern{b}
}

// streamStart is the offset where one direction of one connection starts.
func streamStart(id int, dir int) int64 {
	return int64(id*2+dir) * streamStride % patternPeriod
}

// at returns the n bytes of a stream from position pos (n <= maxRun).
func (p *pattern) at(start, pos int64, n int) []byte {
	o := (start + pos) % patternPeriod
	return p.b[o : o+int64(n)]
}

const (
	dirDown = 0 // upstream -> client
	dirUp   = 1 // client -> upstream
)

var helloMagic = []byte("SPLSCL01")
var ackMagic = []byte("SPLSCLAK")

// peer is one side's socket of one proxied connection.
type peer struct {
	id int
	c  *net.TCPConn
}

// upstreamSide accepts the proxy's connections and pairs each with its
// client by the hello that arrives first on it.
type upstreamSide struct {
	ln    *net.TCPListener
	salt  uint32
	mu    sync.Mutex
	byID  map[int]*net.TCPConn
	all   []*net.TCPConn
	dupes int
}

func newUpstream(salt uint32) (*upstreamSide, error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	u := &upstreamSide{ln: ln, salt: salt, byID: map[int]*net.TCPConn{}}
	go u.acceptLoop()
	return u, nil
}

func (u *upstreamSide) acceptLoop() {
	for {
		c, err := u.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of fds: wait for some to close
			continue
		}
		u.mu.Lock()
		u.all = append(u.all, c)
		u.mu.Unlock()
		go u.greet(c)
	}
}

// greet reads the hello, records the pair and answers with the ack.
func (u *upstreamSide) greet(c *net.TCPConn) {
	var h [16]byte
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, h[:]); err != nil || !bytes.Equal(h[:8], helloMagic) ||
		binary.LittleEndian.Uint32(h[12:]) != u.salt {
		return // the client gave up, or stray bytes: the client sees no ack
	}
	c.SetReadDeadline(time.Time{})
	id := int(binary.LittleEndian.Uint32(h[8:]))
	u.mu.Lock()
	if _, dup := u.byID[id]; dup {
		u.dupes++
		u.mu.Unlock()
		return
	}
	u.byID[id] = c
	u.mu.Unlock()
	copy(h[:8], ackMagic)
	c.Write(h[:])
}

// keep returns the pairs of the ids given (the clients that got their
// ack) and closes every other connection, and the listener: a connection
// the proxy accepts after its client gave up is refused at once, not left
// open for the rest of the run.
func (u *upstreamSide) keep(ids []int) ([]peer, error) {
	u.ln.Close()
	u.mu.Lock()
	defer u.mu.Unlock()
	kept := make(map[*net.TCPConn]bool, len(ids))
	peers := make([]peer, 0, len(ids))
	for _, id := range ids {
		c := u.byID[id]
		if c == nil {
			return nil, fmt.Errorf("connection %d acknowledged but not paired", id)
		}
		kept[c] = true
		peers = append(peers, peer{id, c})
	}
	for _, c := range u.all {
		if !kept[c] {
			c.Close()
		}
	}
	return peers, nil
}

func (u *upstreamSide) close() {
	u.ln.Close()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.all {
		c.Close()
	}
}

type connectResult struct {
	Served  int            `json:"served"`
	Failed  int            `json:"failed"`
	Reasons map[string]int `json:"fail_reasons,omitempty"`
	Seconds float64        `json:"seconds"`
	Stalled bool           `json:"stalled"`
	clients []peer
}

// connect opens n clients through the proxy, at most window at a time,
// each sending its hello and waiting for the upstream's ack.  When no
// client gets an answer (or a failure) for stall, the rest fail at once:
// a proxy out of fds is left waiting, not waited for.
func connect(proxyAddr string, n, window int, salt uint32, stall time.Duration) *connectResult {
	res := &connectResult{Reasons: map[string]int{}}
	t0 := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var inFlight sync.Map
	var lastProgress atomic.Int64
	lastProgress.Store(time.Now().UnixNano())
	var stalled atomic.Bool
	fail := func(reason string) {
		if stalled.Load() {
			reason = "stalled"
		}
		mu.Lock()
		res.Failed++
		res.Reasons[reason]++
		mu.Unlock()
		lastProgress.Store(time.Now().UnixNano())
	}
	watchDone := make(chan struct{})
	go func() { // the stall watchdog
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, lastProgress.Load())) > stall {
				stalled.Store(true)
				cancel()
				inFlight.Range(func(k, _ any) bool {
					k.(*net.TCPConn).SetDeadline(time.Now())
					return true
				})
				return
			}
		}
	}()
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: 30 * time.Second}
	for id := 0; id < n; id++ {
		sem <- struct{}{}
		if stalled.Load() {
			<-sem
			fail("stalled")
			continue
		}
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := d.DialContext(ctx, "tcp", proxyAddr)
			if err != nil {
				fail("dial: " + errnoName(err))
				return
			}
			c := nc.(*net.TCPConn)
			inFlight.Store(c, true)
			defer inFlight.Delete(c)
			if stalled.Load() { // the watchdog may have missed this one
				c.Close()
				fail("stalled")
				return
			}
			var h [16]byte
			copy(h[:8], helloMagic)
			binary.LittleEndian.PutUint32(h[8:], uint32(id))
			binary.LittleEndian.PutUint32(h[12:], salt)
			if _, err := c.Write(h[:]); err != nil {
				c.Close()
				fail("hello: " + errnoName(err))
				return
			}
			var a [16]byte
			if _, err := io.ReadFull(c, a[:]); err != nil {
				c.Close()
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					fail("closed by the proxy")
				} else {
					fail("ack: " + errnoName(err))
				}
				return
			}
			copy(h[:8], ackMagic)
			if !bytes.Equal(a[:], h[:]) {
				c.Close()
				fail("wrong ack")
				return
			}
			c.SetDeadline(time.Time{})
			mu.Lock()
			res.Served++
			res.clients = append(res.clients, peer{id, c})
			mu.Unlock()
			lastProgress.Store(time.Now().UnixNano())
		}(id)
	}
	wg.Wait()
	close(watchDone)
	res.Stalled = stalled.Load()
	res.Seconds = time.Since(t0).Seconds()
	if len(res.Reasons) == 0 {
		res.Reasons = nil
	}
	return res
}

func errnoName(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en.Error()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

// load moves one side's bytes of the active phase: it sends the streams
// of its direction and checks every byte of the other direction's.
type load struct {
	pat      *pattern
	size     int
	both     bool // both directions, or upstream -> client only
	bufs     sync.Pool
	progress atomic.Int64 // bytes checked
	sent     atomic.Int64 // bytes written (progress too, for the watchdog)
	mu       sync.Mutex
	errs     []string
	errCount int
}

func newLoad(pat *pattern, size int, both bool, conns int) *load {
	dirs := 1
	if both {
		dirs = 2
	}
	// read buffers: 256 KiB each, less when there are many connections
	bufSize := int(clamp(int64(1<<30)/int64(max(conns*dirs, 1)), 16<<10, 256<<10))
	l := &load{pat: pat, size: size, both: both}
	l.bufs.New = func() any { b := make([]byte, bufSize); return &b }
	return l
}

func (l *load) fail(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errCount++
	if len(l.errs) < 5 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
}

// send writes the round's bytes of one stream (in pieces, so that the
// watchdog sees a sender progress).
func (l *load) send(c *net.TCPConn, id, dir, round int) {
	start := streamStart(id, dir)
	b := l.pat.at(start, int64(round)*int64(l.size), l.size)
	for len(b) > 0 {
		n := min(len(b), 256<<10)
		if _, err := c.Write(b[:n]); err != nil {
			l.fail("conn %d dir %d: write: %v", id, dir, err)
			return
		}
		l.sent.Add(int64(n))
		b = b[n:]
	}
}

// receive reads the round's bytes of one stream and checks each.
func (l *load) receive(c *net.TCPConn, id, dir, round int) {
	start := streamStart(id, dir)
	buf := l.bufs.Get().(*[]byte)
	defer l.bufs.Put(buf)
	pos := int64(round) * int64(l.size)
	end := pos + int64(l.size)
	for pos < end {
		want := min(int64(len(*buf)), end-pos)
		n, err := c.Read((*buf)[:want])
		if n > 0 {
			if !bytes.Equal((*buf)[:n], l.pat.at(start, pos, n)) {
				l.fail("conn %d dir %d: wrong bytes at stream offset %d", id, dir, pos)
				return
			}
			pos += int64(n)
			l.progress.Add(int64(n))
		}
		if err != nil {
			l.fail("conn %d dir %d: read at stream offset %d of %d: %v", id, dir, pos, end, err)
			return
		}
	}
}

// round runs this side's part of round r over its peers: the upstream
// side sends downstream and checks upstream bytes, the client side the
// reverse.  Progress is watched: when no byte arrives for stall, every
// peer's deadline is cut and the round ends with errors.
func (l *load) round(peers []peer, upstream bool, r int, stall time.Duration) {
	sendDir, recvDir := dirUp, dirDown
	if upstream {
		sendDir, recvDir = dirDown, dirUp
	}
	var wg sync.WaitGroup
	for _, p := range peers {
		if upstream || l.both {
			wg.Add(1)
			go func() { defer wg.Done(); l.send(p.c, p.id, sendDir, r) }()
		}
		if !upstream || l.both {
			wg.Add(1)
			go func() { defer wg.Done(); l.receive(p.c, p.id, recvDir, r) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	moved := func() int64 { return l.progress.Load() + l.sent.Load() }
	last, lastAt := moved(), time.Now()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if now := moved(); now != last {
			last, lastAt = now, time.Now()
		} else if time.Since(lastAt) > stall {
			l.fail("no byte moved for %v: round %d cut short", stall, r)
			for _, p := range peers {
				p.c.SetDeadline(time.Now())
			}
			<-done
			return
		}
	}
}

// closeClients ends the client side of every pair: shut the write side,
// read the end of stream that the upstream sends back once it has seen
// ours.  Counts the clients that saw a clean end (no stray byte, no error).
func closeClients(peers []peer, timeout time.Duration) int {
	return closeAll(peers, timeout, true)
}

// closeUpstreams is the upstream side's part: read the client's end of
// stream, then shut the write side.
func closeUpstreams(peers []peer, timeout time.Duration) int {
	return closeAll(peers, timeout, false)
}

func closeAll(peers []peer, timeout time.Duration, shutFirst bool) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(timeout)
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.c.SetDeadline(deadline)
			var b [1]byte
			if shutFirst && p.c.CloseWrite() != nil {
				return
			}
			if m, err := p.c.Read(b[:]); m != 0 || err != io.EOF {
				return
			}
			if !shutFirst && p.c.CloseWrite() != nil {
				return
			}
			n.Add(1)
		}()
	}
	wg.Wait()
	for _, p := range peers {
		p.c.Close()
	}
	return int(n.Load())
}
