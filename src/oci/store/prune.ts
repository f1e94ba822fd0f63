import { unlink } from 'node:fs/promises';
import { INDEX_MEDIA_TYPES, IMAGE_MANIFEST_MEDIA_TYPES, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../types.js';
import type { LayoutStore } from './layout-store.js';

export interface PruneOptions {
  /**
   * Keep unreferenced blobs and temp files modified within this many ms:
   * another coracle may be pulling into the store and not have set its ref
   * yet. Default 10 minutes; 0 prunes everything unreferenced.
   */
  gracePeriodMs?: number;
  /** Report what would be freed without deleting. */
  dryRun?: boolean;
}

export interface PruneResult {
  /** Blobs removed (or that would be, with dryRun). */
  blobs: Array<{ digest: Digest; size: number }>;
  /** Stale temporary files removed. */
  tempFiles: string[];
  /** Bytes freed in total. */
  bytes: number;
  /** Blobs kept because something references them. */
  kept: number;
}

async function parse<T>(store: LayoutStore, digest: Digest): Promise<T | undefined> {
  try {
    return JSON.parse((await store.readBlob(digest)).toString('utf8')) as T;
  } catch {
    return undefined; // corrupt or not JSON: its children cannot be known
  }
}

/** Every digest reachable from the index: indexes, manifests, configs, layers, subjects. */
export async function reachableDigests(store: LayoutStore): Promise<Set<Digest>> {
  const seen = new Set<Digest>();
  const queue: Descriptor[] = [...(await store.readIndex()).manifests];
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    if (!(await store.hasBlob(d.digest))) continue;
    const isIndex = INDEX_MEDIA_TYPES.includes(d.mediaType);
    const isManifest = IMAGE_MANIFEST_MEDIA_TYPES.includes(d.mediaType);
    // Unknown media types (artifacts) may still be JSON manifests: look inside small ones.
    if (!isIndex && !isManifest && d.size > 4 << 20) continue;
    if (!isIndex && !isManifest && !/json/.test(d.mediaType)) continue;
    const doc = await parse<Partial<ImageIndex & ImageManifest>>(store, d.digest);
    if (!doc || typeof doc !== 'object') continue;
    if (Array.isArray(doc.manifests)) queue.push(...doc.manifests.filter((x) => typeof x?.digest === 'string'));
    if (doc.config && typeof doc.config.digest === 'string') queue.push(doc.config);
    if (Array.isArray(doc.layers)) queue.push(...doc.layers.filter((x) => typeof x?.digest === 'string'));
    if (doc.subject && typeof doc.subject.digest === 'string') queue.push(doc.subject);
  }
  return seen;
}

/**
 * Remove blobs no ref (index.json entry) reaches, and temp files left by
 * interrupted writes. Returns what was freed.
 */
export async function pruneStore(store: LayoutStore, opts: PruneOptions = {}): Promise<PruneResult> {
  const grace = opts.gracePeriodMs ?? 10 * 60_000;
  const cutoff = Date.now() - grace;
  const keep = await reachableDigests(store);
  const result: PruneResult = { blobs: [], tempFiles: [], bytes: 0, kept: 0 };
  for (const b of await store.listBlobs()) {
    if (keep.has(b.digest)) {
      result.kept++;
      continue;
    }
    if (b.mtimeMs > cutoff) continue;
    if (!opts.dryRun && !(await store.deleteBlob(b.digest))) continue;
    result.blobs.push({ digest: b.digest, size: b.size });
    result.bytes += b.size;
  }
  for (const t of await store.listTemp()) {
    if (t.mtimeMs > cutoff) continue;
    if (!opts.dryRun) {
      try {
        await unlink(t.path);
      } catch {
        continue;
      }
    }
    result.tempFiles.push(t.path);
    result.bytes += t.size;
  }
  return result;
}
