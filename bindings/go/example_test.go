package splicer_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"splicer.dev/splicer"
)

// Copy is io.Copy that moves the bytes in the kernel when both sides have
// a file descriptor.
func ExampleCopy() {
	dir, _ := os.MkdirTemp("", "splicer-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "in"), []byte("hello, kernel\n"), 0600)
	src, _ := os.Open(filepath.Join(dir, "in"))
	defer src.Close()
	dst, _ := os.Create(filepath.Join(dir, "out"))
	defer dst.Close()

	n, err := splicer.Copy(dst, src) // copy_file_range
	if err != nil {
		log.Fatal(err)
	}
	out, _ := os.ReadFile(dst.Name())
	fmt.Print(n, " ", string(out))
	// Output: 14 hello, kernel
}

// A Session reports how its bytes moved.
func ExampleSession_Stats() {
	s, err := splicer.New(splicer.WithPipeSize(1 << 16))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	r, w, _ := os.Pipe()
	go func() {
		io.Copy(w, strings.NewReader(strings.Repeat("x", 100000)))
		w.Close()
	}()
	null, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer null.Close()
	n, _ := s.Copy(null, r) // a pipe at one end: splice
	st, _ := s.Stats()
	fmt.Println(n, st.ByMethod[splicer.MethodSplice])
	// Output: 100000 100000
}

// Tee sends the same bytes to several destinations.
func ExampleSession_Tee() {
	s, _ := splicer.New()
	defer s.Close()
	src, w, _ := os.Pipe()
	w.WriteString("fan-out")
	w.Close()
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	n, err := s.Tee(src, w1, w2)
	w1.Close()
	w2.Close()
	a, _ := io.ReadAll(r1)
	b, _ := io.ReadAll(r2)
	fmt.Println(n, err, string(a), string(b))
	// Output: 7 <nil> fan-out fan-out
}

// Errors wrap the kernel's errno.
func ExampleOpError() {
	r, w, _ := os.Pipe()
	r.Close() // the reader is gone
	src, _ := os.Open("/proc/self/exe")
	defer src.Close()
	_, err := splicer.Copy(w, src)
	fmt.Println(errors.Is(err, syscall.EPIPE))
	var oe *splicer.OpError
	if errors.As(err, &oe) {
		fmt.Println(oe.Op, oe.Method)
	}
	// Output:
	// true
	// copy splice
}

// A sealed buffer is handed to the session, which vmsplices its pages.
func ExampleSession_WriteBuf() {
	b, _ := splicer.NewBuf(4096)
	n := copy(b.Bytes(), "page-backed bytes")
	s, _ := splicer.New()
	defer s.Close()
	r, w, _ := os.Pipe()
	written, err := s.WriteBuf(w, b, n) // b now belongs to s
	w.Close()
	got, _ := io.ReadAll(r)
	fmt.Println(written, err, string(got))
	// Output: 17 <nil> page-backed bytes
}

// The pipe pool is shared by every transfer of the process: a proxy caps
// it, and a batch that finds no pipe goes through read/write instead.
func ExampleSetPoolLimits() {
	oldPipes, oldIdle := splicer.PoolLimits()
	defer splicer.SetPoolLimits(oldPipes, oldIdle)

	if err := splicer.SetPoolLimits(8, 4); err != nil {
		log.Fatal(err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	a, b, _ := os.Pipe()
	defer a.Close()
	go func() { w.WriteString("through the pool\n"); w.Close() }()
	// pipe -> pipe splices directly: no pool pipe needed
	go func() { splicer.Copy(b, r); b.Close() }()
	out, _ := io.ReadAll(a)
	st := splicer.ReadPoolStats()
	fmt.Print(string(out), st.InUse, " pipes in use\n")
	if err := splicer.SetPoolLimits(-1, 0); errors.Is(err, syscall.EINVAL) {
		fmt.Println("a negative cap is EINVAL")
	}
	// Output:
	// through the pool
	// 0 pipes in use
	// a negative cap is EINVAL
}

// A server that writes many files to one socket keeps the socket in its
// session: later copies to it make no syscall to classify it.
func ExampleSession_Keep() {
	dir, _ := os.MkdirTemp("", "splicer-example")
	defer os.RemoveAll(dir)
	r, w, _ := os.Pipe() // stands for the socket
	defer r.Close()
	s, err := splicer.New()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Keep(w); err != nil { // classified now, once
		log.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(name), 0600)
		f, _ := os.Open(p)
		s.Copy(w, f)
		f.Close()
	}
	if err := s.Forget(w); err != nil { // before closing it
		log.Fatal(err)
	}
	w.Close()
	all, _ := io.ReadAll(r)
	fmt.Println(string(all))
	err = s.Forget(w)
	fmt.Println(errors.Is(err, syscall.ENOENT))
	// Output:
	// abc
	// true
}
