/**
 * Build outputs, written all or nothing: every file goes to a temporary name
 * in the output folder first and is renamed into place only when all of them
 * are complete, so a failed build leaves the previous outputs untouched.
 *
 * kernel+initrd (LinuxKit's names): NAME-kernel, NAME-initrd.img,
 * NAME-cmdline, and NAME-vmlinux when the kernel image has an uncompressed
 * kernel (QEMU boots it directly through PVH).
 *
 * A rebuild writes only what changed: an output still holding what it would
 * hold is kept; the kernel and vmlinux are hardlinked from the cache (see
 * place.ts for the guard); an initrd whose leading segments stay the same
 * keeps them and only its tail is rewritten (see replaceTail below).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultMtime, writeInitrd, type BuiltSegment, type InitrdEntry } from '../initrd/index.js';
import { CoracleError } from '../errors.js';
import { appendParts, replaceTail, sharedPrefix, type InitrdPart } from './initrd-file.js';
import { placeCached } from './place.js';
import type { DiskImages } from './disk/index.js';
import { removeDeadTemps } from '../files/leftovers.js';
import { isDiskFormat, type OutputFormat } from './formats.js';
import { statQuiet } from '../files/stat-quiet.js';
export { OUTPUT_FORMATS, DISK_FORMATS, isDiskFormat, type OutputFormat, type DiskFormat } from './formats.js';

export interface OutputSet {
  name: string;
  cmdline: string;
  segments: BuiltSegment[];
  kernel?: string;
  vmlinux?: string;
  /** Padded early-microcode cpio, placed before every segment. */
  ucode?: string;
  /** For `tar`: every entry of the root filesystem, parents first, later ones already merged over earlier. */
  rootfs?: () => Promise<InitrdEntry[]>;
  mtime?: number;
  /**
   * kernel+initrd: a file remembering what each output holds and its stat
   * when written, so an output whose content would not change and that
   * nobody touched since is kept rather than rewritten (a warm rebuild then
   * copies no kernel and concatenates no initrd).
   */
  stampFile?: string;
  /** Disk formats (iso, raw, qcow2, uki ...): where their images and the whole initrd they hold are cached. */
  diskCacheDir?: string;
  /** The kernel image's name, for errors. */
  kernelName?: string;
}

/** Per output path: what it holds (an id of its sources, the initrd's parts) and its stat right after the build. */
type Stamp = Record<string, { id: string; size: number; mtimeMs: number; ctimeMs?: number; ino: number; parts?: InitrdPart[] }>;

async function readStamp(file: string | undefined): Promise<Stamp> {
  if (file === undefined) return {};
  try {
    // the stamp and the stats below are small and many: synchronous calls cost less than thread-pool round trips
    const s = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof s === 'object' && s !== null ? (s as Stamp) : {};
  } catch {
    return {};
  }
}

/** The file at `path` is the one the stamp recorded, untouched since (ctime moves on any write, even one that restores mtime). */
async function untouched(stamp: Stamp, path: string): Promise<boolean> {
  const s = stamp[path];
  if (s === undefined) return false;
  const st = statQuiet(path);
  return st !== undefined && st.isFile() && st.size === s.size && st.mtimeMs === s.mtimeMs && st.ctimeMs === s.ctimeMs && st.ino === s.ino;
}

async function upToDate(stamp: Stamp, path: string, id: string): Promise<boolean> {
  return stamp[path]?.id === id && (await untouched(stamp, path));
}

/**
 * The previous initrd can be kept up to its first changed segment when we
 * wrote it, nobody touched it since, no other name links to it (it is
 * changed in place), the kept part outweighs the rest, and the old tail's
 * segments are still cached (to put it back if the build fails).
 */
async function reusableInitrd(stamp: Stamp, path: string, parts: readonly InitrdPart[]): Promise<{ count: number; bytes: number; old: InitrdPart[] } | undefined> {
  const old = stamp[path]?.parts;
  if (old === undefined || !(await untouched(stamp, path))) return undefined;
  if (statSync(path).nlink !== 1) return undefined;
  const prefix = sharedPrefix(old, parts);
  const rest = parts.slice(prefix.count).reduce((n, p) => n + p.size, 0);
  if (prefix.count === 0 || prefix.bytes < rest) return undefined;
  for (const p of old.slice(prefix.count)) if (statQuiet(p.path)?.size !== p.size) return undefined;
  return { ...prefix, old };
}

async function writeStamp(file: string | undefined, ids: Record<string, string>, parts: Record<string, InitrdPart[]>): Promise<void> {
  if (file === undefined) return;
  const stamp: Stamp = {};
  for (const [path, id] of Object.entries(ids)) {
    const st = statSync(path);
    stamp[path] = { id, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, ...(parts[path] ? { parts: parts[path] } : {}) };
  }
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(stamp));
  renameSync(tmp, file);
}

/** A cached source file's identity: cache files are written whole under new names, never changed in place. */
async function fileId(path: string): Promise<string> {
  const st = statSync(path);
  return JSON.stringify(['file', path, st.size, st.mtimeMs, st.ino]);
}

/** The files a kernel+initrd build of NAME writes, by role. */
export function kernelInitrdPaths(dir: string, name: string): { kernel: string; initrd: string; cmdline: string; vmlinux: string } {
  return {
    kernel: join(dir, `${name}-kernel`),
    initrd: join(dir, `${name}-initrd.img`),
    cmdline: join(dir, `${name}-cmdline`),
    vmlinux: join(dir, `${name}-vmlinux`),
  };
}

/**
 * Stage files under temporary names, then rename them all; on failure
 * remove what was staged, and put back what was adopted.
 */
export class StagedOutputs {
  readonly #staged: Array<{ tmp: string; final: string; restore?: (tmp: string) => Promise<void> }> = [];
  readonly #tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  constructor(readonly dir: string) {}

  #tmp(final: string): string {
    return join(this.dir, `.${final.slice(this.dir.length + 1)}.tmp-${this.#tag}`);
  }

  /** A temporary path for `final`, to be renamed by commit(). */
  path(final: string): string {
    const tmp = this.#tmp(final);
    this.#staged.push({ tmp, final });
    return tmp;
  }

  /**
   * Move the existing `final` to a temporary name to be changed there (the
   * final name never shows a half-changed file); commit() moves it back,
   * abort() runs `restore` on it first.
   */
  async adopt(final: string, restore: (tmp: string) => Promise<void>): Promise<string> {
    const tmp = this.#tmp(final);
    renameSync(final, tmp);
    this.#staged.push({ tmp, final, restore });
    return tmp;
  }

  async commit(): Promise<string[]> {
    // synchronous: a handful of renames, quicker than thread-pool round trips
    for (const s of this.#staged) {
      renameSync(s.tmp, s.final);
      // rename(2) does nothing when both names are links to one file (a
      // concurrent build placed the same published kernel): drop ours.
      rmSync(s.tmp, { force: true });
    }
    return this.#staged.map((s) => s.final);
  }

  async abort(): Promise<void> {
    for (const s of this.#staged) {
      if (s.restore === undefined) {
        await rm(s.tmp, { force: true });
        continue;
      }
      try {
        await s.restore(s.tmp);
        await rename(s.tmp, s.final);
      } catch {
        await rm(s.tmp, { force: true });
      }
    }
  }
}

/** A file-system failure while writing outputs is the user's to fix (a full disk, a folder that is a file, permissions): say so in one line. */
function outputError(dir: string, e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || e instanceof CoracleError || typeof err.code !== 'string' || typeof err.syscall !== 'string') return e;
  const why = err.code === 'EEXIST' || err.code === 'ENOTDIR' ? 'it (or a parent) is not a folder' : err.message;
  return new CoracleError(`cannot write the outputs in ${dir}: ${why}`, { cause: e });
}

/** The initrd as one file (every segment in order), cached by the segments' keys, for the formats that carry it inside an image. */
async function wholeInitrd(segments: BuiltSegment[], cacheDir: string): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(['initrd', ...segments.map((s) => s.key)])).digest('hex');
  const file = join(cacheDir, 'initrd', `${key}.img`);
  if (await stat(file).then((s) => s.isFile(), () => false)) {
    // In use: `coracle cache prune` keeps entries touched within its grace period (only its content is read).
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined);
    return file;
  }
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeInitrd(segments, tmp, { compression: 'none', cacheDir: join(cacheDir, '.unused') });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return file;
}

/**
 * Write every format asked for (one or several), all or nothing: a failure
 * in any of them leaves none of the new files in the folder.
 */
export async function writeOutputs(dir: string, format: OutputFormat | readonly OutputFormat[], set: OutputSet): Promise<string[]> {
  const formats = [...new Set(typeof format === 'string' ? [format] : format)];
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw outputError(dir, e);
  }
  // What a killed earlier build left (hidden .NAME.tmp-PID-* files) goes first.
  await removeDeadTemps(dir);
  const stage = new StagedOutputs(dir);
  const paths = kernelInitrdPaths(dir, set.name);
  try {
    const stamp = await readStamp(set.stampFile);
    const ids: Record<string, string> = {};
    const outputs: string[] = [];
    /** Stage `final` unless the file there already holds `id` (same source, untouched since we wrote it). */
    const output = async (final: string, id: string, write: (tmp: string) => Promise<unknown>): Promise<void> => {
      ids[final] = id;
      outputs.push(final);
      if (!(await upToDate(stamp, final, id))) await write(stage.path(final));
    };
    const ucode: BuiltSegment[] = set.ucode
      ? [{ name: 'ucode', path: set.ucode, key: await fileId(set.ucode), compression: 'none', size: statSync(set.ucode).size, archiveSize: -1, entries: -1, cached: true }]
      : [];
    const segments = [...ucode, ...set.segments];
    const parts: InitrdPart[] = segments.map((s) => ({ key: s.key, path: s.path, size: s.size }));
    let disks: DiskImages | undefined;
    for (const f of formats) {
      if (f === 'tar') {
        if (!set.rootfs) throw new Error('internal: tar output without a root filesystem');
        const final = join(dir, `${set.name}.tar`);
        const { writeRootfsTar } = await import('./tar.js');
        await writeRootfsTar(stage.path(final), {
          entries: await set.rootfs(),
          cmdline: set.cmdline,
          mtime: set.mtime ?? defaultMtime(),
          ...(set.kernel ? { kernel: set.kernel } : {}),
        });
        outputs.push(final);
        continue;
      }
      if (!set.kernel) throw new Error(`internal: ${f} without a kernel`);
      if (f === 'kernel+initrd') {
        await output(paths.kernel, await fileId(set.kernel), (tmp) => placeCached(set.kernel!, tmp));
        if (set.vmlinux) await output(paths.vmlinux, await fileId(set.vmlinux), (tmp) => placeCached(set.vmlinux!, tmp));
        // Segment files are named by their content key: the same keys in the same order are the same bytes.
        const initrdId = JSON.stringify(['initrd', ...parts.map((p) => p.key)]);
        ids[paths.initrd] = initrdId;
        outputs.push(paths.initrd);
        if (!(await upToDate(stamp, paths.initrd, initrdId))) {
          const keep = await reusableInitrd(stamp, paths.initrd, parts);
          if (keep !== undefined) {
            // One changed segment near the end (a `files:` edit): keep the rest of the file, rewrite its tail.
            const tmp = await stage.adopt(paths.initrd, (t) => replaceTail(t, keep, keep.old));
            await replaceTail(tmp, keep, parts);
          } else {
            await appendParts(stage.path(paths.initrd), parts);
          }
        }
        await output(paths.cmdline, JSON.stringify(['cmdline', set.cmdline]), async (tmp) => writeFileSync(tmp, set.cmdline));
        continue;
      }
      if (!isDiskFormat(f)) throw new Error(`internal: unknown format ${f}`);
      if (!set.diskCacheDir) throw new Error(`internal: ${f} without a disk cache`);
      const { DiskImages, diskFileName } = await import('./disk/index.js');
      disks ??= new DiskImages({
        name: set.name,
        kernel: set.kernel,
        initrd: await wholeInitrd(segments, set.diskCacheDir),
        cmdline: set.cmdline,
        mtime: set.mtime ?? defaultMtime(),
        cacheDir: set.diskCacheDir,
        ...(set.kernelName ? { kernelName: set.kernelName } : {}),
      });
      const image = await disks.image(f);
      await output(join(dir, diskFileName(f, set.name)), await fileId(image), (tmp) => copyFile(image, tmp));
    }
    await stage.commit();
    // A stale vmlinux from an earlier build goes only once the new set is in place.
    if (formats.includes('kernel+initrd') && !set.vmlinux) rmSync(paths.vmlinux, { force: true });
    if (set.stampFile) await writeStamp(set.stampFile, ids, { [paths.initrd]: parts });
    return outputs;
  } catch (e) {
    await stage.abort();
    throw outputError(dir, e);
  }
}
