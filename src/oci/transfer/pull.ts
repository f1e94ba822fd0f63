import { CoracleError } from '../../errors.js';
import { silentReporter, type Reporter } from '../../progress/reporter.js';
import { formatPlatform, hostPlatform, parsePlatform, selectManifest } from '../platform.js';
import { formatReference, parseReference, withDefaultTag, type ImageReference } from '../ref.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';
import { manifestMediaType } from '../registry/client.js';
import { DigestMismatchError, RegistryError, connectionFailure, describeNetworkError, networkErrorCode, isRetryableNetworkError } from '../registry/errors.js';
import type { ContentStore } from '../store/content-store.js';
import type { ResumableSource } from '../store/resumable-source.js';
import { isIndex, type Descriptor, type ImageIndex, type ImageManifest, type Manifest, type Platform } from '../types.js';
import { mapLimit } from './limit.js';
import { pullSources, type RegistryAccessOptions } from './sources.js';

export interface PullOptions extends RegistryAccessOptions {
  store: ContentStore;
  /** Platform to take from an index: `linux/arm64` or a Platform; default this machine's. */
  platform?: Platform | string;
  /** Take every image of an index, not only one platform's. */
  allPlatforms?: boolean;
  /** Blobs downloaded at once (default 6, as skopeo: an image's layers usually all at once). */
  concurrency?: number;
}

export interface PullResult {
  /** The full canonical reference the store now names (`docker.io/library/alpine:3.20`). */
  reference: string;
  /** What the reference points at: an index or an image manifest. */
  descriptor: Descriptor;
  /** The image manifests pulled (one, or every platform's with allPlatforms). */
  images: Descriptor[];
  /** Where it came from: the registry host or `mirror HOST`. */
  source: string;
  /** Bytes downloaded (blobs the store already had are not counted). */
  downloaded: number;
}

/** Parts of one blob's download at most (the first GET and the resumes). */
const MAX_BLOB_ATTEMPTS = 6;
/** Failed parts in a row that brought no bytes before a blob's download is given up. */
const MAX_IDLE_ATTEMPTS = 3;

export function resolvePlatform(p: Platform | string | undefined): Platform {
  if (p === undefined) return hostPlatform();
  return typeof p === 'string' ? parsePlatform(p) : p;
}

/** The canonical name a reference is stored under. */
export function storeName(ref: ImageReference): string {
  return formatReference(withDefaultTag(ref));
}

/** Read and parse a manifest the store holds. */
export async function readStoredManifest(store: ContentStore, desc: Descriptor): Promise<FetchedManifest> {
  const bytes = await store.readBlob(desc.digest);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch {
    throw new CoracleError(`manifest ${desc.digest} in the store ${store.root} is not JSON`);
  }
  return { descriptor: { ...desc, mediaType: desc.mediaType || manifestMediaType(null, manifest), size: bytes.length }, bytes, manifest };
}

/** Prefix a cause with what was being done: `pull REF: cause`. */
export function operationError(op: string, e: unknown): unknown {
  if (e instanceof CoracleError) {
    const err = new CoracleError(`${op}: ${e.message}`, { cause: e, exitCode: e.exitCode });
    return err;
  }
  const code = networkErrorCode(e);
  if (code) return new CoracleError(`${op}: ${(e as Error).message} (${code})`, { cause: e });
  return e;
}

interface PullPlan {
  top: FetchedManifest;
  images: FetchedManifest[];
  /** Index children the store still needs (every image's manifest). */
}

class Puller {
  downloaded = 0;
  constructor(
    private readonly ref: ImageReference,
    private readonly input: string,
    private readonly o: PullOptions,
    private readonly reporter: Reporter,
  ) {}

  private async manifest(client: RegistryClient, reference: string, known?: Descriptor): Promise<FetchedManifest> {
    if (known && (await this.o.store.hasBlob(known.digest))) return readStoredManifest(this.o.store, known);
    const m = await client.getManifest(this.ref.repository, reference);
    if (known && m.descriptor.digest !== known.digest) {
      throw new CoracleError(`manifest ${known.digest}: the registry sent ${m.descriptor.digest}`);
    }
    return known ? { ...m, descriptor: { ...m.descriptor, mediaType: known.mediaType ?? m.descriptor.mediaType } } : m;
  }

  async plan(client: RegistryClient): Promise<PullPlan> {
    let top: FetchedManifest | undefined;
    if (this.ref.digest) {
      const d = this.ref.digest;
      top = (await this.o.store.hasBlob(d))
        ? await readStoredManifest(this.o.store, { digest: d, mediaType: '', size: 0 })
        : await client.getManifest(this.ref.repository, d);
    } else {
      // When the store names this tag already, a HEAD tells whether that is
      // still what the registry has (and a registry's pull limits do not count
      // it); otherwise the manifest is needed anyway: GET it in one round trip.
      if (await this.o.store.getRef(storeName(this.ref))) {
        const head = await client.headManifest(this.ref.repository, this.ref.tag!);
        if (head && (await this.o.store.hasBlob(head.digest))) top = await readStoredManifest(this.o.store, head);
      }
      top ??= await client.getManifest(this.ref.repository, this.ref.tag!);
    }
    if (!isIndex(top.manifest, top.descriptor.mediaType)) return { top, images: [top] };
    const index = top.manifest as ImageIndex;
    let children: Descriptor[];
    if (this.o.allPlatforms) {
      children = index.manifests;
    } else {
      const platform = resolvePlatform(this.o.platform);
      children = [selectManifest(index, platform, formatReference(withDefaultTag(this.ref)))];
    }
    const images: FetchedManifest[] = [];
    for (const child of children) {
      const m = await this.manifest(client, child.digest, child);
      if (isIndex(m.manifest, m.descriptor.mediaType)) {
        throw new CoracleError(`manifest ${child.digest} is an index inside an index, which coracle does not pull`);
      }
      images.push(m);
    }
    return { top, images };
  }

  private async fetchBlob(client: RegistryClient, desc: Descriptor): Promise<void> {
    const store = this.o.store;
    if (await store.hasBlob(desc.digest)) return;
    const short = desc.digest.replace(/^sha256:/, '').slice(0, 12);
    const task = this.reporter.task(`${short} ${this.kind(desc)}`, desc.size);
    let got = 0;
    let attempts = 1;
    let idle = 0;
    let before = 0;
    const source: ResumableSource = {
      resumable: true,
      open: async (offset) => {
        const part = await client.fetchBlob(this.ref.repository, desc, { offset });
        if (offset > 0 && part.from === 0) {
          this.reporter.warn(`blob ${desc.digest}: ${part.restart ?? 'the registry did not resume'}; downloading it again from the start`);
          task.advance(-got);
          got = 0;
        }
        return { data: part.stream, from: part.from };
      },
      // A connection lost in the middle of a body: ask for the rest (Range).
      // Bounded: a part that brought no bytes counts against MAX_IDLE_ATTEMPTS,
      // and MAX_BLOB_ATTEMPTS parts in all.
      resume: (e, have) => {
        if (e instanceof RegistryError || e instanceof DigestMismatchError || e instanceof CoracleError) return false;
        if (!networkErrorCode(e) || !isRetryableNetworkError(e)) return false;
        idle = have > before ? 0 : idle + 1;
        before = have;
        if (idle >= MAX_IDLE_ATTEMPTS || attempts >= MAX_BLOB_ATTEMPTS) return false;
        attempts++;
        this.reporter.warn(`blob ${desc.digest}: connection lost after ${have} of ${desc.size} bytes (${networkErrorCode(e)}); resuming`);
        return true;
      },
    };
    try {
      await store.writeBlob(source, {
        expected: { digest: desc.digest, size: desc.size },
        mediaType: desc.mediaType,
        onBytes: (n) => {
          got += n;
          task.advance(n);
        },
      });
      this.downloaded += got;
      task.done();
    } catch (e) {
      task.fail();
      const lost = e instanceof RegistryError || e instanceof DigestMismatchError ? undefined : connectionFailure(e);
      if (lost) {
        const why = describeNetworkError(lost, new URL(client.endpoint)).message.replace(/^cannot connect to /, '');
        throw new RegistryError(`blob ${desc.digest}: download failed after ${attempts} attempts: ${why}`, { registry: client.host, cause: e });
      }
      if (e instanceof CoracleError && !e.message.includes(desc.digest)) {
        throw new CoracleError(`blob ${desc.digest}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  private kinds = new Map<string, string>();
  private kind(desc: Descriptor): string {
    return this.kinds.get(desc.digest) ?? 'blob';
  }

  async transfer(client: RegistryClient, plan: PullPlan): Promise<void> {
    const blobs = new Map<string, Descriptor>();
    for (const img of plan.images) {
      const m = img.manifest as ImageManifest;
      if (!m.config || !Array.isArray(m.layers)) {
        throw new CoracleError(`manifest ${img.descriptor.digest} has no config or layers`);
      }
      blobs.set(m.config.digest, m.config);
      this.kinds.set(m.config.digest, 'config');
      for (const l of m.layers) {
        blobs.set(l.digest, l);
        if (!this.kinds.has(l.digest)) this.kinds.set(l.digest, 'layer');
      }
    }
    await mapLimit([...blobs.values()], this.o.concurrency ?? 6, (d) => this.fetchBlob(client, d));
    // Manifests only after everything they name, the index last: the store never names missing content.
    for (const img of plan.images) await this.storeManifest(img);
    if (plan.top !== plan.images[0] || plan.images.length !== 1) await this.storeManifest(plan.top);
  }

  private async storeManifest(m: FetchedManifest): Promise<void> {
    if (await this.o.store.hasBlob(m.descriptor.digest)) return;
    // The store verifies the bytes against the digest as it writes them: no separate hash here.
    await this.o.store.writeBlob(m.bytes, {
      expected: { digest: m.descriptor.digest, size: m.bytes.length },
      mediaType: m.descriptor.mediaType,
    });
  }
}

/**
 * Pull an image into the store: its manifest (and index), the selected
 * platform's (or every) image, every blob verified; then name it in the
 * store by its full canonical reference. Mirrors are tried first, in order.
 */
export async function pullImage(input: string, opts: PullOptions): Promise<PullResult> {
  const op = `pull ${input}`;
  let ref: ImageReference;
  try {
    ref = withDefaultTag(parseReference(input));
    resolvePlatform(opts.platform);
  } catch (e) {
    throw operationError(op, e);
  }
  const reporter = opts.reporter ?? silentReporter;
  const sources = pullSources(ref.registry, opts);
  const failures: string[] = [];
  for (const source of sources) {
    const puller = new Puller(ref, input, opts, reporter);
    try {
      const plan = await puller.plan(source.client);
      await puller.transfer(source.client, plan);
      const name = storeName(ref);
      await opts.store.setRef(name, plan.top.descriptor);
      return {
        reference: name,
        descriptor: plan.top.descriptor,
        images: plan.images.map((i) => i.descriptor),
        source: source.label,
        downloaded: puller.downloaded,
      };
    } catch (e) {
      if (!(e instanceof CoracleError)) throw operationError(op, e);
      // A platform that is not there is the same answer everywhere: no point asking the next source.
      if (!source.mirror || /no image for platform/.test(e.message)) {
        const prior = failures.length ? `; tried first: ${failures.join('; ')}` : '';
        throw new CoracleError(`${op}: ${e.message}${prior}`, { cause: e, exitCode: e.exitCode });
      }
      failures.push(`${source.label}: ${e.message}`);
      reporter.warn(`${op}: ${source.label} failed (${e.message}); trying the next source`);
    }
  }
  throw new CoracleError(`${op}: no source to pull from`);
}

export { formatPlatform };
