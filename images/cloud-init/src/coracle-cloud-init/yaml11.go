package main

// YAML 1.1 reading on top of yaml.v3 (a YAML 1.2 parser): cloud-init reads
// user-data with PyYAML, so plain scalars resolve as YAML 1.1 does. The
// cases that matter for the modules: 0644 is octal (420), yes/no/on/off/y/n
// are booleans, 1_000 is an integer, ~ is null. Quoted scalars and explicit
// !!str stay strings. Duplicate keys are allowed (the last one wins, as in
// PyYAML) with a warning.

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	yaml11Bool  = regexp.MustCompile(`^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yaml11Null  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yaml11Int   = regexp.MustCompile(`^[-+]?(?:0b[01_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yaml11Float = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

// yamlError is a parse error with the position yaml.v3 reported.
type yamlError struct{ msg string }

func (e *yamlError) Error() string { return e.msg }

// parseYAML11 reads one YAML document into Go values: map[string]any,
// []any, string, int64, float64, bool, []byte (!!binary) and nil.
func parseYAML11(data []byte) (any, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &yamlError{fixErrorLine(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	c := &yamlConverter{}
	v, err := c.convert(&doc, 0)
	return v, c.warnings, err
}

type yamlConverter struct{ warnings []string }

func (c *yamlConverter) convert(n *yaml.Node, depth int) (any, error) {
	if depth > 100 {
		return nil, fmt.Errorf("line %d: nesting too deep", n.Line)
	}
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
				if err := c.merge(out, vn, depth); err != nil {
					return nil, err
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			v, err := c.convert(vn, depth+1)
			if err != nil {
				return nil, err
			}
			if seen[k.Value] {
				c.warnings = append(c.warnings, fmt.Sprintf("line %d: duplicate key %q (the last one wins)", k.Line, k.Value))
			}
			out[k.Value] = v
			seen[k.Value] = true
		}
		return out, nil
	case yaml.ScalarNode:
		return resolveScalar11(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// merge applies a `<<` merge key: keys already present win.
func (c *yamlConverter) merge(out map[string]any, vn *yaml.Node, depth int) error {
	sources := []*yaml.Node{vn}
	if vn.Kind == yaml.SequenceNode {
		sources = vn.Content
	}
	for _, s := range sources {
		v, err := c.convert(s, depth+1)
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("line %d: << needs a mapping", s.Line)
		}
		for k, x := range m {
			if _, have := out[k]; !have {
				out[k] = x
			}
		}
	}
	return nil
}

// yaml.v3 reports parser errors (not scanner errors) with a 0-based line.
var parserErrorLine = regexp.MustCompile(`^line (\d+): (did not find expected (?:key|node content|'-' indicator|',' or '[\]}]'|<document start>))`)

func fixErrorLine(msg string) string {
	m := parserErrorLine.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	n, _ := strconv.Atoi(msg[m[2]:m[3]])
	return fmt.Sprintf("line %d: %s", n+1, msg[m[4]:])
}

func resolveScalar11(n *yaml.Node) (any, error) {
	s := n.Value
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.ShortTag() {
		case "!!str":
			return s, nil
		case "!!binary":
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
			if err != nil {
				return nil, fmt.Errorf("line %d: !!binary is not base64", n.Line)
			}
			return b, nil
		case "!!int":
			if v, ok := parseInt11(s); ok {
				return v, nil
			}
			return nil, fmt.Errorf("line %d: %q is not an integer", n.Line, s)
		case "!!bool":
			if yaml11Bool.MatchString(s) {
				return parseBool11(s), nil
			}
			return nil, fmt.Errorf("line %d: %q is not a boolean", n.Line, s)
		case "!!null":
			return nil, nil
		case "!!float":
			if f, ok := parseFloat11(s); ok {
				return f, nil
			}
		}
		return s, nil
	}
	if n.Style != 0 { // quoted, literal or folded
		return s, nil
	}
	switch {
	case yaml11Null.MatchString(s):
		return nil, nil
	case yaml11Bool.MatchString(s):
		return parseBool11(s), nil
	case yaml11Int.MatchString(s):
		if v, ok := parseInt11(s); ok {
			return v, nil
		}
	case yaml11Float.MatchString(s):
		if f, ok := parseFloat11(s); ok {
			return f, nil
		}
	}
	return s, nil
}

func parseBool11(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "true", "on":
		return true
	}
	return false
}

// parseInt11: YAML 1.1 integers (0b binary, 0 octal, 0x hex, base 60).
func parseInt11(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v int64
	var err error
	switch {
	case strings.HasPrefix(s, "0b"):
		v, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		v, err = strconv.ParseInt(s[2:], 16, 64)
	case strings.Contains(s, ":"):
		for _, part := range strings.Split(s, ":") {
			d, e := strconv.ParseInt(part, 10, 64)
			if e != nil {
				return 0, false
			}
			v = v*60 + d
		}
	case len(s) > 1 && s[0] == '0':
		v, err = strconv.ParseInt(s[1:], 8, 64)
	default:
		v, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

func parseFloat11(s string) (float64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case ".inf":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case ".nan":
		return math.NaN(), true
	}
	if strings.Contains(s, ":") {
		neg := strings.HasPrefix(s, "-")
		var v float64
		for _, part := range strings.Split(strings.TrimLeft(s, "+-"), ":") {
			d, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return 0, false
			}
			v = v*60 + d
		}
		if neg {
			v = -v
		}
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// pyStr renders a value the way Python's str() does: cloud-init passes
// non-string command arguments and file contents through str().
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if math.IsInf(x, 1) {
			return "inf"
		} else if math.IsInf(x, -1) {
			return "-inf"
		} else if math.IsNaN(x) {
			return "nan"
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
