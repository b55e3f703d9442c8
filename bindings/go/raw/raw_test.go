package raw_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"splicer.dev/splicer/raw"
)

func pipeFDs(t *testing.T) (r, w int) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(p[0]); syscall.Close(p[1]) })
	return p[0], p[1]
}

func tempFD(t *testing.T, data string) int {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte(data), 0600)
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

func readN(t *testing.T, fd, n int) string {
	b := make([]byte, n)
	got, err := io.ReadFull(os.NewFile(uintptr(fd), "r"), b)
	if err != nil {
		t.Fatal(got, err)
	}
	return string(b)
}

func TestSpliceTeeSendfile(t *testing.T) {
	f := tempFD(t, "0123456789")
	r1, w1 := pipeFDs(t)
	r2, w2 := pipeFDs(t)
	if n, err := raw.Splice(f, 2, w1, raw.OffCur, 5, raw.FMove); n != 5 || err != nil {
		t.Fatalf("Splice = %d, %v", n, err)
	}
	if n, err := raw.Tee(r1, w2, 5, 0); n != 5 || err != nil {
		t.Fatalf("Tee = %d, %v", n, err)
	}
	if s := readN(t, r2, 5); s != "23456" {
		t.Fatalf("tee'd %q", s)
	}
	if s := readN(t, r1, 5); s != "23456" {
		t.Fatalf("spliced %q", s)
	}
	if n, err := raw.Sendfile(w1, f, 7, 3); n != 3 || err != nil {
		t.Fatalf("Sendfile = %d, %v", n, err)
	}
	if s := readN(t, r1, 3); s != "789" {
		t.Fatalf("sent %q", s)
	}
	if _, err := raw.Splice(f, 0, f, 0, 1, 0); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("splice without a pipe: %v", err)
	}
}

func TestCopyFileRangeAndPipeSize(t *testing.T) {
	a, b := tempFD(t, "abcdef"), tempFD(t, "")
	if n, err := raw.CopyFileRange(a, 1, b, 0, 4); n != 4 || err != nil {
		t.Fatalf("CopyFileRange = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	syscall.Pread(b, buf, 0)
	if string(buf) != "bcde" {
		t.Fatalf("copied %q", buf)
	}
	_, w := pipeFDs(t)
	if n, err := raw.SetPipeSize(w, 1<<16); n != 1<<16 || err != nil {
		t.Fatalf("SetPipeSize = %d, %v", n, err)
	}
	if n, err := raw.PipeSize(w); n != 1<<16 || err != nil {
		t.Fatalf("PipeSize = %d, %v", n, err)
	}
	if _, err := raw.PipeSize(a); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("PipeSize of a file: %v", err)
	}
	if raw.ErrName(syscall.EPIPE) != "EPIPE" {
		t.Fatal("ErrName")
	}
}

func TestVmsplice(t *testing.T) {
	b, err := raw.NewBuf(8192)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	copy(b.Bytes(), "hello world")
	r, w := pipeFDs(t)
	n, err := raw.Vmsplice(w, 0, raw.Region{Buf: b, Off: 0, Len: 5}, raw.Region{Buf: b, Off: 5, Len: 6})
	if n != 11 || err != nil {
		t.Fatalf("Vmsplice = %d, %v", n, err)
	}
	if s := readN(t, r, 11); s != "hello world" {
		t.Fatalf("got %q", s)
	}
	if _, err := raw.Vmsplice(w, 0, raw.Region{Buf: b, Off: 8000, Len: 1000}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("out of range: %v", err)
	}
}
