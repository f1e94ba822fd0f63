package main

// write_files: path, content, encoding (b64/base64, gz/gzip, gz+b64 ...),
// permissions (octal), owner (user:group), append, defer. Entries with
// defer: true are written after users and groups exist.

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type FileSpec struct {
	Path    string
	Content []byte
	Mode    uint32
	Owner   string
	Append  bool
	Defer   bool
}

// decodeContent applies a write_files encoding (cloud-init's names).
func decodeContent(content []byte, encoding string) ([]byte, error) {
	var steps []string
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "text/plain":
	case "b64", "base64":
		steps = []string{"base64"}
	case "gz", "gzip":
		steps = []string{"gzip"}
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		steps = []string{"base64", "gzip"}
	default:
		return nil, fmt.Errorf("unknown encoding %q (b64, base64, gz, gzip, gz+b64, gz+base64, gzip+b64, gzip+base64)", encoding)
	}
	for _, s := range steps {
		var err error
		switch s {
		case "base64":
			clean := strings.Join(strings.Fields(string(content)), "")
			content, err = base64.StdEncoding.DecodeString(clean)
			if err != nil {
				return nil, fmt.Errorf("content is not valid base64: %v", err)
			}
		case "gzip":
			content, err = gunzip(content)
			if err != nil {
				return nil, fmt.Errorf("content is not valid gzip: %v", err)
			}
		}
	}
	return content, nil
}

// ParseWriteFiles validates write_files completely.
func ParseWriteFiles(v any) ([]FileSpec, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("write_files must be a list, not %s", typeName(v))
	}
	var out []FileSpec
	for i, item := range list {
		where := fmt.Sprintf("write_files[%d]", i)
		m, err := wantMap(item, where)
		if err != nil {
			return nil, err
		}
		f := FileSpec{Mode: 0o644, Owner: "root:root"}
		if f.Path, err = wantString(m["path"], where+".path"); err != nil || f.Path == "" {
			return nil, fmt.Errorf("%s.path is required (a string)", where)
		}
		where = fmt.Sprintf("write_files[%d] (%s)", i, f.Path)
		var raw []byte
		switch c := m["content"].(type) {
		case nil:
		case string:
			raw = []byte(c)
		case []byte:
			raw = c
		default:
			return nil, fmt.Errorf("%s.content must be a string, not %s", where, typeName(c))
		}
		enc := ""
		if e, present := m["encoding"]; present && e != nil {
			if enc, err = wantString(e, where+".encoding"); err != nil {
				return nil, err
			}
		}
		if f.Content, err = decodeContent(raw, enc); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if p, present := m["permissions"]; present && p != nil {
			if f.Mode, err = ParseMode(p); err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
		}
		if o, present := m["owner"]; present && o != nil {
			if f.Owner, err = wantString(o, where+".owner"); err != nil {
				return nil, err
			}
		}
		for key, dst := range map[string]*bool{"append": &f.Append, "defer": &f.Defer} {
			if b, present := m[key]; present && b != nil {
				if *dst, err = wantBool(b, where+"."+key); err != nil {
					return nil, err
				}
			}
		}
		if unk := unknownKeys(m, "path", "content", "encoding", "permissions", "owner", "append", "defer"); len(unk) > 0 {
			return nil, fmt.Errorf("%s: %s not supported on Coracle hosts", where, strings.Join(unk, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// resolveOwner turns "user[:group]" into ids using the root's account
// files (numbers are taken as they are); -1 leaves an id unchanged.
func resolveOwner(acc *Accounts, owner string) (int, int, error) {
	user, group, _ := strings.Cut(owner, ":")
	uid, gid := -1, -1
	if user != "" {
		if n, err := strconv.Atoi(user); err == nil {
			uid = n
		} else if u, g, _, ok := acc.User(user); ok {
			uid = u
			if group == "" {
				gid = g
			}
		} else if user == "root" {
			uid = 0
		} else {
			return 0, 0, fmt.Errorf("owner %q: no user %s", owner, user)
		}
	}
	if group != "" {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else if g, ok := acc.GroupID(group); ok {
			gid = g
		} else if group == "root" {
			gid = 0
		} else {
			return 0, 0, fmt.Errorf("owner %q: no group %s", owner, group)
		}
	}
	return uid, gid, nil
}

// WriteFile writes one entry under root.
func WriteFile(root string, acc *Accounts, f FileSpec) error {
	uid, gid, err := resolveOwner(acc, f.Owner)
	if err != nil {
		return err
	}
	p := filepath.Join(root, f.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if f.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	fh, err := os.OpenFile(p, flags, os.FileMode(f.Mode&0o777))
	if err != nil {
		return err
	}
	_, werr := fh.Write(f.Content)
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if uid != -1 || gid != -1 {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	// chmod after chown: chown clears setuid/setgid bits.
	return os.Chmod(p, modeBits(f.Mode))
}

func modeBits(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// writeFiles runs write_files (deferred=false) or write_files_deferred.
// Coracle's root is rebuilt in memory on every boot, so the files are
// written on every boot; an append to a file on persistent storage is
// done once per instance only.
func (a *Agent) writeFiles(deferred bool) {
	module := "write_files"
	if deferred {
		module = "write_files_deferred"
	}
	v, ok := a.cfg["write_files"]
	if !ok {
		return
	}
	specs, err := ParseWriteFiles(v)
	if err != nil {
		if !deferred {
			a.invalid(module, err)
		}
		return
	}
	repeat := a.state.Done(module)
	acc, err := LoadAccounts(a.Root)
	if err != nil {
		a.Log.Error(module, "cannot read the account files: %v", err)
		return
	}
	n := 0
	for _, f := range specs {
		if f.Defer != deferred {
			continue
		}
		if repeat && f.Append && !inMemory(a.path(f.Path)) {
			a.Log.Info(module, "%s: appended on an earlier boot of this instance: skipped", f.Path)
			continue
		}
		if err := WriteFile(a.Root, acc, f); err != nil {
			a.Log.Error(module, "%s: %v", f.Path, err)
			continue
		}
		n++
		a.Log.Info(module, "wrote %s (%d bytes, mode %04o, %s)", f.Path, len(f.Content), f.Mode, f.Owner)
	}
	if n > 0 || !repeat {
		a.markDone(module)
	}
}
