import { parseReference } from '../oci/ref.js';
import { CoracleError } from '../errors.js';
import { isPkgRef, pkgRefProblem } from './pkg-ref.js';
import { CAPABILITIES, RLIMITS } from '../linux/names.js';

/**
 * Value rules LinuxKit applies to single spec values, some at parse time
 * (its JSON schema) and some only when it builds (ConfigToOCI, filesystem):
 * we check them all up front. Each returns an error message or undefined.
 */

/** Capabilities as `moby/sys/capability` lists them (LinuxKit's allCaps). */
export const KNOWN_CAPABILITIES: readonly string[] = CAPABILITIES;
const CAPS = new Set(KNOWN_CAPABILITIES);

/** RLIMIT_* names runc accepts (LinuxKit's list). */
export const KNOWN_RLIMITS: readonly string[] = RLIMITS;

export const ROOTFS_PROPAGATIONS: readonly string[] = [
  'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable',
];

/** `seccomp:` values that name no file. */
export const SECCOMP_MODES: readonly string[] = ['default', 'unconfined'];

/** True when a `seccomp` value names a profile file rather than a mode. */
export function isSeccompProfilePath(v: string): boolean {
  return !SECCOMP_MODES.includes(v);
}

/** `seccomp`: a mode, or the path of a JSON profile. */
export function seccompProblem(v: string): string | undefined {
  if (SECCOMP_MODES.includes(v)) return undefined;
  if (/\.json$/i.test(v) && v.length > '.json'.length) return undefined;
  return `invalid seccomp "${v}": expected default, unconfined or the path of a JSON profile (FILE.json)`;
}

export function imageRefProblem(ref: string): string | undefined {
  if (isPkgRef(ref)) return pkgRefProblem(ref);
  try {
    parseReference(ref);
    return undefined;
  } catch (e) {
    if (e instanceof CoracleError) return e.message;
    throw e;
  }
}

/** `capabilities`/`ambient`: known names; a single `all` or `none` (any case) stands for every / no capability. */
export function capabilityListProblems(caps: string[], allowAllNone: boolean): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  caps.forEach((c, index) => {
    const lower = c.toLowerCase();
    if (lower === 'all' || lower === 'none') {
      if (!allowAllNone) out.push({ index, message: `"${c}" is not allowed here; list capability names such as CAP_NET_ADMIN` });
      else if (caps.length !== 1) out.push({ index, message: `"${c}" must be the only item of the list` });
      return;
    }
    if (!CAPS.has(c)) {
      const upper = c.toUpperCase();
      const guess = CAPS.has(upper) ? upper : CAPS.has(`CAP_${upper}`) ? `CAP_${upper}` : undefined;
      out.push({ index, message: `unknown capability "${c}"${guess ? `; did you mean "${guess}"?` : ''}` });
    }
  });
  return out;
}

export interface BindSpec {
  source: string;
  destination: string;
  /** Options after the second colon, or undefined when none were given (LinuxKit then uses rw,rbind,rshared). */
  options?: string[];
}

/** Split a `binds` string `SOURCE:DESTINATION[:OPT,OPT]` as LinuxKit does. */
export function parseBind(bind: string): BindSpec | string {
  const parts = bind.split(':');
  if (parts.length < 2) return `invalid bind "${bind}": expected SOURCE:DESTINATION[:OPTIONS]`;
  if (parts.length > 3) return `invalid bind "${bind}": too many ":" (expected SOURCE:DESTINATION[:OPTIONS])`;
  const [source, destination, opts] = parts as [string, string, string | undefined];
  if (source === '') return `invalid bind "${bind}": empty source`;
  if (destination === '') return `invalid bind "${bind}": empty destination`;
  if (opts !== undefined && opts.split(',').some((o) => o === ''))
    return `invalid bind "${bind}": empty mount option`;
  return { source, destination, options: opts === undefined ? undefined : opts.split(',') };
}

/** `tmpfs` strings: `DESTINATION[:OPT,OPT]`. */
export function tmpfsProblem(t: string): string | undefined {
  const parts = t.split(':');
  if (parts.length > 2) return `invalid tmpfs "${t}": too many ":" (expected DESTINATION[:OPTIONS])`;
  if (parts[0] === '') return `invalid tmpfs "${t}": empty destination`;
  return undefined;
}

/** `rlimits` strings: `NAME,SOFT,HARD` with numbers or `unlimited`. */
export function rlimitProblem(r: string): string | undefined {
  const parts = r.split(',');
  if (parts.length !== 3) return `invalid rlimit "${r}": expected NAME,SOFT,HARD`;
  let name = parts[0]!.trim().toUpperCase();
  if (!name.startsWith('RLIMIT_')) name = `RLIMIT_${name}`;
  if (!KNOWN_RLIMITS.includes(name)) return `invalid rlimit "${r}": unknown limit "${parts[0]!.trim()}"`;
  for (const v of parts.slice(1)) {
    const t = v.trim();
    if (t.toLowerCase() !== 'unlimited' && !/^\d+$/.test(t))
      return `invalid rlimit "${r}": "${t}" is not a number or "unlimited"`;
    if (/^\d+$/.test(t) && BigInt(t) > 0xffffffffffffffffn) return `invalid rlimit "${r}": "${t}" is too large`;
  }
  return undefined;
}

/** Octal permission strings as LinuxKit parses them (strconv.ParseInt(s, 8, ...)): up to 07777 here. */
export function parseOctalMode(mode: string): number | undefined {
  if (!/^[0-7]{1,5}$/.test(mode)) return undefined;
  const n = parseInt(mode, 8);
  return n <= 0o7777 ? n : undefined;
}

/**
 * Namespace settings (`net`, `pid`, `ipc`, `uts`, `userns`): `host`/`root`
 * share the host's, `new` makes one (`none` too, for net), anything else is a
 * path to an existing namespace and must be absolute.
 */
export function namespaceProblem(key: string, value: string): string | undefined {
  const words = key === 'net' ? ['host', 'root', 'new', 'none'] : ['host', 'root', 'new'];
  if (value === '' || words.includes(value) || value.startsWith('/')) return undefined;
  return `invalid ${key} "${value}": expected ${words.map((w) => `"${w}"`).join(', ')} or an absolute path to a namespace`;
}

/** `os/arch[/variant]`. */
export function platformProblem(p: string): string | undefined {
  if (/^[a-z0-9_]+\/[a-z0-9_]+(?:\/[a-z0-9_.]+)?$/.test(p)) return undefined;
  return `invalid platform "${p}": expected OS/ARCH[/VARIANT], e.g. linux/amd64`;
}

/** Volume names LinuxKit accepts (it uses them as directory names). */
export const VOLUME_NAME = /^[a-z0-9_-]+$/;

/**
 * Container names become directory names under /containers and containerd ids:
 * keep them to containerd's identifier characters.
 */
export function containerNameProblem(name: string): string | undefined {
  if (name === '') return 'name must not be empty';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    return `invalid name "${name}": use letters, digits, ".", "_" and "-", starting with a letter or digit`;
  return undefined;
}

/** Mount points LinuxKit fills in when a mount of these types names none. */
export const DEFAULT_MOUNTPOINTS: Readonly<Record<string, string>> = {
  proc: '/proc',
  devpts: '/dev/pts',
  sysfs: '/sys',
  cgroup: '/sys/fs/cgroup',
  mqueue: '/dev/mqueue',
};

/**
 * A container `mounts` entry as LinuxKit completes it: a missing type comes
 * from a special source (proc, sysfs ...) or is tmpfs for /dev; a missing
 * destination from the type. What cannot be completed is an error.
 */
// Relative destinations are allowed: runc resolves them inside the rootfs, and LinuxKit's own tests use them.
export function mountProblem(m: { type?: string; source?: string; destination?: string }): { message: string } | undefined {
  let type = m.type ?? '';
  if (type === '' && m.source !== undefined && ['mqueue', 'devpts', 'proc', 'sysfs', 'cgroup'].includes(m.source)) type = m.source;
  if (type === '' && m.destination === '/dev') type = 'tmpfs';
  if (type === '') return { message: `mount${m.destination ? ` at ${m.destination}` : ''} needs a "type"` };
  const destination = m.destination || DEFAULT_MOUNTPOINTS[type];
  if (!destination) return { message: `mount of type "${type}" needs a "destination"` };
  return undefined;
}

/** `restart:` of a service (Coracle's key): when the guest init starts it again after it exits. */
export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

/**
 * A duration as Go writes one (`30s`, `1m30s`, `500ms`) in milliseconds;
 * undefined when it is not one. Unlike test files' durations
 * (src/testing/duration.ts), a spec's need a unit: LinuxKit-style YAML
 * elsewhere reads a bare number as nanoseconds or seconds depending on the tool.
 */
export function parseGoDuration(v: string): number | undefined {
  if (!DURATION.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(ms);
}

/**
 * `timeout:` of an onboot or onshutdown container (a positive duration), or
 * a service's `stop_timeout:` (`what`; zero allowed: SIGKILL at once).
 */
export function durationProblem(v: unknown, what: 'timeout' | 'stop_timeout' = 'timeout'): string | undefined {
  const hint = 'expected a duration such as "30s", "2m" or "1m30s"';
  if (typeof v === 'number') return `invalid ${what} ${v}: ${hint} (a number has no unit)`;
  if (typeof v !== 'string') return `invalid ${what}: ${hint}`;
  const ms = parseGoDuration(v);
  if (ms === undefined) return `invalid ${what} "${v}": ${hint}`;
  if (ms < 1 && what === 'timeout') return `invalid ${what} "${v}": must be longer than 0`;
  return undefined;
}
