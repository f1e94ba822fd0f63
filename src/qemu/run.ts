/**
 * runQemu: boot a built image under QEMU until the guest powers off. The
 * library entry behind `coracle run qemu`.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { silentReporter, type Reporter } from '../progress/reporter.js';
import { controlChannelArgs, type BootFiles, type BootSource, type Firmware } from './args.js';
import { prepareImageBoot } from './boot-image.js';
import { ensureDisk } from './disk.js';
import { startWatchingKvm } from './kvm-guard.js';
import { probeKvm } from './kvm-probe.js';
import type { AccelChoice, DiskSpec, PublishSpec } from './options.js';
import { seedIsoFromFile } from './seed.js';
import { QemuVm, type RunResult } from './vm.js';

export interface RunQemuOptions {
  /** kernel + initrd, or a built image file (iso, raw, qcow2, vhd, vmdk, uki: detected from its bytes) */
  boot: BootFiles | { file: string };
  /** boot the image file through UEFI (OVMF) even when it also boots BIOS */
  uefi?: boolean;
  /** MiB, default 1024 */
  mem?: number;
  /** default 1 */
  cpus?: number;
  /** default auto */
  accel?: AccelChoice;
  publish?: PublishSpec[];
  disks?: DiskSpec[];
  /** user-data file, attached as a NoCloud seed ISO */
  userDataFile?: string;
  /** refuse invalid user-data (--user-data); --data attaches it as given */
  validateUserData?: boolean;
  /** folder for the QMP socket, the seed ISO ...; created if missing */
  stateDir: string;
  /** copy the guest console here (e.g. process.stdout) */
  console?: Writable;
  /** also append the console to this file */
  logFile?: string;
  /** forwarded into the guest console (e.g. process.stdin) */
  input?: NodeJS.ReadableStream;
  /** where the KVM probe result is cached (per machine boot) */
  kvmCacheFile?: string;
  qemu?: string;
  reporter?: Reporter;
  /** under auto KVM, how long the guest has to reach its init before the run starts again under TCG (default 30 s) */
  kvmGraceMs?: number;
  /** called once QEMU is up: the CLI hooks Ctrl-C here */
  onStart?: (vm: QemuVm) => void;
  /**
   * Serve the guest control channel (`coracle logs`, `coracle test`'s exec
   * steps) on this Unix socket while the VM runs. A path too long for a
   * socket gets a short one under the temporary folder and a symlink here.
   */
  controlSocket?: string;
  extraArgs?: string[];
}

/** auto: KVM when the probe boots, else TCG; kvm/tcg as asked. */
export async function chooseAccel(
  choice: AccelChoice,
  opts: { qemu?: string; cacheFile?: string; reporter?: Reporter; kernel?: string; timeoutMs?: number } = {},
): Promise<'kvm' | 'tcg'> {
  if (choice !== 'auto') return choice;
  const r = await probeKvm({ qemu: opts.qemu, cacheFile: opts.cacheFile, kernel: opts.kernel, timeoutMs: opts.timeoutMs });
  if (!r.usable) opts.reporter?.info(`KVM not usable (${r.reason}${r.cached ? ', cached' : ''}): using TCG`);
  return r.usable ? 'kvm' : 'tcg';
}

export async function runQemu(opts: RunQemuOptions): Promise<RunResult> {
  const reporter = opts.reporter ?? silentReporter;
  await mkdir(opts.stateDir, { recursive: true });
  let boot: BootSource;
  let firmware: Firmware | undefined;
  let shown: string;
  if ('file' in opts.boot) {
    const p = await prepareImageBoot(opts.boot.file, { stateDir: opts.stateDir, ...(opts.uefi ? { uefi: true } : {}) });
    boot = p.boot;
    firmware = p.firmware;
    shown = `${opts.boot.file} (${p.detected.kind}, ${firmware ? 'UEFI' : 'BIOS'})`;
  } else {
    boot = opts.boot;
    shown = opts.boot.vmlinux ?? opts.boot.kernel;
  }
  const accel = await chooseAccel(opts.accel ?? 'auto', {
    qemu: opts.qemu,
    cacheFile: opts.kvmCacheFile,
    reporter,
    ...('file' in opts.boot ? {} : { kernel: opts.boot.vmlinux ?? opts.boot.kernel }),
  });
  const disks = opts.disks ?? [];
  for (const d of disks) await ensureDisk(d);
  let seedIso: string | undefined;
  if (opts.userDataFile) {
    seedIso = join(opts.stateDir, 'seed.iso');
    await seedIsoFromFile(seedIso, opts.userDataFile, { validate: opts.validateUserData, stateDir: opts.stateDir });
  }
  const extraArgs = [...(opts.extraArgs ?? [])];
  let controlTmp: string | undefined;
  if (opts.controlSocket) {
    let sock = opts.controlSocket;
    await rm(sock, { force: true });
    // Unix socket paths are limited to 107 bytes
    if (Buffer.byteLength(sock) > 100) {
      controlTmp = await mkdtemp(join(tmpdir(), 'coracle-ctl-'));
      sock = join(controlTmp, 'control.sock');
      await symlink(sock, opts.controlSocket);
    }
    extraArgs.unshift(...controlChannelArgs(sock));
  }
  const sinks: Writable[] = [];
  if (opts.console) sinks.push(opts.console);
  let log: WriteStream | undefined;
  if (opts.logFile) {
    log = createWriteStream(opts.logFile, { flags: 'a' });
    sinks.push(log);
  }
  const make = (accel: 'kvm' | 'tcg') =>
    new QemuVm({
      qemu: opts.qemu,
      boot,
      ...(firmware ? { firmware } : {}),
      accel,
      mem: opts.mem ?? 1024,
      cpus: opts.cpus ?? 1,
      publish: opts.publish ?? [],
      disks,
      seedIso,
      stateDir: opts.stateDir,
      consoleSinks: sinks,
      extraArgs,
    });
  reporter.info(`booting ${shown} (${accel}, ${opts.mem ?? 1024} MiB, ${opts.cpus ?? 1} CPU)`);
  try {
    const { vm } = await startWatchingKvm(make, accel, {
      auto: (opts.accel ?? 'auto') === 'auto',
      cacheFile: opts.kvmCacheFile,
      qemu: opts.qemu,
      reporter,
      ...(opts.kvmGraceMs !== undefined ? { graceMs: opts.kvmGraceMs } : {}),
    });
    if (opts.input) vm.attachInput(opts.input);
    opts.onStart?.(vm);
    return await vm.wait();
  } finally {
    if (log) await new Promise<void>((r) => log!.end(() => r()));
    // a socket left behind would make `coracle logs` knock on a dead VM
    if (opts.controlSocket) await rm(opts.controlSocket, { force: true }).catch(() => undefined);
    if (controlTmp) await rm(controlTmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
