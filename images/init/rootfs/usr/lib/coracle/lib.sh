# Coracle guest init: shared functions for /etc/init.d/rcS and rcK.
# Sourced by busybox sh. Every step prints one `coracle: ...` line on the
# console; the boot tests read them.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

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
# so writes never reach the (possibly shared, hardlinked) image files.
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
			mount -t overlay -o "lowerdir=$b/rootfs,upperdir=$rw/upper,workdir=$rw/work" overlay "$b/rootfs" ||
			log "$2: writable overlay failed, writes go to the image rootfs"
	fi
}

# run_phase onboot|onshutdown: run each bundle in name order under runc,
# output to the console and /var/log/PHASE/NAME.log. A failure is logged and
# the next one runs.
run_phase() {
	phase=$1
	dir=/containers/$phase
	[ -d "$dir" ] || return 0
	mkdir -p "/var/log/$phase"
	for b in "$dir"/*; do
		[ -f "$b/config.json" ] || continue
		name=${b##*/}
		prepare_bundle "$b" "$name"
		log "$phase $name started"
		(
			set -o pipefail
			runc run --bundle "$b" "$name" </dev/null 2>&1 | tee "/var/log/$phase/$name.log"
		)
		rc=$?
		# runc run removes its container on exit; delete only what is left
		# (each runc call costs a Go start, seconds under emulation).
		[ -d "/run/runc/$name" ] && runc delete -f "$name" >/dev/null 2>&1
		log "$phase $name exited $rc"
	done
}

start_containerd() {
	cfg=/etc/containerd/config.toml
	[ -f "$cfg" ] || cfg=/etc/coracle/containerd.toml
	if ! command -v containerd >/dev/null 2>&1; then
		log "containerd missing, services not started"
		return 1
	fi
	mkdir -p /var/lib/containerd /run/containerd
	setsid containerd --config "$cfg" </dev/null >>/var/log/containerd.log 2>&1 &
	echo $! >/run/containerd/containerd.pid
	i=0
	# TCG boots are slow: allow a minute before giving up. containerd creates
	# its socket once every plugin is loaded and it serves: polling for the
	# file costs nothing, a ctr call would cost a Go start each time.
	while [ $i -lt 1200 ]; do
		if [ -S "$CONTAINERD_SOCK" ]; then
			log "containerd started"
			return 0
		fi
		if ! kill -0 "$(cat /run/containerd/containerd.pid)" 2>/dev/null; then break; fi
		sleep 0.05
		i=$((i + 1))
	done
	log "containerd failed to start (see /var/log/containerd.log)"
	tail -n 20 /var/log/containerd.log
	return 1
}

ctr_ns() {
	ctr --address "$CONTAINERD_SOCK" -n "$SERVICES_NS" "$@"
}

# task_pid NAME: the service's task pid, empty if none. The runc shim
# writes it into the task's state folder; ctr is the fallback.
task_pid() {
	f=/run/containerd/io.containerd.runtime.v2.task/$SERVICES_NS/$1/init.pid
	if [ -s "$f" ]; then
		cat "$f"
	else
		ctr_ns task ls 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
	fi
}

start_services() {
	dir=/containers/services
	[ -d "$dir" ] || return 0
	for b in "$dir"/*; do
		[ -f "$b/config.json" ] || continue
		name=${b##*/}
		prepare_bundle "$b" "$name"
		if out=$(ctr_ns run --config "$b/config.json" --log-uri "file:///var/log/$name.log" -d "$name" 2>&1); then
			pid=$(task_pid "$name")
			if [ -n "$pid" ] && [ -s "$b/runtime.json" ] && command -v coracle-runtime >/dev/null 2>&1; then
				coracle-runtime bindns "$b" "$pid" || log "service $name: bindNS failed"
			fi
			log "service $name started (pid $pid)"
		else
			log "service $name failed to start: $out"
		fi
	done
}

uptime_s() {
	cut -d. -f1 /proc/uptime
}

# running_tasks: names of the service tasks still running.
running_tasks() {
	ctr_ns task ls 2>/dev/null | awk '$3 == "RUNNING" { print $1 }'
}

stop_services() {
	[ -S "$CONTAINERD_SOCK" ] || return 0
	names=$(ctr_ns task ls -q 2>/dev/null)
	[ -n "$names" ] || return 0
	for n in $(running_tasks); do
		ctr_ns task kill -s SIGTERM "$n" >/dev/null 2>&1
	done
	deadline=$(($(uptime_s) + STOP_TIMEOUT))
	left=$(running_tasks)
	while [ -n "$left" ] && [ "$(uptime_s)" -lt "$deadline" ]; do
		sleep 0.2
		left=$(running_tasks)
	done
	for n in $names; do
		case " $(echo $left) " in
		*" $n "*)
			ctr_ns task kill -a -s SIGKILL "$n" >/dev/null 2>&1
			log "service $n killed after ${STOP_TIMEOUT}s"
			;;
		*) log "service $n stopped" ;;
		esac
	done
	for n in $names; do
		ctr_ns task delete -f "$n" >/dev/null 2>&1
		ctr_ns container delete "$n" >/dev/null 2>&1
	done
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
