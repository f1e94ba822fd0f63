package main

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/cmd/ctr/app"
)

// runCtr is containerd's debugging client, ctr, for people and tests at the
// console: the init image links /usr/bin/ctr to this binary, so the initrd
// carries containerd's Go client once (a separate ctr was 16.6 MiB).
func runCtr() int {
	if err := app.New().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ctr: %s\n", err)
		return 1
	}
	return 0
}
