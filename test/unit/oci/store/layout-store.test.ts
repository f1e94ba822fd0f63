import { describe, it, expect } from 'vitest';
import { readFile, readdir, writeFile, utimes, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { openStore, type LayoutStore } from '../../../../src/oci/store/layout-store.js';
import { withLock } from '../../../../src/oci/store/lock.js';
import { CoracleError } from '../../../../src/errors.js';
import { projectRoot } from '../../../helpers/cli.js';
import { tempStoreEach } from '../../../helpers/temp-store.js';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const here = dirname(fileURLToPath(import.meta.url));

let root: string;
let store: LayoutStore;
tempStoreEach('coracle-store-', (t) => ({ root, store } = t));

async function blobFiles(): Promise<string[]> {
  return readdir(join(store.root, 'blobs', 'sha256'));
}
async function tempFiles(): Promise<string[]> {
  return readdir(join(store.root, '.coracle-tmp'));
}

describe('openStore', () => {
  it('creates an OCI image layout on first use', async () => {
    expect(JSON.parse(await readFile(join(store.root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    expect(index).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    // Opening again keeps the content.
    await store.writeBlob('x');
    const again = await openStore(store.root);
    expect(await again.hasBlob(sha('x'))).toBe(true);
  });

  it('refuses a folder with a broken oci-layout file', async () => {
    await writeFile(join(store.root, 'oci-layout'), '{"imageLayoutVersion":"9"}');
    await expect(openStore(store.root)).rejects.toThrow(/unsupported imageLayoutVersion "9"/);
  });
});

describe('blobs', () => {
  it('stores verified bytes under blobs/sha256/<hex>', async () => {
    const d = await store.writeBlob(Buffer.from('hello'), { expected: { digest: sha('hello'), size: 5 }, mediaType: 'text/plain' });
    expect(d).toEqual({ mediaType: 'text/plain', digest: sha('hello'), size: 5 });
    expect(await readFile(join(store.root, 'blobs', 'sha256', sha('hello').slice(7)), 'utf8')).toBe('hello');
    expect((await store.readBlob(sha('hello'))).toString()).toBe('hello');
    expect(await tempFiles()).toEqual([]);
  });

  it('streams from a Readable and reports progress', async () => {
    let seen = 0;
    const data = Buffer.alloc(3_000_000, 9);
    const d = await store.writeBlob(Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]), { onBytes: (n) => (seen += n) });
    expect(d.digest).toBe(sha(data));
    expect(seen).toBe(data.length);
    const back: Buffer[] = [];
    for await (const c of store.openBlob(d.digest)) back.push(c as Buffer);
    expect(Buffer.concat(back).equals(data)).toBe(true);
  });

  it('a digest mismatch throws CoracleError and stores nothing', async () => {
    const wrong = sha('something else');
    await expect(store.writeBlob('hello', { expected: { digest: wrong } })).rejects.toThrow(CoracleError);
    await expect(store.writeBlob(Readable.from([Buffer.from('hel'), Buffer.from('lo')]), { expected: { digest: wrong }, what: 'layer 1 of x' })).rejects.toThrow(
      /layer 1 of x: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:2cf24dba/,
    );
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
    expect(await store.hasBlob(wrong)).toBe(false);
  });

  it('a size mismatch throws and stores nothing', async () => {
    await expect(store.writeBlob('hello', { expected: { digest: sha('hello'), size: 4 } })).rejects.toThrow(/size mismatch/);
    await expect(store.writeBlob('hello', { expected: { digest: sha('hello'), size: 6 } })).rejects.toThrow(/size mismatch/);
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it('a failing source stream stores nothing', async () => {
    async function* broken() {
      yield Buffer.from('partial');
      throw new Error('connection reset');
    }
    await expect(store.writeBlob(broken())).rejects.toThrow(/connection reset/);
    expect(await blobFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it('refuses malformed expected digests', async () => {
    await expect(store.writeBlob('x', { expected: { digest: 'sha256:abc' } })).rejects.toThrow(/invalid digest "sha256:abc"/);
  });

  it('detects a blob corrupted on disk when reading', async () => {
    const d = await store.writeBlob('good data');
    await writeFile(join(store.root, 'blobs', 'sha256', d.digest.slice(7)), 'evil data');
    await expect(store.readBlob(d.digest)).rejects.toThrow(/digest mismatch/);
    const read = async () => {
      for await (const _ of store.openBlob(d.digest)) void _;
    };
    await expect(read()).rejects.toThrow(/digest mismatch/);
    expect(() => store.blobPath(sha('missing'))).toThrow(/is not in the store/);
  });
});

describe('refs', () => {
  it('keeps full canonical references in index.json annotations', async () => {
    const m = await store.writeBlob('{}', { mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    await store.setRef('alpine', m);
    await store.setRef('localhost:5000/x/y:1', m);
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    expect(index.manifests.map((d: { annotations: Record<string, string> }) => d.annotations['org.opencontainers.image.ref.name'])).toEqual([
      'docker.io/library/alpine:latest',
      'localhost:5000/x/y:1',
    ]);
    expect((await store.getRef('docker.io/library/alpine'))?.digest).toBe(m.digest);
    expect(await store.getRef('alpine:3')).toBeUndefined();
    const m2 = await store.writeBlob('{"a":1}', { mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    await store.setRef('alpine:latest', m2);
    expect((await store.listRefs()).map((r) => [r.name, r.descriptor.digest])).toEqual([
      ['docker.io/library/alpine:latest', m2.digest],
      ['localhost:5000/x/y:1', m.digest],
    ]);
    expect(await store.deleteRef('alpine')).toBe(true);
    expect(await store.deleteRef('alpine')).toBe(false);
    expect((await store.listRefs()).map((r) => r.name)).toEqual(['localhost:5000/x/y:1']);
    expect(await readdir(store.root)).not.toContain('index.json.lock');
  });

  it('refuses to tag a manifest that is not stored, and bad names', async () => {
    await expect(store.setRef('x', { mediaType: 'a', digest: sha('nope'), size: 1 })).rejects.toThrow(/is not in the store/);
    const m = await store.writeBlob('{}');
    await expect(store.setRef('Bad Name', m)).rejects.toThrow(/invalid image reference/);
  });

  it('loses no ref when several processes set refs at once', async () => {
    const workers = 5;
    const each = 12;
    const script = join(here, 'fixtures', 'set-refs.ts');
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        execa(process.execPath, ['--import', 'tsx', script, store.root, String(w), String(each)], { cwd: projectRoot }),
      ),
    );
    const refs = await store.listRefs();
    expect(refs).toHaveLength(workers * each);
    for (let w = 0; w < workers; w++)
      for (let i = 0; i < each; i++) expect(refs.some((r) => r.name === `localhost:5000/w${w}/img:t${i}`)).toBe(true);
    expect((await readdir(store.root)).filter((f) => f.includes('lock'))).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  }, 120_000);
});

describe('lock file', () => {
  it('recovers a lock left by a dead process', async () => {
    const dead = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(join(store.root, 'index.json.lock'), JSON.stringify({ pid: Number(dead.stdout), host: hostname() }));
    const m = await store.writeBlob('{}');
    await store.setRef('x:1', m);
    expect((await store.getRef('x:1'))?.digest).toBe(m.digest);
  });

  it('recovers a lock that is too old, even when its owner looks alive', async () => {
    const lock = join(root, 'old.lock');
    await writeFile(lock, JSON.stringify({ pid: 1, host: 'elsewhere' }));
    const past = new Date(Date.now() - 120_000);
    await utimes(lock, past, past);
    expect(await withLock(lock, async () => 'ran')).toBe('ran');
  });

  it('waits for a live holder and times out with a clear error', async () => {
    const lock = join(root, 'busy.lock');
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname() }));
    await expect(withLock(lock, async () => 'ran', { timeoutMs: 300 })).rejects.toThrow(
      new RegExp(`busy.lock is locked by process ${process.pid} on`),
    );
    expect((await stat(lock)).isFile()).toBe(true);
  });

  it('serialises holders inside one process', async () => {
    const lock = join(root, 'serial.lock');
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(lock, async () => {
          inside++;
          max = Math.max(max, inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }),
      ),
    );
    expect(max).toBe(1);
  });
});
