import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { TarWriter } from '../tar/index.js';
import type { PathMeta } from './stage.js';
import { walk } from './stage.js';

export interface TreeTarOptions {
  /** Seconds since the epoch for every entry. */
  mtime: number;
  /** Explicit modes/owners by path (relative, no leading slash). */
  meta?: Map<string, PathMeta>;
  /** Prefix every member path (e.g. `lib/modules/6.1.0/` trees tarred from a sub-folder). */
  prefix?: string;
  /** Called with the bytes of each file body as it is written. */
  onFile?: (path: string, size: number) => void;
}

/**
 * Normalised permission bits: what survives a git checkout (the executable
 * bit) plus setuid/setgid/sticky, so the same tree gives the same tar on any
 * machine and umask.
 */
export function normaliseMode(mode: number, isDir: boolean): number {
  const special = mode & 0o7000;
  if (isDir) return 0o755 | (special & 0o1000);
  return (mode & 0o111 ? 0o755 : 0o644) | special;
}

/**
 * Write a folder as a deterministic tar: entries sorted by path, owners 0:0
 * unless set, one mtime, normalised modes, hardlinks for files sharing an
 * inode (the first path in sort order carries the data).
 */
export async function writeTreeTar(dir: string, out: Writable, opts: TreeTarOptions): Promise<{ entries: number }> {
  const w = new TarWriter(out);
  const paths = await walk(dir);
  const seenInodes = new Map<string, string>();
  const prefix = opts.prefix ?? '';
  for (const rel of paths) {
    const full = join(dir, rel);
    const st = await lstat(full);
    const m = opts.meta?.get(rel) ?? {};
    const h = {
      path: prefix + rel,
      uid: m.uid ?? 0,
      gid: m.gid ?? 0,
      mtime: opts.mtime,
    };
    if (st.isDirectory()) {
      await w.addDirectory({ ...h, mode: m.mode ?? normaliseMode(st.mode, true) });
    } else if (st.isSymbolicLink()) {
      await w.addSymlink({ ...h, mode: 0o777, linkpath: await readlink(full) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seenInodes.get(key) : undefined;
      if (first !== undefined) {
        await w.addHardlink({ ...h, mode: m.mode ?? normaliseMode(st.mode, false), linkpath: first });
        continue;
      }
      if (st.nlink > 1) seenInodes.set(key, prefix + rel);
      await w.addFile({ ...h, mode: m.mode ?? normaliseMode(st.mode, false), size: st.size }, createReadStream(full));
      opts.onFile?.(rel, st.size);
    }
    // Sockets, fifos and devices do not occur in unpacked packages; skip them.
  }
  await w.finish();
  return { entries: paths.length };
}
