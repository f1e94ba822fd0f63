package main

import (
	"fmt"
	"strings"
	"testing"
)

func texts(es []logEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.text)
	}
	return out
}

func TestRingKeepsTheLastLinesWithinItsBytes(t *testing.T) {
	r := newLogRing(40) // each "line N" costs 7 bytes with its newline
	for i := 0; i < 100; i++ {
		r.add(fmt.Sprintf("line%02d", i))
	}
	got := texts(r.tail(0, 0))
	if len(got) != 5 || got[0] != "line95" || got[4] != "line99" {
		t.Fatalf("held %v", got)
	}
	if r.bytes > 40 {
		t.Fatalf("%d bytes held, max 40", r.bytes)
	}
	if len(r.lines) > 200 {
		t.Fatalf("slice not compacted: %d entries", len(r.lines))
	}
}

func TestRingTailNAndSince(t *testing.T) {
	r := newLogRing(1 << 20)
	for i := 1; i <= 10; i++ {
		r.add(fmt.Sprint(i))
	}
	if got := strings.Join(texts(r.tail(3, 0)), ","); got != "8,9,10" {
		t.Errorf("tail 3: %s", got)
	}
	if got := strings.Join(texts(r.tail(0, 7)), ","); got != "8,9,10" {
		t.Errorf("since 7: %s", got)
	}
	if got := strings.Join(texts(r.tail(2, 5)), ","); got != "9,10" {
		t.Errorf("tail 2 since 5: %s", got)
	}
	if got := r.tail(5, 10); len(got) != 0 {
		t.Errorf("since the last: %v", got)
	}
}

func TestRingKeepsOneLineLongerThanItsMax(t *testing.T) {
	r := newLogRing(10)
	r.add("short")
	r.add(strings.Repeat("x", 50))
	if got := texts(r.tail(0, 0)); len(got) != 1 || len(got[0]) != 50 {
		t.Fatalf("%v", got)
	}
}

func TestSplitterLinesAcrossChunks(t *testing.T) {
	var s lineSplitter
	var got []string
	emit := func(l string) { got = append(got, l) }
	s.feed([]byte("one\ntw"), emit)
	s.feed([]byte("o\n\nthr"), emit)
	if strings.Join(got, "|") != "one|two|" || s.pending() != "thr" {
		t.Fatalf("%q pending %q", got, s.pending())
	}
	s.feed([]byte("ee\n"), emit)
	if got[3] != "three" || s.pending() != "" {
		t.Fatalf("%q pending %q", got, s.pending())
	}
}

func TestSplitterCutsOverlongLines(t *testing.T) {
	var s lineSplitter
	var got []string
	emit := func(l string) { got = append(got, l) }
	long := strings.Repeat("a", 2*logLineMax+10)
	// in two chunks, the second ending the line
	s.feed([]byte(long[:100]), emit)
	s.feed([]byte(long[100:]+"\nnext\n"), emit)
	if len(got) != 4 || len(got[0]) != logLineMax || len(got[1]) != logLineMax || len(got[2]) != 10 || got[3] != "next" {
		var lens []int
		for _, g := range got {
			lens = append(lens, len(g))
		}
		t.Fatalf("pieces %v", lens)
	}
	// no newline at all: emitted as soon as the buffer is full
	got = nil
	s.feed([]byte(strings.Repeat("b", logLineMax+5)), emit)
	if len(got) != 1 || len(got[0]) != logLineMax || len(s.pending()) != 5 {
		t.Fatalf("%d lines, pending %d", len(got), len(s.pending()))
	}
}

func TestConsoleTextCutsAndHidesControls(t *testing.T) {
	if got := consoleText("a\x1b[2Jb\tc", 100); got != "a?[2Jb\tc" {
		t.Errorf("%q", got)
	}
	if got := consoleText(strings.Repeat("é", 10), 4); got != "éééé…" {
		t.Errorf("%q", got)
	}
}
