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
	"path/filepath"
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

	seed := findSeed(log)
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

// findSeed looks for the datasource in cloud-init's NoCloud order.
func findSeed(log *Logger) *Seed {
	var ds DSConfig
	found := false
	where := ""
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		if ds, found = DSFromCmdline(string(b)); found {
			where = "kernel command line"
		}
	}
	if !found {
		if b, err := os.ReadFile("/sys/class/dmi/id/product_serial"); err == nil {
			if ds, found = ParseDS(trimNUL(b)); found {
				where = "SMBIOS serial"
			}
		}
	}
	overrides := map[string]string{}
	if found {
		for k, v := range ds.MetaData {
			overrides[k] = v
		}
		log.Info("datasource", "%s on the %s", ds.Name, where)
		if ds.SeedFrom != "" {
			dir, err := SeedPath(ds.SeedFrom)
			if err != nil {
				log.Error("datasource", "%v", err)
			} else if s, err := readSeedDir(dir); err != nil {
				log.Error("datasource", "seed %s: %v", dir, err)
			} else {
				s.Source = dir
				s.Overrides = overrides
				return s
			}
		}
	}
	for _, dir := range []string{"/var/lib/cloud/seed/nocloud", "/var/lib/cloud/seed/nocloud-net"} {
		if s, err := readSeedDir(dir); err == nil {
			s.Source = dir
			s.Overrides = overrides
			log.Info("datasource", "seed folder %s", dir)
			return s
		}
	}
	if s := seedFromVolume(log); s != nil {
		s.Overrides = overrides
		return s
	}
	if found {
		// ds=nocloud with h= and i= only: meta-data from the command line.
		return &Seed{Source: where, Overrides: overrides}
	}
	return nil
}

// seedFromVolume mounts the first cidata volume read-only, reads it and
// unmounts it. /dev/disk/by-label is used when present (udev), else the
// superblocks of /sys/class/block devices are read.
func seedFromVolume(log *Logger) *Seed {
	var devs []BlockDevice
	for _, l := range []string{"cidata", "CIDATA"} {
		if p, err := filepath.EvalSymlinks("/dev/disk/by-label/" + l); err == nil {
			if head, err := readHead(p, 64<<10); err == nil {
				if t, lab := ProbeLabel(head); t != "" {
					devs = append(devs, BlockDevice{Name: filepath.Base(p), FSType: t, Label: lab})
				}
			}
		}
	}
	if len(devs) == 0 {
		devs = FindLabelled("/sys", "/dev", isCidata)
	}
	if len(devs) == 0 {
		return nil
	}
	d := devs[0]
	mnt := "/run/cloud-init/seed"
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		log.Error("datasource", "%v", err)
		return nil
	}
	dev := "/dev/" + d.Name
	err := syscall.Mount(dev, mnt, d.FSType, syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
	if err == syscall.ENODEV {
		// the filesystem's module is not loaded yet
		mod := map[string]string{"iso9660": "isofs", "vfat": "vfat"}[d.FSType]
		_ = exec.Command("modprobe", mod).Run()
		err = syscall.Mount(dev, mnt, d.FSType, syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
	}
	if err != nil {
		log.Error("datasource", "cannot mount %s (%s, label %s): %v", dev, d.FSType, d.Label, err)
		return nil
	}
	defer func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			log.Warn("datasource", "umount %s: %v", mnt, err)
		}
	}()
	s, err := readSeedDir(mnt)
	if err != nil {
		log.Error("datasource", "%s (label %s): %v", dev, d.Label, err)
		return nil
	}
	s.Source = dev
	log.Info("datasource", "%s volume %s (label %s)", d.FSType, dev, d.Label)
	return s
}
