// Kernel and modules benchmark, in one run:
//
//   node --import tsx bench/kernel.ts [--boots N] [--without-lean]
//
// examples/web.yml built three ways with the compiled CLI and the store named
// by $CORACLE_CACHE (images built when missing; the lean kernel compiles
// for many minutes the first time):
//   (a) Debian's cloud kernel, every module (`kernel.modules: all`)
//   (b) Debian's cloud kernel, only the modules the system loads (the default)
//   (c) Coracle's lean kernel (images/kernel-lean: everything built in)
// For each: initrd bytes, the modules segment, boot to "coracle: all services
// started" under `coracle run qemu` (median of N), and the floor: the same
// kernel and command line with an initrd whose /init powers off at once.
// Figures go to bench/RESULTS.md (section "kernel").
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeInitrd } from '../src/initrd/index.js';
import { defaultStoreRoot } from '../src/oci/store/location.js';
import { compiledCli } from './compiled-cli.js';
import { median, table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', 'work', 'kernel');
const argNum = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const BOOTS = argNum('boots', 2);
const WITHOUT_LEAN = process.argv.includes('--without-lean');
const BOOT_TIMEOUT_MS = 900_000;
const log = (s: string): void => console.log(`bench kernel: ${s}`);
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const mib = (n: number): string => (n / 1048576).toFixed(1);

interface Variant {
  id: string;
  title: string;
  /** Spec files merged after examples/web.yml (written into work/spec). */
  overlay: string;
}

const VARIANTS: Variant[] = [
  { id: 'all', title: '(a) cloud kernel, all modules', overlay: 'kernel:\n  modules: all\n' },
  { id: 'trimmed', title: '(b) cloud kernel, trimmed modules (default)', overlay: '' },
  { id: 'lean', title: '(c) lean kernel (images/kernel-lean)', overlay: `kernel:\n  image: "@pkg:${join(root, 'images', 'kernel-lean')}"\n` },
];

const compileCli = (): Promise<string> => compiledCli(work);

let CLI = '';
const userStore = process.env.CORACLE_CACHE ?? defaultStoreRoot();
// A bench store sharing the user's blobs (hard links) with an empty build cache: every segment is built, none found cached.
const store = join(work, 'store');
const coracle = (args: string[], opts: Parameters<typeof execa>[2] = {}) =>
  execa(process.execPath, [CLI, '--cache', store, ...args], { reject: false, cwd: root, env: { CI: '1' }, ...opts });

/** Spawn to `mark` on the console (then a clean stop), or to QEMU's exit when mark is undefined. */
async function boot(dir: string, logFile: string, mark?: RegExp): Promise<number> {
  const t0 = performance.now();
  if (!mark) {
    const r = await coracle(['run', 'qemu', dir, '--console', 'none', '--log', logFile], { timeout: BOOT_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new Error(`floor boot failed: ${String(r.stderr)}`);
    return performance.now() - t0;
  }
  const child = coracle(['run', 'qemu', dir, '--console', 'stdio', '--log', logFile], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false });
  let text = '';
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${mark}`)), BOOT_TIMEOUT_MS);
      child.stdout?.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (mark.test(text)) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      });
      child.once('exit', () => reject(new Error(`QEMU exited before ${mark}; see ${logFile}`)));
    });
  } finally {
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
    await child.catch(() => undefined);
    clearTimeout(t);
  }
}

async function floorImage(dir: string, out: string, name: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
  const d = (path: string) => ({ path, type: 'dir' as const, mode: 0o755, uid: 0, gid: 0 });
  await writeInitrd(
    [{
      name: 'floor',
      entries: [
        d('bin'),
        { path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, data: { kind: 'file', path: busybox } },
        d('dev'),
        { path: 'dev/console', type: 'char', mode: 0o600, uid: 0, gid: 0, rdev: { major: 5, minor: 1 } },
        { path: 'init', type: 'file', mode: 0o755, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from('#!/bin/busybox sh\n/bin/busybox poweroff -f\n') } },
      ],
    }],
    join(dir, 'floor-initrd.img'),
    { compression: 'zstd', cacheDir: join(work, 'floor-cache') },
  );
  await copyFile(join(out, `${name}-kernel`), join(dir, 'floor-kernel'));
  if (existsSync(join(out, `${name}-vmlinux`))) await copyFile(join(out, `${name}-vmlinux`), join(dir, 'floor-vmlinux'));
  await writeFile(join(dir, 'floor-cmdline'), await readFile(join(out, `${name}-cmdline`), 'utf8'));
}

/** Size of the modules segment of the last build (its cached segment's record). */
function modulesSegment(stderr: string): string {
  const m = /segment modules: (?:done \()?(\d+ entries, [\d.]+ MiB)/.exec(stderr);
  return m ? m[1]! : 'cached';
}

interface Row {
  v: Variant;
  initrd: number;
  modules: string;
  boots: number[];
  floors: number[];
}

async function benchStore(): Promise<void> {
  await rm(store, { recursive: true, force: true });
  await mkdir(store, { recursive: true });
  for (const n of ['oci-layout', 'blobs']) {
    const linked = await execa('cp', ['-al', join(userStore, n), join(store, n)], { reject: false });
    if (linked.exitCode !== 0) await execa('cp', ['-a', join(userStore, n), join(store, n)]);
  }
  await copyFile(join(userStore, 'index.json'), join(store, 'index.json'));
}

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  CLI = await compileCli();
  // images missing from the user's store are built there first (the lean kernel compiles for minutes)
  const images = ['kernel', 'init', 'crun', 'containerd', 'sysctl', 'dhcpcd', 'busybox', 'getty', 'ntpd', ...(WITHOUT_LEAN ? [] : ['kernel-lean'])];
  log(`system images in ${userStore} (coracle pkg build: builds only what is missing)`);
  const pkg = await execa(process.execPath, [CLI, '--cache', userStore, 'pkg', 'build', ...images.map((n) => `images/${n}`)], {
    reject: false, cwd: root, env: { CI: '1' }, stderr: 'inherit', timeout: 4 * 3_600_000,
  });
  if (pkg.exitCode !== 0) throw new Error(`coracle pkg build failed (exit ${pkg.exitCode})`);
  await benchStore();
  await mkdir(join(work, 'spec'), { recursive: true });
  const rows: Row[] = [];
  for (const v of VARIANTS) {
    if (v.id === 'lean' && WITHOUT_LEAN) continue;
    const specs = [join(root, 'examples', 'web.yml')];
    if (v.overlay) {
      const f = join(work, 'spec', `${v.id}.yml`);
      await writeFile(f, v.overlay);
      specs.push(f);
    }
    const out = join(work, `out-${v.id}`);
    // an empty segment cache for the modules: drop earlier outputs, keep the store's segments (images unchanged)
    await rm(out, { recursive: true, force: true });
    log(`${v.title}: coracle build`);
    const b = await coracle(['build', ...specs, '-o', out, '--name', 'web', '--no-pkg-build', '--debian-cache', join(userStore, 'debian')], { timeout: 4 * 3_600_000 });
    if (b.exitCode !== 0) throw new Error(`build ${v.id} failed: ${String(b.stderr)}`);
    const initrd = (await stat(join(out, 'web-initrd.img'))).size;
    const row: Row = { v, initrd, modules: modulesSegment(String(b.stderr)), boots: [], floors: [] };
    await floorImage(join(work, `floor-${v.id}`), out, 'web');
    rows.push(row);
  }
  // rounds over the variants, so a change in the machine's load falls on each alike
  await boot(join(work, `floor-${rows[0]!.v.id}`), join(work, 'floor-warmup.log'));
  for (let i = 0; i < BOOTS; i++) {
    for (const row of rows) {
      const id = row.v.id;
      row.floors.push(await boot(join(work, `floor-${id}`), join(work, `floor-${id}-${i}.log`)));
      row.boots.push(await boot(join(work, `out-${id}`), join(work, `boot-${id}-${i}.log`), /coracle: all services started/));
      log(`${id} round ${i + 1}: boot ${secs(row.boots.at(-1)!)} s, floor ${secs(row.floors.at(-1)!)} s`);
    }
  }
  const load1 = loadavg()[0]!;
  const base = rows.find((r) => r.v.id === 'all');
  const body = [
    'examples/web.yml (getty, ntpd and busybox httpd services; sysctl and dhcpcd onboot) built with the compiled CLI, then booted with',
    '`coracle run qemu` (TCG) to "coracle: all services started"; the floor is the same kernel and command line with an initrd whose',
    `/init is \`busybox poweroff -f\` (spawn to QEMU exit). Medians of ${BOOTS} rounds; each round boots every variant (floor, then system) in turn.`,
    'Builds start from an empty segment cache (a bench store sharing the image blobs), so the modules segment is built and measured.',
    `Load average (1 min) ${load0.toFixed(1)} before, ${load1.toFixed(1)} after: the machine is shared, compare rows of this run, not seconds across runs.`,
    '',
    table(
      ['system', 'initrd MiB', 'initrd vs (a)', 'modules segment', 'boot (s)', 'floor (s)', 'boot − floor (s)', 'boots (s)'],
      rows.map((r) => {
        const bm = median(r.boots);
        const fm = median(r.floors);
        return [r.v.title, mib(r.initrd), base ? (r.initrd / base.initrd).toFixed(2) : 'n/a', r.modules, secs(bm), secs(fm), secs(bm - fm), r.boots.map(secs).join(', ')];
      }),
    ),
    ...(WITHOUT_LEAN ? ['', '(c) not measured in this run (`--without-lean`): the lean kernel image was not built on this machine; see images/kernel-lean/README.md.'] : []),
  ].join('\n');
  await writeSection('kernel', 'Kernel: all modules vs trimmed modules vs the lean kernel', body);
  log('wrote bench/RESULTS.md (kernel)');
}

await main();
