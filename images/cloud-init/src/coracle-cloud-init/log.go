package main

// One-line progress on the console (`cloud-init: <module>: ...`) and the
// same lines, time-stamped, in /var/log/cloud-init.log. Lines logged before
// the log file can be opened are kept and written once it is.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

type Logger struct {
	console io.Writer
	file    *os.File
	pending []string
	now     func() time.Time
	Errors  int
}

func NewLogger(console io.Writer) *Logger {
	return &Logger{console: console, now: time.Now}
}

// Open starts writing to path (appending), after what was logged so far.
func (l *Logger) Open(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.file = f
	for _, p := range l.pending {
		fmt.Fprintln(f, p)
	}
	l.pending = nil
	return nil
}

func (l *Logger) Close() {
	if l.file != nil {
		l.file.Close()
	}
}

func (l *Logger) line(level, module, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	text := "cloud-init: " + msg
	if module != "" {
		text = "cloud-init: " + module + ": " + msg
	}
	fmt.Fprintln(l.console, text)
	stamped := l.now().UTC().Format("2006-01-02 15:04:05") + " " + level + " " + text
	if l.file != nil {
		fmt.Fprintln(l.file, stamped)
	} else {
		l.pending = append(l.pending, stamped)
	}
}

func (l *Logger) Info(module, format string, args ...any) { l.line("INFO", module, format, args...) }
func (l *Logger) Warn(module, format string, args ...any) { l.line("WARNING", module, format, args...) }
func (l *Logger) Error(module, format string, args ...any) {
	l.Errors++
	l.line("ERROR", module, format, args...)
}
