import { CoracleError } from '../../errors.js';
import { selectManifest } from '../platform.js';
import { parseReference, withDefaultTag, type ImageReference } from '../ref.js';
import type { ContentStore } from '../store/content-store.js';
import { isIndex, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../types.js';
import { readImage } from '../image.js';
import { completeLocalImage } from './ensure.js';
import { operationError, resolvePlatform, storeName } from './pull.js';
import { findInStore } from './push.js';
import { pullSources, type RegistryAccessOptions } from './sources.js';

export interface InspectOptions extends RegistryAccessOptions {
  /** Look here first; the registry is asked only when the store lacks the image. */
  store?: ContentStore;
  platform?: Platform | string;
  /** Skip the store. */
  remote?: boolean;
}

export interface InspectResult {
  /** Canonical reference. */
  reference: string;
  /** Digest of the platform's image manifest. */
  digest: string;
  /** The reference's own descriptor (an index when multi-platform). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  /** The top manifest or index bytes exactly as stored / served. */
  raw: Buffer;
  source: 'store' | string;
}

function parseConfig(bytes: Buffer, digest: string): ImageConfig {
  try {
    return JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw new CoracleError(`config ${digest} is not JSON`);
  }
}

async function fromStore(store: ContentStore, ref: ImageReference, platform: Platform): Promise<InspectResult | undefined> {
  const name = storeName(ref);
  const top = await findInStore(store, ref);
  // Only an image the store holds whole is answered from the store; anything less goes to the registry.
  if (!top || !(await completeLocalImage(store, top, platform, name))) return undefined;
  const img = await readImage(store, top, platform);
  const raw = await store.readBlob(top.digest);
  return { reference: name, digest: img.descriptor.digest, descriptor: top, manifest: img.manifest, config: img.config, raw, source: 'store' };
}

/**
 * Manifest and config of an image for a platform: from the store when it
 * has them, else from the registry (mirrors first), without storing anything.
 */
export async function inspectImage(input: string, opts: InspectOptions = {}): Promise<InspectResult> {
  const op = `inspect ${input}`;
  try {
    const ref = withDefaultTag(parseReference(input));
    const platform = resolvePlatform(opts.platform);
    if (opts.store && !opts.remote) {
      const local = await fromStore(opts.store, ref, platform);
      if (local) return local;
    }
    const sources = pullSources(ref.registry, opts);
    const failures: string[] = [];
    for (const s of sources) {
      try {
        const top = await s.client.getManifest(ref.repository, ref.digest ?? ref.tag!);
        let image = top;
        if (isIndex(top.manifest, top.descriptor.mediaType)) {
          const child = selectManifest(top.manifest as ImageIndex, platform, storeName(ref));
          image = await s.client.getManifest(ref.repository, child.digest);
        }
        const m = image.manifest as ImageManifest;
        if (!m.config) throw new CoracleError(`manifest ${image.descriptor.digest} has no config`);
        const config = parseConfig(await s.client.getBlob(ref.repository, m.config), m.config.digest);
        return { reference: storeName(ref), digest: image.descriptor.digest, descriptor: top.descriptor, manifest: m, config, raw: top.bytes, source: s.label };
      } catch (e) {
        if (!s.mirror || !(e instanceof CoracleError) || /no image for platform/.test(e.message)) {
          const prior = failures.length ? `; tried first: ${failures.join('; ')}` : '';
          if (e instanceof CoracleError) throw new CoracleError(`${e.message}${prior}`, { cause: e });
          throw e;
        }
        failures.push(`${s.label}: ${e.message}`);
      }
    }
    throw new CoracleError('no source to ask');
  } catch (e) {
    throw operationError(op, e);
  }
}
