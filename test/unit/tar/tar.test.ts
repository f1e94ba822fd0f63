import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, readFile, mkdir, symlink, link, readlink, stat, lstat } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { readTar, TarWriter, type TarEntry } from '../../../src/tar/index.js';
import { CoracleError } from '../../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Got = Omit<TarEntry, 'body' | 'buffer' | 'skip' | 'dataOffset'> & { data: Buffer };

async function readAll(source: AsyncIterable<Uint8Array> | Readable): Promise<Got[]> {
  const out: Got[] = [];
  for await (const e of readTar(source)) {
    const { body: _b, buffer, skip: _s, dataOffset: _o, ...meta } = e;
    out.push({ ...meta, data: await buffer() });
  }
  return out;
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Re-chunk a buffer into pieces of the given sizes (cycled) to test boundary handling. */
async function* chunked(buf: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let pos = 0;
  let i = 0;
  while (pos < buf.length) {
    const n = sizes[i++ % sizes.length]!;
    yield buf.subarray(pos, pos + n);
    pos += n;
  }
}

const longDir = 'very-long-directory-name-'.repeat(5); // 125 chars
const longName = `${longDir}/${'f'.repeat(120)}.txt`; // no ustar split possible: name part > 100
const splitDir = `${'d'.repeat(80)}/${'e'.repeat(60)}`;
const splitName = `${splitDir}/file.bin`; // > 100, fits prefix+name
const longTarget = `../${'t'.repeat(150)}/target`;
const epoch = 1_700_000_000;

async function sampleArchive(): Promise<Buffer> {
  const { writer, readable } = TarWriter.toReadable();
  const done = collect(readable);
  await writer.addDirectory({ path: 'etc', mtime: epoch });
  await writer.addFile({ path: 'etc/hostname', mode: 0o600, uid: 1000, gid: 1001, uname: 'me', gname: 'us', mtime: epoch }, 'box\n');
  await writer.addFile({ path: 'empty', mtime: epoch }, Buffer.alloc(0));
  const big = Buffer.alloc(70_000, 7);
  await writer.addFile({ path: 'stream.bin', size: big.length, mtime: epoch }, Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
  await writer.addFile({ path: longName, mtime: epoch }, 'long\n');
  await writer.addFile({ path: splitName, mtime: epoch }, 'split\n');
  await writer.addDirectory({ path: splitDir, mtime: epoch });
  await writer.addSymlink({ path: 'link', linkpath: 'etc/hostname', mtime: epoch });
  await writer.addSymlink({ path: 'longlink', linkpath: longTarget, mtime: epoch });
  await writer.addHardlink({ path: 'hard', linkpath: 'etc/hostname', mtime: epoch });
  await writer.addDevice({ path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: epoch });
  await writer.addDevice({ path: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, mtime: epoch });
  await writer.addFifo({ path: 'fifo', mtime: epoch });
  await writer.addFile({ path: 'bigid', uid: 5_000_000, gid: 3_000_000, mtime: epoch }, 'x');
  await writer.addFile({ path: 'héllo-wörld.txt', uname: 'ünïcode', mtime: epoch }, 'utf8');
  await writer.addFile({ path: 'frac', mtime: 1234.5 }, 'f');
  await writer.finish();
  return done;
}

describe('tar writer + reader round trip', () => {
  it('keeps every entry type, long names, big ids and bodies', async () => {
    const tar = await sampleArchive();
    expect(tar.length % 512).toBe(0);
    const got = await readAll(Readable.from([tar]));
    const by = new Map(got.map((e) => [e.path, e]));
    expect(got.map((e) => e.path)).toEqual([
      'etc/',
      'etc/hostname',
      'empty',
      'stream.bin',
      longName,
      splitName,
      `${splitDir}/`,
      'link',
      'longlink',
      'hard',
      'dev/null',
      'dev/loop0',
      'fifo',
      'bigid',
      'héllo-wörld.txt',
      'frac',
    ]);
    expect(by.get('etc/')).toMatchObject({ type: 'directory', mode: 0o755, mtime: epoch, size: 0 });
    expect(by.get('etc/hostname')).toMatchObject({ type: 'file', mode: 0o600, uid: 1000, gid: 1001, uname: 'me', gname: 'us' });
    expect(by.get('etc/hostname')!.data.toString()).toBe('box\n');
    expect(by.get('empty')!.data.length).toBe(0);
    expect(by.get('stream.bin')!.data.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(by.get(longName)!.data.toString()).toBe('long\n');
    expect(by.get(longName)!.pax?.path).toBe(longName);
    expect(by.get(splitName)!.pax).toBeUndefined(); // ustar prefix is enough
    expect(by.get(`${splitDir}/`)).toMatchObject({ type: 'directory' });
    expect(by.get(`${splitDir}/`)!.pax).toBeUndefined(); // split before the trailing "/" 
    expect(by.get('link')).toMatchObject({ type: 'symlink', linkpath: 'etc/hostname', mode: 0o777 });
    expect(by.get('longlink')).toMatchObject({ type: 'symlink', linkpath: longTarget });
    expect(by.get('hard')).toMatchObject({ type: 'hardlink', linkpath: 'etc/hostname', size: 0 });
    expect(by.get('dev/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    expect(by.get('dev/loop0')).toMatchObject({ type: 'block', devmajor: 7, devminor: 0 });
    expect(by.get('fifo')).toMatchObject({ type: 'fifo' });
    expect(by.get('bigid')).toMatchObject({ uid: 5_000_000, gid: 3_000_000 });
    expect(by.get('héllo-wörld.txt')).toMatchObject({ uname: 'ünïcode' });
    expect(by.get('frac')!.mtime).toBe(1234.5);
  });

  it('is deterministic: the same calls give the same bytes', async () => {
    const a = await sampleArchive();
    const b = await sampleArchive();
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(b).digest('hex'));
  });

  it('reads across arbitrary chunk boundaries', async () => {
    const tar = await sampleArchive();
    const whole = await readAll(Readable.from([tar]));
    for (const sizes of [[1], [511, 2, 1024], [7, 13, 4099]]) {
      const got = await readAll(chunked(tar, sizes));
      expect(got.map((e) => [e.path, e.data.toString('hex')])).toEqual(whole.map((e) => [e.path, e.data.toString('hex')]));
    }
  });

  it('accepts plain Uint8Array chunks and closes the source when the consumer stops early', async () => {
    const tar = await sampleArchive();
    let closed = false;
    async function* plain(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < tar.length; i += 777) yield new Uint8Array(tar.subarray(i, i + 777));
      } finally {
        closed = true;
      }
    }
    const got = await readAll(plain());
    expect(got.find((e) => e.path === 'stream.bin')!.data.equals(Buffer.alloc(70_000, 7))).toBe(true);
    closed = false;
    for await (const e of readTar(plain())) {
      if (e.path === 'empty') break;
    }
    expect(closed).toBe(true);
  });

  it('skips bodies the consumer ignores or reads partly', async () => {
    const tar = await sampleArchive();
    const paths: string[] = [];
    for await (const e of readTar(chunked(tar, [100, 3000]))) {
      paths.push(e.path);
      if (e.path === 'stream.bin') {
        for await (const c of e.body) {
          expect(c.length).toBeGreaterThan(0);
          break; // stop after the first chunk; the rest must be skipped
        }
      }
    }
    expect(paths).toHaveLength(16);
    expect(paths.at(-1)).toBe('frac');
  });

  it('gives the offset of each body for random access', async () => {
    const tar = await sampleArchive();
    for await (const e of readTar(Readable.from([tar]))) {
      if (e.size > 0) expect(tar.subarray(e.dataOffset, e.dataOffset + e.size).equals(await e.buffer())).toBe(true);
    }
  });

  it('writes to a file stream and streams bodies of known size', async () => {
    const f = join(dir, 'w.tar');
    const w = new TarWriter(createWriteStream(f));
    await w.addFile({ path: 'a', size: 3, mtime: epoch }, Readable.from([Buffer.from('abc')]));
    await w.finish();
    await new Promise((r) => setTimeout(r, 50));
    const got = await readAll(createReadStream(f));
    expect(got.map((e) => [e.path, e.data.toString()])).toEqual([['a', 'abc']]);
  });

  it('refuses data that does not match the declared size', async () => {
    const { writer, readable } = TarWriter.toReadable();
    readable.resume();
    await expect(writer.addFile({ path: 'a', size: 5 }, Readable.from([Buffer.from('abc')]))).rejects.toThrow(/3 bytes, size says 5/);
  });
});

describe('tar reader errors', () => {
  it('reports a truncated archive as a CoracleError with the archive name', async () => {
    const tar = await sampleArchive();
    const cut = tar.subarray(0, 512 * 5 + 100);
    const run = async () => {
      for await (const e of readTar(Readable.from([cut]), { name: 'layer.tar' })) await e.skip();
    };
    await expect(run()).rejects.toThrow(CoracleError);
    await expect(run()).rejects.toThrow(/layer\.tar: tar: unexpected end of archive/);
  });

  it('reports a corrupt header checksum', async () => {
    const tar = Buffer.from(await sampleArchive());
    tar[0] = tar[0]! ^ 0xff;
    const run = async () => {
      for await (const _ of readTar(Readable.from([tar]))) void _;
    };
    await expect(run()).rejects.toThrow(/invalid header checksum \(at byte 0\)/);
  });
});

describe('interop with GNU tar', () => {
  it('GNU tar lists and extracts what we write, long names included', async () => {
    const tar = await sampleArchive();
    const f = join(dir, 'ours.tar');
    await writeFile(f, tar);
    const list = await execa('tar', ['-tvf', f]);
    expect(list.stderr).toBe('');
    const lines = list.stdout.split('\n');
    expect(lines).toHaveLength(16);
    expect(list.stdout).toContain(longName);
    expect(list.stdout).toContain(splitName);
    expect(list.stdout).toContain(`longlink -> ${longTarget}`);
    expect(list.stdout).toContain('hard link to etc/hostname');
    expect(lines.find((l) => l.endsWith(' etc/hostname'))).toMatch(/^-rw------- me\/us +4 2023-11-14/);
    expect(lines.find((l) => l.endsWith(' dev/null'))).toMatch(/^crw-rw-rw- .* 1,3 /);
    expect(lines.find((l) => l.endsWith(' bigid'))).toMatch(/5000000\/3000000/);

    const out = join(dir, 'x-ours');
    await mkdir(out);
    // Device nodes need privileges; extract everything else everywhere.
    await execa('tar', ['-xf', f, '-C', out, '--no-same-owner', '--exclude=dev']);
    expect(await readFile(join(out, longName), 'utf8')).toBe('long\n');
    expect(await readFile(join(out, splitName), 'utf8')).toBe('split\n');
    expect(await readlink(join(out, 'longlink'))).toBe(longTarget);
    expect((await stat(join(out, 'hard'))).ino).toBe((await stat(join(out, 'etc/hostname'))).ino);
    expect((await stat(join(out, 'etc/hostname'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'etc/hostname'))).mtimeMs).toBe(epoch * 1000);
    expect((await lstat(join(out, 'fifo'))).isFIFO()).toBe(true);
    expect(await readFile(join(out, 'héllo-wörld.txt'), 'utf8')).toBe('utf8');
  });

  async function makeTree(): Promise<string> {
    const src = join(dir, `tree-${Math.random().toString(36).slice(2)}`);
    await mkdir(join(src, longDir, 'sub'), { recursive: true });
    await writeFile(join(src, longName), 'long\n');
    await writeFile(join(src, 'plain.txt'), Buffer.alloc(1500, 1));
    await symlink(longTarget, join(src, 'longlink'));
    await link(join(src, 'plain.txt'), join(src, `${longDir}/sub/${'h'.repeat(110)}`));
    await execa('mkfifo', [join(src, 'fifo')]);
    return src;
  }

  for (const format of ['gnu', 'pax', 'oldgnu', 'posix']) {
    it(`reads GNU tar --format=${format} archives (long names and links, hardlinks, fifo)`, async () => {
      const src = await makeTree();
      const f = join(dir, `gnu-${format}.tar`);
      await execa('tar', [`--format=${format}`, '--owner=4000000', '--group=12', '--numeric-owner', '-cf', f, '-C', src, '.']);
      const got = await readAll(createReadStream(f));
      const by = new Map(got.map((e) => [e.path.replace(/^\.\//, ''), e]));
      expect(by.get(longName)?.data.toString()).toBe('long\n');
      expect(by.get('longlink')).toMatchObject({ type: 'symlink', linkpath: longTarget });
      const pair = [`${longDir}/sub/${'h'.repeat(110)}`, 'plain.txt'];
      const hardName = pair.find((p) => by.get(p)?.type === 'hardlink');
      expect(hardName).toBeDefined();
      const other = pair.find((p) => p !== hardName)!;
      expect(by.get(hardName!)!.linkpath.replace(/^\.\//, '')).toBe(other);
      expect(by.get(other)).toMatchObject({ type: 'file', size: 1500 });
      expect(by.get(other)!.data.equals(Buffer.alloc(1500, 1))).toBe(true);
      expect(by.get('fifo')).toMatchObject({ type: 'fifo' });
      expect(by.get(`${longDir}/`) ?? by.get(longDir)).toMatchObject({ type: 'directory' });
      // 4000000 exceeds the 7-digit octal field: GNU uses base-256, PAX a record.
      expect(by.get('plain.txt')?.uid ?? by.get(other)?.uid).toBe(4_000_000);
      expect(by.get('plain.txt')?.gid ?? by.get(other)?.gid).toBe(12);
    });
  }

  it('applies PAX global headers to every following entry', async () => {
    const src = await makeTree();
    const f = join(dir, 'global.tar');
    await execa('tar', ['--format=pax', '--pax-option=uname=globaluser', '-cf', f, '-C', src, 'plain.txt', 'fifo']);
    const got = await readAll(createReadStream(f));
    expect(got.map((e) => e.path)).toEqual(['plain.txt', 'fifo']);
    for (const e of got) expect(e.uname).toBe('globaluser');
  });

  it('reads a real device node archived by GNU tar', async () => {
    const f = join(dir, 'dev.tar');
    await execa('tar', ['-cf', f, '-C', '/dev', 'null']);
    const [e] = await readAll(createReadStream(f));
    expect(e).toMatchObject({ path: 'null', type: 'char', devmajor: 1, devminor: 3 });
  });
});
