/**
 * Putting a large cached file (the kernel, vmlinux) into an output folder
 * without copying its bytes: a hardlink to a "published" copy kept beside
 * the cache's own file, or a copy where links are impossible (another
 * filesystem).
 *
 * The guard: an output hardlinked into the cache can be edited in place
 * (`cp other-kernel out/NAME-kernel` writes through the link, even over a
 * read-only mode when run as root). So the cache's own file (the "master",
 * what builds read) is never linked anywhere; outputs link to a published
 * copy beside it, whose inode, size and mtime are recorded when it is made
 * and checked before every use. A write in place moves the mtime (cp, dd,
 * editors, `cp -p` sets the source's), so a published copy touched by
 * anyone is replaced by a fresh copy of the master, under a new inode,
 * before it is linked again; the edited file stays with the folder(s) that
 * hold it, and their next build writes them again (their stamp no longer
 * matches). ctime cannot be part of the check: every link and unlink of
 * the inode moves it. The published copy is read-only (0444), so a user
 * without root gets "permission denied" instead of writing through.
 * CORACLE_OUTPUT_LINKS=0 copies instead of linking.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, linkSync, readFileSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { statQuiet } from '../files/stat-quiet.js';

interface StatRecord {
  ino: number;
  size: number;
  mtimeMs: number;
}

const record = (st: StatRecord): StatRecord => ({ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
const same = (a: StatRecord, b: StatRecord): boolean => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Where the published copy of a cache file lives. */
export function publishedPath(master: string): string {
  return join(dirname(master), 'published', basename(master));
}

/** The published copy of `master`, (re)made from it unless the recorded one is untouched. */
export async function publishedCopy(master: string): Promise<string> {
  const pub = publishedPath(master);
  const recFile = `${pub}.stat.json`;
  // synchronous: three small reads on every build that places a kernel
  let rec: { stat: StatRecord; master: StatRecord } | undefined;
  try {
    rec = JSON.parse(readFileSync(recFile, 'utf8')) as { stat: StatRecord; master: StatRecord };
  } catch {
    rec = undefined;
  }
  const st = statQuiet(pub);
  const mst = statSync(master);
  if (rec !== undefined && st !== undefined && same(rec.stat, st) && same(rec.master, mst)) return pub;
  await mkdir(dirname(pub), { recursive: true });
  const tmp = `${pub}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await copyFile(master, tmp, fsc.COPYFILE_FICLONE);
    await chmod(tmp, 0o444);
    // A copy without a matching record is never trusted: a crash between these steps only costs a new copy next time.
    await rename(tmp, pub);
    const made = await stat(pub);
    await writeFile(`${recFile}.tmp-${process.pid}`, JSON.stringify({ stat: record(made), master: record(mst) }));
    await rename(`${recFile}.tmp-${process.pid}`, recFile);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return pub;
}

/** Place `master`'s bytes at `dest` (a new name): a hardlink to its published copy, else a copy (reflinked where the filesystem can). */
export async function placeCached(master: string, dest: string): Promise<void> {
  if (process.env.CORACLE_OUTPUT_LINKS !== '0') {
    try {
      linkSync(await publishedCopy(master), dest);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // another filesystem, or one without hardlinks: copy instead
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP' && code !== 'EACCES') throw e;
    }
  }
  await copyFile(master, dest, fsc.COPYFILE_FICLONE);
}
