package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall"

	"splicer.dev/splicer"
	"splicer.dev/splicer/raw"
)

// result is what a call returned: a value, or an errno.
type result struct {
	v     int64
	errno syscall.Errno
	other error // an error that is not an errno
}

func resultOf(v int64, err error) result {
	if err == nil {
		return result{v: v}
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return result{errno: en}
	}
	return result{other: err}
}

func (r result) String() string {
	if r.other != nil {
		return "error " + r.other.Error()
	}
	if r.errno != 0 {
		return raw.ErrName(r.errno)
	}
	return fmt.Sprint(r.v)
}

// check compares a result with an expectation (tests/README.md §5.2);
// "" means it matches.
func check(exp any, r result) string {
	if exp == nil {
		return ""
	}
	switch x := exp.(type) {
	case string:
		if r.errno != 0 && raw.ErrName(r.errno) == x {
			return ""
		}
	case map[string]any:
		if r.errno == 0 && r.other == nil && inRange(x, r.v) {
			return ""
		}
	default:
		if isNum(x) && r.errno == 0 && r.other == nil && num(x, 0) == r.v {
			return ""
		}
	}
	return fmt.Sprintf("expected %v, got %v", show(exp), r)
}

func show(v any) string {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprintf("range %v..%v", m["min"], m["max"])
	}
	return fmt.Sprint(v)
}

func inRange(m map[string]any, v int64) bool {
	if lo, ok := m["min"]; ok && v < num(lo, 0) {
		return false
	}
	if hi, ok := m["max"]; ok && v > num(hi, 0) {
		return false
	}
	return true
}

// checkNumber compares one progress or stats field.
func checkNumber(field string, exp any, got uint64) string {
	if m, ok := exp.(map[string]any); ok {
		if inRange(m, int64(got)) {
			return ""
		}
	} else if uint64(num(exp, -1)) == got {
		return ""
	}
	return fmt.Sprintf("%s: expected %v, got %d", field, show(exp), got)
}

var methodNames = map[string]splicer.Method{}

func init() {
	for m := splicer.MethodNone; m <= splicer.MethodReadWrite; m++ {
		methodNames[m.String()] = m
	}
}

func mask(v any) (int64, error) {
	if l, ok := v.([]any); ok {
		var m int64
		for _, x := range l {
			name, _ := x.(string)
			meth, ok := methodNames[name]
			if !ok {
				return 0, fmt.Errorf("unknown method %v", x)
			}
			m |= 1 << uint(meth)
		}
		return m, nil
	}
	if isNum(v) {
		return num(v, 0), nil
	}
	return 0, fmt.Errorf("bad value %v", v)
}

var optionKeys = map[string]splicer.OptionKey{
	"PIPE_SIZE": splicer.OptPipeSize, "CHUNK": splicer.OptChunk, "NONBLOCK": splicer.OptNonblock,
	"FALLBACK": splicer.OptFallback, "METHODS": splicer.OptMethods, "SIGPIPE": splicer.OptSIGPIPE,
	"POOL": splicer.OptPool, "LAZY_FILES": splicer.OptLazyFiles,
}

var poolOptionKeys = map[string]splicer.PoolKey{
	"MAX_PIPES": splicer.PoolMaxPipes, "MAX_IDLE": splicer.PoolMaxIdle, "PIPE_SIZE": splicer.PoolPipeSize,
}

func poolOptionOf(v any) (splicer.PoolKey, error) {
	if s, ok := v.(string); ok {
		if k, ok := poolOptionKeys[s]; ok {
			return k, nil
		}
		return 0, fmt.Errorf("unknown pool option %q", s)
	}
	if !isNum(v) {
		return 0, fmt.Errorf("bad pool option %v", v)
	}
	return splicer.PoolKey(num(v, 0)), nil
}

func optionOf(v any) (splicer.OptionKey, error) {
	if s, ok := v.(string); ok {
		if k, ok := optionKeys[s]; ok {
			return k, nil
		}
		return 0, fmt.Errorf("unknown option %q", s)
	}
	return splicer.OptionKey(num(v, 0)), nil
}

var fdKinds = map[string]splicer.FDKind{
	"unknown": splicer.FDUnknown, "stream": splicer.FDStream, "dgram": splicer.FDDgram,
	"seqpacket": splicer.FDSeqpacket, "pipe": splicer.FDPipe,
}

// keepKind is the kind argument of keep (tests/README.md §5.5): a name, an
// integer passed as it is, unknown by default.  A number that is not an
// integer is -1, which the library refuses, as in the C runner.
func keepKind(v any) (splicer.FDKind, error) {
	switch x := v.(type) {
	case nil:
		return splicer.FDUnknown, nil
	case string:
		if k, ok := fdKinds[x]; ok {
			return k, nil
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return splicer.FDKind(n), nil // to a C int as the C runner does
		}
		return -1, nil
	}
	return 0, fmt.Errorf("bad kind %v", v)
}

func offset(v any) int64 {
	if v == nil || v == "cur" {
		return splicer.OffCur
	}
	return num(v, 0)
}

// length is a transfer length: < 0 means until end of file.
func length(v any) int64 {
	if v == nil || v == "eof" {
		return -1
	}
	return num(v, 0)
}

func rawLen(v any) int64 {
	if n := length(v); n >= 0 {
		return n
	}
	return math.MaxInt64
}

func flagsOf(v any) uint {
	var f uint
	l, _ := v.([]any)
	for _, x := range l {
		switch x {
		case "MOVE":
			f |= raw.FMove
		case "NONBLOCK":
			f |= raw.FNonblock
		case "MORE":
			f |= raw.FMore
		case "GIFT":
			f |= raw.FGift
		}
	}
	return f
}

func (e *env) fixture(v any) (*fixture, error) {
	name, _ := v.(string)
	fx, ok := e.fx[name]
	if !ok {
		return nil, fmt.Errorf("unknown fixture %v", v)
	}
	return fx, nil
}

func (e *env) byFD(fd int) string {
	for _, fx := range e.list {
		if fx.fd == fd && fx.obj != nil && fx.kind != "invalid" {
			return fx.name
		}
	}
	return fmt.Sprintf("fd %d", fd)
}

// step runs one step; "" means it met its expectation.
func (e *env) step(m map[string]any) string {
	exp := m["expect"]
	op, _ := m["op"].(string)
	fxs := map[string]*fixture{}
	for _, k := range []string{"src", "dst", "fixture"} {
		if v, ok := m[k]; ok {
			fx, err := e.fixture(v)
			if err != nil {
				return err.Error()
			}
			fxs[k] = fx
		}
	}
	src, dst, fix := fxs["src"], fxs["dst"], fxs["fixture"]
	s := e.s
	switch op {
	case "set":
		key, err := optionOf(m["option"])
		if err != nil {
			return err.Error()
		}
		v, err := mask(m["value"])
		if err != nil {
			return err.Error()
		}
		return check(exp, resultOf(0, s.Set(key, v)))
	case "get":
		key, err := optionOf(m["option"])
		if err != nil {
			return err.Error()
		}
		if l, ok := exp.([]any); ok {
			mk, err := mask(l)
			if err != nil {
				return err.Error()
			}
			exp = mk
			v, gerr := s.Get(key)
			if gerr == nil && v == mk {
				return ""
			}
			return fmt.Sprintf("expected mask %d, got %v", mk, resultOf(v, gerr))
		}
		return check(exp, resultOf(s.Get(key)))
	case "open":
		return check(exp, resultOf(0, s.Open(dst.obj, offset(m["off_out"]), src.obj, offset(m["off_in"]), length(m["len"]))))
	case "open_tee":
		l, _ := m["dsts"].([]any)
		var dsts []any
		for _, n := range l {
			fx, err := e.fixture(n)
			if err != nil {
				return err.Error()
			}
			dsts = append(dsts, fx.obj)
		}
		return check(exp, resultOf(0, s.OpenTee(src.obj, offset(m["off_in"]), length(m["len"]), dsts...)))
	case "open_buf":
		b, err := splicer.NewBuf(int(num(m["size"], 0)))
		if err != nil {
			return check(exp, resultOf(0, err))
		}
		if d, ok := m["data"]; ok {
			data, err := dataOf(d)
			if err != nil {
				b.Free()
				return err.Error()
			}
			copy(b.Bytes(), data)
		}
		err = s.OpenBuf(dst.obj, b, int(length(m["len"])))
		if err != nil {
			b.Free()
		}
		return check(exp, resultOf(0, err))
	case "sealed_write":
		// splicer.Buf.Bytes returns nil once the buffer is handed over,
		// so the Go API cannot express a write into a sealed buffer.
		return ""
	case "step":
		return check(exp, resultOf(s.Step()))
	case "run":
		return check(exp, resultOf(s.Run()))
	case "copy":
		n := length(m["len"])
		if n < 0 {
			return check(exp, resultOf(s.Copy(dst.obj.(io.Writer), src.obj.(io.Reader))))
		}
		w, err := s.CopyN(dst.obj.(io.Writer), src.obj.(io.Reader), n)
		if err == io.EOF {
			err = nil // a source shorter than n: C reports the count
		}
		return check(exp, resultOf(w, err))
	case "abort":
		return check(exp, resultOf(s.Abort()))
	case "wait":
		fd, ev, err := s.Wait()
		if err != nil {
			return check(exp, resultOf(0, err))
		}
		want, ok := exp.(map[string]any)
		evName := "POLLIN"
		if ev == splicer.POLLOUT {
			evName = "POLLOUT"
		}
		if !ok || want["fd"] != e.byFD(fd) || want["events"] != evName {
			return fmt.Sprintf("expected %v, got %s %s", exp, e.byFD(fd), evName)
		}
		return ""
	case "progress":
		p, err := s.Progress()
		if err != nil {
			return err.Error()
		}
		want, _ := exp.(map[string]any)
		for k, v := range want {
			var msg string
			switch k {
			case "consumed":
				msg = checkNumber(k, v, p.Consumed)
			case "delivered":
				msg = checkNumber(k, v, p.Delivered)
			case "pending":
				msg = checkNumber(k, v, p.Pending)
			case "method":
				if v != p.Method.String() {
					msg = fmt.Sprintf("method: expected %v, got %v", v, p.Method)
				}
			case "finished":
				if v != p.Finished {
					msg = fmt.Sprintf("finished: expected %v, got %v", v, p.Finished)
				}
			default:
				msg = "unsupported progress field " + k
			}
			if msg != "" {
				return msg
			}
		}
		return ""
	case "stats":
		st, err := s.Stats()
		if err != nil {
			return err.Error()
		}
		want, _ := exp.(map[string]any)
		for k, v := range want {
			var msg string
			switch k {
			case "bytes":
				msg = checkNumber(k, v, st.Bytes)
			case "syscalls":
				msg = checkNumber(k, v, st.Syscalls)
			case "fallbacks":
				msg = checkNumber(k, v, st.Fallbacks)
			case "eagain":
				msg = checkNumber(k, v, st.EAGAIN)
			case "pool_misses":
				msg = checkNumber(k, v, st.PoolMisses)
			case "pool_spills":
				msg = checkNumber(k, v, st.PoolSpills)
			case "by_method":
				bm, _ := v.(map[string]any)
				for name, n := range bm {
					meth, ok := methodNames[name]
					if !ok {
						return "unknown method " + name
					}
					if msg = checkNumber("by_method."+name, n, st.ByMethod[meth]); msg != "" {
						break
					}
				}
			default:
				msg = "unsupported stats field " + k
			}
			if msg != "" {
				return msg
			}
		}
		return ""
	case "method_for":
		meth, err := splicer.MethodFor(src.fd, dst.fd)
		if s, ok := exp.(string); ok {
			if err != nil {
				return check(exp, resultOf(0, err))
			}
			if meth.String() == s {
				return ""
			}
			return fmt.Sprintf("expected %s, got %v", s, meth)
		}
		return ""
	case "pump":
		return e.pump(m, exp)
	case "drain":
		if fix.dgram {
			// whole datagrams, whatever max says
			total := 0
			for {
				n, ok := recvDatagram(fix, 0)
				if !ok {
					break
				}
				total += n
			}
			return check(exp, result{v: int64(total)})
		}
		max := int(num(m["max"], math.MaxInt32))
		total := 0
		for total < max {
			b := readNow(fix.peer, min(max-total, 65536))
			if len(b) == 0 {
				break
			}
			fix.arrived = append(fix.arrived, b...)
			total += len(b)
		}
		return check(exp, result{v: int64(total)})
	case "write_peer":
		data, err := dataOf(m["data"])
		if err != nil {
			return err.Error()
		}
		before := -1
		if fix.kind == "tcp" {
			before = queued(fix.fd)
		}
		if err := writeAll(fix.peer, data); err != nil {
			return check(exp, resultOf(0, err))
		}
		if before >= 0 {
			waitTCPBytes(fix.fd, before+len(data))
		}
		return check(exp, result{v: int64(len(data))})
	case "close_peer":
		if fix.peer >= 0 {
			syscall.Close(fix.peer)
			fix.peer = -1
		}
		fix.peerClosed = true
		return check(exp, result{})
	case "send_datagram":
		data, err := dataOf(m["data"])
		if err != nil {
			return err.Error()
		}
		if !fix.dgram || fix.peer < 0 {
			return "fixture " + fix.name + " is not a datagram fixture"
		}
		for {
			err = syscall.Sendto(fix.peer, data, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return "send: " + err.Error()
		}
		return check(exp, result{v: int64(len(data))})
	case "use_session":
		name, _ := m["name"].(string)
		if name == "" {
			return "name is required"
		}
		for i, n := range e.names {
			if n == name {
				e.s = e.sessions[i]
				return check(exp, result{})
			}
		}
		ns, err := splicer.New()
		if err != nil {
			return "new session: " + err.Error()
		}
		e.sessions = append(e.sessions, ns)
		e.names = append(e.names, name)
		e.s = ns
		return check(exp, result{})
	case "pool_set":
		key, err := poolOptionOf(m["option"])
		if err != nil {
			return err.Error()
		}
		if !isNum(m["value"]) {
			return "value is required"
		}
		return check(exp, resultOf(0, splicer.SetPoolOption(key, num(m["value"], 0))))
	case "pool_get":
		key, err := poolOptionOf(m["option"])
		if err != nil {
			return err.Error()
		}
		return check(exp, resultOf(splicer.PoolOption(key)))
	case "pool_stats":
		return checkPoolStats(exp, splicer.ReadPoolStats())
	case "pool_trim":
		return check(exp, result{v: int64(splicer.TrimPool())})
	case "keep":
		if fix == nil {
			return "fixture is required"
		}
		kind, err := keepKind(m["kind"])
		if err != nil {
			return err.Error()
		}
		if nb, _ := m["nonblock"].(bool); nb {
			kind |= splicer.FDNonblock
		}
		return check(exp, resultOf(0, s.KeepAs(fix.obj, kind)))
	case "forget":
		if all, _ := m["all"].(bool); all {
			return check(exp, resultOf(0, s.ForgetAll()))
		}
		if fix == nil {
			return "fixture is required"
		}
		return check(exp, resultOf(0, s.Forget(fix.obj)))
	case "position":
		return check(exp, resultOf(syscall.Seek(fix.fd, 0, io.SeekCurrent)))
	case "raw_splice":
		return check(exp, resultOf(raw.Splice(src.fd, offset(m["off_in"]), dst.fd, offset(m["off_out"]), rawLen(m["len"]), flagsOf(m["flags"]))))
	case "raw_tee":
		return check(exp, resultOf(raw.Tee(src.fd, dst.fd, rawLen(m["len"]), flagsOf(m["flags"]))))
	case "raw_sendfile":
		return check(exp, resultOf(raw.Sendfile(dst.fd, src.fd, offset(m["off_in"]), rawLen(m["len"]))))
	case "raw_copy_file_range":
		return check(exp, resultOf(raw.CopyFileRange(src.fd, offset(m["off_in"]), dst.fd, offset(m["off_out"]), rawLen(m["len"]))))
	case "raw_vmsplice":
		data, err := dataOf(m["data"])
		if err != nil {
			return err.Error()
		}
		size := max(len(data), 1)
		b, err := raw.NewBuf(size)
		if err != nil {
			return check(exp, resultOf(0, err))
		}
		e.bufs = append(e.bufs, b) // untouched until the case ends
		copy(b.Bytes(), data)
		k := int(num(m["iovecs"], 1))
		var iov []raw.Region
		off := 0
		for i := 0; i < k; i++ {
			n := len(data) / k
			if i < len(data)%k {
				n++
			}
			iov = append(iov, raw.Region{Buf: b, Off: off, Len: n})
			off += n
		}
		return check(exp, resultOf(raw.Vmsplice(dst.fd, flagsOf(m["flags"]), iov...)))
	case "pipe_size":
		n, err := raw.PipeSize(fix.fd)
		return check(exp, resultOf(int64(n), err))
	case "set_pipe_size":
		n, err := raw.SetPipeSize(fix.fd, int(num(m["size"], 0)))
		return check(exp, resultOf(int64(n), err))
	}
	return "unsupported op " + op
}

// pump drives a non-blocking transfer with a scripted consumer, exactly as
// tests/README.md §5.3 describes.
func (e *env) pump(m map[string]any, exp any) string {
	reads := []int{65536}
	if l, ok := m["reads"].([]any); ok && len(l) > 0 {
		reads = reads[:0]
		for _, v := range l {
			reads = append(reads, int(num(v, 65536)))
		}
	}
	var total, eagains int64
	k := 0
	var res result
	done := false
	for i := 0; i < 100000 && !done; i++ {
		r, err := e.s.Step()
		switch {
		case err == nil && r > 0:
			total += r
			continue
		case err == nil:
			res, done = result{v: total}, true
			continue
		case !errors.Is(err, syscall.EAGAIN):
			res, done = resultOf(0, err), true
			continue
		}
		eagains++
		fd, ev, err := e.s.Wait()
		if err != nil {
			return "pump: wait: " + err.Error()
		}
		var fx *fixture
		for _, f := range e.list {
			if f.fd == fd && f.kind != "invalid" {
				fx = f
			}
		}
		if ev != splicer.POLLOUT || fx == nil || fx.peer < 0 {
			return "pump: source not readable"
		}
		got := false
		if fx.dgram {
			_, got = recvDatagram(fx, 0) // one whole datagram
		} else {
			b := readNow(fx.peer, reads[k%len(reads)])
			fx.arrived = append(fx.arrived, b...)
			got = len(b) > 0
		}
		k++
		if !got {
			pollIn(fx.peer, 10)
		}
	}
	if !done {
		return "pump: 100000 steps without an end"
	}
	if msg := check(exp, res); msg != "" {
		return msg
	}
	if ea, ok := m["eagain"]; ok {
		return checkNumber("eagain", ea, uint64(eagains))
	}
	return ""
}

// checkPoolStats compares the pool's statistics with an expectation:
// counters since the case began, gauges as they are now.
func checkPoolStats(exp any, st splicer.PoolStats) string {
	want, _ := exp.(map[string]any)
	b := poolStart
	fields := map[string]uint64{
		"borrowed":    st.Borrowed - b.Borrowed,
		"returned":    st.Returned - b.Returned,
		"created":     st.Created - b.Created,
		"closed":      st.Closed - b.Closed,
		"misses":      st.Misses - b.Misses,
		"discarded":   st.Discarded - b.Discarded,
		"undersized":  st.Undersized - b.Undersized,
		"spills":      st.Spills - b.Spills,
		"in_use":      st.InUse,
		"idle":        st.Idle,
		"peak_in_use": st.PeakInUse,
	}
	for _, k := range []string{"borrowed", "returned", "created", "closed", "misses", "discarded", "undersized", "spills", "in_use", "idle", "peak_in_use"} {
		v, ok := want[k]
		if !ok {
			continue
		}
		if msg := checkNumber(k, v, fields[k]); msg != "" {
			return msg
		}
	}
	for k := range want {
		if _, ok := fields[k]; !ok {
			return "unsupported pool_stats field " + k
		}
	}
	return ""
}
