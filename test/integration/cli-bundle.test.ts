/**
 * The CLI as installed runs from dist/bundle/coracle.cjs through V8's code
 * cache (bin/coracle.js, src/cli/bundled.ts, scripts/bundle.mjs): the same
 * outputs, messages and exit codes as the unbundled CLI, a cache file per
 * command that is reused, replaced when V8 refuses it, and a bundle older
 * than dist/ never used.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBundle } from '../../src/cli/bundled.js';
import { VERSION } from '../../src/cli/version.js';
import { openStore } from '../../src/oci/store/layout-store.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';

const run = promisify(execFile);
let dir: string;
let store: string;
let spec: string;
let codeCache: string;

const SPEC = `kernel:
  image: fx/kernel:1
  cmdline: "console=ttyS0"
init:
  - fx/init:1
services:
  - name: web
    image: fx/web:1
files:
  - path: etc/motd
    contents: "hello\\n"
`;

/** Run `bin` (bin/coracle.js or a copy) as a user does; every run counts as a quick one unless `env` says otherwise (a loaded machine). */
async function bin(binFile: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [binFile, ...args], { cwd: projectRoot, env: { ...process.env, CI: '1', CORACLE_CODE_CACHE: codeCache, CORACLE_CODE_CACHE_QUICK_MS: '600000', ...env }, maxBuffer: 1 << 26 });
    return { exitCode: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}
const projectBin = join(projectRoot, 'bin', 'coracle.js');

async function sums(out: string): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(out)).sort()) o[n] = createHash('sha256').update(await readFile(join(out, n))).digest('hex');
  return o;
}

beforeAll(async () => {
  // `npm test` bundles first; a lone vitest run may find dist/ newer than the bundle
  if (currentBundle(join(projectRoot, 'dist')) === undefined) await run(process.execPath, [join(projectRoot, 'scripts', 'bundle.mjs')], { cwd: projectRoot });
  dir = await mkdtemp(join(tmpdir(), 'coracle-bundle-'));
  codeCache = join(dir, 'code-cache');
  store = join(dir, 'store');
  const s = await openStore(store);
  const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
  await writeImage(s, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: 'bzImage'.repeat(50) }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(s, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\n', mode: 0o755 }] }] });
  await writeImage(s, 'fx/web:1', { layers: [{ entries: [{ path: 'srv/index.html', data: '<h1>hi</h1>' }] }], config: { Cmd: ['/bin/httpd'] } });
  spec = join(dir, 't.yml');
  await writeFile(spec, SPEC);
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the bundled CLI (bin/coracle.js)', () => {
  it('answers --version without the bundle', async () => {
    const r = await bin(projectBin, ['--version']);
    expect(r).toEqual({ exitCode: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('builds the same bytes as the unbundled CLI, and keeps one code cache file for the command', async () => {
    const a = await bin(projectBin, ['--cache', store, 'build', spec, '-o', join(dir, 'a')], { SOURCE_DATE_EPOCH: '' });
    expect(a.exitCode, a.stderr).toBe(0);
    const b = await runCli(['--cache', store, 'build', spec, '-o', join(dir, 'b')], { env: { SOURCE_DATE_EPOCH: '' } });
    expect(b.exitCode, b.stderr).toBe(0);
    expect(await sums(join(dir, 'a'))).toEqual(await sums(join(dir, 'b')));
    expect((await readdir(codeCache)).filter((n) => n.startsWith('build-') && n.endsWith('.v8'))).toHaveLength(1);
  });

  it('loads Node built-ins with require, never import() (which fails inside vm.Script): its caches are written', async () => {
    const bundle = currentBundle(join(projectRoot, 'dist'))!;
    expect((await readFile(bundle, 'utf8')).match(/[^\w.$]import\(/g)).toBeNull();
    // parse-cache writes through a lazily loaded node:fs/promises: a bundled build leaves its entry
    const store2 = join(dir, 'store2');
    await cp(store, store2, { recursive: true });
    await rm(join(store2, 'build-cache'), { recursive: true, force: true });
    const r = await bin(projectBin, ['--cache', store2, 'build', spec, '-o', join(dir, 'p')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await readdir(join(store2, 'build-cache', 'specs'))).toHaveLength(1);
  });

  it('reuses an accepted cache file and replaces one V8 refuses', async () => {
    const args = ['--cache', store, 'build', spec, '-o', join(dir, 'c')];
    expect((await bin(projectBin, args)).exitCode).toBe(0);
    const [file] = (await readdir(codeCache)).filter((n) => n.startsWith('build-'));
    const path = join(codeCache, file!);
    const before = await stat(path);
    expect((await bin(projectBin, args)).exitCode).toBe(0);
    expect((await stat(path)).mtimeMs, 'an accepted cache is not written again').toBe(before.mtimeMs);
    await writeFile(path, Buffer.from('not a V8 code cache'));
    const r = await bin(projectBin, args);
    expect(r.exitCode, r.stderr).toBe(0);
    const after = await readFile(path);
    expect(after.length).toBeGreaterThan(1000);
    expect(after.toString('latin1')).not.toContain('not a V8 code cache');
    // a cache of another bundle (an older build) is removed when this one's is written
    const old = join(codeCache, 'build-node-v0.0.0-x64-1-1.v8');
    await writeFile(old, 'old');
    await rm(path);
    expect((await bin(projectBin, args)).exitCode).toBe(0);
    expect((await readdir(codeCache)).filter((n) => n.startsWith('build-')).sort()).toEqual([file]);
  });

  it('a slow run (a cold build) writes its code cache aside; the first quick run replaces it, later ones keep it', async () => {
    const cache = join(dir, 'code-cache-slow');
    const args = ['--cache', store, 'build', spec, '-o', join(dir, 'slow')];
    const files = async () => (await readdir(cache)).filter((n) => n.startsWith('build-')).sort();
    expect((await bin(projectBin, args, { CORACLE_CODE_CACHE: cache, CORACLE_CODE_CACHE_QUICK_MS: '0' })).exitCode).toBe(0);
    const [slow] = await files();
    expect(slow).toMatch(/\.slow\.v8$/);
    // another slow run uses it and leaves it alone
    const slowStat = await stat(join(cache, slow!));
    expect((await bin(projectBin, args, { CORACLE_CODE_CACHE: cache, CORACLE_CODE_CACHE_QUICK_MS: '0' })).exitCode).toBe(0);
    expect((await stat(join(cache, slow!))).mtimeMs).toBe(slowStat.mtimeMs);
    // a quick run writes the cache of a quick run and removes the slow one
    expect((await bin(projectBin, args, { CORACLE_CODE_CACHE: cache })).exitCode).toBe(0);
    const [quick] = await files();
    expect(await files()).toEqual([slow!.replace(/\.slow\.v8$/, '.v8')]);
    const quickStat = await stat(join(cache, quick!));
    expect((await bin(projectBin, args, { CORACLE_CODE_CACHE: cache })).exitCode).toBe(0);
    expect((await bin(projectBin, args, { CORACLE_CODE_CACHE: cache, CORACLE_CODE_CACHE_QUICK_MS: '0' })).exitCode).toBe(0);
    expect((await stat(join(cache, quick!))).mtimeMs, 'a usable quick cache is never replaced').toBe(quickStat.mtimeMs);
    expect(await files()).toEqual([quick]);
  });

  it('reaches the spec parser\'s libraries, left out of the bundle, through require: a new spec, a lock written and read', async () => {
    const bundle = currentBundle(join(projectRoot, 'dist'))!;
    expect(await readFile(bundle, 'utf8')).toMatch(/require\("zod"\)/);
    const d = join(dir, 'libs');
    await mkdir(d);
    const s = join(d, 'libs.yml');
    await writeFile(s, `${SPEC}# a spec never parsed before\n`);
    const locked = await bin(projectBin, ['--cache', store, 'build', s, '-o', join(d, 'out'), '--lock']);
    expect(locked.exitCode, locked.stderr).toBe(0);
    expect(await readFile(join(d, 'libs.lock.yml'), 'utf8')).toMatch(/fx\/web:1/);
    const again = await bin(projectBin, ['--cache', store, 'build', s, '-o', join(d, 'out'), '--locked']);
    expect(again.exitCode, again.stderr).toBe(0);
  });

  it('gives the same one-line errors and exit codes', async () => {
    const bad = join(dir, 'bad.yml');
    await writeFile(bad, 'services:\n  - name: x\n    image: fx/web:1\n    bogus: 1\n');
    const a = await bin(projectBin, ['validate', bad]);
    const b = await runCli(['validate', bad]);
    expect(a.exitCode).not.toBe(0);
    expect(a.exitCode).toBe(b.exitCode);
    expect(a.stderr.trimEnd()).toBe(b.stderr); // execa drops the last newline
    expect(a.stderr).toMatch(/bad\.yml:4:5: /);
    expect(a.stderr).not.toMatch(/\n\s+at /);
    const c = await bin(projectBin, ['--cache', store, 'build', join(dir, 'missing.yml'), '-o', join(dir, 'm')]);
    expect(c.exitCode).not.toBe(0);
    expect(c.stderr).toMatch(/^coracle: .*missing\.yml/);
  });

  it('never runs a bundle older than dist/ (tsc ran since): dist/ runs instead', async () => {
    // a copy of the installed layout: bin/, dist/ (with its bundle), node_modules
    const inst = join(dir, 'inst');
    await mkdir(inst);
    await cp(join(projectRoot, 'bin'), join(inst, 'bin'), { recursive: true });
    await cp(join(projectRoot, 'dist'), join(inst, 'dist'), { recursive: true });
    await symlink(join(projectRoot, 'node_modules'), join(inst, 'node_modules'));
    const copyBin = join(inst, 'bin', 'coracle.js');
    // the copied stamp no longer matches main.js's mtime: make it match, then check the bundle is what runs
    const { mtimeMs } = await stat(join(inst, 'dist', 'cli', 'main.js'));
    await writeFile(join(inst, 'dist', 'bundle', 'stamp.json'), JSON.stringify({ main: mtimeMs }));
    await writeFile(join(inst, 'dist', 'bundle', 'coracle.cjs'), 'exports.main = async () => { process.stdout.write("from the bundle\\n"); return 3; };\n');
    const viaBundle = await bin(copyBin, ['images']);
    expect(viaBundle).toMatchObject({ exitCode: 3, stdout: 'from the bundle\n' });
    // tsc rewrote main.js: the stale bundle is ignored
    await utimes(join(inst, 'dist', 'cli', 'main.js'), new Date(), new Date(Date.now() + 5000));
    const viaDist = await bin(copyBin, ['--cache', store, 'images']);
    expect(viaDist.exitCode, viaDist.stderr).toBe(0);
    expect(viaDist.stdout).toContain('fx/web');
    // no bundle at all (tsc alone made dist/): bin/ runs the same runner as ES modules
    await rm(join(inst, 'dist', 'bundle'), { recursive: true });
    const noBundle = await bin(copyBin, ['--cache', store, 'images']);
    expect(noBundle.exitCode, noBundle.stderr).toBe(0);
    expect(noBundle.stdout).toContain('fx/web');
    expect((await bin(copyBin, ['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('bin/coracle.js is CommonJS and needs no ES module loader to start the bundle', async () => {
    expect(JSON.parse(await readFile(join(projectRoot, 'bin', 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
    const hook = join(dir, 'esm-probe.cjs');
    await writeFile(hook, "process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('esm/module_job')))));\n");
    const probe = await run(process.execPath, ['-r', hook, projectBin, '--version'], { cwd: projectRoot });
    expect(probe.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(JSON.parse(probe.stderr)).toEqual([]);
  });
});
