package main

// Finding the NoCloud datasource, in cloud-init's order: the kernel command
// line (`ds=nocloud;s=file:///seed/;h=host;i=iid`), the SMBIOS system serial
// with the same syntax, a seed folder on the host (/var/lib/cloud/seed/
// nocloud and nocloud-net), then a filesystem labelled cidata/CIDATA
// (iso9660 or vfat) found by reading superblocks of /sys/class/block devices.

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DSConfig is what a `ds=nocloud...` string says.
type DSConfig struct {
	// Name is nocloud or nocloud-net.
	Name string
	// SeedFrom is the s= / seedfrom= value (a file:// URL or a path).
	SeedFrom string
	// MetaData holds h= (local-hostname) and i= (instance-id).
	MetaData map[string]string
}

var dsKeys = map[string]string{
	"h": "local-hostname", "local-hostname": "local-hostname",
	"i": "instance-id", "instance-id": "instance-id",
	"s": "seedfrom", "seedfrom": "seedfrom",
}

// ParseDS reads a `ds=nocloud;k=v;...` string (from the kernel command
// line or the SMBIOS serial). ok is false when it names no NoCloud source.
func ParseDS(s string) (DSConfig, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"'`)
	if !strings.HasPrefix(s, "ds=") {
		return DSConfig{}, false
	}
	fields := strings.Split(s[3:], ";")
	name := strings.ToLower(fields[0])
	if name != "nocloud" && name != "nocloud-net" {
		return DSConfig{}, false
	}
	c := DSConfig{Name: name, MetaData: map[string]string{}}
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found {
			continue
		}
		switch dsKeys[k] {
		case "seedfrom":
			c.SeedFrom = v
		case "":
		default:
			c.MetaData[dsKeys[k]] = v
		}
	}
	return c, true
}

// DSFromCmdline finds the ds= word of a kernel command line.
func DSFromCmdline(cmdline string) (DSConfig, bool) {
	for _, w := range splitCmdline(cmdline) {
		if c, ok := ParseDS(w); ok {
			return c, true
		}
	}
	return DSConfig{}, false
}

// splitCmdline splits on spaces outside double quotes, as the kernel does.
func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// SeedPath turns a seedfrom value into a local folder. Only local seeds
// exist for Coracle's agent: it runs before the network is up.
func SeedPath(seedFrom string) (string, error) {
	if strings.HasPrefix(seedFrom, "/") {
		return seedFrom, nil
	}
	u, err := url.Parse(seedFrom)
	if err != nil {
		return "", fmt.Errorf("seedfrom %q: %v", seedFrom, err)
	}
	if u.Scheme == "file" {
		return u.Path, nil
	}
	return "", fmt.Errorf("seedfrom %q: only file:// seeds (or a path) are supported; http seeds need a network the agent does not wait for", seedFrom)
}

// Seed is the datasource's data.
type Seed struct {
	// Source says where it came from (for logs and final_message).
	Source   string
	MetaData []byte
	UserData []byte
	// Overrides from the command line or SMBIOS (h=, i=).
	Overrides map[string]string
}

// readSeedDir reads meta-data and user-data from a folder; meta-data must exist.
func readSeedDir(dir string) (*Seed, error) {
	md, err := os.ReadFile(filepath.Join(dir, "meta-data"))
	if err != nil {
		return nil, err
	}
	ud, err := os.ReadFile(filepath.Join(dir, "user-data"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return &Seed{MetaData: md, UserData: ud}, nil
}

// BlockDevice is a device whose superblock names a filesystem with a label.
type BlockDevice struct {
	Name   string
	FSType string
	Label  string
}

// ProbeLabel reads a filesystem's type and label from its first 64 KiB:
// iso9660 (primary volume descriptor at 32 KiB) or FAT (boot sector).
func ProbeLabel(head []byte) (fstype, label string) {
	const pvd = 16 * 2048
	if len(head) >= pvd+72 && head[pvd] == 1 && string(head[pvd+1:pvd+6]) == "CD001" {
		return "iso9660", strings.TrimRight(string(head[pvd+40:pvd+72]), " \x00")
	}
	if len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa {
		if string(head[82:87]) == "FAT32" {
			return "vfat", fatLabel(head[71:82])
		}
		if string(head[54:57]) == "FAT" && head[38] == 0x29 {
			return "vfat", fatLabel(head[43:54])
		}
	}
	return "", ""
}

func fatLabel(b []byte) string {
	l := strings.TrimRight(string(b), " \x00")
	if l == "NO NAME" {
		return ""
	}
	return l
}

// FindLabelled lists block devices (from sysDir/class/block) with a
// cidata label, reading each /dev node under devDir. Whole disks and
// partitions alike; ram and zero-sized devices are skipped.
func FindLabelled(sysDir, devDir string, want func(label string) bool) []BlockDevice {
	entries, err := os.ReadDir(filepath.Join(sysDir, "class", "block"))
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []BlockDevice
	for _, name := range names {
		if strings.HasPrefix(name, "ram") {
			continue
		}
		if size, err := os.ReadFile(filepath.Join(sysDir, "class", "block", name, "size")); err == nil && strings.TrimSpace(string(size)) == "0" {
			continue
		}
		head, err := readHead(filepath.Join(devDir, name), 64<<10)
		if err != nil {
			continue
		}
		fstype, label := ProbeLabel(head)
		if fstype != "" && want(label) {
			out = append(out, BlockDevice{Name: name, FSType: fstype, Label: label})
		}
	}
	return out
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	got := 0
	for got < n {
		m, err := f.Read(buf[got:])
		got += m
		if err != nil || m == 0 {
			break
		}
	}
	return buf[:got], nil
}

func isCidata(label string) bool { return strings.EqualFold(label, "cidata") }

// metaString reads a string key from parsed meta-data.
func metaString(md map[string]any, key string) string {
	switch v := md[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return pyStr(v)
	}
}

// PublicKeys normalises meta-data public-keys: a string (one key a line), a
// list, or a mapping whose values are keys or lists of keys (EC2 style).
func PublicKeys(v any) []string {
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			for _, l := range strings.Split(t, "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					out = append(out, l)
				}
			}
		case []any:
			for _, i := range t {
				walk(i)
			}
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(t[k])
			}
		}
	}
	walk(v)
	return out
}

// cleanInstanceID keeps an instance-id usable as one path component.
func cleanInstanceID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, id)
	if id == "" || id == "." || id == ".." {
		return "nocloud"
	}
	return id
}

func trimNUL(b []byte) string { return string(bytes.TrimRight(b, "\x00\n ")) }

// Finder looks for the datasource under a root ("/" in the guest).
type Finder struct {
	Root string
	Log  *Logger
	// Mount mounts a seed volume read-only and returns where, and how to
	// unmount it.
	Mount func(dev, fstype string) (dir string, unmount func() error, err error)
}

func (f *Finder) path(p string) string { return filepath.Join(f.Root, p) }

// Find looks for the datasource in cloud-init's NoCloud order; nil when
// there is none.
func (f *Finder) Find() *Seed {
	var ds DSConfig
	found := false
	where := ""
	if b, err := os.ReadFile(f.path("/proc/cmdline")); err == nil {
		if ds, found = DSFromCmdline(string(b)); found {
			where = "kernel command line"
		}
	}
	if !found {
		if b, err := os.ReadFile(f.path("/sys/class/dmi/id/product_serial")); err == nil {
			if ds, found = ParseDS(trimNUL(b)); found {
				where = "SMBIOS serial"
			}
		}
	}
	overrides := map[string]string{}
	if found {
		for k, v := range ds.MetaData {
			overrides[k] = v
		}
		f.Log.Info("datasource", "%s on the %s", ds.Name, where)
		if ds.SeedFrom != "" {
			dir, err := SeedPath(ds.SeedFrom)
			if err != nil {
				f.Log.Error("datasource", "%v", err)
			} else if s, err := readSeedDir(f.path(dir)); err != nil {
				f.Log.Error("datasource", "seed %s: %v", dir, err)
			} else {
				s.Source = dir
				s.Overrides = overrides
				return s
			}
		}
	}
	for _, dir := range []string{"/var/lib/cloud/seed/nocloud", "/var/lib/cloud/seed/nocloud-net"} {
		if s, err := readSeedDir(f.path(dir)); err == nil {
			s.Source = dir
			s.Overrides = overrides
			f.Log.Info("datasource", "seed folder %s", dir)
			return s
		}
	}
	if s := f.fromVolume(); s != nil {
		s.Overrides = overrides
		return s
	}
	if found {
		// ds=nocloud with h= and i= only: meta-data from the command line.
		return &Seed{Source: where, Overrides: overrides}
	}
	return nil
}

// fromVolume reads the first cidata volume: found through
// /dev/disk/by-label when present (udev), else by reading the superblocks
// of the /sys/class/block devices.
func (f *Finder) fromVolume() *Seed {
	var devs []BlockDevice
	for _, l := range []string{"cidata", "CIDATA"} {
		link := f.path("/dev/disk/by-label/" + l)
		if p, err := filepath.EvalSymlinks(link); err == nil {
			if head, err := readHead(p, 64<<10); err == nil {
				if t, lab := ProbeLabel(head); t != "" {
					devs = append(devs, BlockDevice{Name: filepath.Base(p), FSType: t, Label: lab})
				}
			}
		}
	}
	if len(devs) == 0 {
		devs = FindLabelled(f.path("/sys"), f.path("/dev"), isCidata)
	}
	if len(devs) == 0 {
		return nil
	}
	d := devs[0]
	dev := "/dev/" + d.Name
	mnt, unmount, err := f.Mount(f.path(dev), d.FSType)
	if err != nil {
		f.Log.Error("datasource", "cannot mount %s (%s, label %s): %v", dev, d.FSType, d.Label, err)
		return nil
	}
	defer func() {
		if err := unmount(); err != nil {
			f.Log.Warn("datasource", "umount %s: %v", mnt, err)
		}
	}()
	s, err := readSeedDir(mnt)
	if err != nil {
		f.Log.Error("datasource", "%s (label %s): %v", dev, d.Label, err)
		return nil
	}
	s.Source = dev
	f.Log.Info("datasource", "%s volume %s (label %s)", d.FSType, dev, d.Label)
	return s
}
