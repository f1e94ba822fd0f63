/**
 * A container's OCI runtime config.json (and LinuxKit's runtime.json) from
 * three layers, each replacing the one before, as LinuxKit's ConfigToOCI does:
 *   1. the image config: Entrypoint+Cmd, Env, WorkingDir, User;
 *   2. the image's `org.mobyproject.config` label;
 *   3. the spec's YAML entry. `capabilities.add` and `binds.add` append to
 *      the label's list instead of replacing it (a plain `capabilities` or
 *      `binds` in the YAML still replaces everything).
 * LinuxKit's defaults: new pid, mount and cgroup namespaces; host net, ipc,
 * uts and user unless set (`new`, `none` or a namespace path); mounts proc,
 * /dev (tmpfs), devpts, sysfs and the cgroup fs read-only (no /dev/shm or
 * /dev/mqueue: LinuxKit leaves them out too); no capabilities; uid/gid 0;
 * masked and read-only paths empty. Beyond LinuxKit, least privilege unless
 * the label or spec opts out: a read-only root (`readonly: false`),
 * no_new_privs (`noNewPrivileges: false`), the default seccomp filter
 * (`seccomp: unconfined` or a profile file), and no inheritable capabilities
 * but the ambient ones. Settings runc would refuse at start
 * (a hostname without its own UTS namespace, a new user namespace without
 * id mappings, unknown capabilities) fail the
 * build instead, naming where they were written.
 */
import { posix } from 'node:path';
import { CoracleError } from '../errors.js';
import type { ContainerConfig } from '../oci/types.js';
import type { DeviceSpec, IdValue, ImageConfigFields, ImageLabelConfig, MountSpec, ResourcesSpec, SourceLocation } from '../spec/types.js';
import { ALL_CAPABILITIES, isCapability } from './capabilities.js';
import { defaultSeccompProfile } from './seccomp.js';
import { RLIMITS } from '../linux/names.js';
import { resolveId, type IdMap } from './ids.js';
import {
  OCI_RUNTIME_VERSION,
  type Device,
  type DeviceCgroup,
  type IDMapping,
  type LinuxKitRuntime,
  type Mount,
  type Namespace,
  type Resources,
  type Rlimit,
  type Seccomp,
  type Spec,
} from './types.js';

/** The YAML entry: every per-container key, its name, and where it was written (for messages). */
export type RuntimeEntry = ImageConfigFields & {
  name: string;
  image?: string;
  /** The profile file `seccomp` names, as loadSpecs read it. */
  seccompProfile?: Seccomp;
  loc?: SourceLocation;
  fieldLocs?: Partial<Record<string, SourceLocation>>;
};

export interface RuntimeConfigInput {
  entry: RuntimeEntry;
  /** The image's parsed `org.mobyproject.config` label, if it has one. */
  label?: ImageLabelConfig;
  /** The `config` object of the image configuration. */
  image?: ContainerConfig;
  /**
   * Absolute path of the bundle in the booted system, e.g.
   * `/containers/services/sshd`. root.path becomes `<bundleDir>/rootfs`.
   */
  bundleDir: string;
  /** Named ids (see allocateIds). */
  ids: IdMap;
  /**
   * Absolute path where this image's files are unpacked, when not in this
   * bundle (another container of the same image already holds them):
   * runtime.json then binds it onto `<bundleDir>/rootfs` first. Only share
   * from a READ-ONLY holder: a writable container's rootfs gets the init's
   * overlay at run time, and a bind of it would carry that container's writes.
   */
  imageRoot?: string;
  /** Resolve a user or group name of the image's `User` (from its /etc/passwd, /etc/group). */
  resolveImageUser?: (user: string, kind: 'user' | 'group') => number | undefined;
}

export interface GeneratedRuntimeConfig {
  config: Spec;
  runtime: LinuxKitRuntime;
  readonly: boolean;
  /**
   * Where, inside the bundle, the assembler unpacks the image (unless
   * `imageRoot` points elsewhere). Always `rootfs`: a read-only container
   * gets it bound onto itself (runtime.json), a writable one gets a tmpfs
   * overlay on it from the init (config.json root.readonly is false).
   */
  unpackDir: 'rootfs';
  /** Empty directories, relative to the bundle, the assembler must create (mount points). */
  mountpoints: string[];
}

const RLIMIT_NAMES = new Set(RLIMITS);
/** "unlimited": RLIM_INFINITY (2^64-1) as runc reads it from JSON. */
export const RLIM_INFINITY = 18446744073709551615;

const DEFAULT_MOUNT_POINT: Record<string, string> = {
  proc: '/proc', devpts: '/dev/pts', sysfs: '/sys', cgroup: '/sys/fs/cgroup', mqueue: '/dev/mqueue',
};

/** yaml ?? label ?? fallback: a value set at a later layer replaces the earlier one. */
function pick<K extends keyof ImageConfigFields>(entry: RuntimeEntry, label: ImageLabelConfig, key: K): ImageConfigFields[K] | undefined {
  return entry[key] !== undefined ? entry[key] : label[key];
}

/** LinuxKit treats an empty string like an unset one for these. */
function pickNonEmpty(entry: RuntimeEntry, label: ImageLabelConfig, key: 'cwd' | 'net' | 'pid' | 'ipc' | 'uts' | 'userns' | 'hostname'): string | undefined {
  const y = entry[key];
  if (y !== undefined && y !== '') return y;
  const l = label[key];
  return l !== undefined && l !== '' ? l : undefined;
}

class Context {
  constructor(private readonly entry: RuntimeEntry, private readonly label: ImageLabelConfig) {}

  /** An error naming the place the offending key was written: file:line:col in the spec, or the image label. */
  fail(key: string, msg: string): never {
    const fromYaml = (this.entry as unknown as Record<string, unknown>)[key] !== undefined;
    const loc = fromYaml ? (this.entry.fieldLocs?.[key] ?? this.entry.loc) : undefined;
    const inLabel = (this.label as Record<string, unknown>)[key] !== undefined;
    const where = loc
      ? `${loc.file}:${loc.line}:${loc.col}: ${this.entry.name}`
      : inLabel
        ? `${this.entry.name}: image ${this.entry.image ?? '?'} (org.mobyproject.config label)`
        : this.entry.name;
    throw new CoracleError(`${where}: ${msg}`);
  }
}

function concatLists(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] {
  return [...(a ?? []), ...(b ?? [])];
}

function expandCaps(ctx: Context, key: string, list: readonly string[]): string[] {
  let caps = [...list];
  if (caps.length === 1) {
    const one = caps[0]!.toLowerCase();
    if (one === 'none') caps = [];
    else if (one === 'all') caps = [...ALL_CAPABILITIES];
  }
  for (const c of caps) if (!isCapability(c)) ctx.fail(key, `unknown capability: ${c}`);
  return [...new Set(caps)].sort();
}

function parseRlimit(ctx: Context, s: string): Rlimit {
  const parts = s.split(',');
  if (parts.length !== 3) ctx.fail('rlimits', `cannot parse rlimit "${s}": want TYPE,SOFT,HARD`);
  let type = parts[0]!.trim().toUpperCase();
  if (!type.startsWith('RLIMIT_')) type = 'RLIMIT_' + type;
  if (!RLIMIT_NAMES.has(type)) ctx.fail('rlimits', `unknown rlimit "${parts[0]!.trim()}"`);
  const num = (v: string): number => {
    const t = v.trim();
    if (t.toLowerCase() === 'unlimited') return RLIM_INFINITY;
    if (!/^\d+$/.test(t)) ctx.fail('rlimits', `cannot parse "${t}" in rlimit "${s}" as a number or unlimited`);
    return Number(t);
  };
  return { type, soft: num(parts[1]!), hard: num(parts[2]!) };
}

function isAbs(p: string): boolean {
  return p.startsWith('/');
}

function resources(spec: ResourcesSpec | undefined): Resources {
  if (spec === undefined) return {};
  const out: Resources = {};
  if (spec.devices) out.devices = spec.devices.map((d) => dropUndefined({ allow: d.allow ?? false, type: d.type, major: d.major, minor: d.minor, access: d.access }));
  if (spec.memory) out.memory = dropUndefined({ ...spec.memory });
  if (spec.cpu) out.cpu = dropUndefined({ ...spec.cpu });
  if (spec.pids?.limit !== undefined) out.pids = { limit: spec.pids.limit };
  if (spec.blockio) {
    const b = spec.blockio;
    const dev = <T extends object>(l: T[] | undefined): T[] | undefined => l?.map((x) => dropUndefined({ ...x }) as T);
    out.blockIO = dropUndefined({
      weight: b.weight,
      leafWeight: b.leafWeight,
      weightDevice: dev(b.weightDevice) as never,
      throttleReadBpsDevice: dev(b.throttleReadBpsDevice) as never,
      throttleWriteBpsDevice: dev(b.throttleWriteBpsDevice) as never,
      throttleReadIOPSDevice: dev(b.throttleReadIOPSDevice) as never,
      throttleWriteIOPSDevice: dev(b.throttleWriteIOPSDevice) as never,
    });
  }
  if (spec.hugepageLimits) out.hugepageLimits = spec.hugepageLimits.map((h) => ({ pageSize: String(h.pageSize ?? ''), limit: h.limit ?? 0 }));
  if (spec.network) out.network = dropUndefined({ classID: spec.network.classID, priorities: spec.network.priorities?.map((p) => ({ name: p.name ?? '', priority: p.priority ?? 0 })) });
  return out;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function idMappings(l: ReadonlyArray<{ containerID?: number; hostID?: number; size?: number }> | undefined): IDMapping[] {
  return (l ?? []).map((m) => ({ containerID: m.containerID ?? 0, hostID: m.hostID ?? 0, size: m.size ?? 0 }));
}

function mountOf(m: MountSpec): Mount {
  const out: Mount = { destination: m.destination ?? '' };
  if (m.type) out.type = m.type;
  if (m.source) out.source = m.source;
  if (m.options && m.options.length > 0) out.options = [...m.options];
  if (m.uidMappings?.length) out.uidMappings = idMappings(m.uidMappings);
  if (m.gidMappings?.length) out.gidMappings = idMappings(m.gidMappings);
  return out;
}

/** The image's `User` ("uid", "uid:gid", "name", "name:group") as numbers, where it can be resolved. */
function imageUser(user: string | undefined, resolve: RuntimeConfigInput['resolveImageUser']): { uid?: number; gid?: number } {
  if (!user) return {};
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const one = (v: string | undefined, kind: 'user' | 'group'): number | undefined => {
    if (v === undefined || v === '') return undefined;
    if (/^\d+$/.test(v)) return Number(v);
    return resolve?.(v, kind);
  };
  const out: { uid?: number; gid?: number } = {};
  const uid = one(u, 'user');
  const gid = one(g, 'group');
  if (uid !== undefined) out.uid = uid;
  if (gid !== undefined) out.gid = gid;
  return out;
}

const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** The namespace a sysctl belongs to, as runc decides which ones a container may set. */
function sysctlNamespace(key: string): Namespace['type'] | undefined {
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key.startsWith('net.')) return 'network';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return undefined;
}

export function generateRuntimeConfig(input: RuntimeConfigInput): GeneratedRuntimeConfig {
  const entry = input.entry;
  const label: ImageLabelConfig = input.label ?? {};
  const image: ContainerConfig = input.image ?? {};
  const ctx: Context = new Context(entry, label);

  const bundleDir = posix.normalize(input.bundleDir).replace(/\/+$/, '');
  if (!isAbs(bundleDir) || bundleDir === '') {
    throw new CoracleError(`${entry.name}: bundle directory ${input.bundleDir} must be an absolute path in the booted system`);
  }

  // process: command, env and cwd may come from the image (Dockerfile-style).
  const args = entry.command ?? label.command ?? [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  const env = entry.env ?? label.env ?? image.Env ?? [];
  const cwd = pickNonEmpty(entry, label, 'cwd') ?? (image.WorkingDir ? image.WorkingDir : '/');
  if (!isAbs(cwd)) ctx.fail('cwd', `cwd ${cwd} must be absolute`);

  const readonly = pick(entry, label, 'readonly') ?? true;

  // mounts, keyed by destination: a later definition of a destination replaces an earlier one.
  const mounts = new Map<string, Mount>();
  mounts.set('/proc', { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec', 'relatime'] });
  mounts.set('/dev', { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k', ...(readonly ? ['ro'] : [])] });
  mounts.set('/dev/pts', { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] });
  mounts.set('/sys', { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...(readonly ? ['ro'] : [])] });
  mounts.set('/sys/fs/cgroup', { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });

  for (const t of pick(entry, label, 'tmpfs') ?? []) {
    const parts = t.split(':');
    if (parts.length > 2) ctx.fail('tmpfs', `cannot parse tmpfs "${t}": too many ':'`);
    const dest = parts[0]!;
    if (!isAbs(dest)) ctx.fail('tmpfs', `tmpfs destination ${dest} must be absolute`);
    const m: Mount = { destination: dest, type: 'tmpfs', source: 'tmpfs' };
    if (parts.length === 2 && parts[1] !== '') m.options = parts[1]!.split(',');
    mounts.set(dest, m);
  }

  const binds = entry.binds ?? [...new Set(concatLists(label.binds, entry.bindsAdd))];
  const bindKey = entry.binds !== undefined ? 'binds' : entry.bindsAdd !== undefined ? 'bindsAdd' : 'binds';
  for (const b of binds) {
    const parts = b.split(':');
    if (parts.length < 2) ctx.fail(bindKey, `cannot parse bind "${b}": missing ':'`);
    if (parts.length > 3) ctx.fail(bindKey, `cannot parse bind "${b}": too many ':'`);
    const [src, dest] = parts as [string, string];
    if (!isAbs(dest)) ctx.fail(bindKey, `bind destination ${dest} in "${b}" must be absolute`);
    // without options LinuxKit binds read-write, recursively, shared
    const options = parts.length === 3 ? [...parts[2]!.split(',').filter((o) => o !== ''), 'rbind'] : ['rw', 'rbind', 'rshared'];
    mounts.set(dest, { destination: dest, type: 'bind', source: src, options });
  }

  for (const m of pick(entry, label, 'mounts') ?? []) {
    let type = m.type ?? '';
    let src = m.source ?? '';
    let dest = m.destination ?? '';
    if (type === '' && ['mqueue', 'devpts', 'proc', 'sysfs', 'cgroup'].includes(src)) type = src;
    if (type === '' && dest === '/dev') type = 'tmpfs';
    if (type === '') ctx.fail('mounts', `mount for destination ${dest} is missing a type`);
    if (src === '') src = type;
    if (dest === '') dest = DEFAULT_MOUNT_POINT[type] ?? '';
    if (dest === '') ctx.fail('mounts', `mount of type ${type} is missing a destination`);
    mounts.set(dest, mountOf({ ...m, type, source: src, destination: dest }));
  }
  // Sorted by destination: deterministic, and /dev comes before /dev/pts.
  const mountList = [...mounts.values()].sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));

  // namespaces
  const namespaces: Namespace[] = [];
  const shared = (key: 'net' | 'ipc' | 'uts' | 'pid' | 'userns', type: Namespace['type'], fallback: string): void => {
    const v = pickNonEmpty(entry, label, key) ?? fallback;
    if (v === 'host' || v === 'root') return;
    if (v === 'new' || v === 'none') namespaces.push({ type });
    else if (isAbs(v)) namespaces.push({ type, path: v });
    else ctx.fail(key, `${key}: "${v}" is not host, new${key === 'net' ? ', none' : ''} or an absolute namespace path`);
  };
  shared('net', 'network', 'root');
  shared('ipc', 'ipc', 'root');
  shared('uts', 'uts', 'root');
  shared('pid', 'pid', 'new');
  shared('userns', 'user', 'root');
  namespaces.push({ type: 'mount' }, { type: 'cgroup' });

  // capabilities
  const capsKey = entry.capabilities !== undefined ? 'capabilities' : entry.capabilitiesAdd !== undefined ? 'capabilitiesAdd' : 'capabilities';
  const caps = expandCaps(ctx, capsKey, entry.capabilities ?? concatLists(label.capabilities, entry.capabilitiesAdd));
  const ambient = expandCaps(ctx, 'ambient', pick(entry, label, 'ambient') ?? []);
  const bounding = [...new Set([...caps, ...ambient])].sort();

  const rlimits = (pick(entry, label, 'rlimits') ?? []).map((s) => parseRlimit(ctx, s));

  // uid/gid: a number, root, or the name of a container (its allocated id)
  const fromImage = imageUser(image.User, input.resolveImageUser);
  const idOf = (key: 'uid' | 'gid', v: IdValue | undefined): number => {
    const n = resolveId(v, input.ids);
    if (n === undefined) ctx.fail(key, `cannot find id: ${String(v)} (a ${key} is a number, root, or the name of a container in the spec)`);
    return n;
  };
  const uidV = pick(entry, label, 'uid');
  const gidV = pick(entry, label, 'gid');
  const uid = uidV !== undefined ? idOf('uid', uidV) : (fromImage.uid ?? 0);
  const gid = gidV !== undefined ? idOf('gid', gidV) : (fromImage.gid ?? 0);
  const additionalGids = (pick(entry, label, 'additionalGids') ?? []).map((g) => {
    const n = resolveId(g, input.ids);
    if (n === undefined) ctx.fail('additionalGids', `cannot find id: ${String(g)}`);
    return n;
  });

  // devices: nodes in the container plus the cgroup rules to use them
  const res = resources(pick(entry, label, 'resources'));
  const linuxDevices: Device[] = [];
  const devRules: DeviceCgroup[] = [];
  for (const d of (pick(entry, label, 'devices') ?? []) as DeviceSpec[]) {
    const type = d.type ?? '';
    if (!['c', 'b', 'u', 'p', 'a'].includes(type)) ctx.fail('devices', `device ${d.path ?? ''}: type "${type}" is not c, b, u or p`);
    if (d.path === 'all') {
      devRules.push({ allow: true, type, access: 'rwm' });
      continue;
    }
    if (!d.path || !isAbs(d.path)) ctx.fail('devices', `device path "${d.path ?? ''}" must be absolute (or "all")`);
    const modeStr = d.mode ?? '';
    if (!/^[0-7]+$/.test(modeStr)) ctx.fail('devices', `device ${d.path}: cannot parse mode "${modeStr}" as an octal value`);
    const dev: Device = { path: d.path, type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: parseInt(modeStr, 8) };
    linuxDevices.push(dev);
    devRules.push({ allow: true, type, major: dev.major!, minor: dev.minor!, access: 'rwm' });
  }
  if (devRules.length > 0) res.devices = [...(res.devices ?? []), ...devRules];

  // config.json
  const proc: NonNullable<Spec['process']> = {
    user: { uid, gid, ...(additionalGids.length > 0 ? { additionalGids } : {}) },
    args,
    env,
    cwd,
    // Inheritable only what must survive exec as ambient: a file's inheritable
    // capabilities then grant nothing (Docker's fix for CVE-2022-24769).
    capabilities: { bounding, effective: caps, inheritable: ambient, permitted: bounding, ambient },
  };
  if (args.length === 0) ctx.fail('command', 'no command: the image has no Entrypoint/Cmd and neither the label nor the spec sets `command`');
  if (rlimits.length > 0) proc.rlimits = rlimits;
  if (pick(entry, label, 'noNewPrivileges') ?? true) proc.noNewPrivileges = true;
  const oom = pick(entry, label, 'oomScoreAdj');
  if (oom !== undefined) proc.oomScoreAdj = oom;

  const config: Spec = {
    ociVersion: OCI_RUNTIME_VERSION,
    process: proc,
    root: { path: `${bundleDir}/rootfs`, ...(readonly ? { readonly: true } : {}) },
    mounts: mountList,
    linux: { namespaces },
  };
  const hostname = pickNonEmpty(entry, label, 'hostname');
  if (hostname !== undefined) {
    // runc refuses to set a hostname in a UTS namespace it does not own.
    if (!namespaces.some((n) => n.type === 'uts' && n.path === undefined)) {
      ctx.fail('hostname', `hostname ${hostname} needs its own UTS namespace: add \`uts: new\``);
    }
    config.hostname = hostname;
  }
  const annotations = pick(entry, label, 'annotations');
  if (annotations && Object.keys(annotations).length > 0) config.annotations = { ...annotations };

  const linux = config.linux!;
  const uidMappings = idMappings(pick(entry, label, 'uidMappings'));
  const gidMappings = idMappings(pick(entry, label, 'gidMappings'));
  if (namespaces.some((n) => n.type === 'user' && n.path === undefined) && (uidMappings.length === 0 || gidMappings.length === 0)) {
    // runc: "user namespaces enabled, but no uid mappings found"
    ctx.fail('userns', 'a new user namespace needs uidMappings and gidMappings');
  }
  if (uidMappings.length > 0) linux.uidMappings = uidMappings;
  if (gidMappings.length > 0) linux.gidMappings = gidMappings;
  const sysctl = pick(entry, label, 'sysctl');
  if (sysctl && Object.keys(sysctl).length > 0) {
    for (const key of Object.keys(sysctl)) {
      const need = sysctlNamespace(key);
      if (need === undefined) ctx.fail('sysctl', `sysctl ${key} is not namespaced: a container cannot set it (runc refuses it)`);
      if (!namespaces.some((n) => n.type === need)) ctx.fail('sysctl', `sysctl ${key} needs its own ${need} namespace: add \`${need === 'network' ? 'net' : need}: new\``);
    }
    linux.sysctl = { ...sysctl };
  }
  linux.resources = res;
  const cgroupsPath = pick(entry, label, 'cgroupsPath');
  if (cgroupsPath) linux.cgroupsPath = cgroupsPath;
  if (linuxDevices.length > 0) linux.devices = linuxDevices;
  const propagation = pick(entry, label, 'rootfsPropagation');
  if (propagation) linux.rootfsPropagation = propagation;
  const masked = pick(entry, label, 'maskedPaths');
  if (masked && masked.length > 0) linux.maskedPaths = [...masked];
  const roPaths = pick(entry, label, 'readonlyPaths');
  if (roPaths && roPaths.length > 0) linux.readonlyPaths = [...roPaths];
  const seccomp = pick(entry, label, 'seccomp') ?? 'default';
  if (seccomp === 'default') linux.seccomp = defaultSeccompProfile(bounding);
  else if (seccomp !== 'unconfined') {
    // a profile file: loadSpecs read it (only a spec entry may name one)
    if (entry.seccomp !== seccomp || entry.seccompProfile === undefined) ctx.fail('seccomp', `seccomp profile ${seccomp} was not loaded`);
    linux.seccomp = entry.seccompProfile;
  }

  // runtime.json: the label's runtime, replaced key by key by the YAML's
  const lr = label.runtime ?? {};
  const yr = entry.runtime ?? {};
  const bind = (k: keyof NonNullable<typeof yr.bindNS>): string => yr.bindNS?.[k] ?? lr.bindNS?.[k] ?? '';

  // The image's files are unpacked in rootfs/ (or, for a second container
  // of the same image, bound there from the first one's). A read-only root is
  // bound onto itself so it is a mount point, as runc prefers (LinuxKit does
  // the same). A writable root gets its overlay from the init: a tmpfs upper
  // layer over rootfs/, so writes never reach the image files, which other
  // containers may share as hardlinks. Both binds are private: the host's
  // root is shared, and a bind of a shared mount joins its peer group, so a
  // writable container's overlay on its bind would otherwise propagate onto
  // the holder's copy and every other container's bind of it.
  const rootfs = `${bundleDir}/rootfs`;
  const rootfsMounts: Mount[] =
    input.imageRoot !== undefined
      ? [{ source: input.imageRoot, destination: rootfs, options: ['bind', 'private'] }]
      : readonly
        ? [{ source: rootfs, destination: rootfs, options: ['bind', 'private'] }]
        : [];
  const runtime: LinuxKitRuntime = {
    cgroups: [...(yr.cgroups ?? lr.cgroups ?? [])],
    mounts: [...rootfsMounts, ...(yr.mounts ?? lr.mounts ?? []).map(mountOf)],
    mkdir: [...(yr.mkdir ?? lr.mkdir ?? [])],
    interfaces: (yr.interfaces ?? lr.interfaces ?? []).map((i) => dropUndefined({ name: i.name, add: i.add, peer: i.peer, createInRoot: i.createInRoot ?? false })),
    bindNS: { cgroup: bind('cgroup'), ipc: bind('ipc'), mnt: bind('mnt'), net: bind('net'), pid: bind('pid'), user: bind('user'), uts: bind('uts') },
    namespace: yr.namespace ?? lr.namespace ?? '',
  };

  const mountpoints = input.imageRoot !== undefined ? ['rootfs'] : [];
  return { config, runtime, readonly, unpackDir: 'rootfs', mountpoints };
}
