package splicer_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"splicer.dev/splicer"
)

// wantErrno checks that err is an *OpError of op wrapping errno.
func wantErrno(t *testing.T, what string, err error, op string, errno syscall.Errno) {
	t.Helper()
	var oe *splicer.OpError
	if !errors.As(err, &oe) || oe.Op != op || !errors.Is(err, errno) {
		t.Fatalf("%s: got %v (%T), want an OpError %q wrapping %v", what, err, err, op, errno)
	}
}

func TestKeepErrors(t *testing.T) {
	s := newSession(t)
	var files []*os.File
	for i := 0; i < splicer.KeepMax+1; i++ {
		files = append(files, tempFile(t, []byte("x")))
	}
	for i := 0; i < splicer.KeepMax; i++ {
		if err := s.Keep(files[i]); err != nil {
			t.Fatalf("Keep #%d: %v", i, err)
		}
	}
	wantErrno(t, "Keep of a ninth fd", s.Keep(files[splicer.KeepMax]), "keep", syscall.ENOSPC)
	if err := s.Keep(files[3]); err != nil {
		t.Fatalf("Keep of a kept fd again (a replacement, not a slot): %v", err)
	}
	wantErrno(t, "Forget of an fd not kept", s.Forget(files[splicer.KeepMax]), "forget", syscall.ENOENT)
	if err := s.Forget(files[0]); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "second Forget", s.Forget(files[0]), "forget", syscall.ENOENT)
	if err := s.Keep(files[splicer.KeepMax]); err != nil {
		t.Fatalf("Keep into a forgotten slot: %v", err)
	}

	// kinds the library does not know
	wantErrno(t, "KeepAs unknown|nonblock", s.KeepAs(files[0], splicer.FDUnknown|splicer.FDNonblock), "keep", syscall.EINVAL)
	wantErrno(t, "KeepAs 5", s.KeepAs(files[0], 5), "keep", syscall.EINVAL)

	if err := s.ForgetAll(); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "Forget after ForgetAll", s.Forget(files[1]), "forget", syscall.ENOENT)
	if err := s.ForgetAll(); err != nil {
		t.Fatalf("ForgetAll of nothing: %v", err)
	}

	// a descriptor that is not open
	wantErrno(t, "Keep of FD(-1)", s.Keep(splicer.FD(-1)), "keep", syscall.EBADF)
	wantErrno(t, "KeepAs of FD(-1) as a stream", s.KeepAs(splicer.FD(-1), splicer.FDStream|splicer.FDNonblock), "keep", syscall.EBADF)
	closed := tempFile(t, nil)
	closed.Close()
	err := s.Keep(closed)
	wantErrno(t, "Keep of a closed *os.File", err, "keep", syscall.EBADF)
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Keep of a closed *os.File: %v is not os.ErrClosed", err)
	}
	a, _ := tcpPair(t)
	a.Close()
	err = s.Keep(a)
	wantErrno(t, "Keep of a closed *net.TCPConn", err, "keep", syscall.EBADF)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Keep of a closed *net.TCPConn: %v is not net.ErrClosed", err)
	}
	// a pipe (not a syscall.Conn) has no descriptor
	pr, _ := io.Pipe()
	wantErrno(t, "Keep of an io.PipeReader", s.Keep(pr), "keep", syscall.EBADF)

	// a file closed while kept (against the rule) is still forgotten by
	// the object it was kept from, and its slot is free again
	for i := 0; i < splicer.KeepMax; i++ {
		if err := s.Keep(files[i]); err != nil {
			t.Fatal(err)
		}
	}
	files[2].Close()
	if err := s.Forget(files[2]); err != nil {
		t.Fatalf("Forget of a kept file closed since: %v", err)
	}
	wantErrno(t, "second Forget of a closed file", s.Forget(files[2]), "forget", syscall.ENOENT)
	if err := s.Keep(files[splicer.KeepMax]); err != nil {
		t.Fatalf("Keep after forgetting a closed file: %v", err)
	}

	s.Close()
	if err := s.Keep(files[0]); !errors.Is(err, splicer.ErrClosed) {
		t.Fatalf("Keep on a closed session: %v", err)
	}
	if err := s.ForgetAll(); !errors.Is(err, splicer.ErrClosed) {
		t.Fatalf("ForgetAll on a closed session: %v", err)
	}
}

func TestKindOf(t *testing.T) {
	a, _ := tcpPair(t)
	u, _ := unixPair(t)
	pc, _ := socketPair(t, "unixpacket")
	dir := t.TempDir()
	g, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "g"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// an unnamed socket of a socketpair, through net.FileConn
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f0 := os.NewFile(uintptr(fds[0]), "sp0")
	defer f0.Close()
	syscall.Close(fds[1])
	fc, err := net.FileConn(f0)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	r, _ := pipe(t)
	nb := splicer.FDNonblock
	for _, c := range []struct {
		name string
		v    any
		want splicer.FDKind
	}{
		{"tcp", a, splicer.FDStream | nb},
		{"unix", u, splicer.FDStream | nb},
		{"unixpacket", pc, splicer.FDSeqpacket | nb},
		{"unixgram", g, splicer.FDDgram | nb},
		{"udp", udp, splicer.FDDgram | nb},
		{"socketpair dgram", fc, splicer.FDDgram | nb},
		{"pipe", r, splicer.FDUnknown},
		{"FD", splicer.FD(0), splicer.FDUnknown},
		{"nil", nil, splicer.FDUnknown},
	} {
		if got := splicer.KindOf(c.v); got != c.want {
			t.Errorf("KindOf(%s) = %#x, want %#x", c.name, got, c.want)
		}
	}
}

// readExactly reads n bytes from r.
func readExactly(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Two kept TCP connections relay one way and then the other, every byte,
// and stay kept through the copies.
func TestKeepTCPBothDirections(t *testing.T) {
	a, b := tcpPair(t)
	c, d := tcpPair(t)
	s := newSession(t)
	if err := s.Keep(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(c); err != nil {
		t.Fatal(err)
	}
	up, down := pattern(big), pattern(4096)
	// a -> b => c -> d
	sendAndClose(t, a, up, a.CloseWrite)
	got := make(chan []byte, 1)
	go func() { got <- readExactlyNoT(d, len(up)) }()
	n, err := s.Copy(c, b)
	if err != nil || n != int64(len(up)) {
		t.Fatalf("Copy up = %d, %v", n, err)
	}
	sameBytes(t, <-got, up)
	// d -> c => b -> a
	sendAndClose(t, d, down, d.CloseWrite)
	n, err = s.Copy(b, c)
	if err != nil || n != int64(len(down)) {
		t.Fatalf("Copy down = %d, %v", n, err)
	}
	b.CloseWrite()
	all, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, all, down)
	st, _ := s.Stats()
	if st.Bytes != uint64(len(up)+len(down)) || st.ByMethod[splicer.MethodSplicePipe] != st.Bytes {
		t.Fatalf("stats %+v", st)
	}
	for _, conn := range []*net.TCPConn{b, c} {
		if err := s.Forget(conn); err != nil {
			t.Fatalf("Forget of a kept connection after the copies: %v", err)
		}
		wantErrno(t, "second Forget", s.Forget(conn), "forget", syscall.ENOENT)
	}
}

// sendAndClose writes data to c from a goroutine and then ends it with
// end (Close, CloseWrite); the test waits for the goroutine before it ends,
// closing c first should the test have failed before reading everything.
func sendAndClose(t *testing.T, c io.WriteCloser, data []byte, end func() error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Write(data)
		end()
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			c.Close()
			<-done
		}
	})
}

func readExactlyNoT(r io.Reader, n int) []byte {
	b := make([]byte, n)
	k, _ := io.ReadFull(r, b)
	return b[:k]
}

// A descriptor the caller kept stays kept through Copy, CopyN and Open on
// it, although Copy keeps and forgets net connections on its own.
func TestUserKeptSurvivesCopy(t *testing.T) {
	s := newSession(t)
	data := pattern(4096)
	a, b := tcpPair(t)
	src := tempFile(t, data)
	if err := s.Keep(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(src); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() { got <- readExactlyNoT(b, 3*len(data)) }()
	if n, err := s.Copy(a, src); err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	src.Seek(0, io.SeekStart)
	if n, err := s.CopyN(a, src, int64(len(data))); err != nil || n != int64(len(data)) {
		t.Fatalf("CopyN = %d, %v", n, err)
	}
	src.Seek(0, io.SeekStart)
	if err := s.Open(a, splicer.OffCur, src, splicer.OffCur, -1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Run(); err != nil || n != int64(len(data)) {
		t.Fatalf("Run = %d, %v", n, err)
	}
	all := <-got
	for i := 0; i < 3; i++ {
		sameBytes(t, all[i*len(data):(i+1)*len(data)], data)
	}
	for _, f := range []any{a, src} {
		if err := s.Forget(f); err != nil {
			t.Fatalf("Forget of %T after the copies: %v", f, err)
		}
		wantErrno(t, "second Forget", s.Forget(f), "forget", syscall.ENOENT)
	}
}

// Copy keeps a net connection for its open only: it leaves no slot taken,
// and with every slot taken by the caller it still copies.
func TestCopyLeavesKeepTableAlone(t *testing.T) {
	s := newSession(t)
	var files []*os.File
	for i := 0; i < splicer.KeepMax+1; i++ {
		files = append(files, tempFile(t, nil))
	}
	copyTCP := func() {
		t.Helper()
		a, b := tcpPair(t)
		c, d := tcpPair(t)
		data := pattern(4096 + 17)
		sendAndClose(t, a, data, a.Close)
		got := drain(d)
		n, err := s.Copy(c, b)
		c.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("Copy = %d, %v", n, err)
		}
		sameBytes(t, <-got, data)
	}
	for i := 0; i < splicer.KeepMax-1; i++ {
		if err := s.Keep(files[i]); err != nil {
			t.Fatal(err)
		}
	}
	copyTCP() // one slot free: Copy keeps one end there for its open
	if err := s.Keep(files[splicer.KeepMax-1]); err != nil {
		t.Fatalf("the eighth Keep after a Copy: %v (did Copy leave an fd kept?)", err)
	}
	copyTCP() // no slot free: the open classifies the ends
	wantErrno(t, "a ninth Keep after Copy", s.Keep(files[splicer.KeepMax]), "keep", syscall.ENOSPC)
	for i := 0; i < splicer.KeepMax; i++ {
		if err := s.Forget(files[i]); err != nil {
			t.Fatalf("Forget #%d: %v", i, err)
		}
	}
}

// splicer.Copy on connections (kept for the open only, as their types
// say) moves every byte, at 4 KiB many times over (pooled sessions) and
// at several MiB.
func TestCopyNetConnsEveryByte(t *testing.T) {
	for _, size := range []int{0, 1, 4096, big} {
		rounds := 1
		if size == 4096 {
			rounds = 20
		}
		for i := 0; i < rounds; i++ {
			data := pattern(size + i)
			// TCP -> TCP
			a, b := tcpPair(t)
			c, d := tcpPair(t)
			sendAndClose(t, a, data, a.Close)
			got := drain(d)
			n, err := splicer.Copy(c, b)
			c.Close()
			if err != nil || n != int64(len(data)) {
				t.Fatalf("tcp->tcp %d: Copy = %d, %v", len(data), n, err)
			}
			sameBytes(t, <-got, data)
			// file -> TCP
			src := tempFile(t, data)
			e, f := tcpPair(t)
			got = drain(f)
			n, err = splicer.Copy(e, src)
			e.Close()
			if err != nil || n != int64(len(data)) {
				t.Fatalf("file->tcp %d: Copy = %d, %v", len(data), n, err)
			}
			sameBytes(t, <-got, data)
			// unix -> unix, then TCP -> unix and unix -> file
			u, v := unixPair(t)
			w, x := unixPair(t)
			sendAndClose(t, u, data, u.Close)
			got = drain(x)
			n, err = splicer.Copy(w, v)
			w.Close()
			if err != nil || n != int64(len(data)) {
				t.Fatalf("unix->unix %d: Copy = %d, %v", len(data), n, err)
			}
			sameBytes(t, <-got, data)
			g, h := tcpPair(t)
			p, q := unixPair(t)
			sendAndClose(t, g, data, g.Close)
			got = drain(q)
			n, err = splicer.Copy(p, h)
			p.Close()
			if err != nil || n != int64(len(data)) {
				t.Fatalf("tcp->unix %d: Copy = %d, %v", len(data), n, err)
			}
			sameBytes(t, <-got, data)
			y, z := unixPair(t)
			dst := tempFile(t, nil)
			sendAndClose(t, y, data, y.Close)
			n, err = splicer.Copy(dst, z)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("unix->file %d: Copy = %d, %v", len(data), n, err)
			}
			sameBytes(t, readAll(t, dst), data)
		}
	}
}

// A unixgram destination is known to be a datagram socket from its type:
// one write per datagram, at most 32 KiB each from a file.
func TestCopyFileToUnixgram(t *testing.T) {
	dir := t.TempDir()
	ra := &net.UnixAddr{Name: filepath.Join(dir, "r"), Net: "unixgram"}
	r, err := net.ListenUnixgram("unixgram", ra)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetReadBuffer(1 << 20)
	w, err := net.DialUnix("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "w"), Net: "unixgram"}, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetWriteBuffer(1 << 20)
	data := pattern(40000)
	n, err := splicer.Copy(w, tempFile(t, data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	var got []byte
	var sizes []int
	buf := make([]byte, 65536)
	for len(got) < len(data) {
		k, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, k)
		got = append(got, buf[:k]...)
	}
	sameBytes(t, got, data)
	if len(sizes) != 2 || sizes[0] != 32768 {
		t.Fatalf("datagrams of %v bytes, want 32768 and the rest", sizes)
	}
}
