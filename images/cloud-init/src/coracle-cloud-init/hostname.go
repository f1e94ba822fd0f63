package main

// set_hostname / update_hostname / update_etc_hosts (every boot).

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

var hostnameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)

// HostnameConfig is the validated hostname part of cloud-config.
type HostnameConfig struct {
	Preserve   bool
	Hostname   string
	FQDN       string
	PreferFQDN bool
	// ManageHosts: "", "template" or "localhost"
	ManageHosts string
}

// ParseHostname reads hostname/fqdn from cloud-config, falling back to
// meta-data local-hostname, as cloud-init's get_hostname_fqdn.
func ParseHostname(cfg map[string]any, localHostname string) (HostnameConfig, error) {
	var h HostnameConfig
	var err error
	if v, ok := cfg["preserve_hostname"]; ok && v != nil {
		if h.Preserve, err = wantBool(v, "preserve_hostname"); err != nil {
			return h, err
		}
	}
	if v, ok := cfg["prefer_fqdn_over_hostname"]; ok && v != nil {
		if h.PreferFQDN, err = wantBool(v, "prefer_fqdn_over_hostname"); err != nil {
			return h, err
		}
	}
	get := func(k string) (string, error) {
		v, ok := cfg[k]
		if !ok || v == nil {
			return "", nil
		}
		return wantString(v, k)
	}
	hn, err := get("hostname")
	if err != nil {
		return h, err
	}
	fq, err := get("fqdn")
	if err != nil {
		return h, err
	}
	switch {
	case fq != "":
		h.FQDN = fq
		h.Hostname = hn
		if h.Hostname == "" {
			h.Hostname = strings.SplitN(fq, ".", 2)[0]
		}
	case strings.Contains(hn, "."):
		h.FQDN = hn
		h.Hostname = strings.SplitN(hn, ".", 2)[0]
	case hn != "":
		h.Hostname = hn
		h.FQDN = hn
	case localHostname != "":
		h.FQDN = localHostname
		h.Hostname = strings.SplitN(localHostname, ".", 2)[0]
	}
	for _, n := range []string{h.Hostname, h.FQDN} {
		if n != "" && !hostnameRe.MatchString(n) {
			return h, fmt.Errorf("%q is not a valid host name", n)
		}
	}
	if v, ok := cfg["manage_etc_hosts"]; ok && v != nil {
		switch x := v.(type) {
		case bool:
			if x {
				h.ManageHosts = "template"
			}
		case string:
			switch strings.ToLower(x) {
			case "template", "true":
				h.ManageHosts = "template"
			case "localhost":
				h.ManageHosts = "localhost"
			case "false":
			default:
				return h, fmt.Errorf("manage_etc_hosts must be true, false, template or localhost, not %q", x)
			}
		default:
			return h, fmt.Errorf("manage_etc_hosts must be true, false, template or localhost, not %s", typeName(v))
		}
	}
	return h, nil
}

// EtcHosts writes /etc/hosts content: the template (whole file) or the
// current file with the 127.0.1.1 line for this host replaced/added.
func EtcHosts(current, mode, fqdn, hostname string) string {
	names := fqdn
	if hostname != "" && hostname != fqdn {
		names = fqdn + " " + hostname
	}
	own := "127.0.1.1 " + names
	if mode == "template" {
		return "# Written by cloud-init (manage_etc_hosts: template) on every boot.\n" +
			own + "\n127.0.0.1 localhost\n\n" +
			"::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"
	}
	var out []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(current, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "127.0.1.1" {
			if !replaced {
				out = append(out, own)
				replaced = true
			}
			continue
		}
		if l != "" || len(out) > 0 {
			out = append(out, l)
		}
	}
	if !replaced {
		out = append([]string{own}, out...)
	}
	hasLocal := false
	for _, l := range out {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "127.0.0.1" {
			hasLocal = true
		}
	}
	if !hasLocal {
		out = append(out, "127.0.0.1 localhost")
	}
	return strings.Join(out, "\n") + "\n"
}

func (a *Agent) hostname() {
	h, err := ParseHostname(a.cfg, metaString(a.meta, "local-hostname"))
	if err != nil {
		a.invalid("set_hostname", err)
		return
	}
	if h.Preserve {
		a.Log.Info("set_hostname", "preserve_hostname: hostname left as it is")
	} else if h.Hostname != "" {
		name := h.Hostname
		if h.PreferFQDN {
			name = h.FQDN
		}
		if err := os.MkdirAll(a.path("/etc"), 0o755); err == nil {
			err = os.WriteFile(a.path("/etc/hostname"), []byte(name+"\n"), 0o644)
		}
		if err != nil {
			a.Log.Error("set_hostname", "cannot write /etc/hostname: %v", err)
		} else if a.SetHostname != nil {
			if err := a.SetHostname(name); err != nil {
				a.Log.Error("set_hostname", "sethostname %s: %v", name, err)
			}
		}
		a.Log.Info("set_hostname", "hostname %s (fqdn %s)", name, h.FQDN)
	}
	if h.ManageHosts != "" {
		if h.Hostname == "" {
			a.Log.Warn("update_etc_hosts", "no hostname known: /etc/hosts left as it is")
			return
		}
		cur, _ := os.ReadFile(a.path("/etc/hosts"))
		if err := os.WriteFile(a.path("/etc/hosts"), []byte(EtcHosts(string(cur), h.ManageHosts, h.FQDN, h.Hostname)), 0o644); err != nil {
			a.Log.Error("update_etc_hosts", "%v", err)
			return
		}
		a.Log.Info("update_etc_hosts", "/etc/hosts: 127.0.1.1 %s (%s)", h.FQDN, h.ManageHosts)
	}
}
