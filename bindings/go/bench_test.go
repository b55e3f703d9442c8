package splicer_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"splicer.dev/splicer"
	"splicer.dev/splicer/internal/capi"
)

var benchSizes = []int{4 << 10, 64 << 10, 1 << 20}

type copyFunc func(dst io.Writer, src io.Reader) (int64, error)

func benchImpls(b *testing.B) map[string]copyFunc {
	return map[string]copyFunc{"splicer": splicer.Copy, "io.Copy": io.Copy, "kept": keptCopy(b)}
}

// keptCopy is a Session that keeps both ends the first time it sees them
// (Session.Keep), as a program copying repeatedly between the same files
// or connections would: its opens then make no syscall of their own.
func keptCopy(b *testing.B) copyFunc {
	s, err := splicer.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	kept := map[any]bool{}
	return func(dst io.Writer, src io.Reader) (int64, error) {
		ends := []any{dst, src}
		if lr, ok := src.(*io.LimitedReader); ok {
			ends[1] = lr.R // the reader's fd; Copy reads at most N from it
		}
		for _, end := range ends {
			if !kept[end] {
				if err := s.Keep(end); err != nil {
					return 0, err
				}
				kept[end] = true
			}
		}
		return s.Copy(dst, src)
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// run times fn over b.N iterations of size bytes and reports throughput
// and the process's CPU time (user + system, every thread) per byte.
func run(b *testing.B, size int, fn func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		fn()
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	if cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e9/(float64(cpu)/1e9), "GB/cpu-s")
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

func each(b *testing.B, body func(b *testing.B, size int, copy copyFunc)) {
	for _, size := range benchSizes {
		for _, name := range []string{"io.Copy", "splicer", "kept"} {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				body(b, size, benchImpls(b)[name])
			})
		}
	}
}

func check(b *testing.B, n int64, err error, size int) {
	if err != nil || n != int64(size) {
		b.Fatalf("copied %d, %v; want %d", n, err, size)
	}
}

func BenchmarkFileToFile(b *testing.B) {
	each(b, func(b *testing.B, size int, cp copyFunc) {
		src, dst := tempFile(b, pattern(size)), tempFile(b, nil)
		run(b, size, func() {
			src.Seek(0, 0)
			dst.Seek(0, 0)
			n, err := cp(dst, src)
			check(b, n, err, size)
		})
	})
}

func BenchmarkFileToDevNull(b *testing.B) {
	each(b, func(b *testing.B, size int, cp copyFunc) {
		src := tempFile(b, pattern(size))
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer null.Close()
		run(b, size, func() {
			src.Seek(0, 0)
			n, err := cp(null, src)
			check(b, n, err, size)
		})
	})
}

func BenchmarkFileToTCP(b *testing.B) {
	each(b, func(b *testing.B, size int, cp copyFunc) {
		src := tempFile(b, pattern(size))
		a, peer := tcpPair(b)
		go io.Copy(io.Discard, struct{ io.Reader }{peer})
		run(b, size, func() {
			src.Seek(0, 0)
			n, err := cp(a, src)
			check(b, n, err, size)
		})
	})
}

// feed writes into w until it fails; drainConn reads r until it fails.
func feed(w io.Writer) {
	buf := pattern(1 << 20)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

func BenchmarkTCPToTCP(b *testing.B) {
	each(b, func(b *testing.B, size int, cp copyFunc) {
		a, from := tcpPair(b)
		to, d := tcpPair(b)
		go feed(a)
		go io.Copy(io.Discard, struct{ io.Reader }{d})
		lr := &io.LimitedReader{R: from}
		run(b, size, func() {
			lr.N = int64(size)
			n, err := cp(to, lr)
			check(b, n, err, size)
		})
	})
}

func BenchmarkPipeToPipe(b *testing.B) {
	each(b, func(b *testing.B, size int, cp copyFunc) {
		r1, w1 := pipe(b)
		r2, w2 := pipe(b)
		go feed(w1)
		go io.Copy(io.Discard, struct{ io.Reader }{r2})
		lr := &io.LimitedReader{R: r1}
		run(b, size, func() {
			lr.N = int64(size)
			n, err := cp(w2, lr)
			check(b, n, err, size)
		})
	})
}

// The price of crossing from Go into C and back, against a Go call.
func BenchmarkCgoCall(b *testing.B) {
	b.Run("cgo", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			capi.VersionNumberLinked()
		}
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			goCall()
		}
	})
}

//go:noinline
func goCall() uint { return 100 }

var _ = net.Dial
