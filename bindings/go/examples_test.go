package splicer_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example programs build, and a client fetching a file from the file
// server through the proxy gets the file.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./examples/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/...: %v\n%s", err, out)
	}
	data := pattern(2<<20 + 7)
	path := filepath.Join(t.TempDir(), "served")
	if err := os.WriteFile(path, data, 0600); err != nil {
		t.Fatal(err)
	}
	fsAddr := start(t, filepath.Join(bin, "fileserver"), "-listen", "127.0.0.1:0", "-file", path)
	pxAddr := start(t, filepath.Join(bin, "proxy"), "-listen", "127.0.0.1:0", "-to", fsAddr)
	c, err := net.Dial("tcp", pxAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, got, data)
}

// start runs an example and returns the address it logged.
func start(t *testing.T, prog string, args ...string) string {
	cmd := exec.Command(prog, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	// "... 127.0.0.1:PORT" or "... 127.0.0.1:PORT -> ..."
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "127.0.0.1:") {
			go io.Copy(io.Discard, stderr)
			return f
		}
	}
	t.Fatalf("%s printed no address: %q", prog, line)
	return ""
}
