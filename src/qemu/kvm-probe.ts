/**
 * Whether KVM really works here. /dev/kvm existing is not enough: on some
 * hosts `-accel kvm` asserts or hangs, and a real-mode payload is not
 * enough either (on such a host a boot sector runs fine and the kernel
 * hangs as soon as it leaves real mode). So the probe boots the kernel we
 * are about to run, without an initrd, `panic=-1` and `-no-reboot`: a
 * working KVM prints "Linux version", panics for want of a root, resets,
 * and QEMU exits 0, all in a second or two. Without a kernel, a boot sector
 * writing to isa-debug-exit is the (weaker) payload. Anything else (error,
 * other status, deadline passed: the process is SIGKILLed and not waited
 * for) means no. The answer is cached per machine boot (kernel boot id) and
 * QEMU binary.
 */
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnGuarded } from './guarded-spawn.js';

/** The payload writes this byte to port 0xf4; QEMU then exits with (v << 1) | 1. */
const EXIT_VALUE = 0x2a;
export const PROBE_EXIT_STATUS = (EXIT_VALUE << 1) | 1;

/** A boot sector: mov al, 0x2a; out 0xf4, al; cli; hlt; jmp $-1 ... 0x55aa. */
export function probeBootSector(): Buffer {
  const b = Buffer.alloc(512);
  Buffer.from([0xb0, EXIT_VALUE, 0xe6, 0xf4, 0xfa, 0xf4, 0xeb, 0xfd]).copy(b, 0);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

export interface KvmProbeOptions {
  qemu?: string;
  /** hard deadline for the probe boot (ms); default 8000 */
  timeoutMs?: number;
  /** cache file; undefined = no cache */
  cacheFile?: string;
  /** accel to probe (tests use tcg to check the payload itself); default kvm */
  accel?: 'kvm' | 'tcg';
  /** skip the /dev/kvm access check (tests with a fake qemu) */
  skipDeviceCheck?: boolean;
  /** a kernel (bzImage or PVH vmlinux) to probe with: the strong probe */
  kernel?: string;
}

export interface KvmProbeResult {
  usable: boolean;
  /** why not, or 'ok' */
  reason: string;
  cached: boolean;
  elapsedMs: number;
}

interface CacheEntry {
  bootId: string;
  qemu: string;
  qemuMtimeMs: number;
  usable: boolean;
  reason: string;
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return 'unknown';
  }
}

async function qemuIdentity(qemu: string): Promise<{ path: string; mtimeMs: number }> {
  let path = qemu;
  if (!qemu.includes('/')) {
    for (const dir of (process.env.PATH ?? '').split(':')) {
      const candidate = join(dir, qemu);
      try {
        await access(candidate, constants.X_OK);
        path = candidate;
        break;
      } catch {
        /* next */
      }
    }
  }
  try {
    return { path, mtimeMs: (await stat(path)).mtimeMs };
  } catch {
    return { path, mtimeMs: 0 };
  }
}

/** Run the probe boot once (no cache). */
export async function runKvmProbe(opts: KvmProbeOptions = {}): Promise<{ usable: boolean; reason: string }> {
  const accel = opts.accel ?? 'kvm';
  if (accel === 'kvm' && !opts.skipDeviceCheck) {
    try {
      await access('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return { usable: false, reason: '/dev/kvm is missing or not accessible' };
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'coracle-kvm-probe-'));
  const common = ['-accel', accel, '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-parallel', 'none'];
  let args: string[];
  let succeeded: (code: number | null, out: string) => boolean;
  if (opts.kernel) {
    args = [
      '-machine', 'q35', ...common, '-cpu', accel === 'kvm' ? 'host' : 'max', '-m', '256', '-serial', 'stdio', '-no-reboot',
      '-kernel', opts.kernel, '-append', 'console=ttyS0 panic=-1',
    ];
    succeeded = (code, out) => code === 0 && out.includes('Linux version');
  } else {
    const disk = join(dir, 'probe.img');
    await writeFile(disk, probeBootSector());
    args = [
      '-machine', 'pc', ...common, '-m', '16', '-serial', 'none',
      '-drive', `file=${disk},format=raw,if=ide,index=0`,
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    ];
    succeeded = (code) => code === PROBE_EXIT_STATUS;
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    return await new Promise((resolve) => {
      let stderr = '';
      let stdout = '';
      const child = spawnGuarded(opts.qemu ?? 'qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout?.on('data', (d: Buffer) => {
        if (stdout.length < 65536) stdout += d.toString('latin1');
      });
      const timer = setTimeout(() => {
        // A KVM-wedged QEMU may not even die promptly: kill and move on.
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        child.unref();
        child.stderr?.destroy();
        child.stdout?.destroy();
        resolve({ usable: false, reason: `probe boot did not finish within ${timeoutMs} ms` });
      }, timeoutMs);
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ usable: false, reason: `cannot run QEMU: ${e.message}` });
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (succeeded(code, stdout)) resolve({ usable: true, reason: 'ok' });
        else {
          const first = stderr.trim().split('\n')[0] ?? '';
          resolve({ usable: false, reason: `probe boot ended with ${signal ?? `status ${code}`}${first ? `: ${first}` : ''}` });
        }
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cached probe: one probe boot per machine boot and QEMU binary. */
export async function probeKvm(opts: KvmProbeOptions = {}): Promise<KvmProbeResult> {
  const started = Date.now();
  const qemu = opts.qemu ?? 'qemu-system-x86_64';
  const id = await bootId();
  const q = await qemuIdentity(qemu);
  if (opts.cacheFile) {
    try {
      const c = JSON.parse(await readFile(opts.cacheFile, 'utf8')) as CacheEntry;
      if (c.bootId === id && c.qemu === q.path && c.qemuMtimeMs === q.mtimeMs) {
        return { usable: c.usable, reason: c.reason, cached: true, elapsedMs: Date.now() - started };
      }
    } catch {
      /* no usable cache */
    }
  }
  const r = await runKvmProbe(opts);
  if (opts.cacheFile) await recordKvmVerdict(opts.cacheFile, { qemu, usable: r.usable, reason: r.reason });
  return { ...r, cached: false, elapsedMs: Date.now() - started };
}

/**
 * Write a verdict into the probe cache (for this machine boot and QEMU
 * binary): the probe's, or a later boot's that found KVM stalling.
 */
export async function recordKvmVerdict(cacheFile: string, v: { qemu?: string; usable: boolean; reason: string }): Promise<void> {
  const q = await qemuIdentity(v.qemu ?? 'qemu-system-x86_64');
  const entry: CacheEntry = { bootId: await bootId(), qemu: q.path, qemuMtimeMs: q.mtimeMs, usable: v.usable, reason: v.reason };
  await mkdir(dirname(cacheFile), { recursive: true });
  // whole or not at all: several runs may probe at once
  const tmp = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(entry) + '\n');
  await rename(tmp, cacheFile);
}
