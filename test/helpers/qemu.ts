/**
 * Boot-test helpers: boot any image (the dev image now, `coracle build`
 * outputs later) under QEMU, read console lines, run commands in the
 * console shell (kernel argument `coracle.shell`), shut down.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { expect } from 'vitest';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootFiles, BootSource, Firmware } from '../../src/qemu/args.js';
import { ensureDisk } from '../../src/qemu/disk.js';
import type { DiskSpec, PublishSpec } from '../../src/qemu/options.js';
import { startWatchingKvm } from '../../src/qemu/kvm-guard.js';
import { chooseAccel } from '../../src/qemu/run.js';
import { prepareImageBoot } from '../../src/qemu/boot-image.js';
import { makeSeedIso } from '../../src/qemu/seed.js';
import { QemuVm, type RunResult } from '../../src/qemu/vm.js';
import { devCacheDir, type BootImage } from './dev-initrd.js';

/** Generous bounds: TCG on a busy 2-core machine. */
export const BOOT_TIMEOUT_MS = 240_000;
export const SHUTDOWN_TIMEOUT_MS = 120_000;

export interface BootOptions {
  publish?: PublishSpec[];
  mem?: number;
  /** appended to the image's cmdline */
  extraCmdline?: string;
  /** console log file (default: console.log in a new temporary folder, left for inspection) */
  logFile?: string;
  /** user-data, attached as a NoCloud seed ISO (CD-ROM) */
  userData?: string;
  /** virtio disks, created with qemu-img when missing */
  disks?: DiskSpec[];
}

export interface BootedVm {
  vm: QemuVm;
  logFile: string;
}

/** The KVM probe cache every test boot shares. */
export function kvmCacheFile(): string {
  return join(devCacheDir(), 'kvm-probe.json');
}

/** Boot files from a BootImage (reads NAME-cmdline). */
export async function bootFiles(img: BootImage, extraCmdline = ''): Promise<BootFiles> {
  const cmdline = `${(await readFile(img.cmdline, 'utf8')).trim()} ${extraCmdline}`.trim();
  return { kernel: img.kernel, initrd: img.initrd, cmdline, vmlinux: img.vmlinux };
}

/** Start a VM for a boot image; accel auto (probe cached per machine boot). */
export async function bootVm(img: BootImage, opts: BootOptions = {}): Promise<BootedVm> {
  const boot = await bootFiles(img, opts.extraCmdline);
  const accel = await chooseAccel('auto', { cacheFile: kvmCacheFile(), kernel: boot.vmlinux ?? boot.kernel });
  const logFile = opts.logFile ?? join(await mkdtemp(join(tmpdir(), 'coracle-boot-')), 'console.log');
  await mkdir(join(logFile, '..'), { recursive: true });
  return startLogged({ boot }, accel, opts, logFile);
}

/**
 * Disks, the seed ISO beside the log, the VM started under `accel` (KVM
 * watched: a stall starts it again under TCG), its console in `logFile`.
 */
async function startLogged(machine: { boot: BootFiles | BootSource; firmware?: Firmware }, accel: 'kvm' | 'tcg', opts: Omit<BootOptions, 'extraCmdline'>, logFile: string): Promise<BootedVm> {
  for (const d of opts.disks ?? []) await ensureDisk(d);
  let seedIso: string | undefined;
  if (opts.userData !== undefined) {
    seedIso = join(logFile, '..', 'seed.iso');
    await makeSeedIso(seedIso, { userData: opts.userData });
  }
  const log: WriteStream = createWriteStream(logFile);
  const make = (a: 'kvm' | 'tcg') =>
    new QemuVm({
      ...machine,
      accel: a,
      mem: opts.mem ?? 1024,
      cpus: 1,
      publish: opts.publish ?? [],
      disks: opts.disks ?? [],
      seedIso,
      consoleSinks: [log],
    });
  const { vm } = await startWatchingKvm(make, accel, { auto: true, cacheFile: kvmCacheFile() });
  void vm.wait().then(() => log.end());
  return { vm, logFile };
}

/**
 * GET a published port, asking again while nothing answers: "all services
 * started" means the tasks started, not that a server in one is listening
 * yet (slirp then resets the connection). HTTP errors are returned, not retried.
 */
export async function fetchWhenListening(url: string, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

let marker = 0;

/**
 * Run a command in the guest's console shell and return its output. The
 * markers are built by the shell (`"__B""N__"`), so the terminal's echo of
 * the typed line never matches them.
 */
export async function consoleRun(vm: QemuVm, command: string, timeoutMs = 60_000): Promise<string> {
  const n = ++marker;
  const from = vm.console.length;
  vm.sendConsole(`echo "__B""${n}__"; ${command}; echo "__E""${n}__"\n`);
  const m = await vm.waitForConsole(new RegExp(`__B${n}__\\r?\\n([\\s\\S]*?)__E${n}__`), timeoutMs, from);
  return m[1]!.replace(/\r/g, '');
}

/**
 * Wait until a console shell answers. Input typed before the shell reads
 * (a getty still starting flushes it) is lost, so ask again every few
 * seconds until `timeoutMs`.
 */
export async function waitForShell(vm: QemuVm, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = ++marker;
    const from = vm.console.length;
    vm.sendConsole(`echo "__R""${n}__"\n`);
    try {
      await vm.waitForConsole(new RegExp(`__R${n}__`), Math.min(5_000, Math.max(1, deadline - Date.now())), from);
      return;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
  }
}

/** Power the VM down through the ACPI button and wait for QEMU to exit. */
export async function powerdown(vm: QemuVm, timeoutMs = SHUTDOWN_TIMEOUT_MS): Promise<RunResult> {
  return vm.stop(timeoutMs);
}

/** Lines `coracle: ...` the init printed, in order. */
export function initLines(consoleText: string): string[] {
  return consoleText
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => /coracle: .*/.exec(l)?.[0])
    .filter((l): l is string => !!l);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * Boot and wait for `ready` on the console (then `then`, e.g. a first
 * console command); a VM that does not come up is killed before the error
 * is thrown, so no QEMU outlives its test file.
 */
export async function bootUntilReady(img: BootImage, opts: BootOptions, ready: RegExp, then?: (vm: QemuVm) => Promise<unknown>): Promise<BootedVm> {
  const booted = await bootVm(img, opts);
  try {
    await booted.vm.waitForConsole(ready, BOOT_TIMEOUT_MS);
    if (then) await then(booted.vm);
  } catch (e) {
    booted.vm.kill();
    throw e;
  }
  return booted;
}

/** For afterAll: kill a VM still running, remove the test's folder unless CORACLE_KEEP_BOOT is set. */
export async function cleanupBoot(vm: QemuVm | undefined, dir: string | undefined): Promise<void> {
  if (vm?.running) {
    vm.kill();
    await vm.wait();
  }
  if (dir && !process.env.CORACLE_KEEP_BOOT) await rm(dir, { recursive: true, force: true });
}

/** Assert that every line is present and they appear in this order. */
export function expectInOrder(lines: readonly string[], order: readonly string[]): void {
  const at = order.map((s) => lines.findIndex((l) => l.startsWith(s)));
  for (const [i, v] of at.entries()) expect(v, `${order[i]} in\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
}

/**
 * Boot a built image file (iso, raw, qcow2, vhd, vmdk, uki) as `coracle run
 * qemu FILE` does: format and firmware from the file, OVMF for UEFI (forced
 * with `uefi`). The state (OVMF variables, a UKI's ESP) goes beside the log.
 */
export async function bootImageFile(file: string, opts: Omit<BootOptions, 'extraCmdline'> & { uefi?: boolean; logFile: string }): Promise<BootedVm> {
  const stateDir = join(opts.logFile, '..');
  await mkdir(stateDir, { recursive: true });
  const { boot, firmware } = await prepareImageBoot(file, { stateDir, ...(opts.uefi ? { uefi: true } : {}) });
  const accel = await chooseAccel('auto', { cacheFile: kvmCacheFile() });
  return startLogged({ boot, ...(firmware ? { firmware } : {}) }, accel, opts, opts.logFile);
}
