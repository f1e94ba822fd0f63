// coracle-cloud-init provisions a Coracle host from NoCloud data: it runs
// as an onboot container with the host root bound at /host, chroots into
// it, finds the seed (kernel command line, SMBIOS serial, seed folder, or
// a cidata/CIDATA volume), and applies user-data in cloud-init's order.
// Bad user-data never stops the boot: errors are logged and it exits 0.
//
//	coracle-cloud-init [-host /host] [-no-chroot]
package main

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

func main() {
	host := flag.String("host", "/host", "the host root, bound into the container (chrooted into)")
	noChroot := flag.Bool("no-chroot", false, "treat / as the host root (for running on the host itself)")
	flag.Parse()

	log := NewLogger(os.Stdout)
	if !*noChroot {
		if err := syscall.Chroot(*host); err != nil {
			log.Error("", "cannot enter the host root %s: %v; nothing done", *host, err)
			os.Exit(1)
		}
		if err := os.Chdir("/"); err != nil {
			log.Error("", "chdir /: %v", err)
			os.Exit(1)
		}
	}
	if err := log.Open("/var/log/cloud-init.log"); err != nil {
		log.Warn("", "cannot write /var/log/cloud-init.log: %v", err)
	}
	defer log.Close()
	start := time.Now()
	log.Info("", "%s starting", version)

	seed := (&Finder{Root: "/", Log: log, Mount: mountSeed}).Find()
	if seed == nil {
		log.Info("", "no NoCloud datasource (no cidata volume, no ds=nocloud on the kernel command line or SMBIOS serial): nothing to do")
		return
	}
	a := &Agent{
		Root:        "/",
		Log:         log,
		Out:         os.Stdout,
		SetHostname: func(n string) error { return syscall.Sethostname([]byte(n)) },
		PowerState:  powerOff,
		Uptime:      uptime,
	}
	errs := a.Run(seed)
	if errs > 0 {
		log.Info("", "finished in %.1f s with %d error(s) (see /var/log/cloud-init.log)", time.Since(start).Seconds(), errs)
	} else {
		log.Info("", "finished in %.1f s", time.Since(start).Seconds())
	}
}

func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b) + " ?")[0]
}

// powerOff asks the host's init to go down cleanly: the host's own
// poweroff/reboot/halt (busybox signals PID 1), else the signal directly.
func powerOff(mode string) error {
	cmd := exec.Command("/bin/" + mode)
	if _, err := os.Stat("/sbin/" + mode); err == nil {
		cmd = exec.Command("/sbin/" + mode)
	}
	cmd.Env = []string{"PATH=" + commandPath}
	if err := cmd.Run(); err == nil {
		return nil
	}
	sig := map[string]syscall.Signal{"poweroff": syscall.SIGUSR2, "reboot": syscall.SIGTERM, "halt": syscall.SIGUSR1}[mode]
	return syscall.Kill(1, sig)
}

// mountSeed mounts a seed volume read-only at /run/cloud-init/seed,
// loading the filesystem's module if the kernel does not know it yet.
func mountSeed(dev, fstype string) (string, func() error, error) {
	mnt := "/run/cloud-init/seed"
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return "", nil, err
	}
	flags := uintptr(syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
	err := syscall.Mount(dev, mnt, fstype, flags, "")
	if err == syscall.ENODEV {
		mod := map[string]string{"iso9660": "isofs", "vfat": "vfat"}[fstype]
		_ = exec.Command("modprobe", mod).Run()
		err = syscall.Mount(dev, mnt, fstype, flags, "")
	}
	if err != nil {
		return "", nil, err
	}
	return mnt, func() error { return syscall.Unmount(mnt, 0) }, nil
}
