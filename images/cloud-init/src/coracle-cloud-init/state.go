package main

// Markers under /var/lib/cloud, laid out as cloud-init lays them out:
//
//	data/instance-id, data/previous-instance-id
//	instances/IID/sem/config_MODULE   per-instance modules that ran
//	instances/IID/scripts/            user-data scripts and runcmd
//	instances/IID/user-data.txt       the raw user-data
//	sem/config_scripts_per_once.once  per-once scripts ran (ever)
//	scripts/per-boot|per-instance|per-once/
//
// They last only as long as /var/lib/cloud does: on Coracle's in-memory
// root every boot is a first boot unless a data disk is mounted there.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

type State struct {
	Dir        string
	InstanceID string
}

func (s *State) instDir() string     { return filepath.Join(s.Dir, "instances", s.InstanceID) }
func (s *State) sem(m string) string { return filepath.Join(s.instDir(), "sem", "config_"+m) }

// Done says whether a per-instance module already ran for this instance.
func (s *State) Done(module string) bool {
	_, err := os.Stat(s.sem(module))
	return err == nil
}

// Mark records that a per-instance module ran.
func (s *State) Mark(module string) error {
	if err := os.MkdirAll(filepath.Dir(s.sem(module)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(s.sem(module), []byte("ran\n"), 0o644)
}

func (s *State) onceMarker() string {
	return filepath.Join(s.Dir, "sem", "config_scripts_per_once.once")
}

// Begin records the current instance-id and says whether it changed.
func (s *State) Begin() (previous string, err error) {
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	if b, err := os.ReadFile(filepath.Join(data, "instance-id")); err == nil {
		previous = strings.TrimSpace(string(b))
	}
	if previous != "" {
		if err := os.WriteFile(filepath.Join(data, "previous-instance-id"), []byte(previous+"\n"), 0o644); err != nil {
			return previous, err
		}
	}
	if err := os.MkdirAll(filepath.Join(s.instDir(), "sem"), 0o755); err != nil {
		return previous, err
	}
	return previous, os.WriteFile(filepath.Join(data, "instance-id"), []byte(s.InstanceID+"\n"), 0o644)
}

// inMemory says whether path lives on tmpfs or ramfs (lost at power-off).
func inMemory(path string) bool {
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil {
			return st.Type == 0x01021994 || st.Type == 0x858458f6
		}
		if p == "/" || p == "." {
			return false
		}
	}
}
