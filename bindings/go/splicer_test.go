package splicer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"splicer.dev/splicer"
)

const big = 3<<20 + 12345 // several chunks and pipe loads, not page-aligned

func newSession(t testing.TB, opts ...splicer.Option) *splicer.Session {
	t.Helper()
	s, err := splicer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t testing.TB, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileToFile(t *testing.T) {
	data := pattern(big)
	src, dst := tempFile(t, data), tempFile(t, nil)
	s := newSession(t)
	n, err := s.Copy(dst, src)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, readAll(t, dst), data)
	st, _ := s.Stats()
	if st.Bytes != uint64(n) || st.ByMethod[splicer.MethodCopyFileRange] != uint64(n) {
		t.Fatalf("stats %+v", st)
	}
	if pos, _ := src.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
		t.Fatalf("source position %d", pos)
	}
}

func TestFileToPipe(t *testing.T) {
	data := pattern(big)
	src := tempFile(t, data)
	r, w := pipe(t)
	got := drain(r)
	n, err := splicer.Copy(w, src)
	w.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, <-got, data)
}

func TestPipeToPipe(t *testing.T) {
	data := pattern(big)
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	go func() { w1.Write(data); w1.Close() }()
	got := drain(r2)
	s := newSession(t)
	n, err := s.Copy(w2, r1)
	w2.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, <-got, data)
	if p, _ := s.Progress(); p.Method != splicer.MethodSplice || !p.Finished {
		t.Fatalf("progress %+v", p)
	}
}

func TestTCPToTCP(t *testing.T) {
	data := pattern(big)
	a, b := tcpPair(t)
	c, d := tcpPair(t)
	go func() { a.Write(data); a.Close() }()
	got := drain(d)
	s := newSession(t)
	n, err := s.Copy(c, b)
	c.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, <-got, data)
	st, _ := s.Stats()
	if st.ByMethod[splicer.MethodSplicePipe] != uint64(n) {
		t.Fatalf("stats %+v", st)
	}
}

func TestFileToTCP(t *testing.T) {
	data := pattern(big)
	src := tempFile(t, data)
	a, b := tcpPair(t)
	got := drain(b)
	s := newSession(t)
	n, err := s.Copy(a, src)
	a.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, <-got, data)
	// more than 1 MiB of a file to TCP goes through a pool pipe
	if st, _ := s.Stats(); st.ByMethod[splicer.MethodSplicePipe] != uint64(n) {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPToFile(t *testing.T) {
	data := pattern(big)
	a, b := tcpPair(t)
	dst := tempFile(t, nil)
	go func() { a.Write(data); a.Close() }()
	n, err := splicer.Copy(dst, b)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, readAll(t, dst), data)
}

func TestUnixToPipe(t *testing.T) {
	data := pattern(big)
	a, b := unixPair(t)
	r, w := pipe(t)
	go func() { a.Write(data); a.Close() }()
	got := drain(r)
	n, err := splicer.Copy(w, b)
	w.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, <-got, data)
}

func TestDevNull(t *testing.T) {
	data := pattern(big)
	src := tempFile(t, data)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	n, err := splicer.Copy(null, src)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
}

func TestBufferedWhenNoFD(t *testing.T) {
	data := pattern(100000)
	var out bytes.Buffer
	n, err := splicer.Copy(&out, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, out.Bytes(), data)
	// one side with an fd, the other without
	src := tempFile(t, data)
	out.Reset()
	if n, err := splicer.Copy(&out, src); err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, out.Bytes(), data)
}

func TestCopyN(t *testing.T) {
	data := pattern(100000)
	a, b := tcpPair(t)
	a.Write(data)
	dst := tempFile(t, nil)
	s := newSession(t)
	n, err := s.CopyN(dst, b, 40000)
	if err != nil || n != 40000 {
		t.Fatalf("CopyN = %d, %v", n, err)
	}
	// the rest is still in the socket: the source is never read past n
	rest := make([]byte, 60000)
	if _, err := io.ReadFull(b, rest); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, rest, data[40000:])
	sameBytes(t, readAll(t, dst), data[:40000])

	// short source: io.EOF like io.CopyN
	src := tempFile(t, data[:10])
	if n, err := splicer.CopyN(tempFile(t, nil), src, 20); n != 10 || err != io.EOF {
		t.Fatalf("CopyN short = %d, %v", n, err)
	}
}

func TestLimitedReader(t *testing.T) {
	data := pattern(50000)
	src := tempFile(t, data)
	dst := tempFile(t, nil)
	lr := &io.LimitedReader{R: src, N: 1234}
	n, err := splicer.Copy(dst, lr)
	if err != nil || n != 1234 || lr.N != 0 {
		t.Fatalf("Copy = %d, %v, N=%d", n, err, lr.N)
	}
	sameBytes(t, readAll(t, dst), data[:1234])
}

func TestCopyRange(t *testing.T) {
	data := pattern(200000)
	src, dst := tempFile(t, data), tempFile(t, nil)
	s := newSession(t)
	n, err := s.CopyRange(dst, 1000, src, 5000, 100000)
	if err != nil || n != 100000 {
		t.Fatalf("CopyRange = %d, %v", n, err)
	}
	got := readAll(t, dst)
	sameBytes(t, got[1000:], data[5000:105000])
	if pos, _ := src.Seek(0, io.SeekCurrent); pos != 0 {
		t.Fatalf("source position moved to %d", pos)
	}
	// an offset on a pipe is ESPIPE
	r, w := pipe(t)
	_ = w
	if _, err := s.CopyRange(dst, 0, r, 10, 5); !errors.Is(err, syscall.ESPIPE) {
		t.Fatalf("offset on a pipe: %v", err)
	}
	// without fds there is no offset to honour
	if _, err := s.CopyRange(&bytes.Buffer{}, 0, src, 0, 5); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("no fd: %v", err)
	}
}

func TestTee(t *testing.T) {
	data := pattern(big)
	r0, w0 := pipe(t)
	go func() { w0.Write(data); w0.Close() }()
	r1, w1 := pipe(t)
	a, b := tcpPair(t)
	f := tempFile(t, nil)
	got1, got2 := drain(r1), drain(b)
	s := newSession(t)
	n, err := s.Tee(r0, w1, a, f)
	w1.Close()
	a.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Tee = %d, %v", n, err)
	}
	sameBytes(t, <-got1, data)
	sameBytes(t, <-got2, data)
	sameBytes(t, readAll(t, f), data)
}

func TestTeeWithoutFDs(t *testing.T) {
	var x, y bytes.Buffer
	s := newSession(t)
	n, err := s.Tee(strings.NewReader("hello"), &x, &y)
	if err != nil || n != 5 || x.String() != "hello" || y.String() != "hello" {
		t.Fatalf("Tee = %d, %v, %q %q", n, err, x.String(), y.String())
	}
}

func TestWriteBuf(t *testing.T) {
	b, err := splicer.NewBuf(10000)
	if err != nil {
		t.Fatal(err)
	}
	copy(b.Bytes(), pattern(10000))
	want := append([]byte(nil), b.Bytes()[:9000]...)
	r, w := pipe(t)
	got := drain(r)
	s := newSession(t)
	n, err := s.WriteBuf(w, b, 9000)
	w.Close()
	if err != nil || n != 9000 {
		t.Fatalf("WriteBuf = %d, %v", n, err)
	}
	sameBytes(t, <-got, want)
	if b.Bytes() != nil {
		t.Fatal("a handed-over buffer still gives its memory")
	}
	b.Free() // a no-op now: the session owns it
	if _, err := s.WriteBuf(w, b, 10); err == nil {
		t.Fatal("a buffer was handed over twice")
	}
}

func TestEPIPE(t *testing.T) {
	src := tempFile(t, pattern(big))
	r, w := pipe(t)
	r.Close()
	s := newSession(t)
	n, err := s.Copy(w, src)
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Copy = %d, %v; want EPIPE", n, err)
	}
	var oe *splicer.OpError
	if !errors.As(err, &oe) || oe.Op != "copy" || oe.Method != splicer.MethodSplice {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "splice") {
		t.Fatalf("message %q", err.Error())
	}
}

func TestBadFD(t *testing.T) {
	src := tempFile(t, pattern(10))
	dst := tempFile(t, nil)
	dst.Close()
	_, err := splicer.Copy(dst, src)
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("closed destination: %v", err)
	}
	ro, err := os.Open(src.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := splicer.Copy(ro, src); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("read-only destination: %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	_, b := tcpPair(t)
	dst := tempFile(t, nil)
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := splicer.Copy(dst, b)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Copy: %v; want a deadline error", err)
	}
	var oe *splicer.OpError
	if !errors.As(err, &oe) || !oe.Timeout() {
		t.Fatalf("error %#v is not a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// A write deadline that passes with bytes held by the session: they are
// pending, a new transfer is EBUSY, and Resume delivers them once the
// reader reads again.  No byte is lost or duplicated.
func TestWriteDeadlinePendingResume(t *testing.T) {
	data := pattern(8 << 20)
	src := tempFile(t, data)
	a, b := tcpPair(t)
	// a socket source makes the transfer staged (through the session's
	// pipe), so bytes can be held when the destination blocks
	c, d := tcpPair(t)
	go func() { c.Write(data); c.Close() }()
	_ = src
	s := newSession(t)
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n1, err := s.Copy(a, d)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Copy = %d, %v; want a deadline error", n1, err)
	}
	p, _ := s.Progress()
	if p.Delivered != uint64(n1) || p.Consumed != p.Delivered+p.Pending {
		t.Fatalf("progress %+v after %d", p, n1)
	}
	if p.Pending > 0 {
		if _, err := s.Copy(tempFile(t, nil), tempFile(t, data)); !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("new transfer with pending bytes: %v", err)
		}
	}
	a.SetWriteDeadline(time.Time{})
	got := drain(b)
	n2, err := s.Resume()
	a.Close()
	if err != nil {
		t.Fatalf("Resume = %d, %v", n2, err)
	}
	if n1+n2 != int64(len(data)) {
		t.Fatalf("delivered %d + %d of %d", n1, n2, len(data))
	}
	sameBytes(t, <-got, data)
}

func TestAbort(t *testing.T) {
	data := pattern(8 << 20)
	a, b := tcpPair(t)
	c, d := tcpPair(t)
	go func() { c.Write(data); c.Close() }()
	s := newSession(t)
	a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.Copy(a, d); err == nil {
		t.Fatal("no deadline error")
	}
	p, _ := s.Progress()
	dropped, err := s.Abort()
	if err != nil || uint64(dropped) != p.Pending {
		t.Fatalf("Abort = %d, %v; pending was %d", dropped, err, p.Pending)
	}
	_ = b
	if n, err := s.Copy(tempFile(t, nil), tempFile(t, []byte("x"))); n != 1 || err != nil {
		t.Fatalf("session unusable after Abort: %d, %v", n, err)
	}
}

func TestCopyContextCancel(t *testing.T) {
	a, b := tcpPair(t)
	dst := tempFile(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := splicer.CopyContext(ctx, dst, b)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CopyContext: %v", err)
	}
	// the deadline used to interrupt the wait is cleared afterwards
	a.Write([]byte("x"))
	if n, err := b.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after cancel: %d, %v", n, err)
	}
	// already cancelled: nothing moves
	data := pattern(1000)
	if n, err := splicer.CopyContext(ctx, tempFile(t, nil), tempFile(t, data)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled CopyContext = %d, %v", n, err)
	}
	// not cancelled: an ordinary copy
	if n, err := splicer.CopyContext(context.Background(), tempFile(t, nil), tempFile(t, data)); n != 1000 || err != nil {
		t.Fatalf("CopyContext = %d, %v", n, err)
	}
}

func TestCloseInterruptsTransfer(t *testing.T) {
	_, b := tcpPair(t)
	dst := tempFile(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := splicer.Copy(dst, b)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Copy after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the transfer")
	}
}

func TestSessionClose(t *testing.T) {
	s, err := splicer.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := s.Copy(tempFile(t, nil), tempFile(t, []byte("x"))); !errors.Is(err, splicer.ErrClosed) {
		t.Fatalf("Copy on a closed session: %v", err)
	}
	if _, err := s.Stats(); !errors.Is(err, splicer.ErrClosed) {
		t.Fatalf("Stats on a closed session: %v", err)
	}
}

func TestOptions(t *testing.T) {
	s := newSession(t, splicer.WithPipeSize(65536), splicer.WithChunk(4096), splicer.WithFallback(false))
	if n, err := s.PipeSize(); err != nil || n != 65536 {
		t.Fatalf("PipeSize = %d, %v", n, err)
	}
	if _, err := splicer.New(splicer.WithChunk(0)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("chunk 0: %v", err)
	}
	if _, err := splicer.New(splicer.WithMethods()); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("no methods: %v", err)
	}
	// only read/write allowed: file -> file still works, through read/write
	rw := newSession(t, splicer.WithMethods(splicer.MethodReadWrite))
	data := pattern(300000)
	dst := tempFile(t, nil)
	if n, err := rw.Copy(dst, tempFile(t, data)); err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	sameBytes(t, readAll(t, dst), data)
	if st, _ := rw.Stats(); st.ByMethod[splicer.MethodReadWrite] != uint64(len(data)) {
		t.Fatalf("stats %+v", st)
	}
	// no allowed method applies
	cfr := newSession(t, splicer.WithMethods(splicer.MethodCopyFileRange))
	r, _ := pipe(t)
	if _, err := cfr.Copy(dst, r); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("no method: %v", err)
	}
}

func TestConcurrentUseOfOneSession(t *testing.T) {
	s := newSession(t)
	data := pattern(200000)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := tempFile(t, nil)
			if n, err := s.Copy(dst, tempFile(t, data)); err != nil || n != int64(len(data)) {
				t.Errorf("Copy = %d, %v", n, err)
			}
		}()
	}
	wg.Wait()
	if st, _ := s.Stats(); st.Bytes != 8*uint64(len(data)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestMethodFor(t *testing.T) {
	f := tempFile(t, nil)
	r, w := pipe(t)
	_ = r
	if m, err := splicer.MethodFor(int(f.Fd()), int(w.Fd())); err != nil || m != splicer.MethodSplice {
		t.Fatalf("MethodFor = %v, %v", m, err)
	}
	if _, err := splicer.MethodFor(-1, 1); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("MethodFor(-1): %v", err)
	}
	if splicer.MethodSendfile.String() != "sendfile" || splicer.Version() == "" {
		t.Fatal("names")
	}
}

// blockingPipe is a pipe whose ends are in blocking mode, as an inherited
// standard input or output would be: the runtime does not poll it.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// A pipe the runtime does not poll is written and read in blocking mode,
// more than a pipe's worth, in both directions.
func TestBlockingPipe(t *testing.T) {
	data := pattern(1 << 20)
	r, w := blockingPipe(t)
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	if n, err := splicer.Copy(w, tempFile(t, data)); n != int64(len(data)) || err != nil {
		t.Fatalf("file -> blocking pipe: %d, %v", n, err)
	}
	w.Close()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("blocking pipe got %d bytes, want %d", len(b), len(data))
	}

	r2, w2 := blockingPipe(t)
	go func() { w2.Write(data); w2.Close() }()
	dst := tempFile(t, nil)
	if n, err := splicer.Copy(dst, r2); n != int64(len(data)) || err != nil {
		t.Fatalf("blocking pipe -> file: %d, %v", n, err)
	}
	if b, _ := os.ReadFile(dst.Name()); !bytes.Equal(b, data) {
		t.Fatal("file differs")
	}
}
