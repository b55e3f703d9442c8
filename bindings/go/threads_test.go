package splicer_test

import (
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"splicer.dev/splicer"
)

func osThreads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}

// 1,000 idle proxied connections park 2,000 transfers on the poller: the
// process must not gain an OS thread per blocked transfer.
func TestIdleProxiedConnectionsDoNotGrowThreads(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const conns = 1000
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	var held []net.Conn
	heldc := make(chan net.Conn, conns)
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			heldc <- c
		}
	}()
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	done := make(chan struct{}, 2*conns)
	go func() {
		for {
			c, err := proxy.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend.Addr().String())
			if err != nil {
				c.Close()
				continue
			}
			go func() { splicer.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { splicer.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		}
	}()
	before := osThreads(t)
	var clients []net.Conn
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", proxy.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for len(held) < conns {
		select {
		case c := <-heldc:
			held = append(held, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d backend connections", len(held))
		}
	}
	// the proxy works: one round trip through the first connection
	clients[0].Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(held[0], buf); err != nil || string(buf) != "ping" {
		t.Fatalf("proxied read %q, %v", buf, err)
	}
	time.Sleep(300 * time.Millisecond) // every transfer is parked by now
	after := osThreads(t)
	limit := runtime.GOMAXPROCS(0) + 16
	t.Logf("OS threads: %d before, %d with %d idle proxied connections (GOMAXPROCS %d)", before, after, conns, runtime.GOMAXPROCS(0))
	if after > limit {
		t.Fatalf("%d OS threads with %d idle proxied connections; want at most %d", after, conns, limit)
	}
	for _, c := range clients {
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	for i := 0; i < 2*conns; i++ {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d transfers did not end", 2*conns-i)
		}
	}
}
