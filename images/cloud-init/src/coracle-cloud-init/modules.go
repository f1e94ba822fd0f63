package main

// ntp, timezone, scripts (runcmd and #! parts), final_message, power_state.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---- ntp: /etc/ntp.conf, which Coracle's ntpd service reads ----

type NTPConfig struct {
	Enabled bool
	Servers []string
	Pools   []string
}

var defaultPools = []string{"0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org", "3.pool.ntp.org"}

func ParseNTP(v any) (NTPConfig, error) {
	c := NTPConfig{Enabled: true}
	if v == nil {
		c.Pools = defaultPools
		return c, nil
	}
	m, err := wantMap(v, "ntp")
	if err != nil {
		return c, err
	}
	if x, ok := m["enabled"]; ok && x != nil {
		if c.Enabled, err = wantBool(x, "ntp.enabled"); err != nil {
			return c, err
		}
	}
	if c.Servers, err = wantStrings(m["servers"], "ntp.servers", ""); err != nil {
		return c, err
	}
	if c.Pools, err = wantStrings(m["pools"], "ntp.pools", ""); err != nil {
		return c, err
	}
	for _, s := range append(append([]string{}, c.Servers...), c.Pools...) {
		if s == "" || strings.ContainsAny(s, " \t\n#") {
			return c, fmt.Errorf("ntp: %q is not a server name", s)
		}
	}
	if len(c.Servers) == 0 && len(c.Pools) == 0 {
		c.Pools = defaultPools
	}
	return c, nil
}

// NTPConf is busybox ntpd's /etc/ntp.conf: one `server` line per server
// or pool (busybox resolves a pool name like any server).
func NTPConf(c NTPConfig) string {
	var b strings.Builder
	b.WriteString("# Written by cloud-init from user-data (ntp).\n")
	for _, s := range c.Servers {
		b.WriteString("server " + s + "\n")
	}
	for _, p := range c.Pools {
		b.WriteString("server " + p + "\n")
	}
	return b.String()
}

func (a *Agent) ntp() {
	v, ok := a.cfg["ntp"]
	if !ok {
		return
	}
	c, err := ParseNTP(v)
	if err != nil {
		a.invalid("ntp", err)
		return
	}
	if !c.Enabled {
		a.Log.Info("ntp", "disabled: /etc/ntp.conf not written")
		return
	}
	if err := os.MkdirAll(a.path("/etc"), 0o755); err == nil {
		err = os.WriteFile(a.path("/etc/ntp.conf"), []byte(NTPConf(c)), 0o644)
	}
	if err != nil {
		a.Log.Error("ntp", "%v", err)
		return
	}
	a.Log.Info("ntp", "/etc/ntp.conf: %s", strings.Join(append(append([]string{}, c.Servers...), c.Pools...), " "))
}

// ---- timezone ----

var tzRe = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)

func (a *Agent) timezone() {
	v, ok := a.cfg["timezone"]
	if !ok || v == nil {
		return
	}
	tz, err := wantString(v, "timezone")
	if err == nil && !tzRe.MatchString(tz) {
		err = fmt.Errorf("timezone %q is not a zone name like Europe/Paris", tz)
	}
	if err != nil {
		a.invalid("timezone", err)
		return
	}
	if err := os.WriteFile(a.path("/etc/timezone"), []byte(tz+"\n"), 0o644); err != nil {
		a.Log.Error("timezone", "%v", err)
		return
	}
	zone := "/usr/share/zoneinfo/" + tz
	if _, err := os.Stat(a.path(zone)); err != nil {
		a.Log.Warn("timezone", "%s written to /etc/timezone; the host has no %s, /etc/localtime left as it is", tz, zone)
		return
	}
	os.Remove(a.path("/etc/localtime"))
	if err := os.Symlink(zone, a.path("/etc/localtime")); err != nil {
		a.Log.Error("timezone", "%v", err)
		return
	}
	a.Log.Info("timezone", "%s", tz)
}

// ---- scripts: per-once, per-boot, per-instance, then the instance's
// user scripts (#! parts and runcmd), sorted by name as cloud-init does ----

func (a *Agent) scriptsDir(kind string) string {
	return filepath.Join(a.state.Dir, "scripts", kind)
}

func (a *Agent) runScriptsIn(module, dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	names := []string{}
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	failed := 0
	for _, n := range names {
		a.Log.Info(module, "running %s", n)
		if !a.runScript(module, filepath.Join(dir, n)) {
			failed++
		}
	}
	return failed
}

func (a *Agent) runScripts() {
	// 1. store this user-data's scripts where cloud-init puts them
	instScripts := filepath.Join(a.state.instDir(), "scripts")
	for _, p := range a.scripts {
		dir := instScripts
		switch p.Type {
		case typeShellBoot:
			dir = a.scriptsDir("per-boot")
		case typeShellInst:
			dir = a.scriptsDir("per-instance")
		case typeShellOnce:
			dir = a.scriptsDir("per-once")
		}
		if err := os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, p.Filename), p.Body, 0o700)
			if err != nil {
				a.Log.Error("scripts", "%s: %v", p.Filename, err)
			}
		}
	}
	var runcmd []Command
	hasRuncmd := false
	if v, ok := a.cfg["runcmd"]; ok {
		cmds, err := wantCommands(v, "runcmd")
		if err != nil {
			a.invalid("runcmd", err)
		} else {
			runcmd, hasRuncmd = cmds, true
		}
	}
	if hasRuncmd && !a.state.Done("scripts_user") {
		if err := os.MkdirAll(instScripts, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(instScripts, "runcmd"), []byte(Shellify(runcmd)), 0o700)
			if err != nil {
				a.Log.Error("runcmd", "%v", err)
			}
		}
	}

	// 2. run them
	if _, err := os.Stat(a.state.onceMarker()); err != nil {
		entries, _ := os.ReadDir(a.scriptsDir("per-once"))
		if n := a.runScriptsIn("scripts_per_once", a.scriptsDir("per-once")); n == 0 && len(entries) > 0 {
			if err := os.MkdirAll(filepath.Dir(a.state.onceMarker()), 0o755); err == nil {
				_ = os.WriteFile(a.state.onceMarker(), []byte("ran\n"), 0o644)
			}
		}
	}
	a.runScriptsIn("scripts_per_boot", a.scriptsDir("per-boot"))
	if !a.state.Done("scripts_per_instance") {
		a.runScriptsIn("scripts_per_instance", a.scriptsDir("per-instance"))
		a.markDone("scripts_per_instance")
	}
	if a.state.Done("scripts_user") {
		if hasRuncmd || len(a.scripts) > 0 {
			a.Log.Info("scripts_user", "already ran for instance %s: runcmd and scripts not run again", a.instanceID)
		}
		return
	}
	if hasRuncmd {
		a.Log.Info("runcmd", "%d command(s)", len(runcmd))
	}
	failed := a.runScriptsIn("scripts_user", instScripts)
	if failed > 0 {
		a.Log.Error("scripts_user", "%d script(s) failed", failed)
	}
	a.markDone("scripts_user")
}

// ---- final_message ----

const defaultFinalMessage = "cloud-init v. {{version}} finished at {{timestamp}}. Datasource {{datasource}}.  Up {{uptime}} seconds"

var finalVar = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}|\$\{(\w+)\}|\$(\w+)`)

func (a *Agent) finalMessage() {
	msg := defaultFinalMessage
	if v, ok := a.cfg["final_message"]; ok && v != nil {
		s, err := wantString(v, "final_message")
		if err != nil {
			a.invalid("final_message", err)
			return
		}
		msg = s
	}
	uptime := "?"
	if a.Uptime != nil {
		uptime = a.Uptime()
	}
	vars := map[string]string{
		"version":    version,
		"timestamp":  a.Now().UTC().Format(time.RFC1123Z),
		"datasource": "DataSourceNoCloud [seed=" + a.source + "]",
		"uptime":     uptime,
	}
	out := finalVar.ReplaceAllStringFunc(msg, func(m string) string {
		sub := finalVar.FindStringSubmatch(m)
		name := strings.ToLower(sub[1] + sub[2] + sub[3])
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		a.Log.Info("final_message", "%s", l)
	}
	_ = os.WriteFile(filepath.Join(a.state.instDir(), "boot-finished"), []byte(fmt.Sprintf("%s\n%s\n", uptime, vars["timestamp"])), 0o644)
}

// ---- power_state (per instance) ----

type PowerState struct {
	Mode      string
	Delay     time.Duration
	Message   string
	Condition *Command // nil: always
	Never     bool     // condition: false
}

func ParsePowerState(v any) (PowerState, error) {
	var p PowerState
	m, err := wantMap(v, "power_state")
	if err != nil {
		return p, err
	}
	mode, err := wantString(m["mode"], "power_state.mode")
	if err != nil {
		return p, fmt.Errorf("power_state.mode is required: poweroff, reboot or halt")
	}
	if mode != "poweroff" && mode != "reboot" && mode != "halt" {
		return p, fmt.Errorf("power_state.mode %q is not poweroff, reboot or halt", mode)
	}
	p.Mode = mode
	switch d := m["delay"].(type) {
	case nil:
	case int64:
		p.Delay = time.Duration(d) * time.Minute
	case string:
		s := strings.TrimSpace(d)
		if s != "now" {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
			if err != nil || n < 0 {
				return p, fmt.Errorf("power_state.delay %q is not now, +MINUTES or MINUTES", d)
			}
			p.Delay = time.Duration(n) * time.Minute
		}
	default:
		return p, fmt.Errorf("power_state.delay must be now or a number of minutes, not %s", typeName(d))
	}
	if x, ok := m["message"]; ok && x != nil {
		if p.Message, err = wantString(x, "power_state.message"); err != nil {
			return p, err
		}
	}
	if x, ok := m["timeout"]; ok && x != nil {
		if _, err := wantInt(x, "power_state.timeout"); err != nil {
			return p, err
		}
	}
	switch c := m["condition"].(type) {
	case nil:
	case bool:
		p.Never = !c
	case string, []any:
		cmds, err := wantCommands([]any{c}, "power_state.condition")
		if err != nil {
			return p, err
		}
		p.Condition = &cmds[0]
	default:
		return p, fmt.Errorf("power_state.condition must be true, false, a command string or list, not %s", typeName(c))
	}
	return p, nil
}

func (a *Agent) powerState() {
	v, ok := a.cfg["power_state"]
	if !ok {
		return
	}
	p, err := ParsePowerState(v)
	if err != nil {
		a.invalid("power_state", err)
		return
	}
	if a.state.Done("power_state_change") {
		a.Log.Info("power_state", "already done for instance %s", a.instanceID)
		return
	}
	a.markDone("power_state_change")
	if p.Never {
		a.Log.Info("power_state", "condition is false: no %s", p.Mode)
		return
	}
	if p.Condition != nil && !a.runCondition(*p.Condition) {
		a.Log.Info("power_state", "condition did not hold: no %s", p.Mode)
		return
	}
	if p.Message != "" {
		a.Log.Info("power_state", "%s", p.Message)
	}
	if p.Delay > 0 {
		// The agent is an onboot step: waiting here holds the rest of the boot.
		a.Log.Info("power_state", "%s in %v (the boot waits)", p.Mode, p.Delay)
		a.Sleep(p.Delay)
	}
	a.Log.Info("power_state", "%s now", p.Mode)
	if a.PowerState != nil {
		if err := a.PowerState(p.Mode); err != nil {
			a.Log.Error("power_state", "%s: %v", p.Mode, err)
		}
	}
}
