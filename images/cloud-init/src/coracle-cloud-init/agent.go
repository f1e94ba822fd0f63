package main

// The agent: reads the seed, splits and parses user-data, then runs the
// modules in cloud-init's order. Each module validates its whole
// configuration first; one that does not validate is skipped (logged),
// the others still apply.

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const version = "coracle-cloud-init 1"

// implemented are the cloud-config keys the agent applies (kept in step
// with src/cloudinit/implemented.ts). Other keys are logged as ignored.
var implemented = map[string]bool{
	"bootcmd": true, "write_files": true, "hostname": true, "fqdn": true,
	"prefer_fqdn_over_hostname": true, "manage_etc_hosts": true, "preserve_hostname": true,
	"users": true, "groups": true, "ssh_authorized_keys": true, "disable_root": true,
	"ntp": true, "timezone": true, "runcmd": true, "final_message": true, "power_state": true,
	// merge directives are read by the host-side validator only
	"merge_how": true, "merge_type": true,
}

type Agent struct {
	// Root is the host root: "/" in the guest (the agent chroots into the
	// host first), a temporary folder in tests.
	Root string
	Log  *Logger
	// Out receives the output of commands and scripts (the console).
	Out io.Writer
	// SetHostname sets the kernel hostname (nil: only files are written).
	SetHostname func(string) error
	// PowerState carries out power_state (nil: only logged).
	PowerState func(mode string) error
	Sleep      func(time.Duration)
	Now        func() time.Time
	Uptime     func() string

	// set by Run
	state      *State
	newInst    bool
	source     string
	meta       map[string]any
	cfg        map[string]any
	scripts    []Part
	outputLog  string
	instanceID string
}

func (a *Agent) path(p string) string { return filepath.Join(a.Root, p) }

// Run applies a seed. It returns the number of errors logged.
func (a *Agent) Run(seed *Seed) int {
	if a.Sleep == nil {
		a.Sleep = time.Sleep
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Out == nil {
		a.Out = io.Discard
	}
	a.source = seed.Source
	a.outputLog = a.path("/var/log/cloud-init-output.log")

	// meta-data
	a.meta = map[string]any{}
	if len(seed.MetaData) > 0 {
		v, _, err := parseYAML11(seed.MetaData)
		if err != nil {
			a.Log.Error("meta-data", "invalid YAML: %v (instance-id, hostname and keys from it are lost)", err)
		} else if m, ok := v.(map[string]any); ok {
			a.meta = m
		} else if v != nil {
			a.Log.Error("meta-data", "must be a mapping, not %s", typeName(v))
		}
	}
	for k, v := range seed.Overrides {
		a.meta[k] = v
	}
	iid := metaString(a.meta, "instance-id")
	if iid == "" {
		a.Log.Warn("meta-data", "no instance-id: using \"nocloud\"")
		iid = "nocloud"
	}
	a.instanceID = cleanInstanceID(iid)
	a.Log.Info("", "datasource %s, instance %s", a.source, a.instanceID)

	// state
	a.state = &State{Dir: a.path("/var/lib/cloud"), InstanceID: a.instanceID}
	prev, err := a.state.Begin()
	if err != nil {
		a.Log.Error("state", "cannot write %s: %v", a.state.Dir, err)
	}
	a.newInst = !a.state.Done("scripts_user")
	switch {
	case inMemory(a.state.Dir):
		a.Log.Info("state", "/var/lib/cloud is in memory (no data disk mounted there): every boot is a first boot")
	case !a.newInst:
		a.Log.Info("state", "instance %s seen before: per-instance work is not repeated", a.instanceID)
	case prev != "" && prev != a.instanceID:
		a.Log.Info("state", "new instance %s (previous %s)", a.instanceID, prev)
	default:
		a.Log.Info("state", "first boot of instance %s", a.instanceID)
	}
	if len(seed.UserData) > 0 {
		_ = os.WriteFile(filepath.Join(a.state.instDir(), "user-data.txt"), seed.UserData, 0o600)
	}

	a.parseUserData(seed.UserData)

	for _, m := range []struct {
		name string
		fn   func()
	}{
		{"bootcmd", a.bootcmd},
		{"write_files", func() { a.writeFiles(false) }},
		{"set_hostname", a.hostname},
		{"users_groups", a.usersGroups},
		{"ssh", a.sshKeys},
		{"ntp", a.ntp},
		{"timezone", a.timezone},
		{"scripts", a.runScripts},
		{"write_files_deferred", func() { a.writeFiles(true) }},
		{"final_message", a.finalMessage},
		{"power_state", a.powerState},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					a.Log.Error(m.name, "internal error: %v", r)
				}
			}()
			m.fn()
		}()
	}
	return a.Log.Errors
}

// parseUserData splits user-data and merges its cloud-config parts: a
// later part's top-level key replaces an earlier one (cloud-init's default
// without merge_how). A part that does not parse adds nothing.
func (a *Agent) parseUserData(raw []byte) {
	a.cfg = map[string]any{}
	parts, warnings, err := SplitUserData(raw)
	for _, w := range warnings {
		a.Log.Warn("user-data", "%s", w)
	}
	if err != nil {
		a.Log.Error("user-data", "%v: user-data ignored", err)
		return
	}
	if len(parts) == 0 {
		a.Log.Info("user-data", "none")
	}
	for _, p := range parts {
		if p.Type != typeCloudConfig {
			a.scripts = append(a.scripts, p)
			a.Log.Info("user-data", "%s: %s", p.Filename, p.Type)
			continue
		}
		v, warns, err := parseYAML11(p.Body)
		for _, w := range warns {
			a.Log.Warn("user-data", "%s: %s", p.Filename, w)
		}
		if err != nil {
			a.Log.Error("user-data", "%s: invalid cloud-config YAML: %v: this part is ignored", p.Filename, err)
			continue
		}
		if v == nil {
			a.Log.Info("user-data", "%s: empty cloud-config", p.Filename)
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			a.Log.Error("user-data", "%s: cloud-config must be a mapping, not %s: this part is ignored", p.Filename, typeName(v))
			continue
		}
		keys := make([]string, 0, len(m))
		for k, x := range m {
			a.cfg[k] = x
			keys = append(keys, k)
		}
		sort.Strings(keys)
		a.Log.Info("user-data", "%s: cloud-config with %s", p.Filename, strings.Join(keys, ", "))
	}
	var ignored []string
	for k := range a.cfg {
		if !implemented[k] {
			ignored = append(ignored, k)
		}
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		a.Log.Warn("user-data", "not applied on Coracle hosts: %s", strings.Join(ignored, ", "))
	}
}

// invalid logs a module whose configuration does not validate.
func (a *Agent) invalid(module string, err error) {
	a.Log.Error(module, "%v: nothing applied", err)
}

func (a *Agent) markDone(module string) {
	if err := a.state.Mark(module); err != nil {
		a.Log.Error(module, "cannot record that it ran: %v", err)
	}
}

// ---- bootcmd (every boot) ----

func (a *Agent) bootcmd() {
	v, ok := a.cfg["bootcmd"]
	if !ok {
		return
	}
	cmds, err := wantCommands(v, "bootcmd")
	if err != nil {
		a.invalid("bootcmd", err)
		return
	}
	script := filepath.Join(a.state.instDir(), "bootcmd")
	if err := writeFileAtomic(script, []byte(Shellify(cmds)), 0o700); err != nil {
		a.Log.Error("bootcmd", "cannot write %s: %v", script, err)
		return
	}
	a.Log.Info("bootcmd", "running %d command(s)", len(cmds))
	a.runScript("bootcmd", script)
}
