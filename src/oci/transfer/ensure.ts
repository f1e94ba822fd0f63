import { CoracleError } from '../../errors.js';
import { selectManifest } from '../platform.js';
import { parseReference, withDefaultTag } from '../ref.js';
import type { ContentStore } from '../store/content-store.js';
import { isIndex, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../types.js';
import { operationError, pullImage, readStoredManifest, resolvePlatform, storeName, type PullOptions } from './pull.js';
import { findInStore } from './push.js';

export interface EnsureOptions extends Omit<PullOptions, 'store'> {
  /** Ask the registry even when the store has the image (refresh a moved tag). */
  pull?: boolean;
}

export interface EnsuredImage {
  /** Canonical reference (`docker.io/library/alpine:3.20`). */
  reference: string;
  /** What the reference names in the store: an index or an image manifest. */
  descriptor: Descriptor;
  /** The image manifest for the platform (the descriptor itself when it is not an index). */
  image: Descriptor;
  /** True when the registry was asked. */
  pulled: boolean;
}

/**
 * The image manifest `top` resolves to for a platform, when the store holds
 * it whole (manifest, config and every layer); undefined otherwise.
 */
export async function completeLocalImage(store: ContentStore, top: Descriptor, platform: Platform, what: string): Promise<Descriptor | undefined> {
  if (!(await store.hasBlob(top.digest))) return undefined;
  let image = top;
  const m = await readStoredManifest(store, top);
  if (isIndex(m.manifest, top.mediaType)) image = selectManifest(m.manifest as ImageIndex, platform, what);
  if (!(await store.hasBlob(image.digest))) return undefined;
  const manifest = image === top ? m.manifest : (await readStoredManifest(store, image)).manifest;
  if (isIndex(manifest, image.mediaType)) return undefined;
  const im = manifest as ImageManifest;
  for (const d of [im.config, ...im.layers]) if (!(await store.hasBlob(d.digest))) return undefined;
  return image;
}

/**
 * Make an image available in the store for a build: the store first (when
 * it has the platform's image whole), else the registry; `pull: true`
 * always asks the registry.
 */
export async function ensureImage(store: ContentStore, input: string, opts: EnsureOptions = {}): Promise<EnsuredImage> {
  let platform: Platform;
  let name: string;
  try {
    const ref = withDefaultTag(parseReference(input));
    name = storeName(ref);
    platform = resolvePlatform(opts.platform);
    if (!opts.pull) {
      const top = await findInStore(store, ref);
      if (top) {
        const image = await completeLocalImage(store, top, platform, name);
        if (image) return { reference: name, descriptor: top, image, pulled: false };
      }
    }
  } catch (e) {
    throw operationError(`image ${input}`, e);
  }
  const r = await pullImage(input, { ...opts, store, platform });
  const image = (await completeLocalImage(store, r.descriptor, platform, r.reference)) ?? r.images[0];
  if (!image) throw new CoracleError(`pull ${input}: no image manifest`);
  return { reference: r.reference, descriptor: r.descriptor, image, pulled: true };
}
