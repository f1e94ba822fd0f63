/**
 * The default system-call filter of every container: the calls Docker's
 * default seccomp profile allows on x86-64 (facts about which calls are safe
 * without privileges; the grouping and the code are ours). Everything not
 * granted fails with EPERM. A call that only a capability makes useful is
 * granted only to containers that hold the capability, as Docker does, so
 * the filter never takes away what the capability list gave.
 *
 * The profile is compiled at build time for each container's capability set
 * into the OCI `linux.seccomp` object runc and crun both read. Names newer
 * than the guest's libseccomp are kept (a newer kernel may have them): both
 * runtimes skip a name they cannot resolve.
 */
import type { Seccomp, SeccompSyscall } from './types.js';

/** A set of calls granted together, and why they are safe to grant. */
interface Grant {
  why: string;
  calls: readonly string[];
  /** Granted only to a container holding one of these capabilities. */
  anyOf?: readonly string[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const CLONE_NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
/** personality(2) values that only select the Linux ABI or query it: PER_LINUX, PER_LINUX32, UNAME26 variants, query. */
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

export const DEFAULT_GRANTS: readonly Grant[] = [
  {
    why: 'process and thread life cycle, for the process itself and its children',
    calls: [
      'exit', 'exit_group', 'fork', 'vfork', 'execve', 'execveat', 'wait4', 'waitid', 'waitpid', 'kill', 'tkill', 'tgkill',
      'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'set_tid_address',
      'set_robust_list', 'get_robust_list', 'rseq', 'restart_syscall', 'prctl', 'arch_prctl', 'modify_ldt',
      'get_thread_area', 'set_thread_area', 'pidfd_open', 'pidfd_send_signal', 'process_mrelease', 'membarrier',
      'capget', 'capset', 'unshare', 'uretprobe',
    ],
  },
  {
    why: 'a process may narrow its own privileges further',
    calls: ['seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self'],
  },
  {
    why: 'credentials: the kernel checks CAP_SETUID/CAP_SETGID itself',
    calls: [
      'getuid', 'getuid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getegid', 'getegid32', 'getresuid',
      'getresuid32', 'getresgid', 'getresgid32', 'getgroups', 'getgroups32', 'setuid', 'setuid32', 'setgid', 'setgid32',
      'setreuid', 'setreuid32', 'setregid', 'setregid32', 'setresuid', 'setresuid32', 'setresgid', 'setresgid32',
      'setfsuid', 'setfsuid32', 'setfsgid', 'setfsgid32', 'setgroups', 'setgroups32',
    ],
  },
  {
    why: 'scheduling, priorities and resource limits of its own processes',
    calls: [
      'sched_getaffinity', 'sched_setaffinity', 'sched_getattr', 'sched_setattr', 'sched_getparam', 'sched_setparam',
      'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min',
      'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_yield', 'getpriority', 'setpriority',
      'ioprio_get', 'ioprio_set', 'getrlimit', 'setrlimit', 'ugetrlimit', 'prlimit64', 'getrusage', 'times', 'getcpu',
      'sysinfo', 'uname', 'getrandom',
    ],
  },
  {
    why: 'signals',
    calls: [
      'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend',
      'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sigaltstack', 'sigprocmask', 'sigreturn',
      'signalfd', 'signalfd4', 'pause', 'alarm',
    ],
  },
  {
    why: 'reading clocks, sleeping and timers (adjtimex only changes the clock with CAP_SYS_TIME)',
    calls: [
      'clock_getres', 'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep',
      'clock_nanosleep_time64', 'clock_adjtime', 'clock_adjtime64', 'adjtimex', 'nanosleep', 'gettimeofday', 'time',
      'getitimer', 'setitimer', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64',
      'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime',
      'timerfd_settime64',
    ],
  },
  {
    why: 'memory of its own address space',
    calls: [
      'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mincore', 'msync', 'mlock', 'mlock2',
      'mlockall', 'munlock', 'munlockall', 'remap_file_pages', 'memfd_create', 'memfd_secret', 'pkey_alloc',
      'pkey_free', 'pkey_mprotect', 'mseal', 'map_shadow_stack', 'cachestat',
    ],
  },
  {
    why: 'futexes',
    calls: ['futex', 'futex_time64', 'futex_waitv', 'futex_wait', 'futex_wake', 'futex_requeue'],
  },
  {
    why: 'file descriptors and their data',
    calls: [
      'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'read', 'readv', 'pread64', 'preadv', 'preadv2',
      'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'lseek', '_llseek', 'dup', 'dup2', 'dup3', 'fcntl',
      'fcntl64', 'flock', 'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'fallocate', 'ftruncate',
      'ftruncate64', 'truncate', 'truncate64', 'fadvise64', 'fadvise64_64', 'readahead', 'sendfile', 'sendfile64',
      'copy_file_range', 'splice', 'tee', 'vmsplice', 'pipe', 'pipe2', 'ioctl', 'name_to_handle_at',
    ],
  },
  {
    why: 'file names and metadata (permissions are the filesystem\'s to check)',
    calls: [
      'stat', 'stat64', 'lstat', 'lstat64', 'fstat', 'fstat64', 'fstatat64', 'newfstatat', 'statx', 'statfs',
      'statfs64', 'fstatfs', 'fstatfs64', 'access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'getcwd', 'getdents',
      'getdents64', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link',
      'linkat', 'symlink', 'symlinkat', 'unlink', 'unlinkat', 'readlink', 'readlinkat', 'chmod', 'fchmod', 'fchmodat',
      'fchmodat2', 'chown', 'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32', 'umask', 'utime',
      'utimes', 'utimensat', 'utimensat_time64', 'futimesat', 'statmount', 'listmount',
    ],
  },
  {
    why: 'extended attributes',
    calls: [
      'getxattr', 'lgetxattr', 'fgetxattr', 'getxattrat', 'setxattr', 'lsetxattr', 'fsetxattr', 'setxattrat',
      'listxattr', 'llistxattr', 'flistxattr', 'listxattrat', 'removexattr', 'lremovexattr', 'fremovexattr',
      'removexattrat',
    ],
  },
  {
    why: 'waiting for events',
    calls: [
      'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
      'epoll_wait_old', 'eventfd', 'eventfd2', 'poll', 'ppoll', 'ppoll_time64', 'select', '_newselect', 'pselect6',
      'pselect6_time64', 'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark',
    ],
  },
  {
    why: 'asynchronous I/O',
    calls: ['io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64'],
  },
  {
    why: 'sockets (socket(2) itself has its own rule: no AF_VSOCK)',
    calls: [
      'socketpair', 'socketcall', 'bind', 'connect', 'listen', 'accept', 'accept4', 'getsockname', 'getpeername',
      'getsockopt', 'setsockopt', 'send', 'sendto', 'sendmsg', 'sendmmsg', 'recv', 'recvfrom', 'recvmsg', 'recvmmsg',
      'recvmmsg_time64', 'shutdown',
    ],
  },
  {
    why: 'System V IPC and POSIX message queues (of its IPC namespace)',
    calls: [
      'ipc', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64',
      'shmat', 'shmctl', 'shmdt', 'shmget', 'mq_open', 'mq_unlink', 'mq_getsetattr', 'mq_notify', 'mq_timedreceive',
      'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64',
    ],
  },
  {
    why: 'tracing its own children: the kernel (>= 4.8) checks ptrace access, and seccomp cannot be bypassed through it',
    calls: ['ptrace', 'process_vm_readv', 'process_vm_writev'],
  },
  // What a capability makes useful.
  { why: 'file handles by number', calls: ['open_by_handle_at'], anyOf: ['CAP_DAC_READ_SEARCH'] },
  {
    why: 'mounts, namespaces, host and domain names, quotas, BPF and the kernel log',
    anyOf: ['CAP_SYS_ADMIN'],
    calls: [
      'mount', 'umount', 'umount2', 'mount_setattr', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount',
      'fspick', 'setns', 'clone', 'clone3', 'sethostname', 'setdomainname', 'quotactl', 'quotactl_fd',
      'fanotify_init', 'lookup_dcookie', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules',
    ],
  },
  { why: 'BPF programs', calls: ['bpf'], anyOf: ['CAP_SYS_ADMIN', 'CAP_BPF'] },
  { why: 'performance counters', calls: ['perf_event_open'], anyOf: ['CAP_SYS_ADMIN', 'CAP_PERFMON'] },
  { why: 'the kernel log', calls: ['syslog'], anyOf: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'] },
  { why: 'reboot and power off', calls: ['reboot'], anyOf: ['CAP_SYS_BOOT'] },
  { why: 'chroot', calls: ['chroot'], anyOf: ['CAP_SYS_CHROOT'] },
  { why: 'kernel modules', calls: ['init_module', 'finit_module', 'delete_module'], anyOf: ['CAP_SYS_MODULE'] },
  { why: 'process accounting', calls: ['acct'], anyOf: ['CAP_SYS_PACCT'] },
  { why: 'inspecting other processes', calls: ['kcmp', 'pidfd_getfd', 'process_madvise'], anyOf: ['CAP_SYS_PTRACE'] },
  { why: 'I/O ports', calls: ['iopl', 'ioperm'], anyOf: ['CAP_SYS_RAWIO'] },
  { why: 'setting the clock', calls: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], anyOf: ['CAP_SYS_TIME'] },
  { why: 'hanging up the terminal', calls: ['vhangup'], anyOf: ['CAP_SYS_TTY_CONFIG'] },
  { why: 'NUMA memory policy', calls: ['get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'mbind'], anyOf: ['CAP_SYS_NICE'] },
];

/** Architectures of an x86-64 guest: native, 32-bit and x32 programs all get the same filter. */
export const SECCOMP_ARCHITECTURES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];

/** Every call the default profile can grant, whatever the capabilities (for checks and tests). */
export function defaultProfileCalls(): Set<string> {
  const out = new Set<string>(['socket', 'personality']);
  for (const g of DEFAULT_GRANTS) for (const c of g.calls) out.add(c);
  return out;
}

/**
 * The default profile for a container holding `capabilities` (its bounding
 * set): one allow list, then the calls allowed only with some arguments.
 * Deterministic: the same capabilities give the same JSON.
 */
export function defaultSeccompProfile(capabilities: readonly string[]): Seccomp {
  const held = new Set(capabilities);
  const allowed = new Set<string>();
  for (const g of DEFAULT_GRANTS) if (g.anyOf === undefined || g.anyOf.some((c) => held.has(c))) for (const c of g.calls) allowed.add(c);
  const syscalls: SeccompSyscall[] = [{ names: [...allowed].sort(), action: 'SCMP_ACT_ALLOW' }];
  // vsock reaches the hypervisor's host side: not a container's business.
  syscalls.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] });
  for (const p of SAFE_PERSONALITIES)
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] });
  if (!held.has('CAP_SYS_ADMIN')) {
    // Threads and processes, but no new namespaces. clone3 passes its flags
    // in memory a filter cannot read: say it does not exist, and libc falls
    // back to clone.
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NEW_NAMESPACES, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: [...SECCOMP_ARCHITECTURES], syscalls };
}
