// Command goproxy is the Go TCP proxy of bench/scale: one goroutine per
// direction of each connection, relaying with the copy named by -mode:
//
//	splicer         splicer.Copy (sessions from the package's free list,
//	                pipes borrowed from the process-wide pool per batch)
//	splicer-nopool  a splicer.Session per direction made with
//	                WithPool(false): the session owns its pipes for its life
//	iocopy          io.Copy (TCPConn.ReadFrom: splice through a pipe from
//	                Go's own pipe pool, held for the whole copy)
//	rwloop          Read and Write with a 32 KiB buffer per direction
//
// -pool-max-pipes, -pool-max-idle and -pool-pipe-size change the pipe
// pool's settings (0: the default), and -trim-on-emfile makes a failed
// Accept or upstream Dial for lack of fds give the pool's idle pipes back
// (splicer.TrimPool: they are fds too) and try again, for experiments;
// bench/scale/run uses none of them.
//
// The first line on standard output is "goproxy: listening on ADDR".
// SIGUSR1 prints its counts and the pipe pool's statistics; SIGINT or
// SIGTERM prints them and exits.  Out of fds, Accept is retried every
// 20 ms, as net/http does, and a failed upstream dial closes the client.
//
//	goproxy -mode splicer -listen 127.0.0.1:0 -to 127.0.0.1:9000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"splicer.dev/splicer"
)

var (
	served, failed, openConns, copyErrors atomic.Int64
	acceptRetries                         atomic.Int64
)

type relay func(dst, src *net.TCPConn) error

func relays() map[string]relay {
	return map[string]relay{
		"splicer": func(dst, src *net.TCPConn) error {
			_, err := splicer.Copy(dst, src)
			return err
		},
		"splicer-nopool": func(dst, src *net.TCPConn) error {
			// as splicer.Copy's own sessions, minus the pool: the Go
			// runtime ignores the kernel's SIGPIPE, so no guard either
			s, err := splicer.New(splicer.WithPool(false), splicer.WithSIGPIPEGuard(false))
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Copy(dst, src)
			return err
		},
		"iocopy": func(dst, src *net.TCPConn) error {
			_, err := io.Copy(dst, src)
			return err
		},
		"rwloop": rwloop,
	}
}

// rwloop is the copy loop a program writes by hand, on purpose without
// io.Copy's ReaderFrom/WriterTo fast paths.
func rwloop(dst, src *net.TCPConn) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var trimOnEMFILE bool

func outOfFds(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

func serve(client *net.TCPConn, to string, copyFn relay) {
	defer openConns.Add(-1)
	defer client.Close()
	c, err := net.Dial("tcp", to)
	for try := 0; err != nil && trimOnEMFILE && outOfFds(err) && try < 100; try++ {
		splicer.TrimPool()
		time.Sleep(time.Millisecond)
		c, err = net.Dial("tcp", to)
	}
	if err != nil {
		if failed.Add(1) == 1 {
			log.Printf("goproxy: upstream: %v (counted; reported once)", err)
		}
		return
	}
	served.Add(1)
	upstream := c.(*net.TCPConn)
	defer upstream.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := copyFn(upstream, client); err != nil {
			copyErrors.Add(1)
		}
		upstream.CloseWrite() // pass the client's end of stream on
	}()
	if err := copyFn(client, upstream); err != nil {
		copyErrors.Add(1)
	}
	client.CloseWrite()
	<-done
}

func printStats(mode string) {
	fmt.Printf("goproxy: served %d, failed %d, errors %d, open %d, accept retries %d\n",
		served.Load(), failed.Load(), copyErrors.Load(), openConns.Load(), acceptRetries.Load())
	ps := splicer.ReadPoolStats()
	maxPipes, maxIdle := splicer.PoolLimits()
	pipeSize, _ := splicer.PoolOption(splicer.PoolPipeSize)
	pooled := 0
	if mode == "splicer" {
		pooled = 1
	}
	fmt.Printf("pool borrowed=%d returned=%d created=%d closed=%d misses=%d in_use=%d idle=%d "+
		"peak_in_use=%d discarded=%d undersized=%d max_pipes=%d max_idle=%d pipe_size=%d sessions_pooled=%d\n",
		ps.Borrowed, ps.Returned, ps.Created, ps.Closed, ps.Misses, ps.InUse, ps.Idle,
		ps.PeakInUse, ps.Discarded, ps.Undersized, maxPipes, maxIdle, pipeSize, pooled)
}

func main() {
	mode := flag.String("mode", "splicer", "splicer, splicer-nopool, iocopy or rwloop")
	listen := flag.String("listen", "127.0.0.1:0", "address to accept connections on")
	to := flag.String("to", "", "upstream address")
	maxPipes := flag.Int("pool-max-pipes", 0, "pool: most pipes (0: default)")
	maxIdle := flag.Int("pool-max-idle", -1, "pool: most idle pipes (-1: default)")
	pipeSize := flag.Int("pool-pipe-size", 0, "pool: bytes per pipe (0: default)")
	flag.BoolVar(&trimOnEMFILE, "trim-on-emfile", false, "out of fds: trim the pool and retry")
	flag.Parse()
	copyFn, ok := relays()[*mode]
	if !ok || *to == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: goproxy -mode splicer|splicer-nopool|iocopy|rwloop [-listen ADDR] -to ADDR")
		os.Exit(2)
	}
	if *pipeSize > 0 {
		if err := splicer.SetPoolPipeSize(*pipeSize); err != nil {
			log.Fatalf("goproxy: -pool-pipe-size: %v", err)
		}
	}
	if *maxPipes > 0 || *maxIdle >= 0 {
		mp, mi := splicer.PoolLimits()
		if *maxPipes > 0 {
			mp = *maxPipes
		}
		if *maxIdle >= 0 {
			mi = *maxIdle
		}
		if err := splicer.SetPoolLimits(mp, mi); err != nil {
			log.Fatalf("goproxy: pool limits: %v", err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("goproxy: %v", err)
	}
	fmt.Printf("goproxy: listening on %s\n", ln.Addr())

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sig {
			printStats(*mode)
			if s != syscall.SIGUSR1 {
				os.Exit(0)
			}
		}
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			if outOfFds(err) {
				if acceptRetries.Add(1) == 1 {
					log.Printf("goproxy: accept: %v (retrying every 20 ms; reported once)", err)
				}
				if trimOnEMFILE && splicer.TrimPool() > 0 {
					continue
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			log.Fatalf("goproxy: accept: %v", err)
		}
		openConns.Add(1)
		go serve(c.(*net.TCPConn), *to, copyFn)
	}
}
