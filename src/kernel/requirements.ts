/**
 * What a Coracle container host asks of its kernel config, in groups. The
 * reference lists are moby's contrib/check-config.sh ("Generally Necessary"
 * and "Optional Features") and LinuxKit's kernel-config test (its hardening
 * options, without the debugging ones), narrowed to cgroup v2 and 6.x
 * kernels, plus what Coracle's own init mounts and loads.
 */

export type Level = 'required' | 'recommended';

export interface ConfigRequirement {
  option: string;
  /** `off`: the option must be unset or `n` (hardening). Default: enabled (y or m). */
  want?: 'off';
}

export interface RequirementGroup {
  level: Level;
  title: string;
  /** Why the group matters, one line. */
  why: string;
  options: ConfigRequirement[];
}

const on = (...names: string[]): ConfigRequirement[] => names.map((option) => ({ option }));
const off = (...names: string[]): ConfigRequirement[] => names.map((option) => ({ option, want: 'off' as const }));

export const REQUIREMENTS: readonly RequirementGroup[] = [
  {
    level: 'required',
    title: 'namespaces',
    why: 'runc puts every container in its own mount, pid, ipc, uts and network namespace',
    options: on('NAMESPACES', 'UTS_NS', 'IPC_NS', 'PID_NS', 'NET_NS'),
  },
  {
    level: 'required',
    title: 'cgroup v2',
    why: 'the init mounts cgroup2 and hands the cpu, cpuset, io, memory and pids controllers down; runc filters devices with BPF',
    options: on('CGROUPS', 'CGROUP_SCHED', 'CPUSETS', 'BLK_CGROUP', 'MEMCG', 'CGROUP_PIDS', 'CGROUP_BPF', 'BPF_SYSCALL'),
  },
  {
    level: 'required',
    title: 'init file systems',
    why: 'the kernel unpacks the initrd (lz4 by default, `build --compression zstd` otherwise) and the init mounts proc, sysfs, devtmpfs, devpts, tmpfs, mqueue; writable containers get an overlay',
    options: on('BLK_DEV_INITRD', 'RD_LZ4', 'PROC_FS', 'SYSFS', 'DEVTMPFS', 'TMPFS', 'UNIX98_PTYS', 'POSIX_MQUEUE', 'OVERLAY_FS'),
  },
  {
    level: 'required',
    title: 'runtime primitives',
    why: 'busybox, runc and containerd: ELF and #! executables, users, futexes, epoll, eventfd, inotify, unix sockets, keyrings',
    options: on('BINFMT_ELF', 'BINFMT_SCRIPT', 'MULTIUSER', 'FUTEX', 'EPOLL', 'EVENTFD', 'INOTIFY_USER', 'NET', 'UNIX', 'INET', 'KEYS'),
  },
  {
    level: 'required',
    title: 'container networking',
    why: "moby's generally necessary set: veth pairs on a bridge, iptables filter/NAT/masquerade for IPv4 and IPv6",
    options: on(
      'VETH', 'BRIDGE', 'BRIDGE_NETFILTER', 'NF_NAT',
      'IP_NF_FILTER', 'IP_NF_MANGLE', 'IP_NF_RAW', 'IP_NF_NAT', 'IP_NF_TARGET_MASQUERADE',
      'IP6_NF_FILTER', 'IP6_NF_MANGLE', 'IP6_NF_RAW', 'IP6_NF_NAT', 'IP6_NF_TARGET_MASQUERADE',
      'NETFILTER_XT_MATCH_ADDRTYPE', 'NETFILTER_XT_MATCH_CONNTRACK', 'NETFILTER_XT_MATCH_IPVS', 'NETFILTER_XT_MARK',
    ),
  },
  {
    level: 'recommended',
    title: 'container features',
    why: "moby's optional features: user namespaces, seccomp, more cgroup controllers, CFS quotas, IPVS load balancing",
    options: on(
      'USER_NS', 'SECCOMP', 'SECCOMP_FILTER', 'CGROUP_FREEZER', 'CGROUP_DEVICE', 'CGROUP_HUGETLB', 'CGROUP_PERF',
      'CGROUP_NET_PRIO', 'BLK_DEV_THROTTLING', 'CFS_BANDWIDTH', 'FAIR_GROUP_SCHED', 'PSI',
      'IP_NF_TARGET_REDIRECT', 'IP_VS', 'IP_VS_NFCT', 'IP_VS_PROTO_TCP', 'IP_VS_PROTO_UDP', 'IP_VS_RR',
      'NF_TABLES', 'NFT_NAT', 'NFT_MASQ', 'NFT_COMPAT',
    ),
  },
  {
    level: 'recommended',
    title: 'network drivers',
    why: 'overlay (vxlan, with IPsec for encrypted networks), ipvlan, macvlan and dummy networks',
    options: on(
      'VXLAN', 'BRIDGE_VLAN_FILTERING', 'CRYPTO', 'CRYPTO_AEAD', 'CRYPTO_GCM', 'CRYPTO_SEQIV', 'CRYPTO_GHASH',
      'XFRM', 'XFRM_USER', 'XFRM_ALGO', 'INET_ESP', 'NETFILTER_XT_MATCH_BPF', 'IPVLAN', 'MACVLAN', 'DUMMY', 'TUN',
    ),
  },
  {
    level: 'recommended',
    title: 'storage',
    why: 'ext4 with ACLs and security labels as a backing file system; the NoCloud seed (ISO 9660 or vfat); loop devices',
    options: on('EXT4_FS', 'EXT4_FS_POSIX_ACL', 'EXT4_FS_SECURITY', 'ISO9660_FS', 'VFAT_FS', 'BLK_DEV_LOOP', 'SQUASHFS'),
  },
  {
    level: 'recommended',
    title: 'virtual machine',
    why: "what `coracle run qemu` gives the guest: PVH entry, serial console, virtio devices, ACPI power button, pvpanic",
    options: on(
      'PVH', 'SERIAL_8250_CONSOLE', 'ACPI_BUTTON', 'INPUT_EVDEV', 'PACKET', 'VIRTIO_PCI', 'VIRTIO_NET', 'VIRTIO_BLK',
      'SCSI_VIRTIO', 'BLK_DEV_SR', 'VIRTIO_CONSOLE', 'HW_RANDOM_VIRTIO', 'VIRTIO_BALLOON', 'PVPANIC', 'VIRTIO_VSOCKETS',
    ),
  },
  {
    level: 'recommended',
    title: 'hardening',
    why: "LinuxKit's kernel tests (Kernel Self Protection Project), without their debugging options",
    options: [
      ...on(
        'BUG', 'STRICT_DEVMEM', 'IO_STRICT_DEVMEM', 'SYN_COOKIES', 'SECURITY', 'SECURITY_YAMA', 'BPF_JIT_ALWAYS_ON',
        'SLAB_FREELIST_RANDOM', 'HARDENED_USERCOPY', 'STACKPROTECTOR', 'STACKPROTECTOR_STRONG', 'STRICT_KERNEL_RWX',
        'STRICT_MODULE_RWX', 'RANDOMIZE_BASE', 'RANDOMIZE_MEMORY', 'LEGACY_VSYSCALL_NONE', 'PAGE_TABLE_ISOLATION', 'RETPOLINE',
      ),
      ...off('COMPAT_BRK', 'ACPI_CUSTOM_METHOD', 'DEVKMEM', 'COMPAT_VDSO', 'KEXEC', 'X86_X32_ABI', 'LEGACY_PTYS', 'HIBERNATION'),
    ],
  },
];
