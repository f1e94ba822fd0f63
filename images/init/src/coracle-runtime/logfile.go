package main

// The on-disk part of a container's log: /var/log/NAME.log, rotated by size
// (NAME.log -> NAME.log.1 -> ... -> NAME.log.KEEP, the oldest dropped) so a
// chatty service cannot fill the tmpfs root. The file gets the bytes as the
// container wrote them; a rotation happens between lines, or in the middle
// of one only when that line alone is longer than the size.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

type rotatingFile struct {
	path string
	max  int64 // bytes per file
	keep int   // rotated files kept (NAME.log.1 ... NAME.log.keep)
	f    *os.File
	size int64
	// the last byte written ended a line
	atLineStart bool
}

func openRotatingFile(path string, max int64, keep int) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingFile{path: path, max: max, keep: keep, f: f, size: st.Size(), atLineStart: true}, nil
}

// Write appends p, rotating first where the next line would take the file
// past max.
func (r *rotatingFile) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		seg := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			seg = p[:i+1]
		}
		full := r.size > 0 && r.size+int64(len(seg)) > r.max
		if (full && r.atLineStart) || r.size >= r.limit() {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		// A line started in this file may finish here past max (it came
		// in pieces), up to limit(); a longer one is cut there.
		room := r.limit() - r.size
		if r.atLineStart {
			room = r.max - r.size
		}
		if room < 1 {
			room = 1
		}
		if int64(len(seg)) > room {
			seg = seg[:room]
		}
		n, err := r.f.Write(seg)
		written += n
		r.size += int64(n)
		if err != nil {
			return written, err
		}
		r.atLineStart = seg[len(seg)-1] == '\n'
		p = p[len(seg):]
	}
	return written, nil
}

// limit: the most a file holds, a line's worth past max.
func (r *rotatingFile) limit() int64 {
	return r.max + logLineMax
}

func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	if r.keep > 0 {
		os.Remove(fmt.Sprintf("%s.%d", r.path, r.keep))
		for i := r.keep - 1; i >= 1; i-- {
			os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
		}
		if err := os.Rename(r.path, r.path+".1"); err != nil {
			return err
		}
	} else if err := os.Remove(r.path); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	r.f = f
	r.size = 0
	return nil
}

func (r *rotatingFile) Close() error {
	return r.f.Close()
}
