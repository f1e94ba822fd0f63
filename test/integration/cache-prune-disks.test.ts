/**
 * `coracle cache prune` and the build cache's disk images
 * (STORE/build-cache/images: one folder per format and content, and the
 * whole initrds they are made from): kept within the grace period, and
 * while builds keep using them (a cache hit touches the entry); removed
 * past it, with the count and bytes on the one summary line; a writer's
 * leftovers go once the writer is gone. A later build makes the same bytes
 * again. Fixture images as in disk-formats.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';

const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const FORMATS = ['uki', 'raw-bios'];

let dir: string;
let store: string;
let spec: string;
let images: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-prune-disks-'));
  store = join(dir, 'store');
  const s = await openStore(store);
  const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
  await writeImage(s, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: await readFile(STUB) }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(s, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755 }, { path: 'etc', type: 'dir', mode: 0o755 }] }] });
  spec = join(dir, 'p.yml');
  await writeFile(spec, 'kernel:\n  image: fx/kernel:1\n  cmdline: "console=ttyS0"\ninit:\n  - fx/init:1\n');
  images = join(store, 'build-cache', 'images');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function build(out: string): Promise<void> {
  const r = await runCli(['--cache', store, 'build', spec, '-o', out, '--name', 'p', ...FORMATS.flatMap((f) => ['--format', f])], {
    env: { SOURCE_DATE_EPOCH: '1700000000' },
    timeout: 600_000,
  });
  if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}): ${r.stderr}`);
}
async function prune(...args: string[]): Promise<CliResult> {
  const r = await runCli(['--cache', store, 'cache', 'prune', ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}
/** Cached entries: the format folders, and initrd/KEY.img. */
async function entries(): Promise<string[]> {
  const top = (await readdir(images).catch(() => [] as string[])).filter((n) => n !== 'initrd').sort();
  const initrds = (await readdir(join(images, 'initrd')).catch(() => [] as string[])).map((n) => `initrd/${n}`).sort();
  return [...top, ...initrds];
}
/** The format folders holding a file named `name`. */
async function holding(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of await readdir(images).catch(() => [] as string[])) {
    if (/^[0-9a-f]{32}$/.test(n) && (await readdir(join(images, n))).includes(name)) out.push(n);
  }
  return out;
}
async function age(names: string[], seconds: number): Promise<void> {
  const t = new Date(Date.now() - seconds * 1000);
  for (const n of names) await utimes(join(images, n), t, t);
}
async function sums(out: string): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(out)).filter((f) => f !== 'p-images.json').sort()) o[n] = createHash('sha256').update(await readFile(join(out, n))).digest('hex');
  return o;
}

describe('coracle cache prune and the cached disk images', () => {
  let first: Record<string, string>;
  let cached: string[];

  beforeAll(async () => {
    const out = join(dir, 'out-1');
    await build(out);
    first = await sums(out);
    cached = await entries();
  });

  it('a build with --format leaves cached images: the formats (uki, esp, ...) and the whole initrd', async () => {
    expect(cached.filter((n) => /^[0-9a-f]{32}$/.test(n)).length).toBeGreaterThanOrEqual(FORMATS.length);
    expect(cached.filter((n) => /^initrd\/[0-9a-f]{64}\.img$/.test(n))).toHaveLength(1);
  });

  it('within the grace period they are kept', async () => {
    const r = await prune();
    expect(r.stdout).toMatch(/^freed 0 B: 0 blobs, 0 temporary files, 0 cached disk images, 0 build memos; \d+ blobs in use$/);
    expect(await entries()).toEqual(cached);
  });

  it('older than the grace period but used by a build meanwhile: what the build used is touched and kept', async () => {
    await age(cached, 3600);
    await build(join(dir, 'out-2'));
    const r = await prune('--grace', '600');
    // each format's own image and the whole initrd were used; parts only their first making needed
    // (the FAT of a raw-bios disk, say) may go, and are made again when a new format needs them
    const left = await entries();
    for (const f of ['p.efi', 'p-bios.img']) expect(await holding(f), f).toHaveLength(1);
    expect(left.filter((n) => n.startsWith('initrd/'))).toEqual(cached.filter((n) => n.startsWith('initrd/')));
    const gone = cached.filter((n) => !left.includes(n));
    expect(r.stdout).toMatch(new RegExp(` ${gone.length} cached disk images?, \\d+ build memos?;`));
    cached = left;
  });

  it('a dead writer\'s leftovers go at once; a live writer\'s stay', async () => {
    const dead = join(images, `${cached[0]}.tmp-999999-0badc0de`);
    const live = join(images, 'initrd', `x.img.tmp-${process.pid}-0badc0de`);
    await mkdir(dead, { recursive: true });
    await writeFile(join(dead, 'p.raw'), Buffer.alloc(4096));
    await writeFile(live, 'partial');
    const r = await prune();
    expect(r.stdout).toMatch(/^freed 4\.0 KiB: 0 blobs, 1 temporary file, 0 cached disk images, 0 build memos;/);
    await expect(stat(dead)).rejects.toThrow();
    expect((await stat(live)).isFile()).toBe(true);
    await rm(live);
  });

  it('past the grace period: --dry-run counts them and removes nothing; prune removes them all, and says how many', async () => {
    await age(cached, 3600);
    const dry = await prune('--grace', '600', '--dry-run');
    expect(dry.stdout).toMatch(new RegExp(`^would free \\S+ \\S+: 0 blobs, 0 temporary files, ${cached.length} cached disk images, \\d+ build memos?;`));
    expect(await entries()).toEqual(cached);
    const r = await prune('--grace', '600');
    expect(r.stdout).toMatch(new RegExp(`^freed \\S+ \\S+: 0 blobs, 0 temporary files, ${cached.length} cached disk images, \\d+ build memos?;`));
    expect(r.stdout).not.toMatch(/^freed 0 B/);
    expect(await entries()).toEqual([]);
    // the images the store's refs name stay
    expect((await runCli(['--cache', store, 'images'])).stdout).toContain('fx/kernel');
  });

  it('the next build makes them again, the same bytes', async () => {
    const out = join(dir, 'out-3');
    await build(out);
    expect(await sums(out)).toEqual(first);
    for (const f of ['p.efi', 'p-bios.img']) expect(await holding(f), f).toHaveLength(1);
    expect((await entries()).filter((n) => n.startsWith('initrd/'))).toHaveLength(1);
  });
});
