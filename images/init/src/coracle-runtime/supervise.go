package main

// The supervisor: one background process (started by the init after
// `services start`) that waits on every service task and, by the bundle's
// restart policy, starts it again when it exits. Stopped by `services stop`
// before it stops the services, so a service stopped at shutdown is not
// restarted.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/runtime/v2/runc/options"
)

const (
	supervisorPid = "/run/coracle/supervise.pid"
	// A service that exits with a non-zero status is restarted; one that
	// exits 0 stopped on purpose. LinuxKit restarts nothing; `restart: no`
	// keeps that.
	defaultRestart = "on-failure"
	firstBackoff   = time.Second
	maxBackoff     = 30 * time.Second
	// More restarts than restartLimit within restartWindow: the service is
	// marked failed and left stopped.
	restartLimit  = 5
	restartWindow = 5 * time.Minute
)

// bundleConf reads BUNDLE/coracle.conf (key=value lines, written by
// `coracle build` for the keys the spec sets).
func bundleConf(bundle string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(filepath.Join(bundle, "coracle.conf"))
	if err != nil {
		return out
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok {
			out[k] = v
		}
	}
	return out
}

func restartPolicy(bundle, name string) string {
	p, ok := bundleConf(bundle)["restart"]
	if !ok {
		return defaultRestart
	}
	switch p {
	case "no", "on-failure", "always":
		return p
	}
	logLine("service %s: unknown restart policy %q, using %s", name, p, defaultRestart)
	return defaultRestart
}

// backoff: 1 s doubling with every restart in the window, at most 30 s.
func backoff(recent int) time.Duration {
	d := firstBackoff
	for i := 0; i < recent && d < maxBackoff; i++ {
		d *= 2
	}
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// seconds: "2s", "30s", "1.5s" as the console lines say them.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

type supervisor struct {
	client *containerd.Client
	ctx    context.Context
	rtOpts *options.Options
	// held while a service is being restarted and by the stop request, so
	// the supervisor never exits half-way through a restart
	mu       sync.Mutex
	stopping bool
}

func servicesSupervise() int {
	bundles, err := serviceBundles()
	if err != nil || len(bundles) == 0 {
		return 0
	}
	client, err := containerd.New(containerdSock, containerd.WithDefaultRuntime(shimRuntime))
	if err != nil {
		logLine("supervisor: %v", err)
		return 1
	}
	defer client.Close()
	rtOpts, err := shimOptions(os.Getenv("RUNTIME"))
	if err != nil {
		logLine("supervisor: %v", err)
		return 1
	}
	s := &supervisor{client: client, ctx: namespaces.WithNamespace(context.Background(), servicesNS), rtOpts: rtOpts}
	os.MkdirAll(filepath.Dir(supervisorPid), 0o755)
	os.WriteFile(supervisorPid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	var wg sync.WaitGroup
	for _, b := range bundles {
		name := filepath.Base(b)
		c, err := client.LoadContainer(s.ctx, name)
		if err != nil {
			continue // it failed to start (already logged)
		}
		task, err := c.Task(s.ctx, nil)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func(b string, c containerd.Container, task containerd.Task) {
			defer wg.Done()
			s.watch(b, c, task)
		}(b, c, task)
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-term:
	case <-all:
	}
	s.mu.Lock()
	s.stopping = true
	os.Remove(supervisorPid)
	return 0
}

// watch: wait for the task to exit, then restart it or not by policy, until
// the policy says no, the limit is reached or the supervisor stops.
func (s *supervisor) watch(bundle string, c containerd.Container, task containerd.Task) {
	name := filepath.Base(bundle)
	policy := restartPolicy(bundle, name)
	var restarts []time.Time
	// logd sequence before this run's first line (the first run: since boot)
	var since uint64
	for {
		exit, err := task.Wait(s.ctx)
		if err != nil {
			logLine("service %s: cannot wait for it: %v", name, err)
			return
		}
		st := <-exit
		code := st.ExitCode()
		if s.isStopping() {
			return
		}
		// Deleted now: the shim hands the task's last output to the log
		// before it goes, so the lines shown below are all there.
		if _, err := task.Delete(s.ctx); err != nil {
			fmt.Fprintf(os.Stderr, "coracle-runtime: %s: delete the exited task: %v\n", name, err)
		}
		if s.isStopping() {
			return
		}
		if policy == "no" || (policy == "on-failure" && code == 0) {
			logLine("service %s exited with status %d", name, code)
			showLastLines(name, code, since)
			return
		}
		now := time.Now()
		kept := restarts[:0]
		for _, t := range restarts {
			if now.Sub(t) < restartWindow {
				kept = append(kept, t)
			}
		}
		restarts = kept
		if len(restarts) >= restartLimit {
			logLine("service %s exited with status %d", name, code)
			showLastLines(name, code, since)
			logLine("service %s failed: restarted %d times within %dm", name, restartLimit, int(restartWindow/time.Minute))
			return
		}
		delay := backoff(len(restarts))
		restarts = append(restarts, now)
		logLine("service %s exited with status %d; restarting in %s (restart %d of %d)", name, code, seconds(delay), len(restarts), restartLimit)
		showLastLines(name, code, since)
		time.Sleep(delay)
		// this run's lines are those after the mark
		since = logdMark(name)
		t, pid, err := s.restart(bundle, c)
		if err == errStopping {
			return
		}
		if err != nil {
			logLine("service %s failed: restart failed: %v", name, err)
			return
		}
		logLine("service %s restarted (pid %d)", name, pid)
		task = t
	}
}

// lastLines: how much of a failed run's output the console shows.
const lastLines = 10

// showLastLines: after a non-zero exit, the run's last lines (from logd)
// on the console, each cut to one console line.
func showLastLines(name string, code uint32, since uint64) {
	if code == 0 {
		return
	}
	lines, err := logdTail(name, lastLines, since)
	if err != nil || len(lines) == 0 {
		return
	}
	what := "line"
	if len(lines) > 1 {
		what = "lines"
	}
	logLine("service %s output (last %d %s):", name, len(lines), what)
	logMu.Lock()
	defer logMu.Unlock()
	for _, l := range lines {
		fmt.Printf("  %s | %s\n", name, consoleText(l, 200))
	}
}

// consoleText: at most max characters, control characters (a terminal
// escape in a crashing service's output) shown as '?'.
func consoleText(s string, max int) string {
	r := []rune(s)
	if len(r) > max {
		r = append(r[:max], '…')
	}
	for i, c := range r {
		if c < 0x20 && c != '\t' || c == 0x7f {
			r[i] = '?'
		}
	}
	return string(r)
}

var errStopping = fmt.Errorf("stopping")

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// restart: a new task in the same container (same writable layer, output
// to the same log), its namespaces bound again where runtime.json asks.
func (s *supervisor) restart(bundle string, c containerd.Container) (containerd.Task, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, 0, errStopping
	}
	name := filepath.Base(bundle)
	task, err := c.NewTask(s.ctx, serviceLog(name))
	if err != nil {
		return nil, 0, err
	}
	if err := task.Start(s.ctx); err != nil {
		task.Delete(s.ctx, containerd.WithProcessKill)
		return nil, 0, err
	}
	pid := task.Pid()
	if rt, err := load(bundle); err == nil && len(rt.BindNS) > 0 {
		// the old namespaces' binds first, or the new ones would stack on them
		for _, p := range rt.BindNS {
			if p != "" {
				syscall.Unmount(p, syscall.MNT_DETACH)
			}
		}
		if err := bindNS(rt, strconv.Itoa(int(pid))); err != nil {
			fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
			logLine("service %s: bindNS failed", name)
		}
	}
	return task, pid, nil
}

// stopSupervisor: SIGTERM to the supervisor, then wait (up to 10 s, as it
// may be finishing a restart) until it is gone.
func stopSupervisor() {
	data, err := os.ReadFile(supervisorPid)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(supervisorPid); os.IsNotExist(err) {
			return
		}
		if !processAlive(supervisorPid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
