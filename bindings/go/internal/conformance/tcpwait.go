package main

import (
	"syscall"
	"time"
	"unsafe"
)

// Over loopback a segment can be late (a dropped one waits for a 200 ms
// retransmission on a loaded machine), so after the peer writes to a tcp
// fixture the runner waits, up to 5 s, until the bytes are readable at the
// fixture's fd, and after eof until the FIN has arrived (tests/README.md
// section 4, tcp).

// queued is FIONREAD: the bytes readable at fd now, or -1.
func queued(fd int) int {
	var n int32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return -1
	}
	return int(n)
}

func waitTCPBytes(fd, want int) {
	for k := 0; k < 500; k++ {
		if q := queued(fd); q < 0 || q >= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tcpCloseWait is TCP_CLOSE_WAIT (include/net/tcp_states.h): the FIN is in.
const tcpCloseWait = 8

func waitTCPFin(fd int) {
	for k := 0; k < 500; k++ {
		var ti syscall.TCPInfo
		l := uint32(unsafe.Sizeof(ti))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP,
			syscall.TCP_INFO, uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 || ti.State == tcpCloseWait {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
