package main

// Editing /etc/passwd, /etc/shadow and /etc/group (and /etc/gshadow when
// present) under a root folder, the way useradd/groupadd/usermod would:
// colon-separated lines, unknown lines kept as they are, files replaced
// atomically with their mode kept.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// table is one colon-separated account file.
type table struct {
	path   string
	mode   os.FileMode
	fields int
	lines  [][]string
	dirty  bool
}

func loadTable(root, name string, fields int, mode os.FileMode) (*table, error) {
	t := &table{path: filepath.Join(root, name), mode: mode, fields: fields}
	data, err := os.ReadFile(t.path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if st, err := os.Stat(t.path); err == nil {
		t.mode = st.Mode().Perm()
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" {
			continue
		}
		t.lines = append(t.lines, strings.Split(l, ":"))
	}
	return t, nil
}

func (t *table) find(name string) []string {
	for _, l := range t.lines {
		if l[0] == name {
			return l
		}
	}
	return nil
}

// set replaces the entry named f[0] or appends it.
func (t *table) set(f []string) {
	for len(f) < t.fields {
		f = append(f, "")
	}
	for i, l := range t.lines {
		if l[0] == f[0] {
			if strings.Join(l, ":") != strings.Join(f, ":") {
				t.lines[i] = f
				t.dirty = true
			}
			return
		}
	}
	t.lines = append(t.lines, f)
	t.dirty = true
}

func (t *table) save() error {
	if !t.dirty {
		return nil
	}
	var b strings.Builder
	for _, l := range t.lines {
		b.WriteString(strings.Join(l, ":"))
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(t.path, []byte(b.String()), t.mode)
}

// ids in use in a table (third field).
func (t *table) ids() map[int]bool {
	out := map[int]bool{}
	for _, l := range t.lines {
		if len(l) > 2 {
			if n, err := strconv.Atoi(l[2]); err == nil {
				out[n] = true
			}
		}
	}
	return out
}

// Accounts holds the account files of one root while they are edited.
type Accounts struct {
	root                           string
	passwd, shadow, group, gshadow *table
}

func LoadAccounts(root string) (*Accounts, error) {
	a := &Accounts{root: root}
	var err error
	if a.passwd, err = loadTable(root, "etc/passwd", 7, 0o644); err != nil {
		return nil, err
	}
	if a.shadow, err = loadTable(root, "etc/shadow", 9, 0o640); err != nil {
		return nil, err
	}
	if a.group, err = loadTable(root, "etc/group", 4, 0o644); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "etc/gshadow")); err == nil {
		if a.gshadow, err = loadTable(root, "etc/gshadow", 4, 0o640); err != nil {
			return nil, err
		}
	}
	// A root without account files gets root's entries first.
	if a.passwd.find("root") == nil && len(a.passwd.lines) == 0 {
		a.passwd.set([]string{"root", "x", "0", "0", "root", "/root", "/bin/sh"})
	}
	if a.group.find("root") == nil && len(a.group.lines) == 0 {
		a.group.set([]string{"root", "x", "0", ""})
	}
	if a.shadow.find("root") == nil && a.passwd.find("root") != nil {
		a.shadow.set([]string{"root", "*", "", "0", "99999", "7", "", "", ""})
	}
	return a, nil
}

func (a *Accounts) Save() error {
	for _, t := range []*table{a.group, a.gshadow, a.passwd, a.shadow} {
		if t == nil {
			continue
		}
		if err := t.save(); err != nil {
			return err
		}
	}
	return nil
}

// User returns uid, gid and home of a user, ok false when unknown.
func (a *Accounts) User(name string) (uid, gid int, home string, ok bool) {
	l := a.passwd.find(name)
	if l == nil || len(l) < 6 {
		return 0, 0, "", false
	}
	uid, e1 := strconv.Atoi(l[2])
	gid, e2 := strconv.Atoi(l[3])
	return uid, gid, l[5], e1 == nil && e2 == nil
}

func (a *Accounts) GroupID(name string) (int, bool) {
	l := a.group.find(name)
	if l == nil || len(l) < 3 {
		return 0, false
	}
	n, err := strconv.Atoi(l[2])
	return n, err == nil
}

// freeID is the lowest id from lo up to hi not used in any of the tables.
func freeID(lo, hi int, tables ...*table) (int, error) {
	used := map[int]bool{}
	for _, t := range tables {
		for id := range t.ids() {
			used[id] = true
		}
	}
	for id := lo; id <= hi; id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free id between %d and %d", lo, hi)
}

// AddGroup creates a group (system: gid below 1000) unless it exists.
func (a *Accounts) AddGroup(name string, gid int, system bool) (int, bool, error) {
	if id, ok := a.GroupID(name); ok {
		return id, false, nil
	}
	if gid < 0 {
		var err error
		if system {
			gid, err = freeID(100, 999, a.group)
		} else {
			gid, err = freeID(1000, 59999, a.group)
		}
		if err != nil {
			return 0, false, err
		}
	}
	a.group.set([]string{name, "x", strconv.Itoa(gid), ""})
	if a.gshadow != nil {
		a.gshadow.set([]string{name, "!", "", ""})
	}
	return gid, true, nil
}

// AddMember puts a user in a group's member list (the group must exist).
func (a *Accounts) AddMember(group, user string) error {
	l := a.group.find(group)
	if l == nil {
		return fmt.Errorf("no group %s", group)
	}
	f := append([]string{}, l...)
	for len(f) < 4 {
		f = append(f, "")
	}
	members := splitList(f[3], ",")
	for _, m := range members {
		if m == user {
			return nil
		}
	}
	f[3] = strings.Join(append(members, user), ",")
	a.group.set(f)
	if a.gshadow != nil {
		if g := a.gshadow.find(group); g != nil {
			gf := append([]string{}, g...)
			for len(gf) < 4 {
				gf = append(gf, "")
			}
			gf[3] = strings.Join(append(splitList(gf[3], ","), user), ",")
			a.gshadow.set(gf)
		}
	}
	return nil
}

// NewUser is what the users module asks for.
type NewUser struct {
	Name    string
	UID     int // -1: allocate
	Home    string
	Shell   string
	Gecos   string
	System  bool
	Groups  []string
	Hash    string // "" keeps the current one
	Lock    bool
	HasHash bool
}

// AddUser creates the user (with a group of its own name) or, when it
// exists, updates its password and groups as cloud-init does.
func (a *Accounts) AddUser(u NewUser) (created bool, err error) {
	existing := a.passwd.find(u.Name)
	if existing == nil {
		uid := u.UID
		if uid < 0 {
			if u.System {
				uid, err = freeID(100, 999, a.passwd)
			} else {
				uid, err = freeID(1000, 59999, a.passwd)
			}
			if err != nil {
				return false, err
			}
		} else {
			for _, l := range a.passwd.lines {
				if len(l) > 2 && l[2] == strconv.Itoa(uid) {
					return false, fmt.Errorf("uid %d is already used by %s", uid, l[0])
				}
			}
		}
		gid, ok := a.GroupID(u.Name)
		if !ok {
			want := uid
			if a.group.ids()[want] {
				want = -1
			}
			if gid, _, err = a.AddGroup(u.Name, want, u.System); err != nil {
				return false, err
			}
		}
		a.passwd.set([]string{u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Gecos, u.Home, u.Shell})
		created = true
	}
	sh := a.shadow.find(u.Name)
	var f []string
	if sh == nil {
		f = []string{u.Name, "*", "", "0", "99999", "7", "", "", ""}
	} else {
		f = append([]string{}, sh...)
		for len(f) < 9 {
			f = append(f, "")
		}
	}
	if u.HasHash {
		f[1] = u.Hash
	}
	if u.Lock {
		f[1] = lockedPassword(f[1])
	}
	a.shadow.set(f)
	for _, g := range u.Groups {
		if _, ok := a.GroupID(g); !ok {
			if _, _, err := a.AddGroup(g, -1, false); err != nil {
				return created, err
			}
		}
		if err := a.AddMember(g, u.Name); err != nil {
			return created, err
		}
	}
	return created, nil
}

// lockedPassword disables password logins. A hash gets cloud-init's `!`
// prefix (passwd -l); an empty or missing one becomes `*`, not `!`:
// dropbear, Coracle's sshd, refuses every login (keys too) to an account
// whose password starts with `!`, while `*` only means "no password".
func lockedPassword(p string) string {
	switch {
	case p == "" || p == "*" || p == "!" || p == "!*":
		return "*"
	case strings.HasPrefix(p, "!"):
		return p
	}
	return "!" + p
}

func splitList(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeFileAtomic writes to a temporary name beside path, then renames.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(name, mode)
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		os.Remove(name)
	}
	return werr
}
