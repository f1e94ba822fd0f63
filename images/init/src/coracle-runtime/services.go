package main

// One process starts and stops every service through containerd's API: a
// ctr process per service cost a Go start (and a gRPC connection) each, and
// ran the services one after another.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/v2/runc/options"
)

const (
	containerdSock = "/run/containerd/containerd.sock"
	containerdPid  = "/run/containerd/containerd.pid"
	servicesDir    = "/containers/services"
	servicesNS     = "services.coracle"
	shimRuntime    = "io.containerd.runc.v2"
	// TCG boots are slow: containerd gets a minute to serve.
	socketTimeout = 60 * time.Second
)

var logMu sync.Mutex

// logLine prints one `coracle: ...` console line and appends it to
// /var/log/coracle.log, as lib.sh's log does.
func logLine(format string, a ...interface{}) {
	msg := fmt.Sprintf(format, a...)
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Printf("coracle: %s\n", msg)
	if f, err := os.OpenFile("/var/log/coracle.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s\n", time.Now().Format("15:04:05"), msg)
		f.Close()
	}
}

func servicesStart() int {
	if err := waitForSocket(containerdSock, containerdPid, socketTimeout); err != nil {
		logLine("containerd failed to start (see /var/log/containerd.log)")
		fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
		return 3
	}
	client, err := containerd.New(containerdSock, containerd.WithDefaultRuntime(shimRuntime))
	if err != nil {
		logLine("containerd failed to start (see /var/log/containerd.log)")
		fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
		return 3
	}
	defer client.Close()
	logLine("containerd started")

	bundles, err := serviceBundles()
	if err != nil {
		logLine("services: %v", err)
		return 1
	}
	runtimeOpts, err := shimOptions(os.Getenv("RUNTIME"))
	if err != nil {
		logLine("services: %v", err)
		return 1
	}
	ctx := namespaces.WithNamespace(context.Background(), servicesNS)
	// All start at once; their lines come in name order, as the console
	// always had them (each as soon as it and those before it are up).
	type result struct {
		pid uint32
		err error
	}
	done := make([]chan result, len(bundles))
	for i, b := range bundles {
		done[i] = make(chan result, 1)
		go func(b string, out chan<- result) {
			pid, err := startService(ctx, client, b, filepath.Base(b), runtimeOpts)
			out <- result{pid, err}
		}(b, done[i])
	}
	for i, b := range bundles {
		r := <-done[i]
		if r.err != nil {
			logLine("service %s failed to start: %v", filepath.Base(b), r.err)
			continue
		}
		logLine("service %s started (pid %d)", filepath.Base(b), r.pid)
	}
	return 0
}

// shimOptions: the runc shim calls this OCI runtime (crun or runc, by name
// or path) for every service.
func shimOptions(runtime string) (*options.Options, error) {
	if runtime == "" {
		runtime = "runc"
	}
	path, err := exec.LookPath(runtime)
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %s not found", runtime)
	}
	return &options.Options{BinaryName: path}, nil
}

func serviceBundles() ([]string, error) {
	entries, err := os.ReadDir(servicesDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		b := filepath.Join(servicesDir, e.Name())
		if _, err := os.Stat(filepath.Join(b, "config.json")); err == nil {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out, nil
}

// startService: runtime.json's host side, a writable overlay unless the root
// is read-only, then the container and its task (output to
// /var/log/NAME.log), then runtime.json's bindNS.
func startService(ctx context.Context, client *containerd.Client, bundle, name string, rtOpts *options.Options) (uint32, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return 0, err
	}
	var spec oci.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return 0, fmt.Errorf("%s/config.json: %v", bundle, err)
	}
	rt, err := load(bundle)
	if err != nil {
		return 0, err
	}
	if err := prepare(rt); err != nil {
		fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
		logLine("%s: runtime.json not fully applied", name)
	}
	if spec.Root != nil && !spec.Root.Readonly {
		if err := writableOverlay(filepath.Join(bundle, "rootfs"), name); err != nil {
			fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
			logLine("%s: writable overlay failed, not started (its writes would reach files other containers share)", name)
			return 0, fmt.Errorf("%s: writable overlay failed", name)
		}
	}
	c, err := client.NewContainer(ctx, name, containerd.WithSpec(&spec), containerd.WithRuntime(shimRuntime, rtOpts))
	if err != nil {
		return 0, err
	}
	task, err := c.NewTask(ctx, serviceLog(name))
	if err != nil {
		c.Delete(ctx)
		return 0, err
	}
	if err := task.Start(ctx); err != nil {
		task.Delete(ctx, containerd.WithProcessKill)
		c.Delete(ctx)
		return 0, err
	}
	pid := task.Pid()
	if len(rt.BindNS) > 0 {
		if err := bindNS(rt, strconv.Itoa(int(pid))); err != nil {
			fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
			logLine("service %s: bindNS failed", name)
		}
	}
	return pid, nil
}

// serviceLog: the task's output goes to logd's FIFO for the service (ring
// buffer and rotated /var/log/NAME.log), or straight to /var/log/NAME.log
// when logd is not running: the shim's open of a FIFO nobody reads would
// block the start.
func serviceLog(name string) cio.Creator {
	if fifo := logFifo(name); logdUp() {
		if st, err := os.Stat(fifo); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			return cio.LogFile(fifo)
		}
	}
	return cio.LogFile(filepath.Join("/var/log", name+".log"))
}

// writableOverlay: a tmpfs upper layer over the image rootfs so writes never
// reach the (possibly shared, hardlinked) image files.
func writableOverlay(rootfs, name string) error {
	if mounts, err := os.ReadFile("/proc/mounts"); err == nil && strings.Contains(string(mounts), " "+rootfs+" overlay ") {
		return nil
	}
	rw := filepath.Join("/run/coracle/rw", name)
	if err := os.MkdirAll(rw, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", rw, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs on %s: %v", rw, err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.MkdirAll(filepath.Join(rw, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", rootfs, rw, rw)
	if err := syscall.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay on %s: %v", rootfs, err)
	}
	return nil
}

// waitForSocket returns once containerd's socket exists, woken by inotify on
// its folder (no sleeps); a periodic check notices containerd dying first.
func waitForSocket(sock, pidFile string, timeout time.Duration) error {
	dir := filepath.Dir(sock)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	isSocket := func() bool {
		st, err := os.Stat(sock)
		return err == nil && st.Mode()&os.ModeSocket != 0
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		return err
	}
	events := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := syscall.Read(fd, buf); err != nil {
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
	deadline := time.After(timeout)
	alive := time.NewTicker(250 * time.Millisecond)
	defer alive.Stop()
	for {
		if isSocket() {
			return nil
		}
		select {
		case <-events:
		case <-alive.C:
			if !processAlive(pidFile) {
				if isSocket() {
					return nil
				}
				return fmt.Errorf("containerd exited before serving %s", sock)
			}
		case <-deadline:
			return fmt.Errorf("no %s after %s", sock, timeout)
		}
	}
}

// processAlive: the pid in the file runs (a zombie, not yet reaped by the
// init script that started it, counts as gone).
func processAlive(pidFile string) bool {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return true // launched by someone else: only the timeout applies
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(data)), "stat"))
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// stopTimeout: a service's time between SIGTERM and SIGKILL at shutdown:
// its coracle.conf stop_timeout= (the spec's stop_timeout:), else def.
func stopTimeout(bundle string, def time.Duration) time.Duration {
	if v, ok := bundleConf(bundle)["stop_timeout"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	return def
}

// servicesStop: SIGTERM to every running service task at once, SIGKILL to
// each still running after its stop timeout (coracle.conf stop_timeout=,
// else STOP_TIMEOUT seconds, default 10), then every task and container
// deleted. One line per service, in name order.
func servicesStop() int {
	// nothing may start a service again while they stop
	stopSupervisor()
	def := 10 * time.Second
	if v, err := strconv.ParseFloat(os.Getenv("STOP_TIMEOUT"), 64); err == nil && v >= 0 {
		def = time.Duration(v * float64(time.Second))
	}
	client, err := containerd.New(containerdSock, containerd.WithDefaultRuntime(shimRuntime), containerd.WithTimeout(5*time.Second))
	if err != nil {
		fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
		return 1
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), servicesNS)
	containers, err := client.Containers(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
		return 1
	}
	type svc struct {
		name    string
		c       containerd.Container
		task    containerd.Task
		exit    <-chan containerd.ExitStatus
		timeout time.Duration
		// what became of it: "" not running, "stopped", "killed"
		ended string
	}
	var svcs []*svc
	for _, c := range containers {
		s := &svc{name: c.ID(), c: c, timeout: stopTimeout(filepath.Join(servicesDir, c.ID()), def)}
		if t, err := c.Task(ctx, nil); err == nil {
			s.task = t
			if st, err := t.Status(ctx); err == nil && st.Status == containerd.Running {
				if ch, err := t.Wait(ctx); err == nil {
					s.exit = ch
					t.Kill(ctx, syscall.SIGTERM)
				}
			}
		} else if !errdefs.IsNotFound(err) {
			fmt.Fprintf(os.Stderr, "coracle-runtime: %s: %v\n", s.name, err)
		}
		svcs = append(svcs, s)
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].name < svcs[j].name })
	// A SIGTERM that reaches a service before it has set its handler (just
	// started when the poweroff came) is lost: the first process of a PID
	// namespace ignores what it does not handle. Send it again each second.
	var mu sync.Mutex
	stopResend := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopResend:
				return
			case <-tick.C:
				mu.Lock()
				for _, s := range svcs {
					if s.exit != nil && s.ended == "" {
						s.task.Kill(ctx, syscall.SIGTERM)
					}
				}
				mu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	for _, s := range svcs {
		if s.exit == nil {
			continue
		}
		wg.Add(1)
		go func(s *svc) {
			defer wg.Done()
			select {
			case <-s.exit:
				mu.Lock()
				s.ended = "stopped"
				mu.Unlock()
				return
			case <-time.After(s.timeout):
			}
			mu.Lock()
			s.ended = "killed"
			mu.Unlock()
			s.task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll)
			select {
			case <-s.exit:
			case <-time.After(2 * time.Second):
			}
		}(s)
	}
	wg.Wait()
	close(stopResend)
	// (the lines the boot tests and users' scripts read: unchanged)
	for _, s := range svcs {
		if s.ended == "killed" {
			logLine("service %s killed after %s", s.name, seconds(s.timeout))
		} else {
			logLine("service %s stopped", s.name)
		}
	}
	// each delete waits for its shim to go: all at once
	for _, s := range svcs {
		wg.Add(1)
		go func(s *svc) {
			defer wg.Done()
			if s.task != nil {
				s.task.Delete(ctx, containerd.WithProcessKill)
			}
			s.c.Delete(ctx)
		}(s)
	}
	wg.Wait()
	return 0
}
