/**
 * Crash safety: `coracle build`, `pull` and `pkg build` are SIGKILLed at 10
 * points each, spread over a run's duration (seeded, so every CI run kills
 * at the same fractions). After each kill: no target path holds a partial
 * file (every output is absent or identical to a clean run's), every blob
 * in the store hashes to its name; then the same command runs again,
 * succeeds, gives the same bytes, and leaves no temporary file behind (the
 * output folder, the segment cache, the store's temporary folder).
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { projectRoot } from '../helpers/cli.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { listFiles, makeImageLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';

const KILLS = 10;
let dir: string;
let baseStore: string;
let spec: string;
let layout: TempLayout<BuiltImage>;
let registry: FaultServer;
let home: string;

/** The compiled CLI (npm test compiles first): kill points should fall in the work, not in tsx's start-up. */
const CLI = join(projectRoot, 'bin', 'coracle.js');

function run(args: string[]) {
  return execa(process.execPath, [CLI, ...args], { reject: false, cwd: projectRoot, env: { CI: '1', DOCKER_CONFIG: home, XDG_CONFIG_HOME: home } });
}

/** Deterministic fractions in (0.05, 0.8) of a clean run's time (later runs can be quicker): a small LCG, fixed seed. */
function killFractions(seed: number): number[] {
  let s = seed;
  const out: number[] = [];
  for (let i = 0; i < KILLS; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out.push(0.05 + (0.75 * (i + s / 2 ** 31)) / KILLS);
  }
  return out;
}

async function sums(d: string, only?: (name: string) => boolean): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(d).catch(() => [] as string[])).sort()) {
    if (only && !only(n)) continue;
    o[n] = createHash('sha256').update(await readFile(join(d, n))).digest('hex');
  }
  return o;
}

const tempLike = (f: string) => /\.tmp-|\.coracle-tmp\//.test(f) && !f.endsWith('.lock');

/** Blob files whose bytes do not hash to their name (a store killed before its index.json exists included). */
async function corruptBlobsIn(store: string): Promise<string[]> {
  const dirp = join(store, 'blobs', 'sha256');
  const bad: string[] = [];
  for (const n of await readdir(dirp).catch(() => [] as string[])) {
    if (createHash('sha256').update(await readFile(join(dirp, n))).digest('hex') !== n) bad.push(n);
  }
  return bad;
}

/** Files anywhere under the store that look temporary (the store's tmp/ folder, .tmp- names). */
async function tempFiles(root: string): Promise<string[]> {
  return (await listFiles(root).catch(() => [] as string[])).filter(tempLike);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-kill-'));
  home = join(dir, 'home');
  await mkdir(home);
  baseStore = join(dir, 'base-store');
  const s = await openStore(baseStore);
  const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
  await writeImage(s, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: randomBytes(4 << 20) }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(s, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\n', mode: 0o755 }] }] });
  // enough bytes that writing the initrd takes a while: kills land inside it
  await writeImage(s, 'fx/big:1', {
    layers: [{ entries: Array.from({ length: 8 }, (_, i) => ({ path: `data/f${i}`, data: randomBytes(2 << 20) })) }],
    config: { Cmd: ['/data/f0'] },
  });
  spec = join(dir, 'k.yml');
  await writeFile(spec, 'kernel:\n  image: fx/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - fx/init:1\nservices:\n  - name: big\n    image: fx/big:1\n');
  layout = await makeImageLayout({ layers: [12_000_000, 8_000_000, { files: { 'etc/x': 'x\n' } }] }, 'v1');
  registry = await startFaultServer({ repos: { 'kill/img': layout.dir } });
  await execa('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: projectRoot });
});

afterAll(async () => {
  await registry?.stop();
  await layout?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  /** args, given a store and an output folder */
  args: (store: string, out: string) => string[];
  /** a store to start from (copied for each kill) */
  fresh: (store: string) => Promise<void>;
  /** the target paths whose content must be whole: name -> sha256 */
  targets: (store: string, out: string) => Promise<Record<string, string>>;
}

const cases: Case[] = [
  {
    name: 'build',
    args: (store, out) => ['--cache', store, 'build', spec, '-o', out],
    fresh: (store) => cp(baseStore, store, { recursive: true }),
    targets: async (store, out) => ({
      ...(await sums(out, (n) => !n.startsWith('.'))),
      ...Object.fromEntries(Object.entries(await sums(join(store, 'build-cache', 'segments'), (n) => !n.startsWith('.'))).map(([k, v]) => [`seg/${k}`, v])),
    }),
  },
  {
    name: 'pull',
    args: (store) => ['--cache', store, 'pull', '--insecure', `${registry.host}/kill/img:v1`],
    fresh: async (store) => void (await mkdir(store, { recursive: true })),
    targets: async (store) => sums(join(store, 'blobs', 'sha256')),
  },
  {
    name: 'pkg build',
    args: (store) => ['--cache', store, 'pkg', 'build', join(dir, 'images', 'bigpkg')],
    fresh: async (store) => {
      await mkdir(store, { recursive: true });
      const d = join(dir, 'images', 'bigpkg');
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'payload.bin'), Buffer.alloc(24 << 20, 7));
      await writeFile(join(d, 'build.yml'), 'description: a big file only\nfiles:\n  - {path: /opt/payload.bin, source: payload.bin, mode: "0644"}\n');
    },
    targets: async (store) => sums(join(store, 'blobs', 'sha256')),
  },
];

describe('SIGKILL at 10 points leaves no partial file and a sound store; the next run cleans up', () => {
  for (const [ci, c] of cases.entries()) {
    // (10 kills and 10 reruns: minutes on a loaded 2-core machine)
    it(`${c.name}`, { timeout: 1_200_000 }, async () => {
      // a clean run: the reference bytes and the duration
      const refStore = join(dir, `${ci}-ref-store`);
      const refOut = join(dir, `${ci}-ref-out`);
      await c.fresh(refStore);
      const t0 = Date.now();
      const ref = await run(c.args(refStore, refOut));
      // (a shared machine's load changes: a run that ends before its kill shortens the estimate)
      let duration = Date.now() - t0;
      expect(ref.exitCode, String(ref.stderr)).toBe(0);
      const want = await c.targets(refStore, refOut);
      expect(Object.keys(want).length).toBeGreaterThan(0);

      let killedMidway = 0;
      for (const [k, f] of killFractions(1000 + ci).entries()) {
        const store = join(dir, `${ci}-k${k}-store`);
        const out = join(dir, `${ci}-k${k}-out`);
        await c.fresh(store);
        const started = Date.now();
        const p = run(c.args(store, out));
        const ended = p.then(() => Date.now());
        await new Promise((r) => setTimeout(r, Math.round(f * duration)));
        p.kill('SIGKILL');
        const r = await p;
        if (r.signal === 'SIGKILL') killedMidway++;
        else duration = Math.min(duration, (await ended) - started);
        // no target holds a partial file: each is absent or whole
        const got = await c.targets(store, out);
        for (const [name, sum] of Object.entries(got)) expect(want[name], `${c.name} kill ${k} (${f.toFixed(2)}): ${name} is not a file of the clean run`).toBe(sum);
        expect(await corruptBlobsIn(store), `${c.name} kill ${k}: corrupt blobs`).toEqual([]);
        // the next run succeeds, gives the same bytes, and removes what the killed one left
        const again = await run(c.args(store, out));
        expect(again.exitCode, String(again.stderr)).toBe(0);
        expect(await c.targets(store, out)).toEqual(want);
        expect(await corruptBlobsIn(store)).toEqual([]);
        expect(await tempFiles(store), `${c.name} kill ${k}: temporary files left in the store`).toEqual([]);
        expect((await readdir(out).catch(() => [] as string[])).filter((n) => n.includes('.tmp-')), `${c.name} kill ${k}: temporary files left in the output folder`).toEqual([]);
        await rm(store, { recursive: true, force: true });
        await rm(out, { recursive: true, force: true });
      }
      // most kill points fell inside the run (not after it ended)
      expect(killedMidway).toBeGreaterThanOrEqual(KILLS - 3);
    });
  }
});
