/**
 * Four concurrent `pull`s of one image into one empty store, and four
 * concurrent `build`s of one spec from one store (into one output folder
 * and into four), give the same bytes as a serial run: the same blobs, each
 * hashing to its name, the same outputs, no temporary file left.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { projectRoot } from '../helpers/cli.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { listFiles, makeImageLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';

let dir: string;
let home: string;
let base: string;
let spec: string;
let layout: TempLayout<BuiltImage>;
let registry: FaultServer;

const run = (args: string[]) =>
  execa(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), ...args], { reject: false, cwd: projectRoot, env: { CI: '1', DOCKER_CONFIG: home, XDG_CONFIG_HOME: home } });

async function sums(d: string, skip: (n: string) => boolean = (n) => n.startsWith('.')): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(d).catch(() => [] as string[])).sort()) if (!skip(n)) o[n] = createHash('sha256').update(await readFile(join(d, n))).digest('hex');
  return o;
}
const blobsOf = (store: string) => sums(join(store, 'blobs', 'sha256'), () => false);
const refsOf = async (store: string) => (await (await openStore(store)).listRefs()).map((r) => `${r.name} ${r.descriptor.digest}`).sort();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-conc-'));
  home = join(dir, 'home');
  await mkdir(home);
  base = join(dir, 'base');
  const s = await openStore(base);
  const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
  await writeImage(s, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: randomBytes(1 << 20) }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(s, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\n', mode: 0o755 }] }] });
  await writeImage(s, 'fx/app:1', { layers: [{ entries: [{ path: 'app', data: randomBytes(3 << 20) }] }], config: { Cmd: ['/app'] } });
  spec = join(dir, 'c.yml');
  await writeFile(spec, 'kernel:\n  image: fx/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - fx/init:1\nservices:\n  - name: app\n    image: fx/app:1\nfiles:\n  - path: etc/motd\n    contents: hi\n');
  layout = await makeImageLayout({ layers: [6_000_000, 3_000_000, { files: { 'etc/x': 'x\n' } }] }, 'v1');
  registry = await startFaultServer({ repos: { 'conc/img': layout.dir } });
});
afterAll(async () => {
  await registry?.stop();
  await layout?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('concurrent pulls and builds', () => {
  it('four concurrent pulls into one empty store = one serial pull', async () => {
    const ref = `${registry.host}/conc/img:v1`;
    const serial = join(dir, 'pull-serial');
    expect((await run(['--cache', serial, 'pull', ref])).exitCode).toBe(0);
    const shared = join(dir, 'pull-shared');
    const rs = await Promise.all([0, 1, 2, 3].map(() => run(['--cache', shared, 'pull', ref])));
    for (const r of rs) expect(r.exitCode, String(r.stderr)).toBe(0);
    const want = await blobsOf(serial);
    const got = await blobsOf(shared);
    expect(got).toEqual(want);
    for (const [name, sum] of Object.entries(got)) expect(sum, name).toBe(name);
    expect(await refsOf(shared)).toEqual(await refsOf(serial));
    expect((await listFiles(shared)).filter((f) => f.includes('.coracle-tmp/') || f.includes('.tmp-'))).toEqual([]);
  });

  it('four concurrent builds from one store (one shared output folder, and four) = one serial build', async () => {
    const serialStore = join(dir, 'build-serial-store');
    await cp(base, serialStore, { recursive: true });
    const serialOut = join(dir, 'build-serial-out');
    expect((await run(['--cache', serialStore, 'build', spec, '-o', serialOut])).exitCode).toBe(0);
    const want = await sums(serialOut);
    const store = join(dir, 'build-store');
    await cp(base, store, { recursive: true });
    const outs = [0, 1, 2, 3].map((i) => join(dir, `build-out-${i}`));
    const sharedOut = join(dir, 'build-out-shared');
    const rs = await Promise.all([...outs.map((o) => run(['--cache', store, 'build', spec, '-o', o])), ...[0, 1, 2, 3].map(() => run(['--cache', store, 'build', spec, '-o', sharedOut]))]);
    for (const r of rs) expect(r.exitCode, String(r.stderr)).toBe(0);
    for (const o of [...outs, sharedOut]) {
      expect(await sums(o)).toEqual(want);
      expect((await readdir(o)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    }
    for (const [name, sum] of Object.entries(await blobsOf(store))) expect(sum, name).toBe(name);
  });
});
