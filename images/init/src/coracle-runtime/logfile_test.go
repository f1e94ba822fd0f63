package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotationBySizeKeepsCountFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "web.log")
	r, err := openRotatingFile(p, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 29) + "\n" // 30 bytes: three fit in 100
	for i := 0; i < 10; i++ {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	// 10 lines: 3 + 3 + 3 + 1; the first file dropped (keep 2)
	if got := read(t, p); got != line {
		t.Errorf("current: %d bytes", len(got))
	}
	for _, n := range []string{".1", ".2"} {
		if got := read(t, p+n); got != strings.Repeat(line, 3) {
			t.Errorf("%s: %d bytes", n, len(got))
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Errorf(".3 exists: %v", err)
	}
}

func TestRotationBetweenLinesOnly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	r, _ := openRotatingFile(p, 50, 1)
	// a 40-byte line written in two pieces, after 20 bytes: it finishes in
	// the file it started in (60 bytes), the next line rotates
	r.Write([]byte(strings.Repeat("a", 19) + "\n"))
	r.Write([]byte(strings.Repeat("b", 20)))
	r.Write([]byte(strings.Repeat("b", 19) + "\n"))
	r.Write([]byte("c\n"))
	r.Close()
	if got := read(t, p+".1"); got != strings.Repeat("a", 19)+"\n"+strings.Repeat("b", 39)+"\n" {
		t.Errorf(".1: %q", got)
	}
	if got := read(t, p); got != "c\n" {
		t.Errorf("current: %q", got)
	}
}

func TestRotationCutsALineLongerThanEverything(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	r, _ := openRotatingFile(p, 10, 0)
	if n, err := r.Write([]byte(strings.Repeat("z", 3*logLineMax))); err != nil || n != 3*logLineMax {
		t.Fatal(n, err)
	}
	r.Close()
	st, _ := os.Stat(p)
	if st.Size() > 10+logLineMax {
		t.Errorf("%d bytes in one file, bound %d", st.Size(), 10+logLineMax)
	}
	if _, err := os.Stat(p + ".1"); !os.IsNotExist(err) {
		t.Errorf("keep 0 left a .1")
	}
}

func TestRotationContinuesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	os.WriteFile(p, []byte(strings.Repeat("o", 95)+"\n"), 0o644)
	r, _ := openRotatingFile(p, 100, 1)
	r.Write([]byte("new line\n"))
	r.Close()
	if got := read(t, p); got != "new line\n" {
		t.Errorf("current %q", got)
	}
}
