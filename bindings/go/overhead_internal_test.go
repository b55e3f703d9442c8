package splicer

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"splicer.dev/splicer/internal/capi"
)

func fileWith(t *testing.T, data []byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

func cNonblock(t *testing.T, s *Session) int64 {
	t.Helper()
	v, r := capi.SessionGet(s.h, capi.OptNonblock)
	if r < 0 {
		t.Fatal(syscall.Errno(-r))
	}
	return v
}

// Copy leaves NONBLOCK as its transfer needed it; Get still reports the
// caller's value, and Step and Run run with it.
func TestNonblockRestoredForStepLevelCalls(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, w, err := os.Pipe() // non-blocking, polled
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	src := fileWith(t, []byte("abc"))
	if n, err := s.Copy(w, src); n != 3 || err != nil {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	if v := cNonblock(t, s); v != 1 {
		t.Fatalf("NONBLOCK after Copy to a polled pipe = %d, want 1", v)
	}
	if v, _ := s.Get(OptNonblock); v != 0 {
		t.Fatalf("Get(OptNonblock) = %d, want the caller's 0", v)
	}
	src.Seek(0, io.SeekStart)
	dst := fileWith(t, nil)
	if err := s.Open(dst, OffCur, src, OffCur, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if v := cNonblock(t, s); v != 0 {
		t.Fatalf("NONBLOCK during Run = %d, want the caller's 0", v)
	}
}

// A successful copy leaves no reference to the caller's objects in the
// session, so that a pooled session does not keep them reachable.
func TestReusedCopyForgetsEndpoints(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, dst := fileWith(t, []byte("abc")), fileWith(t, nil)
	if n, err := s.Copy(dst, src); n != 3 || err != nil {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	x := s.cx
	if x == nil || x.src != nil || x.dsts != nil || x.epArr[0].rc != nil || x.epArr[1].rc != nil || x.ctx != nil {
		t.Fatalf("the session still holds the copy's endpoints: %+v", x)
	}
}

// The per-call cost of a pooled Copy between files: the two RawConns os
// makes are the only allocations.
func TestCopyAllocations(t *testing.T) {
	src, dst := fileWith(t, bytes.Repeat([]byte("x"), 4096)), fileWith(t, nil)
	allocs := testing.AllocsPerRun(200, func() {
		src.Seek(0, io.SeekStart)
		dst.Seek(0, io.SeekStart)
		if n, err := Copy(dst, src); n != 4096 || err != nil {
			t.Fatalf("Copy = %d, %v", n, err)
		}
	})
	if allocs > 2 {
		t.Fatalf("%v allocations per Copy, want at most 2", allocs)
	}
}
