package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAccountsEditing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n")
	write(t, filepath.Join(root, "etc/group"), "root:x:0:\nbob:x:1000:\nwheel:x:10:root\n")
	write(t, filepath.Join(root, "etc/shadow"), "root:*:0:0:99999:7:::\nbob:$6$old:19000:0:99999:7:::\n")
	os.Chmod(filepath.Join(root, "etc/shadow"), 0o600)
	acc, err := LoadAccounts(root)
	if err != nil {
		t.Fatal(err)
	}
	created, err := acc.AddUser(NewUser{Name: "alice", UID: -1, Home: "/home/alice", Shell: "/bin/sh", Groups: []string{"wheel", "docker"}, Lock: true})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if _, err := acc.AddUser(NewUser{Name: "svc", UID: -1, Home: "/var/svc", Shell: "/bin/false", System: true, Hash: "$6$h", HasHash: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AddUser(NewUser{Name: "carol", UID: 1000, Home: "/home/carol", Shell: "/bin/sh"}); err == nil {
		t.Error("uid 1000 is bob's: want an error")
	}
	if _, err := acc.AddUser(NewUser{Name: "dave", UID: 2000, Home: "/home/dave", Shell: "/bin/sh", Hash: "$6$x", HasHash: true, Lock: true}); err != nil {
		t.Fatal(err)
	}
	// an existing user: password updated, no second entry
	if created, err := acc.AddUser(NewUser{Name: "bob", UID: -1, Hash: "$6$new", HasHash: true}); err != nil || created {
		t.Fatal(created, err)
	}
	if err := acc.Save(); err != nil {
		t.Fatal(err)
	}
	passwd := read(t, filepath.Join(root, "etc/passwd"))
	group := read(t, filepath.Join(root, "etc/group"))
	shadow := read(t, filepath.Join(root, "etc/shadow"))
	wantPasswd := "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n" +
		"alice:x:1001:1001::/home/alice:/bin/sh\nsvc:x:100:100::/var/svc:/bin/false\ndave:x:2000:2000::/home/dave:/bin/sh\n"
	if passwd != wantPasswd {
		t.Errorf("passwd:\n%s", passwd)
	}
	wantGroup := "root:x:0:\nbob:x:1000:\nwheel:x:10:root,alice\nalice:x:1001:\ndocker:x:1002:alice\nsvc:x:100:\ndave:x:2000:\n"
	if group != wantGroup {
		t.Errorf("group:\n%s", group)
	}
	wantShadow := "root:*:0:0:99999:7:::\nbob:$6$new:19000:0:99999:7:::\nalice:*::0:99999:7:::\nsvc:$6$h::0:99999:7:::\ndave:!$6$x::0:99999:7:::\n"
	if shadow != wantShadow {
		t.Errorf("shadow:\n%s", shadow)
	}
	if st, _ := os.Stat(filepath.Join(root, "etc/shadow")); st.Mode().Perm() != 0o600 {
		t.Errorf("shadow mode %o", st.Mode().Perm())
	}
}

func TestAccountsOnBareRoot(t *testing.T) {
	root := t.TempDir()
	acc, err := LoadAccounts(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AddUser(NewUser{Name: "u", UID: -1, Home: "/home/u", Shell: "/bin/sh", Lock: true}); err != nil {
		t.Fatal(err)
	}
	if err := acc.Save(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "etc/passwd")); got != "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n" {
		t.Errorf("passwd %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/shadow")); got != "root:*::0:99999:7:::\nu:*::0:99999:7:::\n" {
		t.Errorf("shadow %q", got)
	}
	if st, _ := os.Stat(filepath.Join(root, "etc/shadow")); st.Mode().Perm() != 0o640 {
		t.Errorf("shadow mode %o", st.Mode().Perm())
	}
}

func TestParseUsersShapes(t *testing.T) {
	v, _, _ := parseYAML11([]byte(`
users:
  - default
  - name: alice
    groups: [wheel, adm]
    uid: "1500"
    lock_passwd: no
    passwd: $6$abc
    ssh_authorized_keys: [ssh-ed25519 AAAA alice@x]
    sudo: ALL=(ALL) NOPASSWD:ALL
  - name: bob
    groups: "a, b"
    system: yes
    homedir: /srv/bob
  - carol
`))
	us, err := ParseUsers(v.(map[string]any)["users"])
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 4 || us[0].Name != "default" {
		t.Fatalf("%+v", us)
	}
	a := us[1]
	if a.UID != 1500 || a.Lock || a.Hash != "$6$abc" || len(a.Keys) != 1 || strings.Join(a.Groups, ",") != "wheel,adm" || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], "sudo") {
		t.Errorf("alice %+v", a)
	}
	b := us[2]
	if !b.System || b.Home != "/srv/bob" || strings.Join(b.Groups, ",") != "a,b" || !b.Lock || b.Shell != "/bin/sh" {
		t.Errorf("bob %+v", b)
	}
	if us[3].Name != "carol" || us[3].Home != "/home/carol" {
		t.Errorf("carol %+v", us[3])
	}
	for _, bad := range []string{"users: 5", "users: [{groups: [a]}]", "users: [{name: x, uid: abc}]", "users: [{name: x, lock_passwd: maybe}]", "users: [{name: 'a:b'}]", "users: [[a]]"} {
		v, _, _ := parseYAML11([]byte(bad))
		if _, err := ParseUsers(v.(map[string]any)["users"]); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	gs, err := ParseGroups([]any{"g1", map[string]any{"g2": []any{"alice", "bob"}}})
	if err != nil || len(gs) != 2 || gs[1].Name != "g2" || len(gs[1].Members) != 2 {
		t.Errorf("groups %+v %v", gs, err)
	}
}

func TestWriteFiles(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	write(t, filepath.Join(root, "etc/group"), "root:x:0:\n")
	write(t, filepath.Join(root, "var/app.log"), "line1\n")
	v, _, err := parseYAML11([]byte(`
write_files:
  - path: /etc/app/plain.conf
    content: |
      key: value
    permissions: 0600
  - path: /etc/app/b64
    encoding: b64
    content: ` + base64.StdEncoding.EncodeToString([]byte("decoded\n")) + `
    permissions: '0755'
  - path: /var/app.log
    content: "line2\n"
    append: true
  - path: /etc/app/empty
  - path: /etc/app/later
    content: deferred
    defer: true
    owner: root:root
`))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseWriteFiles(v.(map[string]any)["write_files"])
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := LoadAccounts(root)
	for _, f := range specs {
		if err := WriteFile(root, acc, f); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
	}
	check := func(p, content string, mode os.FileMode) {
		t.Helper()
		if got := read(t, filepath.Join(root, p)); got != content {
			t.Errorf("%s: %q", p, got)
		}
		if st, _ := os.Stat(filepath.Join(root, p)); st.Mode().Perm() != mode {
			t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), mode)
		}
	}
	check("etc/app/plain.conf", "key: value\n", 0o600)
	check("etc/app/b64", "decoded\n", 0o755)
	check("var/app.log", "line1\nline2\n", 0o644)
	check("etc/app/empty", "", 0o644)
	check("etc/app/later", "deferred", 0o644)
	if !specs[4].Defer || specs[0].Defer {
		t.Error("defer flags")
	}
	if err := WriteFile(root, acc, FileSpec{Path: "/x", Owner: "nobody:root", Mode: 0o644}); err == nil || !strings.Contains(err.Error(), "no user nobody") {
		t.Errorf("unknown owner: %v", err)
	}
	for _, bad := range []string{
		"write_files: {path: /a}", "write_files: [{content: x}]", "write_files: [{path: /a, encoding: b64, content: '%%%'}]",
		"write_files: [{path: /a, permissions: rwx}]", "write_files: [{path: /a, append: maybe}]", "write_files: [{path: /a, source: {uri: x}}]",
		"write_files: [{path: /a, content: [x]}]",
	} {
		v, _, _ := parseYAML11([]byte(bad))
		if _, err := ParseWriteFiles(v.(map[string]any)["write_files"]); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestSetupUserKeys(t *testing.T) {
	root := t.TempDir()
	acc, _ := LoadAccounts(root)
	acc.Save()
	write(t, filepath.Join(root, "root/.ssh/authorized_keys"), "ssh-ed25519 OLD old\nssh-rsa KEEP keep\n")
	if err := SetupUserKeys(root, acc, "root", []string{"ssh-ed25519 OLD renamed", "ssh-ed25519 NEW new"}, ""); err != nil {
		t.Fatal(err)
	}
	got := read(t, filepath.Join(root, "root/.ssh/authorized_keys"))
	if got != "ssh-ed25519 OLD renamed\nssh-rsa KEEP keep\nssh-ed25519 NEW new\n" {
		t.Errorf("%q", got)
	}
	if st, _ := os.Stat(filepath.Join(root, "root/.ssh/authorized_keys")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(root, "root/.ssh")); st.Mode().Perm() != 0o700 {
		t.Errorf(".ssh mode %o", st.Mode().Perm())
	}
}

func TestFindLabelled(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed")
	}
	if _, err := exec.LookPath("mkfs.vfat"); err != nil {
		t.Skip("dosfstools not installed")
	}
	dir := t.TempDir()
	sys, dev := filepath.Join(dir, "sys"), filepath.Join(dir, "dev")
	src := filepath.Join(dir, "src")
	write(t, filepath.Join(src, "meta-data"), "instance-id: x\n")
	add := func(name, size string) {
		write(t, filepath.Join(sys, "class/block", name, "size"), size+"\n")
	}
	add("sr0", "100")
	out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-o", filepath.Join(dev, "sr0"), "-V", "cidata", "-J", "-R", src).CombinedOutput()
	if err != nil {
		os.MkdirAll(dev, 0o755)
		out, err = exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-o", filepath.Join(dev, "sr0"), "-V", "cidata", "-J", "-R", src).CombinedOutput()
		if err != nil {
			t.Fatalf("xorriso: %v %s", err, out)
		}
	}
	add("vda", "100")
	if err := os.WriteFile(filepath.Join(dev, "vda"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.vfat", "-n", "CIDATA", filepath.Join(dev, "vda")).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v %s", err, out)
	}
	add("vdb", "100")
	os.WriteFile(filepath.Join(dev, "vdb"), make([]byte, 4<<20), 0o644)
	exec.Command("mkfs.vfat", "-F", "32", "-n", "OTHER", filepath.Join(dev, "vdb")).Run()
	add("vdc", "100")
	os.WriteFile(filepath.Join(dev, "vdc"), make([]byte, 4<<20), 0o644)
	exec.Command("mkfs.vfat", "-F", "32", "-n", "cidata", filepath.Join(dev, "vdc")).Run()
	add("ram0", "100")
	add("loop0", "0")
	got := FindLabelled(sys, dev, isCidata)
	var names []string
	for _, d := range got {
		names = append(names, d.Name+"/"+d.FSType+"/"+d.Label)
	}
	if strings.Join(names, " ") != "sr0/iso9660/cidata vda/vfat/CIDATA vdc/vfat/cidata" {
		t.Errorf("found %v", names)
	}
	if all := FindLabelled(sys, dev, func(string) bool { return true }); len(all) != 4 {
		t.Errorf("all labelled: %+v", all)
	}
}

// agentFor makes an agent over a temporary root with account files.
func agentFor(t *testing.T) (*Agent, *bytes.Buffer, string) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	write(t, filepath.Join(root, "etc/group"), "root:x:0:\n")
	write(t, filepath.Join(root, "etc/shadow"), "root:*:0:0:99999:7:::\n")
	var console bytes.Buffer
	log := NewLogger(&console)
	log.now = func() time.Time { return time.Unix(0, 0) }
	a := &Agent{Root: root, Log: log, Out: &console, Now: func() time.Time { return time.Unix(0, 0) }, Sleep: func(time.Duration) {}}
	return a, &console, root
}

// Commands run on this machine in the test, from the root folder, so they
// write relative paths.
const fullUserData = `#cloud-config
hostname: testhost
fqdn: testhost.example.com
manage_etc_hosts: localhost
bootcmd:
  - echo boot >> bootcmd.out
write_files:
  - path: /etc/motd
    content: aGVsbG8K
    encoding: b64
  - path: /home/alice/notes
    content: mine
    owner: alice:alice
    permissions: '0600'
    defer: true
users:
  - default
  - name: alice
    groups: [wheel]
    ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza alice@test]
ssh_authorized_keys:
  - ssh-ed25519 AAAAROOT root@test
ntp:
  servers: [ntp.example.org]
timezone: Etc/UTC
runcmd:
  - echo run >> runcmd.out
  - echo runcmd-says-hello
  - [sh, -c, 'echo "$INSTANCE_ID" > instance.out']
final_message: done $UPTIME up, {{ datasource }}
power_state:
  mode: poweroff
  message: bye
  condition: true
`

func TestRunEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for chown")
	}
	a, console, root := agentFor(t)
	var power []string
	a.PowerState = func(m string) error { power = append(power, m); return nil }
	var hostnames []string
	a.SetHostname = func(n string) error { hostnames = append(hostnames, n); return nil }
	a.Uptime = func() string { return "12.5" }
	errs := a.Run(&Seed{Source: "/dev/sr0", MetaData: []byte("instance-id: iid-one\nlocal-hostname: ignored\npublic-keys: [ssh-rsa METAKEY meta]\n"), UserData: []byte(fullUserData)})
	out := console.String()
	if errs != 0 {
		t.Fatalf("%d errors:\n%s", errs, out)
	}
	if !strings.Contains(out, "runcmd-says-hello\n") {
		t.Error("command output goes to the console")
	}
	if got := read(t, filepath.Join(root, "bootcmd.out")); got != "boot\n" {
		t.Errorf("bootcmd %q", got)
	}
	if got := read(t, filepath.Join(root, "runcmd.out")); got != "run\n" {
		t.Errorf("runcmd %q", got)
	}
	if got := read(t, filepath.Join(root, "instance.out")); got != "iid-one\n" {
		t.Errorf("INSTANCE_ID %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/motd")); got != "hello\n" {
		t.Errorf("motd %q", got)
	}
	if read(t, filepath.Join(root, "etc/hostname")) != "testhost\n" || len(hostnames) != 1 || hostnames[0] != "testhost" {
		t.Errorf("hostname %v", hostnames)
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/hosts")), "127.0.1.1 testhost.example.com testhost\n") {
		t.Error("/etc/hosts")
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "alice:x:1000:1000::/home/alice:/bin/sh\n") {
		t.Error(read(t, filepath.Join(root, "etc/passwd")))
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/group")), "wheel:x:1001:alice\n") {
		t.Error(read(t, filepath.Join(root, "etc/group")))
	}
	if got := read(t, filepath.Join(root, "home/alice/.ssh/authorized_keys")); got != "ssh-ed25519 AAAAC3Nza alice@test\n" {
		t.Errorf("alice keys %q", got)
	}
	st, _ := os.Stat(filepath.Join(root, "home/alice/.ssh/authorized_keys"))
	if st.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Error("alice's keys must be hers")
	}
	// the deferred file could name alice: she exists by then
	st, err := os.Stat(filepath.Join(root, "home/alice/notes"))
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != 1000 || st.Mode().Perm() != 0o600 {
		t.Errorf("deferred file: %v", err)
	}
	if got := read(t, filepath.Join(root, "root/.ssh/authorized_keys")); got != "ssh-ed25519 AAAAROOT root@test\nssh-rsa METAKEY meta\n" {
		t.Errorf("root keys %q", got)
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/ntp.conf")), "server ntp.example.org\n") {
		t.Error("ntp.conf")
	}
	if read(t, filepath.Join(root, "etc/timezone")) != "Etc/UTC\n" {
		t.Error("timezone")
	}
	if !strings.Contains(out, "cloud-init: final_message: done 12.5 up, DataSourceNoCloud [seed=/dev/sr0]\n") {
		t.Errorf("final message:\n%s", out)
	}
	if len(power) != 1 || power[0] != "poweroff" || !strings.Contains(out, "cloud-init: power_state: bye\n") {
		t.Errorf("power %v", power)
	}
	// order: bootcmd before write_files before users before runcmd before deferred files
	order := []string{"cloud-init: bootcmd:", "cloud-init: write_files: wrote /etc/motd", "cloud-init: set_hostname:", "cloud-init: users_groups: user alice created",
		"cloud-init: ssh: root", "cloud-init: ntp:", "cloud-init: runcmd:", "cloud-init: write_files_deferred: wrote /home/alice/notes", "cloud-init: final_message:", "cloud-init: power_state: poweroff now"}
	last := -1
	for _, o := range order {
		i := strings.Index(out, o)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order in:\n%s", o, out)
		}
		last = i
	}

	// second boot, same instance: bootcmd again, runcmd and power_state not
	a2 := &Agent{Root: root, Log: NewLogger(console), Out: console, Now: time.Now, Sleep: func(time.Duration) {}}
	power = nil
	a2.PowerState = func(m string) error { power = append(power, m); return nil }
	console.Reset()
	a2.Run(&Seed{Source: "/dev/sr0", MetaData: []byte("instance-id: iid-one\n"), UserData: []byte(fullUserData)})
	if got := read(t, filepath.Join(root, "bootcmd.out")); got != "boot\nboot\n" {
		t.Errorf("bootcmd runs every boot: %q", got)
	}
	if got := read(t, filepath.Join(root, "runcmd.out")); got != "run\n" {
		t.Errorf("runcmd ran again for the same instance: %q", got)
	}
	if len(power) != 0 {
		t.Errorf("power_state again: %v", power)
	}
	if !strings.Contains(console.String(), "already ran for instance iid-one") {
		t.Error(console.String())
	}
	// a new instance-id: runcmd again
	a3 := &Agent{Root: root, Log: NewLogger(console), Out: console, Sleep: func(time.Duration) {}}
	a3.Run(&Seed{Source: "/dev/sr0", MetaData: []byte("instance-id: iid-two\n"), UserData: []byte(fullUserData)})
	if got := read(t, filepath.Join(root, "runcmd.out")); got != "run\nrun\n" {
		t.Errorf("runcmd for a new instance: %q", got)
	}
	if got := read(t, filepath.Join(root, "var/lib/cloud/data/previous-instance-id")); got != "iid-one\n" {
		t.Errorf("previous-instance-id %q", got)
	}
	if !strings.Contains(read(t, filepath.Join(root, "var/log/cloud-init-output.log")), "runcmd-says-hello\n") {
		t.Error("command output goes to /var/log/cloud-init-output.log")
	}
}

func TestBadModuleDoesNotStopOthers(t *testing.T) {
	a, console, root := agentFor(t)
	ud := "#cloud-config\nwrite_files:\n  - path: /ok\n    content: x\n  - path: /bad\n    encoding: b64\n    content: '%%%'\nruncmd:\n  - echo ran > runcmd.out\nusers: 7\nhostname: good\n"
	errs := a.Run(&Seed{Source: "test", MetaData: []byte("instance-id: i\n"), UserData: []byte(ud)})
	out := console.String()
	if errs != 2 {
		t.Errorf("want 2 errors (write_files, users), got %d:\n%s", errs, out)
	}
	if _, err := os.Stat(filepath.Join(root, "ok")); err == nil {
		t.Error("write_files failed validation: the valid entry must not be written either")
	}
	if !strings.Contains(out, "cloud-init: write_files: write_files[1] (/bad): content is not valid base64") || !strings.Contains(out, "nothing applied") {
		t.Error(out)
	}
	if read(t, filepath.Join(root, "runcmd.out")) != "ran\n" || read(t, filepath.Join(root, "etc/hostname")) != "good\n" {
		t.Error("the other modules must apply")
	}
}

func TestBadYAMLIsLoggedAndScriptsStillRun(t *testing.T) {
	a, console, root := agentFor(t)
	if err := a.Log.Open(filepath.Join(root, "var/log/cloud-init.log")); err != nil {
		t.Fatal(err)
	}
	ud := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\n\n#cloud-config\nruncmd: [echo hi\n  bad: : :\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho script > script.out\n--b--\n"
	errs := a.Run(&Seed{Source: "test", MetaData: []byte("instance-id: i\n"), UserData: []byte(ud)})
	a.Log.Close()
	if errs != 1 {
		t.Errorf("errors %d\n%s", errs, console.String())
	}
	if !strings.Contains(console.String(), "cloud-init: user-data: part-001: invalid cloud-config YAML: line") {
		t.Error(console.String())
	}
	if !strings.Contains(read(t, filepath.Join(root, "var/log/cloud-init.log")), "ERROR cloud-init: user-data: part-001: invalid cloud-config YAML") {
		t.Error("the error must be in /var/log/cloud-init.log")
	}
	if read(t, filepath.Join(root, "script.out")) != "script\n" {
		t.Error("the #! part must still run")
	}
}

func TestScriptFrequencies(t *testing.T) {
	a, _, root := agentFor(t)
	ud := "Content-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/x-shellscript-per-boot\n\n#!/bin/sh\necho b >> boot.out\n" +
		"--b\nContent-Type: text/x-shellscript-per-instance\n\n#!/bin/sh\necho i >> inst.out\n" +
		"--b\nContent-Type: text/x-shellscript-per-once\n\n#!/bin/sh\necho o >> once.out\n" +
		"--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho u >> user.out\n--b--\n"
	for _, iid := range []string{"one", "one", "two"} {
		a.Log = NewLogger(&bytes.Buffer{})
		a.Run(&Seed{Source: "t", MetaData: []byte("instance-id: " + iid + "\n"), UserData: []byte(ud)})
	}
	for f, want := range map[string]string{"boot.out": "b\nb\nb\n", "inst.out": "i\ni\n", "once.out": "o\n", "user.out": "u\nu\n"} {
		if got := read(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s: %q, want %q", f, got, want)
		}
	}
}

func TestNoInstanceIDAndOverrides(t *testing.T) {
	a, console, root := agentFor(t)
	a.Run(&Seed{Source: "cmdline", Overrides: map[string]string{"local-hostname": "fromcmd"}, UserData: nil})
	if read(t, filepath.Join(root, "var/lib/cloud/data/instance-id")) != "nocloud\n" {
		t.Error("default instance-id")
	}
	if read(t, filepath.Join(root, "etc/hostname")) != "fromcmd\n" {
		t.Errorf("h= override:\n%s", console.String())
	}
}

func TestDisableRoot(t *testing.T) {
	a, _, root := agentFor(t)
	a.Run(&Seed{Source: "t", MetaData: []byte("instance-id: i\n"), UserData: []byte("#cloud-config\ndisable_root: true\nssh_authorized_keys: [ssh-ed25519 K k]\n")})
	got := read(t, filepath.Join(root, "root/.ssh/authorized_keys"))
	if !strings.HasPrefix(got, `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo 'Please login as the user \"NONE\" rather than the user \"root\".';echo;sleep 10;exit 142" ssh-ed25519 K k`) {
		t.Errorf("%q", got)
	}
}
