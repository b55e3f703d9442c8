package main

// What the driver reads of the proxy in /proc: its fds, pipes and their
// capacity, CPU time, memory and threads.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const fGetPipeSz = 1032 // F_GETPIPE_SZ

// fdSnapshot counts the proxy's fds and the pipes among them (distinct
// pipes: both ends of one pipe are one pipe), with their summed capacity.
// The proxy's standard streams (fds 0-2, pipes to the driver) are not
// counted as pipes.
type fdSnapshot struct {
	Fds       int   `json:"fds"`
	Pipes     int   `json:"pipes"`
	PipeBytes int64 `json:"pipe_bytes"`
}

// pipeSizes remembers the capacity of pipes already opened, by inode, so
// that repeated samples open only new pipes.  nil: open every pipe.
type pipeSizes map[uint64]int64

func scanFds(pid int, cache pipeSizes) (fdSnapshot, error) {
	var s fdSnapshot
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	f, err := os.Open(dir)
	if err != nil {
		return s, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return s, err
	}
	s.Fds = len(names)
	seen := make(map[uint64]bool)
	buf := make([]byte, 64)
	for _, name := range names {
		fd, _ := strconv.Atoi(name)
		path := dir + "/" + name
		n, err := syscall.Readlink(path, buf)
		if err != nil || fd <= 2 {
			continue // closed since the listing, or a standard stream
		}
		link := string(buf[:n])
		if !strings.HasPrefix(link, "pipe:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(link[6:], "]"), 10, 64)
		if err != nil || seen[ino] {
			continue
		}
		seen[ino] = true
		size, known := cache[ino]
		if !known {
			size = pipeSize(path)
			if size < 0 {
				continue // closed since the listing
			}
			if cache != nil {
				cache[ino] = size
			}
		}
		s.Pipes++
		s.PipeBytes += size
	}
	return s, nil
}

// pipeSize opens the pipe through /proc/PID/fd/N (read side, non-blocking,
// so the open never waits for a writer) and asks F_GETPIPE_SZ; -1 if gone.
func pipeSize(path string) int64 {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	defer syscall.Close(fd)
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), fGetPipeSz, 0)
	if e != 0 {
		return -1
	}
	return int64(r)
}

// cpuTicks is the proxy's utime+stime in clock ticks, all threads
// (including those that exited).
func cpuTicks(pid int) (int64, error) {
	t, _, err := statCounters(pid)
	return t, err
}

// statCounters reads utime+stime (clock ticks) and minor page faults.
func statCounters(pid int) (ticks, minflt int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	bad := fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	if i < 0 {
		return 0, 0, bad
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, bad
	}
	// f[0] is field 3 (state): minflt is field 10, utime 14, stime 15
	mf, err0 := strconv.ParseInt(f[7], 10, 64)
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return 0, 0, bad
	}
	return ut + st, mf, nil
}

type memSnapshot struct {
	RSSKiB  int64 `json:"rss_kib"`
	HWMKiB  int64 `json:"hwm_kib"`
	Threads int   `json:"threads"`
}

func readStatus(pid int) (memSnapshot, error) {
	var m memSnapshot
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKiB = n
		case "VmHWM":
			m.HWMKiB = n
		case "Threads":
			m.Threads = int(n)
		}
	}
	return m, nil
}

// selfCPU is this process's user+system CPU in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)*1e-6
}
