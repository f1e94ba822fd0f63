/**
 * qemu-img gives a VMDK a random CID printed without leading zeros (1 in 16
 * has fewer than 8 digits): every conversion must still end up with our CID
 * and the same bytes.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertRaw } from '../../../src/outputs/disk/convert.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-vmdk-'));
  await execa('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'disk.raw'), '1M']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('VMDK content id', () => {
  it('64 conversions: each has CID=0badcafe once and all are byte-identical', async () => {
    let first: Buffer | undefined;
    for (let i = 0; i < 64; i++) {
      const out = join(dir, 'disk.vmdk');
      await rm(out, { force: true });
      await convertRaw(out, { raw: join(dir, 'disk.raw'), target: 'vmdk', qemuImg: 'qemu-img', epoch: 0, cid: '0badcafe', uniqueId: Buffer.alloc(16) }, 'disk.vmdk');
      const bytes = await readFile(out);
      const text = bytes.subarray(0, 64 * 1024).toString('latin1');
      expect(text.match(/(^|\n)CID=[0-9a-f]*\n/g)?.map((l) => l.trim())).toEqual(['CID=0badcafe']);
      if (first === undefined) first = bytes;
      else expect(bytes.equals(first), `conversion ${i} differs`).toBe(true);
    }
  }, 120_000);
});
