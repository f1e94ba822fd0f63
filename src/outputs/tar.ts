/**
 * The `tar` output: the whole root filesystem the initrd would unpack, as
 * one tar (LinuxKit's `tar` format), with the kernel and its command line
 * under boot/. Useful for inspecting a build or feeding other tools.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { DataSource, InitrdEntry } from '../initrd/types.js';
import { TarWriter, type TarBodySource } from '../tar/index.js';

async function body(d: DataSource | undefined): Promise<{ data: TarBodySource; size: number }> {
  if (d === undefined) return { data: Buffer.alloc(0), size: 0 };
  if (d.kind === 'buffer') return { data: d.data, size: d.data.length };
  if (d.kind === 'file') {
    if (d.offset === undefined && d.size === undefined) {
      const b = await readFile(d.path);
      return { data: b, size: b.length };
    }
    const start = d.offset ?? 0;
    const size = d.size!;
    return { data: createReadStream(d.path, { start, end: start + size - 1 }), size };
  }
  return { data: (await d.open()) as AsyncIterable<Uint8Array>, size: d.size };
}

export interface TarOutputInput {
  entries: readonly InitrdEntry[];
  kernel?: string;
  cmdline: string;
  mtime: number;
}

/** Write the tar to `path` (the caller stages and renames it). */
export async function writeRootfsTar(path: string, input: TarOutputInput): Promise<void> {
  const out = createWriteStream(path);
  const w = new TarWriter(out);
  const mtime = input.mtime;
  if (input.kernel) {
    await w.addDirectory({ path: 'boot', mode: 0o755, mtime });
    const k = await readFile(input.kernel);
    await w.addFile({ path: 'boot/kernel', mode: 0o644, mtime, size: k.length }, k);
    await w.addFile({ path: 'boot/cmdline', mode: 0o644, mtime }, input.cmdline);
  }
  for (const e of input.entries) {
    const h = { path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime ?? mtime };
    switch (e.type) {
      case 'dir':
        await w.addDirectory(h);
        break;
      case 'file': {
        const b = await body(e.data);
        await w.addFile({ ...h, size: b.size }, b.data);
        break;
      }
      case 'symlink':
        await w.addSymlink({ ...h, linkpath: e.linkTarget ?? '' });
        break;
      case 'hardlink':
        await w.addHardlink({ ...h, linkpath: e.linkTarget ?? '' });
        break;
      case 'char':
      case 'block':
        await w.addDevice({ ...h, type: e.type, devmajor: e.rdev?.major ?? 0, devminor: e.rdev?.minor ?? 0 });
        break;
      case 'fifo':
        await w.addFifo(h);
        break;
    }
  }
  await w.finish();
  await finished(out);
}
