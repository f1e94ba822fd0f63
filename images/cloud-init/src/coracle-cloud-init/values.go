package main

// Typed reading of cloud-config values. Every module reads its whole
// configuration through these before it changes anything, so a config
// that does not validate applies nothing.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case []byte:
		return "binary data"
	}
	return fmt.Sprintf("%T", v)
}

func wantString(v any, what string) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("%s must be a string, not %s", what, typeName(v))
}

// wantBool accepts booleans and cloud-init's true/false strings.
func wantBool(v any, what string) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s must be true or false, not %s", what, typeName(v))
}

func wantInt(v any, what string) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, nil
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("%s must be an integer, not %s", what, typeName(v))
}

// wantStrings reads a list of strings, or one string split on sep
// (sep "" keeps it whole). Non-string scalars go through str() as in
// cloud-init.
func wantStrings(v any, what, sep string) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if sep == "" {
			return []string{x}, nil
		}
		return splitList(x, sep), nil
	case []any:
		out := make([]string, 0, len(x))
		for i, item := range x {
			switch item.(type) {
			case []any, map[string]any:
				return nil, fmt.Errorf("%s[%d] must be a string, not %s", what, i, typeName(item))
			}
			out = append(out, pyStr(item))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be a list of strings, not %s", what, typeName(v))
}

func wantMap(v any, what string) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%s must be a mapping, not %s", what, typeName(v))
}

// knownKeys returns the keys of m not in known, sorted.
func unknownKeys(m map[string]any, known ...string) []string {
	var out []string
	for k := range m {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Command is one bootcmd/runcmd entry: a shell line or an argv list.
type Command struct {
	Shell string
	Argv  []string
}

func wantCommands(v any, what string) ([]Command, error) {
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			// cloud-init runs a lone string as a one-line script.
			return []Command{{Shell: s}}, nil
		}
		return nil, fmt.Errorf("%s must be a list, not %s", what, typeName(v))
	}
	out := make([]Command, 0, len(list))
	for i, item := range list {
		switch x := item.(type) {
		case nil:
			continue
		case []any:
			argv, err := wantStrings(x, fmt.Sprintf("%s[%d]", what, i), "")
			if err != nil {
				return nil, err
			}
			if len(argv) == 0 {
				return nil, fmt.Errorf("%s[%d] is an empty command", what, i)
			}
			out = append(out, Command{Argv: argv})
		case map[string]any:
			return nil, fmt.Errorf("%s[%d] must be a string or a list, not a mapping", what, i)
		default:
			out = append(out, Command{Shell: pyStr(x)})
		}
	}
	return out, nil
}

// shellQuote quotes a word for sh when it needs it (as Python's shlex.quote).
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Shellify makes one script of commands, as cloud-init does for bootcmd
// and runcmd: a string is a line of shell, a list runs as that argv.
func Shellify(cmds []Command) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, c := range cmds {
		if c.Argv != nil {
			q := make([]string, len(c.Argv))
			for i, a := range c.Argv {
				q[i] = shellQuote(a)
			}
			b.WriteString(strings.Join(q, " "))
		} else {
			b.WriteString(c.Shell)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseMode reads write_files permissions as cloud-init's decode_perms:
// an integer is the mode as it is (YAML 1.1 reads 0644 as 420), anything
// else is an octal string ("0644", "644", "0o644").
func ParseMode(v any) (uint32, error) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case float64:
		n = int64(x)
	case string:
		s := strings.TrimSpace(x)
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
		m, err := strconv.ParseInt(s, 8, 64)
		if err != nil {
			return 0, fmt.Errorf("permissions %q is not an octal mode", x)
		}
		n = m
	default:
		return 0, fmt.Errorf("permissions must be an octal string, not %s", typeName(v))
	}
	if n < 0 || n > 0o7777 {
		return 0, fmt.Errorf("permissions %s is out of range (0 to 07777)", pyStr(v))
	}
	return uint32(n), nil
}
