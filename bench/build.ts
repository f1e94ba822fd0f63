// `coracle build` benchmark on the real system images, in one run:
//
//   node --import tsx bench/build.ts [--runs N] [--boots N] [--no-boot]
//
// 1. The system images (kernel, init, crun, runc, containerd, dhcpcd, getty) come
//    from the store named by $CORACLE_CACHE (default ~/.cache/coracle):
//    `coracle pkg build images/...` is run first, which only builds what is
//    missing (may take minutes the first time).
// 2. A bench store shares that store's blobs (hard links) but has its own,
//    empty build cache, so "cold" is really cold and the user's cache is
//    left alone.
// 3. Timed with the compiled, bundled CLI (bench/compiled-cli.ts), as a
//    user runs it, so tsx start-up is not counted: a cold build per
//    compression (none, gzip, zstd, lz4: time and initrd size), then with lz4 (the default)
//    the warm rebuild (nothing changed) and a one-file change (`files:`
//    source edited), N runs each, medians.
// 4. When QEMU is there: boot to "coracle: all services started" with
//    `coracle run qemu`, against a floor — the same kernel and command line
//    with an initrd whose /init powers off at once (busybox-static) — for
//    the system under crun (the spec above) and the same system under runc
//    (runc's image instead of crun's), then both with --cpus 2 against a
//    2-CPU floor; guest memory in use after boot, read from /proc/meminfo
//    through the getty console shell.
// Figures go to bench/RESULTS.md (section "build") as ratios to targets.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { build } from '../src/build/assemble.js';
import { writeInitrd } from '../src/initrd/index.js';
import { openStore } from '../src/oci/store/layout-store.js';
import { defaultStoreRoot } from '../src/oci/store/location.js';
import { compiledCli } from './compiled-cli.js';
import { median, table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', 'work', 'build');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const RUNS = arg('runs', 7);
const BOOTS = arg('boots', 2);
const NO_BOOT = process.argv.includes('--no-boot');

const TARGET_WARM_S = 1;
const TARGET_ONE_FILE_S = 2;
const TARGET_BOOT_RATIO = 2;
const BOOT_TIMEOUT_MS = 600_000;

const IMAGES = ['kernel', 'init', 'crun', 'runc', 'containerd', 'dhcpcd', 'getty'] as const;
type Runtime = 'crun' | 'runc';
type ImageName = (typeof IMAGES)[number];

const secs = (ms: number): string => (ms / 1000).toFixed(2);
const mib = (n: number): string => (n / 1048576).toFixed(1);
const log = (s: string): void => console.log(`bench build: ${s}`);

const buildCli = (): Promise<string> => compiledCli(join(root, 'bench', 'work', 'build-cli'));

let CLI = '';
function coracle(store: string, args: string[], opts: Parameters<typeof execa>[2] = {}) {
  return execa(process.execPath, [CLI, '--cache', store, ...args], { reject: false, cwd: root, env: { CI: '1' }, ...opts });
}

/** The system images' references, building whatever the store lacks. */
async function systemImages(store: string): Promise<Record<ImageName, string>> {
  log(`system images from ${store} (coracle pkg build: builds only what is missing)`);
  const r = await coracle(store, ['pkg', 'build', ...IMAGES.map((n) => `images/${n}`)], { stderr: 'inherit', timeout: 3_600_000 });
  if (r.exitCode !== 0) throw new Error(`coracle pkg build failed (exit ${r.exitCode})`);
  const refs: Partial<Record<ImageName, string>> = {};
  for (const line of String(r.stdout).split('\n')) {
    const m = /^(?:built|up-to-date) (\S+) sha256:/.exec(line);
    if (!m) continue;
    const name = IMAGES.find((n) => m[1]!.includes(`/${n}:`));
    if (name) refs[name] = m[1]!;
  }
  for (const n of IMAGES) if (!refs[n]) throw new Error(`coracle pkg build did not report images/${n}:\n${String(r.stdout)}`);
  return refs as Record<ImageName, string>;
}

/** A store sharing `src`'s blobs (hard links; a copy across filesystems) with an empty build cache. */
async function benchStore(src: string, dst: string): Promise<void> {
  await rm(dst, { recursive: true, force: true });
  await mkdir(dst, { recursive: true });
  for (const n of ['oci-layout', 'blobs']) {
    const linked = await execa('cp', ['-al', join(src, n), join(dst, n)], { reject: false });
    if (linked.exitCode !== 0) await execa('cp', ['-a', join(src, n), join(dst, n)]);
  }
  await copyFile(join(src, 'index.json'), join(dst, 'index.json'));
}

function specText(refs: Record<ImageName, string>, runtime: Runtime = 'crun'): string {
  return `kernel:
  image: ${refs.kernel}
  cmdline: "console=ttyS0"
init:
  - ${refs.init}
  - ${refs[runtime]}
  - ${refs.containerd}
onboot:
  - name: dhcpcd
    image: ${refs.dhcpcd}
services:
  - name: getty
    image: ${refs.getty}
    env:
      - INSECURE=true
files:
  - path: etc/motd
    source: motd.txt
    mode: "0644"
`;
}

/** images/containerd/config.toml before the trimmed build (Debian's binary needs its plugins named to disable them). */
const DEBIAN_CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
oom_score = -999
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.native",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "/run/containerd/containerd.sock"
`;

interface BuildRun {
  ms: number;
  /** The CLI's own "built NAME in X s" figure (no Node start-up). */
  internalS: number;
  segments: number;
  cached: number;
}

async function timedBuild(store: string, spec: string, out: string, more: string[] = []): Promise<BuildRun> {
  const t0 = performance.now();
  const r = await coracle(store, ['build', spec, '-o', out, ...more]);
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`coracle build failed: ${String(r.stderr)}`);
  const m = /built \S+ in ([\d.]+) s \((\d+) segments, (\d+) cached\)/.exec(String(r.stderr));
  if (!m) throw new Error(`no summary line: ${String(r.stderr)}`);
  return { ms, internalS: Number(m[1]), segments: Number(m[2]), cached: Number(m[3]) };
}

// ---------------------------------------------------------------------------
// boot

interface BootRun {
  /** Spawn of `coracle run qemu` to the mark (services up, or QEMU exit for the floor). */
  ms: number;
  /** Spawn to the init's first line (kernel boot + initrd unpack). */
  initMs?: number;
  meminfo?: Record<string, number>;
  /** Seconds one bare container costs in the booted guest (see PROBE). */
  probe?: Record<string, number>;
  /** Each `coracle: ...` console line (pids dropped) with its time since spawn. */
  lines?: Array<[string, number]>;
}

/**
 * Typed into the getty shell after boot (host mount namespace through
 * nsenter): what containers cost under this accelerator with nothing of
 * Coracle's in the way, timed with the guest's /proc/uptime — a bundle on
 * getty's rootfs run to completion (`true`) and started detached (`sleep`)
 * through containerd with the system's OCI runtime (`$RUNTIME` from
 * boot.conf), containerd's start-up to its socket, and plain starts for
 * scale. (`$RUNTIME run` itself cannot be timed from there: the shell is in
 * getty's cgroup namespace and busybox's nsenter cannot leave it; the onboot
 * step of the boot is that figure, the same DHCP bundle under either runtime.)
 * Prints `probe NAME END START`.
 */
const PROBE = [
  '. /etc/coracle/boot.conf',
  's=/tmp/bench-true; mkdir -p $s',
  'cp /containers/services/getty/config.json $s/',
  `sed -i -e 's#"/usr/bin/coracle-getty"#"/bin/busybox", "true"#' -e 's#"cgroupsPath": *"[^"]*"#"cgroupsPath": "/bench"#' $s/config.json`,
  'q=/tmp/bench-sleep; mkdir -p $q',
  `sed 's#"/bin/busybox", "true"#"/bin/busybox", "sleep", "600"#' $s/config.json >$q/config.json`,
  'up() { cut -d" " -f1 /proc/uptime; }',
  't() { n=$1; shift; a=$(up); "$@" >/dev/null 2>&1 </dev/null || n="$n-failed"; echo "probe $n $(up) $a"; }',
  't rt-version $RUNTIME --version',
  't rt-run-true ctr -n bench run --rm --null-io --runc-binary $(command -v $RUNTIME) --config $s/config.json bench-true',
  't rt-run-true-2 ctr -n bench run --rm --null-io --runc-binary $(command -v $RUNTIME) --config $s/config.json bench-true2',
  // a second containerd (own root, state and socket) from spawn to its socket:
  // this system's, and Debian's packaged binary with its old config when the
  // probe system carries it
  'cs() { d=/tmp/ctrd-$1; mkdir -p $d; $2 --config $3 --root $d/root --state $d/state --address $d/s.sock >$d/log 2>&1 & p=$!; while [ ! -S $d/s.sock ] && kill -0 $p 2>/dev/null; do usleep 5000; done; [ -S $d/s.sock ]; r=$?; kill $p; wait $p 2>/dev/null; return $r; }',
  't ctrd-socket cs a containerd /etc/containerd/config.toml',
  // sizes ride on the same line format (END - START = bytes)
  'echo "probe size-trimmed $(wc -c <$(command -v containerd)) 0"',
  '[ -x /usr/local/bin/containerd-debian ] && echo "probe size-debian $(wc -c </usr/local/bin/containerd-debian) 0"',
  '[ -x /usr/local/bin/containerd-debian ] && t ctrd-socket-debian cs b /usr/local/bin/containerd-debian /etc/coracle/containerd-debian.toml',
  '[ -x /usr/local/bin/containerd-debian ] && t ctrd-socket-2 cs c containerd /etc/containerd/config.toml',
  't ctr-version ctr version',
  't ctr-run-sleep ctr -n bench run --null-io --runc-binary $(command -v $RUNTIME) --config $q/config.json -d bench-sleep',
  'ctr -n bench task kill -s SIGKILL bench-sleep >/dev/null 2>&1',
  // one command per line: a terminal takes at most 4095 characters per line
].join('\n');

/** Wait for `re` on the child's stdout (from offset `from` of `buf.text`). */
function waitFor(buf: { text: string }, re: RegExp, child: ResultPromise, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${re}`)), timeoutMs);
    const check = (): void => {
      const m = re.exec(buf.text.slice(from));
      if (m) finish(undefined, m);
    };
    const onExit = (): void => finish(new Error(`QEMU exited before ${re}`));
    function finish(e?: Error, m?: RegExpExecArray): void {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(m!);
    }
    child.stdout?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

async function stopVm(child: ResultPromise): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGINT'); // the CLI shuts the guest down cleanly
  const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
  await child.catch(() => undefined);
  clearTimeout(t);
}

async function bootFloor(store: string, dir: string, logFile: string, cpus = 1): Promise<BootRun> {
  const t0 = performance.now();
  const r = await coracle(store, ['run', 'qemu', dir, '--cpus', String(cpus), '--console', 'none', '--log', logFile], { timeout: BOOT_TIMEOUT_MS });
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`floor boot failed (exit ${r.exitCode}): ${String(r.stderr)}`);
  return { ms };
}

async function bootSystem(store: string, dir: string, logFile: string, withProbe = false, cpus = 1): Promise<BootRun> {
  const t0 = performance.now();
  const child = coracle(store, ['run', 'qemu', dir, '--cpus', String(cpus), '--console', 'stdio', '--log', logFile], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false });
  const buf = { text: '' };
  const lines: Array<[string, number]> = [];
  let scanned = 0;
  child.stdout?.on('data', (d: Buffer) => {
    buf.text += d.toString('utf8');
    const now = performance.now() - t0;
    const end = buf.text.lastIndexOf('\n');
    if (end < scanned) return;
    for (const l of buf.text.slice(scanned, end).split('\n')) {
      const m = /coracle: (.*?)\s*$/.exec(l.replace(/\r/g, ''));
      // what the shell probes type after "all services started" can land on
      // that same console line; breakdown() stops at that label
      if (m) lines.push([m[1]!.replace(/ \(pid \d+\)/, '').replace(/^modules loaded:.*/, 'modules loaded').replace(/^(all services started).*/, '$1'), now]);
    }
    scanned = end + 1;
  });
  try {
    await waitFor(buf, /coracle: init\b/, child, BOOT_TIMEOUT_MS);
    const initMs = performance.now() - t0;
    await waitFor(buf, /coracle: all services started/, child, BOOT_TIMEOUT_MS);
    const ms = performance.now() - t0;
    // getty (INSECURE=true) gives a root shell on the console: run `cmd` there,
    // return what it printed (the markers are built by the shell, so the
    // terminal's echo of the typed line never matches them).
    let marks = 0;
    const shellRun = async (cmd: string, timeoutMs: number): Promise<string> => {
      const n = ++marks;
      const from = buf.text.length;
      child.stdin?.write(`echo "__B""${n}__"; ${cmd}; echo "__E""${n}__"\n`);
      const m = await waitFor(buf, new RegExp(`__B${n}__\\r?\\n([\\s\\S]*?)__E${n}__`), child, timeoutMs, from);
      return m[1]!.replace(/\r/g, '');
    };
    let meminfo: Record<string, number> | undefined;
    for (let attempt = 1; attempt <= 12 && !meminfo; attempt++) {
      try {
        const read: Record<string, number> = {};
        for (const l of (await shellRun('cat /proc/meminfo', 10_000)).split('\n')) {
          const kv = /^(\w+):\s+(\d+) kB/.exec(l);
          if (kv) read[kv[1]!] = Number(kv[2]);
        }
        if (read.MemTotal) meminfo = read;
      } catch {
        // the shell may not be up yet: try again
      }
    }
    let probe: Record<string, number> | undefined;
    if (withProbe && meminfo) {
      probe = {};
      for (const l of (await shellRun(`nsenter -t 1 -m -- sh -c '${PROBE.replace(/'/g, `'\\''`)}'`, 600_000)).split('\n')) {
        const p = /^probe (\S+) ([\d.]+) ([\d.]+)$/.exec(l);
        if (p) probe[p[1]!] = Number(p[2]) - Number(p[3]);
      }
    }
    return { ms, initMs, lines, ...(meminfo ? { meminfo } : {}), ...(probe ? { probe } : {}) };
  } finally {
    await stopVm(child);
  }
}

/** The probes of the crun and the runc system side by side, with the boot steps they explain. */
function probeText(probes: Record<Runtime, Record<string, number> | undefined>, steps: Record<Runtime, Array<[string, string, string]>>): string {
  const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(2));
  const step = (rt: Runtime, line: string): number => Number(steps[rt].find((r) => r[0] === line)?.[2] ?? NaN);
  const p = (rt: Runtime, k: string): string => fmt(probes[rt]?.[k]);
  const rows = [
    ['`$RUNTIME --version`', p('crun', 'rt-version'), p('runc', 'rt-version')],
    ['`ctr run --rm` of `true` on getty\'s rootfs (client, shim, runtime create, start, wait, delete)', p('crun', 'rt-run-true'), p('runc', 'rt-run-true')],
    ['the same, again', p('crun', 'rt-run-true-2'), p('runc', 'rt-run-true-2')],
    ['`ctr version` (client start + containerd round trip)', p('crun', 'ctr-version'), p('runc', 'ctr-version')],
    ['`ctr run -d` of `sleep` on that bundle (client, shim, runtime create + start)', p('crun', 'ctr-run-sleep'), p('runc', 'ctr-run-sleep')],
    ['boot step "onboot 000-dhcpcd exited 0": `$RUNTIME run` of the DHCP client', fmt(step('crun', 'onboot 000-dhcpcd exited 0')), fmt(step('runc', 'onboot 000-dhcpcd exited 0'))],
  ];
  return [
    'What containers cost in the booted guest under this accelerator (typed into the getty shell, host mount namespace, timed with /proc/uptime, 10 ms steps; the last row from the boots above — the same bundle under either runtime):',
    '',
    table(['what', 'crun (s)', 'runc (s)'], rows),
  ].join('\n');
}

/** containerd from spawn to its socket in the guest: the trimmed build against Debian's packaged binary. */
function containerdText(probe: Record<string, number> | undefined): string {
  const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(2));
  const size = (v: number | undefined): string => (v === undefined ? 'n/a' : mib(v));
  return [
    'containerd from spawn to its socket, a second instance started in the booted probe system (crun system plus Debian\'s packaged containerd 1.6.20 and its old config), same guest, one after another:',
    '',
    table(
      ['containerd', 'binary MiB', 'spawn to socket (s)'],
      [
        ['Debian\'s package (every plugin linked, CRI and the rest disabled in config)', size(probe?.['size-debian']), fmt(probe?.['ctrd-socket-debian'])],
        ['trimmed (images/containerd: Debian\'s sources, own plugin list), twice', size(probe?.['size-trimmed']), `${fmt(probe?.['ctrd-socket'])}, ${fmt(probe?.['ctrd-socket-2'])}`],
      ],
    ),
  ].join('\n');
}

/** The floor initrd: busybox-static and an /init that powers off at once. */
async function floorImage(dir: string, sys: { kernel: string; vmlinux?: string; cmdline: string }): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const busybox = (await stat('/bin/busybox').then(() => '/bin/busybox').catch(() => undefined)) ?? '/usr/bin/busybox';
  await writeInitrd(
    [
      {
        name: 'floor',
        entries: [
          { path: 'bin', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
          { path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, data: { kind: 'file', path: busybox } },
          { path: 'dev', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
          { path: 'dev/console', type: 'char', mode: 0o600, uid: 0, gid: 0, rdev: { major: 5, minor: 1 } },
          { path: 'init', type: 'file', mode: 0o755, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from('#!/bin/busybox sh\n/bin/busybox poweroff -f\n') } },
        ],
      },
    ],
    join(dir, 'floor-initrd.img'),
    { compression: 'zstd', cacheDir: join(work, 'floor-cache') },
  );
  await copyFile(sys.kernel, join(dir, 'floor-kernel'));
  if (sys.vmlinux) await copyFile(sys.vmlinux, join(dir, 'floor-vmlinux'));
  await writeFile(join(dir, 'floor-cmdline'), sys.cmdline);
}

async function qemuWorks(): Promise<string | undefined> {
  const r = await execa('qemu-system-x86_64', ['--version'], { reject: false });
  return r.exitCode === 0 ? undefined : 'qemu-system-x86_64 not runnable';
}

/**
 * What keeps the crun boot over 2 × the floor: the time to the init against
 * the floor, the budget left after it, and the steps after it that spend it.
 */
function holdsText(rows: Array<[string, string, string]>, floorMs: number): string {
  const budget = (TARGET_BOOT_RATIO * floorMs) / 1000;
  const init = Number(rows.find((r) => r[0] === 'init')?.[1] ?? NaN);
  const after = rows.filter((r) => r[0] !== 'init' && r[2] !== '');
  const spent = after.reduce((a, r) => a + Number(r[2]), 0);
  const left = budget - init;
  const big = [...after].sort((a, b) => Number(b[2]) - Number(a[2])).filter((r) => Number(r[2]) >= 0.1);
  return (
    `What holds it: the init starts at ${init.toFixed(2)} s, ${(init / (floorMs / 1000)).toFixed(2)} × the floor (the same kernel boot, plus unpacking the initrd and starting the init), ` +
    `which leaves ${left.toFixed(2)} s of the ${budget.toFixed(2)} s budget; everything after the init takes ${spent.toFixed(2)} s, ${(spent - left).toFixed(2)} s too many. ` +
    `Its steps of 0.1 s or more: ${big.map((r) => `${r[0]} ${r[2]} s`).join(', ')}. ` +
    'On one vCPU these steps share the one CPU (containerd starts while onboot runs, so its start-up is inside the onboot step), so overlapping them more gains little; the container steps are the runtime and, for services, the shim, each a process start plus namespace, mount and cgroup set-up (their costs in the guest are in the next table).'
  );
}

/** Median time of each console line across runs, in the first run's order, up to "all services started". */
function breakdown(runs: BootRun[]): Array<[string, string, string]> {
  const first = runs[0]?.lines ?? [];
  const end = first.findIndex(([l]) => l === 'all services started');
  const rows: Array<[string, string, string]> = [['`coracle run qemu` spawned', '0.00', '']];
  let prev = 0;
  for (const [label] of first.slice(0, end < 0 ? undefined : end + 1)) {
    if (rows.some((r) => r[0] === label)) continue;
    const at = median(runs.map((r) => r.lines?.find(([l]) => l === label)?.[1]).filter((x): x is number => x !== undefined));
    rows.push([label, secs(at), secs(at - prev)]);
    prev = at;
  }
  return rows;
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  CLI = await buildCli();
  const userStore = defaultStoreRoot();
  const refs = await systemImages(userStore);
  const store = join(work, 'store');
  await benchStore(userStore, store);
  const specDir = join(work, 'spec');
  await mkdir(specDir, { recursive: true });
  const spec = join(specDir, 'sys.yml');
  await writeFile(spec, specText(refs));
  const runcSpec = join(specDir, 'sys-runc.yml');
  await writeFile(runcSpec, specText(refs, 'runc'));
  // the crun system plus Debian's packaged containerd (the host's, same
  // version as the sources) and the config it had, for the probe's
  // before/after of containerd's start-up
  const probeSpec = join(specDir, 'sys-probe.yml');
  await copyFile('/usr/bin/containerd', join(specDir, 'containerd-debian'));
  await writeFile(join(specDir, 'containerd-debian.toml'), DEBIAN_CONTAINERD_CONFIG);
  await writeFile(
    probeSpec,
    `${specText(refs)}  - path: usr/local/bin/containerd-debian\n    source: containerd-debian\n    mode: "0755"\n  - path: etc/coracle/containerd-debian.toml\n    source: containerd-debian.toml\n    mode: "0644"\n`,
  );
  await writeFile(join(specDir, 'motd.txt'), 'welcome\n');


  // cold builds, one per compression (the build cache emptied before each; lz4, the default, last, so its segments stay cached)
  const sizes: Array<{ compression: string; run: BuildRun; size: number }> = [];
  for (const compression of ['none', 'gzip', 'zstd', 'lz4']) {
    await rm(join(store, 'build-cache'), { recursive: true, force: true });
    const out = join(work, `out-${compression}`);
    const run = await timedBuild(store, spec, out, ['--compression', compression]);
    if (run.cached !== 0) throw new Error(`cold build found ${run.cached} cached segments`);
    const size = (await stat(join(out, 'sys-initrd.img'))).size;
    sizes.push({ compression, run, size });
    log(`cold ${compression}: ${secs(run.ms)} s, initrd ${mib(size)} MiB, ${run.segments} segments`);
  }

  // warm and one-file rebuilds (lz4, the default): segments of every compression are cached now
  const out = join(work, 'out-lz4');
  const warm: BuildRun[] = [];
  const oneFile: BuildRun[] = [];
  // interleaved with the rebuilds (same machine load): what a CLI run costs before any
  // build work — Node itself, then loading the CLI's modules (`--version`)
  const bareNode: number[] = [];
  const startup: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    await execa(process.execPath, ['-e', '0']);
    bareNode.push(performance.now() - t0);
    t0 = performance.now();
    await coracle(store, ['--version']);
    startup.push(performance.now() - t0);
    const w = await timedBuild(store, spec, out);
    if (w.cached !== w.segments) throw new Error(`warm rebuild rebuilt ${w.segments - w.cached} segments`);
    warm.push(w);
    await writeFile(join(specDir, 'motd.txt'), `welcome, run ${i}\n`);
    const o = await timedBuild(store, spec, out);
    if (o.cached !== o.segments - 1) throw new Error(`one-file change rebuilt ${o.segments - o.cached} segments, expected 1`);
    oneFile.push(o);
  }
  await writeFile(join(specDir, 'motd.txt'), 'welcome\n');
  await timedBuild(store, spec, out);
  const warmMs = median(warm.map((r) => r.ms));
  const oneMs = median(oneFile.map((r) => r.ms));
  log(`warm ${secs(warmMs)} s, one file ${secs(oneMs)} s (medians of ${RUNS})`);

  // what the initrd holds, per segment (library call on the warm cache: nothing is rebuilt)
  const lib = await build({ specFiles: [spec], store: await openStore(store), outDir: join(work, 'out-lib') });

  const segRows = lib.segments.map((g) => [g.name, g.entries, mib(g.archiveSize), mib(g.size)] as Array<string | number>);
  const rawTotal = lib.segments.reduce((a, g) => a + g.archiveSize, 0);
  segRows.push(['total', lib.segments.reduce((a, g) => a + g.entries, 0), mib(rawTotal), mib(lib.segments.reduce((a, g) => a + g.size, 0))]);

  // boot
  let bootText: string;
  const why = NO_BOOT ? 'skipped (--no-boot)' : await qemuWorks();
  if (why === undefined) {
    const floorDir = join(work, 'floor');
    const cmdline = (await readFile(join(out, 'sys-cmdline'), 'utf8')).trim();
    await floorImage(floorDir, { kernel: join(out, 'sys-kernel'), ...(existsSync(join(out, 'sys-vmlinux')) ? { vmlinux: join(out, 'sys-vmlinux') } : {}), cmdline });
    log('boot: warm-up floor boot (QEMU and accelerator probe)');
    await bootFloor(store, floorDir, join(work, 'floor-warmup.log'));
    const runcOut = join(work, 'out-runc');
    await timedBuild(store, runcSpec, runcOut);
    const outs: Record<Runtime, string> = { crun: out, runc: runcOut };
    // interleaved (floor, crun, runc per round) so load changes hit all alike
    const floors: BootRun[] = [];
    const boots: Record<Runtime, BootRun[]> = { crun: [], runc: [] };
    for (let i = 0; i < BOOTS; i++) {
      floors.push(await bootFloor(store, floorDir, join(work, `floor-${i}.log`)));
      log(`floor boot ${i + 1}: ${secs(floors.at(-1)!.ms)} s`);
      for (const rt of ['crun', 'runc'] as const) {
        boots[rt].push(await bootSystem(store, outs[rt], join(work, `system-${rt}-${i}.log`), i === 0));
        const b = boots[rt].at(-1)!;
        log(`${rt} system boot ${i + 1}: services up at ${secs(b.ms)} s (init at ${secs(b.initMs ?? 0)} s)`);
      }
    }
    log('boot: --cpus 2 (floor, crun, runc once each)');
    const floor2 = await bootFloor(store, floorDir, join(work, 'floor-cpus2.log'), 2);
    const two: Record<Runtime, BootRun> = {
      crun: await bootSystem(store, out, join(work, 'system-crun-cpus2.log'), false, 2),
      runc: await bootSystem(store, runcOut, join(work, 'system-runc-cpus2.log'), false, 2),
    };
    log('boot: the probe system once (containerd start-up, trimmed vs Debian\'s binary)');
    const probeOut = join(work, 'out-probe');
    await timedBuild(store, probeSpec, probeOut);
    const probeBoot = await bootSystem(store, probeOut, join(work, 'system-probe.log'), true);
    log('boot: the uncompressed and the zstd initrd once each (crun), for the cost of decompression in the guest');
    const none = await bootSystem(store, join(work, 'out-none'), join(work, 'system-none.log'));
    log(`system boot (none): services up at ${secs(none.ms)} s (init at ${secs(none.initMs ?? 0)} s)`);
    const zst = await bootSystem(store, join(work, 'out-zstd'), join(work, 'system-zstd.log'));
    log(`system boot (zstd): services up at ${secs(zst.ms)} s (init at ${secs(zst.initMs ?? 0)} s)`);
    const floorMs = median(floors.map((b) => b.ms));
    const sysMs = (rt: Runtime) => median(boots[rt].map((b) => b.ms));
    const initMs = (rt: Runtime) => median(boots[rt].map((b) => b.initMs ?? 0));
    const ratio = (rt: Runtime) => sysMs(rt) / floorMs;
    const memOf = (rt: Runtime) => boots[rt].map((b) => b.meminfo).find((m) => m !== undefined);
    const memText = (m: Record<string, number> | undefined) =>
      m
        ? `**${mib((m.MemTotal! - m.MemAvailable!) * 1024)} MiB in use** (MemTotal ${mib(m.MemTotal! * 1024)}, MemFree ${mib(m.MemFree! * 1024)}, Shmem ${mib((m.Shmem ?? 0) * 1024)} MiB)`
        : 'not read (the console shell did not answer)';
    const steps = { crun: breakdown(boots.crun), runc: breakdown(boots.runc) };
    const steps2 = { crun: breakdown([two.crun]), runc: breakdown([two.runc]) };
    // one table: every console line of the crun boot, at/step for each system
    const labels = steps.crun.map((r) => r[0]);
    for (const r of steps.runc) if (!labels.includes(r[0])) labels.push(r[0]);
    const cell = (rows: Array<[string, string, string]>, label: string): string[] => {
      const r = rows.find((x) => x[0] === label);
      return r ? [r[1], r[2]] : ['', ''];
    };
    const stepRows = labels.map((l) => [l, ...cell(steps.crun, l), ...cell(steps.runc, l), ...cell(steps2.crun, l), ...cell(steps2.runc, l)]);
    const budget = TARGET_BOOT_RATIO * floorMs;
    const over = sysMs('crun') - budget;
    bootText = [
      `Boot under \`coracle run qemu\` (compiled CLI, accel auto, 1024 MiB), spawn to the mark; 1 CPU: median of ${BOOTS} after a warm-up, --cpus 2: one boot each:`,
      '',
      table(
        ['what', 'median (s)', 'runs (s)', 'boot / floor'],
        [
          ['floor: same kernel + cmdline, /init = `busybox poweroff -f` (to QEMU exit)', secs(floorMs), floors.map((b) => secs(b.ms)).join(', '), '1.00'],
          ['crun system: "coracle: init" printed', secs(initMs('crun')), boots.crun.map((b) => secs(b.initMs ?? 0)).join(', '), ''],
          ['**crun system: "coracle: all services started"**', secs(sysMs('crun')), boots.crun.map((b) => secs(b.ms)).join(', '), `**${ratio('crun').toFixed(2)}**`],
          ['runc system: "coracle: init" printed', secs(initMs('runc')), boots.runc.map((b) => secs(b.initMs ?? 0)).join(', '), ''],
          ['runc system: "coracle: all services started"', secs(sysMs('runc')), boots.runc.map((b) => secs(b.ms)).join(', '), ratio('runc').toFixed(2)],
          ['--cpus 2 floor', secs(floor2.ms), secs(floor2.ms), '1.00'],
          ['--cpus 2 crun system: "coracle: all services started"', secs(two.crun.ms), secs(two.crun.ms), (two.crun.ms / floor2.ms).toFixed(2)],
          ['--cpus 2 runc system: "coracle: all services started"', secs(two.runc.ms), secs(two.runc.ms), (two.runc.ms / floor2.ms).toFixed(2)],
          ['crun system, uncompressed initrd: "coracle: init"', secs(none.initMs ?? 0), secs(none.initMs ?? 0), ''],
          ['crun system, uncompressed initrd: "coracle: all services started"', secs(none.ms), secs(none.ms), (none.ms / floorMs).toFixed(2)],
          ['crun system, zstd initrd: "coracle: init"', secs(zst.initMs ?? 0), secs(zst.initMs ?? 0), ''],
          ['crun system, zstd initrd: "coracle: all services started"', secs(zst.ms), secs(zst.ms), (zst.ms / floorMs).toFixed(2)],
        ],
      ),
      '',
      'Where the time goes (lz4 initrd, the default; time since spawn at which the init printed each line — medians for 1 CPU — and the step before it).',
      'containerd is launched before onboot runs (nothing in onboot touches its folders), so its line only marks when the starter found its socket:',
      '',
      table(['console line', 'crun at', 'crun step', 'runc at', 'runc step', 'crun 2 CPUs at', 'step', 'runc 2 CPUs at', 'step'], stepRows),
      '',
      `**boot to services / floor: ${ratio('crun').toFixed(2)} with crun, ${ratio('runc').toFixed(2)} with runc** (target ≤ ${TARGET_BOOT_RATIO}: ${ratio('crun') <= TARGET_BOOT_RATIO ? 'met' : 'not met'}` +
        (over > 0 ? `; 2 × floor = ${secs(budget)} s, the crun boot is ${secs(over)} s over it` : '') +
        ').',
      ...(over > 0 ? ['', holdsText(steps.crun, floorMs)] : []),
      `Guest memory after boot (1024 MiB guest, MemTotal − MemAvailable from the getty shell): crun system ${memText(memOf('crun'))}; runc system ${memText(memOf('runc'))}.`,
      '',
      probeText({ crun: boots.crun.find((b) => b.probe)?.probe, runc: boots.runc.find((b) => b.probe)?.probe }, steps),
      '',
      containerdText(probeBoot.probe),
    ].join('\n');
  } else {
    bootText = `Boot: not measured (${why}).`;
  }

  const zstdSize = sizes.find((s) => s.compression === 'zstd')!.size;
  const lz4Size = sizes.find((s) => s.compression === 'lz4')!.size;
  const body = [
    `System: kernel, init, crun, containerd, onboot dhcpcd, service getty, one \`files:\` entry (the spec in bench/work/build/spec/sys.yml; the runc system has runc's image instead of crun's;`,
    `images ${IMAGES.map((n) => refs[n].replace(/^docker\.io\//, '')).join(', ')}).`,
    `Compiled and bundled CLI (\`node bench/work/build-cli/bin/coracle.js\`, as npm's build makes it); every time includes the CLI's start-up (Node, then the bundle through V8's code cache).`,
    `Load average at start: ${load0.toFixed(1)} (shared machine).`,
    '',
    table(
      ['initrd compression', 'cold build (s)', 'of which in build (s)', 'initrd MiB', 'vs zstd', 'vs lz4', 'segments'],
      sizes.map((s) => [s.compression, secs(s.run.ms), s.run.internalS.toFixed(2), mib(s.size), (s.size / zstdSize).toFixed(2), (s.size / lz4Size).toFixed(2), s.run.segments]),
    ),
    '',
    table(
      ['run (lz4)', 'median (s)', 'best (s)', 'in build (s)', 'target (s)', 'ratio to target', 'runs (s)'],
      [
        ['warm rebuild: nothing changed', secs(warmMs), secs(Math.min(...warm.map((r) => r.ms))), median(warm.map((r) => r.internalS)).toFixed(2), TARGET_WARM_S, (warmMs / 1000 / TARGET_WARM_S).toFixed(2), warm.map((r) => secs(r.ms)).join(', ')],
        ['rebuild, one `files:` source changed', secs(oneMs), secs(Math.min(...oneFile.map((r) => r.ms))), median(oneFile.map((r) => r.internalS)).toFixed(2), TARGET_ONE_FILE_S, (oneMs / 1000 / TARGET_ONE_FILE_S).toFixed(2), oneFile.map((r) => secs(r.ms)).join(', ')],
        ['`coracle --version` (CLI start-up)', secs(median(startup)), secs(Math.min(...startup)), '', '', '', startup.map(secs).join(', ')],
        ['`node -e 0`', secs(median(bareNode)), secs(Math.min(...bareNode)), '', '', '', bareNode.map(secs).join(', ')],
      ],
    ),
    '',
    `Warm rebuild: ${warmMs / 1000 <= TARGET_WARM_S ? 'met' : 'not met'}; one-file change: ${oneMs / 1000 <= TARGET_ONE_FILE_S ? 'met' : 'not met'}. ` +
      `Split of the warm rebuild: ${secs(median(bareNode))} s Node start, ${secs(Math.max(0, median(startup) - median(bareNode)))} s loading the CLI's modules, ` +
      `${median(warm.map((r) => r.internalS)).toFixed(2)} s of build work (spec, image lookups in the store, cached segment look-ups, hashing the \`files:\` entries; ` +
      `unchanged outputs are kept, not rewritten), the rest process exit and timer noise.`,
    '',
    'What the initrd holds (lz4 segments):',
    '',
    table(['segment', 'entries', 'raw MiB', 'lz4 MiB'], segRows),
    '',
    bootText,
  ].join('\n');
  await writeSection('build', '`coracle build`: cold, warm and one-file rebuilds, initrd size, boot vs floor', body);
  log('written to bench/RESULTS.md (section build)');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
