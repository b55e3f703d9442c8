package splicer

import (
	"os"
	"syscall"
	"testing"

	"splicer.dev/splicer/internal/capi"
)

// The open shim keeps an fd with the kind it is given for the open only:
// the kind is trusted (a pipe's read end given as a pipe destination is
// not refused at open, as it is when classified), and the fd is not kept
// afterwards.
func TestOpenMethodKeepsForTheOpenOnly(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := fileWith(t, []byte("abc"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	in, _ := fdOf(src)
	rd, _ := fdOf(r) // not Fd(), which would make the pipe blocking
	h := s.h
	if got, _ := capi.OpenMethod(h, in, OffCur, rd, OffCur, 3, 0, 0); got != -int(syscall.EBADF) {
		t.Fatalf("open to a read end, classified: %d, want -EBADF", got)
	}
	got, m := capi.OpenMethod(h, in, OffCur, rd, OffCur, 3, 0, capi.FDPipe|capi.FDNonblock)
	if got != 0 || m != capi.MethodSplice {
		t.Fatalf("open to a read end given as a pipe: %d, method %d; want 0, splice", got, m)
	}
	capi.Abort(h)
	for _, fd := range []int{in, rd} {
		if r := capi.SessionForget(h, fd); r != -int(syscall.ENOENT) {
			t.Fatalf("forget of fd %d after the open: %d, want -ENOENT (still kept)", fd, r)
		}
	}
	// one fd at both ends is kept once and forgotten once
	kind := capi.FDPipe | capi.FDNonblock
	if got, _ := capi.OpenMethod(h, rd, OffCur, rd, OffCur, 3, kind, kind); got != 0 {
		t.Fatalf("open of one fd at both ends, given as a pipe: %d", got)
	}
	capi.Abort(h)
	if r := capi.SessionForget(h, rd); r != -int(syscall.ENOENT) {
		t.Fatalf("forget after an open on one fd at both ends: %d, want -ENOENT", r)
	}
	// an fd the caller kept stays kept: Copy passes no kind for it
	if err := s.Keep(w); err != nil {
		t.Fatal(err)
	}
	if wfd, _ := fdOf(w); !s.keeps(wfd) || len(s.kept) != 1 {
		t.Fatalf("kept %+v", s.kept)
	}
	if err := s.Forget(w); err != nil {
		t.Fatal(err)
	}
	if len(s.kept) != 0 {
		t.Fatalf("kept after Forget: %+v", s.kept)
	}
}
