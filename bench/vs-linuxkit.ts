// `coracle build` side by side with LinuxKit's `linuxkit build`, in one run:
//
//   node --import tsx bench/vs-linuxkit.ts [--runs N]
//   LINUXKIT=/path/to/linuxkit           use this binary instead of building one
//   LINUXKIT_SRC=/path/to/linuxkit.git   build LinuxKit v1.2.0 from this checkout
//   CORACLE_BEFORE=/path/to/bin/coracle.js  also time an earlier Coracle (before/after in the same run)
//
// 1. LinuxKit: $LINUXKIT, or built from source (tag v1.2.0, whose go.mod
//    asks for Go 1.19 and vendors every module, so Debian's golang-go builds
//    it offline). A checkout is taken from $LINUXKIT_SRC, bench/work/linuxkit-src
//    or /work/.mirror/linuxkit+linuxkit/repo. A source mirror may lack its
//    two largest vendored files (the AWS EC2 and GCP compute API clients):
//    the `run`/`push` aws and gcp commands, which alone use them, are then
//    left out of the build. Without LinuxKit, Coracle is measured alone and
//    the section says so.
// 2. The reference system is made from the same Debian binaries for both:
//    `coracle pkg build` makes the images (kernel, init, runc, containerd,
//    sysctl, dhcpcd, busybox, getty, rngd) into the store ($CORACLE_CACHE or
//    the default); LinuxKit reads them from a copy of that OCI layout as its
//    cache (it finds images by the same ref.name annotations), Coracle from a
//    store sharing its blobs with an empty build cache.
// 3. After one cold build each, N rounds; in each, every tool (order rotated
//    per round) does: a warm rebuild into the same output folder, a rebuild
//    after one `files:` source changed, and a warm rebuild into a fresh
//    output folder. Times are wall clock of the process as a user runs it
//    (start-up included); peak RSS from /usr/bin/time. CLI start-up:
//    `coracle --version`, `linuxkit version`, `node -e 0`. Both tools run
//    without NODE_EXTRA_CA_CERTS (see runEnv); when the machine sets it, a
//    fourth step per round repeats the one-file rebuild with it.
// Figures go to bench/RESULTS.md (section "vs-linuxkit") as medians and ratios.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { defaultStoreRoot } from '../src/oci/store/location.js';
import { compiledCli } from './compiled-cli.js';
import { median, table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', 'work', 'vs-linuxkit');
const LK_TAG = 'v1.2.0';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const RUNS = arg('runs', 7);

const IMAGES = ['kernel', 'init', 'runc', 'containerd', 'sysctl', 'dhcpcd', 'busybox', 'getty', 'rngd'] as const;
type ImageName = (typeof IMAGES)[number];

const log = (s: string): void => console.log(`bench vs-linuxkit: ${s}`);
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const ratio = (a: number, b: number): string => (a / b).toFixed(3);

const buildCli = (): Promise<string> => compiledCli(work);

// ---- LinuxKit --------------------------------------------------------------

function linuxkitSource(): string | undefined {
  const candidates = [process.env.LINUXKIT_SRC, join(root, 'bench', 'work', 'linuxkit-src'), '/work/.mirror/linuxkit+linuxkit/repo'];
  return candidates.find((c) => c !== undefined && existsSync(c));
}

/** Build LinuxKit LK_TAG from a git checkout (bare or not) with the host's Go, offline. */
async function buildLinuxkit(src: string): Promise<{ bin: string; note: string }> {
  const bin = join(work, `linuxkit-${LK_TAG}`);
  const noteFile = `${bin}.note`;
  if (existsSync(bin)) return { bin, note: existsSync(noteFile) ? await readFile(noteFile, 'utf8') : `LinuxKit ${LK_TAG}` };
  const git = (args: string[]) => execa('git', ['-C', src, ...args], { maxBuffer: 1 << 30 });
  const files = (await git(['ls-tree', '-r', '--format=%(objectname) %(path)', LK_TAG, 'src/cmd/linuxkit'])).stdout.split('\n').filter(Boolean);
  const present: string[] = [];
  const missing: string[] = [];
  const check = await execa('git', ['-C', src, 'cat-file', '--batch-check'], { input: files.map((l) => l.split(' ')[0]).join('\n') + '\n' });
  check.stdout.split('\n').forEach((line, i) => (line.endsWith(' missing') ? missing : present).push(files[i]!.slice(41)));
  const tree = join(work, 'linuxkit-build');
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree, { recursive: true });
  await execa('git', ['-C', src, 'archive', LK_TAG, '--', ...present], { encoding: 'buffer', buffer: false }).pipe('tar', ['-x', '-C', tree]);
  const dir = join(tree, 'src', 'cmd', 'linuxkit');
  let note = `LinuxKit ${LK_TAG} built from source with ${(await execa('go', ['version'])).stdout.replace(/^go version /, '')} (vendored modules, offline)`;
  if (missing.length > 0) {
    const cloud = missing.every((m) => /aws-sdk-go\/service\/ec2\/|google\.golang\.org\/api\/compute\//.test(m));
    if (!cloud) throw new Error(`the LinuxKit source lacks files the build needs: ${missing.join(', ')}`);
    // These clients serve only `linuxkit run|push aws|gcp`: leave those commands out.
    for (const f of ['gcp.go', 'push_gcp.go', 'run_gcp.go', 'push_aws.go', 'run_aws.go']) await rm(join(dir, f), { force: true });
    for (const [f, re] of [['push.go', /^\s*cmd\.AddCommand\(push(AWS|GCP)Cmd\(\)\)\n/gm], ['run.go', /^\s*cmd\.AddCommand\(run(AWS|GCP)Cmd\(\)\)\n/gm]] as const) {
      const p = join(dir, f);
      await writeFile(p, (await readFile(p, 'utf8')).replace(re, ''));
    }
    // two constants of run_gcp.go that run_packet.go and push_scaleway.go use
    await writeFile(join(dir, 'gcp_consts.go'), 'package main\n\nconst (\n\tdefaultMachine = "g1-small"\n\tzoneVar        = "CLOUDSDK_COMPUTE_ZONE"\n)\n');
    note += `; the source mirror lacks ${missing.map((m) => m.replace(/^src\/cmd\/linuxkit\/vendor\//, '')).join(' and ')}, so the aws and gcp run/push commands were left out`;
  }
  log(`building LinuxKit ${LK_TAG} (go build, may take minutes)`);
  await execa('nice', ['-n', '10', 'go', 'build', '-trimpath', '-o', bin, '-ldflags', `-X github.com/linuxkit/linuxkit/src/cmd/linuxkit/version.Version=${LK_TAG}`, '.'], {
    cwd: dir,
    env: { GOPROXY: 'off', GOFLAGS: '-mod=vendor', GO111MODULE: 'on', CGO_ENABLED: '0' },
    stderr: 'inherit',
  });
  await writeFile(noteFile, note);
  return { bin, note };
}

async function findLinuxkit(): Promise<{ bin: string; note: string } | { why: string }> {
  if (process.env.LINUXKIT) return { bin: process.env.LINUXKIT, note: `LinuxKit from $LINUXKIT (${process.env.LINUXKIT})` };
  const src = linuxkitSource();
  if (src === undefined) return { why: 'no LinuxKit: $LINUXKIT is not set and no LinuxKit source checkout was found ($LINUXKIT_SRC, bench/work/linuxkit-src)' };
  if ((await execa('go', ['version'], { reject: false })).exitCode !== 0) return { why: 'no LinuxKit: Go (golang-go) is not installed to build it' };
  try {
    return await buildLinuxkit(src);
  } catch (e) {
    return { why: `no LinuxKit: building it from ${src} failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

// ---- the reference system --------------------------------------------------

async function systemImages(cli: string, store: string): Promise<Record<ImageName, string>> {
  log(`system images from ${store} (coracle pkg build: builds only what is missing)`);
  const r = await execa(process.execPath, [cli, '--cache', store, 'pkg', 'build', ...IMAGES.map((n) => `images/${n}`)], { cwd: root, reject: false, stderr: 'inherit', timeout: 3_600_000 });
  if (r.exitCode !== 0) throw new Error(`coracle pkg build failed (exit ${r.exitCode})`);
  const refs: Partial<Record<ImageName, string>> = {};
  for (const line of String(r.stdout).split('\n')) {
    const m = /^(?:built|up-to-date) (\S+) sha256:/.exec(line);
    const name = m ? IMAGES.find((n) => m[1]!.includes(`/${n}:`)) : undefined;
    if (name) refs[name] = m![1]!;
  }
  for (const n of IMAGES) if (!refs[n]) throw new Error(`coracle pkg build did not report images/${n}:\n${String(r.stdout)}`);
  return refs as Record<ImageName, string>;
}

/** An OCI layout sharing `src`'s blobs (hard links; a copy across filesystems), without its build cache. */
async function layoutCopy(src: string, dst: string): Promise<void> {
  await rm(dst, { recursive: true, force: true });
  await mkdir(dst, { recursive: true });
  const linked = await execa('cp', ['-al', join(src, 'blobs'), join(dst, 'blobs')], { reject: false });
  if (linked.exitCode !== 0) await execa('cp', ['-a', join(src, 'blobs'), join(dst, 'blobs')]);
  for (const f of ['oci-layout', 'index.json']) await copyFile(join(src, f), join(dst, f));
}

/** examples/web.yml's shape (2 onboot, 3 services, 1 onshutdown, 1 file), with rngd for ntpd (LinuxKit cannot unpack an image whose etc/resolv.conf is a symlink). */
function specText(r: Record<ImageName, string>, motd: string): string {
  return `kernel:
  image: ${r.kernel}
  cmdline: "console=ttyS0"
init:
  - ${r.init}
  - ${r.runc}
  - ${r.containerd}
onboot:
  - name: sysctl
    image: ${r.sysctl}
  - name: dhcpcd
    image: ${r.dhcpcd}
onshutdown:
  - name: goodbye
    image: ${r.busybox}
    command: ["/bin/echo", "goodbye"]
services:
  - name: getty
    image: ${r.getty}
    env:
      - INSECURE=true
  - name: rngd
    image: ${r.rngd}
  - name: web
    image: ${r.busybox}
    command: ["/bin/sh", "-c", "httpd -f -p 80 -h /www"]
    net: host
    capabilities:
      - CAP_NET_BIND_SERVICE
    binds:
      - /var/www:/www:ro
    readonly: true
files:
  - path: var/www/index.html
    source: ${motd}
    mode: "0644"
`;
}

// ---- measuring -------------------------------------------------------------

interface Tool {
  label: string;
  /** argv to build the spec into a folder. */
  build: (spec: string, out: string) => string[];
  version: string[];
  initrd: (out: string) => string;
  dir: string;
}

interface Run {
  ms: number;
  rssKiB: number;
}

/**
 * The environment both tools run in. NODE_EXTRA_CA_CERTS makes Node read and
 * parse that CA bundle at every start, before any of the program runs (about
 * 85 ms on this machine, where the sandbox sets it for its TLS proxy; a local
 * build uses no TLS): the main rows leave it out for both tools, and rows
 * marked so keep the machine's environment as it is.
 */
const CA_VAR = 'NODE_EXTRA_CA_CERTS';
const machineSetsCa = process.env[CA_VAR] !== undefined && process.env[CA_VAR] !== '';
function runEnv(withMachineCa: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
  if (!withMachineCa) delete env[CA_VAR];
  return env;
}

async function timed(argv: string[], withMachineCa = false): Promise<Run> {
  const t0 = performance.now();
  const r = await execa('/usr/bin/time', ['-f', '%M', ...argv], { reject: false, cwd: root, env: runEnv(withMachineCa), extendEnv: false });
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} failed (${r.exitCode}):\n${String(r.stderr).slice(-2000)}`);
  const rss = Number(String(r.stderr).trim().split('\n').pop());
  return { ms, rssKiB: rss };
}

const SCENARIOS = ['warm', 'oneFile', 'fresh', 'oneFileCa'] as const;
type Scenario = (typeof SCENARIOS)[number];
const TITLES: Record<Scenario, string> = {
  warm: 'warm rebuild, same output folder',
  oneFile: 'one `files:` entry changed',
  fresh: 'warm rebuild, fresh output folder',
  oneFileCa: `one \`files:\` entry changed, with this machine's ${CA_VAR}`,
};

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  const cli = await buildCli();
  const userStore = process.env.CORACLE_CACHE ?? defaultStoreRoot();
  const refs = await systemImages(cli, userStore);
  const lk = await findLinuxkit();
  const before = process.env.CORACLE_BEFORE;

  const tools: Tool[] = [];
  const coracleTool = (label: string, bin: string, dir: string): Tool => ({
    label,
    dir,
    build: (spec, out) => [process.execPath, bin, '--cache', join(dir, 'store'), 'build', spec, '-o', out, '--name', 'ref'],
    version: [process.execPath, bin, '--version'],
    initrd: (out) => join(out, 'ref-initrd.img'),
  });
  if ('bin' in lk) {
    const dir = join(work, 'linuxkit');
    tools.push({
      label: 'LinuxKit',
      dir,
      build: (spec, out) => [lk.bin, 'build', '--cache', join(dir, 'store'), '--format', 'kernel+initrd', '--dir', out, '--name', 'ref', spec],
      version: [lk.bin, 'version'],
      initrd: (out) => join(out, 'ref-initrd.img'),
    });
  }
  tools.push(coracleTool('Coracle', cli, join(work, 'coracle')));
  if (before) tools.push(coracleTool('Coracle before', before, join(work, 'coracle-before')));

  let edits = 0;
  const motdOf = (t: Tool) => join(t.dir, 'index.html');
  const specOf = (t: Tool) => join(t.dir, 'ref.yml');
  for (const t of tools) {
    await rm(t.dir, { recursive: true, force: true });
    await mkdir(t.dir, { recursive: true });
    await layoutCopy(userStore, join(t.dir, 'store'));
    await writeFile(motdOf(t), `<h1>edit ${edits}</h1>\n`);
    await writeFile(specOf(t), specText(refs, motdOf(t)));
  }

  const load0 = loadavg()[0]!;
  const cold = new Map<string, Run>();
  for (const t of tools) {
    log(`${t.label}: cold build`);
    await mkdir(join(t.dir, 'same'), { recursive: true }); // LinuxKit does not make its --dir
    cold.set(t.label, await timed(t.build(specOf(t), join(t.dir, 'same'))));
  }
  const runs = new Map<string, Record<Scenario, Run[]>>(tools.map((t) => [t.label, { warm: [], oneFile: [], fresh: [], oneFileCa: [] }]));
  const scenarios = SCENARIOS.filter((s) => s !== 'oneFileCa' || machineSetsCa);
  for (let r = 0; r < RUNS; r++) {
    const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
    log(`round ${r + 1}/${RUNS}`);
    for (const s of scenarios) {
      for (const t of order) {
        if (s === 'oneFile' || s === 'oneFileCa') await writeFile(motdOf(t), `<h1>edit ${++edits}</h1>\n`);
        const out = s === 'fresh' ? join(t.dir, `fresh-${r}`) : join(t.dir, 'same');
        await mkdir(out, { recursive: true });
        runs.get(t.label)![s].push(await timed(t.build(specOf(t), out), s === 'oneFileCa'));
        if (s === 'fresh') await rm(out, { recursive: true, force: true });
      }
    }
  }
  const startup = new Map<string, number[]>([...tools.map((t) => [t.label, []] as [string, number[]]), ['node -e 0', []], ['node -e 0 (machine env)', []]]);
  for (let r = 0; r < RUNS; r++) {
    for (const t of tools) startup.get(t.label)!.push((await timed(t.version)).ms);
    startup.get('node -e 0')!.push((await timed([process.execPath, '-e', '0'])).ms);
    if (machineSetsCa) startup.get('node -e 0 (machine env)')!.push((await timed([process.execPath, '-e', '0'], true)).ms);
  }
  const load1 = loadavg()[0]!;

  // ---- the table
  const med = (label: string, s: Scenario) => median(runs.get(label)![s].map((x) => x.ms));
  const rss = (label: string, s: Scenario) => Math.max(...runs.get(label)![s].map((x) => x.rssKiB)) / 1024;
  const size = async (t: Tool) => (await stat(t.initrd(join(t.dir, 'same')))).size;
  const lkT = tools.find((t) => t.label === 'LinuxKit');
  const cor = tools.find((t) => t.label === 'Coracle')!;
  const bef = tools.find((t) => t.label === 'Coracle before');
  const goals: Record<Scenario, number> = { warm: 0.1, oneFile: 0.05, fresh: 0.1, oneFileCa: 0.05 };
  const head = ['measure', ...tools.map((t) => t.label), ...(lkT ? ['Coracle / LinuxKit', 'goal'] : []), ...(bef ? ['Coracle / before'] : [])];
  const rows: Array<Array<string | number>> = [];
  for (const s of scenarios) {
    rows.push([
      `${TITLES[s]} (s)`,
      ...tools.map((t) => secs(med(t.label, s))),
      ...(lkT ? [ratio(med(cor.label, s), med(lkT.label, s)), `≤ ${goals[s]}${med(cor.label, s) / med(lkT.label, s) <= goals[s] ? ' (met)' : ' (not met)'}`] : []),
      ...(bef ? [ratio(med(cor.label, s), med(bef.label, s))] : []),
    ]);
  }
  rows.push([
    'peak RSS, warm / one file (MiB)',
    ...tools.map((t) => `${rss(t.label, 'warm').toFixed(0)} / ${rss(t.label, 'oneFile').toFixed(0)}`),
    ...(lkT ? [`${ratio(rss(cor.label, 'warm'), rss(lkT.label, 'warm'))} / ${ratio(rss(cor.label, 'oneFile'), rss(lkT.label, 'oneFile'))}`, '≤ 0.5'] : []),
    ...(bef ? [`${ratio(rss(cor.label, 'warm'), rss(bef.label, 'warm'))} / ${ratio(rss(cor.label, 'oneFile'), rss(bef.label, 'oneFile'))}`] : []),
  ]);
  const sizes = new Map<string, number>();
  for (const t of tools) sizes.set(t.label, await size(t));
  rows.push([
    'initrd (MB)',
    ...tools.map((t) => `${(sizes.get(t.label)! / 1e6).toFixed(1)} ${t.label === 'LinuxKit' ? 'gzip' : 'lz4'}`),
    ...(lkT ? [ratio(sizes.get(cor.label)!, sizes.get(lkT.label)!), '≤ 0.8'] : []),
    ...(bef ? [ratio(sizes.get(cor.label)!, sizes.get(bef.label)!)] : []),
  ]);
  const node0 = median(startup.get('node -e 0')!);
  rows.push([
    'CLI start-up, `version` (s)',
    ...tools.map((t) => secs(median(startup.get(t.label)!))),
    ...(lkT ? [ratio(median(startup.get(cor.label)!), median(startup.get(lkT.label)!)), ''] : []),
    ...(bef ? [ratio(median(startup.get(cor.label)!), median(startup.get(bef.label)!))] : []),
  ]);
  const coldRow = ['cold build (s, once)', ...tools.map((t) => secs(cold.get(t.label)!.ms)), ...(lkT ? [ratio(cold.get(cor.label)!.ms, cold.get(lkT.label)!.ms), ''] : []), ...(bef ? [''] : [])];

  const raw = tools
    .map((t) => `- ${t.label}: ${scenarios.map((s) => `${TITLES[s]} ${runs.get(t.label)![s].map((x) => secs(x.ms)).join(', ')}`).join('; ')}`)
    .join('\n');
  const body = [
    lkT ? ('bin' in lk ? lk.note + '.' : '') : `**Coracle alone**: ${'why' in lk ? lk.why : ''}.`,
    '',
    `Reference system (${specOf(cor).replace(root + '/', '')}): kernel, init, runc, containerd, onboot sysctl and dhcpcd, onshutdown goodbye (busybox), services getty, rngd and web (busybox, read-only), one \`files:\` entry; images ${IMAGES.map((n) => refs[n]).join(', ')}, made by \`coracle pkg build\` from Debian packages and read by every tool from the same OCI layout.`,
    `Each tool built it once cold, then ${RUNS} interleaved rounds (tool order rotated per round) of: warm rebuild into the same folder, one \`files:\` source edited, warm rebuild into a fresh folder. Medians of wall-clock process time (start-up included); peak RSS is the largest of the rounds. \`node -e 0\`: ${secs(node0)} s; \`coracle --version\` / \`node -e 0\`: ${ratio(median(startup.get(cor.label)!), node0)} (goal ≤ 1.5).`,
    `Load average (1 min) ${load0.toFixed(1)} before, ${load1.toFixed(1)} after: the machine is shared, compare the ratios, not the seconds.`,
    machineSetsCa
      ? `This machine sets ${CA_VAR} (${process.env[CA_VAR]}) for every process; Node reads and parses that bundle at each start, before the program runs (\`node -e 0\` ${secs(median(startup.get('node -e 0 (machine env)')!))} s with it, ${secs(node0)} s without). A local build makes no TLS connection, so both tools run without it; the row marked so keeps it.`
      : `${CA_VAR} is not set here.`,
    '',
    table(head, [...rows, coldRow]),
    '',
    'Every run (s):',
    '',
    raw,
  ].join('\n');
  await writeSection('vs-linuxkit', 'Build speed and size: Coracle vs LinuxKit', body);
  log('wrote bench/RESULTS.md (section vs-linuxkit)');
  console.log(table(head, [...rows, coldRow]));
}

await main();
