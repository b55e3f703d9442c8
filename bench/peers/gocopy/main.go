// gocopy [FILE...]: stdin to stdout (and to each FILE) with io.Copy, the
// way a Go program moves bytes.  A socket end is turned into a net.Conn, as
// a Go server would hold it, so that io.Copy reaches the same fast paths
// (TCPConn.ReadFrom: sendfile/splice; File.ReadFrom: copy_file_range,
// splice from a conn) that real programs get.  Several destinations go
// through io.MultiWriter.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

func isSocket(f *os.File) bool {
	var st syscall.Stat_t
	return syscall.Fstat(int(f.Fd()), &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFSOCK
}

func end(f *os.File) any {
	if isSocket(f) {
		if c, err := net.FileConn(f); err == nil {
			return c
		}
	}
	return f
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gocopy:", err)
	os.Exit(1)
}

func main() {
	src := end(os.Stdin).(io.Reader)
	var dst io.Writer = end(os.Stdout).(io.Writer)
	if len(os.Args) > 1 {
		ws := []io.Writer{dst}
		for _, name := range os.Args[1:] {
			f, err := os.Create(name)
			if err != nil {
				fail(err)
			}
			defer f.Close()
			ws = append(ws, f)
		}
		dst = io.MultiWriter(ws...)
	}
	if _, err := io.Copy(dst, src); err != nil {
		fail(err)
	}
	if c, ok := dst.(net.Conn); ok {
		c.Close()
	}
}
