package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogSettingsFromTheCommandLine(t *testing.T) {
	s, bad := logSettingsFrom("console=ttyS0 coracle.log_size=64K coracle.log_files=5 coracle.log_ring=1M")
	if s.size != 64<<10 || s.files != 5 || s.ring != 1<<20 || len(bad) != 0 {
		t.Errorf("%+v %v", s, bad)
	}
	s, bad = logSettingsFrom("coracle.log_size=lots coracle.log_files=-1 coracle.log_ring=10")
	if s != defaultLogSettings || len(bad) != 3 {
		t.Errorf("%+v %v", s, bad)
	}
}

// testLogd: a logd on temporary folders with the given keys, its FIFOs
// pumped as in the guest.
func testLogd(t *testing.T, s logSettings, keys ...string) *logd {
	t.Helper()
	dir := t.TempDir()
	oldFifo, oldLog := logFifoDir, logDir
	logFifoDir, logDir = filepath.Join(dir, "run"), filepath.Join(dir, "log")
	t.Cleanup(func() { logFifoDir, logDir = oldFifo, oldLog })
	d := &logd{logs: map[string]*containerLog{}}
	for _, k := range keys {
		l, err := openContainerLog(k, s)
		if err != nil {
			t.Fatal(err)
		}
		d.logs[k] = l
		d.keys = append(d.keys, k)
		go l.pump()
	}
	return d
}

// writeFifo writes as a container does (a separate open of the FIFO).
func writeFifo(t *testing.T, key, text string) {
	t.Helper()
	f, err := os.OpenFile(logFifo(key), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// ask sends one request to d and returns the answer's lines.
func ask(d *logd, req string) []string {
	a, b := net.Pipe()
	go d.serve(b)
	fmt.Fprintf(a, "%s\n", req)
	r := bufio.NewReader(a)
	var out []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return out
		}
		out = append(out, strings.TrimRight(l, "\n"))
	}
}

func TestLogdKeepsLinesAndTheFile(t *testing.T) {
	d := testLogd(t, logSettings{size: 1 << 20, files: 1, ring: 1 << 20}, "onboot/000-net", "web")
	writeFifo(t, "web", "one\ntwo\nthr")
	writeFifo(t, "web", "ee\nprompt> ")
	// everything written is there at once: tail waits for the FIFO to drain
	if got := strings.Join(ask(d, "tail web 0 0 0"), "|"); got != "ok web|one|two|three|prompt> " {
		t.Errorf("tail: %s", got)
	}
	if got := strings.Join(ask(d, "tail web 2 0 0"), "|"); got != "ok web|three|prompt> " {
		t.Errorf("tail 2: %s", got)
	}
	b, _ := os.ReadFile(filepath.Join(logDir, "web.log"))
	if string(b) != "one\ntwo\nthree\nprompt> " {
		t.Errorf("file %q", b)
	}
	// an onboot container answers to its spec name
	writeFifo(t, "onboot/000-net", "configured\n")
	if got := strings.Join(ask(d, "tail net 0 0 0"), "|"); got != "ok onboot/000-net|configured" {
		t.Errorf("by name: %s", got)
	}
	if _, err := os.Stat(filepath.Join(logDir, "onboot", "000-net.log")); err != nil {
		t.Error(err)
	}
	if got := ask(d, "tail nope 0 0 0"); len(got) != 1 || !strings.HasPrefix(got[0], "err no container named nope (logs: onboot/000-net, web)") {
		t.Errorf("unknown: %v", got)
	}
	if got := strings.Join(ask(d, "list"), "|"); got != "ok|onboot/000-net|web" {
		t.Errorf("list: %s", got)
	}
}

func TestLogdMarkSeparatesRuns(t *testing.T) {
	d := testLogd(t, logSettings{size: 1 << 20, files: 1, ring: 1 << 20}, "svc")
	writeFifo(t, "svc", "first run\n")
	mark := ask(d, "mark svc")
	if len(mark) != 1 || mark[0] != "ok 1" {
		t.Fatalf("mark: %v", mark)
	}
	writeFifo(t, "svc", "second run\nfailed\n")
	if got := strings.Join(ask(d, "tail svc 10 1 0"), "|"); got != "ok svc|second run|failed" {
		t.Errorf("since the mark: %s", got)
	}
}

func TestLogdFollowGetsNewLinesUntilTheReaderCloses(t *testing.T) {
	d := testLogd(t, logSettings{size: 1 << 20, files: 1, ring: 1 << 20}, "svc")
	writeFifo(t, "svc", "old\n")
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { d.serve(b); close(done) }()
	fmt.Fprintf(a, "tail svc 1 0 1\n")
	r := bufio.NewReader(a)
	expect := func(want string) {
		t.Helper()
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil || l != want+"\n" {
			t.Fatalf("got %q %v, want %q", l, err, want)
		}
	}
	expect("ok svc")
	expect("old")
	writeFifo(t, "svc", "new 1\nnew 2\n")
	expect("new 1")
	expect("new 2")
	a.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end when its reader closed")
	}
	if n := len(d.logs["svc"].subs); n != 0 {
		t.Errorf("%d followers left", n)
	}
}

func TestLogdRotatesItsFiles(t *testing.T) {
	d := testLogd(t, logSettings{size: 1024, files: 2, ring: 1 << 20}, "chatty")
	var all strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&all, "chatty line %04d\n", i) // 17 bytes
	}
	writeFifo(t, "chatty", all.String())
	ask(d, "mark chatty") // drained
	p := filepath.Join(logDir, "chatty.log")
	for _, f := range []string{p, p + ".1", p + ".2"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1024 {
			t.Errorf("%s: %d bytes", f, st.Size())
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Error("a third rotated file")
	}
	b, _ := os.ReadFile(p)
	if !strings.HasSuffix(string(b), "chatty line 0199\n") {
		t.Errorf("current file ends %q", string(b)[len(b)-20:])
	}
	// the ring has them all
	if got := ask(d, "tail chatty 0 0 0"); len(got) != 201 {
		t.Errorf("%d lines in the ring", len(got)-1)
	}
}
