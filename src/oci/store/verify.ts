/**
 * `coracle cache verify`: check a store as fsck checks a file system. Every
 * blob must hash to its name; every blob an image reference reaches must be
 * there; temporary files of killed writers are debris. With `repair`,
 * corrupt blobs and debris are removed (a later pull or build fetches or
 * writes them again); missing blobs can only be reported.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deadTemps, TEMP_NAME } from '../../files/leftovers.js';
import type { Digest } from '../types.js';
import { STORE_TEMP_NAME, TEMP_DIR, type LayoutStore } from './layout-store.js';
import { reachableDigests } from './prune.js';

export interface VerifyResult {
  checked: number;
  bytes: number;
  /** Blobs whose bytes hash to something else (removed with repair). */
  corrupt: Array<{ digest: Digest; actual: string }>;
  /** Blobs some reference needs that are not in the store. */
  missing: Digest[];
  /** Temporary files of writers no longer running (removed with repair). */
  debris: string[];
  repaired: boolean;
}

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

export async function verifyStore(store: LayoutStore & { blobPath(d: Digest): string }, opts: { repair?: boolean; onBlob?: (n: number) => void } = {}): Promise<VerifyResult> {
  const result: VerifyResult = { checked: 0, bytes: 0, corrupt: [], missing: [], debris: [], repaired: opts.repair === true };
  const present = new Set<Digest>();
  for (const b of await store.listBlobs()) {
    const actual = await fileDigest(store.blobPath(b.digest)).catch((e: Error) => `unreadable (${e.message})`);
    result.checked++;
    result.bytes += b.size;
    opts.onBlob?.(b.size);
    if (actual === b.digest) present.add(b.digest);
    else {
      result.corrupt.push({ digest: b.digest, actual });
      if (opts.repair) await store.deleteBlob(b.digest);
    }
  }
  for (const d of await reachableDigests(store)) if (!present.has(d)) result.missing.push(d);
  const tempDirs: Array<[string, RegExp]> = [
    [join(store.root, TEMP_DIR), STORE_TEMP_NAME],
    [join(store.root, 'build-cache', 'segments'), TEMP_NAME],
  ];
  for (const [dir, pattern] of tempDirs) {
    for (const f of await deadTemps(dir, pattern)) {
      result.debris.push(f.path);
      if (opts.repair) await rm(f.path, { force: true });
    }
  }
  return result;
}
