/**
 * Boot-test helpers: boot any image (the dev image now, `coracle build`
 * outputs later) under QEMU, read console lines, run commands in the
 * console shell (kernel argument `coracle.shell`), shut down.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootFiles } from '../../src/qemu/args.js';
import { ensureDisk } from '../../src/qemu/disk.js';
import type { DiskSpec, PublishSpec } from '../../src/qemu/options.js';
import { chooseAccel } from '../../src/qemu/run.js';
import { makeSeedIso } from '../../src/qemu/seed.js';
import { QemuVm, type RunResult } from '../../src/qemu/vm.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { projectRoot, runCli } from './cli.js';
import { devCacheDir, findBootImage, type BootImage } from './dev-initrd.js';

/** Generous bounds: TCG on a busy 2-core machine. */
export const BOOT_TIMEOUT_MS = 240_000;
export const SHUTDOWN_TIMEOUT_MS = 120_000;

export interface BootOptions {
  publish?: PublishSpec[];
  mem?: number;
  /** appended to the image's cmdline */
  extraCmdline?: string;
  /** console log file (default: a temporary file, printed on failure) */
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

/** Boot files from a BootImage (reads NAME-cmdline). */
export async function bootFiles(img: BootImage, extraCmdline = ''): Promise<BootFiles> {
  const cmdline = `${(await readFile(img.cmdline, 'utf8')).trim()} ${extraCmdline}`.trim();
  return { kernel: img.kernel, initrd: img.initrd, cmdline, vmlinux: img.vmlinux };
}

/** Start a VM for a boot image; accel auto (probe cached per machine boot). */
export async function bootVm(img: BootImage, opts: BootOptions = {}): Promise<BootedVm> {
  const boot = await bootFiles(img, opts.extraCmdline);
  const accel = await chooseAccel('auto', { cacheFile: join(devCacheDir(), 'kvm-probe.json'), kernel: boot.vmlinux ?? boot.kernel });
  const logFile = opts.logFile ?? join(await mkdtemp(join(tmpdir(), 'coracle-boot-')), 'console.log');
  await mkdir(join(logFile, '..'), { recursive: true });
  for (const d of opts.disks ?? []) await ensureDisk(d);
  let seedIso: string | undefined;
  if (opts.userData !== undefined) {
    seedIso = join(logFile, '..', 'seed.iso');
    await makeSeedIso(seedIso, { userData: opts.userData });
  }
  const log: WriteStream = createWriteStream(logFile);
  const vm = new QemuVm({
    boot,
    accel,
    mem: opts.mem ?? 1024,
    cpus: 1,
    publish: opts.publish ?? [],
    disks: opts.disks ?? [],
    seedIso,
    consoleSinks: [log],
  });
  vm.once('exit', () => log.end());
  await vm.start();
  return { vm, logFile };
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

/** The store the boot tests build system images into (kept between runs). */
export const bootTestStore = (): string => join(devCacheDir(), 'store');

function retag(spec: unknown, tags: Map<string, string>): unknown {
  if (typeof spec === 'string') {
    const m = /^coracle\/([a-z0-9-]+):/.exec(spec);
    return m && tags.has(m[1]!) ? tags.get(m[1]!) : spec;
  }
  if (Array.isArray(spec)) return spec.map((v) => retag(v, tags));
  if (spec && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, retag(v, tags)]));
  return spec;
}

/**
 * Build examples/NAME.yml as a user would: `coracle pkg build` of every
 * coracle/IMAGE it names (skipped when already in the store), image tags
 * refreshed to what the definitions build now, relative `files: source:`
 * made absolute, an optional edit, then `coracle build` into `outDir`.
 */
export async function buildExample(
  example: string,
  outDir: string,
  edit?: (spec: Record<string, any>) => void,
): Promise<BootImage> {
  const examples = join(projectRoot, 'examples');
  const text = await readFile(join(examples, `${example}.yml`), 'utf8');
  const names = [...new Set([...text.matchAll(/coracle\/([a-z0-9-]+):/g)].map((m) => m[1]!))];
  const dirs = names.map((n) => join('images', n));
  const store = bootTestStore();
  const pkg = await runCli(['--cache', store, 'pkg', 'build', ...dirs], { timeout: 1_500_000 });
  if (pkg.exitCode !== 0) throw new Error(`coracle pkg build failed:\n${pkg.stderr.slice(-3000)}`);
  const show = await runCli(['--cache', store, 'pkg', 'show-tag', ...dirs]);
  if (show.exitCode !== 0) throw new Error(`coracle pkg show-tag failed:\n${show.stderr}`);
  const tags = new Map<string, string>();
  for (const ref of show.stdout.trim().split('\n')) {
    const m = /coracle\/([a-z0-9-]+):([0-9a-f]+)$/.exec(ref.trim());
    if (m) tags.set(m[1]!, `coracle/${m[1]}:${m[2]}`);
  }
  const spec = retag(parseYaml(text), tags) as Record<string, any>;
  for (const f of (spec.files ?? []) as { source?: string }[]) {
    if (f.source && !f.source.startsWith('/')) f.source = join(examples, f.source);
  }
  edit?.(spec);
  await mkdir(outDir, { recursive: true });
  const specFile = join(outDir, '..', `${example}.yml`);
  await writeFile(specFile, stringifyYaml(spec));
  const build = await runCli(['--cache', store, 'build', specFile, '-o', outDir], { timeout: 600_000 });
  if (build.exitCode !== 0) throw new Error(`coracle build failed:\n${build.stderr.slice(-3000)}`);
  return findBootImage(outDir, example);
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
