package main

// logs-agent: the control channel's `logs` request (`coracle logs` on the
// host), run by the busybox agent with the virtio-serial port as stdin and
// stdout. It asks logd for a container's lines and answers in the channel's
// line protocol (src/testing/control.ts):
//
//	host  -> guest   logs ID NAME TAIL FOLLOW
//	guest -> host    line ID BASE64(LINE)        (one per line)
//	host  -> guest   stop ID                     (ends a follow)
//	guest -> host    end ID STATUS BASE64(MESSAGE)
//
// While following it reads the port for `stop ID`; the port reading
// end-of-file (the host end went away) ends it too, so a follow never
// outlives its reader and its lines never reach the next one.

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func logsAgent(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: coracle-runtime logs-agent ID NAME TAIL 0|1")
		return 2
	}
	id, name := args[0], args[1]
	out := bufio.NewWriter(os.Stdout)
	end := func(status int, msg string) int {
		fmt.Fprintf(out, "end %s %d %s\n", id, status, base64.StdEncoding.EncodeToString([]byte(msg)))
		out.Flush()
		return status
	}
	tail, err := strconv.Atoi(args[2])
	if err != nil || tail < 0 {
		return end(2, "TAIL must be a number")
	}
	follow := args[3] == "1"
	c, r, _, err := logdRequest(fmt.Sprintf("tail %s %d 0 %s", name, tail, args[3]))
	if err != nil {
		return end(1, err.Error())
	}
	defer c.Close()
	lines := make(chan string, 256)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimRight(l, "\n")
		}
	}()
	stop := make(chan struct{})
	if follow {
		go func() {
			// one byte at a time: what follows `stop ID` is the busybox
			// agent's next request, not ours to consume
			var b [1]byte
			var line []byte
			for {
				n, err := os.Stdin.Read(b[:])
				if n == 0 || err != nil {
					close(stop)
					return
				}
				if b[0] != '\n' {
					line = append(line, b[0])
					continue
				}
				if f := strings.Fields(string(line)); len(f) == 2 && f[0] == "stop" && f[1] == id {
					close(stop)
					return
				}
				line = line[:0]
			}
		}()
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return end(0, "")
			}
			fmt.Fprintf(out, "line %s %s\n", id, base64.StdEncoding.EncodeToString([]byte(l)))
			if len(lines) == 0 {
				if err := out.Flush(); err != nil {
					return 1
				}
			}
		case <-stop:
			return end(0, "")
		}
	}
}

// logsCommand: `coracle-runtime logs [-f] [-n N] NAME` in a guest shell.
func logsCommand(args []string) int {
	tail, follow := 0, "0"
	for len(args) > 1 {
		switch {
		case args[0] == "-f":
			follow, args = "1", args[1:]
		case args[0] == "-n" && len(args) > 2:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				fmt.Fprintln(os.Stderr, "coracle-runtime logs: -n takes a number")
				return 2
			}
			tail, args = n, args[2:]
		default:
			fmt.Fprintln(os.Stderr, "usage: coracle-runtime logs [-f] [-n N] NAME")
			return 2
		}
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: coracle-runtime logs [-f] [-n N] NAME")
		return 2
	}
	c, r, _, err := logdRequest(fmt.Sprintf("tail %s %d 0 %s", args[0], tail, follow))
	if err != nil {
		fmt.Fprintf(os.Stderr, "coracle-runtime logs: %v\n", err)
		return 1
	}
	defer c.Close()
	r.WriteTo(os.Stdout)
	return 0
}
