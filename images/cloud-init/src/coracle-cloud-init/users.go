package main

// users_groups and ssh: accounts in /etc/passwd, /etc/shadow, /etc/group
// of the host root, home folders, and authorized_keys. Coracle has no
// distribution default user: `default` in users adds nobody, and the
// top-level ssh_authorized_keys and meta-data public-keys go to root.
// Coracle's root is rebuilt in memory on every boot, so accounts and keys
// are applied on every boot (the edits are idempotent).

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type UserSpec struct {
	NewUser
	HomeSet bool
	Keys    []string
	Notes   []string
}

type GroupSpec struct {
	Name    string
	Members []string
}

var userKeys = []string{"name", "groups", "shell", "passwd", "hashed_passwd", "lock_passwd", "uid", "ssh_authorized_keys", "homedir", "system"}

// ParseUsers validates `users` (a list of names and mappings, a
// comma-separated string, or a mapping of name to settings).
func ParseUsers(v any) ([]UserSpec, error) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		for _, n := range splitList(x, ",") {
			items = append(items, n)
		}
	case []any:
		items = x
	case map[string]any:
		names := make([]string, 0, len(x))
		for n := range x {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			switch c := x[n].(type) {
			case map[string]any:
				m := map[string]any{"name": n}
				for k, val := range c {
					m[k] = val
				}
				items = append(items, m)
			case bool:
				if c {
					items = append(items, n)
				}
			default:
				items = append(items, n)
			}
		}
	default:
		return nil, fmt.Errorf("users must be a list, not %s", typeName(v))
	}
	var out []UserSpec
	for i, item := range items {
		where := fmt.Sprintf("users[%d]", i)
		var m map[string]any
		switch x := item.(type) {
		case string:
			m = map[string]any{"name": x}
		case map[string]any:
			m = x
		default:
			return nil, fmt.Errorf("%s must be a name or a mapping, not %s", where, typeName(item))
		}
		name, err := wantString(m["name"], where+".name")
		if err != nil || name == "" {
			return nil, fmt.Errorf("%s.name is required (a string)", where)
		}
		where = fmt.Sprintf("users[%d] (%s)", i, name)
		if name == "default" {
			out = append(out, UserSpec{NewUser: NewUser{Name: "default"}})
			continue
		}
		if strings.ContainsAny(name, ":\n/ ") {
			return nil, fmt.Errorf("%s: %q is not a valid user name", where, name)
		}
		u := UserSpec{NewUser: NewUser{Name: name, UID: -1, Shell: "/bin/sh", Home: "/home/" + name, Lock: true}}
		if g, ok := m["groups"]; ok && g != nil {
			if gm, isMap := g.(map[string]any); isMap {
				for k := range gm {
					u.Groups = append(u.Groups, k)
				}
				sort.Strings(u.Groups)
			} else if u.Groups, err = wantStrings(g, where+".groups", ","); err != nil {
				return nil, err
			}
			for _, gr := range u.Groups {
				if strings.ContainsAny(gr, ":\n ") {
					return nil, fmt.Errorf("%s: %q is not a valid group name", where, gr)
				}
			}
		}
		str := func(k string) (string, bool, error) {
			x, ok := m[k]
			if !ok || x == nil {
				return "", false, nil
			}
			s, err := wantString(x, where+"."+k)
			return s, err == nil, err
		}
		if s, ok, err := str("shell"); err != nil {
			return nil, err
		} else if ok {
			u.Shell = s
		}
		if s, ok, err := str("homedir"); err != nil {
			return nil, err
		} else if ok {
			u.Home, u.HomeSet = s, true
		}
		for _, k := range []string{"passwd", "hashed_passwd"} {
			if s, ok, err := str(k); err != nil {
				return nil, err
			} else if ok {
				if strings.ContainsAny(s, ":\n") {
					return nil, fmt.Errorf("%s.%s must be a password hash", where, k)
				}
				u.Hash, u.HasHash = s, true
			}
		}
		if x, ok := m["lock_passwd"]; ok && x != nil {
			if u.Lock, err = wantBool(x, where+".lock_passwd"); err != nil {
				return nil, err
			}
		}
		if x, ok := m["system"]; ok && x != nil {
			if u.System, err = wantBool(x, where+".system"); err != nil {
				return nil, err
			}
		}
		if x, ok := m["uid"]; ok && x != nil {
			n, err := wantInt(x, where+".uid")
			if err != nil {
				return nil, err
			}
			if n < 0 || n > 4294967294 {
				return nil, fmt.Errorf("%s.uid %d is out of range", where, n)
			}
			u.UID = int(n)
		}
		if x, ok := m["ssh_authorized_keys"]; ok && x != nil {
			if u.Keys, err = wantStrings(x, where+".ssh_authorized_keys", ""); err != nil {
				return nil, err
			}
		}
		for _, k := range unknownKeys(m, userKeys...) {
			if k == "sudo" {
				u.Notes = append(u.Notes, "sudo ignored (no sudo on Coracle hosts)")
			} else {
				u.Notes = append(u.Notes, k+" not applied on Coracle hosts")
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// ParseGroups validates top-level `groups`: names, or name: [members].
func ParseGroups(v any) ([]GroupSpec, error) {
	var out []GroupSpec
	add := func(name string, members any, where string) error {
		ms, err := wantStrings(members, where, ",")
		if err != nil {
			return err
		}
		if name == "" || strings.ContainsAny(name, ":\n ") {
			return fmt.Errorf("%s: %q is not a valid group name", where, name)
		}
		out = append(out, GroupSpec{Name: name, Members: ms})
		return nil
	}
	addMap := func(m map[string]any, where string) error {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := add(n, m[n], where+"."+n); err != nil {
				return err
			}
		}
		return nil
	}
	switch x := v.(type) {
	case nil:
	case string:
		for _, n := range splitList(x, ",") {
			if err := add(n, nil, "groups"); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		if err := addMap(x, "groups"); err != nil {
			return nil, err
		}
	case []any:
		for i, item := range x {
			where := fmt.Sprintf("groups[%d]", i)
			switch g := item.(type) {
			case string:
				if err := add(g, nil, where); err != nil {
					return nil, err
				}
			case map[string]any:
				if err := addMap(g, where); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("%s must be a name or a mapping, not %s", where, typeName(item))
			}
		}
	default:
		return nil, fmt.Errorf("groups must be a list, not %s", typeName(v))
	}
	return out, nil
}

func (a *Agent) usersGroups() {
	_, hasU := a.cfg["users"]
	_, hasG := a.cfg["groups"]
	if !hasU && !hasG {
		return
	}
	groups, err := ParseGroups(a.cfg["groups"])
	if err != nil {
		a.invalid("users_groups", err)
		return
	}
	users, err := ParseUsers(a.cfg["users"])
	if err != nil {
		a.invalid("users_groups", err)
		return
	}
	acc, err := LoadAccounts(a.Root)
	if err != nil {
		a.Log.Error("users_groups", "cannot read the account files: %v", err)
		return
	}
	for _, g := range groups {
		if _, created, err := acc.AddGroup(g.Name, -1, false); err != nil {
			a.Log.Error("users_groups", "group %s: %v", g.Name, err)
			continue
		} else if created {
			a.Log.Info("users_groups", "group %s created", g.Name)
		}
		for _, m := range g.Members {
			if _, _, _, ok := acc.User(m); !ok {
				a.Log.Warn("users_groups", "group %s: no user %s (not added)", g.Name, m)
				continue
			}
			_ = acc.AddMember(g.Name, m)
		}
	}
	var withKeys []UserSpec
	for _, u := range users {
		if u.Name == "default" {
			a.Log.Info("users_groups", "default: Coracle hosts have no default user (keys go to root)")
			continue
		}
		created, err := acc.AddUser(u.NewUser)
		if err != nil {
			a.Log.Error("users_groups", "user %s: %v", u.Name, err)
			continue
		}
		for _, n := range u.Notes {
			a.Log.Warn("users_groups", "user %s: %s", u.Name, n)
		}
		uid, _, _, _ := acc.User(u.Name)
		if created {
			a.Log.Info("users_groups", "user %s created (uid %d, home %s, shell %s)", u.Name, uid, u.Home, u.Shell)
		} else {
			a.Log.Info("users_groups", "user %s exists: password and groups updated", u.Name)
		}
		withKeys = append(withKeys, u)
	}
	if err := acc.Save(); err != nil {
		a.Log.Error("users_groups", "cannot write the account files: %v", err)
		return
	}
	for _, u := range withKeys {
		uid, gid, home, _ := acc.User(u.Name)
		if !u.System || u.HomeSet {
			if err := makeHome(a.path(home), uid, gid); err != nil {
				a.Log.Error("users_groups", "user %s: home %s: %v", u.Name, home, err)
			}
		}
		if len(u.Keys) > 0 {
			if err := SetupUserKeys(a.Root, acc, u.Name, u.Keys, ""); err != nil {
				a.Log.Error("users_groups", "user %s: ssh keys: %v", u.Name, err)
			} else {
				a.Log.Info("users_groups", "user %s: %d ssh key(s) authorized", u.Name, len(u.Keys))
			}
		}
	}
}

func makeHome(dir string, uid, gid int) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// keyBody is the part of an authorized_keys line that identifies a key.
func keyBody(line string) string {
	f := strings.Fields(line)
	for i, w := range f {
		if strings.HasPrefix(w, "ssh-") || strings.HasPrefix(w, "ecdsa-") || strings.HasPrefix(w, "sk-") {
			if i+1 < len(f) {
				return w + " " + f[i+1]
			}
		}
	}
	return strings.TrimSpace(line)
}

// SetupUserKeys adds keys (with options as a prefix, if any) to the
// user's ~/.ssh/authorized_keys, replacing lines for the same key.
func SetupUserKeys(root string, acc *Accounts, user string, keys []string, options string) error {
	uid, gid, home, ok := acc.User(user)
	if !ok {
		return fmt.Errorf("no user %s", user)
	}
	sshDir := filepath.Join(root, home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(sshDir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(sshDir, uid, gid); err != nil {
		return err
	}
	file := filepath.Join(sshDir, "authorized_keys")
	cur, _ := os.ReadFile(file)
	var lines []string
	for _, l := range strings.Split(string(cur), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		line := k
		if options != "" {
			line = options + " " + k
		}
		body := keyBody(k)
		done := false
		for i, l := range lines {
			if keyBody(l) == body {
				lines[i] = line
				done = true
			}
		}
		if !done {
			lines = append(lines, line)
		}
	}
	if err := writeFileAtomic(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Chown(file, uid, gid)
}

// disableRootOpts is cloud-init's default disable_root_opts.
const disableRootOpts = `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo 'Please login as the user \"$USER\" rather than the user \"$DISABLE_USER\".';echo;sleep 10;exit 142"`

func (a *Agent) sshKeys() {
	var keys []string
	if v, ok := a.cfg["ssh_authorized_keys"]; ok && v != nil {
		k, err := wantStrings(v, "ssh_authorized_keys", "")
		if err != nil {
			a.invalid("ssh", err)
			return
		}
		keys = append(keys, k...)
	}
	meta := PublicKeys(a.meta["public-keys"])
	keys = append(keys, meta...)
	disableRoot := false
	if v, ok := a.cfg["disable_root"]; ok && v != nil {
		b, err := wantBool(v, "disable_root")
		if err != nil {
			a.invalid("ssh", err)
			return
		}
		disableRoot = b
	}
	if len(keys) == 0 {
		return
	}
	acc, err := LoadAccounts(a.Root)
	if err != nil {
		a.Log.Error("ssh", "cannot read the account files: %v", err)
		return
	}
	if err := acc.Save(); err != nil { // root's entries on a bare root
		a.Log.Error("ssh", "%v", err)
		return
	}
	opts := ""
	if disableRoot {
		opts = strings.NewReplacer("$USER", "NONE", "$DISABLE_USER", "root").Replace(disableRootOpts)
	}
	if err := SetupUserKeys(a.Root, acc, "root", keys, opts); err != nil {
		a.Log.Error("ssh", "root: %v", err)
		return
	}
	what := "authorized"
	if disableRoot {
		what = "refused with a message (disable_root)"
	}
	a.Log.Info("ssh", "root: %d key(s) %s (%d from meta-data)", len(keys), what, len(meta))
}
