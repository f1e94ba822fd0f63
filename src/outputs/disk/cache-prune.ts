import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive, TEMP_NAME } from '../../files/leftovers.js';

/**
 * `coracle cache prune` for the build cache's disk images
 * (STORE/build-cache/images): each format's cached image (a folder per
 * content key), the whole uncompressed initrds they are made from
 * (`initrd/KEY.img`), and what interrupted writers left. All of it can be
 * made again from the segments and the kernel; a build that finds an entry
 * touches it, so what a build uses within the grace period stays.
 */
export interface DiskCachePruneResult {
  /** Cached images and initrds removed (or that would be). */
  entries: string[];
  /** Temporary files and folders of writers no longer running. */
  temps: string[];
  bytes: number;
}

async function sizeOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) n += await sizeOf(join(path, name));
  return n;
}

export async function pruneDiskCache(dir: string, opts: { gracePeriodMs: number; dryRun?: boolean }): Promise<DiskCachePruneResult> {
  const cutoff = Date.now() - opts.gracePeriodMs;
  const result: DiskCachePruneResult = { entries: [], temps: [], bytes: 0 };
  const remove = async (path: string, into: string[]): Promise<void> => {
    const size = await sizeOf(path);
    if (!opts.dryRun) await rm(path, { recursive: true, force: true });
    into.push(path);
    result.bytes += size;
  };
  const visit = async (folder: string, nested: boolean): Promise<void> => {
    for (const name of (await readdir(folder).catch(() => [] as string[])).sort()) {
      const path = join(folder, name);
      const temp = TEMP_NAME.exec(name);
      if (temp) {
        // a live writer's work is left alone, whatever its age
        if (!pidAlive(Number(temp[1]))) await remove(path, result.temps);
        continue;
      }
      if (!nested && name === 'initrd') {
        await visit(path, true);
        continue;
      }
      const st = await lstat(path).catch(() => undefined);
      if (st && st.mtimeMs <= cutoff) await remove(path, result.entries);
    }
  };
  await visit(dir, false);
  return result;
}
