/**
 * Boot tests of the product pipeline: the real system images made by
 * `coracle pkg build images/...` into a test store, specs assembled by
 * `coracle build`, booted with the QEMU helpers.
 */
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseDisk, type DiskSpec } from '../../src/qemu/options.js';
import { resolveImage } from '../../src/qemu/image.js';
import { loadSpecs } from '../../src/spec/load.js';
import { loadTestFile } from '../../src/testing/load.js';
import { resolvePublish, runTest } from '../../src/testing/run.js';
import type { TestFile, TestReport } from '../../src/testing/types.js';
import { findBootImage, type BootImage } from './dev-initrd.js';
import { projectRoot, runCli } from './cli.js';

/** The store the system images are built into; kept between runs (unchanged definitions are not rebuilt). */
export function systemStore(): string {
  return process.env.CORACLE_TEST_STORE ?? join(projectRoot, '.coracle', 'store');
}

/** `@pkg:…/images/NAME` references of a spec: the images/ definitions it needs. */
export async function specImageNames(spec: string): Promise<string[]> {
  const text = await readFile(spec, 'utf8');
  return [...new Set([...text.matchAll(/@pkg:[^"'\s]*?\bimages\/([a-z0-9-]+)/g)].map((m) => m[1]!))].sort();
}

async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      const h = await open(path, 'wx');
      await h.close();
      break;
    } catch {
      const st = await stat(path).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 30 * 60_000) await rm(path, { force: true });
      if (i > 3600) throw new Error(`timed out waiting for ${path}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** Build (or find) the system images `names` in the test store. Throws with the CLI's output on failure. */
export async function ensureSystemImages(names: string[]): Promise<void> {
  const store = systemStore();
  await mkdir(store, { recursive: true });
  const dirs = names.map((n) => join('images', n));
  await withLock(join(store, '.system-images.lock'), async () => {
    const r = await runCli(['--cache', store, 'pkg', 'build', ...dirs], { timeout: 40 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`coracle pkg build failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  });
}

/** Every image definition under images/. */
export async function allImageNames(): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(projectRoot, 'images'), { withFileTypes: true })) {
    if (d.isDirectory() && (await stat(join(projectRoot, 'images', d.name, 'build.yml')).catch(() => undefined))) out.push(d.name);
  }
  return out.sort();
}

/** `coracle build` a spec into `outDir` with the test store; returns the boot files. */
export async function buildSystem(specs: string[], outDir: string, name: string): Promise<BootImage> {
  const r = await runCli(['--cache', systemStore(), 'build', ...specs, '-o', outDir, '--name', name], { timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`coracle build failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  return findBootImage(outDir, name);
}

export interface SystemTestOptions {
  /** specs merged by `coracle build` (the example first, then test overlays) */
  specs: string[];
  name: string;
  /** a folder of the test's own: build output, console log, QEMU state */
  dir: string;
  /** `coracle test` files whose steps run one after another in one boot */
  tests: string[];
  disks?: DiskSpec[];
  /** overrides the test files' user-data */
  userData?: string;
  /** the console log's file name in `dir` (default console.log) */
  log?: string;
  /** build folder to reuse (the build is skipped when it already holds NAME) */
  out?: string;
}

export interface SystemTestRun {
  report: TestReport;
  /** one `ok|FAIL|skip N/M ...` line per step, as the CLI prints them */
  lines: string[];
  logFile: string;
}

/**
 * Several `coracle test` files as one: their steps in order (renumbered),
 * their published ports, disks and memory together.
 */
export function combineTests(files: TestFile[]): TestFile {
  const userData = files.find((f) => f.userData !== undefined);
  const mem = Math.max(0, ...files.map((f) => f.mem ?? 0));
  return {
    file: files.map((f) => f.file).join('+'),
    publish: [...new Set(files.flatMap((f) => f.publish))],
    disks: files.flatMap((f) => f.disks.map((d) => resolve(dirname(f.file), d))),
    ...(userData ? { userData: resolve(dirname(userData.file), userData.userData!) } : {}),
    ...(mem > 0 ? { mem } : {}),
    steps: files.flatMap((f) => f.steps).map((s, i) => ({ ...s, index: i + 1 })),
  };
}

/**
 * A project boot test through the runner `coracle test` uses (runTest):
 * the specs built together, then booted once for the steps of every test
 * file in `tests`. The step lines and a failure's console tail are in the
 * result, for the assertion's message.
 */
export async function runSystemTest(o: SystemTestOptions): Promise<SystemTestRun> {
  const specs = [...new Set((await Promise.all(o.specs.map(specImageNames))).flat())];
  await ensureSystemImages(specs);
  const out = o.out ?? join(o.dir, 'out');
  if (!(await stat(join(out, `${o.name}-initrd.img`)).catch(() => undefined))) await buildSystem(o.specs, out, o.name);
  const test = combineTests(await Promise.all(o.tests.map((t) => loadTestFile(t))));
  const { spec } = await loadSpecs(o.specs);
  const logFile = join(o.dir, o.log ?? 'console.log');
  const lines: string[] = [];
  const total = test.steps.length;
  const report = await runTest({
    test,
    boot: await resolveImage(join(out, o.name)),
    target: out,
    publish: await resolvePublish(test, []),
    disks: [...test.disks, ...(o.disks ?? [])].map((d) => (typeof d === 'string' ? parseDisk(d) : d)),
    ...(o.userData ?? test.userData ? { userDataFile: o.userData ?? test.userData } : {}),
    services: spec.services.map((s) => s.name),
    stateDir: join(o.dir, `state-${o.log ?? 'console.log'}`),
    logFile,
    kvmCacheFile: join(systemStore(), 'kvm-probe.json'),
    onStep: (s) => {
      const n = `${s.index}/${total}`;
      lines.push(s.status === 'fail' ? `FAIL ${n} ${s.file}:${s.line}:${s.col}: ${s.message}` : `${s.status === 'pass' ? 'ok  ' : 'skip'} ${n} ${s.label}`);
    },
  });
  return { report, lines, logFile };
}

/** The run's lines and console tail: the message of an assertion on it. */
export function explain(run: SystemTestRun): string {
  return [...run.lines, ...(run.report.consoleTail ? ['--- console ---', ...run.report.consoleTail] : []), `(console: ${run.logFile})`].join('\n');
}
