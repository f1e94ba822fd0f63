/**
 * The kernel image's parts, LinuxKit's layout: the boot binary (`kernel`,
 * or `binary:`), the modules tarball (`kernel.tar`, or `tar:`; `none` or ''
 * for none), optional microcode (`ucode:`) and, when the image has it, the
 * uncompressed `vmlinux` QEMU boots directly through PVH. Extracted parts are
 * cached under the kernel image's digest so a rebuild does not unpack it again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { FsTree } from '../initrd/tree.js';
import { removeDeadTemps } from '../files/leftovers.js';
import { readSource, sourceSize } from '../initrd/source.js';
import type { InitrdEntry } from '../initrd/types.js';
import type { KernelSpec } from '../spec/types.js';
import { readTar } from '../tar/index.js';
import type { ResolvedBuildImage } from './images.js';
import { unpackImage, type UnpackSource } from './unpack.js';

export interface KernelParts {
  /** Host paths of the cached parts. */
  kernel: string;
  vmlinux?: string;
  ucode?: string;
  /** Modules tarball (cached file) or undefined for `tar: none`. */
  modulesTar?: string;
  /** Content key of the modules segment. */
  modulesKey?: string;
}

function partNames(k: KernelSpec): { binary: string; tar: string | undefined; ucode: string | undefined } {
  const tar = k.tar === undefined ? 'kernel.tar' : k.tar === '' || k.tar === 'none' ? undefined : k.tar;
  return { binary: k.binary || 'kernel', tar, ucode: k.ucode || undefined };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function fileBytes(tree: FsTree, path: string): Promise<Buffer | undefined> {
  const e = tree.get(path);
  if (e === undefined) return undefined;
  if (e.type === 'hardlink') return fileBytes(tree, e.linkTarget!);
  if (e.type !== 'file') return undefined;
  if (e.data === undefined) return undefined;
  // (large files are left in the layer blob by unpackImage: read them back)
  if (e.data.kind !== 'buffer') return readSource(e.data, await sourceSize(e.data, path));
  return Buffer.from(e.data.data);
}

/** Extract (or find cached) the kernel parts of `image`. */
export async function kernelParts(source: UnpackSource, image: ResolvedBuildImage, spec: KernelSpec, cacheDir: string): Promise<KernelParts> {
  const names = partNames(spec);
  const dir = join(cacheDir, image.descriptor.digest.replace(':', '-'));
  const want = { kernel: join(dir, 'kernel'), vmlinux: join(dir, 'vmlinux'), ucode: join(dir, 'ucode'), tar: join(dir, 'modules.tar'), done: join(dir, 'done.json') };
  const key = JSON.stringify(names);
  const done = await readFile(want.done, 'utf8').catch(() => undefined);
  if (done === undefined || JSON.parse(done).key !== key) {
    const tree = await unpackImage(source, { name: image.reference, manifest: image.manifest, config: image.config });
    const kernel = await fileBytes(tree, names.binary);
    if (kernel === undefined) throw new CoracleError(`kernel image ${image.reference} has no file /${names.binary}`);
    // (a killed build's half-extracted DIGEST.tmp-PID folders go first)
    await removeDeadTemps(cacheDir, /\.tmp-(\d+)$/, { dirs: true });
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'kernel'), kernel);
    const vmlinux = await fileBytes(tree, 'vmlinux');
    if (vmlinux) await writeFile(join(tmp, 'vmlinux'), vmlinux);
    if (names.tar !== undefined) {
      const t = await fileBytes(tree, names.tar);
      if (t === undefined) throw new CoracleError(`kernel image ${image.reference} has no file /${names.tar} (set "tar: none" if it has no modules)`);
      await writeFile(join(tmp, 'modules.tar'), t);
    }
    if (names.ucode !== undefined) {
      const u = await fileBytes(tree, names.ucode);
      if (u === undefined) throw new CoracleError(`kernel image ${image.reference} has no file /${names.ucode}`);
      // Early microcode is an uncompressed cpio that must come first; pad it
      // so the next segment starts on a 512-byte boundary like every other.
      const pad = (512 - (u.length % 512)) % 512;
      await writeFile(join(tmp, 'ucode'), Buffer.concat([u, Buffer.alloc(pad)]));
    }
    await writeFile(join(tmp, 'done.json'), JSON.stringify({ key }));
    // Another build may have extracted the same kernel meanwhile: keep its copy.
    const current = async () => (await readFile(want.done, 'utf8').then((t) => JSON.parse(t).key === key, () => false)) as boolean;
    if (await current()) await rm(tmp, { recursive: true, force: true });
    else {
      await rm(dir, { recursive: true, force: true });
      await mkdir(cacheDir, { recursive: true });
      try {
        await rename(tmp, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await current())) throw e;
        await rm(tmp, { recursive: true, force: true });
      }
    }
  }
  const parts: KernelParts = { kernel: want.kernel };
  if (await exists(want.vmlinux)) parts.vmlinux = want.vmlinux;
  if (await exists(want.ucode)) parts.ucode = want.ucode;
  if (names.tar !== undefined) {
    parts.modulesTar = want.tar;
    parts.modulesKey = createHash('sha256').update(JSON.stringify(['coracle-modules/1', image.descriptor.digest, names.tar])).digest('hex');
  }
  return parts;
}

/** One entry of the modules tarball, its path made clean and relative. */
export interface ModulesTarEntry {
  path: string;
  entry: InitrdEntry;
}

/** The modules tarball's entries (it unpacks at the root: lib/modules/VERSION/...). */
export async function readModulesTar(tarPath: string, what: string): Promise<ModulesTarEntry[]> {
  const out: ModulesTarEntry[] = [];
  const data = await readFile(tarPath);
  for await (const e of readTar(Readable.from([data]), { name: what })) {
    const path = e.path.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '');
    if (path === '' || path === '.') continue;
    if (path.split('/').includes('..')) throw new CoracleError(`${what}: entry "${e.path}" has a ".." component`);
    const meta = { path, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: Math.floor(e.mtime) };
    if (e.type === 'directory') out.push({ path, entry: { ...meta, type: 'dir' } });
    else if (e.type === 'file') out.push({ path, entry: { ...meta, type: 'file', data: { kind: 'buffer', data: await e.buffer() } } });
    else if (e.type === 'symlink') out.push({ path, entry: { ...meta, type: 'symlink', linkTarget: e.linkpath } });
    else if (e.type === 'hardlink') out.push({ path, entry: { ...meta, type: 'hardlink', linkTarget: e.linkpath.replace(/^(\.\/)+/, '').replace(/^\/+/, '') } });
  }
  return out;
}

/** The whole modules tarball as initrd entries. */
export async function modulesEntries(tarPath: string, what: string): Promise<InitrdEntry[]> {
  const tree = new FsTree();
  for (const { entry } of await readModulesTar(tarPath, what)) tree.set(entry);
  return tree.entries();
}
