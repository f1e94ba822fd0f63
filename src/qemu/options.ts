/**
 * Parsing of `coracle run qemu` option values (LinuxKit's syntax) into
 * typed values. Pure functions: errors are CoracleError naming the option.
 */
import { CoracleError } from '../errors.js';

export interface PublishSpec {
  /** host address to bind; undefined = all interfaces (QEMU's default) */
  hostAddress?: string;
  hostPort: number;
  guestPort: number;
  protocol: 'tcp' | 'udp';
}

export interface DiskSpec {
  path: string;
  /** size for a new disk, as qemu-img takes it (e.g. 1G, 512M); undefined = must exist */
  size?: string;
  format: string;
}

function port(s: string, what: string, value: string): number {
  if (!/^\d+$/.test(s)) throw new CoracleError(`--publish ${value}: ${what} port "${s}" is not a number`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new CoracleError(`--publish ${value}: ${what} port ${n} is out of range 1-65535`);
  return n;
}

/** `[HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]` */
export function parsePublish(value: string): PublishSpec {
  let rest = value.trim();
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new CoracleError(`--publish ${value}: protocol must be tcp or udp, not "${p}"`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  if (parts.length < 2 || parts.length > 3) {
    throw new CoracleError(`--publish ${value}: expected [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|udp]`);
  }
  const guest = parts.pop()!;
  const host = parts.pop()!;
  const hostAddress = parts.pop();
  if (hostAddress !== undefined && !/^[0-9.]+$/.test(hostAddress)) {
    throw new CoracleError(`--publish ${value}: host address "${hostAddress}" is not an IPv4 address`);
  }
  return { hostAddress: hostAddress || undefined, hostPort: port(host, 'host', value), guestPort: port(guest, 'guest', value), protocol };
}

const FORMATS = new Set(['raw', 'qcow2', 'vmdk', 'vdi', 'vhdx', 'qed']);

/** `[file=]PATH[,size=SIZE][,format=FORMAT]` (format defaults to qcow2 for a new disk, else from the extension). */
export function parseDisk(value: string): DiskSpec {
  let path: string | undefined;
  let size: string | undefined;
  let format: string | undefined;
  for (const [i, part] of value.split(',').entries()) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (i !== 0) throw new CoracleError(`--disk ${value}: "${part}" is not KEY=VALUE`);
      path = part;
      continue;
    }
    const k = part.slice(0, eq);
    const v = part.slice(eq + 1);
    if (k === 'file') path = v;
    else if (k === 'size') {
      if (!/^\d+[KMGT]?$/i.test(v)) throw new CoracleError(`--disk ${value}: size "${v}" must be a number with an optional K/M/G/T suffix`);
      size = /^\d+$/.test(v) ? `${v}M` : v.toUpperCase();
    } else if (k === 'format') {
      if (!FORMATS.has(v)) throw new CoracleError(`--disk ${value}: unknown format "${v}" (one of ${[...FORMATS].join(', ')})`);
      format = v;
    } else throw new CoracleError(`--disk ${value}: unknown key "${k}" (file, size, format)`);
  }
  if (!path) throw new CoracleError(`--disk ${value}: no file given`);
  if (!format) {
    const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
    format = ext && FORMATS.has(ext) ? ext : ext === 'img' ? 'raw' : 'qcow2';
  }
  return { path, size, format };
}

/** `--mem` in MiB: 1024, 1024M, 2G. */
export function parseMem(value: string): number {
  const m = /^(\d+)([MG]?)$/i.exec(value.trim());
  if (!m) throw new CoracleError(`--mem ${value}: expected MiB, or a number with M or G`);
  const n = Number(m[1]) * (m[2]?.toUpperCase() === 'G' ? 1024 : 1);
  if (n < 64) throw new CoracleError(`--mem ${value}: at least 64 MiB`);
  return n;
}

export function parseCpus(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CoracleError(`--cpus ${value}: expected a positive number`);
  return Number(value);
}

export type AccelChoice = 'auto' | 'kvm' | 'tcg';

export function parseAccel(value: string): AccelChoice {
  if (value === 'auto' || value === 'kvm' || value === 'tcg') return value;
  throw new CoracleError(`--accel ${value}: expected auto, kvm or tcg`);
}
