import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { writeInitrd, writeSegment } from '../../../src/initrd/index.js';
import type { InitrdEntry, SegmentInput } from '../../../src/initrd/types.js';
import { kernelUnpack, zstdFrameLength } from './kernel-unpack.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-initrd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const d = (path: string, mode = 0o755): InitrdEntry => ({ path, type: 'dir', mode, uid: 0, gid: 0 });
const f = (path: string, text: string | Buffer, extra: Partial<InitrdEntry> = {}): InitrdEntry => ({
  path, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(text) }, ...extra,
});

function decompress(buf: Buffer, compression: string): Buffer {
  if (compression === 'gzip') return gunzipSync(buf);
  // the zstd CLI refuses the zero padding after the frame (the kernel skips it)
  if (compression === 'zstd') return execFileSync('zstd', ['-d', '-c', '-q'], { input: buf.subarray(0, zstdFrameLength(buf)) });
  return buf;
}

/** A sample tree: every entry type, a hardlink, a host file, a file at a byte range. */
async function sampleEntries(): Promise<InitrdEntry[]> {
  const host = join(dir, 'host-file.bin');
  await writeFile(host, Buffer.from('0123456789abcdef'.repeat(4096)));
  return [
    d('bin'),
    f('bin/tool', '#!/bin/sh\necho tool\n', { mode: 0o755, mtime: 1_700_000_000 }),
    { path: 'bin/tool2', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'bin/tool' },
    { path: 'bin/sh', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkTarget: 'busybox' },
    d('dev'),
    { path: 'dev/console', type: 'char', mode: 0o600, uid: 0, gid: 5, rdev: { major: 5, minor: 1 } },
    { path: 'dev/loop0', type: 'block', mode: 0o660, uid: 0, gid: 6, rdev: { major: 7, minor: 0 } },
    { path: 'dev/initctl', type: 'fifo', mode: 0o600, uid: 0, gid: 0 },
    d('data', 0o700),
    { path: 'data/big', type: 'file', mode: 0o640, uid: 12, gid: 34, data: { kind: 'file', path: host } },
    { path: 'data/range', type: 'file', mode: 0o600, uid: 0, gid: 0, data: { kind: 'file', path: host, offset: 10, size: 7 } },
    { path: 'data/streamed', type: 'file', mode: 0o600, uid: 0, gid: 0, data: { kind: 'stream', size: 3, open: () => Readable.from([Buffer.from('abc')]) } },
    f('data/odd', 'x'),
  ];
}

describe('writeSegment', () => {
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    it(`${compression}: GNU cpio lists and extracts it (hardlinks, devices, symlinks, modes)`, async () => {
      const cacheDir = join(dir, `cache-${compression}`);
      const seg = await writeSegment(await sampleEntries(), { compression, cacheDir, name: 'sample', level: compression === 'zstd' ? 3 : undefined });
      expect(seg.cached).toBe(false);
      expect(seg.size % 512).toBe(0);
      const file = await readFile(seg.path);
      expect(file.length).toBe(seg.size);
      const cpio = decompress(file, compression);
      if (compression === 'gzip') expect([file[0], file[1], file[3], file.readUInt32LE(4), file[9]]).toEqual([0x1f, 0x8b, 0, 0, 3]); // no name, no mtime, OS unix
      if (compression === 'none') expect(cpio.length).toBe(seg.size);
      else expect(cpio.length).toBe(seg.archiveSize);

      const listing = execFileSync('cpio', ['-tv', '--quiet'], { input: cpio }).toString();
      expect(listing).toMatch(/^crw-------\s+1 root\s+\S+\s+5,\s+1 .* dev\/console$/m);
      expect(listing).toMatch(/^brw-rw----\s+1 root\s+\S+\s+7,\s+0 .* dev\/loop0$/m);
      expect(listing).toMatch(/^prw-------.* dev\/initctl$/m);
      expect(listing).toMatch(/^lrwxrwxrwx.* bin\/sh -> busybox$/m);
      expect(listing).toMatch(/^-rwxr-xr-x\s+2 .* bin\/tool$/m);

      const out = join(dir, `x-${compression}`);
      execFileSync('mkdir', ['-p', out]);
      execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { input: cpio, cwd: out });
      const tool = await stat(join(out, 'bin/tool'));
      const tool2 = await stat(join(out, 'bin/tool2'));
      expect(tool2.ino).toBe(tool.ino);
      expect(tool.nlink).toBe(2);
      expect(await readFile(join(out, 'bin/tool2'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
      expect(Math.floor(tool.mtimeMs / 1000)).toBe(1_700_000_000);
      expect(await readlink(join(out, 'bin/sh'))).toBe('busybox');
      const con = await lstat(join(out, 'dev/console'));
      expect(con.isCharacterDevice()).toBe(true);
      expect([(con.rdev >> 8) & 0xfff, (con.rdev & 0xff) | ((con.rdev >> 12) & 0xfff00)]).toEqual([5, 1]);
      expect((await lstat(join(out, 'dev/loop0'))).isBlockDevice()).toBe(true);
      expect((await lstat(join(out, 'dev/initctl'))).isFIFO()).toBe(true);
      const big = await stat(join(out, 'data/big'));
      expect(big.mode & 0o7777).toBe(0o640);
      expect([big.uid, big.gid]).toEqual([12, 34]);
      expect(sha(await readFile(join(out, 'data/big')))).toBe(sha(await readFile(join(dir, 'host-file.bin'))));
      expect(await readFile(join(out, 'data/range'), 'utf8')).toBe('abcdef0');
      expect(await readFile(join(out, 'data/streamed'), 'utf8')).toBe('abc');
      expect((await stat(join(out, 'data'))).mode & 0o7777).toBe(0o700);
    });
  }

  it('libarchive (bsdcpio) reads it too: hardlinks, devices, data', async () => {
    const cacheDir = join(dir, 'cache-bsd');
    const seg = await writeSegment(await sampleEntries(), { compression: 'zstd', cacheDir, level: 3 });
    const file = await readFile(seg.path);
    const cpio = decompress(file, 'zstd');
    const listing = execFileSync('bsdcpio', ['-itv', '--quiet'], { input: cpio }).toString();
    expect(listing).toMatch(/^crw-------\s+1 root\s+\S+\s+5,\s*1 .* dev\/console$/m);
    expect(listing).toMatch(/^brw-rw----\s+1 root\s+\S+\s+7,\s*0 .* dev\/loop0$/m);
    expect(listing).toMatch(/^-rwxr-xr-x\s+2 .* bin\/tool2 link to bin\/tool$/m);
    const out = join(dir, 'x-bsd');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('bsdcpio', ['-idm', '--quiet'], { input: cpio, cwd: out });
    const [a, b] = [await stat(join(out, 'bin/tool')), await stat(join(out, 'bin/tool2'))];
    expect(b.ino).toBe(a.ino);
    expect(await readFile(join(out, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
    expect(sha(await readFile(join(out, 'data/big')))).toBe(sha(await readFile(join(dir, 'host-file.bin'))));
    expect((await lstat(join(out, 'dev/console'))).isCharacterDevice()).toBe(true);
  });

  it('caches by content: a second build is a hit and writes nothing', async () => {
    const cacheDir = join(dir, 'cache-hit');
    const entries = await sampleEntries();
    const first = await writeSegment(entries, { compression: 'gzip', cacheDir });
    const before = await stat(first.path);
    const filesBefore = await readdir(cacheDir);
    const second = await writeSegment(await sampleEntries(), { compression: 'gzip', cacheDir });
    expect(second.cached).toBe(true);
    expect(second.path).toBe(first.path);
    expect(await readdir(cacheDir)).toEqual(filesBefore);
    expect((await stat(first.path)).mtimeMs).toBe(before.mtimeMs);
    // a changed byte, mode or compression gives another key
    const changed = entries.map((e) => (e.path === 'data/odd' ? f('data/odd', 'y') : e));
    expect((await writeSegment(changed, { compression: 'gzip', cacheDir })).key).not.toBe(first.key);
    const chmod = entries.map((e) => (e.path === 'data/odd' ? { ...e, mode: 0o600 } : e));
    expect((await writeSegment(chmod, { compression: 'gzip', cacheDir })).key).not.toBe(first.key);
    expect((await writeSegment(entries, { compression: 'zstd', cacheDir, level: 3 })).key).not.toBe(first.key);
  });

  it('a caller key skips hashing: the data sources are not read on a hit', async () => {
    const cacheDir = join(dir, 'cache-key');
    let opens = 0;
    const entries: InitrdEntry[] = [{ path: 's', type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'stream', size: 4, open: () => { opens++; return Readable.from([Buffer.from('data')]); } } }];
    const a = await writeSegment(entries, { compression: 'gzip', cacheDir, key: 'image@sha256:abc' });
    expect(a.cached).toBe(false);
    expect(opens).toBe(1);
    const b = await writeSegment(entries, { compression: 'gzip', cacheDir, key: 'image@sha256:abc' });
    expect(b.cached).toBe(true);
    expect(opens).toBe(1);
  });

  it('uses SOURCE_DATE_EPOCH as the default mtime', async () => {
    const cacheDir = join(dir, 'cache-epoch');
    const old = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1600000000';
    try {
      const seg = await writeSegment([d('x')], { compression: 'none', cacheDir });
      const { nodes } = kernelUnpack(await readFile(seg.path));
      expect(nodes.get('x')!.mtime).toBe(1_600_000_000);
    } finally {
      if (old === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = old;
    }
    const seg0 = await writeSegment([d('x')], { compression: 'none', cacheDir });
    expect(kernelUnpack(await readFile(seg0.path)).nodes.get('x')!.mtime).toBe(0);
  });
});

describe('writeInitrd', () => {
  const components = async (motd: string): Promise<SegmentInput[]> => [
    { name: 'init', compression: 'gzip', entries: [d('etc'), f('etc/motd', motd), d('sbin'), f('sbin/init', '#!/bin/sh\n', { mode: 0o755 })] },
    { name: 'containers/a', compression: 'zstd', level: 3, dedupe: true, entries: [d('containers'), d('containers/a'), f('containers/a/lib.so', 'LIBRARY'.repeat(100)), f('containers/a/copy.so', 'LIBRARY'.repeat(100))] },
    { name: 'modules', compression: 'none', entries: [d('lib'), f('lib/mod.ko', 'module')] },
    { name: 'files', compression: 'gzip', entries: await sampleEntries() },
  ];

  it('concatenates gzip, zstd and plain segments, 512-aligned, unpacked whole by a kernel-like reader', async () => {
    const cacheDir = join(dir, 'cache-initrd');
    const out = join(dir, 'out', 'initrd.img');
    const r = await writeInitrd(await components('hello'), out, { compression: 'gzip', cacheDir });
    const img = await readFile(out);
    expect(r.size).toBe(img.length);
    expect(r.sha256).toBe(sha(img));
    expect(r.segments.map((s) => s.compression)).toEqual(['gzip', 'zstd', 'none', 'gzip']);
    const un = kernelUnpack(img);
    expect(un.segments.map((s) => s.format)).toEqual(['gzip', 'zstd', 'cpio', 'gzip']);
    let off = 0;
    for (const [i, s] of r.segments.entries()) {
      expect(un.segments[i]!.offset).toBe(off);
      off += s.size;
    }
    expect(un.nodes.get('etc/motd')!.inode.data.toString()).toBe('hello');
    expect(un.nodes.get('lib/mod.ko')!.inode.data.toString()).toBe('module');
    // deduplicated files are one inode after unpacking, with the data
    const lib = un.nodes.get('containers/a/lib.so')!;
    expect(un.nodes.get('containers/a/copy.so')!.inode).toBe(lib.inode);
    expect(lib.inode.data.toString()).toBe('LIBRARY'.repeat(100));
    expect(un.nodes.get('bin/tool2')!.inode).toBe(un.nodes.get('bin/tool')!.inode);
    expect(un.nodes.get('dev/console')!.rdev).toEqual([5, 1]);
    expect(un.nodes.get('bin/sh')!.target).toBe('busybox');
    expect(un.nodes.size).toBe(4 + 4 + 2 + 13);
  });

  it('same inputs, same bytes; a one-file change rebuilds only its segment', async () => {
    const cacheA = join(dir, 'cache-repro-a');
    const cacheB = join(dir, 'cache-repro-b');
    const a = await writeInitrd(await components('v1'), join(dir, 'ra.img'), { compression: 'gzip', cacheDir: cacheA });
    const b = await writeInitrd(await components('v1'), join(dir, 'rb.img'), { compression: 'gzip', cacheDir: cacheB });
    expect(b.segments.every((s) => !s.cached)).toBe(true);
    expect(a.sha256).toBe(b.sha256);
    const warm = await writeInitrd(await components('v1'), join(dir, 'ra.img'), { compression: 'gzip', cacheDir: cacheA });
    expect(warm.segments.every((s) => s.cached)).toBe(true);
    expect(warm.sha256).toBe(a.sha256);
    const changed = await writeInitrd(await components('v2'), join(dir, 'ra.img'), { compression: 'gzip', cacheDir: cacheA });
    expect(changed.segments.map((s) => s.cached)).toEqual([false, true, true, true]);
    expect(changed.sha256).not.toBe(a.sha256);
    expect(kernelUnpack(await readFile(join(dir, 'ra.img'))).nodes.get('etc/motd')!.inode.data.toString()).toBe('v2');
  });

  it('replace: a file over a path an earlier segment hardlinked gets its own inode', async () => {
    const cacheDir = join(dir, 'cache-replace');
    const base: SegmentInput = { name: 'base', entries: [d('bin'), f('bin/busybox', 'BUSYBOX', { mode: 0o755 }), { path: 'bin/true', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'bin/busybox' }] };
    const over = (replace: boolean): SegmentInput => ({ name: 'over', compression: 'zstd', entries: [f('bin/true', 'replaced', { replace })] });
    const withReplace = kernelUnpack((await readFile((await writeInitrd([base, over(true)], join(dir, 'rep1.img'), { compression: 'gzip', cacheDir })).path))).nodes;
    expect(withReplace.get('bin/true')!.inode.data.toString()).toBe('replaced');
    expect(withReplace.get('bin/busybox')!.inode.data.toString()).toBe('BUSYBOX');
    expect(withReplace.get('bin/true')!.type).toBe('file');
    // what the flag prevents: the kernel writes through the earlier segment's hardlink
    const without = kernelUnpack((await readFile((await writeInitrd([base, over(false)], join(dir, 'rep2.img'), { compression: 'gzip', cacheDir })).path))).nodes;
    expect(without.get('bin/busybox')!.inode.data.toString()).toBe('replaced');
    // GNU cpio sees a fifo placeholder, then the file
    const seg = await writeSegment(over(true).entries, { compression: 'none', cacheDir });
    const listing = execFileSync('cpio', ['-tv', '--quiet'], { input: await readFile(seg.path) }).toString().trim().split('\n');
    expect(listing.map((l) => l[0])).toEqual(['p', '-']);
  });

  it('a failing build leaves the previous initrd untouched and no temporary files', async () => {
    const cacheDir = join(dir, 'cache-fail');
    const outDir = join(dir, 'fail-out');
    const out = join(outDir, 'initrd.img');
    const good = await writeInitrd(await components('good'), out, { compression: 'gzip', cacheDir });
    const broken: SegmentInput = {
      name: 'broken', entries: [{ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'stream', size: 100, digest: 'sha256:1', open: () => Readable.from([Buffer.from('too short')]) } }],
    };
    await expect(writeInitrd([...(await components('bad')), broken], out, { compression: 'gzip', cacheDir })).rejects.toThrow(/x: data source yielded 9 bytes.*segment broken/);
    expect(sha(await readFile(out))).toBe(good.sha256);
    expect(await readdir(outDir)).toEqual(['initrd.img']);
    expect((await readdir(cacheDir)).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });
});

describe('cachedSegment', () => {
  it('finds a keyed segment without its entries, with the archive size and entry count', async () => {
    const { cachedSegment } = await import('../../../src/initrd/index.js');
    const cacheDir = join(dir, 'cache-lookup');
    const opts = { compression: 'gzip' as const, cacheDir, name: 'svc' };
    expect(await cachedSegment('img@sha256:1', opts)).toBeUndefined();
    const built = await writeSegment([d('a'), f('a/b', 'data')], { ...opts, key: 'img@sha256:1' });
    const hit = await cachedSegment('img@sha256:1', opts);
    expect(hit).toEqual({ ...built, cached: true });
    expect(await cachedSegment('img@sha256:1', { ...opts, compression: 'zstd' })).toBeUndefined();
    expect(await cachedSegment('img@sha256:2', opts)).toBeUndefined();
    expect(await cachedSegment('img@sha256:1', { ...opts, dedupe: true })).toBeUndefined();
  });
});

describe('pruneSegmentCache', () => {
  it('removes segments a build did not use, keeps the ones it did', async () => {
    const { pruneSegmentCache } = await import('../../../src/initrd/index.js');
    const cacheDir = join(dir, 'cache-prune');
    const a = await writeSegment([f('a', 'A')], { compression: 'gzip', cacheDir });
    const b = await writeSegment([f('b', 'B')], { compression: 'zstd', cacheDir, level: 1 });
    await writeFile(join(cacheDir, 'unrelated.txt'), 'keep me');
    const r = await pruneSegmentCache(cacheDir, [a]);
    expect(r.removed).toBe(2); // b's segment and its metadata
    expect((await readdir(cacheDir)).sort()).toEqual([a.path.split('/').pop()!, `${a.path.split('/').pop()!}.json`, 'unrelated.txt'].sort());
    expect((await writeSegment([f('a', 'A')], { compression: 'gzip', cacheDir })).cached).toBe(true);
    expect((await writeSegment([f('b', 'B')], { compression: 'zstd', cacheDir, level: 1 })).cached).toBe(false);
    void b;
  });
});

describe('compressor errors', () => {
  it('says so clearly when the zstd command is missing, and leaves nothing in the cache', async () => {
    const cacheDir = join(dir, 'cache-nozstd');
    const emptyBin = join(dir, 'empty-bin');
    execFileSync('mkdir', ['-p', emptyBin]);
    const oldPath = process.env.PATH;
    process.env.PATH = emptyBin;
    try {
      await expect(writeSegment([f('a', 'A')], { compression: 'zstd', cacheDir, name: 'x' })).rejects.toThrow(/initrd: zstd failed: the zstd command is not installed/);
    } finally {
      process.env.PATH = oldPath;
    }
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('a short data source under zstd reports the source, not zstd', async () => {
    const cacheDir = join(dir, 'cache-zshort');
    const e: InitrdEntry = { path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'stream', size: 50, open: () => Readable.from([Buffer.from('short')]) } };
    await expect(writeSegment([e], { compression: 'zstd', cacheDir, name: 'z' })).rejects.toThrow(/x: data source yielded 5 bytes, fewer than the 50 planned \(segment z\)/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('refuses levels the kernel or the compressor cannot take', async () => {
    const cacheDir = join(dir, 'cache-level');
    await expect(writeSegment([f('a', 'A')], { compression: 'zstd', cacheDir, level: 22 })).rejects.toThrow(/zstd level 22 is out of range 1-19/);
    await expect(writeSegment([f('a', 'A')], { compression: 'gzip', cacheDir, level: 0 })).rejects.toThrow(/gzip level 0 is out of range 1-9/);
  });
});
