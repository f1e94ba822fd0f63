import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, unlink, utimes, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CoracleError } from '../../errors.js';
import { canonicalReference } from '../ref.js';
import { DigestStream, parseDigest, verifyBytes } from '../digest.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type Digest, type ImageIndex } from '../types.js';
import type { ContentStore } from './content-store.js';
import { withLock } from './lock.js';
import { writeBlobFile } from './blob-writer.js';
import { isPushSource, type PushSource } from './push-source.js';
import { isResumableSource, type ResumableSource } from './resumable-source.js';
import { removeDeadTemps } from '../../files/leftovers.js';

/** Folder (inside the layout) for blobs being written; other OCI tools ignore it. */
export const TEMP_DIR = '.coracle-tmp';
const LAYOUT_VERSION = '1.0.0';

/**
 * A blob's bytes. A source that is also a PushSource (a registry response
 * read from its own socket) is read through pushTo: the socket then reads
 * straight into the file's write buffers. A ResumableSource (a registry
 * download) is opened by the store itself and asked again from where it
 * stopped when its connection is lost.
 */
export type BlobData = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array> | PushSource | ResumableSource;

export interface WriteBlobOptions {
  expected?: { digest: Digest; size?: number };
  mediaType?: string;
  onBytes?: (n: number) => void;
  /** Names the blob in error messages (e.g. `layer 2 of docker.io/library/alpine:3.20`). */
  what?: string;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
  /** Last modification time (ms since epoch). */
  mtimeMs: number;
}

/** The OCI image layout store with the extras prune and import/export need. */
export interface LayoutStore extends ContentStore {
  writeBlob(data: BlobData, opts?: WriteBlobOptions): Promise<Descriptor>;
  /** Stream a blob; with `verify` (default true) the stream errors at the end when the bytes are wrong. */
  openBlob(digest: Digest, opts?: { verify?: boolean }): Readable;
  /** Size of a stored blob, or undefined. */
  blobSize(digest: Digest): Promise<number | undefined>;
  /** The whole index.json. */
  readIndex(): Promise<ImageIndex>;
  /**
   * Read-modify-write index.json under the store lock; `fn` returns the new
   * manifests list. Safe with several processes.
   */
  updateIndex(fn: (manifests: Descriptor[]) => Descriptor[] | Promise<Descriptor[]>): Promise<void>;
  /** Set several refs in one locked update. */
  setRefs(entries: Array<{ name: string; descriptor: Descriptor }>): Promise<void>;
  listBlobs(): Promise<BlobInfo[]>;
  deleteBlob(digest: Digest): Promise<boolean>;
  /** Files in the temp folder (for prune): name, size, mtime. */
  listTemp(): Promise<Array<{ path: string; size: number; mtimeMs: number }>>;
}

function toIterable(data: Exclude<BlobData, PushSource | ResumableSource>): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  return data as AsyncIterable<Uint8Array>;
}

/** Canonical ref name for the index: full reference, `:latest` added. */
export function storeRefName(name: string): string {
  return canonicalReference(name);
}

/** Names in TEMP_DIR: PREFIX-PID-HEX. */
export const STORE_TEMP_NAME = /^[a-z]+-(\d+)-[0-9a-f]{12}$/;

function tempName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

class OciLayoutStore implements LayoutStore {
  readonly root: string;
  private readonly tmp: string;
  private readonly indexPath: string;
  private readonly lockPath: string;

  constructor(root: string) {
    this.root = root;
    this.tmp = join(root, TEMP_DIR);
    this.indexPath = join(root, 'index.json');
    this.lockPath = join(root, 'index.json.lock');
  }

  async init(): Promise<void> {
    try {
      // synchronous: done once per command, cheaper than two thread-pool round trips
      mkdirSync(join(this.root, 'blobs', 'sha256'), { recursive: true });
      mkdirSync(this.tmp, { recursive: true });
      // Temporary blobs of a killed pull or build (PREFIX-PID-HEX) go now.
      await removeDeadTemps(this.tmp, STORE_TEMP_NAME);
    } catch (e) {
      throw new CoracleError(`cannot create image store ${this.root}: ${(e as Error).message}`);
    }
    const layoutFile = join(this.root, 'oci-layout');
    if (existsSync(layoutFile)) {
      let version: unknown;
      try {
        version = (JSON.parse(readFileSync(layoutFile, 'utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        throw new CoracleError(`${layoutFile}: not valid JSON; this is not an OCI image layout`);
      }
      if (version !== LAYOUT_VERSION) throw new CoracleError(`${layoutFile}: unsupported imageLayoutVersion ${JSON.stringify(version)}`);
    } else {
      await this.writeAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    }
    if (!existsSync(this.indexPath)) {
      await withLock(this.lockPath, async () => {
        if (!existsSync(this.indexPath)) await this.writeIndex([]);
      });
    }
  }

  private async writeAtomic(path: string, text: string): Promise<void> {
    const tmp = join(this.tmp, tempName('meta'));
    await writeFile(tmp, text);
    await rename(tmp, path);
  }

  private pathOf(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  /**
   * Whether a blob is stored. A hit refreshes the blob's mtime: a caller that
   * finds a blob usually goes on to reference it, and prune's grace period
   * then keeps it until the ref is set.
   */
  async hasBlob(digest: Digest): Promise<boolean> {
    const p = this.pathOf(digest);
    if (!existsSync(p)) return false;
    const now = new Date();
    await utimes(p, now, now).catch(() => undefined);
    return true;
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch {
      return undefined;
    }
  }

  blobPath(digest: Digest): string {
    const p = this.pathOf(digest);
    if (!existsSync(p)) throw new CoracleError(`blob ${digest} is not in the store ${this.root}`);
    return p;
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    const p = this.blobPath(digest);
    const data = await readFile(p);
    verifyBytes(data, { digest }, `blob ${digest} in ${this.root} (corrupt; run coracle cache prune and pull again)`);
    return data;
  }

  openBlob(digest: Digest, opts: { verify?: boolean } = {}): Readable {
    const p = this.blobPath(digest);
    const file = createReadStream(p, { highWaterMark: 1 << 20 });
    if (opts.verify === false) return file;
    const size = statSync(p).size;
    const check = new DigestStream({ digest, size }, `blob ${digest} in ${this.root} (corrupt)`);
    file.on('error', (e) => check.destroy(e));
    return file.pipe(check);
  }

  async writeBlob(data: BlobData, opts: WriteBlobOptions = {}): Promise<Descriptor> {
    const what = opts.what ?? (opts.expected ? `blob ${opts.expected.digest}` : 'blob');
    const expected = opts.expected;
    const mediaType = opts.mediaType ?? 'application/octet-stream';
    if (expected) {
      parseDigest(expected.digest, what);
      const have = await this.blobSize(expected.digest);
      if (have !== undefined && (expected.size === undefined || have === expected.size)) {
        // Already stored (and verified when it was written): do not read the source.
        // Touch it so a concurrent prune's grace period protects it until the ref is set.
        if (data instanceof Readable) data.destroy();
        const now = new Date();
        await utimes(this.pathOf(expected.digest), now, now).catch(() => undefined);
        return { mediaType, digest: expected.digest, size: have };
      }
    }
    const tmp = join(this.tmp, tempName('blob'));
    try {
      const { digest, size } = await writeBlobFile(tmp, isPushSource(data) || isResumableSource(data) ? data : toIterable(data), {
        expected,
        what,
        onBytes: opts.onBytes,
      });
      const dest = this.pathOf(digest);
      await mkdir(join(this.root, 'blobs', parseDigest(digest).algorithm), { recursive: true });
      await rename(tmp, dest);
      return { mediaType, digest, size };
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      if (e instanceof CoracleError) throw e;
      throw new CoracleError(`${what}: cannot store in ${this.root}: ${(e as Error).message}`, { cause: e });
    }
  }

  async listBlobs(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    const blobs = join(this.root, 'blobs');
    for (const alg of await readdir(blobs).catch(() => [] as string[])) {
      for (const hex of await readdir(join(blobs, alg)).catch(() => [] as string[])) {
        const digest = `${alg}:${hex}`;
        try {
          parseDigest(digest);
        } catch {
          continue; // not a blob (foreign file): leave it alone
        }
        const st = await stat(join(blobs, alg, hex)).catch(() => undefined);
        if (st?.isFile()) out.push({ digest, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.pathOf(digest));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async listTemp(): Promise<Array<{ path: string; size: number; mtimeMs: number }>> {
    const out = [];
    for (const name of await readdir(this.tmp).catch(() => [] as string[])) {
      const st = await stat(join(this.tmp, name)).catch(() => undefined);
      if (st?.isFile()) out.push({ path: join(this.tmp, name), size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(this.indexPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      throw e;
    }
    let index: ImageIndex;
    try {
      index = JSON.parse(text) as ImageIndex;
    } catch (e) {
      throw new CoracleError(`${this.indexPath}: invalid JSON: ${(e as Error).message}`);
    }
    if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests))
      throw new CoracleError(`${this.indexPath}: not an OCI image index (no "manifests" list)`);
    return index;
  }

  private async writeIndex(manifests: Descriptor[]): Promise<void> {
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
    const tmp = join(this.tmp, tempName('index'));
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(`${JSON.stringify(index, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.indexPath);
  }

  async updateIndex(fn: (manifests: Descriptor[]) => Descriptor[] | Promise<Descriptor[]>): Promise<void> {
    await withLock(this.lockPath, async () => {
      const current = await this.readIndex();
      const next = await fn(current.manifests.slice());
      await this.writeIndex(next);
    });
  }

  async getRef(name: string): Promise<Descriptor | undefined> {
    const canonical = storeRefName(name);
    const index = await this.readIndex();
    return index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === canonical);
  }

  async setRef(name: string, desc: Descriptor): Promise<void> {
    await this.setRefs([{ name, descriptor: desc }]);
  }

  async setRefs(entries: Array<{ name: string; descriptor: Descriptor }>): Promise<void> {
    const named = entries.map(({ name, descriptor }) => {
      parseDigest(descriptor.digest, name);
      const canonical = storeRefName(name);
      const d: Descriptor = {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        ...(descriptor.platform ? { platform: descriptor.platform } : {}),
        ...(descriptor.artifactType ? { artifactType: descriptor.artifactType } : {}),
        annotations: { ...(descriptor.annotations ?? {}), [REF_NAME_ANNOTATION]: canonical },
      };
      return d;
    });
    for (const d of named) {
      if (!(await this.hasBlob(d.digest)))
        throw new CoracleError(`cannot tag ${d.annotations![REF_NAME_ANNOTATION]}: manifest ${d.digest} is not in the store`);
    }
    await this.updateIndex((manifests) => {
      for (const d of named) {
        const name = d.annotations![REF_NAME_ANNOTATION];
        const at = manifests.findIndex((m) => m.annotations?.[REF_NAME_ANNOTATION] === name);
        if (at >= 0) manifests[at] = d;
        else manifests.push(d);
      }
      return manifests;
    });
  }

  async deleteRef(name: string): Promise<boolean> {
    const canonical = storeRefName(name);
    let removed = false;
    await this.updateIndex((manifests) =>
      manifests.filter((m) => {
        const hit = m.annotations?.[REF_NAME_ANNOTATION] === canonical;
        if (hit) removed = true;
        return !hit;
      }),
    );
    return removed;
  }

  async listRefs(): Promise<Array<{ name: string; descriptor: Descriptor }>> {
    const index = await this.readIndex();
    const out = [];
    for (const d of index.manifests) {
      const name = d.annotations?.[REF_NAME_ANNOTATION];
      if (name !== undefined) out.push({ name, descriptor: d });
    }
    return out;
  }
}

/**
 * Open (creating on first use) the OCI image layout at `root`. Blobs are
 * verified while streaming to a temporary file in the store and renamed into
 * `blobs/<alg>/<hex>`; index.json changes take a lock file and are written
 * whole, so several coracle processes can share one store.
 */
export async function openStore(root: string): Promise<LayoutStore> {
  const store = new OciLayoutStore(root);
  await store.init();
  return store;
}
