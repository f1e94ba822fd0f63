import { describe, expect, it } from 'vitest';
import { CoracleError } from '../../../src/errors.js';
import {
  ALL_CAPABILITIES,
  allocateIds,
  defaultProfileCalls,
  defaultSeccompProfile,
  generateRuntimeConfig,
  RLIM_INFINITY,
  stableJson,
  type RuntimeConfigInput,
  type RuntimeEntry,
} from '../../../src/runtime/index.js';
import type { Seccomp, Spec } from '../../../src/runtime/types.js';
import { runtimeConfigValidator } from './oci-schema.js';

const validate = runtimeConfigValidator();
const ids = allocateIds({ onboot: [{ name: 'dhcpcd' }], services: [{ name: 'getty' }, { name: 'sshd' }] });

function gen(entry: Partial<RuntimeEntry>, more: Partial<RuntimeConfigInput> = {}) {
  const r = generateRuntimeConfig({
    entry: { name: 'svc', image: 'example/svc:1', ...entry },
    image: { Entrypoint: ['/bin/svc'], Cmd: ['-f'], Env: ['PATH=/bin'], WorkingDir: '/srv' },
    bundleDir: '/containers/services/svc',
    ids,
    ...more,
  });
  // every generated config is valid against the OCI runtime-spec schema
  expect(validate(r.config)).toEqual([]);
  expect(validate(JSON.parse(stableJson(r.config)))).toEqual([]);
  return r;
}
const nsTypes = (c: Spec): string[] => c.linux!.namespaces!.map((n) => n.type + (n.path ? `=${n.path}` : ''));

describe('generateRuntimeConfig: defaults', () => {
  it('takes args, env and cwd from the image config; LinuxKit default namespaces and mounts', () => {
    const { config, runtime, readonly, unpackDir, mountpoints } = gen({});
    expect(config.ociVersion).toMatch(/^1\.1\./);
    expect(config.process!.args).toEqual(['/bin/svc', '-f']);
    expect(config.process!.env).toEqual(['PATH=/bin']);
    expect(config.process!.cwd).toBe('/srv');
    expect(config.process!.user).toEqual({ uid: 0, gid: 0 });
    expect(config.root).toEqual({ path: '/containers/services/svc/rootfs', readonly: true });
    expect(nsTypes(config)).toEqual(['pid', 'mount', 'cgroup']);
    expect(config.mounts!.map((m) => `${m.destination}:${m.type}`)).toEqual([
      '/dev:tmpfs', '/dev/pts:devpts', '/proc:proc', '/sys:sysfs', '/sys/fs/cgroup:cgroup',
    ]);
    expect(config.mounts!.find((m) => m.destination === '/sys/fs/cgroup')!.options).toContain('ro');
    expect(config.process!.capabilities).toEqual({ bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
    expect(config.hostname).toBeUndefined();
    expect(config.linux!.maskedPaths).toBeUndefined();
    // read-only by default (beyond LinuxKit): rootfs/ bound onto itself
    expect(readonly).toBe(true);
    expect(unpackDir).toBe('rootfs');
    expect(mountpoints).toEqual([]);
    expect(runtime.mounts).toEqual([{ source: '/containers/services/svc/rootfs', destination: '/containers/services/svc/rootfs', options: ['bind', 'private'] }]);
    expect(runtime).toMatchObject({ cgroups: [], mkdir: [], interfaces: [], namespace: '', bindNS: { net: '', pid: '', mnt: '' } });
  });

  it('defaults cwd to / and refuses a relative bundle directory', () => {
    const r = generateRuntimeConfig({ entry: { name: 'a', command: ['/x'] }, bundleDir: '/c/a', ids });
    expect(r.config.process!.cwd).toBe('/');
    expect(r.config.process!.env).toEqual([]);
    expect(() => generateRuntimeConfig({ entry: { name: 'a', command: ['/x'] }, bundleDir: 'containers/a', ids })).toThrow(/must be an absolute path/);
    expect(() => generateRuntimeConfig({ entry: { name: 'a' }, bundleDir: '/c/a', ids })).toThrow(/no command/);
  });

  it('readonly: false: a writable root (the init overlays it), /dev and /sys writable, no self-bind', () => {
    const { config, runtime, readonly, unpackDir, mountpoints } = gen({ readonly: false });
    expect(readonly).toBe(false);
    expect(config.root).toEqual({ path: '/containers/services/svc/rootfs' });
    expect(config.mounts!.find((m) => m.destination === '/dev')!.options).not.toContain('ro');
    expect(config.mounts!.find((m) => m.destination === '/sys')!.options).not.toContain('ro');
    expect(unpackDir).toBe('rootfs');
    expect(mountpoints).toEqual([]);
    expect(runtime.mounts).toEqual([]);
    // a label may ask for it; the spec has the last word
    expect(gen({}, { label: { readonly: false } }).readonly).toBe(false);
    expect(gen({ readonly: true }, { label: { readonly: false } }).readonly).toBe(true);
  });

  it('readonly: root.readonly, /dev and /sys read-only, rootfs/ bound onto itself', () => {
    const { config, runtime, unpackDir, mountpoints } = gen({ readonly: true });
    expect(config.root).toEqual({ path: '/containers/services/svc/rootfs', readonly: true });
    expect(config.mounts!.find((m) => m.destination === '/dev')!.options).toContain('ro');
    expect(config.mounts!.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(unpackDir).toBe('rootfs');
    expect(mountpoints).toEqual([]);
    expect(runtime.mounts).toEqual([{ source: '/containers/services/svc/rootfs', destination: '/containers/services/svc/rootfs', options: ['bind', 'private'] }]);
    const shared = gen({ readonly: true }, { imageRoot: '/containers/services/other/rootfs' });
    expect(shared.runtime.mounts).toEqual([{ source: '/containers/services/other/rootfs', destination: '/containers/services/svc/rootfs', options: ['bind', 'private'] }]);
    expect(shared.mountpoints).toEqual(['rootfs']);
    // a writable container of a shared image gets the bind too (the init overlays on top)
    const sharedRw = gen({ readonly: false }, { imageRoot: '/containers/services/other/rootfs' });
    expect(sharedRw.runtime.mounts).toEqual(shared.runtime.mounts);
    expect(sharedRw.config.root!.readonly).toBeUndefined();
  });

  it('uses a numeric image User; a named one through the resolver', () => {
    expect(gen({}, { image: { Cmd: ['/x'], User: '1000:1001' } }).config.process!.user).toEqual({ uid: 1000, gid: 1001 });
    const named = gen({}, { image: { Cmd: ['/x'], User: 'nobody' }, resolveImageUser: (n) => (n === 'nobody' ? 65534 : undefined) });
    expect(named.config.process!.user).toEqual({ uid: 65534, gid: 0 });
    // the YAML wins over the image
    expect(gen({ uid: 5 }, { image: { Cmd: ['/x'], User: '1000' } }).config.process!.user.uid).toBe(5);
  });
});

describe('generateRuntimeConfig: image label, then YAML', () => {
  const label = {
    command: ['/label/cmd'], env: ['FROM=label'], cwd: '/label', capabilities: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'],
    binds: ['/etc/resolv.conf:/etc/resolv.conf'], hostname: 'from-label', net: 'new', uts: 'new',
  };
  it('the label replaces the image config; the YAML replaces the label', () => {
    const a = gen({}, { label });
    expect(a.config.process!.args).toEqual(['/label/cmd']);
    expect(a.config.process!.env).toEqual(['FROM=label']);
    expect(a.config.process!.cwd).toBe('/label');
    expect(a.config.hostname).toBe('from-label');
    expect(nsTypes(a.config)).toEqual(['network', 'uts', 'pid', 'mount', 'cgroup']);
    const b = gen({ command: ['/yaml'], env: [], cwd: '/y', hostname: 'h', net: 'host' }, { label });
    expect(b.config.process!.args).toEqual(['/yaml']);
    expect(b.config.process!.env).toEqual([]);
    expect(b.config.process!.cwd).toBe('/y');
    expect(b.config.hostname).toBe('h');
    expect(nsTypes(b.config)).toEqual(['uts', 'pid', 'mount', 'cgroup']);
    // runc cannot set a hostname in the host's UTS namespace: said at build time
    expect(() => gen({ hostname: 'h', fieldLocs: { hostname: { file: 's.yml', line: 4, col: 15 } } })).toThrow('s.yml:4:15: svc: hostname h needs its own UTS namespace: add `uts: new`');
  });

  it('capabilities: sorted; .add appends to the label; a YAML list replaces it', () => {
    const caps = (e: Partial<RuntimeEntry>) => gen(e, { label }).config.process!.capabilities!;
    expect(caps({}).effective).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(caps({ capabilitiesAdd: ['CAP_CHOWN', 'CAP_NET_ADMIN'] }).bounding).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(caps({ capabilities: ['CAP_KILL'], capabilitiesAdd: ['CAP_CHOWN'] }).effective).toEqual(['CAP_KILL']);
    expect(caps({ capabilities: ['none'] }).permitted).toEqual([]);
    const all = caps({ capabilities: ['all'] });
    expect(all.effective).toHaveLength(ALL_CAPABILITIES.length);
    expect(all.effective).toEqual([...ALL_CAPABILITIES].sort());
    // nothing inheritable but the ambient set (a file's inheritable capabilities grant nothing)
    expect(all.inheritable).toEqual([]);
    const amb = caps({ capabilities: ['CAP_KILL'], ambient: ['CAP_NET_RAW'] });
    expect(amb).toMatchObject({ effective: ['CAP_KILL'], ambient: ['CAP_NET_RAW'], inheritable: ['CAP_NET_RAW'], bounding: ['CAP_KILL', 'CAP_NET_RAW'] });
  });

  it('an unknown capability names the file:line:col where it was written, or the image label', () => {
    const e = { capabilities: ['CAP_FLY'], loc: { file: 'sys.yml', line: 3, col: 5 }, fieldLocs: { capabilities: { file: 'sys.yml', line: 7, col: 9 } } };
    const err = (() => { try { gen(e); } catch (x) { return x; } })();
    expect(err).toBeInstanceOf(CoracleError);
    expect((err as Error).message).toBe('sys.yml:7:9: svc: unknown capability: CAP_FLY');
    expect(() => gen({}, { label: { capabilities: ['CAP_NOPE'] } })).toThrow('svc: image example/svc:1 (org.mobyproject.config label): unknown capability: CAP_NOPE');
  });

  it('binds: rbind, default rw+rshared, options kept; .add appends to the label; YAML binds replace', () => {
    const m = gen({ bindsAdd: ['/var:/var:ro,rslave'] }, { label }).config.mounts!;
    expect(m.find((x) => x.destination === '/etc/resolv.conf')).toEqual({ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rw', 'rbind', 'rshared'] });
    expect(m.find((x) => x.destination === '/var')).toEqual({ destination: '/var', type: 'bind', source: '/var', options: ['ro', 'rslave', 'rbind'] });
    const r = gen({ binds: ['/run:/run'], bindsAdd: ['/var:/var'] }, { label }).config.mounts!;
    expect(r.some((x) => x.destination === '/etc/resolv.conf' || x.destination === '/var')).toBe(false);
    expect(r.find((x) => x.destination === '/run')!.type).toBe('bind');
    expect(() => gen({ binds: ['/only-one'] })).toThrow(/cannot parse bind "\/only-one": missing ':'/);
    expect(() => gen({ binds: ['/a:/b:ro:x'] })).toThrow(/too many ':'/);
    // a bind replaces a default mount at the same destination
    const dev = gen({ binds: ['/dev:/dev'] }).config.mounts!.filter((x) => x.destination === '/dev');
    expect(dev).toEqual([{ destination: '/dev', type: 'bind', source: '/dev', options: ['rw', 'rbind', 'rshared'] }]);
  });

  it('mounts infer type and destination; tmpfs takes options', () => {
    const m = gen({ mounts: [{ source: 'mqueue' }, { type: 'cgroup', options: ['rw'] }], tmpfs: ['/run:rw,size=10m', '/tmp'] }).config.mounts!;
    expect(m.find((x) => x.destination === '/dev/mqueue')).toEqual({ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue' });
    expect(m.find((x) => x.destination === '/sys/fs/cgroup')).toEqual({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rw'] });
    expect(m.find((x) => x.destination === '/run')).toEqual({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'size=10m'] });
    expect(m.find((x) => x.destination === '/tmp')).toEqual({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
    const dests = m.map((x) => x.destination);
    expect(dests).toEqual([...dests].sort());
    expect(() => gen({ mounts: [{ destination: '/x' }] })).toThrow(/mount for destination \/x is missing a type/);
  });
});

describe('generateRuntimeConfig: namespaces, ids, devices, limits', () => {
  it('net/ipc/uts/pid/userns: host, new, none or a path', () => {
    expect(nsTypes(gen({ net: 'new', ipc: 'new', uts: 'new' }).config)).toEqual(['network', 'ipc', 'uts', 'pid', 'mount', 'cgroup']);
    expect(nsTypes(gen({ net: 'none' }).config)).toEqual(['network', 'pid', 'mount', 'cgroup']);
    expect(nsTypes(gen({ net: '/run/netns/web', pid: 'host' }).config)).toEqual(['network=/run/netns/web', 'mount', 'cgroup']);
    expect(nsTypes(gen({ userns: 'new', uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] }).config)).toEqual(['pid', 'user', 'mount', 'cgroup']);
    expect(() => gen({ userns: 'new' })).toThrow(/a new user namespace needs uidMappings and gidMappings/);
    expect(nsTypes(gen({ userns: '/proc/1/ns/user' }).config)).toEqual(['pid', 'user=/proc/1/ns/user', 'mount', 'cgroup']);
    expect(() => gen({ net: 'bridge' })).toThrow(/net: "bridge" is not host, new, none or an absolute namespace path/);
  });

  it('named users get the id LinuxKit allocates (100+ in onboot, onshutdown, services order), the same in every container', () => {
    expect([...ids.entries()]).toEqual([['dhcpcd', 100], ['getty', 101], ['sshd', 102]]);
    const a = gen({ uid: 'sshd', gid: 'getty', additionalGids: ['dhcpcd', 7, 'root'] });
    expect(a.config.process!.user).toEqual({ uid: 102, gid: 101, additionalGids: [100, 7, 0] });
    const b = generateRuntimeConfig({ entry: { name: 'other', command: ['/x'], uid: 'sshd' }, bundleDir: '/c/o', ids });
    expect(b.config.process!.user.uid).toBe(102);
    expect(() => gen({ uid: 'nobody' })).toThrow(/cannot find id: nobody/);
    const again = allocateIds({ onboot: [{ name: 'dhcpcd' }], services: [{ name: 'getty' }, { name: 'sshd' }] });
    expect([...again]).toEqual([...ids]);
  });

  it('devices: nodes plus cgroup rules; "all" allows a whole type', () => {
    const { config } = gen({ devices: [{ path: 'all', type: 'b' }, { path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: '0666' }], resources: { memory: { limit: 1048576 } } });
    expect(config.linux!.devices).toEqual([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }]);
    expect(config.linux!.resources).toEqual({
      memory: { limit: 1048576 },
      devices: [{ allow: true, type: 'b', access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }],
    });
    expect(() => gen({ devices: [{ path: '/dev/x', type: 'c', major: 1, minor: 1, mode: 'rw' }] })).toThrow(/cannot parse mode "rw" as an octal value/);
  });

  it('rlimits, sysctl, annotations, oomScoreAdj, noNewPrivileges, cgroupsPath, propagation, masked paths', () => {
    const { config } = gen({
      rlimits: ['nofile,1024,unlimited', 'RLIMIT_NPROC, 10, 20'],
      net: 'new',
      sysctl: { 'net.ipv4.ip_forward': '1' },
      annotations: { b: '2', a: '1' },
      oomScoreAdj: -800,
      noNewPrivileges: true,
      cgroupsPath: 'podruntime/svc',
      rootfsPropagation: 'shared',
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
    });
    expect(config.process!.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: RLIM_INFINITY }, { type: 'RLIMIT_NPROC', soft: 10, hard: 20 }]);
    expect(config.process!.oomScoreAdj).toBe(-800);
    expect(config.process!.noNewPrivileges).toBe(true);
    expect(config.linux).toMatchObject({ sysctl: { 'net.ipv4.ip_forward': '1' }, cgroupsPath: 'podruntime/svc', rootfsPropagation: 'shared', maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] });
    // "unlimited" must reach runc as exactly 2^64-1 (a JS number cannot hold it)
    expect(stableJson(config)).toMatch(/"hard": 18446744073709551615,?\n/);
    expect(stableJson({ s: 'x 18446744073709552000' })).toContain('x 18446744073709552000');
    // sysctls runc would refuse: outside any namespace, or in the host's namespace
    expect(() => gen({ sysctl: { 'vm.swappiness': '1' } })).toThrow(/sysctl vm.swappiness is not namespaced/);
    expect(() => gen({ net: 'host', sysctl: { 'net.ipv4.ip_forward': '1' } })).toThrow(/sysctl net.ipv4.ip_forward needs its own network namespace: add `net: new`/);
    expect(() => gen({ sysctl: { 'kernel.shmmax': '1' } })).toThrow(/needs its own ipc namespace: add `ipc: new`/);
    expect(gen({ ipc: 'new', sysctl: { 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '20' } }).config.linux!.sysctl).toEqual({ 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '20' });
    expect(() => gen({ rlimits: ['nofile,1'] })).toThrow(/cannot parse rlimit/);
    expect(() => gen({ rlimits: ['bogus,1,1'] })).toThrow(/unknown rlimit "bogus"/);
    // keys sorted at every level: the JSON does not depend on insertion order
    const json = stableJson(config);
    expect(json.indexOf('"a": "1"')).toBeLessThan(json.indexOf('"b": "2"'));
    expect(stableJson(JSON.parse(json))).toBe(json);
  });

  it('runtime.json: the label runtime, replaced key by key by the YAML runtime', () => {
    const { runtime } = gen(
      { runtime: { mkdir: ['/var/lib/y'], bindNS: { net: '/run/netns/y' } } },
      { label: { runtime: { mkdir: ['/var/lib/l'], cgroups: ['systemreserved'], interfaces: [{ name: 'eth1', add: 'veth', peer: 'eth0' }] } } },
    );
    expect(runtime.mkdir).toEqual(['/var/lib/y']);
    expect(runtime.cgroups).toEqual(['systemreserved']);
    expect(runtime.interfaces).toEqual([{ name: 'eth1', add: 'veth', peer: 'eth0', createInRoot: false }]);
    expect(runtime.bindNS).toEqual({ cgroup: '', ipc: '', mnt: '', net: '/run/netns/y', pid: '', user: '', uts: '' });
  });
});

describe('generateRuntimeConfig: least privilege by default', () => {
  const seccompOf = (e: Partial<RuntimeEntry>, more: Partial<RuntimeConfigInput> = {}) => gen(e, more).config.linux!.seccomp;
  const allowedBy = (s: Seccomp | undefined): Set<string> =>
    new Set((s?.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.args === undefined).flatMap((r) => r.names));

  it('no_new_privs and the default filter unless the label or spec opts out', () => {
    const def = gen({}).config;
    expect(def.process!.noNewPrivileges).toBe(true);
    expect(def.linux!.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(def.linux!.seccomp).toEqual(defaultSeccompProfile([]));
    // opt-outs, from the label or the spec; the spec has the last word
    expect(gen({ noNewPrivileges: false }).config.process!.noNewPrivileges).toBeUndefined();
    expect(gen({}, { label: { noNewPrivileges: false } }).config.process!.noNewPrivileges).toBeUndefined();
    expect(gen({ noNewPrivileges: true }, { label: { noNewPrivileges: false } }).config.process!.noNewPrivileges).toBe(true);
    expect(seccompOf({ seccomp: 'unconfined' })).toBeUndefined();
    expect(seccompOf({}, { label: { seccomp: 'unconfined' } })).toBeUndefined();
    expect(seccompOf({ seccomp: 'default' }, { label: { seccomp: 'unconfined' } })).toEqual(defaultSeccompProfile([]));
    // the JSON says so in the keys runc and crun read
    const json = JSON.parse(stableJson(def)) as Spec;
    expect(json.process!.noNewPrivileges).toBe(true);
    expect(json.linux!.seccomp!.syscalls![0]!.names).toContain('read');
  });

  it('the default filter: what Docker allows, with the calls of held capabilities only', () => {
    const none = seccompOf({});
    const plain = allowedBy(none);
    for (const c of ['read', 'write', 'openat', 'execve', 'futex', 'epoll_wait', 'ptrace', 'setuid', 'getrandom', 'arch_prctl']) expect(plain, c).toContain(c);
    // refused to a container without the capability
    for (const c of ['mount', 'umount2', 'setns', 'reboot', 'chroot', 'init_module', 'settimeofday', 'clock_settime', 'bpf', 'sethostname', 'iopl', 'kcmp', 'acct', 'syslog', 'open_by_handle_at', 'vhangup', 'mbind'])
      expect(plain, c).not.toContain(c);
    // refused whatever the capabilities (not in Docker's profile)
    const all = allowedBy(seccompOf({ capabilities: ['all'] }));
    for (const c of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'userfaultfd', 'uselib', 'nfsservctl', 'personality', 'socket']) expect(all, c).not.toContain(c);
    // each capability brings its calls
    const grants: Record<string, string[]> = {
      CAP_SYS_ADMIN: ['mount', 'umount2', 'setns', 'sethostname', 'clone', 'clone3', 'bpf', 'syslog', 'perf_event_open'],
      CAP_SYS_BOOT: ['reboot'], CAP_SYS_CHROOT: ['chroot'], CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
      CAP_SYS_TIME: ['settimeofday', 'clock_settime'], CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd'], CAP_SYS_RAWIO: ['iopl', 'ioperm'],
      CAP_BPF: ['bpf'], CAP_PERFMON: ['perf_event_open'], CAP_SYSLOG: ['syslog'], CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
      CAP_SYS_TTY_CONFIG: ['vhangup'], CAP_SYS_NICE: ['mbind', 'set_mempolicy'], CAP_SYS_PACCT: ['acct'],
    };
    for (const [cap, calls] of Object.entries(grants)) {
      const got = allowedBy(seccompOf({ capabilities: [cap] }));
      for (const c of calls) expect(got, `${cap} ${c}`).toContain(c);
      expect(got.has('mount'), cap).toBe(cap === 'CAP_SYS_ADMIN');
    }
    // ambient capabilities are held too
    expect(allowedBy(seccompOf({ ambient: ['CAP_SYS_TIME'] }))).toContain('clock_settime');
    // the label's capabilities count
    expect(allowedBy(seccompOf({}, { label: { capabilities: ['CAP_SYS_BOOT'] } }))).toContain('reboot');
  });

  it('argument rules: no AF_VSOCK sockets, plain personalities, clone without new namespaces unless CAP_SYS_ADMIN', () => {
    const rules = seccompOf({})!.syscalls!;
    expect(rules.filter((r) => r.names.includes('socket'))).toEqual([{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
    expect(rules.filter((r) => r.names.includes('personality')).map((r) => r.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
    expect(rules.find((r) => r.names.includes('clone'))).toEqual({
      names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    expect(rules.find((r) => r.names.includes('clone3'))).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const admin = seccompOf({ capabilities: ['CAP_SYS_ADMIN'] })!.syscalls!;
    expect(admin.filter((r) => r.names.includes('clone') || r.names.includes('clone3')).map((r) => r.args ?? r.action)).toEqual(['SCMP_ACT_ALLOW']);
  });

  it('the default profile is deterministic and covers every call of the grants', () => {
    expect(stableJson(seccompOf({ capabilities: ['CAP_NET_RAW', 'CAP_KILL'] }))).toBe(stableJson(seccompOf({ capabilities: ['CAP_KILL', 'CAP_NET_RAW'] })));
    const all = seccompOf({ capabilities: ['all'] })!;
    const named = new Set(all.syscalls!.flatMap((r) => r.names));
    expect([...defaultProfileCalls()].filter((c) => !named.has(c))).toEqual([]);
    const first = all.syscalls![0]!.names;
    expect(first).toEqual([...new Set(first)].sort());
  });

  it('a profile file named by the spec is used as loaded; a label cannot name one', () => {
    const custom: Seccomp = { defaultAction: 'SCMP_ACT_LOG', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] };
    expect(seccompOf({ seccomp: 'profiles/web.json', seccompProfile: custom })).toEqual(custom);
    const loc = { file: 'sys.yml', line: 9, col: 14 };
    expect(() => gen({ seccomp: 'profiles/web.json', fieldLocs: { seccomp: loc } })).toThrow('sys.yml:9:14: svc: seccomp profile profiles/web.json was not loaded');
    expect(() => gen({}, { label: { seccomp: 'x.json' } })).toThrow(/image example\/svc:1 \(org.mobyproject.config label\): seccomp profile x.json was not loaded/);
  });
});

describe('the schema check itself', () => {
  it('rejects configs the runtime-spec forbids', () => {
    const { config } = gen({});
    expect(validate({ ...config, ociVersion: undefined })).not.toEqual([]);
    expect(validate({ ...config, process: { ...config.process, cwd: 7 } })).not.toEqual([]);
    expect(validate({ ...config, linux: { namespaces: [{ type: 'bogus' }] } })).not.toEqual([]);
  });
});
