package main

// The upstream side: a child process of the driver (the same program run
// with -upstream) that owns the upstream listener and its connections and
// takes commands on standard input, one per line:
//
//	keep ID,ID,...  keep the connections of these clients, close the rest
//	round R         send round R downstream, check round R upstream
//	close           read every client's end of stream, then shut ours
//
// Each command is answered on standard output with one line: "kept N",
// "done R BYTES ERRORS [FIRST ERROR]", "closed N", or "error MESSAGE".

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func upstreamMain(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	salt := fs.Uint("salt", 0, "")
	size := fs.Int("size", 1<<20, "")
	both := fs.Bool("both", true, "")
	stall := fs.Duration("stall", 15*time.Second, "")
	fs.Parse(args)
	u, err := newUpstream(uint32(*salt))
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("upstream listening on %s\n", u.ln.Addr())
	pat := newPattern(max(*size, 256<<10))
	var peers []peer
	var l *load
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "keep":
			var ids []int
			for _, f := range strings.Split(arg, ",") {
				if f == "" {
					continue
				}
				id, err := strconv.Atoi(f)
				if err != nil {
					fmt.Printf("error bad id %q\n", f)
					continue
				}
				ids = append(ids, id)
			}
			if peers, err = u.keep(ids); err != nil {
				fmt.Printf("error %v\n", err)
				continue
			}
			l = newLoad(pat, *size, *both, len(peers))
			fmt.Printf("kept %d\n", len(peers))
		case "round":
			r, err := strconv.Atoi(arg)
			if err != nil || l == nil {
				fmt.Printf("error round before keep, or bad round %q\n", arg)
				continue
			}
			l.round(peers, true, r, *stall)
			first := ""
			if len(l.errs) > 0 {
				first = l.errs[0]
			}
			fmt.Printf("done %d %d %d %s\n", r, l.progress.Load(), l.errCount, first)
		case "close":
			fmt.Printf("closed %d\n", closeUpstreams(peers, 30*time.Second))
		default:
			fmt.Printf("error unknown command %q\n", cmd)
		}
	}
	u.close()
}

// upstreamProc is the driver's handle on the upstream child.
type upstreamProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	addr  string
}

func startUpstream(salt uint32, cfg *config) (*upstreamProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-upstream", "-salt", strconv.FormatUint(uint64(salt), 10),
		"-size", strconv.Itoa(cfg.size), "-both="+strconv.FormatBool(cfg.both),
		"-stall", (3 * cfg.stall).String())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &upstreamProc{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	line, err := p.reply(10 * time.Second)
	if err != nil {
		p.stop()
		return nil, err
	}
	addr, ok := strings.CutPrefix(line, "upstream listening on ")
	if !ok {
		p.stop()
		return nil, fmt.Errorf("upstream side: %s", line)
	}
	p.addr = addr
	return p, nil
}

func (p *upstreamProc) send(cmd string) error {
	_, err := io.WriteString(p.in, cmd+"\n")
	return err
}

func (p *upstreamProc) reply(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("upstream side exited")
		}
		if msg, isErr := strings.CutPrefix(line, "error "); isErr {
			return "", fmt.Errorf("upstream side: %s", msg)
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("upstream side did not answer within %v", timeout)
	}
}

func (p *upstreamProc) call(cmd string, timeout time.Duration) (string, error) {
	if err := p.send(cmd); err != nil {
		return "", err
	}
	return p.reply(timeout)
}

// cpuSeconds is the upstream side's CPU so far.
func (p *upstreamProc) cpuTicks() int64 {
	t, _ := cpuTicks(p.cmd.Process.Pid)
	return t
}

// stop closes its input (it closes its connections and exits) and waits;
// it is killed after 10 s.
func (p *upstreamProc) stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}
