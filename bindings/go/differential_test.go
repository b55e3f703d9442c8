package splicer_test

// Go's own tests of io.Copy's zero-copy paths, run differentially: the
// scenarios of src/net/splice_linux_test.go, src/net/sendfile_test.go,
// src/os/readfrom_linux_test.go, src/os/readfrom_unix_test.go and
// src/os/copy_test.go, each run once through io.Copy/io.CopyN and once
// through splicer.Copy/splicer.CopyN.  Every observable fact — the count,
// the error (by kind: errors are wrapped differently, see README
// "Differences from io.Copy"), the bytes that arrived, file positions, an
// io.LimitedReader's N — must be the same, except for the differences
// listed in knownDifferences, each with its reason (and in the README).
//
// Go's tests also check which syscall the os and net packages chose
// (their hooks); those are internals of io.Copy and are not compared.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"splicer.dev/splicer"
)

type copyImpl struct {
	name  string
	copy  func(dst io.Writer, src io.Reader) (int64, error)
	copyN func(dst io.Writer, src io.Reader, n int64) (int64, error)
}

var copyImpls = [2]copyImpl{
	{"io", io.Copy, io.CopyN},
	{"splicer", splicer.Copy, splicer.CopyN},
}

// knownDifferences are the scenarios where splicer deliberately differs
// from io.Copy, with the reason.  A scenario listed here that no longer
// differs fails, so the list stays true.
var knownDifferences = map[string]string{
	"os/CopyFile/CopyFileItself": "one *os.File as source and destination: io.Copy reads what it has just " +
		"written and appends the file to itself; splicer refuses the overlapping ranges with EINVAL and " +
		"leaves the file alone",
	"os/CopyFile/CopyFileItselfTwoFiles": "two *os.Files of one file, the destination at its end, with a " +
		"length: io.CopyN copies what it has just written until the length is reached (1000 bytes of a " +
		"12-byte file here; io.Copy never ends: the file grows until the disk is full); splicer refuses " +
		"a range that overlaps its destination ([0, 1000) onto [12, 1012)) with EINVAL.  Without a " +
		"length splicer.Copy appends the 12 bytes the file had when the copy began, once",
}

// facts are what one run of a scenario observed, in order.
type facts struct {
	keys []string
	m    map[string]string
}

func (f *facts) add(k string, v any) {
	if f.m == nil {
		f.m = map[string]string{}
	}
	if _, ok := f.m[k]; !ok {
		f.keys = append(f.keys, k)
	}
	f.m[k] = fmt.Sprint(v)
}

func (f *facts) bytes(k string, b []byte) {
	f.add(k, fmt.Sprintf("%d bytes sha256 %x", len(b), sha256.Sum256(b)))
}

// errKind names an error by what a caller would test with errors.Is.
func errKind(err error) string {
	var en syscall.Errno
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "io.EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, net.ErrClosed):
		return "net.ErrClosed"
	case errors.Is(err, os.ErrClosed):
		return "os.ErrClosed"
	case errors.Is(err, os.ErrInvalid):
		return "os.ErrInvalid"
	case errors.As(err, &en):
		return "errno " + en.Error()
	}
	return "other"
}

var diffStats struct {
	sync.Mutex
	scenarios, checks, differ, known int
}

// differential runs one scenario through both implementations and
// compares what they observed.
func differential(t *testing.T, name string, scenario func(t *testing.T, c copyImpl, f *facts)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		var got [2]facts
		for i, c := range copyImpls {
			t.Run(c.name, func(t *testing.T) { scenario(t, c, &got[i]) })
		}
		if t.Failed() {
			return
		}
		var diffs []string
		keys := append([]string{}, got[0].keys...)
		for _, k := range got[1].keys {
			if _, ok := got[0].m[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			a, okA := got[0].m[k]
			b, okB := got[1].m[k]
			if a != b || okA != okB {
				diffs = append(diffs, fmt.Sprintf("%s: io.Copy %q, splicer %q", k, a, b))
			}
		}
		full := strings.TrimPrefix(t.Name(), "TestDifferential/")
		reason, known := knownDifferences[full]
		diffStats.Lock()
		diffStats.scenarios++
		diffStats.checks += len(keys)
		if len(diffs) > 0 {
			diffStats.differ++
			if known {
				diffStats.known++
			}
		}
		diffStats.Unlock()
		switch {
		case len(diffs) > 0 && known:
			t.Logf("known difference (%s):\n\t%s", reason, strings.Join(diffs, "\n\t"))
		case len(diffs) > 0:
			t.Errorf("splicer differs from io.Copy:\n\t%s", strings.Join(diffs, "\n\t"))
		case known:
			t.Errorf("listed as a known difference but now the same: remove it from knownDifferences")
		}
	})
}

// socketPair returns two connected stream sockets of the network: "tcp"
// over 127.0.0.1 or "unix".
func socketPair(t *testing.T, network string) (client, server net.Conn) {
	switch network {
	case "tcp":
		return tcpPair(t)
	case "unix":
		return unixPair(t)
	case "unixpacket":
		ln, err := net.Listen("unixpacket", filepath.Join(t.TempDir(), "p"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ch := make(chan net.Conn, 1)
		go func() { c, _ := ln.Accept(); ch <- c }()
		c, err := net.Dial("unixpacket", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := <-ch
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	t.Fatalf("network %q", network)
	return nil, nil
}

// writeChunks writes data in chunks from a goroutine and then closes w.
func writeChunks(w io.WriteCloser, data []byte, chunk int) {
	go func() {
		for off := 0; off < len(data); off += chunk {
			if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
				break
			}
		}
		w.Close()
	}()
}

func position(t *testing.T, f *os.File) int64 {
	t.Helper()
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

func contents(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDifferential(t *testing.T) {
	// ---- src/net/splice_linux_test.go ---------------------------------
	type spliceCase struct {
		name                 string
		chunk, total, limitN int
	}
	big := 5 << 20
	if testing.Short() {
		big = 1 << 20
	}
	spliceCases := []spliceCase{
		{"simple", 128, 128, 0},
		{"multipleWrite", 4096, 1 << 20, 0},
		{"big", big, 4 * big, 0}, // Go's is 1 GiB
		{"honorsLimitedReader", 4096, 1 << 20, 1 << 10},
		{"updatesLimitedReaderN", 1024, 4096, 4096 + 100},
		{"limitedReaderAtLimit", 32, 128, 128},
	}
	for _, nets := range [][2]string{{"tcp", "tcp"}, {"unix", "tcp"}, {"tcp", "unix"}, {"tcp", "file"}, {"unix", "file"}} {
		for _, tc := range spliceCases {
			differential(t, fmt.Sprintf("net/Splice/%s-to-%s/%s", nets[0], nets[1], tc.name), func(t *testing.T, c copyImpl, f *facts) {
				size := tc.total
				if tc.limitN > 0 && tc.limitN < size {
					size = tc.limitN
				}
				data := pattern(size)
				clientUp, serverUp := socketPair(t, nets[0])
				writeChunks(clientUp, data, tc.chunk)
				var dst io.Writer
				var got <-chan []byte
				var file *os.File
				if nets[1] == "file" {
					file = tempFile(t, nil)
					dst = file
				} else {
					clientDown, serverDown := socketPair(t, nets[1])
					dst = serverDown
					got = drain(clientDown)
				}
				var r io.Reader = serverUp
				lr := &io.LimitedReader{N: int64(tc.limitN), R: serverUp}
				if tc.limitN > 0 {
					r = lr
				}
				n, err := c.copy(dst, r)
				f.add("n", n)
				f.add("err", errKind(err))
				if tc.limitN > 0 {
					f.add("lr.N", lr.N)
				}
				if file != nil {
					f.add("dst position", position(t, file))
					f.bytes("dst content", contents(t, file.Name()))
				} else {
					dst.(net.Conn).Close()
					f.bytes("arrived", <-got)
				}
			})
		}
		if nets[1] == "file" {
			continue
		}
		differential(t, fmt.Sprintf("net/Splice/%s-to-%s/readerAtEOF", nets[0], nets[1]), func(t *testing.T, c copyImpl, f *facts) {
			_, serverUp := socketPair(t, nets[0])
			clientDown, serverDown := socketPair(t, nets[1])
			serverUp.Close()
			got := drain(clientDown)
			n, err := c.copy(serverDown, serverUp)
			io.WriteString(serverDown, "bye")
			serverDown.Close()
			f.add("n", n)
			f.add("err", errKind(err))
			f.bytes("arrived", <-got)
		})
		differential(t, fmt.Sprintf("net/Splice/%s-to-%s/issue25985", nets[0], nets[1]), func(t *testing.T, c copyImpl, f *facts) {
			// a proxy whose connections close as soon as both copies
			// started: both copies end, nothing hangs
			toFront, src := socketPair(t, nets[0])
			dst, fromProxy := socketPair(t, nets[1])
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { c.copy(src, dst); wg.Done() }()
			go func() { c.copy(dst, src); wg.Done() }()
			dst.Close()
			src.Close()
			io.WriteString(toFront, "foo")
			toFront.Close()
			_, err := io.ReadAll(fromProxy)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				f.add("copies ended", true)
			case <-time.After(10 * time.Second):
				f.add("copies ended", false)
			}
			f.add("ReadAll err", errKind(err))
		})
	}
	differential(t, "net/Splice/unixpacket-to-tcp", func(t *testing.T, c copyImpl, f *facts) {
		clientUp, serverUp := socketPair(t, "unixpacket")
		clientDown, serverDown := socketPair(t, "tcp")
		for _, m := range []string{"hello", "packet", "world"} {
			io.WriteString(clientUp, m)
		}
		clientUp.Close()
		got := drain(clientDown)
		n, err := c.copy(serverDown, serverUp)
		serverDown.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		f.bytes("arrived", <-got)
	})
	differential(t, "net/Splice/unixgram-to-tcp", func(t *testing.T, c copyImpl, f *facts) {
		up, peer := dgramPair(t, "unixgram")
		clientDown, serverDown := socketPair(t, "tcp")
		for _, m := range []string{"abc", "", "def"} {
			io.WriteString(peer, m)
		}
		got := drain(clientDown)
		n, err := c.copyN(serverDown, up, 6)
		serverDown.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		f.bytes("arrived", <-got)
	})

	// ---- issue 12: Go's net example echo server, datagram destinations --
	for _, network := range []string{"tcp", "unix"} {
		differential(t, "issue12/echo-"+network, func(t *testing.T, c copyImpl, f *facts) {
			client, server := socketPair(t, network)
			data := pattern(300000)
			got := drain(client)
			go func() { client.Write(data); client.(interface{ CloseWrite() error }).CloseWrite() }()
			n, err := c.copy(server, server)
			server.Close()
			f.add("n", n)
			f.add("err", errKind(err))
			f.bytes("echoed", <-got)
		})
	}
	for _, network := range []string{"udp", "unixgram"} {
		differential(t, "issue12/tcp-to-"+network, func(t *testing.T, c copyImpl, f *facts) {
			dst, peer := dgramPair(t, network)
			if u, ok := peer.(*net.UDPConn); ok {
				u.SetReadBuffer(4 << 20)
			}
			feeder, src := tcpPair(t)
			data := pattern(200000)
			writeChunks(feeder, data, 65536)
			type res struct {
				got   []byte
				sizes []int
			}
			out := make(chan res, 1)
			go func() {
				var r res
				buf := make([]byte, 65536)
				for len(r.got) < len(data) {
					peer.SetReadDeadline(time.Now().Add(2 * time.Second))
					n, err := peer.Read(buf)
					if err != nil {
						break
					}
					r.sizes = append(r.sizes, n)
					r.got = append(r.got, buf[:n]...)
				}
				out <- r
			}()
			n, err := c.copy(dst, src)
			f.add("n", n)
			f.add("err", errKind(err))
			r := <-out
			f.bytes("arrived", r.got)
			f.add("largest datagram", slicesMax(r.sizes))
		})
	}

	// ---- src/net/sendfile_test.go -----------------------------------------
	newton := pattern(107_000) // the size of Go's testdata/Isaac.Newton-Opticks.txt, about
	newtonFile := func(t *testing.T) *os.File { return tempFile(t, newton) }
	sendfile := func(name string, size int, limit int64) {
		differential(t, "net/Sendfile/"+name, func(t *testing.T, c copyImpl, f *facts) {
			data := newton
			if size > len(newton) {
				data = pattern(size)
			}
			src := tempFile(t, data)
			client, server := tcpPair(t)
			got := drain(client)
			var n int64
			var err error
			if limit > 0 {
				n, err = c.copyN(server, src, limit)
			} else {
				n, err = c.copy(server, src)
			}
			server.Close()
			f.add("n", n)
			f.add("err", errKind(err))
			f.add("src position", position(t, src))
			f.bytes("arrived", <-got)
		})
	}
	sendfile("Sendfile", 0, 0)
	sendfile("WithExactLimit", 0, int64(len(newton)))
	sendfile("WithLimitLargerThanFile", 0, int64(len(newton))*2)
	sendfile("WithLargeFile", 16<<20, 0)
	differential(t, "net/Sendfile/Parts", func(t *testing.T, c copyImpl, f *facts) {
		src := newtonFile(t)
		client, server := tcpPair(t)
		got := drain(client)
		for i := 0; i < 3; i++ {
			n, err := c.copyN(server, src, 3)
			f.add(fmt.Sprintf("part %d", i), fmt.Sprint(n, " ", errKind(err)))
		}
		server.Close()
		f.bytes("arrived", <-got)
	})
	differential(t, "net/Sendfile/Seeked", func(t *testing.T, c copyImpl, f *facts) {
		src := newtonFile(t)
		src.Seek(65<<10, io.SeekStart)
		client, server := tcpPair(t)
		got := drain(client)
		n, err := c.copyN(server, src, 10<<10)
		server.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		f.add("src position", position(t, src))
		f.bytes("arrived", <-got)
	})
	differential(t, "net/Sendfile/Pipe", func(t *testing.T, c copyImpl, f *facts) {
		// the copy must leave the pipe non-blocking: a read deadline on it
		// still works afterwards
		r, w := pipe(t)
		client, server := tcpPair(t)
		got := drain(client)
		w.Write([]byte{'a'})
		n, err := c.copyN(server, r, 1)
		f.add("n", n)
		f.add("err", errKind(err))
		r.SetDeadline(time.Now().Add(time.Microsecond))
		go func() { time.Sleep(50 * time.Millisecond); w.Write([]byte{'b'}) }()
		_, rerr := r.Read(make([]byte, 1))
		f.add("read after the deadline", errKind(rerr))
		server.Close()
		f.bytes("arrived", <-got)
	})
	differential(t, "net/Sendfile/OnWriteTimeoutExceeded", func(t *testing.T, c copyImpl, f *facts) {
		src := newtonFile(t)
		client, server := tcpPair(t)
		got := drain(client)
		server.SetWriteDeadline(time.Now().Add(-time.Hour))
		n, err := c.copy(server, src)
		server.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		f.bytes("arrived", <-got)
	})

	// ---- src/os/readfrom_linux_test.go: TestSpliceFile, TTY, ProcCopy ----
	sizes := []int{1, 42, 1025, syscall.Getpagesize() + 1, 32769}
	limits := []struct {
		name string
		of   func(size int) int64
	}{
		{"Basic", func(int) int64 { return -1 }},
		{"OneLess", func(s int) int64 { return int64(s) - 1 }},
		{"Half", func(s int) int64 { return int64(s) / 2 }},
		{"More", func(s int) int64 { return int64(s) + 7 }},
	}
	for _, proto := range []string{"tcp", "unix"} {
		for _, lim := range limits {
			for _, size := range sizes {
				differential(t, fmt.Sprintf("os/SpliceFile/%s-%s/%d", lim.name, proto, size), func(t *testing.T, c copyImpl, f *facts) {
					data := pattern(size)
					client, server := socketPair(t, proto)
					writeChunks(client, data, len(data))
					dst := tempFile(t, nil)
					limit := lim.of(size)
					var r io.Reader = server
					lr := &io.LimitedReader{N: limit, R: server}
					if limit >= 0 {
						r = lr
					}
					n, err := c.copy(dst, r)
					f.add("n", n)
					f.add("err", errKind(err))
					if limit >= 0 {
						f.add("lr.N", lr.N)
					}
					f.add("dst position", position(t, dst))
					f.bytes("dst content", contents(t, dst.Name()))
				})
			}
		}
		differential(t, fmt.Sprintf("os/SpliceFile/%s-To-TTY", proto), func(t *testing.T, c copyImpl, f *facts) {
			pty, ttyName := openPTY(t)
			fd, err := syscall.Open(ttyName, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Skipf("cannot open the tty: %v", err)
			}
			tty := os.NewFile(uintptr(fd), "tty") // blocking, as in Go's test
			defer tty.Close()
			client, server := socketPair(t, proto)
			data := bytes.Repeat([]byte{'a'}, 32768)
			go func() {
				for i := 0; i < len(data); i += 1024 {
					if _, err := client.Write(data[i : i+1024]); err != nil {
						return
					}
				}
				client.Close()
			}()
			read := make(chan int, 1)
			go func() {
				total := 0
				buf := make([]byte, 4096)
				for total < len(data) {
					n, err := pty.Read(buf)
					total += n
					if err != nil {
						break
					}
				}
				read <- total
			}()
			n, err := c.copy(tty, server)
			f.add("n", n)
			f.add("err", errKind(err))
			select {
			case got := <-read:
				f.add("read from the pty", got)
			case <-time.After(10 * time.Second):
				f.add("read from the pty", "timeout")
			}
		})
	}
	differential(t, "os/ProcCopy", func(t *testing.T, c copyImpl, f *facts) {
		in, err := os.Open("/proc/self/cmdline")
		if err != nil {
			t.Skip(err)
		}
		defer in.Close()
		want, _ := os.ReadFile("/proc/self/cmdline")
		out := tempFile(t, nil)
		n, err := c.copy(out, in)
		f.add("n matches", n == int64(len(want)))
		f.add("err", errKind(err))
		f.add("content matches", bytes.Equal(contents(t, out.Name()), want))
	})

	// ---- src/os/readfrom_unix_test.go: TestCopyFile ------------------------
	for _, lim := range limits {
		for _, size := range sizes {
			differential(t, fmt.Sprintf("os/CopyFile/%s/%d", lim.name, size), func(t *testing.T, c copyImpl, f *facts) {
				data := pattern(size)
				src, dst := tempFile(t, data), tempFile(t, nil)
				limit := lim.of(size)
				var r io.Reader = src
				lr := &io.LimitedReader{N: limit, R: src}
				if limit >= 0 {
					r = lr
				}
				n, err := c.copy(dst, r)
				f.add("n", n)
				f.add("err", errKind(err))
				if limit >= 0 {
					f.add("lr.N", lr.N)
				}
				f.add("src position", position(t, src))
				f.add("dst position", position(t, dst))
				f.bytes("dst content", contents(t, dst.Name()))
			})
		}
	}
	differential(t, "os/CopyFile/DoesntTryInAppendMode", func(t *testing.T, c copyImpl, f *facts) {
		data := pattern(42)
		src, dst := tempFile(t, data), tempFile(t, pattern(10))
		dst2, err := os.OpenFile(dst.Name(), os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer dst2.Close()
		n, err := c.copy(dst2, src)
		f.add("n", n)
		f.add("err", errKind(err))
		f.add("dst position", position(t, dst2))
		f.bytes("dst content", contents(t, dst.Name()))
	})
	differential(t, "os/CopyFile/CopyFileItself", func(t *testing.T, c copyImpl, f *facts) {
		file := tempFile(t, []byte("hello world!"))
		n, err := c.copy(file, file)
		f.add("n", n)
		f.add("err", errKind(err))
		f.add("content", string(contents(t, file.Name())))
	})
	differential(t, "os/CopyFile/CopyFileItselfTwoFiles", func(t *testing.T, c copyImpl, f *facts) {
		// not in Go's tests: two *os.Files of one file, the destination at
		// the end.  io.Copy never ends here (it copies what it wrote, and
		// the file grows until the disk is full), so both run as CopyN
		// with a bound.
		file := tempFile(t, []byte("hello world!"))
		g, err := os.OpenFile(file.Name(), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		g.Seek(0, io.SeekEnd)
		n, err := c.copyN(g, file, 1000)
		f.add("n", n)
		f.add("err", errKind(err))
		f.add("content", string(contents(t, file.Name())))
	})
	differential(t, "os/CopyFile/NotRegular/BothPipes", func(t *testing.T, c copyImpl, f *facts) {
		pr1, pw1 := pipe(t)
		pr2, pw2 := pipe(t)
		pw1.Write([]byte("hello"))
		pw1.Close()
		n, err := c.copy(pw2, pr1)
		pw2.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		b, _ := io.ReadAll(pr2)
		f.add("arrived", string(b))
	})
	differential(t, "os/CopyFile/NotRegular/DstPipe", func(t *testing.T, c copyImpl, f *facts) {
		data := pattern(255)
		src := tempFile(t, data)
		pr, pw := pipe(t)
		n, err := c.copy(pw, src)
		pw.Close()
		f.add("n", n)
		f.add("err", errKind(err))
		b, _ := io.ReadAll(pr)
		f.bytes("arrived", b)
	})
	differential(t, "os/CopyFile/NotRegular/SrcPipe", func(t *testing.T, c copyImpl, f *facts) {
		data := pattern(255)
		dst := tempFile(t, nil)
		pr, pw := pipe(t)
		pw.Write(data)
		pw.Close()
		n, err := c.copy(dst, pr)
		f.add("n", n)
		f.add("err", errKind(err))
		f.add("dst position", position(t, dst))
		f.bytes("dst content", contents(t, dst.Name()))
	})
	differential(t, "os/CopyFile/Nil", func(t *testing.T, c copyImpl, f *facts) {
		var nilFile *os.File
		anyFile := tempFile(t, nil)
		_, err := c.copy(nilFile, nilFile)
		f.add("nil to nil", errKind(err))
		_, err = c.copy(anyFile, nilFile)
		f.add("nil to file", errKind(err))
		_, err = c.copy(nilFile, anyFile)
		f.add("file to nil", errKind(err))
	})

	// ---- src/os/copy_test.go ------------------------------------------------
	differential(t, "os/LargeCopyViaNetwork", func(t *testing.T, c copyImpl, f *facts) {
		size := 10 << 20
		if testing.Short() {
			size = 1 << 20
		}
		data := pattern(size)
		src, dst := tempFile(t, data), tempFile(t, nil)
		client, server := tcpPair(t)
		var wg sync.WaitGroup
		var n1, n2 int64
		var e1, e2 error
		wg.Add(2)
		go func() { defer wg.Done(); n1, e1 = c.copy(dst, server) }()
		go func() { defer wg.Done(); defer client.Close(); n2, e2 = c.copy(client, src) }()
		wg.Wait()
		f.add("to destination", fmt.Sprint(n1, " ", errKind(e1)))
		f.add("from source", fmt.Sprint(n2, " ", errKind(e2)))
		f.bytes("dst content", contents(t, dst.Name()))
	})
	const size = 1 << 20
	fileData := pattern(size)
	for _, srcStart := range []int64{0, 100, size} {
		remaining := size - srcStart
		for _, dstStart := range []int64{0, 200} {
			for _, limit := range []int64{remaining, remaining - 100, size * 2, 0} {
				if limit < 0 {
					continue
				}
				name := fmt.Sprintf("os/CopyFileToFile/srcStart=%v/dstStart=%v/limit=%v", srcStart, dstStart, limit)
				differential(t, name, func(t *testing.T, c copyImpl, f *facts) {
					src := tempFile(t, fileData)
					dst := tempFile(t, make([]byte, dstStart))
					src.Seek(srcStart, io.SeekStart)
					dst.Seek(dstStart, io.SeekStart)
					var n int64
					var err error
					if limit == 0 {
						n, err = c.copy(dst, src)
					} else {
						n, err = c.copyN(dst, src, limit)
					}
					f.add("n", n)
					f.add("err", errKind(err))
					f.add("src position", position(t, src))
					f.add("dst position", position(t, dst))
					f.bytes("dst content", contents(t, dst.Name()))
				})
			}
		}
	}

	diffStats.Lock()
	defer diffStats.Unlock()
	var listed []string
	for k := range knownDifferences {
		listed = append(listed, k)
	}
	sort.Strings(listed)
	t.Logf("%d scenarios, %d checks compared; %d scenarios differ, %d of them known (%s)",
		diffStats.scenarios, diffStats.checks, diffStats.differ, diffStats.known, strings.Join(listed, ", "))
}

// openPTY opens a pseudo-terminal's master and returns it with the name
// of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		syscall.Close(fd)
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		syscall.Close(fd)
		t.Skipf("ptsname: %v", e)
	}
	m := os.NewFile(uintptr(fd), "ptmx")
	t.Cleanup(func() { m.Close() })
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func slicesMax(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
