/**
 * Cached kernel files placed into output folders by hardlink, and the
 * guard keeping an edit of an output away from the cache.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeCached, publishedPath } from '../../../src/outputs/place.js';

let dir: string;
let master: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-place-'));
  await mkdir(join(dir, 'cache'));
  master = join(dir, 'cache', 'kernel');
  await writeFile(master, 'KERNEL BYTES');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('placeCached', () => {
  it('links outputs to a read-only published copy, never to the cache file builds read', async () => {
    const a = join(dir, 'a-kernel');
    const b = join(dir, 'b-kernel');
    await placeCached(master, a);
    await placeCached(master, b);
    const [sa, sb, sm, sp] = await Promise.all([stat(a), stat(b), stat(master), stat(publishedPath(master))]);
    expect(sa.ino).toBe(sp.ino);
    expect(sb.ino).toBe(sp.ino);
    expect(sa.ino).not.toBe(sm.ino);
    expect(sm.nlink).toBe(1);
    expect(sp.mode & 0o777).toBe(0o444);
    expect(await readFile(a, 'utf8')).toBe('KERNEL BYTES');
  });

  it('an output edited in place (through the link) leaves the cache alone, and the next output gets the real bytes on a new inode', async () => {
    const a = join(dir, 'edit-kernel');
    await placeCached(master, a);
    const before = await stat(a);
    // root writes through a 0444 file; so does `cp other out/NAME-kernel`
    await writeFile(a, 'TAMPERED!');
    expect(await readFile(master, 'utf8')).toBe('KERNEL BYTES');
    const c = join(dir, 'c-kernel');
    await placeCached(master, c);
    expect(await readFile(c, 'utf8')).toBe('KERNEL BYTES');
    expect((await stat(c)).ino).not.toBe(before.ino);
    expect(await readFile(a, 'utf8')).toBe('TAMPERED!');
  });

  it('a changed cache file is published again', async () => {
    const m2 = join(dir, 'cache', 'vmlinux');
    await writeFile(m2, 'ONE');
    await placeCached(m2, join(dir, 'v1'));
    await writeFile(m2, 'TWO!');
    await placeCached(m2, join(dir, 'v2'));
    expect(await readFile(join(dir, 'v2'), 'utf8')).toBe('TWO!');
    expect(await readFile(join(dir, 'v1'), 'utf8')).toBe('ONE');
  });

  it('CORACLE_OUTPUT_LINKS=0 copies', async () => {
    process.env.CORACLE_OUTPUT_LINKS = '0';
    try {
      const d = join(dir, 'copy-kernel');
      await placeCached(master, d);
      const st = await stat(d);
      expect(st.nlink).toBe(1);
      expect(await readFile(d, 'utf8')).toBe('KERNEL BYTES');
    } finally {
      delete process.env.CORACLE_OUTPUT_LINKS;
    }
  });
});
