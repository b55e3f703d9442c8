package splicer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"splicer.dev/splicer"
)

// openAs writes data to a new file and opens it again with flag, so that
// its access mode is not the one it was written with.
func openAs(t *testing.T, data []byte, flag int) *os.File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, data, 0600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// A failing copy's ends, made fresh for every attempt, and the check that
// nothing moved.
type badCopy struct {
	name string
	make func(t *testing.T) (dst io.Writer, src io.Reader, unmoved func())
}

// A destination for fromFile, and its own check that nothing reached it
// (nil: none).
type destination func(t *testing.T) (dst io.Writer, unmoved func())

// fromFile makes a badCopy's ends: a file holding pattern(10), opened
// write-only or readable, as the source, and the destination to makes.
// Their check is that the source was not read, then the destination's own.
func fromFile(writeOnly bool, to destination) func(t *testing.T) (io.Writer, io.Reader, func()) {
	return func(t *testing.T) (io.Writer, io.Reader, func()) {
		var src *os.File
		if writeOnly {
			src = openAs(t, pattern(10), os.O_WRONLY)
		} else {
			src = tempFile(t, pattern(10))
		}
		dst, dstUnmoved := to(t)
		return dst, src, func() {
			if position(t, src) != 0 {
				t.Error("source read")
			}
			if dstUnmoved != nil {
				dstUnmoved()
			}
		}
	}
}

// devNull is /dev/null opened with flag, as a destination.
func devNull(flag int) destination {
	return func(t *testing.T) (io.Writer, func()) {
		null, err := os.OpenFile(os.DevNull, flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { null.Close() })
		return null, nil
	}
}

// nothingReaches is a destination's check for a stream: once closeWrite
// has ended it, the other end, named what, reads nothing.
func nothingReaches(t *testing.T, what string, closeWrite func() error, other io.Reader) func() {
	return func() {
		closeWrite()
		if b, _ := io.ReadAll(other); len(b) != 0 {
			t.Errorf("the %s got %d bytes", what, len(b))
		}
	}
}

var badCopies = []badCopy{
	{"file to file, source write-only", func(t *testing.T) (io.Writer, io.Reader, func()) {
		src, dst := openAs(t, pattern(10), os.O_WRONLY), tempFile(t, nil)
		return dst, src, func() {
			if position(t, src) != 0 || position(t, dst) != 0 || len(readAll(t, dst)) != 0 {
				t.Error("bytes moved")
			}
		}
	}},
	{"file to file, destination read-only", func(t *testing.T) (io.Writer, io.Reader, func()) {
		src, dst := tempFile(t, pattern(10)), openAs(t, []byte("kept"), os.O_RDONLY)
		return dst, src, func() {
			if position(t, src) != 0 || position(t, dst) != 0 || string(readAll(t, dst)) != "kept" {
				t.Error("bytes moved")
			}
		}
	}},
	{"file to file, both wrong", func(t *testing.T) (io.Writer, io.Reader, func()) {
		src, dst := openAs(t, pattern(10), os.O_WRONLY), openAs(t, []byte("kept"), os.O_RDONLY)
		return dst, src, func() {
			if position(t, src) != 0 || string(readAll(t, dst)) != "kept" {
				t.Error("bytes moved")
			}
		}
	}},
	{"file to /dev/null, source write-only", fromFile(true, devNull(os.O_WRONLY))},
	{"file to /dev/null opened read-only", fromFile(false, devNull(os.O_RDONLY))},
	{"file to pipe, source write-only", fromFile(true, func(t *testing.T) (io.Writer, func()) {
		r, w := pipe(t)
		return w, nothingReaches(t, "pipe", w.Close, r)
	})},
	{"file to a pipe's read end", fromFile(false, func(t *testing.T) (io.Writer, func()) {
		r, _ := pipe(t)
		return r, nil
	})},
	{"file to TCP, source write-only", fromFile(true, func(t *testing.T) (io.Writer, func()) {
		a, peer := tcpPair(t)
		return a, nothingReaches(t, "peer", a.CloseWrite, peer)
	})},
	{"pipe to file, destination read-only", func(t *testing.T) (io.Writer, io.Reader, func()) {
		data := pattern(1000)
		r, w := pipe(t)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		w.Close()
		dst := openAs(t, []byte("kept"), os.O_RDONLY)
		return dst, r, func() {
			if string(readAll(t, dst)) != "kept" {
				t.Error("destination written")
			}
			b, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("the pipe kept %d of its %d bytes (%v)", len(b), len(data), err)
			}
		}
	}},
}

type copyCall func(s *splicer.Session, dst io.Writer, src io.Reader) (int64, error)

// sameFailure checks that got is the error want is, field by field and in
// its message, and that both are EBADF.
func sameFailure(t *testing.T, nGot int64, got error, nWant int64, want error) {
	t.Helper()
	if want == nil || !errors.Is(want, syscall.EBADF) {
		t.Fatalf("eager: %d, %v; want EBADF", nWant, want)
	}
	if nGot != 0 || nWant != 0 {
		t.Errorf("counts: %d, want %d and 0", nGot, nWant)
	}
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		t.Fatalf("error %T (%v), want %T (%v)", got, got, want, want)
	}
	if got.Error() != want.Error() {
		t.Errorf("message %q, want %q", got.Error(), want.Error())
	}
	var g, w *splicer.OpError
	if errors.As(got, &g) && errors.As(want, &w) && *g != *w {
		t.Errorf("error %#v, want %#v", *g, *w)
	}
}

// The package-level copies open their sessions lazily (WithLazyFiles): a
// file in the wrong access mode is then found by the kernel at the first
// step.  Their callers still get the error an eager open gives, the same
// count, and nothing moved; so does a Session copy with lazy files.
func TestLazyOpenGivesTheEagerOpensError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := []struct {
		name    string
		eager   copyCall // on a session without lazy files
		oneShot func(dst io.Writer, src io.Reader) (int64, error)
	}{
		{"Copy",
			func(s *splicer.Session, dst io.Writer, src io.Reader) (int64, error) { return s.Copy(dst, src) },
			splicer.Copy},
		{"CopyN",
			func(s *splicer.Session, dst io.Writer, src io.Reader) (int64, error) { return s.CopyN(dst, src, 10) },
			func(dst io.Writer, src io.Reader) (int64, error) { return splicer.CopyN(dst, src, 10) }},
		{"CopyContext",
			func(s *splicer.Session, dst io.Writer, src io.Reader) (int64, error) {
				return s.CopyContext(ctx, dst, src)
			},
			func(dst io.Writer, src io.Reader) (int64, error) { return splicer.CopyContext(ctx, dst, src) }},
		{"CopyRange",
			func(s *splicer.Session, dst io.Writer, src io.Reader) (int64, error) {
				return s.CopyRange(dst, splicer.OffCur, src, splicer.OffCur, -1)
			},
			nil},
	}
	for _, bc := range badCopies {
		for _, c := range calls {
			t.Run(bc.name+"/"+c.name, func(t *testing.T) {
				eager := newSession(t, splicer.WithSIGPIPEGuard(false))
				dst, src, unmoved := bc.make(t)
				nWant, want := c.eager(eager, dst, src)
				unmoved()

				lazy := newSession(t, splicer.WithLazyFiles(true))
				dst, src, unmoved = bc.make(t)
				n, err := c.eager(lazy, dst, src)
				unmoved()
				sameFailure(t, n, err, nWant, want)
				// Nothing is left open to resume, as after a refused open.
				if n, err := lazy.Resume(); n != 0 || err != nil {
					t.Errorf("Resume after the lazy session's failure = %d, %v", n, err)
				}
				if p, _ := lazy.Progress(); p.Consumed != 0 || p.Delivered != 0 || p.Pending != 0 {
					t.Errorf("progress %+v", p)
				}

				if c.oneShot != nil {
					dst, src, unmoved = bc.make(t)
					n, err = c.oneShot(dst, src)
					unmoved()
					sameFailure(t, n, err, nWant, want)
				}
			})
		}
	}
}

// An EBADF that is not the open's (copy_file_range refuses an O_APPEND
// destination, and without fallback that is the error) comes from the
// first step with lazy files as without: same error, the transfer open.
func TestLazyOpenKeepsAStepsEBADF(t *testing.T) {
	attempt := func(opts ...splicer.Option) (int64, error, int64, error) {
		s := newSession(t, append(opts, splicer.WithFallback(false))...)
		src := tempFile(t, pattern(100))
		dst := openAs(t, []byte("kept"), os.O_WRONLY|os.O_APPEND)
		n, err := s.Copy(dst, src)
		if position(t, src) != 0 || string(readAll(t, dst)) != "kept" {
			t.Error("bytes moved")
		}
		rn, rerr := s.Resume()
		return n, err, rn, rerr
	}
	nWant, want, rnWant, rwant := attempt()
	var oe *splicer.OpError
	if !errors.As(want, &oe) || oe.Method != splicer.MethodCopyFileRange {
		t.Fatalf("eager: %v; want EBADF from copy_file_range", want)
	}
	n, err, rn, rerr := attempt(splicer.WithLazyFiles(true))
	sameFailure(t, n, err, nWant, want)
	sameFailure(t, rn, rerr, rnWant, rwant)
}

// With the step-level API a lazy open's own refusal is EBADF from the
// first Step, and the core ends the transfer as a refused open leaves it:
// Progress reports no transfer (MethodNone) and the next Step returns 0.
// A step's EBADF for another reason (an O_APPEND destination that
// copy_file_range refuses, fallback off) leaves the transfer open with its
// method.
func TestLazyOpenThenStep(t *testing.T) {
	s := newSession(t, splicer.WithLazyFiles(true), splicer.WithFallback(false))
	src, dst := tempFile(t, pattern(10)), openAs(t, []byte("kept"), os.O_RDONLY)
	if err := s.Open(dst, splicer.OffCur, src, splicer.OffCur, -1); err != nil {
		t.Fatalf("lazy Open: %v", err)
	}
	n, err := s.Step()
	var oe *splicer.OpError
	if n != 0 || !errors.As(err, &oe) || *oe != (splicer.OpError{Op: "step", Err: syscall.EBADF}) {
		t.Fatalf("Step = %d, %#v; want 0, EBADF from step with no method", n, err)
	}
	if p, _ := s.Progress(); p != (splicer.Progress{}) {
		t.Errorf("progress %+v, want no transfer", p)
	}
	if n, err := s.Step(); n != 0 || err != nil {
		t.Errorf("next Step = %d, %v; want 0, nil", n, err)
	}
	if position(t, src) != 0 || string(readAll(t, dst)) != "kept" {
		t.Error("bytes moved")
	}

	app := openAs(t, []byte("kept"), os.O_WRONLY|os.O_APPEND)
	if err := s.Open(app, splicer.OffCur, src, splicer.OffCur, -1); err != nil {
		t.Fatalf("Open of an O_APPEND destination: %v", err)
	}
	n, err = s.Step()
	if n != 0 || !errors.As(err, &oe) || oe.Op != "step" || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Step = %d, %v; want 0, EBADF from step", n, err)
	}
	if p, _ := s.Progress(); p.Method != splicer.MethodCopyFileRange || p.Consumed != 0 || p.Finished {
		t.Errorf("progress %+v, want the transfer open with copy_file_range", p)
	}
	if _, err := s.Step(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("next Step: %v, want EBADF again", err)
	}
}

// Lazy files change nothing for a copy that succeeds.
func TestLazyCopies(t *testing.T) {
	data := pattern(100000)
	s := newSession(t, splicer.WithLazyFiles(true))
	if v, err := s.Get(splicer.OptLazyFiles); v != 1 || err != nil {
		t.Fatalf("Get(OptLazyFiles) = %d, %v", v, err)
	}
	src, dst := tempFile(t, data), tempFile(t, nil)
	if n, err := s.Copy(dst, src); n != int64(len(data)) || err != nil {
		t.Fatalf("file to file: %d, %v", n, err)
	}
	sameBytes(t, readAll(t, dst), data)
	src.Seek(0, io.SeekStart)
	r, w := pipe(t)
	got := drain(r)
	if n, err := splicer.Copy(w, src); n != int64(len(data)) || err != nil {
		t.Fatalf("file to pipe: %d, %v", n, err)
	}
	w.Close()
	sameBytes(t, <-got, data)
}
