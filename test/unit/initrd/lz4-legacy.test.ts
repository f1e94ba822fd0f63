import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lz4LegacyCompress } from '../../../src/initrd/lz4-legacy.js';
import { SMALL_LZ4_ARCHIVE, writeInitrd } from '../../../src/initrd/index.js';
import type { InitrdEntry } from '../../../src/initrd/types.js';
import { kernelUnpack, lz4LegacyStreams } from './kernel-unpack.js';

/** The real lz4 CLI decodes it. */
const unlz4 = (z: Buffer): Buffer => execFileSync('lz4', ['-d', '-c', '-q'], { input: z, maxBuffer: 1 << 30 });

/** Bytes with long literal runs, long matches, near and far repeats. */
function mixed(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let pos = 0;
  let i = 0;
  while (pos < n) {
    const h = createHash('sha256').update(`${seed}${i++}`).digest();
    const kind = h[0]! % 4;
    const len = Math.min(n - pos, 1 + (h.readUInt16LE(1) % 700));
    if (kind === 0 || pos < 64) h.copy(out, pos, 0, Math.min(len, 32));
    else if (kind === 1) out.fill(h[3]!, pos, pos + len);
    else out.copy(out, pos, Math.max(0, pos - 1 - (h.readUInt16LE(4) % Math.min(pos, 70000))), Math.max(0, pos - 1 - (h.readUInt16LE(4) % Math.min(pos, 70000))) + len);
    pos += len;
  }
  return out;
}

describe('lz4LegacyCompress', () => {
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('a')],
    ['12 bytes (no match may start)', Buffer.from('abcdabcdabcd')],
    ['13 bytes', Buffer.from('abcdabcdabcda')],
    ['repeats', Buffer.from('hello '.repeat(50))],
    ['one byte value, long', Buffer.alloc(300_000, 7)],
    ['random (all literals, > 255 + 15)', randomBytes(70_000)],
    ['mixed, offsets near the 65535 limit', mixed(400_000, 'a')],
    ['a binary', execFileSync('cat', ['/usr/bin/lz4'])],
  ];
  for (const [name, data] of cases) {
    it(`${name}: lz4 -d gives back the same bytes`, () => {
      const z = lz4LegacyCompress(data);
      expect(z.readUInt32LE(0)).toBe(0x184c2102);
      expect(unlz4(z).equals(data)).toBe(true);
      // one stream of blocks, as the kernel's unlz4 walks it
      expect(lz4LegacyStreams(z)).toEqual([{ offset: 0, length: z.length }]);
    });
  }

  it('more than one 8 MiB block', () => {
    const data = Buffer.concat([mixed(5 << 20, 'b'), Buffer.alloc(4 << 20, 1)]);
    const z = lz4LegacyCompress(data);
    expect(z.length).toBeLessThan(data.length / 2);
    expect(unlz4(z).equals(data)).toBe(true);
  });

  it('compresses what repeats, and the same input gives the same bytes', () => {
    const data = Buffer.from('config.json '.repeat(1000));
    const z = lz4LegacyCompress(data);
    expect(z.length).toBeLessThan(200);
    expect(lz4LegacyCompress(Buffer.from(data)).equals(z)).toBe(true);
  });
});

describe('small lz4 segments', () => {
  const f = (path: string, data: Buffer): InitrdEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data } });
  it('are written in process, mix with the CLI-written large ones, and unpack like the kernel does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-lz4-'));
    try {
      const big = mixed(SMALL_LZ4_ARCHIVE + 100_000, 'big');
      const small = Buffer.from('<h1>small</h1>\n');
      const out = join(dir, 'initrd.img');
      const r = await writeInitrd(
        [
          { name: 'big', entries: [f('big.bin', big)] },
          { name: 'files', entries: [f('index.html', small)] },
        ],
        out,
        { compression: 'lz4', cacheDir: join(dir, 'cache') },
      );
      const [bigSeg, smallSeg] = r.segments;
      // the CLI's high-compression mode vs the in-process fast mode: told apart by running the CLI on the same archive
      const cpioOf = async (p: string): Promise<Buffer> => unlz4(await readFile(p));
      const cliSmall = execFileSync('lz4', ['-l', '-9', '-c', '-q'], { input: await cpioOf(smallSeg!.path) });
      const cliBig = execFileSync('lz4', ['-l', '-9', '-c', '-q'], { input: await cpioOf(bigSeg!.path) });
      expect((await readFile(bigSeg!.path)).equals(cliBig)).toBe(true);
      expect((await readFile(smallSeg!.path)).equals(lz4LegacyCompress(await cpioOf(smallSeg!.path)))).toBe(true);
      expect((await readFile(smallSeg!.path)).equals(cliSmall)).toBe(false);
      const un = kernelUnpack(await readFile(out));
      expect(un.segments.map((s) => s.format)).toEqual(['lz4', 'lz4']);
      expect(un.nodes.get('big.bin')!.inode.data.equals(big)).toBe(true);
      expect(un.nodes.get('index.html')!.inode.data.equals(small)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
