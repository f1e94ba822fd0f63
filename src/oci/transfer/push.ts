import { CoracleError } from '../../errors.js';
import { silentReporter } from '../../progress/reporter.js';
import { formatPlatform } from '../platform.js';
import { parseReference, withDefaultTag, type ImageReference } from '../ref.js';
import { repositoryScope } from '../registry/challenge.js';
import { RegistryClient, type FetchedManifest } from '../registry/client.js';
import type { ContentStore } from '../store/content-store.js';
import { isIndex, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../types.js';
import { mapLimit } from './limit.js';
import { operationError, readStoredManifest, storeName } from './pull.js';
import { clientOptions, type RegistryAccessOptions } from './sources.js';

export interface PushOptions extends Omit<RegistryAccessOptions, 'mirrors'> {
  store: ContentStore;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Blobs larger than this are uploaded in chunks (default 32 MiB). */
  chunkThreshold?: number;
  /** Chunk size of chunked uploads (default 16 MiB). */
  chunkSize?: number;
}

export interface PushResult {
  /** Canonical destination reference. */
  reference: string;
  /** Digest of the top manifest or index pushed. */
  digest: Digest;
  descriptor: Descriptor;
  /** How each blob got there. */
  blobs: { uploaded: number; mounted: number; existing: number };
}

/** The descriptor a store reference names (by ref name, or by digest when the blob is there). */
export async function findInStore(store: ContentStore, ref: ImageReference): Promise<Descriptor | undefined> {
  const named = await store.getRef(storeName(ref));
  if (named) return named;
  if (ref.digest && (await store.hasBlob(ref.digest))) {
    return (await readStoredManifest(store, { digest: ref.digest, mediaType: '', size: 0 })).descriptor;
  }
  return undefined;
}

/**
 * Push an image from the store to a registry: blobs first (skipping those
 * there, mounting from the source repository when it is in the same
 * registry), then image manifests by digest, then the index or manifest
 * under the destination tag. `dest` defaults to `src`.
 */
export async function pushImage(src: string, dest: string | undefined, opts: PushOptions): Promise<PushResult> {
  const op = `push ${src}${dest && dest !== src ? ` to ${dest}` : ''}`;
  try {
    return await push(src, dest ?? src, opts);
  } catch (e) {
    throw operationError(op, e);
  }
}

async function push(srcText: string, destText: string, o: PushOptions): Promise<PushResult> {
  const store = o.store;
  const reporter = o.reporter ?? silentReporter;
  const src = withDefaultTag(parseReference(srcText));
  const dest = withDefaultTag(parseReference(destText));
  const top = await findInStore(store, src);
  if (!top) throw new CoracleError(`${storeName(src)} is not in the store ${store.root} (pull or build it first)`);
  if (dest.digest && dest.digest !== top.digest) {
    throw new CoracleError(`the destination names digest ${dest.digest} but the image is ${top.digest}`);
  }
  const sameRegistry = src.registry === dest.registry && src.repository !== dest.repository;
  const scopes = [repositoryScope(dest.repository, 'pull,push')];
  if (sameRegistry) scopes.push(repositoryScope(src.repository, 'pull'));
  const client = new RegistryClient({ registry: dest.registry, ...clientOptions(o, scopes) });

  const topManifest = await readStoredManifest(store, top);
  const images: FetchedManifest[] = [];
  if (isIndex(topManifest.manifest, top.mediaType)) {
    for (const child of (topManifest.manifest as ImageIndex).manifests) {
      if (!(await store.hasBlob(child.digest))) {
        const where = child.platform ? ` (${formatPlatform(child.platform)})` : '';
        throw new CoracleError(
          `manifest ${child.digest}${where} of the index is not in the store: pull the image with --all-platforms before pushing it`,
        );
      }
      const m = await readStoredManifest(store, child);
      if (isIndex(m.manifest, m.descriptor.mediaType)) throw new CoracleError(`manifest ${child.digest} is a nested index, which coracle does not push`);
      images.push(m);
    }
  } else {
    images.push(topManifest);
  }

  const blobs = new Map<string, Descriptor>();
  for (const img of images) {
    const m = img.manifest as ImageManifest;
    for (const d of [m.config, ...m.layers]) {
      if (!(await store.hasBlob(d.digest))) {
        throw new CoracleError(`blob ${d.digest} of manifest ${img.descriptor.digest} is not in the store`);
      }
      blobs.set(d.digest, d);
    }
  }
  const counts = { uploaded: 0, mounted: 0, existing: 0 };
  await mapLimit([...blobs.values()], o.concurrency ?? 3, async (d) => {
    const short = d.digest.replace(/^sha256:/, '').slice(0, 12);
    const task = reporter.task(`${short} push`, d.size);
    try {
      const how = await client.pushBlob(dest.repository, d, () => store.openBlob(d.digest), {
        ...(sameRegistry ? { mountFrom: src.repository } : {}),
        ...(o.chunkThreshold !== undefined ? { chunkThreshold: o.chunkThreshold } : {}),
        ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
        onBytes: (n) => task.advance(n),
      });
      if (how === 'uploaded') counts.uploaded++;
      else if (how === 'mounted') counts.mounted++;
      else counts.existing++;
      task.done(how === 'uploaded' ? undefined : how === 'mounted' ? `mounted from ${src.repository}` : 'already there');
    } catch (e) {
      task.fail();
      if (e instanceof CoracleError && !e.message.includes(d.digest)) throw new CoracleError(`blob ${d.digest}: ${e.message}`, { cause: e });
      throw e;
    }
  });
  if (topManifest !== images[0] || images.length !== 1) {
    for (const img of images) await client.putManifest(dest.repository, img.descriptor.digest, img.bytes, img.descriptor.mediaType);
  }
  const tagOrDigest = dest.tag ?? top.digest;
  const digest = await client.putManifest(dest.repository, tagOrDigest, topManifest.bytes, top.mediaType);
  return { reference: storeName(dest), digest, descriptor: top, blobs: counts };
}
