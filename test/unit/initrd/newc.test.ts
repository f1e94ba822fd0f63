import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { CoracleError } from '../../../src/errors.js';
import { archiveSize, encodeHeader, newcStream, normalizeEntries, planArchive, digestEntries } from '../../../src/initrd/newc.js';
import type { InitrdEntry } from '../../../src/initrd/types.js';
import { parseNewc } from './kernel-unpack.js';

async function archive(entries: InitrdEntry[], opts: { dedupe?: boolean; mtime?: number } = {}): Promise<Buffer> {
  const n = await normalizeEntries(entries, opts.mtime ?? 0);
  await digestEntries(n);
  const plan = planArchive(n, opts);
  const chunks: Buffer[] = [];
  for await (const c of newcStream(plan)) chunks.push(Buffer.from(c));
  const out = Buffer.concat(chunks);
  expect(out.length).toBe(archiveSize(plan));
  return out;
}

const file = (path: string, text: string, extra: Partial<InitrdEntry> = {}): InitrdEntry => ({
  path, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(text) }, ...extra,
});

describe('newc header', () => {
  it('writes the 070701 magic, 13 hex fields, NUL-terminated name padded to 4', () => {
    const h = encodeHeader({ ino: 1, mode: 0o100644, uid: 2, gid: 3, nlink: 1, mtime: 0x5f5e100, filesize: 5, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, name: 'ab' });
    expect(h.toString('latin1', 0, 6)).toBe('070701');
    expect(h.toString('latin1', 6, 14)).toBe('00000001');
    expect(h.toString('latin1', 14, 22)).toBe('000081A4');
    expect(h.toString('latin1', 46, 54)).toBe('05F5E100');
    expect(h.toString('latin1', 94, 102)).toBe('00000003'); // namesize includes the NUL
    expect(h.length % 4).toBe(0);
    expect(h.length).toBe(116); // 110 + 3 -> 113, padded to 116
    expect(h.subarray(110, 113)).toEqual(Buffer.from('ab\0'));
  });
});

describe('newc archive', () => {
  it('stores dirs, files, symlinks, devices and fifos with their metadata', async () => {
    const buf = await archive([
      { path: '/dev', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, rdev: { major: 1, minor: 3 } },
      { path: 'dev/sda', type: 'block', mode: 0o660, uid: 0, gid: 6, rdev: { major: 8, minor: 0 } },
      { path: 'dev/fifo', type: 'fifo', mode: 0o600, uid: 0, gid: 0 },
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      file('etc/motd', 'hello\n', { mode: 0o4755, uid: 1000, gid: 1001, mtime: 1234 }),
      { path: 'etc/link', type: 'symlink', mode: 0o644, uid: 0, gid: 0, linkTarget: '/etc/motd' },
    ], { mtime: 99 });
    const { records, length } = parseNewc(buf);
    expect(length).toBe(buf.length);
    const byName = new Map(records.map((r) => [r.name, r]));
    expect([...byName.keys()]).toEqual(['dev', 'dev/null', 'dev/sda', 'dev/fifo', 'etc', 'etc/motd', 'etc/link']);
    expect(byName.get('dev')!.mode).toBe(0o40755);
    expect(byName.get('dev')!.mtime).toBe(99);
    expect(byName.get('dev/null')).toMatchObject({ mode: 0o20666, rdevmajor: 1, rdevminor: 3, filesize: 0 });
    expect(byName.get('dev/sda')).toMatchObject({ mode: 0o60660, rdevmajor: 8, rdevminor: 0, gid: 6 });
    expect(byName.get('dev/fifo')!.mode).toBe(0o10600);
    expect(byName.get('etc/motd')).toMatchObject({ mode: 0o104755, uid: 1000, gid: 1001, mtime: 1234, nlink: 1 });
    expect(byName.get('etc/motd')!.data.toString()).toBe('hello\n');
    expect(byName.get('etc/link')).toMatchObject({ mode: 0o120777 });
    expect(byName.get('etc/link')!.data.toString()).toBe('/etc/motd');
    const inos = records.map((r) => r.ino);
    expect(new Set(inos).size).toBe(inos.length);
    expect(inos).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('gives a hardlink group one inode, nlink = members, and data only on the last member', async () => {
    const buf = await archive([
      file('a', 'shared data'),
      { path: 'b', type: 'hardlink', mode: 0, uid: 5, gid: 5, linkTarget: 'a' },
      file('c', 'other'),
      { path: 'd', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: '/b' },
    ]);
    const { records } = parseNewc(buf);
    const [a, b, c, d] = records;
    expect(a!.ino).toBe(b!.ino);
    expect(a!.ino).toBe(d!.ino);
    expect(c!.ino).not.toBe(a!.ino);
    expect([a!.nlink, b!.nlink, d!.nlink, c!.nlink]).toEqual([3, 3, 3, 1]);
    expect([a!.filesize, b!.filesize, d!.filesize]).toEqual([0, 0, 11]);
    expect(d!.data.toString()).toBe('shared data');
    expect(b!.uid).toBe(0); // the link takes the target's metadata
    expect(b!.mode).toBe(0o100644);
  });

  it('dedupe turns identical files into hardlinks, but not files whose metadata differ', async () => {
    const buf = await archive([
      file('x/one', 'same'),
      file('y/two', 'same'),
      file('z/three', 'same', { mode: 0o755 }),
      file('z/empty1', ''),
      file('z/empty2', ''),
    ], { dedupe: true });
    const r = new Map(parseNewc(buf).records.map((x) => [x.name, x]));
    expect(r.get('x/one')!.ino).toBe(r.get('y/two')!.ino);
    expect(r.get('x/one')!.filesize).toBe(0);
    expect(r.get('y/two')!.data.toString()).toBe('same');
    expect(r.get('z/three')!.ino).not.toBe(r.get('x/one')!.ino);
    expect(r.get('z/empty1')!.ino).not.toBe(r.get('z/empty2')!.ino);
  });

  it('replace writes a fifo placeholder at the path before the file', async () => {
    const buf = await archive([file('bin/true', 'new', { replace: true }), file('bin/other', 'x', { replace: false })]);
    const r = parseNewc(buf).records;
    expect(r.map((x) => [x.name, x.mode.toString(8), x.filesize])).toEqual([
      ['bin/true', '10000', 0],
      ['bin/true', '100644', 3],
      ['bin/other', '100644', 1],
    ]);
    expect(new Set(r.map((x) => x.ino)).size).toBe(3);
  });

  it('is deterministic: same entries, same bytes', async () => {
    const entries = [file('a', 'x'), { path: 'b', type: 'dir', mode: 0o700, uid: 1, gid: 1 } as InitrdEntry];
    expect((await archive(entries)).equals(await archive(entries))).toBe(true);
  });

  it('refuses a file of 4 GiB before reading any of it', async () => {
    let opened = false;
    const big: InitrdEntry = {
      path: 'big.img', type: 'file', mode: 0o644, uid: 0, gid: 0,
      data: { kind: 'stream', size: 2 ** 32, digest: 'sha256:00', open: () => { opened = true; return Readable.from([]); } },
    };
    const err = await normalizeEntries([file('a', 'x'), big], 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoracleError);
    expect((err as Error).message).toMatch(/big\.img: file is 4294967296 bytes; newc cpio stores at most 4294967295/);
    expect(opened).toBe(false);
    // 4 GiB - 1 is still accepted
    const ok = await normalizeEntries([{ ...big, data: { ...big.data!, size: 2 ** 32 - 1 } as never }], 0);
    expect(ok[0]!.size).toBe(2 ** 32 - 1);
  });

  it('refuses fields that do not fit 8 hex digits, bad paths, duplicates, dangling hardlinks', async () => {
    await expect(normalizeEntries([file('a', 'x', { uid: 2 ** 32 })], 0)).rejects.toThrow(/a: uid 4294967296 does not fit/);
    await expect(normalizeEntries([file('a', 'x', { mtime: 2 ** 33 })], 0)).rejects.toThrow(/mtime/);
    await expect(normalizeEntries([{ path: 'd', type: 'char', mode: 0, uid: 0, gid: 0, rdev: { major: 2 ** 32, minor: 0 } }], 0)).rejects.toThrow(/rdev major/);
    await expect(normalizeEntries([file('a/../b', 'x')], 0)).rejects.toThrow(/not a clean relative path/);
    await expect(normalizeEntries([file('a', 'x'), file('/a', 'y')], 0)).rejects.toThrow(/appears twice/);
    await expect(normalizeEntries([file('a', 'x', { mode: 0o40755 })], 0)).rejects.toThrow(/file-type bits/);
    const n = await normalizeEntries([{ path: 'l', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'nope' }], 0);
    expect(() => planArchive(n)).toThrow(/hardlink target nope is not a regular file in the same segment/);
  });

  it('fails when a source yields a different size than planned', async () => {
    const n = await normalizeEntries([{ path: 's', type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'stream', size: 10, open: () => Readable.from([Buffer.from('short')]) } }], 0);
    const gen = newcStream(planArchive(n));
    await expect((async () => { for await (const _ of gen) { /* drain */ } })()).rejects.toThrow(/yielded 5 bytes, fewer than the 10 planned/);
  });
});
