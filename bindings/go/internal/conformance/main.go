// Command conformance runs the shared cases of tests/cases through the Go
// binding and prints one line per case in the format every runner prints
// (tests/README.md): "<id> PASS", "<id> FAIL <detail>", "<id> SKIP
// <reason>", then "<P> passed, <F> failed, <S> skipped".
//
// Session and transfer ops use the idiomatic package (copy is
// Session.Copy/CopyN, driven as ordinary Go code drives it); raw ops use
// the raw sub-package.  Fixtures are *os.File values wrapped around
// descriptors made with the syscalls the suite names, so that blocking
// descriptors stay blocking as in every other runner.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"splicer.dev/splicer"
	"splicer.dev/splicer/raw"
)

type caseFile struct {
	Cases []map[string]any `json:"cases"`
}

var tmpRoot string

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: conformance CASES...")
		os.Exit(2)
	}
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "*.json"))
			sort.Strings(m)
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	var err error
	tmpRoot, err = os.MkdirTemp("", "splicer-go-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmpRoot)
	readPoolDefaults()
	var p, f, s int
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var cf caseFile
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if err := dec.Decode(&cf); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		for _, c := range cf.Cases {
			id, _ := c["id"].(string)
			status, detail := runWithTimeout(c)
			switch status {
			case "PASS":
				p++
				fmt.Println(id + " PASS")
			case "SKIP":
				s++
				fmt.Println(id + " SKIP " + detail)
			default:
				f++
				fmt.Println(id + " FAIL " + detail)
			}
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", p, f, s)
	if f > 0 {
		os.Exit(1)
	}
}

type outcome struct{ status, detail string }

func runWithTimeout(c map[string]any) (string, string) {
	ch := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- outcome{"FAIL", fmt.Sprintf("panic: %v", r)}
			}
		}()
		st, d := runCase(c)
		ch <- outcome{st, d}
	}()
	select {
	case o := <-ch:
		return o.status, o.detail
	case <-time.After(20 * time.Second):
		return "FAIL", "timeout"
	}
}

// ---- data -------------------------------------------------------------------

func patternByte(seed uint32, i uint64) byte {
	x := seed + uint32(i)*2654435761
	x ^= x >> 16
	return byte(x ^ (x >> 8))
}

func dataOf(spec any) ([]byte, error) {
	m, ok := spec.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("bad data spec %v", spec)
	}
	size := num(m["size"], 0)
	seed := num(m["seed"], 1)
	off := num(m["offset"], 0)
	b := make([]byte, size)
	if z, _ := m["zero"].(bool); z {
		return b, nil
	}
	for i := range b {
		b[i] = patternByte(uint32(seed), uint64(off)+uint64(i))
	}
	return b, nil
}

func fnv(b []byte) string {
	h := uint64(0xcbf29ce484222325)
	for _, c := range b {
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	return fmt.Sprintf("%016x", h)
}

func num(v any, def int64) int64 {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			f, _ := x.Float64()
			return int64(f)
		}
		return n
	case nil:
		return def
	}
	return def
}

func isNum(v any) bool { _, ok := v.(json.Number); return ok }

// ---- fixtures -----------------------------------------------------------------

type fixture struct {
	name, kind string
	end        string // pipe: "r" or "w"
	fd         int
	obj        any      // what the idiomatic API is given
	file       *os.File // owner of fd, nil for invalid
	peer       int      // -1: none or closed
	peerClosed bool     // closed by the case: not read again
	path       string
	mount      string
	readable   bool
	arrived    []byte
	reader     chan []byte
	dgram      bool // datagram fixture: the peer reads whole datagrams
	maxDgram   int  // largest datagram the peer received
}

type skipError string

func (e skipError) Error() string { return string(e) }

var skipTmpfs = skipError("cannot mount tmpfs")

func setupFixture(m map[string]any, dir string, fixtures map[string]*fixture) (*fixture, error) {
	fx := &fixture{name: m["name"].(string), kind: m["kind"].(string), fd: -1, peer: -1}
	var data []byte
	if d, ok := m["data"]; ok {
		var err error
		if data, err = dataOf(d); err != nil {
			return fx, err
		}
	}
	bflag := func(k string) bool { b, _ := m[k].(bool); return b }
	switch fx.kind {
	case "file":
		if other, ok := m["same_as"].(string); ok {
			o := fixtures[other]
			if o == nil || o.kind != "file" || o.path == "" {
				return fx, fmt.Errorf("same_as %s is not an earlier file fixture", other)
			}
			fx.path = o.path
			if err := openFile(fx, m); err != nil {
				return fx, err
			}
			break
		}
		fdir := dir
		if t, ok := m["tmpfs"].(map[string]any); ok {
			fdir = filepath.Join(dir, "tmpfs-"+fx.name)
			if err := os.Mkdir(fdir, 0700); err != nil {
				return fx, err
			}
			if err := syscall.Mount("tmpfs", fdir, "tmpfs", 0, fmt.Sprintf("size=%d", num(t["size"], 0))); err != nil {
				return fx, skipTmpfs
			}
			fx.mount = fdir
		}
		fx.path = filepath.Join(fdir, fx.name)
		if err := os.WriteFile(fx.path, data, 0600); err != nil {
			return fx, err
		}
		if err := openFile(fx, m); err != nil {
			return fx, err
		}
	case "memfd":
		name := []byte("splicer-conformance\x00")
		fd, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(&name[0])), 1 /* MFD_CLOEXEC */, 0)
		if e != 0 {
			return fx, e
		}
		fx.fd, fx.readable = int(fd), true
		if err := writeAll(fx.fd, data); err != nil {
			return fx, err
		}
		if _, err := syscall.Seek(fx.fd, num(m["pos"], 0), io.SeekStart); err != nil {
			return fx, err
		}
	case "pipe":
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return fx, err
		}
		fx.end, _ = m["end"].(string)
		if fx.end == "r" {
			fx.fd, fx.peer = p[0], p[1]
		} else {
			fx.fd, fx.peer = p[1], p[0]
		}
		if c, ok := m["capacity"]; ok {
			if _, err := raw.SetPipeSize(fx.fd, int(num(c, 0))); err != nil {
				return fx, err
			}
		}
		if err := peerSetup(fx, m, data, false); err != nil {
			return fx, err
		}
	case "socketpair", "tcp":
		var fd, peer int
		var err error
		if fx.kind == "tcp" {
			fd, peer, err = tcpPair()
		} else {
			var p [2]int
			p, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			fd, peer = p[0], p[1]
		}
		if err != nil {
			return fx, err
		}
		fx.fd, fx.peer = fd, peer
		if v, ok := m["sndbuf"]; ok {
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, int(num(v, 0))); err != nil {
				return fx, err
			}
		}
		if v, ok := m["rcvbuf"]; ok {
			if err := syscall.SetsockoptInt(peer, syscall.SOL_SOCKET, syscall.SO_RCVBUF, int(num(v, 0))); err != nil {
				return fx, err
			}
		}
		if err := peerSetup(fx, m, data, true); err != nil {
			return fx, err
		}
	case "udp_pair", "unix_dgram_pair":
		var err error
		if fx.fd, fx.peer, err = dgramPair(fx.kind == "udp_pair"); err != nil {
			return fx, err
		}
		fx.dgram = true
		if v, ok := m["sndbuf"]; ok {
			syscall.SetsockoptInt(fx.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, int(num(v, 0)))
		}
		if v, ok := m["rcvbuf"]; ok {
			syscall.SetsockoptInt(fx.peer, syscall.SOL_SOCKET, syscall.SO_RCVBUF, int(num(v, 0)))
		}
	case "dev_null", "dev_zero", "proc_file":
		path, flags := "/dev/null", syscall.O_RDWR
		if fx.kind == "dev_zero" {
			path, flags = "/dev/zero", syscall.O_RDONLY
		} else if fx.kind == "proc_file" {
			path, flags = m["path"].(string), syscall.O_RDONLY
		}
		fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fx, err
		}
		fx.fd = fd
	case "invalid":
		fx.obj = splicer.FD(-1)
		return fx, nil
	default:
		return fx, fmt.Errorf("unsupported fixture kind %q", fx.kind)
	}
	if bflag("nonblock") {
		if err := syscall.SetNonblock(fx.fd, true); err != nil {
			return fx, err
		}
	}
	// Wrapped last, so that os sees the descriptor's final blocking mode:
	// a blocking one stays blocking and outside the runtime's poller.
	fx.file = os.NewFile(uintptr(fx.fd), fx.name)
	fx.obj = fx.file
	return fx, nil
}

// openFile opens fx.path with the fixture's mode, append and pos.
func openFile(fx *fixture, m map[string]any) error {
	flags := syscall.O_RDWR
	fx.readable = true
	switch m["mode"] {
	case "r":
		flags = syscall.O_RDONLY
	case "w":
		flags = syscall.O_WRONLY
		fx.readable = false
	}
	if b, _ := m["append"].(bool); b {
		flags |= syscall.O_APPEND
	}
	fd, err := syscall.Open(fx.path, flags|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fx.fd = fd
	_, err = syscall.Seek(fd, num(m["pos"], 0), io.SeekStart)
	return err
}

// dgramPair returns the fixture's fd and its peer: two UDP sockets on
// 127.0.0.1 connected to each other, or socketpair(AF_UNIX, SOCK_DGRAM).
func dgramPair(udp bool) (int, int, error) {
	if !udp {
		p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		return p[0], p[1], err
	}
	var fds [2]int
	var addrs [2]syscall.Sockaddr
	closeAll := func() {
		for _, fd := range fds {
			if fd > 0 {
				syscall.Close(fd)
			}
		}
	}
	for k := range fds {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return -1, -1, err
		}
		fds[k] = fd
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			closeAll()
			return -1, -1, err
		}
		if addrs[k], err = syscall.Getsockname(fd); err != nil {
			closeAll()
			return -1, -1, err
		}
	}
	for k := range fds {
		if err := syscall.Connect(fds[k], addrs[1-k]); err != nil {
			closeAll()
			return -1, -1, err
		}
	}
	return fds[0], fds[1], nil
}

// recvDatagram receives one whole datagram the peer has within ms
// milliseconds into fx.arrived.  ok is false when none came; n is its
// length (0 for an empty datagram).
func recvDatagram(fx *fixture, ms int) (n int, ok bool) {
	if fx.peer < 0 || !pollIn(fx.peer, ms) {
		return 0, false
	}
	buf := make([]byte, 65536)
	for {
		n, _, err := syscall.Recvfrom(fx.peer, buf, syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, false
		}
		fx.maxDgram = max(fx.maxDgram, n)
		fx.arrived = append(fx.arrived, buf[:n]...)
		return n, true
	}
}

func peerSetup(fx *fixture, m map[string]any, data []byte, socket bool) error {
	tcp := fx.kind == "tcp"
	if len(data) > 0 {
		if err := writeAll(fx.peer, data); err != nil {
			return err
		}
		if tcp {
			waitTCPBytes(fx.fd, len(data))
		}
	}
	if b, _ := m["eof"].(bool); b {
		if socket {
			syscall.Shutdown(fx.peer, syscall.SHUT_WR)
			if tcp {
				waitTCPFin(fx.fd)
			}
		} else {
			syscall.Close(fx.peer)
			fx.peer = -1
		}
	}
	if b, _ := m["peer_closed"].(bool); b && fx.peer >= 0 {
		syscall.Close(fx.peer)
		fx.peer = -1
		fx.peerClosed = true
	}
	if r, ok := m["reader"].(map[string]any); ok && fx.peer >= 0 {
		reads := []int{65536}
		if l, ok := r["reads"].([]any); ok && len(l) > 0 {
			reads = reads[:0]
			for _, v := range l {
				reads = append(reads, int(num(v, 65536)))
			}
		}
		pause := time.Duration(num(r["pause_ms"], 0)) * time.Millisecond
		fx.reader = make(chan []byte, 1)
		peer := fx.peer
		go func() {
			var got []byte
			for k := 0; ; k++ {
				if pause > 0 {
					time.Sleep(pause)
				}
				buf := make([]byte, reads[k%len(reads)])
				n, err := syscall.Read(peer, buf)
				if n <= 0 || err != nil {
					if err == syscall.EINTR {
						continue
					}
					break
				}
				got = append(got, buf[:n]...)
			}
			fx.reader <- got
		}()
	}
	return nil
}

func tcpPair() (int, int, error) {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	defer syscall.Close(ln)
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, err
	}
	if err := syscall.Listen(ln, 1); err != nil {
		return -1, -1, err
	}
	sa, err := syscall.Getsockname(ln)
	if err != nil {
		return -1, -1, err
	}
	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	if err := syscall.Connect(c, sa); err != nil {
		syscall.Close(c)
		return -1, -1, err
	}
	a, _, err := syscall.Accept4(ln, syscall.SOCK_CLOEXEC)
	if err != nil {
		syscall.Close(c)
		return -1, -1, err
	}
	return c, a, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readable polls fd for input for up to ms milliseconds.
func pollIn(fd int, ms int) bool {
	pfd := struct {
		fd              int32
		events, revents int16
	}{int32(fd), 1 /* POLLIN */, 0}
	n, _, _ := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(ms))
	return n == 1
}

// readNow reads at most max bytes from fd without blocking.
func readNow(fd, max int) []byte {
	if fd < 0 || max <= 0 || !pollIn(fd, 0) {
		return nil
	}
	buf := make([]byte, max)
	n, err := syscall.Read(fd, buf)
	if n <= 0 || err != nil {
		return nil
	}
	return buf[:n]
}

// ---- running a case -----------------------------------------------------------

type env struct {
	s        *splicer.Session // the current session (use_session)
	sessions []*splicer.Session
	names    []string // of sessions, "main" first
	fx       map[string]*fixture
	list     []*fixture
	bufs     []*raw.Buf
}

// The pool's settings as the runner found them: every case starts from
// them, with the idle pipes trimmed and the counters snapshotted
// (tests/README.md section 5.4).
var (
	poolKeys     = []splicer.PoolKey{splicer.PoolMaxPipes, splicer.PoolMaxIdle, splicer.PoolPipeSize}
	poolDefaults []int64
	poolStart    splicer.PoolStats
)

func readPoolDefaults() {
	for _, k := range poolKeys {
		v, _ := splicer.PoolOption(k)
		poolDefaults = append(poolDefaults, v)
	}
}

func resetPool() {
	for i, k := range poolKeys {
		splicer.SetPoolOption(k, poolDefaults[i])
	}
	splicer.TrimPool()
	poolStart = splicer.ReadPoolStats()
}

func runCase(c map[string]any) (status, detail string) {
	if r, ok := c["skip"].(string); ok {
		return "SKIP", r
	}
	resetPool()
	s, err := splicer.New()
	if err != nil {
		return "FAIL", "session: " + err.Error()
	}
	e := &env{s: s, sessions: []*splicer.Session{s}, names: []string{"main"}, fx: map[string]*fixture{}}
	dir, err := os.MkdirTemp(tmpRoot, "case-")
	if err != nil {
		e.closeSessions()
		return "FAIL", err.Error()
	}
	defer func() {
		for _, fx := range e.list {
			if fx.mount != "" {
				syscall.Unmount(fx.mount, 0)
			}
		}
		os.RemoveAll(dir)
	}()
	fixtures, _ := c["fixtures"].([]any)
	for _, f := range fixtures {
		fx, err := setupFixture(f.(map[string]any), dir, e.fx)
		e.fx[fx.name] = fx
		e.list = append(e.list, fx)
		if err != nil {
			e.finish(nil)
			var sk skipError
			if errors.As(err, &sk) {
				return "SKIP", string(sk)
			}
			return "FAIL", fmt.Sprintf("fixture %s: %v", fx.name, err)
		}
	}
	steps, _ := c["steps"].([]any)
	for i, st := range steps {
		m := st.(map[string]any)
		if msg := e.step(m); msg != "" {
			e.finish(nil)
			return "FAIL", fmt.Sprintf("step %d %v: %s", i, m["op"], msg)
		}
	}
	arrived, _ := c["arrived"].([]any)
	if msg := e.finish(arrived); msg != "" {
		return "FAIL", msg
	}
	return "PASS", ""
}

// finish releases everything in the order tests/README.md §3.1 gives and
// checks what arrived.
func (e *env) finish(arrived []any) string {
	e.closeSessions()
	want := map[string]map[string]any{}
	for _, a := range arrived {
		m := a.(map[string]any)
		want[m["fixture"].(string)] = m
	}
	content := map[string][]byte{}
	for name := range want {
		fx := e.fx[name]
		if fx != nil && (fx.kind == "file" || fx.kind == "memfd") {
			content[name] = fileContent(fx)
		}
	}
	for _, fx := range e.list {
		if fx.file != nil {
			fx.file.Close()
		}
		// a pipe read end's peer is the runner's write end
		if fx.kind == "pipe" && fx.end == "r" && fx.peer >= 0 {
			syscall.Close(fx.peer)
			fx.peer = -1
		}
	}
	for _, fx := range e.list {
		if fx.dgram {
			// no end of file: until nothing arrives for 50 ms
			if _, ok := want[fx.name]; ok {
				for {
					if _, ok := recvDatagram(fx, 50); !ok {
						break
					}
				}
			}
			content[fx.name] = fx.arrived
			continue
		}
		if fx.kind != "pipe" && fx.kind != "socketpair" && fx.kind != "tcp" {
			continue
		}
		var got []byte
		if fx.reader != nil {
			select {
			case got = <-fx.reader:
			case <-time.After(10 * time.Second):
			}
		} else if _, ok := want[fx.name]; ok && fx.peer >= 0 && !fx.peerClosed {
			buf := make([]byte, 65536)
			for {
				n, err := syscall.Read(fx.peer, buf)
				if err == syscall.EINTR {
					continue
				}
				if n <= 0 || err != nil {
					break
				}
				got = append(got, buf[:n]...)
			}
		}
		fx.arrived = append(fx.arrived, got...)
		content[fx.name] = fx.arrived
	}
	for _, fx := range e.list {
		if fx.peer >= 0 {
			syscall.Close(fx.peer)
			fx.peer = -1
		}
	}
	for _, b := range e.bufs {
		b.Free()
	}
	msg := ""
	for _, a := range arrived {
		m := a.(map[string]any)
		name := m["fixture"].(string)
		got := content[name]
		size := num(m["size"], -1)
		hash, _ := m["hash"].(string)
		if md, ok := m["max_datagram"]; ok && msg == "" {
			if fx := e.fx[name]; fx != nil && int64(fx.maxDgram) > num(md, 0) {
				msg = fmt.Sprintf("arrived at %s: a datagram of %d bytes, more than %v", name, fx.maxDgram, md)
			}
		}
		if int64(len(got)) != size || fnv(got) != hash {
			if msg == "" {
				msg = fmt.Sprintf("arrived at %s: %d bytes hash %s, want %d bytes hash %s", name, len(got), fnv(got), size, hash)
			}
		}
	}
	return msg
}

// closeSessions frees the sessions, main first, then the others in the
// order use_session created them.
func (e *env) closeSessions() {
	for _, s := range e.sessions {
		s.Close()
	}
}

func fileContent(fx *fixture) []byte {
	var fd int
	if fx.readable {
		fd = fx.fd
	} else {
		var err error
		if fd, err = syscall.Open(fx.path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
			return nil
		}
		defer syscall.Close(fd)
	}
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return nil
	}
	b := make([]byte, st.Size)
	got := 0
	for got < len(b) {
		n, err := syscall.Pread(fd, b[got:], int64(got))
		if n <= 0 || err != nil {
			break
		}
		got += n
	}
	return b[:got]
}

// memfd_create(2) on amd64 and arm64; syscall has no name for it.
var sysMemfdCreate uintptr = map[string]uintptr{"amd64": 319, "arm64": 279, "386": 356, "riscv64": 279, "ppc64le": 360, "s390x": 350}[runtime.GOARCH]
