package splicer_test

// The drop-in fixes of issue 12, each through the Go API: echo on one
// connection, a file copied onto itself, datagram destinations and
// sources, and SIGPIPE on standard output and error.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"splicer.dev/splicer"
)

// echo runs splicer.Copy(c, c) — the echo server of Go's net examples — on
// the server end of a connection while the client writes data and then
// closes its writing side; the client must read every byte back.
func echo(t *testing.T, client, server net.Conn, data []byte) {
	t.Helper()
	type res struct {
		n   int64
		err error
	}
	done := make(chan res, 1)
	go func() {
		n, err := splicer.Copy(server, server)
		done <- res{n, err}
	}()
	got := drain(client)
	if _, err := client.Write(data); err != nil {
		t.Fatal(err)
	}
	client.(interface{ CloseWrite() error }).CloseWrite()
	r := <-done
	if r.err != nil || r.n != int64(len(data)) {
		t.Fatalf("Copy(c, c) = %d, %v; want %d, nil", r.n, r.err, len(data))
	}
	server.Close()
	sameBytes(t, <-got, data)
}

func TestEchoTCP(t *testing.T) {
	a, b := tcpPair(t)
	echo(t, a, b, pattern(1<<20+77))
}

func TestEchoUnix(t *testing.T) {
	a, b := unixPair(t)
	echo(t, a, b, pattern(1<<20+77))
}

// The same *os.File as source and destination: io.Copy would chase its
// own output (it appends what it reads); splicer refuses the overlapping
// ranges with EINVAL and leaves the file and its position alone.
func TestFileOntoItselfSameFile(t *testing.T) {
	data := pattern(5000)
	f := tempFile(t, data)
	n, err := splicer.Copy(f, f)
	var oe *splicer.OpError
	if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &oe) || n != 0 {
		t.Fatalf("Copy(f, f) = %d, %v; want 0, *OpError wrapping EINVAL", n, err)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
		t.Fatalf("position %d after a refused copy", pos)
	}
	sameBytes(t, readAll(t, f), data)
}

// Two *os.Files of one file, the destination at the end: the file's
// bytes are appended once (the length is fixed at the size when the copy
// began), as io.Copy does.
func TestFileOntoItselfTwoFiles(t *testing.T) {
	data := pattern(70000)
	f := tempFile(t, data)
	g, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	n, err := splicer.Copy(g, f)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, readAll(t, f), append(append([]byte{}, data...), data...))
	// The destination inside the source's range: the ranges overlap.
	h, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, at := range []int64{0, 100} {
		f.Seek(0, io.SeekStart)
		h.Seek(at, io.SeekStart)
		if n, err := splicer.Copy(h, f); !errors.Is(err, syscall.EINVAL) || n != 0 {
			t.Fatalf("overlapping Copy (destination at %d) = %d, %v; want EINVAL", at, n, err)
		}
	}
	// With a length that stays clear of the destination: a copy.
	f.Seek(0, io.SeekStart)
	h.Seek(100, io.SeekStart)
	if n, err := splicer.CopyN(h, f, 100); err != nil || n != 100 {
		t.Fatalf("disjoint CopyN = %d, %v", n, err)
	}
}

// CopyRange within one file: disjoint ranges copy, overlapping ones (in
// either direction, or a length to the end that reaches the destination)
// are EINVAL.
func TestCopyRangeWithinOneFile(t *testing.T) {
	data := pattern(200)
	f := tempFile(t, data)
	s := newSession(t)
	for _, c := range []struct{ srcOff, dstOff, n int64 }{{0, 50, 100}, {50, 0, 100}, {0, 150, -1}, {0, 0, 1}} {
		if n, err := s.CopyRange(f, c.dstOff, f, c.srcOff, c.n); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("CopyRange(%d -> %d, %d) = %d, %v; want EINVAL", c.srcOff, c.dstOff, c.n, n, err)
		}
	}
	if n, err := s.CopyRange(f, 100, f, 0, 100); err != nil || n != 100 {
		t.Fatalf("disjoint CopyRange = %d, %v", n, err)
	}
	want := append(append([]byte{}, data[:100]...), data[:100]...)
	sameBytes(t, readAll(t, f), want)
}

// dgramPair returns a connected pair of datagram connections: "udp" over
// 127.0.0.1 or "unixgram".
func dgramPair(t *testing.T, network string) (a, b net.Conn) {
	t.Helper()
	var fds [2]int
	if network == "udp" {
		var addrs [2]syscall.Sockaddr
		for i := range fds {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			fds[i] = fd
			if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			if addrs[i], err = syscall.Getsockname(fd); err != nil {
				t.Fatal(err)
			}
		}
		for i := range fds {
			if err := syscall.Connect(fds[i], addrs[1-i]); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		var err error
		if fds, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), network)
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b = conn(fds[0]), conn(fds[1])
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A stream source copied to a datagram destination: every byte arrives,
// in datagrams of at most 32 KiB (io.Copy's size), nothing is dropped.
func TestDatagramDestination(t *testing.T) {
	for _, network := range []string{"udp", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			dst, peer := dgramPair(t, network)
			if network == "udp" {
				// loopback UDP drops what the receiver has no room for
				peer.(*net.UDPConn).SetReadBuffer(4 << 20)
			}
			src, feeder := tcpPair(t)
			data := pattern(300000)
			go func() { feeder.Write(data); feeder.Close() }()
			type res struct {
				got  []byte
				maxD int
			}
			out := make(chan res, 1)
			go func() {
				var r res
				buf := make([]byte, 65536)
				for len(r.got) < len(data) {
					peer.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := peer.Read(buf)
					if err != nil {
						break
					}
					r.maxD = max(r.maxD, n)
					r.got = append(r.got, buf[:n]...)
				}
				out <- r
			}()
			n, err := splicer.Copy(dst, src)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("Copy = %d, %v; want %d", n, err, len(data))
			}
			r := <-out
			sameBytes(t, r.got, data)
			if r.maxD > 32<<10 {
				t.Fatalf("a datagram of %d bytes", r.maxD)
			}
		})
	}
}

// From a datagram source, "abc", "" and "def" give 6 bytes: an empty
// datagram is not the end of input.
func TestDatagramSourceEmptyDatagram(t *testing.T) {
	for _, network := range []string{"udp", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			src, peer := dgramPair(t, network)
			for _, d := range []string{"abc", "", "def"} {
				if _, err := peer.Write([]byte(d)); err != nil {
					t.Fatal(err)
				}
			}
			f := tempFile(t, nil)
			n, err := splicer.CopyN(f, src, 6)
			if err != nil || n != 6 {
				t.Fatalf("CopyN = %d, %v; want 6, nil", n, err)
			}
			sameBytes(t, readAll(t, f), []byte("abcdef"))
		})
	}
}

// The child half of TestSIGPIPEOnStdout: copies a file to standard output
// (or standard error), which the parent has made a pipe or socket with no
// reader, through the function SPLICER_SIGPIPE_COPY names.
func TestSIGPIPEChild(t *testing.T) {
	how := os.Getenv("SPLICER_SIGPIPE_COPY")
	if how == "" {
		t.Skip("run by TestSIGPIPEOnStdout")
	}
	notified := make(chan os.Signal, 4)
	if os.Getenv("SPLICER_SIGPIPE_NOTIFY") != "" {
		signal.Notify(notified, syscall.SIGPIPE)
	}
	var src io.Reader
	if os.Getenv("SPLICER_SIGPIPE_SRC") == "tcp" {
		// a TCP connection with data: io.Copy splices from it
		a, b := tcpPair(t)
		go func() { a.Write(pattern(1 << 20)); a.Close() }()
		src = b
	} else {
		f, err := os.Open(os.Getenv("SPLICER_SIGPIPE_SRC"))
		if err != nil {
			t.Fatal(err)
		}
		src = f
	}
	var err error
	dst := os.Stdout
	if os.Getenv("SPLICER_SIGPIPE_STDERR") != "" {
		dst = os.Stderr
	}
	var n int64
	switch how {
	case "io":
		n, err = io.Copy(dst, src)
	case "splicer":
		n, err = splicer.Copy(dst, src)
	case "session":
		s, serr := splicer.New()
		if serr != nil {
			t.Fatal(serr)
		}
		n, err = s.Copy(dst, src)
	}
	// Only reached when SIGPIPE did not end the process.
	got := "none"
	select {
	case sig := <-notified:
		got = sig.String()
	case <-time.After(time.Second):
	}
	msg := fmt.Sprintf("survived: n=%d epipe=%v signal=%s\n", n, errors.Is(err, syscall.EPIPE), got)
	os.WriteFile(os.Getenv("SPLICER_SIGPIPE_REPORT"), []byte(msg), 0600)
}

func TestSIGPIPEOnStdout(t *testing.T) {
	if os.Getenv("SPLICER_SIGPIPE_COPY") != "" {
		t.Skip("in the child")
	}
	srcPath := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(srcPath, pattern(1<<20), 0600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, how, kind string, notify, stderr bool, src string) (signaled bool, report string) {
		t.Helper()
		report = filepath.Join(t.TempDir(), "report")
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGPIPEChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPLICER_SIGPIPE_COPY="+how, "SPLICER_SIGPIPE_SRC="+src,
			"SPLICER_SIGPIPE_REPORT="+report)
		if notify {
			cmd.Env = append(cmd.Env, "SPLICER_SIGPIPE_NOTIFY=1")
		}
		// the end the child writes: its reader is closed before it starts
		var w *os.File
		switch kind {
		case "pipe":
			r, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			w = pw
		case "socket":
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			syscall.Close(fds[1])
			w = os.NewFile(uintptr(fds[0]), "socket")
		}
		defer w.Close()
		if stderr {
			cmd.Env = append(cmd.Env, "SPLICER_SIGPIPE_STDERR=1")
			cmd.Stderr = w
		} else {
			cmd.Stdout = w
		}
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE {
				signaled = true
			}
		}
		b, _ := os.ReadFile(report)
		return signaled, strings.TrimSpace(string(b))
	}
	for _, how := range []string{"io", "splicer", "session"} {
		for _, kind := range []string{"pipe", "socket"} {
			for _, stderr := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/stderr=%v", how, kind, stderr)
				t.Run(name, func(t *testing.T) {
					// killed during the copy: before it could write its
					// report (the test framework's own "PASS" on a broken
					// standard output would kill it later anyway)
					if sig, rep := run(t, how, kind, false, stderr, srcPath); !sig || rep != "" {
						t.Fatalf("the copy did not end the child with SIGPIPE (killed=%v, report %q)", sig, rep)
					}
					sig, rep := run(t, how, kind, true, stderr, srcPath)
					if sig || !strings.Contains(rep, "epipe=true signal=broken pipe") {
						t.Fatalf("with signal.Notify: killed=%v, report %q; want the EPIPE error and the signal", sig, rep)
					}
				})
			}
		}
	}
	// From a TCP connection, io.Copy splices into standard output, a
	// path that skips os.File's rule: the program gets EPIPE and carries
	// on.  splicer applies the rule whatever the source (a difference
	// listed in the README), so `prog | head` ends the program.
	t.Run("tcp-source", func(t *testing.T) {
		// (the child survives the copy and writes its report; the test
		// framework's own "PASS" on the broken standard output kills it
		// afterwards)
		if _, rep := run(t, "io", "pipe", false, false, "tcp"); !strings.Contains(rep, "epipe=true") {
			t.Fatalf("io.Copy from TCP: report %q; want EPIPE and no SIGPIPE during the copy", rep)
		}
		if sig, rep := run(t, "splicer", "pipe", false, false, "tcp"); !sig || rep != "" {
			t.Fatalf("splicer.Copy from TCP: killed=%v, report %q; want SIGPIPE", sig, rep)
		}
	})
}

// A copy to a broken pipe that is not standard output or error returns
// EPIPE and the program carries on, as with io.Copy.
func TestEPIPEElsewhereIsAnError(t *testing.T) {
	src := tempFile(t, pattern(100000))
	r, w := pipe(t)
	r.Close()
	if _, err := splicer.Copy(w, src); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Copy = %v; want EPIPE", err)
	}
}
