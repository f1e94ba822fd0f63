package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"math"
	"reflect"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestYAML11Scalars(t *testing.T) {
	v, _, err := parseYAML11([]byte(`
octal: 0644
quoted: "0644"
single: '0644'
dec: 644
zero: 0
eight: 08
hex: 0x1F
bin: 0b101
under: 1_000
sexa: 190:20:30
neg: -012
yes1: yes
no1: No
on1: ON
off1: off
y: y
n: n
true1: True
tilde: ~
nul: null
empty:
float: 1.5
float2: 6.8523015e+5
inf: .inf
str: hello
tagged: !!str yes
tagint: !!int "0755"
version: 1.0
date: 2001-12-14
o12: 0o644
bin64: !!binary aGVsbG8=
`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	want := map[string]any{
		"octal": int64(420), "quoted": "0644", "single": "0644", "dec": int64(644), "zero": int64(0),
		"eight": "08", "hex": int64(31), "bin": int64(5), "under": int64(1000), "sexa": int64(685230),
		"neg": int64(-10), "yes1": true, "no1": false, "on1": true, "off1": false, "y": true, "n": false,
		"true1": true, "tilde": nil, "nul": nil, "empty": nil, "float": 1.5, "float2": 685230.15,
		"str": "hello", "tagged": "yes", "tagint": int64(493), "version": 1.0, "date": "2001-12-14",
		"o12": "0o644", "bin64": []byte("hello"),
	}
	for k, w := range want {
		if !reflect.DeepEqual(m[k], w) {
			t.Errorf("%s: got %#v, want %#v", k, m[k], w)
		}
	}
	if !math.IsInf(m["inf"].(float64), 1) {
		t.Errorf("inf: %v", m["inf"])
	}
}

func TestYAML11DuplicatesMergeAliases(t *testing.T) {
	v, warns, err := parseYAML11([]byte("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\nk: 1\nk: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["k"] != int64(2) || len(warns) != 1 || !strings.Contains(warns[0], `duplicate key "k"`) {
		t.Errorf("duplicates: %v %v", m["k"], warns)
	}
	x := m["x"].(map[string]any)
	if x["a"] != int64(1) || x["b"] != int64(3) {
		t.Errorf("merge: %v", x)
	}
}

func TestYAMLErrorsCarryLines(t *testing.T) {
	for in, want := range map[string]string{
		"#cloud-config\nhostname: [unclosed\nruncmd:\n  - x\n": "line 2: did not find expected ',' or ']'",
		"a: 1\nb: {x: 1\n":  "line 2: did not find expected ',' or '}'",
		"a: 1\n b: 2\n":     "line 2: mapping values are not allowed in this context",
		"a:\n  - 1\n - 2\n": "line 3: did not find expected key",
		"- a\nb: 1\n":       "line 2: did not find expected '-' indicator",
		"a: 1\n\tb: 2\n":    "line 2: found a tab character that violates indentation",
	} {
		_, _, err := parseYAML11([]byte(in))
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", in, err, want)
		}
	}
}

func TestPyStr(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{{true, "True"}, {false, "False"}, {nil, "None"}, {int64(420), "420"}, {1.0, "1.0"}, {1.5, "1.5"}, {"x", "x"}} {
		if got := pyStr(c.v); got != c.want {
			t.Errorf("pyStr(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestSplitSingleDocuments(t *testing.T) {
	for _, c := range []struct {
		in   string
		typ  string
		warn bool
	}{
		{"#cloud-config\nhostname: a\n", typeCloudConfig, false},
		{"#!/bin/sh\necho hi\n", typeShell, false},
		{"#include http://x\n", "", true},
		{"#cloud-boothook\necho\n", "", true},
		{"## template: jinja\n#cloud-config\n", "", true},
		{"#part-handler\n", "", true},
		{"hello there\n", "", true},
	} {
		parts, warns, err := SplitUserData([]byte(c.in))
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if c.typ != "" && (len(parts) != 1 || parts[0].Type != c.typ || parts[0].Filename != "part-001") {
			t.Errorf("%q: parts %+v", c.in, parts)
		}
		if c.typ == "" && len(parts) != 0 {
			t.Errorf("%q: want no parts, got %+v", c.in, parts)
		}
		if (len(warns) > 0) != c.warn {
			t.Errorf("%q: warnings %v", c.in, warns)
		}
	}
	if parts, _, _ := SplitUserData(nil); parts != nil {
		t.Errorf("empty user-data: %v", parts)
	}
}

func TestSplitGzip(t *testing.T) {
	parts, _, err := SplitUserData(gz(t, "#cloud-config\nruncmd: [ls]\n"))
	if err != nil || len(parts) != 1 || parts[0].Type != typeCloudConfig || !strings.Contains(string(parts[0].Body), "runcmd") {
		t.Fatalf("gzip: %v %+v", err, parts)
	}
	if _, _, err := SplitUserData([]byte{0x1f, 0x8b, 1, 2, 3}); err == nil {
		t.Error("broken gzip must be an error")
	}
}

func TestSplitMIME(t *testing.T) {
	script := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho from part\n"))
	zipped := base64.StdEncoding.EncodeToString(gz(t, "#cloud-config\nfinal_message: zipped\n"))
	msg := "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\nMIME-Version: 1.0\r\n\r\n" +
		"preamble\r\n" +
		"--XYZ\r\nContent-Type: text/cloud-config; charset=\"us-ascii\"\r\n\r\n#cloud-config\r\nhostname: mime\r\n" +
		"--XYZ\r\nContent-Type: text/x-shellscript\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"hello.sh\"\r\n\r\n" + script + "\r\n" +
		"--XYZ\r\nContent-Type: text/x-shellscript-per-boot\r\n\r\n#!/bin/sh\necho boot\n" +
		"--XYZ\r\nContent-Type: text/x-shellscript-per-once\r\n\r\n#!/bin/sh\necho once\n" +
		"--XYZ\r\nContent-Type: text/x-shellscript-per-instance\r\n\r\n#!/bin/sh\necho inst\n" +
		"--XYZ\r\nContent-Type: application/x-gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n" + zipped + "\r\n" +
		"--XYZ\r\nContent-Type: text/plain\r\n\r\n#cloud-config\nntp: {servers: [a]}\n" +
		"--XYZ\r\nContent-Type: text/x-include-url\r\n\r\nhttp://example\n" +
		"--XYZ--\r\nepilogue\r\n"
	parts, warns, err := SplitUserData([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range parts {
		got = append(got, p.Type+" "+p.Filename)
	}
	want := []string{
		"text/cloud-config part-001", "text/x-shellscript hello.sh", "text/x-shellscript-per-boot part-003",
		"text/x-shellscript-per-once part-004", "text/x-shellscript-per-instance part-005",
		"text/cloud-config part-006", "text/cloud-config part-007",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if string(parts[0].Body) != "#cloud-config\r\nhostname: mime" {
		t.Errorf("first body %q", parts[0].Body)
	}
	if string(parts[1].Body) != "#!/bin/sh\necho from part\n" {
		t.Errorf("base64 body %q", parts[1].Body)
	}
	if string(parts[5].Body) != "#cloud-config\nfinal_message: zipped\n" {
		t.Errorf("gzip body %q", parts[5].Body)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "#include") {
		t.Errorf("warnings %v", warns)
	}
}

func TestMIMENestedAndQuotedPrintable(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n" +
		"--inner\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: quoted-printable\n\n#cloud-config\nfinal_message: a=3Db\n--inner--\n--outer--\n"
	parts, _, err := SplitUserData([]byte(msg))
	if err != nil || len(parts) != 1 || string(parts[0].Body) != "#cloud-config\nfinal_message: a=b" {
		t.Fatalf("%v %+v", err, parts)
	}
}

func TestDecodeContent(t *testing.T) {
	text := "hello\nworld\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	gzb64 := base64.StdEncoding.EncodeToString(gz(t, text))
	cases := []struct {
		enc string
		in  []byte
	}{
		{"", []byte(text)}, {"text/plain", []byte(text)}, {"b64", []byte(b64)}, {"base64", []byte(b64[:8] + "\n" + b64[8:])},
		{"gz", gz(t, text)}, {"gzip", gz(t, text)}, {"gz+b64", []byte(gzb64)}, {"gzip+base64", []byte(gzb64)},
		{"gz+base64", []byte(gzb64)}, {"gzip+b64", []byte(gzb64)}, {"B64", []byte(b64)},
	}
	for _, c := range cases {
		got, err := decodeContent(c.in, c.enc)
		if err != nil || string(got) != text {
			t.Errorf("%s: %q %v", c.enc, got, err)
		}
	}
	for _, c := range []struct{ enc, in string }{{"b64", "!!notbase64"}, {"gzip", "plain"}, {"gz+b64", b64}, {"rot13", "x"}} {
		if _, err := decodeContent([]byte(c.in), c.enc); err == nil {
			t.Errorf("%s %q: want an error", c.enc, c.in)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		v    any
		want uint32
	}{{"0644", 0o644}, {"644", 0o644}, {"0o600", 0o600}, {"4755", 0o4755}, {int64(420), 0o644}, {int64(0o755), 0o755}} {
		got, err := ParseMode(c.v)
		if err != nil || got != c.want {
			t.Errorf("ParseMode(%#v) = %o %v, want %o", c.v, got, err, c.want)
		}
	}
	for _, v := range []any{"rw-r--r--", "0999", "77777", true, []any{}, int64(-1)} {
		if _, err := ParseMode(v); err == nil {
			t.Errorf("ParseMode(%#v): want an error", v)
		}
	}
}

func TestPermissionsFromYAML11(t *testing.T) {
	// Unquoted 0644 is octal in YAML 1.1 and must give mode 0644, not 01204.
	v, _, _ := parseYAML11([]byte("write_files:\n- {path: /a, permissions: 0644}\n- {path: /b, permissions: '0600'}\n- {path: /c, permissions: 0o755}\n"))
	specs, err := ParseWriteFiles(v.(map[string]any)["write_files"])
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Mode != 0o644 || specs[1].Mode != 0o600 || specs[2].Mode != 0o755 {
		t.Errorf("modes %o %o %o", specs[0].Mode, specs[1].Mode, specs[2].Mode)
	}
}

func TestShellify(t *testing.T) {
	cmds, err := wantCommands([]any{"echo $HOME > /x", []any{"touch", "/a b", "it's"}, []any{"echo", true, int64(1)}}, "runcmd")
	if err != nil {
		t.Fatal(err)
	}
	want := "#!/bin/sh\necho $HOME > /x\ntouch '/a b' 'it'\"'\"'s'\necho True 1\n"
	if got := Shellify(cmds); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, bad := range []any{int64(3), map[string]any{}, []any{map[string]any{"a": 1}}, []any{[]any{}}} {
		if _, err := wantCommands(bad, "runcmd"); err == nil {
			t.Errorf("%#v: want an error", bad)
		}
	}
}

func TestParseDS(t *testing.T) {
	c, ok := DSFromCmdline(`BOOT_IMAGE=/k console=ttyS0 ds=nocloud;s=file:///var/seed/;h=myhost;i=iid-01 quiet`)
	if !ok || c.Name != "nocloud" || c.SeedFrom != "file:///var/seed/" || c.MetaData["local-hostname"] != "myhost" || c.MetaData["instance-id"] != "iid-01" {
		t.Fatalf("%+v %v", c, ok)
	}
	c, ok = DSFromCmdline(`a "ds=nocloud-net;seedfrom=/seed;local-hostname=x y" b`)
	if !ok || c.Name != "nocloud-net" || c.SeedFrom != "/seed" || c.MetaData["local-hostname"] != "x y" {
		t.Fatalf("quoted: %+v %v", c, ok)
	}
	for _, s := range []string{"ds=ec2", "console=ttyS0", "ds=", "xds=nocloud"} {
		if _, ok := DSFromCmdline(s); ok {
			t.Errorf("%q: not a NoCloud source", s)
		}
	}
	// SMBIOS serial: the same syntax, as QEMU's -smbios type=1,serial=...
	c, ok = ParseDS(trimNUL([]byte("ds=nocloud;i=abc;h=serialhost\x00\n")))
	if !ok || c.MetaData["instance-id"] != "abc" || c.MetaData["local-hostname"] != "serialhost" {
		t.Errorf("serial: %+v", c)
	}
}

func TestSeedPath(t *testing.T) {
	for in, want := range map[string]string{"file:///a/b/": "/a/b/", "/c/": "/c/"} {
		if got, err := SeedPath(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	if _, err := SeedPath("http://10.0.2.2/seed/"); err == nil || !strings.Contains(err.Error(), "file://") {
		t.Errorf("http seeds: %v", err)
	}
}

func TestPublicKeys(t *testing.T) {
	got := PublicKeys(map[string]any{"b": []any{"ssh-ed25519 BBB b"}, "a": "ssh-rsa AAA a\n# comment\nssh-ed25519 CCC c\n"})
	want := []string{"ssh-rsa AAA a", "ssh-ed25519 CCC c", "ssh-ed25519 BBB b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
	if got := PublicKeys("ssh-rsa X"); !reflect.DeepEqual(got, []string{"ssh-rsa X"}) {
		t.Errorf("%v", got)
	}
}

func TestCleanInstanceID(t *testing.T) {
	for in, want := range map[string]string{"iid-1": "iid-1", "a/b": "a_b", "..": "nocloud", " ": "nocloud"} {
		if got := cleanInstanceID(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestParseHostname(t *testing.T) {
	for _, c := range []struct {
		cfg        string
		local      string
		host, fqdn string
	}{
		{"hostname: web", "", "web", "web"},
		{"hostname: web.example.com", "", "web", "web.example.com"},
		{"fqdn: a.b.c", "", "a", "a.b.c"},
		{"hostname: x\nfqdn: y.example.org", "", "x", "y.example.org"},
		{"{}", "meta.example.net", "meta", "meta.example.net"},
	} {
		v, _, _ := parseYAML11([]byte(c.cfg))
		h, err := ParseHostname(v.(map[string]any), c.local)
		if err != nil || h.Hostname != c.host || h.FQDN != c.fqdn {
			t.Errorf("%q: %+v %v", c.cfg, h, err)
		}
	}
	for _, bad := range []string{"hostname: 'bad host'", "hostname: [a]", "manage_etc_hosts: sometimes", "preserve_hostname: maybe"} {
		v, _, _ := parseYAML11([]byte(bad))
		if _, err := ParseHostname(v.(map[string]any), ""); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestEtcHosts(t *testing.T) {
	got := EtcHosts("127.0.0.1 localhost\n127.0.1.1 old\n10.0.0.1 other\n", "localhost", "web.example.com", "web")
	want := "127.0.0.1 localhost\n127.0.1.1 web.example.com web\n10.0.0.1 other\n"
	if got != want {
		t.Errorf("got %q", got)
	}
	if got := EtcHosts("", "localhost", "h", "h"); got != "127.0.1.1 h\n127.0.0.1 localhost\n" {
		t.Errorf("empty: %q", got)
	}
	if got := EtcHosts("junk", "template", "a.b", "a"); !strings.HasPrefix(got, "# Written by cloud-init") || !strings.Contains(got, "127.0.1.1 a.b a\n") || strings.Contains(got, "junk") {
		t.Errorf("template: %q", got)
	}
}

func TestParseNTPAndPowerState(t *testing.T) {
	c, err := ParseNTP(map[string]any{"servers": []any{"ntp1.example"}, "pools": []any{"pool.example"}})
	if err != nil || NTPConf(c) != "# Written by cloud-init from user-data (ntp).\nserver ntp1.example\nserver pool.example\n" {
		t.Errorf("%v %q", err, NTPConf(c))
	}
	if c, _ := ParseNTP(map[string]any{"enabled": true}); len(c.Pools) != 4 {
		t.Errorf("default pools: %v", c.Pools)
	}
	if _, err := ParseNTP(map[string]any{"servers": "a b"}); err == nil {
		t.Error("servers as a string with a space")
	}
	p, err := ParsePowerState(map[string]any{"mode": "reboot", "delay": "+2", "condition": "test -e /x"})
	if err != nil || p.Mode != "reboot" || p.Delay.Minutes() != 2 || p.Condition == nil || p.Condition.Shell != "test -e /x" {
		t.Errorf("%+v %v", p, err)
	}
	p, err = ParsePowerState(map[string]any{"mode": "poweroff", "delay": "now", "condition": false})
	if err != nil || p.Delay != 0 || !p.Never {
		t.Errorf("%+v %v", p, err)
	}
	for _, bad := range []map[string]any{{"mode": "sleep"}, {}, {"mode": "halt", "delay": "soon"}, {"mode": "halt", "condition": int64(1)}} {
		if _, err := ParsePowerState(bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
