package main

// User-data as cloud-init reads it: optionally gzip-compressed, either one
// document (`#cloud-config`, `#!` script ...) or a MIME multipart message
// whose parts are those documents (possibly base64, quoted-printable or
// gzip-compressed). The result is a list of parts with a content type.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

const (
	typeCloudConfig = "text/cloud-config"
	typeShell       = "text/x-shellscript"
	typeShellBoot   = "text/x-shellscript-per-boot"
	typeShellInst   = "text/x-shellscript-per-instance"
	typeShellOnce   = "text/x-shellscript-per-once"
)

// Part is one document of the user-data.
type Part struct {
	Type     string
	Filename string
	Body     []byte
}

// startsWith maps a document's first line to its type, as cloud-init's
// type_from_starts_with does (longest prefix first).
var startsWith = []struct{ prefix, ctype string }{
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config-jsonp", "text/cloud-config-jsonp"},
	{"#cloud-config", typeCloudConfig},
	{"#include-once", "text/x-include-once-url"},
	{"#include", "text/x-include-url"},
	{"#!", typeShell},
	{"#upstart-job", "text/upstart-job"},
	{"#part-handler", "text/part-handler"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"## template: jinja", "text/jinja2"},
}

// unsupported content types and why.
var unsupportedTypes = map[string]string{
	"text/cloud-config-archive": "#cloud-config-archive is not supported",
	"text/cloud-config-jsonp":   "#cloud-config-jsonp is not supported",
	"text/x-include-url":        "#include is not supported (Coracle hosts fetch nothing)",
	"text/x-include-once-url":   "#include-once is not supported (Coracle hosts fetch nothing)",
	"text/upstart-job":          "upstart jobs are not supported",
	"text/part-handler":         "part-handlers are not supported",
	"text/cloud-boothook":       "boothooks are not supported (use bootcmd)",
	"text/jinja2":               "jinja templates are not supported",
}

var gzipTypes = map[string]bool{
	"application/gzip": true, "application/gzip-compressed": true, "application/gzipped": true,
	"application/x-compress": true, "application/x-compressed": true, "application/x-gunzip": true,
	"application/x-gzip": true, "application/x-gzip-compressed": true,
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// maxUserData bounds decompression (cloud-init's limit is far lower).
const maxUserData = 64 << 20

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxUserData+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxUserData {
		return nil, fmt.Errorf("more than %d MiB once decompressed", maxUserData>>20)
	}
	return out, nil
}

func typeFromContent(b []byte) string {
	line := b
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	l := strings.TrimRight(string(line), "\r")
	for _, s := range startsWith {
		if strings.HasPrefix(l, s.prefix) {
			return s.ctype
		}
	}
	return ""
}

// SplitUserData turns raw user-data into parts. Problems with one part
// are returned as warnings and the other parts still count.
func SplitUserData(raw []byte) ([]Part, []string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, nil
	}
	if isGzip(raw) {
		var err error
		if raw, err = gunzip(raw); err != nil {
			return nil, nil, fmt.Errorf("gzip: %v", err)
		}
	}
	s := &splitter{}
	if hdr, body, ok := readMIMEHeader(raw); ok && hdr["content-type"] != "" {
		if err := s.entity(hdr, body, 0); err != nil {
			return nil, s.warnings, err
		}
	} else {
		s.document(raw, "", "")
	}
	return s.parts, s.warnings, nil
}

type splitter struct {
	parts    []Part
	warnings []string
	n        int
}

// document classifies one non-multipart payload.
func (s *splitter) document(body []byte, ctype, filename string) {
	s.n++
	if filename == "" {
		filename = fmt.Sprintf("part-%03d", s.n)
	}
	if ctype == "" || ctype == "text/plain" || ctype == "text/x-not-multipart" {
		if t := typeFromContent(body); t != "" {
			ctype = t
		} else if ctype == "" || ctype == "text/x-not-multipart" {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: not cloud-config, a #! script or MIME: ignored", filename))
			return
		}
	}
	if why, bad := unsupportedTypes[ctype]; bad {
		s.warnings = append(s.warnings, fmt.Sprintf("%s (%s): %s", filename, ctype, why))
		return
	}
	switch ctype {
	case typeCloudConfig, typeShell, typeShellBoot, typeShellInst, typeShellOnce:
		s.parts = append(s.parts, Part{Type: ctype, Filename: filename, Body: body})
	case "text/plain":
		s.warnings = append(s.warnings, fmt.Sprintf("%s: text/plain part without #cloud-config or #!: ignored", filename))
	default:
		s.warnings = append(s.warnings, fmt.Sprintf("%s: content type %s is not handled: ignored", filename, ctype))
	}
}

func (s *splitter) entity(hdr map[string]string, body []byte, depth int) error {
	if depth > 10 {
		return fmt.Errorf("MIME nesting too deep")
	}
	ctype, params, err := mime.ParseMediaType(hdr["content-type"])
	if err != nil {
		return fmt.Errorf("bad Content-Type %q: %v", hdr["content-type"], err)
	}
	ctype = strings.ToLower(ctype)
	if strings.HasPrefix(ctype, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without a boundary", ctype)
		}
		for i, p := range splitMultipart(body, boundary) {
			phdr, pbody, _ := readMIMEHeader(p)
			if phdr["content-type"] == "" {
				phdr["content-type"] = "text/plain"
			}
			if err := s.entity(phdr, pbody, depth+1); err != nil {
				s.warnings = append(s.warnings, fmt.Sprintf("MIME part %d: %v", i+1, err))
			}
		}
		return nil
	}
	data, err := decodeTransfer(hdr["content-transfer-encoding"], body)
	if err != nil {
		return err
	}
	filename := ""
	if _, dp, err := mime.ParseMediaType(hdr["content-disposition"]); err == nil {
		filename = dp["filename"]
	}
	if filename == "" {
		filename = params["name"]
	}
	if gzipTypes[ctype] || isGzip(data) {
		if data, err = gunzip(data); err != nil {
			return fmt.Errorf("gzip: %v", err)
		}
		if gzipTypes[ctype] {
			ctype = ""
		}
	}
	s.document(data, ctype, safeFilename(filename))
	return nil
}

// safeFilename keeps a MIME filename usable as a file name under scripts/.
func safeFilename(name string) string {
	name = strings.ReplaceAll(name, "/", "_")
	if name == "." || name == ".." {
		return ""
	}
	return name
}

func decodeTransfer(cte string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(body))
		b, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
		}
		if err != nil {
			return nil, fmt.Errorf("base64 part: %v", err)
		}
		return b, nil
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	}
	return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
}

// readMIMEHeader reads RFC 822 headers (with folded lines) up to the first
// empty line. ok is false when the data does not start with a header.
func readMIMEHeader(b []byte) (map[string]string, []byte, bool) {
	hdr := map[string]string{}
	r := bufio.NewReader(bytes.NewReader(b))
	consumed := 0
	last := ""
	for {
		line, err := r.ReadString('\n')
		consumed += len(line)
		t := strings.TrimRight(line, "\r\n")
		if t == "" {
			if err != nil && len(hdr) == 0 {
				return hdr, b, false
			}
			break
		}
		if (t[0] == ' ' || t[0] == '\t') && last != "" {
			hdr[last] += " " + strings.TrimSpace(t)
		} else {
			i := strings.IndexByte(t, ':')
			if i <= 0 || strings.ContainsAny(t[:i], " \t") {
				return map[string]string{}, b, false
			}
			last = strings.ToLower(t[:i])
			hdr[last] = strings.TrimSpace(t[i+1:])
		}
		if err != nil {
			break
		}
	}
	if consumed > len(b) {
		consumed = len(b)
	}
	return hdr, b[consumed:], true
}

// splitMultipart returns the bodies between --boundary lines (the preamble
// and epilogue are dropped). The line break before a delimiter belongs to it.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := "--" + boundary
	var parts [][]byte
	var cur []byte
	in := false
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		t := string(bytes.TrimRight(line, " \t\r\n"))
		if t == delim+"--" || t == delim {
			if in {
				parts = append(parts, trimLastNewline(cur))
			}
			if t != delim {
				break
			}
			cur, in = nil, true
			continue
		}
		if in {
			cur = append(cur, line...)
		}
	}
	return parts
}

func trimLastNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}
