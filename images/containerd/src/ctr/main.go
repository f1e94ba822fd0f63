// ctr, containerd's debugging client, built from Debian's containerd sources
// (upstream's cmd/ctr/main.go is not in the -dev package). The guest's init
// does not use it; it is there for people and tests at the console.
package main

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/cmd/ctr/app"
)

func main() {
	if err := app.New().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ctr: %s\n", err)
		os.Exit(1)
	}
}
