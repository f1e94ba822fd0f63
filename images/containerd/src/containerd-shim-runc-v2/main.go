// The runc v2 shim (io.containerd.runc.v2), built from Debian's containerd
// sources: upstream's cmd/containerd-shim-runc-v2 is not in the -dev package.
// The OCI runtime it calls is the task's BinaryName option (crun or runc).
package main

import (
	"context"

	"github.com/containerd/containerd/runtime/v2/runc/manager"
	_ "github.com/containerd/containerd/runtime/v2/runc/task/plugin"
	"github.com/containerd/containerd/runtime/v2/shim"
)

func main() {
	shim.RunManager(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
}
