import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import type { LayoutStore } from '../../../../src/oci/store/layout-store.js';
import { writeBlobFile } from '../../../../src/oci/store/blob-writer.js';
import type { ChunkSink, PushSource } from '../../../../src/oci/store/push-source.js';
import type { ResumableSource } from '../../../../src/oci/store/resumable-source.js';
import { socketGet } from '../../../../src/oci/registry/socket-get.js';
import { CoracleError } from '../../../../src/errors.js';
import { tempStoreEach } from '../../../helpers/temp-store.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let root: string;
let store: LayoutStore;
tempStoreEach('coracle-blobw-', (t) => ({ root, store } = t));

const tempFiles = () => readdir(join(store.root, '.coracle-tmp'));
const blobFiles = () => readdir(join(store.root, 'blobs', 'sha256'));

/**
 * Pushes `data` in pieces of `piece` bytes, as a socket would: into lent
 * memory when the sink offers it (and `lend`), else through write(); waits
 * for drained() when asked to pause. Counts what happened.
 */
function pushSource(data: Buffer, opts: { piece?: number; lend?: boolean } = {}): PushSource & { stats: { lentReads: number; copies: number; pauses: number; stopped: boolean } } {
  const piece = opts.piece ?? 70_001;
  const stats = { lentReads: 0, copies: 0, pauses: 0, stopped: false };
  return {
    stats,
    async pushTo(sink: ChunkSink): Promise<void> {
      let at = 0;
      try {
        while (at < data.length) {
          const n = Math.min(piece, data.length - at);
          let ok: boolean;
          const space = opts.lend !== false && sink.space ? sink.space(n) : undefined;
          if (space && sink.filled) {
            const k = Math.min(space.length, n);
            space.set(data.subarray(at, at + k));
            // what the producer does with its own buffer afterwards must not matter
            at += k;
            stats.lentReads++;
            ok = sink.filled(k);
          } else {
            const scratch = Buffer.from(data.subarray(at, at + n));
            at += n;
            stats.copies++;
            ok = sink.write(scratch);
            scratch.fill(0xee); // reused memory: the sink must have copied
          }
          if (!ok) {
            stats.pauses++;
            await sink.drained();
          }
        }
      } catch (e) {
        stats.stopped = true;
        throw e;
      }
    },
  };
}

describe('writeBlobFile', () => {
  it('writes and hashes a large iterated blob in odd-sized chunks, reporting every byte', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const chunks: Buffer[] = [];
    for (let at = 0; at < data.length; at += 65_537) chunks.push(data.subarray(at, at + 65_537));
    let progress = 0;
    const path = join(root, 'iter');
    const r = await writeBlobFile(path, Readable.from(chunks), { what: 'blob', expected: { digest: sha(data), size: data.length }, onBytes: (n) => (progress += n) });
    expect(r).toEqual({ digest: sha(data), size: data.length });
    expect(progress).toBe(data.length);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('refuses to overwrite an existing file (exclusive create)', async () => {
    const path = join(root, 'taken');
    await writeBlobFile(path, [Buffer.from('a')], { what: 'blob' });
    await expect(writeBlobFile(path, [Buffer.from('b')], { what: 'blob' })).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('takes a pushed blob into lent memory (no copy) and through copies, in order', async () => {
    const data = randomBytes(4 * 1024 * 1024 + 999);
    for (const lend of [true, false]) {
      const src = pushSource(data, { lend });
      const path = join(root, `push-${lend}`);
      let progress = 0;
      const r = await writeBlobFile(path, src, { what: 'blob', expected: { digest: sha(data), size: data.length }, onBytes: (n) => (progress += n) });
      expect(r).toEqual({ digest: sha(data), size: data.length });
      expect((await readFile(path)).equals(data)).toBe(true);
      expect(progress).toBe(data.length);
      if (lend) {
        expect(src.stats.lentReads).toBeGreaterThan(50);
        expect(src.stats.copies).toBe(0);
      } else {
        expect(src.stats.copies).toBeGreaterThan(50);
      }
    }
  });
});

describe('store.writeBlob with a push source', () => {
  it('stores a verified blob, progress counts every byte, nothing left in the temp folder', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 3);
    let progress = 0;
    const d = await store.writeBlob(pushSource(data), { expected: { digest: sha(data), size: data.length }, onBytes: (n) => (progress += n) });
    expect(d.digest).toBe(sha(data));
    expect(progress).toBe(data.length);
    expect((await store.readBlob(sha(data))).equals(data)).toBe(true);
    expect(await tempFiles()).toEqual([]);
  });

  it('a digest mismatch stores nothing and removes the temp file', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const wrong = Buffer.from(data);
    wrong[wrong.length - 1] ^= 1;
    const err = await store.writeBlob(pushSource(wrong), { expected: { digest: sha(data), size: data.length } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoracleError);
    expect((err as Error).message).toBe(`blob ${sha(data)}: digest mismatch: expected ${sha(data)}, got ${sha(wrong)}`);
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it('more bytes than expected stop the producer at once; nothing stored', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const src = pushSource(data, { piece: 100_000 });
    const err = await store.writeBlob(src, { expected: { digest: sha(data.subarray(0, 1000)), size: 1000 }, what: 'layer 1 of x' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('layer 1 of x: size mismatch: more than the expected 1000 bytes');
    expect(src.stats.stopped).toBe(true);
    expect(src.stats.lentReads + src.stats.copies).toBe(1);
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it('fewer bytes than expected: a size mismatch, nothing stored', async () => {
    const data = randomBytes(1024 * 1024);
    const err = await store.writeBlob(pushSource(data), { expected: { digest: sha(data), size: data.length + 5 } }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/size mismatch: expected 1048581 bytes, got 1048576$/);
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  describe('from a real HTTP body (socket-get)', () => {
    let server: Server;
    let base: string;
    const good = randomBytes(5 * 1024 * 1024 + 11);
    const bad = Buffer.from(good);
    bad[12345] ^= 0xff;
    beforeEach(async () => {
      server = createServer((req, res) => {
        const body = req.url === '/bad' ? bad : good;
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterEach(async () => {
      await new Promise((r) => server.close(r));
    });

    it('stores the body read straight into the write buffers', async () => {
      const res = await socketGet('GET', new URL(`${base}/good`), {});
      let progress = 0;
      const d = await store.writeBlob(res.body, { expected: { digest: sha(good), size: good.length }, onBytes: (n) => (progress += n) });
      expect(d).toMatchObject({ digest: sha(good), size: good.length });
      expect(progress).toBe(good.length);
      expect((await store.readBlob(sha(good))).equals(good)).toBe(true);
      expect(await tempFiles()).toEqual([]);
    });

    it('a body that does not match its digest stores nothing', async () => {
      const res = await socketGet('GET', new URL(`${base}/bad`), {});
      const err = await store.writeBlob(res.body, { expected: { digest: sha(good), size: good.length } }).catch((e: unknown) => e);
      expect((err as Error).message).toContain(`digest mismatch: expected ${sha(good)}, got ${sha(bad)}`);
      expect(await blobFiles()).toEqual([]);
      expect(await tempFiles()).toEqual([]);
    });
  });
});

describe('writeBlobFile with a resumable source', () => {
  const lost = () => Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });
  /** A push source of data[from..] that fails with a lost connection after `cut` bytes (undefined: never). */
  function part(data: Buffer, from: number, cut: number | undefined, lend: boolean): PushSource {
    const end = cut === undefined ? data.length : Math.min(data.length, from + cut);
    const inner = pushSource(data.subarray(from, end), { piece: 33_333, lend });
    return {
      async pushTo(sink) {
        await inner.pushTo(sink);
        if (end < data.length) throw lost();
      },
    };
  }
  /** Parts as `plan` says: each entry is [where the part starts (undefined: where asked), bytes before it fails]. */
  function resumable(data: Buffer, plan: Array<[number | undefined, number | undefined]>, lend = true) {
    const asked: number[] = [];
    const failures: number[] = [];
    const source: ResumableSource = {
      resumable: true,
      async open(offset) {
        asked.push(offset);
        const [start, cut] = plan[asked.length - 1] ?? [undefined, undefined];
        const from = start ?? offset;
        return { data: part(data, from, cut, lend), from };
      },
      resume(_e, have) {
        failures.push(have);
        return failures.length < 5;
      },
    };
    return { source, asked, failures };
  }

  for (const lend of [true, false]) {
    it(`appends the rest after a lost connection and verifies the whole blob (${lend ? 'lent memory' : 'copies'})`, async () => {
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const r = resumable(data, [[undefined, 1_000_003], [undefined, 777_777], [undefined, undefined]], lend);
      let progress = 0;
      const path = join(root, `resume-${lend}`);
      const w = await writeBlobFile(path, r.source, { what: 'blob', expected: { digest: sha(data), size: data.length }, onBytes: (n) => (progress += n) });
      expect(w).toEqual({ digest: sha(data), size: data.length });
      expect(r.asked).toEqual([0, 1_000_003, 1_777_780]);
      expect(r.failures).toEqual([1_000_003, 1_777_780]);
      expect(progress).toBe(data.length);
      expect((await readFile(path)).equals(data)).toBe(true);
    });
  }

  it('starts over (file truncated, hash anew) when a part comes from byte 0', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const r = resumable(data, [[undefined, 1_500_000], [0, undefined]]);
    const path = join(root, 'restart');
    const w = await writeBlobFile(path, r.source, { what: 'blob', expected: { digest: sha(data), size: data.length } });
    expect(w.digest).toBe(sha(data));
    expect(r.asked).toEqual([0, 1_500_000]);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('a part from another offset than asked is an error', async () => {
    const data = randomBytes(100_000);
    const r = resumable(data, [[undefined, 40_000], [10_000, undefined]]);
    await expect(writeBlobFile(join(root, 'other'), r.source, { what: 'blob X', expected: { digest: sha(data), size: data.length } })).rejects.toThrow(
      'blob X: asked for the bytes from 40000, got them from 10000',
    );
  });

  it('gives up with the error when the source says so; bytes wrong before the cut fail the digest', async () => {
    const data = randomBytes(100_000);
    const never: ResumableSource = { resumable: true, open: async () => ({ data: part(data, 0, 50_000, true), from: 0 }), resume: () => false };
    await expect(writeBlobFile(join(root, 'never'), never, { what: 'blob', expected: { digest: sha(data), size: data.length } })).rejects.toThrow('connection lost');
    // the first part's bytes differ from the blob's: the resumed rest is right, the whole is not
    const bad = Buffer.from(data);
    bad[10] ^= 1;
    let n = 0;
    const mixed: ResumableSource = {
      resumable: true,
      open: async (offset) => ({ data: part(n++ === 0 ? bad : data, offset, n === 1 ? 50_000 : undefined, true), from: offset }),
      resume: () => true,
    };
    await expect(writeBlobFile(join(root, 'mixed'), mixed, { what: 'blob', expected: { digest: sha(data), size: data.length } })).rejects.toThrow(/blob: digest mismatch/);
  });
});
