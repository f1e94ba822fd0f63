/**
 * /etc/coracle/boot.conf: what the guest init cannot cheaply find out for
 * itself at boot, decided once at build time (sh syntax, sourced by
 * images/init's lib.sh):
 *   RUNTIME=crun|runc      the OCI runtime for onboot, onshutdown and services
 *   CONTAINERD_EARLY=1|0   containerd may start while onboot runs
 */
import { CoracleError } from '../errors.js';
import { dirChain } from '../initrd/tree.js';
import type { InitrdEntry } from '../initrd/types.js';
import type { Mount } from '../runtime/types.js';
import type { SourceLocation } from '../spec/types.js';
import type { ContainerPlan } from './containers.js';

export const OCI_RUNTIMES = ['crun', 'runc'] as const;
export type OciRuntime = (typeof OCI_RUNTIMES)[number];

/** Where each runtime's image puts it (the guest finds it on PATH). */
export const RUNTIME_PATHS: Record<OciRuntime, readonly string[]> = {
  crun: ['usr/bin/crun', 'usr/sbin/crun'],
  runc: ['usr/sbin/runc', 'usr/bin/runc'],
};

/** containerd's root and state folders (images/containerd/config.toml). */
export const CONTAINERD_DIRS = ['/var/lib/containerd', '/run/containerd'] as const;

export const BOOT_CONF_PATH = 'etc/coracle/boot.conf';

export interface BootConf {
  runtime: OciRuntime;
  /** false: an onboot container mounts under containerd's folders, so containerd starts after onboot. */
  containerdEarly: boolean;
  /** The onboot container and path that hold containerd back. */
  containerdAfter?: string;
}

/**
 * The runtime a system uses: the one asked for (build option over spec),
 * which an init image must hold; else crun when an init image holds it, else runc.
 */
export function chooseRuntime(
  asked: { runtime: OciRuntime; loc?: SourceLocation; option?: boolean } | undefined,
  present: ReadonlySet<OciRuntime>,
): OciRuntime {
  if (asked) {
    if (!present.has(asked.runtime)) {
      const where = asked.option ? 'build --runtime' : asked.loc ? `${asked.loc.file}:${asked.loc.line}:${asked.loc.col}: runtime` : 'runtime';
      throw new CoracleError(`${where}: ${asked.runtime}, but no init image holds /${RUNTIME_PATHS[asked.runtime][0]} (list "@pkg:.../images/${asked.runtime}" under init:)`);
    }
    return asked.runtime;
  }
  return present.has('crun') ? 'crun' : 'runc';
}

/** The runtimes an image's file list holds. */
export function runtimesIn(paths: Iterable<string>): OciRuntime[] {
  const set = new Set(paths);
  return OCI_RUNTIMES.filter((r) => RUNTIME_PATHS[r].some((p) => set.has(p)));
}

function related(a: string, b: string): boolean {
  const norm = (p: string) => (p.endsWith('/') && p !== '/' ? p.slice(0, -1) : p);
  const x = norm(a);
  const y = norm(b);
  const under = (p: string, q: string) => p === q || q === '/' || p.startsWith(`${q}/`);
  return under(x, y) || under(y, x);
}

function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/**
 * The first onboot mount that reaches containerd's root or state: a bind of
 * a host folder above or below them (what the container mounts there can
 * propagate back to the host), or a runtime.json mount on the host there.
 */
export function containerdBlocker(onboot: readonly ContainerPlan[]): string | undefined {
  for (const p of onboot) {
    const spec = JSON.parse(p.configJson) as { mounts?: Mount[] };
    for (const m of spec.mounts ?? []) {
      if (!isBind(m) || m.source === undefined || !m.source.startsWith('/')) continue;
      const hit = CONTAINERD_DIRS.find((d) => related(m.source!, d));
      if (hit) return `onboot ${p.entry.name} binds ${m.source} (containerd's ${hit})`;
    }
    const rt = JSON.parse(p.runtimeJson || '{}') as { mounts?: Mount[] };
    for (const m of rt.mounts ?? []) {
      if (m.destination === undefined) continue;
      const hit = CONTAINERD_DIRS.find((d) => related(m.destination, d));
      if (hit) return `onboot ${p.entry.name} mounts ${m.destination} (containerd's ${hit})`;
    }
  }
  return undefined;
}

export function bootConfText(c: BootConf): string {
  const lines = ['# written by coracle build; sourced by /usr/lib/coracle/lib.sh', `RUNTIME=${c.runtime}`];
  if (c.containerdAfter) lines.push(`# containerd after onboot: ${c.containerdAfter.replace(/\n/g, ' ')}`);
  lines.push(`CONTAINERD_EARLY=${c.containerdEarly ? 1 : 0}`);
  return `${lines.join('\n')}\n`;
}

/** The file's entries, with the folders the init images do not already create. */
export function bootConfEntries(c: BootConf, existingDirs: ReadonlySet<string>): InitrdEntry[] {
  const dirs = dirChain('etc/coracle').filter((d) => !existingDirs.has(d.path));
  const data = new TextEncoder().encode(bootConfText(c));
  return [...dirs, { path: BOOT_CONF_PATH, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data }, replace: true }];
}
