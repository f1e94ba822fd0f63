// containerd for a Coracle host: Debian's containerd sources with only the
// plugins a host that runs a few known containers uses. Upstream's
// cmd/containerd/builtins*.go (not in Debian's -dev package) link every
// plugin; this list is what stays:
//
//   - containers, tasks, events, namespaces, introspection, version and
//     healthcheck, and leases (the client takes one around every new
//     container) over gRPC: what coracle-runtime and ctr call;
//   - the runc v2 task runtime and its options (BinaryName picks crun or
//     runc per container); the v1 runtime only because the tasks service of
//     1.6 refuses to start without one;
//   - overlayfs, the one snapshotter (the metadata store refuses to open
//     without a snapshotter; services run from their bundle's rootfs);
//   - the garbage collector of the metadata store.
//
// Left out: CRI, images, content, diff, snapshots services, the other
// snapshotters, cgroup metrics, tracing, the restart monitor (services are
// not restarted, as under ctr run -d) and the stream processors.
package main

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/cmd/containerd/command"

	_ "github.com/containerd/containerd/events/plugin"
	_ "github.com/containerd/containerd/gc/scheduler"
	_ "github.com/containerd/containerd/runtime/v1/linux"
	_ "github.com/containerd/containerd/runtime/v2"
	_ "github.com/containerd/containerd/runtime/v2/runc/options"
	_ "github.com/containerd/containerd/services/containers"
	_ "github.com/containerd/containerd/services/events"
	_ "github.com/containerd/containerd/services/healthcheck"
	_ "github.com/containerd/containerd/services/introspection"
	_ "github.com/containerd/containerd/services/leases"
	_ "github.com/containerd/containerd/services/namespaces"
	_ "github.com/containerd/containerd/services/tasks"
	_ "github.com/containerd/containerd/services/version"
	_ "github.com/containerd/containerd/snapshots/overlay/plugin"
)

func main() {
	if err := command.App().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "containerd: %s\n", err)
		os.Exit(1)
	}
}
