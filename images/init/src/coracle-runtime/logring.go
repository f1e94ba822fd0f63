package main

import "bytes"

// The in-memory part of a container's log (as LinuxKit's memlogd keeps
// one): its last lines, bounded by bytes, each with a sequence number so a
// reader can ask for the lines of one run only (those after a mark).

// logLineMax: a line longer than this is cut into pieces of this size, so a
// service that never prints a newline cannot grow the buffer without bound.
const logLineMax = 16 * 1024

type logEntry struct {
	seq  uint64
	text string
}

// logRing keeps lines until their bytes pass max, dropping the oldest. The
// last line always stays, even alone over max (it is at most logLineMax).
type logRing struct {
	max   int
	lines []logEntry
	start int // lines[start:] are held; the prefix is reused on compaction
	bytes int
	seq   uint64 // of the last line added (0: none yet)
}

func newLogRing(max int) *logRing {
	return &logRing{max: max}
}

func (r *logRing) add(text string) uint64 {
	r.seq++
	r.lines = append(r.lines, logEntry{r.seq, text})
	r.bytes += len(text) + 1
	for r.bytes > r.max && len(r.lines)-r.start > 1 {
		r.bytes -= len(r.lines[r.start].text) + 1
		r.lines[r.start] = logEntry{}
		r.start++
	}
	// compact once half the slice is dropped lines: amortised O(1) per add
	if r.start > 64 && r.start*2 > len(r.lines) {
		n := copy(r.lines, r.lines[r.start:])
		for i := n; i < len(r.lines); i++ {
			r.lines[i] = logEntry{}
		}
		r.lines = r.lines[:n]
		r.start = 0
	}
	return r.seq
}

// tail: at most n of the held lines whose seq is above since, oldest first
// (n <= 0: all of them).
func (r *logRing) tail(n int, since uint64) []logEntry {
	held := r.lines[r.start:]
	from := len(held)
	for from > 0 && held[from-1].seq > since && (n <= 0 || len(held)-from < n) {
		from--
	}
	out := make([]logEntry, len(held)-from)
	copy(out, held[from:])
	return out
}

// lineSplitter turns a byte stream into lines (without the newline). A
// partial line waits for the rest of it, up to logLineMax bytes.
type lineSplitter struct {
	partial []byte
}

func (s *lineSplitter) feed(p []byte, emit func(line string)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := logLineMax - len(s.partial)
			if len(p) < room {
				s.partial = append(s.partial, p...)
				return
			}
			s.partial = append(s.partial, p[:room]...)
			emit(string(s.partial))
			s.partial = s.partial[:0]
			p = p[room:]
			continue
		}
		line := p[:i]
		p = p[i+1:]
		if len(s.partial)+len(line) > logLineMax {
			room := logLineMax - len(s.partial)
			s.partial = append(s.partial, line[:room]...)
			emit(string(s.partial))
			s.partial = s.partial[:0]
			line = line[room:]
			for len(line) > logLineMax {
				emit(string(line[:logLineMax]))
				line = line[logLineMax:]
			}
		}
		if len(s.partial) > 0 {
			emit(string(append(s.partial, line...)))
			s.partial = s.partial[:0]
		} else {
			emit(string(line))
		}
	}
}

// pending: the line being written (no newline yet), "" if none.
func (s *lineSplitter) pending() string {
	return string(s.partial)
}

