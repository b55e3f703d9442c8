package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of one loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *net.TCPConn)
	go func() {
		c, _ := ln.AcceptTCP()
		done <- c
	}()
	a, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	b := <-done
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestPatternIsPeriodicPastOnePeriod(t *testing.T) {
	const run = 3 << 20 // longer than the period
	p := newPattern(run)
	for i := patternPeriod; i < len(p.b); i++ {
		if p.b[i] != p.b[i-patternPeriod] {
			t.Fatalf("byte %d differs from byte %d", i, i-patternPeriod)
		}
	}
	// a window that ends past the copy of the first period
	w := p.at(patternPeriod-1, 0, run)
	for k := range w {
		if w[k] != p.b[(patternPeriod-1+k)%patternPeriod] {
			t.Fatalf("window byte %d is not the sequence's", k)
		}
	}
}

func TestStreamsStartApart(t *testing.T) {
	seen := map[int64]int{}
	for id := 0; id < 20000; id++ {
		for dir := 0; dir < 2; dir++ {
			s := streamStart(id, dir)
			if other, dup := seen[s]; dup {
				t.Fatalf("streams %d and %d start at the same offset", other, id*2+dir)
			}
			seen[s] = id*2 + dir
		}
	}
}

// receive checks what arrives against the stream it expects.
func checkArrival(t *testing.T, send func(c *net.TCPConn, l *load)) *load {
	t.Helper()
	a, b := tcpPair(t)
	l := newLoad(newPattern(1<<20), 1<<20, false, 1)
	go func() { send(a, l) }()
	b.SetDeadline(time.Now().Add(10 * time.Second))
	l.receive(b, 7, dirDown, 2)
	return l
}

func TestReceiveAcceptsTheRightStream(t *testing.T) {
	l := checkArrival(t, func(c *net.TCPConn, l *load) { l.send(c, 7, dirDown, 2) })
	if l.errCount != 0 || l.progress.Load() != 1<<20 {
		t.Fatalf("errors %d, %d bytes checked: %v", l.errCount, l.progress.Load(), l.errs)
	}
}

func TestReceiveRejectsAFlippedByte(t *testing.T) {
	l := checkArrival(t, func(c *net.TCPConn, l *load) {
		b := append([]byte(nil), l.pat.at(streamStart(7, dirDown), 2<<20, 1<<20)...)
		b[123456] ^= 1
		c.Write(b)
	})
	if l.errCount != 1 || !strings.Contains(l.errs[0], "wrong bytes") {
		t.Fatalf("a flipped byte went unnoticed: %d errors %v", l.errCount, l.errs)
	}
}

func TestReceiveRejectsAnotherConnectionsStream(t *testing.T) {
	for _, wrong := range []struct{ id, dir, round int }{{8, dirDown, 2}, {7, dirUp, 2}, {7, dirDown, 1}} {
		l := checkArrival(t, func(c *net.TCPConn, l *load) { l.send(c, wrong.id, wrong.dir, wrong.round) })
		if l.errCount != 1 {
			t.Fatalf("stream %+v accepted for connection 7 round 2", wrong)
		}
	}
}

func TestReceiveRejectsAShortStream(t *testing.T) {
	l := checkArrival(t, func(c *net.TCPConn, l *load) {
		c.Write(l.pat.at(streamStart(7, dirDown), 2<<20, 1000))
		c.CloseWrite()
	})
	if l.errCount != 1 || !strings.Contains(l.errs[0], "EOF") {
		t.Fatalf("a short stream went unnoticed: %v", l.errs)
	}
}

func TestParseStatsLines(t *testing.T) {
	var st proxyStats
	if parseStatsLine(&st, "goproxy: served 5, failed 1, errors 2, open 3, accept retries 0") {
		t.Fatal("the counts line is not the last line")
	}
	if !parseStatsLine(&st, "pool borrowed=10 misses=4 peak_in_use=2 sessions_pooled=1") {
		t.Fatal("the pool line ends the statistics")
	}
	if st.Served != 5 || st.Failed != 1 || st.Errors != 2 || st.Open != 3 ||
		st.Pool["borrowed"] != 10 || st.Pool["misses"] != 4 || st.Pool["sessions_pooled"] != 1 {
		t.Fatalf("parsed %+v", st)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1M": 1 << 20, "2G": 2 << 30, "100K": 100 << 10, "4096": 4096} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "0", "1T"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
