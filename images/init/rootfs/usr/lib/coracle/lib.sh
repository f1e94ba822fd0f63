# Coracle guest init: shared functions for /etc/init.d/rcS and rcK.
# Sourced by busybox sh. Every step prints one `coracle: ...` line on the
# console; the boot tests read them.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Where `coracle build` puts the container bundles (a variable for the
# unit tests, which run these functions on the host).
CONTAINERS=${CONTAINERS:-/containers}

# containerd namespace the services run in (one per system).
SERVICES_NS=services.coracle
CONTAINERD_SOCK=/run/containerd/containerd.sock
# Seconds a service gets between SIGTERM and SIGKILL at shutdown.
STOP_TIMEOUT=${STOP_TIMEOUT:-10}

log() {
	echo "coracle: $*"
	echo "$(date +%T) $*" >>/var/log/coracle.log 2>/dev/null
}

# mount_fs TYPE SOURCE DIR OPTIONS: mount unless already mounted there.
mount_fs() {
	mkdir -p "$3"
	if grep -q " $3 $1 " /proc/mounts 2>/dev/null; then return 0; fi
	mount -t "$1" -o "$4" "$2" "$3" || log "mount $3 ($1) failed"
}

mount_base() {
	mount_fs proc proc /proc nosuid,nodev,noexec
	mount_fs sysfs sysfs /sys nosuid,nodev,noexec
	mount_fs devtmpfs devtmpfs /dev mode=0755,nosuid
	mount_fs devpts devpts /dev/pts newinstance,gid=5,mode=0620,ptmxmode=0666,nosuid,noexec
	[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
	mount_fs tmpfs shm /dev/shm mode=1777,nosuid,nodev,noexec
	mount_fs mqueue mqueue /dev/mqueue nosuid,nodev,noexec
	mount_fs tmpfs run /run mode=0755,nosuid,nodev
	mount_fs tmpfs tmp /tmp mode=1777,nosuid,nodev
	mount_fs cgroup2 cgroup2 /sys/fs/cgroup nsdelegate,nosuid,nodev,noexec
	# Hand every controller down so each container gets its own.
	if [ -r /sys/fs/cgroup/cgroup.controllers ]; then
		for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
			echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
		done
	fi
	[ -d /sys/kernel/security ] && mount_fs securityfs securityfs /sys/kernel/security nosuid,nodev,noexec 2>/dev/null
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
	[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
	[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
	[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
	mkdir -p /var/log/onboot /var/log/onshutdown /var/lib /run/coracle
	[ -e /var/run ] || ln -s /run /var/run
	# Containers may ask for shared propagation of their mounts.
	mount --make-rshared / 2>/dev/null
	log "filesystems mounted"
}

# The boot set (QEMU's virtual hardware, the seed ISO and disks, overlay,
# the power button) is listed in boot-modules, which `coracle build` also
# reads to put just those modules into the initrd. Missing or built-in ones
# are skipped silently. /etc/modules adds more (one name per line).
BOOT_MODULES=$(sed -e 's/#.*//' /usr/lib/coracle/boot-modules 2>/dev/null)

load_modules() {
	kver=$(uname -r)
	if [ ! -d "/lib/modules/$kver" ]; then
		log "modules: none for kernel $kver"
		return 0
	fi
	[ -s "/lib/modules/$kver/modules.dep" ] || depmod -a "$kver" 2>/dev/null
	extra=
	[ -r /etc/modules ] && extra=$(sed -e 's/#.*//' /etc/modules)
	# One modprobe for all: each run parses the whole modules.dep.
	modprobe -a -q $BOOT_MODULES $extra 2>/dev/null
	loaded=
	for m in $BOOT_MODULES $extra; do
		[ -d "/sys/module/${m//-/_}" ] && loaded="$loaded $m"
	done
	log "modules loaded:$loaded"
}

set_hostname() {
	if [ -s /etc/hostname ]; then
		hostname -F /etc/hostname
	fi
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
	log "hostname $(hostname), lo up"
}

start_acpid() {
	# busybox acpid runs /etc/acpi/PWRF/00000080 on the power button.
	if ls /dev/input/event* >/dev/null 2>&1; then
		acpid -c /etc/acpi -l /var/log/acpid.log && log "acpid started"
	else
		log "acpid: no input device, power button not handled"
	fi
}

# is_writable BUNDLE: the spec's root is not marked readonly.
is_writable() {
	! grep -Eq '"readonly"[[:space:]]*:[[:space:]]*true' "$1/config.json"
}

# prepare_bundle BUNDLE NAME: runtime.json (mkdir, mounts, cgroups) and, for
# a writable root, an overlay with a tmpfs upper layer over the image rootfs
# so writes never reach the image files, which other containers share as
# hardlinks. Fails (the container must not start) when that overlay fails.
prepare_bundle() {
	b=$1
	if [ -s "$b/runtime.json" ]; then
		if command -v coracle-runtime >/dev/null 2>&1; then
			coracle-runtime prepare "$b" || log "$2: runtime.json not fully applied"
		else
			log "$2: runtime.json ignored (coracle-runtime missing)"
		fi
	fi
	if is_writable "$b" && ! grep -q " $b/rootfs overlay " /proc/mounts; then
		rw=/run/coracle/rw/$2
		mkdir -p "$rw"
		mount -t tmpfs -o mode=0755 tmpfs "$rw" &&
			mkdir -p "$rw/upper" "$rw/work" &&
			mount -t overlay -o "lowerdir=$b/rootfs,upperdir=$rw/upper,workdir=$rw/work" overlay "$b/rootfs" || {
			log "$2: writable overlay failed, not started (its writes would reach files other containers share)"
			return 1
		}
	fi
}

# Written by `coracle build` (sh syntax): RUNTIME=crun|runc and
# CONTAINERD_EARLY=1 when no onboot container mounts or binds anything under
# containerd's root or state (so containerd may start while onboot runs).
BOOT_CONF=/etc/coracle/boot.conf

# load_boot_conf: RUNTIME (the OCI runtime's name) and CONTAINERD_EARLY.
# Without a boot.conf (a hand-made initrd): crun if present, else runc, and
# containerd after onboot.
load_boot_conf() {
	RUNTIME=
	CONTAINERD_EARLY=0
	[ -r "$BOOT_CONF" ] && . "$BOOT_CONF"
	if [ -z "$RUNTIME" ]; then
		RUNTIME=runc
		command -v crun >/dev/null 2>&1 && RUNTIME=crun
	elif ! command -v "$RUNTIME" >/dev/null 2>&1; then
		for r in crun runc; do
			if command -v $r >/dev/null 2>&1; then
				log "runtime $RUNTIME missing, using $r"
				RUNTIME=$r
				break
			fi
		done
	fi
	export RUNTIME
}

# bundle_conf BUNDLE KEY: KEY's value in BUNDLE/coracle.conf (written by
# `coracle build` for the spec's restart: and timeout: keys), else empty.
bundle_conf() {
	[ -r "$1/coracle.conf" ] && sed -n "s/^$2=//p" "$1/coracle.conf"
}

# An onshutdown container without a timeout: is killed after this many
# seconds, so no container can hold the poweroff.
ONSHUTDOWN_TIMEOUT=30

# Set by the power button while the boot runs (see /etc/acpi/PWRF): rcS
# starts nothing more and ends, so busybox init can run the shutdown.
STOP_BOOT=/run/coracle/stop-boot
# "RUNTIME NAME" of the onboot container running now, for the power button.
ONBOOT_RUNNING=/run/coracle/onboot.running

# logd (coracle-runtime logd): every container's output into a ring buffer
# and rotated /var/log files, read by `coracle logs` through the agent.
LOGD_SOCK=/run/coracle/logd.sock

start_logd() {
	command -v coracle-runtime >/dev/null 2>&1 || return 0
	setsid coracle-runtime logd </dev/null 2>>/var/log/coracle-logd.log &
	LOGD_PID=$!
}

# wait_logd: until logd serves (it made every container's FIFO first), at
# most 10 s; without it, containers write straight to /var/log.
wait_logd() {
	[ -n "$LOGD_PID" ] || return 0
	i=0
	while [ ! -S "$LOGD_SOCK" ] && [ $i -lt 200 ] && kill -0 "$LOGD_PID" 2>/dev/null; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$LOGD_SOCK" ] || log "logs: logd not running, container output goes straight to /var/log"
}

# logd_up: logd runs (a FIFO it does not read would block its writer).
logd_up() {
	[ -S "$LOGD_SOCK" ] && [ -r /run/coracle/logd.pid ] && kill -0 "$(cat /run/coracle/logd.pid)" 2>/dev/null
}

# ceil_seconds 1.5 -> 2
ceil_seconds() {
	case $1 in
	*.*[1-9]*) echo $((${1%%.*} + 1)) ;;
	*.*) echo "${1%%.*}" ;;
	*) echo "$1" ;;
	esac
}

# shutdown_bound: seconds the whole shutdown may take: every onshutdown
# container's timeout, the longest service stop timeout, and 60 s for the
# supervisor, the containers' start and deletion, containerd and the rest
# (seconds each under emulation).
shutdown_bound() {
	total=60
	for b in "$CONTAINERS"/onshutdown/*; do
		[ -f "$b/config.json" ] || continue
		t=$(bundle_conf "$b" timeout)
		total=$((total + $(ceil_seconds "${t:-$ONSHUTDOWN_TIMEOUT}")))
	done
	longest=$STOP_TIMEOUT
	for b in "$CONTAINERS"/services/*; do
		t=$(bundle_conf "$b" stop_timeout)
		[ -n "$t" ] || continue
		t=$(ceil_seconds "$t")
		[ "$t" -gt "$longest" ] && longest=$t
	done
	echo $((total + longest))
}

# shutdown_watchdog: power off regardless once the bound has passed (a hung
# containerd or a stuck kill must not keep the machine up).
shutdown_watchdog() {
	bound=$(shutdown_bound)
	(
		sleep "$bound"
		log "shutdown not complete after ${bound}s: powering off now"
		sync
		poweroff -f
	) &
}

# run_phase onboot|onshutdown: run each bundle in name order under the OCI
# runtime, output to the console and (through logd) /var/log/PHASE/NAME.log.
# A failure is logged and the next one runs; one still running after its
# coracle.conf timeout (seconds; onshutdown: 30 without one) is killed. The
# power button during onboot kills the one running and ends the phase.
run_phase() {
	phase=$1
	dir=$CONTAINERS/$phase
	[ -d "$dir" ] || return 0
	mkdir -p "/var/log/$phase"
	for b in "$dir"/*; do
		[ -f "$b/config.json" ] || continue
		name=${b##*/}
		prepare_bundle "$b" "$name" || continue
		out=/var/log/$phase/$name.log
		logd_up && [ -p "/run/coracle/log/$phase/$name.fifo" ] && out=/run/coracle/log/$phase/$name.fifo
		if [ "$phase" = onboot ]; then
			# Named first, checked second; the button handler writes its
			# flag first and reads the name second: either this sees the
			# flag, or the handler sees the name and kills the container.
			echo "$RUNTIME $name" >"$ONBOOT_RUNNING"
			if [ -e "$STOP_BOOT" ]; then
				rm -f "$ONBOOT_RUNNING"
				log "onboot $name not started (power button)"
				continue
			fi
		fi
		log "$phase $name started"
		timeout=$(bundle_conf "$b" timeout)
		[ "$phase" = onshutdown ] && timeout=${timeout:-$ONSHUTDOWN_TIMEOUT}
		watchdog=
		if [ -n "$timeout" ]; then
			# killed (with everything it started) when still running after
			# `timeout:`; the boot goes on as after a failure
			rm -f /run/coracle/timed-out
			(
				sleep "$timeout"
				: >/run/coracle/timed-out
				$RUNTIME kill --all "$name" KILL >/dev/null 2>&1 || $RUNTIME kill "$name" KILL >/dev/null 2>&1
			) &
			watchdog=$!
		fi
		(
			set -o pipefail
			$RUNTIME run --bundle "$b" "$name" </dev/null 2>&1 | tee "$out"
		)
		rc=$?
		rm -f "$ONBOOT_RUNNING"
		if [ -n "$watchdog" ]; then
			kill "$watchdog" 2>/dev/null
			wait "$watchdog" 2>/dev/null
			[ -e /run/coracle/timed-out ] && log "$phase $name killed after ${timeout}s (timeout)"
			rm -f /run/coracle/timed-out
		fi
		# `run` removes its container on exit; delete only what is left (a
		# runc call costs a Go start, seconds under emulation).
		[ -d "/run/$RUNTIME/$name" ] && $RUNTIME delete -f "$name" >/dev/null 2>&1
		log "$phase $name exited $rc"
		if [ "$phase" = onboot ] && [ -e "$STOP_BOOT" ]; then
			log "onboot $name stopped by the power button"
		fi
	done
}

# launch_containerd: start containerd in the background (its socket is
# awaited by coracle-runtime before the first service starts).
launch_containerd() {
	[ -f /run/containerd/containerd.pid ] && return 0
	cfg=/etc/containerd/config.toml
	[ -f "$cfg" ] || cfg=/etc/coracle/containerd.toml
	command -v containerd >/dev/null 2>&1 || return 0
	mkdir -p /var/lib/containerd /run/containerd
	setsid containerd --config "$cfg" </dev/null >>/var/log/containerd.log 2>&1 &
	echo $! >/run/containerd/containerd.pid
}

# start_services: containerd (if not yet launched), then every service at
# once through containerd's API (coracle-runtime waits for the socket, prints
# "containerd started" and one line per service).
start_services() {
	if ! command -v containerd >/dev/null 2>&1; then
		log "containerd missing, services not started"
		return 1
	fi
	if ! command -v coracle-runtime >/dev/null 2>&1; then
		log "coracle-runtime missing, services not started"
		return 1
	fi
	launch_containerd
	coracle-runtime services start
	case $? in
	0)
		# restarts services that exit, by their restart policy, until
		# `services stop` stops it
		setsid coracle-runtime services supervise </dev/null &
		return 0
		;;
	3)
		# containerd died or did not serve within a minute
		tail -n 20 /var/log/containerd.log
		return 1
		;;
	*) return 0 ;;
	esac
}

# stop_services: SIGTERM to every service task, SIGKILL after STOP_TIMEOUT
# seconds, tasks and containers deleted (coracle-runtime, one process).
stop_services() {
	[ -S "$CONTAINERD_SOCK" ] || return 0
	STOP_TIMEOUT=$STOP_TIMEOUT coracle-runtime services stop
}

stop_containerd() {
	[ -f /run/containerd/containerd.pid ] || return 0
	pid=$(cat /run/containerd/containerd.pid)
	kill -TERM "$pid" 2>/dev/null || return 0
	i=0
	# (a zombie counts as gone: init reaps it only after this script)
	while kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	log "containerd stopped"
}
