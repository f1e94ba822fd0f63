package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// finderFor makes a Finder over a fake root whose "mount" of a device
// returns a prepared folder.
func finderFor(t *testing.T, root string, volume map[string]string) (*Finder, *bytes.Buffer, *[]string) {
	var console bytes.Buffer
	var mounted []string
	f := &Finder{Root: root, Log: NewLogger(&console), Mount: func(dev, fstype string) (string, func() error, error) {
		mounted = append(mounted, dev+" "+fstype)
		if volume == nil {
			return "", nil, errors.New("no such volume")
		}
		dir := filepath.Join(t.TempDir(), "mnt")
		for name, content := range volume {
			write(t, filepath.Join(dir, name), content)
		}
		return dir, func() error { return nil }, nil
	}}
	return f, &console, &mounted
}

func isoDevice(t *testing.T, root, name, label string) {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed")
	}
	src := t.TempDir()
	write(t, filepath.Join(src, "x"), "x")
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-o", filepath.Join(root, "dev", name), "-V", label, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v %s", err, out)
	}
	write(t, filepath.Join(root, "sys/class/block", name, "size"), "100\n")
}

func TestFinderVolume(t *testing.T) {
	root := t.TempDir()
	isoDevice(t, root, "sr0", "cidata")
	f, console, mounted := finderFor(t, root, map[string]string{"meta-data": "instance-id: vol\n", "user-data": "#cloud-config\n"})
	s := f.Find()
	if s == nil || s.Source != "/dev/sr0" || string(s.MetaData) != "instance-id: vol\n" || string(s.UserData) != "#cloud-config\n" {
		t.Fatalf("%+v\n%s", s, console)
	}
	if len(*mounted) != 1 || (*mounted)[0] != filepath.Join(root, "dev/sr0")+" iso9660" {
		t.Errorf("mounted %v", *mounted)
	}
	if !strings.Contains(console.String(), "cloud-init: datasource: iso9660 volume /dev/sr0 (label cidata)") {
		t.Error(console.String())
	}
}

func TestFinderCmdlineWinsOverSMBIOSAndSeedFrom(t *testing.T) {
	root := t.TempDir()
	isoDevice(t, root, "sr0", "cidata")
	write(t, filepath.Join(root, "proc/cmdline"), "console=ttyS0 ds=nocloud;s=file:///srv/seed/;i=iid-cmd;h=cmdhost\n")
	write(t, filepath.Join(root, "sys/class/dmi/id/product_serial"), "ds=nocloud;i=iid-serial\n")
	write(t, filepath.Join(root, "srv/seed/meta-data"), "instance-id: from-file\n")
	write(t, filepath.Join(root, "srv/seed/user-data"), "#!/bin/sh\n")
	f, console, mounted := finderFor(t, root, nil)
	s := f.Find()
	if s == nil || s.Source != "/srv/seed/" || string(s.UserData) != "#!/bin/sh\n" || s.Overrides["instance-id"] != "iid-cmd" || s.Overrides["local-hostname"] != "cmdhost" {
		t.Fatalf("%+v\n%s", s, console)
	}
	if len(*mounted) != 0 {
		t.Errorf("a seedfrom source must not probe volumes: %v", *mounted)
	}
}

func TestFinderSMBIOSThenSeedFolderThenNothing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "sys/class/dmi/id/product_serial"), "ds=nocloud;h=serialhost;i=iid-serial\x00")
	f, console, _ := finderFor(t, root, nil)
	s := f.Find()
	// no volume, no seed folder: meta-data from the serial alone
	if s == nil || s.Source != "SMBIOS serial" || s.Overrides["instance-id"] != "iid-serial" || s.Overrides["local-hostname"] != "serialhost" {
		t.Fatalf("%+v\n%s", s, console)
	}
	write(t, filepath.Join(root, "var/lib/cloud/seed/nocloud-net/meta-data"), "instance-id: folder\n")
	s = f.Find()
	if s == nil || s.Source != "/var/lib/cloud/seed/nocloud-net" || s.Overrides["instance-id"] != "iid-serial" {
		t.Fatalf("seed folder: %+v", s)
	}
	empty := t.TempDir()
	if s := (&Finder{Root: empty, Log: NewLogger(&bytes.Buffer{})}).Find(); s != nil {
		t.Errorf("nothing to find: %+v", s)
	}
}

func TestFinderHTTPSeedIsReported(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "proc/cmdline"), "ds=nocloud-net;s=http://10.0.2.2:8000/\n")
	f, console, _ := finderFor(t, root, nil)
	s := f.Find()
	if s == nil || s.Source != "kernel command line" {
		t.Errorf("%+v", s)
	}
	if !strings.Contains(console.String(), "cloud-init: datasource: seedfrom \"http://10.0.2.2:8000/\": only file:// seeds") {
		t.Error(console.String())
	}
}

func TestFinderMountFailureIsLogged(t *testing.T) {
	root := t.TempDir()
	isoDevice(t, root, "sr1", "CIDATA")
	f, console, _ := finderFor(t, root, nil)
	if s := f.Find(); s != nil {
		t.Errorf("%+v", s)
	}
	if !strings.Contains(console.String(), "cloud-init: datasource: cannot mount /dev/sr1 (iso9660, label CIDATA): no such volume") {
		t.Error(console.String())
	}
}
