package main

// logd: the guest's log keeper (LinuxKit's memlogd and logwrite in one
// process), started by the init before the first container. Every
// container (services, onboot, onshutdown) writes its stdout and stderr
// into a FIFO that logd holds open read-write (so the FIFO never reaches
// end-of-file and a restarted service's new task writes into the same one):
// services through the containerd shim (its task's log "file" is the
// FIFO), onboot and onshutdown through the init's tee. For each container
// logd keeps
//   - a ring of its last lines in memory (bounded by bytes), and
//   - /var/log/NAME.log (onboot/NNN-NAME.log ...), rotated by size,
// and answers readers on a Unix socket, one request line each:
//   tail KEY N SINCE FOLLOW   "ok KEY" then the lines (the last N after
//                             sequence SINCE; FOLLOW=1: then new ones as
//                             they come, until the reader closes)
//   mark KEY                  "ok SEQ": the sequence of its last line
//   list                      "ok" then one key per line
// An error is one line "err MESSAGE". No extra process per container:
// the FIFOs are read through Go's poller.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	logdSock = "/run/coracle/logd.sock"
	logdPid  = "/run/coracle/logd.pid"
	// a follower that falls this many lines behind is cut off
	followBacklog = 1024
)

// variables for the unit tests
var (
	logFifoDir = "/run/coracle/log"
	logDir     = "/var/log"
)

// logSettings: file size and count, ring size; from the kernel command line
// (coracle.log_size=, coracle.log_files=, coracle.log_ring=).
type logSettings struct {
	size  int64
	files int
	ring  int
}

var defaultLogSettings = logSettings{size: 1 << 20, files: 2, ring: 256 << 10}

// parseByteSize: 4096, 64K, 1M (binary units).
func parseByteSize(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, false
	}
	return n * mult, true
}

// logSettingsFrom reads the kernel command line; a bad value keeps the
// default and is reported.
func logSettingsFrom(cmdline string) (logSettings, []string) {
	s := defaultLogSettings
	var bad []string
	for _, a := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		switch k {
		case "coracle.log_size":
			if n, ok := parseByteSize(v); ok && n >= 1024 {
				s.size = n
			} else {
				bad = append(bad, a)
			}
		case "coracle.log_files":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 100 {
				s.files = n
			} else {
				bad = append(bad, a)
			}
		case "coracle.log_ring":
			if n, ok := parseByteSize(v); ok && n >= 1024 && n <= 1<<30 {
				s.ring = int(n)
			} else {
				bad = append(bad, a)
			}
		}
	}
	return s, bad
}

type logFollower struct {
	ch chan string
}

// containerLog: one container's ring, file and FIFO. mu is held while a
// chunk read from the FIFO is taken in, so "nothing left in the FIFO" under
// mu means every byte written so far is in the ring.
type containerLog struct {
	key   string
	mu    sync.Mutex
	ring  *logRing
	split lineSplitter
	file  *rotatingFile
	fifo  *os.File
	subs  map[*logFollower]bool
	// the file failed once (reported once)
	fileErr bool
}

func (l *containerLog) take(p []byte) {
	if l.file != nil && !l.fileErr {
		if _, err := l.file.Write(p); err != nil {
			l.fileErr = true
			fmt.Fprintf(os.Stderr, "coracle-runtime logd: %s: %v\n", l.key, err)
		}
	}
	l.split.feed(p, func(line string) {
		l.ring.add(line)
		for f := range l.subs {
			select {
			case f.ch <- line:
			default:
				// too slow: cut it off rather than hold lines for it
				delete(l.subs, f)
				close(f.ch)
			}
		}
	})
}

// pump reads the FIFO through the poller for as long as logd runs.
func (l *containerLog) pump() {
	rc, err := l.fifo.SyscallConn()
	if err != nil {
		fmt.Fprintf(os.Stderr, "coracle-runtime logd: %s: %v\n", l.key, err)
		return
	}
	buf := make([]byte, 32*1024)
	rc.Read(func(fd uintptr) bool {
		for {
			l.mu.Lock()
			n, err := syscall.Read(int(fd), buf)
			if n > 0 {
				l.take(buf[:n])
			}
			l.mu.Unlock()
			switch {
			case err == syscall.EINTR || n > 0:
				continue
			case err == syscall.EAGAIN:
				return false // wait until readable again
			default:
				return true
			}
		}
	})
}

// unread: bytes in the FIFO not read yet.
func (l *containerLog) unread() int {
	rc, err := l.fifo.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) {
		var v int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); e == 0 {
			n = int(v)
		}
	})
	return n
}

// settled locks l once what was written into the FIFO has been taken in
// (or after a second, if a writer keeps it full).
func (l *containerLog) settled() {
	deadline := time.Now().Add(time.Second)
	for {
		l.mu.Lock()
		if l.unread() == 0 || time.Now().After(deadline) {
			return
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

type logd struct {
	logs map[string]*containerLog
	keys []string
}

// logKeys: one per container bundle: services by name, onboot and
// onshutdown as PHASE/NNN-NAME (their /var/log paths without .log).
func logKeys() []string {
	var keys []string
	for _, d := range []struct{ dir, prefix string }{
		{"/containers/onboot", "onboot/"},
		{"/containers/onshutdown", "onshutdown/"},
		{servicesDir, ""},
	} {
		entries, _ := os.ReadDir(d.dir)
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(d.dir, e.Name(), "config.json")); err == nil {
				keys = append(keys, d.prefix+e.Name())
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// logFifo: where KEY's container writes.
func logFifo(key string) string {
	return filepath.Join(logFifoDir, key+".fifo")
}

func runLogd() int {
	settings := defaultLogSettings
	if data, err := os.ReadFile("/proc/cmdline"); err == nil {
		var bad []string
		settings, bad = logSettingsFrom(string(data))
		for _, b := range bad {
			logLine("logs: ignored %s (see the init README for the values)", b)
		}
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	d := &logd{logs: map[string]*containerLog{}}
	for _, key := range logKeys() {
		l, err := openContainerLog(key, settings)
		if err != nil {
			logLine("logs: %s: %v", key, err)
			continue
		}
		d.logs[key] = l
		d.keys = append(d.keys, key)
		go l.pump()
	}
	os.Remove(logdSock)
	ln, err := net.Listen("unix", logdSock)
	if err != nil {
		logLine("logs: cannot listen on %s: %v", logdSock, err)
		return 1
	}
	os.WriteFile(logdPid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return 1
		}
		go d.serve(c)
	}
}

func openContainerLog(key string, s logSettings) (*containerLog, error) {
	fifo := logFifo(key)
	if err := os.MkdirAll(filepath.Dir(fifo), 0o755); err != nil {
		return nil, err
	}
	os.Remove(fifo)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %v", fifo, err)
	}
	// read-write: never end-of-file while no writer has it open
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	l := &containerLog{key: key, ring: newLogRing(s.ring), fifo: f, subs: map[*logFollower]bool{}}
	if rf, err := openRotatingFile(filepath.Join(logDir, key+".log"), s.size, s.files); err == nil {
		l.file = rf
	} else {
		fmt.Fprintf(os.Stderr, "coracle-runtime logd: %s: %v\n", key, err)
	}
	return l, nil
}

// resolve: a key, or a container's name as the spec gives it (an onboot
// container's without its NNN- prefix) when exactly one matches.
func (d *logd) resolve(name string) (*containerLog, error) {
	if l, ok := d.logs[name]; ok {
		return l, nil
	}
	var found []string
	for _, k := range d.keys {
		phase, base, ok := strings.Cut(k, "/")
		if !ok {
			continue // a service: its key is its name
		}
		// onboot/000-net answers to net and onboot/net as well
		if len(base) > 4 && base[3] == '-' && strings.Trim(base[:3], "0123456789") == "" {
			base = base[4:]
		}
		if name == base || name == phase+"/"+base {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 1:
		return d.logs[found[0]], nil
	case 0:
		return nil, fmt.Errorf("no container named %s (logs: %s)", name, strings.Join(d.keys, ", "))
	}
	return nil, fmt.Errorf("%s names more than one container: %s", name, strings.Join(found, ", "))
}

func (d *logd) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	req, err := r.ReadString('\n')
	if err != nil {
		return
	}
	w := bufio.NewWriter(c)
	defer w.Flush()
	f := strings.Fields(req)
	if len(f) == 0 {
		fmt.Fprintln(w, "err empty request")
		return
	}
	switch {
	case f[0] == "list" && len(f) == 1:
		fmt.Fprintln(w, "ok")
		for _, k := range d.keys {
			fmt.Fprintln(w, k)
		}
	case f[0] == "mark" && len(f) == 2:
		l, err := d.resolve(f[1])
		if err != nil {
			fmt.Fprintf(w, "err %v\n", err)
			return
		}
		l.settled()
		seq := l.ring.seq
		l.mu.Unlock()
		fmt.Fprintf(w, "ok %d\n", seq)
	case f[0] == "tail" && len(f) == 5:
		n, err1 := strconv.Atoi(f[2])
		since, err2 := strconv.ParseUint(f[3], 10, 64)
		if err1 != nil || err2 != nil || (f[4] != "0" && f[4] != "1") {
			fmt.Fprintln(w, "err usage: tail KEY N SINCE 0|1")
			return
		}
		l, err := d.resolve(f[1])
		if err != nil {
			fmt.Fprintf(w, "err %v\n", err)
			return
		}
		d.tail(l, w, c, r, n, since, f[4] == "1")
	default:
		fmt.Fprintf(w, "err unknown request %q\n", strings.TrimSpace(req))
	}
}

func (d *logd) tail(l *containerLog, w *bufio.Writer, c net.Conn, r *bufio.Reader, n int, since uint64, follow bool) {
	l.settled()
	pending := ""
	if !follow {
		// a line without its newline yet (a prompt, the last words of a
		// crash) counts as the last one
		pending = l.split.pending()
	}
	want := n
	if pending != "" && n > 0 {
		want = n - 1
	}
	var lines []logEntry
	if want > 0 || n <= 0 {
		lines = l.ring.tail(want, since)
	}
	var f *logFollower
	if follow {
		// registered under the same lock as the snapshot: no line lost or twice
		f = &logFollower{ch: make(chan string, followBacklog)}
		l.subs[f] = true
	}
	l.mu.Unlock()
	fmt.Fprintf(w, "ok %s\n", l.key)
	for _, e := range lines {
		w.WriteString(e.text)
		w.WriteByte('\n')
	}
	if !follow {
		if pending != "" {
			w.WriteString(pending)
			w.WriteByte('\n')
		}
		return
	}
	if err := w.Flush(); err != nil {
		d.unfollow(l, f)
		return
	}
	// the reader closing its end ends the follow
	gone := make(chan struct{})
	go func() {
		r.WriteTo(discard{})
		close(gone)
	}()
	for {
		select {
		case line, ok := <-f.ch:
			if !ok {
				w.WriteString("coracle: logs: this reader fell behind; lines dropped, follow ended\n")
				return
			}
			w.WriteString(line)
			w.WriteByte('\n')
			// write what has come; flush when nothing more is queued
			if len(f.ch) == 0 {
				if err := w.Flush(); err != nil {
					d.unfollow(l, f)
					return
				}
			}
		case <-gone:
			d.unfollow(l, f)
			return
		}
	}
}

func (d *logd) unfollow(l *containerLog, f *logFollower) {
	l.mu.Lock()
	if l.subs[f] {
		delete(l.subs, f)
		close(f.ch)
	}
	l.mu.Unlock()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// logdRequest: one request to logd; the reader is positioned after the
// "ok ..." line, whose words it returns.
func logdRequest(req string) (net.Conn, *bufio.Reader, []string, error) {
	c, err := net.DialTimeout("unix", logdSock, 2*time.Second)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := fmt.Fprintf(c, "%s\n", req); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, nil, fmt.Errorf("logd: %v", err)
	}
	head = strings.TrimRight(head, "\n")
	if strings.HasPrefix(head, "err ") {
		c.Close()
		return nil, nil, nil, fmt.Errorf("%s", head[4:])
	}
	return c, r, strings.Fields(head), nil
}

// logdUp: logd answers (its FIFOs exist and are read).
func logdUp() bool {
	c, err := net.DialTimeout("unix", logdSock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// logdMark: the sequence of KEY's last line (0 when logd does not answer).
func logdMark(key string) uint64 {
	c, _, head, err := logdRequest("mark " + key)
	if err != nil {
		return 0
	}
	c.Close()
	if len(head) == 2 {
		if n, err := strconv.ParseUint(head[1], 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// logdTail: KEY's last n lines after sequence since.
func logdTail(key string, n int, since uint64) ([]string, error) {
	c, r, _, err := logdRequest(fmt.Sprintf("tail %s %d %d 0", key, n, since))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return out, nil
		}
		out = append(out, strings.TrimRight(line, "\n"))
	}
}
