// Command driver runs bench/scale: for each contender (a TCP proxy
// program) and each connection count N, it starts the proxy as an
// unprivileged user with the fd limit given, connects N clients through it
// to N upstream connections of its own, measures the proxy idle and then
// under load (every byte checked), and writes the results as JSON for
// bench/scale/report.py.  bench/scale/run builds everything and calls it.
//
//	driver -contender 'NAME=PROGRAM ARGS... {upstream}' ... -rw NAME -out results.json
//
// In a contender's command, {upstream} is replaced by the upstream address
// (127.0.0.1:PORT) and {upstream_port} by its port; the proxy must listen
// on a free port and print "listening on ADDR" as it starts, print
// "served N, failed N, errors N, open N" and "pool key=value ..." lines on
// SIGUSR1 and SIGTERM, and exit on SIGTERM.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type contender struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
}

type contenders []contender

func (c *contenders) String() string { return fmt.Sprint(*c) }
func (c *contenders) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.TrimSpace(cmd) == "" {
		return fmt.Errorf("want NAME=COMMAND, got %q", v)
	}
	*c = append(*c, contender{name, strings.Fields(cmd)})
	return nil
}

type config struct {
	uid        int
	fdLimit    int
	clkTck     int
	size       int
	both       bool
	minBytes   int64
	window     int
	settle     time.Duration
	stall      time.Duration
	logDir     string
	contenders contenders
	rwName     string
}

type idleResult struct {
	fdSnapshot
	memSnapshot
	FdsPerConn float64          `json:"fds_per_conn"`
	Pool       map[string]int64 `json:"pool,omitempty"`
}

type activeResult struct {
	Bytes         int64    `json:"bytes"`
	Rounds        int      `json:"rounds"`
	Seconds       float64  `json:"seconds"`
	CPUSeconds    float64  `json:"cpu_seconds"`
	GBps          float64  `json:"gbps"`
	GBPerCPUs     float64  `json:"gb_per_cpu_s"`
	Verified      bool     `json:"verified"`
	Errors        []string `json:"errors,omitempty"`
	ErrorCount    int      `json:"error_count"`
	PeakPipes     int      `json:"peak_pipes"`
	PeakPipeBytes int64    `json:"peak_pipe_bytes"`
	PeakThreads   int      `json:"peak_threads"`
	PeakFds       int      `json:"peak_fds"`
	HWMKiB        int64    `json:"hwm_kib"`
	Samples       int      `json:"samples"`
	SampleMaxMs   float64  `json:"sample_max_ms"`
	MinorFaults   int64    `json:"minor_faults"`
	PoolPeakInUse *int64   `json:"pool_peak_in_use,omitempty"`
	PoolMisses    *int64   `json:"pool_misses,omitempty"`
	PoolBorrowed  *int64   `json:"pool_borrowed,omitempty"`
	DriverCPUs    float64  `json:"driver_cpu_seconds"`
}

type result struct {
	Contender   string         `json:"contender"`
	N           int            `json:"n"`
	Rep         int            `json:"rep"`
	OK          bool           `json:"ok"`
	Error       string         `json:"error,omitempty"`
	BaselineFds int            `json:"baseline_fds"`
	Connect     *connectResult `json:"connect,omitempty"`
	Idle        *idleResult    `json:"idle,omitempty"`
	Active      *activeResult  `json:"active,omitempty"`
	CleanClose  int            `json:"clean_close"`
	FdsAfter    int            `json:"fds_after_close"`
	Final       *proxyStats    `json:"final,omitempty"`
	LoadAvg     string         `json:"loadavg"`
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "driver: "+format+"\n", a...)
	os.Exit(1)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func substitute(argv []string, upstream string) []string {
	_, port, _ := strings.Cut(upstream, ":")
	out := make([]string, len(argv))
	for i, a := range argv {
		a = strings.ReplaceAll(a, "{upstream}", upstream)
		out[i] = strings.ReplaceAll(a, "{upstream_port}", port)
	}
	return out
}

// baselineFds starts a contender with nothing connected and counts its fds.
func baselineFds(c contender, cfg *config) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // an upstream address nobody dials
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	p, err := startProxy(substitute(c.Argv, ln.Addr().String()), cfg,
		filepath.Join(cfg.logDir, "baseline.log"))
	if err != nil {
		return 0, err
	}
	defer p.stop()
	s, err := scanFds(p.pid, nil)
	return s.Fds, err
}

func ptr(v int64) *int64 { return &v }

// runOne measures one contender at one N.
func runOne(c contender, n, rep int, cfg *config, pat *pattern) (res result) {
	res = result{Contender: c.Name, N: n, Rep: rep, LoadAvg: loadavg()}
	salt := rand.Uint32()
	u, err := startUpstream(salt, cfg)
	if err != nil {
		res.Error = err.Error()
		return
	}
	defer u.stop()
	logPath := filepath.Join(cfg.logDir, fmt.Sprintf("%s-n%d-rep%d.log", fileName(c.Name), n, rep))
	p, err := startProxy(substitute(c.Argv, u.addr), cfg, logPath)
	if err != nil {
		res.Error = err.Error()
		return
	}
	defer func() {
		if p.alive() {
			p.kill()
		}
	}()
	base, err := scanFds(p.pid, nil)
	if err != nil {
		res.Error = err.Error()
		return
	}
	res.BaselineFds = base.Fds

	// connect, one small exchange each way, then idle
	cr := connect(p.addr, n, cfg.window, salt, cfg.stall)
	res.Connect = cr
	defer func() {
		for _, c := range cr.clients {
			c.c.Close()
		}
	}()
	if cr.Served == 0 {
		res.Error = "no connection served"
		return
	}
	ids := make([]string, len(cr.clients))
	for i, c := range cr.clients {
		ids[i] = strconv.Itoa(c.id)
	}
	if reply, err := u.call("keep "+strings.Join(ids, ","), 30*time.Second); err != nil ||
		reply != fmt.Sprintf("kept %d", len(ids)) {
		res.Error = fmt.Sprintf("pairing the upstream side: %q %v", reply, err)
		return
	}
	time.Sleep(cfg.settle)
	idleFds, err := scanFds(p.pid, nil)
	if err != nil {
		res.Error = err.Error()
		return
	}
	mem, _ := readStatus(p.pid)
	idle := &idleResult{fdSnapshot: idleFds, memSnapshot: mem,
		FdsPerConn: float64(idleFds.Fds-base.Fds) / float64(cr.Served)}
	idleStats, err := p.stats()
	if err != nil {
		res.Error = "idle statistics: " + err.Error()
		return
	}
	idle.Pool = idleStats.Pool
	res.Idle = idle

	// active: rounds of size bytes per stream until minBytes moved
	dirs := 1
	if cfg.both {
		dirs = 2
	}
	perRound := int64(cr.Served) * int64(cfg.size) * int64(dirs)
	rounds := int(math.Max(1, math.Ceil(float64(cfg.minBytes)/float64(perRound))))
	l := newLoad(pat, cfg.size, cfg.both, cr.Served)
	act := &activeResult{Rounds: rounds}
	samplerStop, samplerDone := make(chan struct{}), make(chan struct{})
	go sample(p.pid, act, samplerStop, samplerDone)
	cpu0, flt0, err := statCounters(p.pid)
	if err != nil {
		res.Error = err.Error()
		return
	}
	self0, up0 := selfCPU(), u.cpuTicks()
	var upBytes, upErrs int64
	var upFirst string
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		if err := u.send(fmt.Sprintf("round %d", r)); err != nil {
			l.fail("upstream side: %v", err)
			break
		}
		l.round(cr.clients, false, r, 3*cfg.stall)
		reply, err := u.reply(3*cfg.stall + 30*time.Second)
		if err != nil {
			l.fail("%v", err)
			break
		}
		var rr int
		_, err = fmt.Sscanf(reply, "done %d %d %d", &rr, &upBytes, &upErrs)
		if err != nil || rr != r {
			l.fail("upstream side: unexpected answer %q", reply)
			break
		}
		if upErrs > 0 {
			f := strings.SplitN(reply, " ", 5)
			if len(f) == 5 {
				upFirst = f[4]
			}
			break
		}
		if l.errCount > 0 {
			break
		}
	}
	act.Seconds = time.Since(t0).Seconds()
	cpu1, flt1, _ := statCounters(p.pid)
	act.MinorFaults = flt1 - flt0
	act.DriverCPUs = selfCPU() - self0 + float64(u.cpuTicks()-up0)/float64(cfg.clkTck)
	close(samplerStop)
	<-samplerDone
	act.Bytes = l.progress.Load() + upBytes
	act.CPUSeconds = float64(cpu1-cpu0) / float64(cfg.clkTck)
	act.GBps = float64(act.Bytes) / 1e9 / act.Seconds
	if act.CPUSeconds > 0 {
		act.GBPerCPUs = float64(act.Bytes) / 1e9 / act.CPUSeconds
	}
	act.Errors, act.ErrorCount = l.errs, l.errCount+int(upErrs)
	if upFirst != "" {
		act.Errors = append(act.Errors, "upstream side: "+upFirst)
	}
	act.Verified = act.ErrorCount == 0 && act.Bytes == perRound*int64(rounds)
	if m, err := readStatus(p.pid); err == nil {
		act.HWMKiB = m.HWMKiB
	}
	if st, err := p.stats(); err == nil && st.Pool != nil && st.Pool["sessions_pooled"] == 1 {
		act.PoolPeakInUse = ptr(st.Pool["peak_in_use"])
		act.PoolMisses = ptr(st.Pool["misses"] - idle.Pool["misses"])
		act.PoolBorrowed = ptr(st.Pool["borrowed"] - idle.Pool["borrowed"])
	}
	res.Active = act

	// close every pair cleanly, then stop the proxy
	if err := u.send("close"); err == nil {
		clean := closeClients(cr.clients, 30*time.Second)
		reply, err := u.reply(40 * time.Second)
		var upClean int
		if _, err2 := fmt.Sscanf(reply, "closed %d", &upClean); err != nil || err2 != nil {
			upClean = 0
		}
		res.CleanClose = min(clean, upClean)
	}
	for i := 0; i < 50; i++ { // the proxy closes its side after ours
		st, err := p.stats()
		if err != nil || st.Open == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s, err := scanFds(p.pid, nil); err == nil {
		res.FdsAfter = s.Fds
	}
	final, err := p.stop()
	res.Final = &final
	switch {
	case err != nil:
		res.Error = err.Error()
	case !act.Verified:
		res.Error = fmt.Sprintf("%d of %d bytes checked, %d errors: %s", act.Bytes,
			perRound*int64(rounds), act.ErrorCount, strings.Join(act.Errors, "; "))
	case res.CleanClose != cr.Served:
		res.Error = fmt.Sprintf("%d of %d connections closed cleanly", res.CleanClose, cr.Served)
	case cr.Failed > 0:
		res.Error = fmt.Sprintf("%d of %d connections failed", cr.Failed, n)
	default:
		res.OK = true
	}
	return
}

// sample watches the proxy's fds, pipes and threads until stopped, at an
// interval 20 times what a sample took (50 ms .. 1 s), so that it costs
// at most about 5% of a core.
func sample(pid int, act *activeResult, stop, done chan struct{}) {
	defer close(done)
	cache := pipeSizes{}
	var interval time.Duration
	for {
		t0 := time.Now()
		if s, err := scanFds(pid, cache); err == nil {
			act.Samples++
			act.PeakPipes = max(act.PeakPipes, s.Pipes)
			act.PeakPipeBytes = max(act.PeakPipeBytes, s.PipeBytes)
			act.PeakFds = max(act.PeakFds, s.Fds)
		}
		if m, err := readStatus(pid); err == nil {
			act.PeakThreads = max(act.PeakThreads, m.Threads)
		}
		took := time.Since(t0)
		act.SampleMaxMs = max(act.SampleMaxMs, float64(took)/1e6)
		interval = min(max(50*time.Millisecond, 20*took), time.Second)
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if strings.HasSuffix(strings.ToUpper(s), suf) {
			s, mult = s[:len(s)-1], m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-upstream" {
		upstreamMain(os.Args[2:])
		return
	}
	cfg := &config{}
	var out, ns, size, minBytes, dirs string
	var repeat int
	flag.Var(&cfg.contenders, "contender", "NAME=COMMAND (repeatable)")
	flag.StringVar(&cfg.rwName, "rw", "", "the read/write contender, whose fds set N max")
	flag.StringVar(&out, "out", "", "results JSON to write")
	flag.StringVar(&ns, "ns", "1 200 1000 3000 max", "connection counts; max = the largest the fd limit allows the read/write proxy")
	flag.IntVar(&repeat, "repeat", 3, "runs of every contender at every N (interleaved)")
	flag.IntVar(&cfg.fdLimit, "fd-limit", 0, "the proxy's fd limit, soft and hard (required)")
	flag.IntVar(&cfg.uid, "uid", 65534, "user (and group) the proxy runs as")
	flag.IntVar(&cfg.clkTck, "clk-tck", 100, "clock ticks per second of /proc/PID/stat")
	flag.StringVar(&size, "size", "1M", "bytes per stream per round")
	flag.StringVar(&minBytes, "min-bytes", "2G", "rounds repeat until this many bytes moved")
	flag.StringVar(&dirs, "dirs", "both", "both: upstream->client and client->upstream; down: upstream->client only")
	flag.IntVar(&cfg.window, "window", 256, "connections being opened at once")
	flag.DurationVar(&cfg.settle, "settle", time.Second, "pause before the idle measurement")
	flag.DurationVar(&cfg.stall, "stall", 5*time.Second, "no progress for this long while connecting fails the rest (x3 while active)")
	flag.StringVar(&cfg.logDir, "log-dir", os.TempDir(), "where the proxies' output goes")
	flag.Parse()
	if len(cfg.contenders) == 0 || out == "" || cfg.fdLimit <= 0 || flag.NArg() > 0 {
		fatalf("usage: driver -fd-limit N -out FILE -contender NAME=CMD... [-rw NAME] (see -h)")
	}
	inheritNothing()
	if os.Geteuid() != 0 {
		fatalf("must run as root: the proxy is started as uid %d through setpriv, with its fd limit set by prlimit", cfg.uid)
	}
	for _, tool := range []string{"prlimit", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			fatalf("%s (util-linux) is missing", tool)
		}
	}
	if repeat < 1 || cfg.window < 1 || cfg.stall <= 0 || cfg.settle < 0 || cfg.clkTck < 1 {
		fatalf("-repeat, -window, -stall and -clk-tck must be positive, -settle not negative")
	}
	if dirs != "both" && dirs != "down" {
		fatalf("-dirs must be both or down")
	}
	cfg.both = dirs == "both"
	sz, err := parseSize(size)
	if err != nil || sz > 64<<20 {
		fatalf("-size: want 1 .. 64M, got %q", size)
	}
	cfg.size = int(sz)
	if cfg.minBytes, err = parseSize(minBytes); err != nil {
		fatalf("-min-bytes: %v", err)
	}
	if err := os.MkdirAll(cfg.logDir, 0o755); err != nil {
		fatalf("%v", err)
	}

	// N max: the read/write proxy holds 2 fds per connection plus its own
	var rw *contender
	for i := range cfg.contenders {
		if cfg.contenders[i].Name == cfg.rwName {
			rw = &cfg.contenders[i]
		}
	}
	var nList []int
	var rwBase, nMax int
	for _, f := range strings.Fields(ns) {
		if f == "max" {
			if rw == nil {
				fatalf("N max needs -rw naming one of the contenders")
			}
			if rwBase == 0 {
				if rwBase, err = baselineFds(*rw, cfg); err != nil {
					fatalf("measuring the read/write proxy's own fds: %v", err)
				}
				nMax = (cfg.fdLimit - rwBase) / 2
			}
			nList = append(nList, nMax)
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			fatalf("-ns: bad connection count %q", f)
		}
		nList = append(nList, v)
	}

	// the driver holds the clients' sockets, its child the upstreams'
	need := uint64(slicesMax(nList) + 256)
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < need {
		if lim.Max < need {
			lim.Max = need // as root with CAP_SYS_RESOURCE
		}
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fatalf("the load generator needs %d fds (N plus its own) on each side: "+
				"raising its limit failed: %v", need, err)
		}
	}

	// end the run cleanly on ^C: the proxies die with the driver
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "driver: %v: stopping\n", s)
		os.Exit(130)
	}()

	pat := newPattern(max(cfg.size, 256<<10))
	started := time.Now()
	meta := map[string]any{
		"started":        started.UTC().Format(time.RFC3339),
		"fd_limit":       cfg.fdLimit,
		"uid":            cfg.uid,
		"size":           cfg.size,
		"dirs":           dirs,
		"min_bytes":      cfg.minBytes,
		"repeat":         repeat,
		"ns":             nList,
		"n_max":          nMax,
		"rw_baseline":    rwBase,
		"rw_contender":   cfg.rwName,
		"cpus":           runtime.NumCPU(),
		"loadavg_start":  loadavg(),
		"contenders":     cfg.contenders,
		"pipe_user_soft": readInt("/proc/sys/fs/pipe-user-pages-soft"),
		"pipe_max_size":  readInt("/proc/sys/fs/pipe-max-size"),
	}
	var results []result
	total := repeat * len(nList) * len(cfg.contenders)
	k := 0
	for rep := 1; rep <= repeat; rep++ {
		for _, n := range nList {
			for _, c := range cfg.contenders {
				k++
				t0 := time.Now()
				r := runOne(c, n, rep, cfg, pat)
				results = append(results, r)
				fmt.Fprintf(os.Stderr, "[%d/%d] %s N=%d rep %d (%.0fs): %s\n", k, total, c.Name, n, rep,
					time.Since(t0).Seconds(), summary(&r))
			}
		}
	}
	meta["loadavg_end"] = loadavg()
	meta["seconds"] = time.Since(started).Seconds()
	b, _ := json.MarshalIndent(map[string]any{"meta": meta, "results": results}, "", " ")
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		fatalf("%v", err)
	}
}

func summary(r *result) string {
	var parts []string
	if c := r.Connect; c != nil {
		parts = append(parts, fmt.Sprintf("served %d/%d", c.Served, r.N))
	}
	if i := r.Idle; i != nil {
		parts = append(parts, fmt.Sprintf("idle %.2f fds/conn, %d pipes %.1f MiB, RSS %.0f MiB",
			i.FdsPerConn, i.Pipes, float64(i.PipeBytes)/(1<<20), float64(i.RSSKiB)/1024))
	}
	if a := r.Active; a != nil {
		parts = append(parts, fmt.Sprintf("active %.2f GB in %.2fs, %.2f GB/s, %.2f GB/CPU-s, peak %d pipes",
			float64(a.Bytes)/1e9, a.Seconds, a.GBps, a.GBPerCPUs, a.PeakPipes))
	}
	if r.Error != "" {
		parts = append(parts, "ERROR: "+r.Error)
	}
	return strings.Join(parts, "; ")
}

// inheritNothing marks every fd the driver inherited (beyond the standard
// three) close-on-exec, so that the proxies start with only their own fds:
// a stray inherited pipe would count as one of theirs.
func inheritNothing() {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	for _, name := range names {
		if fd, err := strconv.Atoi(name); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func slicesMax(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func readInt(path string) int64 {
	b, _ := os.ReadFile(path)
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}
