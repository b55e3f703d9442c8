package main

// Starting, querying and stopping a proxy under test.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type proxy struct {
	cmd   *exec.Cmd
	pid   int
	addr  string
	lines chan string // its standard output, line by line; closed at EOF
	log   *os.File
	done  chan struct{} // closed when the process has been waited for
	err   error         // its exit status, once done
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startProxy runs argv as the unprivileged user with the fd limit (soft
// and hard) given: prlimit and setpriv exec in turn, so the pid is the
// proxy's.  The proxy is killed if the driver dies.
func startProxy(argv []string, cfg *config, logPath string) (*proxy, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	uid := strconv.Itoa(cfg.uid)
	full := []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", cfg.fdLimit, cfg.fdLimit), "--",
		"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--pdeathsig", "KILL", "--"}
	full = append(full, argv...)
	fmt.Fprintf(lf, "# %s\n", strings.Join(full, " "))
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stderr = lf
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	// a pipe of our own, not StdoutPipe: Wait would close that one as soon
	// as the proxy exits, losing the statistics it printed last
	out, w, err := os.Pipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proxy{cmd: cmd, pid: cmd.Process.Pid, lines: make(chan string, 256), log: lf,
		done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintf(lf, "> %s\n", sc.Text())
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		out.Close()
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				return nil, fmt.Errorf("%s exited before listening (%v); see %s", argv[0], p.err, logPath)
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				p.addr = m[1]
				return p, nil
			}
		case <-deadline:
			p.kill()
			return nil, fmt.Errorf("%s did not say where it listens within 15 s; see %s", argv[0], logPath)
		}
	}
}

// proxyStats are the lines a proxy prints on SIGUSR1/SIGTERM: "... served
// N, failed N, errors N, open N" and "pool key=value ...".
type proxyStats struct {
	Served int64            `json:"served"`
	Failed int64            `json:"failed"`
	Errors int64            `json:"errors"`
	Open   int64            `json:"open"`
	Pool   map[string]int64 `json:"pool"`
}

var countsRE = regexp.MustCompile(`served (\d+), failed (\d+), errors (\d+), open (\d+)`)

func parseStatsLine(st *proxyStats, line string) bool {
	if m := countsRE.FindStringSubmatch(line); m != nil {
		st.Served, _ = strconv.ParseInt(m[1], 10, 64)
		st.Failed, _ = strconv.ParseInt(m[2], 10, 64)
		st.Errors, _ = strconv.ParseInt(m[3], 10, 64)
		st.Open, _ = strconv.ParseInt(m[4], 10, 64)
		return false
	}
	if rest, ok := strings.CutPrefix(line, "pool "); ok {
		st.Pool = map[string]int64{}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				st.Pool[k], _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return true
	}
	return false
}

// stats asks for the proxy's counts with SIGUSR1.
func (p *proxy) stats() (proxyStats, error) {
	var st proxyStats
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return st, err
	}
	return p.readStats(5 * time.Second)
}

func (p *proxy) readStats(timeout time.Duration) (proxyStats, error) {
	var st proxyStats
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return st, fmt.Errorf("proxy closed its output before printing its statistics")
			}
			if parseStatsLine(&st, line) {
				return st, nil
			}
		case <-deadline:
			return st, fmt.Errorf("proxy printed no statistics within %v", timeout)
		}
	}
}

// stop ends the proxy with SIGTERM and returns its last statistics; it is
// killed if it does not exit within 10 s.
func (p *proxy) stop() (proxyStats, error) {
	defer p.log.Close()
	select {
	case <-p.done:
		return proxyStats{}, fmt.Errorf("proxy had already exited: %v", p.err)
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	st, err := p.readStats(10 * time.Second)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
		if err == nil {
			err = fmt.Errorf("proxy did not exit within 10 s of SIGTERM")
		}
	}
	if p.err != nil || err != nil {
		fmt.Fprintf(p.log, "# exit: %v\n", p.err)
	}
	if err == nil && p.err != nil {
		err = fmt.Errorf("proxy exit: %v", p.err)
	} else if err != nil && p.err != nil {
		err = fmt.Errorf("%v (exit: %v)", err, p.err)
	}
	return st, err
}

func (p *proxy) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *proxy) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}
