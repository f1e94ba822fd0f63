// coracle-runtime is the guest init's Go helper: it applies the host-side
// part of a container bundle's runtime.json (LinuxKit's `runtime` key) and
// starts and stops the services through containerd's API.
//
//	coracle-runtime prepare BUNDLE      mkdir, mounts, cgroups (before start)
//	coracle-runtime bindns BUNDLE PID   bind the task's namespaces (after start)
//	coracle-runtime services start      wait for containerd, start every service
//	coracle-runtime services supervise  restart services that exit, by policy (stays running)
//	coracle-runtime services stop       the supervisor stopped, then SIGTERM, SIGKILL after stop_timeout, delete
//	coracle-runtime logd                keep every container's output: ring + rotated /var/log files (stays running)
//	coracle-runtime logs [-f] [-n N] NAME   a container's lines from logd
//	coracle-runtime logs-agent ID NAME TAIL 0|1   the same for the control channel (coracle logs)
//	ctr ...                             containerd's ctr, when called by that name (/usr/bin/ctr)
//
// Not supported (reported on stderr, the container still starts):
// `interfaces` and `namespace`.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

type mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options"`
}

type runtimeConfig struct {
	Cgroups    []string          `json:"cgroups"`
	Mounts     []mount           `json:"mounts"`
	Mkdir      []string          `json:"mkdir"`
	Interfaces []json.RawMessage `json:"interfaces"`
	BindNS     map[string]string `json:"bindNS"`
	Namespace  string            `json:"namespace"`
}

const cgroupRoot = "/sys/fs/cgroup"

func main() {
	if filepath.Base(os.Args[0]) == "ctr" {
		os.Exit(runCtr())
	}
	if len(os.Args) >= 2 {
		switch os.Args[1] {
		case "logd":
			os.Exit(runLogd())
		case "logs":
			os.Exit(logsCommand(os.Args[2:]))
		case "logs-agent":
			os.Exit(logsAgent(os.Args[2:]))
		}
	}
	if len(os.Args) < 3 {
		usage()
	}
	if os.Args[1] == "services" {
		switch os.Args[2] {
		case "start":
			os.Exit(servicesStart())
		case "supervise":
			os.Exit(servicesSupervise())
		case "stop":
			os.Exit(servicesStop())
		}
		usage()
	}
	rt, err := load(os.Args[2])
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "prepare":
		err = prepare(rt)
	case "bindns":
		if len(os.Args) != 4 {
			usage()
		}
		err = bindNS(rt, os.Args[3])
	default:
		usage()
	}
	if err != nil {
		fail(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: coracle-runtime prepare BUNDLE | bindns BUNDLE PID | services start|supervise|stop | logd | logs [-f] [-n N] NAME")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "coracle-runtime: %v\n", err)
	os.Exit(1)
}

func load(bundle string) (*runtimeConfig, error) {
	path := filepath.Join(bundle, "runtime.json")
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &runtimeConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var rt runtimeConfig
	if err := json.Unmarshal(data, &rt); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &rt, nil
}

func prepare(rt *runtimeConfig) error {
	var errs []string
	// Mounts first so a mkdir can land under a mount.
	for _, m := range rt.Mounts {
		if err := doMount(m); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, d := range rt.Mkdir {
		if err := os.MkdirAll(d, 0o755); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, c := range rt.Cgroups {
		p := filepath.Join(cgroupRoot, filepath.Clean("/"+c))
		if err := os.MkdirAll(p, 0o755); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(rt.Interfaces) > 0 {
		fmt.Fprintln(os.Stderr, "coracle-runtime: runtime.interfaces is not supported, ignored")
	}
	if rt.Namespace != "" {
		fmt.Fprintln(os.Stderr, "coracle-runtime: runtime.namespace is not supported, ignored")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, syscall.MS_RDONLY},
	"rw":          {true, syscall.MS_RDONLY},
	"bind":        {false, syscall.MS_BIND},
	"rbind":       {false, syscall.MS_BIND | syscall.MS_REC},
	"nosuid":      {false, syscall.MS_NOSUID},
	"suid":        {true, syscall.MS_NOSUID},
	"nodev":       {false, syscall.MS_NODEV},
	"dev":         {true, syscall.MS_NODEV},
	"noexec":      {false, syscall.MS_NOEXEC},
	"exec":        {true, syscall.MS_NOEXEC},
	"sync":        {false, syscall.MS_SYNCHRONOUS},
	"async":       {true, syscall.MS_SYNCHRONOUS},
	"remount":     {false, syscall.MS_REMOUNT},
	"noatime":     {false, syscall.MS_NOATIME},
	"atime":       {true, syscall.MS_NOATIME},
	"nodiratime":  {false, syscall.MS_NODIRATIME},
	"diratime":    {true, syscall.MS_NODIRATIME},
	"relatime":    {false, syscall.MS_RELATIME},
	"norelatime":  {true, syscall.MS_RELATIME},
	"strictatime": {false, syscall.MS_STRICTATIME},
	"mand":        {false, syscall.MS_MANDLOCK},
	"nomand":      {true, syscall.MS_MANDLOCK},
}

var propagation = map[string]uintptr{
	"shared":   syscall.MS_SHARED,
	"rshared":  syscall.MS_SHARED | syscall.MS_REC,
	"private":  syscall.MS_PRIVATE,
	"rprivate": syscall.MS_PRIVATE | syscall.MS_REC,
	"slave":    syscall.MS_SLAVE,
	"rslave":   syscall.MS_SLAVE | syscall.MS_REC,
}

func doMount(m mount) error {
	if m.Destination == "" {
		return fmt.Errorf("mount without destination")
	}
	var flags uintptr
	var prop []uintptr
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
		} else if p, ok := propagation[o]; ok {
			prop = append(prop, p)
		} else {
			data = append(data, o)
		}
	}
	if m.Type == "bind" {
		flags |= syscall.MS_BIND
	}
	if err := os.MkdirAll(m.Destination, 0o755); err != nil {
		return err
	}
	typ := m.Type
	if flags&syscall.MS_BIND != 0 {
		typ = ""
	}
	if err := syscall.Mount(m.Source, m.Destination, typ, flags&^syscall.MS_RDONLY, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount %s on %s: %v", m.Source, m.Destination, err)
	}
	// A read-only bind needs a remount to take effect.
	if flags&syscall.MS_RDONLY != 0 {
		rf := flags | syscall.MS_REMOUNT
		if err := syscall.Mount("", m.Destination, "", rf, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %v", m.Destination, err)
		}
	}
	for _, p := range prop {
		if err := syscall.Mount("", m.Destination, "", p, ""); err != nil {
			return fmt.Errorf("propagation of %s: %v", m.Destination, err)
		}
	}
	return nil
}

func bindNS(rt *runtimeConfig, pid string) error {
	var errs []string
	for ns, path := range rt.BindNS {
		if path == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		f.Close()
		src := fmt.Sprintf("/proc/%s/ns/%s", pid, ns)
		if err := syscall.Mount(src, path, "", syscall.MS_BIND, ""); err != nil {
			errs = append(errs, fmt.Sprintf("bind %s on %s: %v", src, path, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
