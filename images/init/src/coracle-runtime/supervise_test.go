package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBackoffDoublesToTheCap(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i, got, w)
		}
	}
}

func TestRestartPolicyFromCoracleConf(t *testing.T) {
	dir := t.TempDir()
	if got := restartPolicy(dir, "x"); got != "on-failure" {
		t.Errorf("no coracle.conf: %q, want on-failure", got)
	}
	for _, p := range []string{"no", "on-failure", "always"} {
		if err := os.WriteFile(filepath.Join(dir, "coracle.conf"), []byte("timeout=3\nrestart="+p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := restartPolicy(dir, "x"); got != p {
			t.Errorf("restart=%s: got %q", p, got)
		}
	}
}

func TestSecondsAsTheConsoleSaysThem(t *testing.T) {
	if s := seconds(2 * time.Second); s != "2s" {
		t.Errorf("%q", s)
	}
	if s := seconds(1500 * time.Millisecond); s != "1.5s" {
		t.Errorf("%q", s)
	}
}

func TestStopTimeoutFromCoracleConf(t *testing.T) {
	dir := t.TempDir()
	if got := stopTimeout(dir, 10*time.Second); got != 10*time.Second {
		t.Errorf("no coracle.conf: %s", got)
	}
	os.WriteFile(filepath.Join(dir, "coracle.conf"), []byte("restart=always\nstop_timeout=1.5\n"), 0o644)
	if got := stopTimeout(dir, 10*time.Second); got != 1500*time.Millisecond {
		t.Errorf("stop_timeout=1.5: %s", got)
	}
	os.WriteFile(filepath.Join(dir, "coracle.conf"), []byte("stop_timeout=0\n"), 0o644)
	if got := stopTimeout(dir, 10*time.Second); got != 0 {
		t.Errorf("stop_timeout=0: %s", got)
	}
}
