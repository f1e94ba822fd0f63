package main

// Running commands and scripts on the host: output to the console and
// /var/log/cloud-init-output.log, INSTANCE_ID in the environment, the
// interpreter taken from the #! line (so scripts on a noexec or vfat state
// disk still run).

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

var commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (a *Agent) commandEnv() []string {
	return []string{
		"PATH=" + commandPath,
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"TERM=linux",
		"INSTANCE_ID=" + a.instanceID,
	}
}

// interpreter reads a script's #! line: [interp, arg?].
func interpreter(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "#!") {
		return nil, fmt.Errorf("no #! line")
	}
	fields := strings.SplitN(strings.TrimSpace(line[2:]), " ", 2)
	if fields[0] == "" {
		return nil, fmt.Errorf("empty #! line")
	}
	if len(fields) == 2 && strings.TrimSpace(fields[1]) != "" {
		return []string{fields[0], strings.TrimSpace(fields[1])}, nil
	}
	return fields[:1], nil
}

// runScript runs a script file; false when it failed.
func (a *Agent) runScript(module, path string) bool {
	interp, err := interpreter(path)
	if err != nil {
		a.Log.Error(module, "%s: %v", path, err)
		return false
	}
	return a.run(module, append(interp, path))
}

// run runs argv from the host root and reports its exit status.
func (a *Agent) run(module string, argv []string) bool {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.Root
	cmd.Env = a.commandEnv()
	cmd.Stdin = nil
	out := a.Out
	_ = os.MkdirAll(filepath.Dir(a.outputLog), 0o755)
	if f, err := os.OpenFile(a.outputLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		defer f.Close()
		out = io.MultiWriter(a.Out, f)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			a.Log.Error(module, "%s exited %d", argv[len(argv)-1], ee.ExitCode())
		} else {
			a.Log.Error(module, "%s: %v", strings.Join(argv, " "), err)
		}
		return false
	}
	return true
}

// runCondition runs a power_state condition command; true when it exits 0.
func (a *Agent) runCondition(c Command) bool {
	argv := c.Argv
	if argv == nil {
		argv = []string{"/bin/sh", "-c", c.Shell}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.Root
	cmd.Env = a.commandEnv()
	cmd.Stdout = a.Out
	cmd.Stderr = a.Out
	return cmd.Run() == nil
}
