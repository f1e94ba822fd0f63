import { CoracleError } from '../errors.js';
import { isDigest, verifyBytes } from './digest.js';
import { hostPlatform, formatPlatform, platformMatches, selectManifest } from './platform.js';
import { parseReference, canonicalReference } from './ref.js';
import type { ContentStore } from './store/content-store.js';
import {
  INDEX_MEDIA_TYPES,
  IMAGE_MANIFEST_MEDIA_TYPES,
  MediaType,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Manifest,
  type Platform,
} from './types.js';

/** An image resolved to one platform. */
export interface ResolvedImage {
  /** Descriptor of the platform-specific image manifest. */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  configDescriptor: Descriptor;
  /** The index the manifest was selected from, when the ref names an index. */
  index?: { descriptor: Descriptor; index: ImageIndex };
}

/** Read a blob, verify it against the descriptor (digest and size) and parse it as JSON. */
export async function readJsonBlob<T>(store: ContentStore, desc: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<T> {
  if (!(await store.hasBlob(desc.digest))) throw new CoracleError(`${what}: blob ${desc.digest} is not in the store ${store.root}`);
  const data = await store.readBlob(desc.digest);
  verifyBytes(data, desc, what);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (e) {
    throw new CoracleError(`${what}: blob ${desc.digest} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Store a JSON document (compact, key order as given) and return its descriptor. */
export async function writeJsonBlob(store: ContentStore, value: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  const d = await store.writeBlob(bytes, { mediaType });
  return { mediaType, digest: d.digest, size: d.size };
}

/** The media type of a manifest document: from its descriptor, its own field, or its shape. */
export function manifestMediaType(m: Manifest, desc?: Descriptor): string {
  const declared = m.mediaType ?? desc?.mediaType;
  if (declared && (INDEX_MEDIA_TYPES.includes(declared) || IMAGE_MANIFEST_MEDIA_TYPES.includes(declared))) return declared;
  if ('manifests' in m && Array.isArray(m.manifests)) return MediaType.OciIndex;
  if ('config' in m) return MediaType.OciManifest;
  return declared ?? 'application/octet-stream';
}

/** Find what a ref string names in the store: a ref name, `name@digest`, or a bare digest. */
export async function resolveRef(store: ContentStore, ref: string): Promise<Descriptor> {
  if (isDigest(ref)) return descriptorOfStoredManifest(store, ref, ref);
  const named = await store.getRef(ref);
  if (named) return named;
  const parsed = parseReference(ref);
  if (parsed.digest !== undefined && (await store.hasBlob(parsed.digest))) return descriptorOfStoredManifest(store, parsed.digest, ref);
  throw new CoracleError(`image ${canonicalReference(ref)} is not in the store ${store.root} (pull or import it first)`);
}

async function descriptorOfStoredManifest(store: ContentStore, digest: string, what: string): Promise<Descriptor> {
  if (!(await store.hasBlob(digest))) throw new CoracleError(`image ${what} is not in the store ${store.root}`);
  const data = await store.readBlob(digest);
  let m: Manifest;
  try {
    m = JSON.parse(data.toString('utf8')) as Manifest;
  } catch {
    throw new CoracleError(`${what}: blob ${digest} is not a manifest`);
  }
  return { mediaType: manifestMediaType(m), digest, size: data.length };
}

/**
 * Resolve a ref (or descriptor) in the store to one image: follow indexes to
 * the platform's manifest (default: this host), read the manifest and config,
 * verifying every blob against its descriptor.
 */
export async function readImage(store: ContentStore, ref: string | Descriptor, platform?: Platform): Promise<ResolvedImage> {
  const what = typeof ref === 'string' ? ref : ref.digest;
  let desc = typeof ref === 'string' ? await resolveRef(store, ref) : ref;
  let index: ResolvedImage['index'];
  const wanted = platform ?? hostPlatform();
  for (let depth = 0; depth < 8; depth++) {
    const m = await readJsonBlob<Manifest>(store, desc, `manifest of ${what}`);
    const mt = manifestMediaType(m, desc);
    if (INDEX_MEDIA_TYPES.includes(mt)) {
      const idx = m as ImageIndex;
      if (!Array.isArray(idx.manifests)) throw new CoracleError(`${what}: index ${desc.digest} has no manifests list`);
      index ??= { descriptor: desc, index: idx };
      desc = selectManifest(idx, wanted, what);
      continue;
    }
    if (!IMAGE_MANIFEST_MEDIA_TYPES.includes(mt)) throw new CoracleError(`${what}: ${desc.digest} is a ${mt}, not an image manifest`);
    const manifest = m as ImageManifest;
    if (!manifest.config || !Array.isArray(manifest.layers))
      throw new CoracleError(`${what}: manifest ${desc.digest} lacks config or layers`);
    const configDescriptor = manifest.config;
    const config = await readJsonBlob<ImageConfig>(store, configDescriptor, `config of ${what}`);
    if (platform && !index && typeof config.architecture === 'string' && typeof config.os === 'string') {
      const have: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
      if (!platformMatches(have, platform))
        throw new CoracleError(`${what}: image is for ${formatPlatform(have)}, not ${formatPlatform(platform)}`);
    }
    const descriptor: Descriptor = { ...desc, mediaType: mt };
    return { descriptor, manifest, config, configDescriptor, ...(index ? { index } : {}) };
  }
  throw new CoracleError(`${what}: indexes nested too deeply`);
}

export interface StoredImageSummary {
  /** Full canonical reference. */
  name: string;
  descriptor: Descriptor;
  /** Bytes of every stored blob the ref reaches (each counted once). */
  size: number;
  /** Platforms present (an index's entries whose manifests are stored, or the config's). */
  platforms: Platform[];
}

/** The store's refs with their sizes and platforms, sorted by name (for `coracle images`). */
export async function listImages(store: ContentStore): Promise<StoredImageSummary[]> {
  const out: StoredImageSummary[] = [];
  for (const { name, descriptor } of await store.listRefs()) {
    const seen = new Set<string>();
    const platforms: Platform[] = [];
    let size = 0;
    const walk = async (d: Descriptor, depth: number): Promise<void> => {
      if (seen.has(d.digest) || depth > 8 || !(await store.hasBlob(d.digest))) return;
      seen.add(d.digest);
      size += d.size;
      if (INDEX_MEDIA_TYPES.includes(d.mediaType)) {
        const idx = await readJsonBlob<ImageIndex>(store, d, name).catch(() => undefined);
        for (const c of idx?.manifests ?? []) {
          if (depth === 0 && c.platform && (await store.hasBlob(c.digest))) platforms.push(c.platform);
          await walk(c, depth + 1);
        }
      } else if (IMAGE_MANIFEST_MEDIA_TYPES.includes(d.mediaType)) {
        const m = await readJsonBlob<ImageManifest>(store, d, name).catch(() => undefined);
        if (!m) return;
        for (const b of [m.config, ...(m.layers ?? [])]) {
          if (b && !seen.has(b.digest) && (await store.hasBlob(b.digest))) {
            seen.add(b.digest);
            size += b.size;
          }
        }
        if (depth === 0 && m.config) {
          const c = await readJsonBlob<ImageConfig>(store, m.config, name).catch(() => undefined);
          if (c?.os && c.architecture) platforms.push({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
        }
      }
    };
    await walk(descriptor, 0);
    out.push({ name, descriptor, size, platforms });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
