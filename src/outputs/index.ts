/**
 * Build outputs, written all or nothing: every file goes to a temporary name
 * in the output folder first and is renamed into place only when all of them
 * are complete, so a failed build leaves the previous outputs untouched.
 *
 * kernel+initrd (LinuxKit's names): NAME-kernel, NAME-initrd.img,
 * NAME-cmdline, and NAME-vmlinux when the kernel image has an uncompressed
 * kernel (QEMU boots it directly through PVH).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultMtime, writeInitrd, type BuiltSegment, type InitrdEntry } from '../initrd/index.js';
import { writeRootfsTar } from './tar.js';

export type OutputFormat = 'kernel+initrd' | 'tar';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['kernel+initrd', 'tar'];

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

/** Stage files under temporary names, then rename them all; on failure remove what was staged. */
export class StagedOutputs {
  readonly #staged: Array<{ tmp: string; final: string }> = [];
  readonly #tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  constructor(readonly dir: string) {}

  /** A temporary path for `final`, to be renamed by commit(). */
  path(final: string): string {
    const base = final.slice(this.dir.length + 1);
    const tmp = join(this.dir, `.${base}.tmp-${this.#tag}`);
    this.#staged.push({ tmp, final });
    return tmp;
  }

  async commit(): Promise<string[]> {
    for (const s of this.#staged) await rename(s.tmp, s.final);
    return this.#staged.map((s) => s.final);
  }

  async abort(): Promise<void> {
    for (const s of this.#staged) await rm(s.tmp, { force: true });
  }
}

export async function writeOutputs(dir: string, format: OutputFormat, set: OutputSet): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stage = new StagedOutputs(dir);
  const paths = kernelInitrdPaths(dir, set.name);
  try {
    if (format === 'tar') {
      if (!set.rootfs) throw new Error('internal: tar output without a root filesystem');
      await writeRootfsTar(stage.path(join(dir, `${set.name}.tar`)), {
        entries: await set.rootfs(),
        cmdline: set.cmdline,
        mtime: set.mtime ?? defaultMtime(),
        ...(set.kernel ? { kernel: set.kernel } : {}),
      });
      return await stage.commit();
    }
    if (!set.kernel) throw new Error('internal: kernel+initrd without a kernel');
    await copyFile(set.kernel, stage.path(paths.kernel));
    if (set.vmlinux) await copyFile(set.vmlinux, stage.path(paths.vmlinux));
    const ucode: BuiltSegment[] = set.ucode
      ? [{ name: 'ucode', path: set.ucode, key: 'ucode', compression: 'none', size: (await stat(set.ucode)).size, archiveSize: -1, entries: -1, cached: true }]
      : [];
    await writeInitrd([...ucode, ...set.segments], stage.path(paths.initrd), { compression: 'none', cacheDir: join(dir, '.unused') });
    await writeFile(stage.path(paths.cmdline), set.cmdline);
    const written = await stage.commit();
    // A stale vmlinux from an earlier build goes only once the new set is in place.
    if (!set.vmlinux) await rm(paths.vmlinux, { force: true });
    return written;
  } catch (e) {
    await stage.abort();
    throw e;
  }
}
