/**
 * Identical regular files stored once: every file whose bytes, mode, owner
 * and mtime equal an earlier file's becomes a hardlink to that earlier one,
 * so a newc segment (or a tar) carries the data once. Only for trees nobody
 * writes through: the init mounts a tmpfs overlay over every writable
 * container root, and read-only roots are mounted read-only, so a write
 * never reaches the shared inode.
 */
import { sourceDigest, sourceSize } from './source.js';
import type { InitrdEntry } from './types.js';

export interface LinkedEntries {
  entries: InitrdEntry[];
  /** Files turned into hardlinks, and the data bytes they no longer carry. */
  linked: number;
  savedBytes: number;
}

/**
 * The first file of a kind (in the order given) keeps the data; hardlinks
 * to a file that becomes a link are pointed at the file keeping the data.
 */
export async function linkIdenticalFiles(entries: readonly InitrdEntry[]): Promise<LinkedEntries> {
  const first = new Map<string, string>(); // content key -> path keeping the data
  const keeperOf = new Map<string, string>(); // path turned into a link -> path keeping the data
  for (const e of entries) {
    if (e.type !== 'file' || e.data === undefined) continue;
    const size = await sourceSize(e.data, e.path);
    if (size === 0) continue;
    const key = JSON.stringify([await sourceDigest(e.data, size), size, e.mode & 0o7777, e.uid, e.gid, e.mtime ?? null]);
    const keeper = first.get(key);
    if (keeper === undefined) first.set(key, e.path);
    else keeperOf.set(e.path, keeper);
  }
  let savedBytes = 0;
  const out: InitrdEntry[] = [];
  for (const e of entries) {
    const keeper = keeperOf.get(e.type === 'hardlink' ? e.linkTarget! : e.path);
    if (keeper === undefined) out.push(e);
    else if (e.type === 'hardlink') out.push({ ...e, linkTarget: keeper });
    else {
      const { data, ...meta } = e;
      savedBytes += await sourceSize(data!, e.path);
      out.push({ ...meta, type: 'hardlink', linkTarget: keeper });
    }
  }
  return { entries: out, linked: keeperOf.size, savedBytes };
}
