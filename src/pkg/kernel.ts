import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CoracleError } from '../errors.js';
import { extractVmlinux, type KernelCompression } from './bzimage.js';
import { walk } from './stage.js';
import { writeTreeTar } from './tree-tar.js';

export interface KernelLayout {
  version: string;
  compression: KernelCompression;
  pvhEntry: number;
  /** Module folders left out. */
  dropped: string[];
  /** Modules compressed (0 when compression is off). */
  compressed: number;
}

export interface KernelLayoutOptions {
  /** Module folders (under lib/modules/VER/kernel/) left out. */
  dropModules?: string[];
  /**
   * Compress every module file (`xz`: NAME.ko.xz, the form both busybox's
   * and kmod's modprobe read). Modules are most of a kernel image and every
   * byte of the initrd is unpacked at each boot; compressed, only the
   * modules loaded pay for it.
   */
  compressModules?: 'xz';
}

/** xz options as the kernel's own module compression uses them (CRC32, 1 MiB dictionary: little memory to unpack). */
const XZ_ARGS = ['--check=crc32', '--lzma2=dict=1MiB', '--threads=1', '--quiet'];

/**
 * Turn an unpacked Debian kernel package into LinuxKit's kernel image
 * layout: /kernel (the bzImage), /kernel.tar (lib/modules/VER with the
 * depmod files), /vmlinux (the uncompressed ELF, for QEMU's PVH boot), and
 * /kernel.config for reference. Everything else is dropped.
 */
export async function layoutKernel(root: string, mtime: number, opts: KernelLayoutOptions = {}): Promise<KernelLayout> {
  const boot = join(root, 'boot');
  const names = await readdir(boot).catch(() => [] as string[]);
  const vmlinuz = names.filter((n) => n.startsWith('vmlinuz-'));
  if (vmlinuz.length !== 1) throw new CoracleError(`kernel: expected one boot/vmlinuz-* in the unpacked packages, found ${vmlinuz.length}`);
  const version = vmlinuz[0]!.slice('vmlinuz-'.length);
  const modules = join(root, 'lib', 'modules', version);
  if (!(await stat(modules).then((s) => s.isDirectory(), () => false))) throw new CoracleError(`kernel: lib/modules/${version} missing`);
  const bz = await readFile(join(boot, vmlinuz[0]!));
  let vm;
  try {
    vm = await extractVmlinux(bz);
  } catch (e) {
    throw new CoracleError(`kernel: cannot extract vmlinux from boot/${vmlinuz[0]}: ${(e as Error).message}`);
  }

  const dropped: string[] = [];
  for (const d of opts.dropModules ?? []) {
    const p = join(modules, 'kernel', d);
    if (await stat(p).then(() => true, () => false)) {
      await rm(p, { recursive: true, force: true });
      dropped.push(d);
    }
  }
  // A kernel with everything built in (images/kernel-lean) has no kernel/ tree to compress.
  const moduleTree = join(modules, 'kernel');
  const hasModuleTree = await stat(moduleTree).then((s) => s.isDirectory(), () => false);
  const compressed = opts.compressModules && hasModuleTree ? await compressModules(moduleTree) : 0;
  // depmod writes modules.dep, modules.alias, ... (and their .bin forms) for modprobe.
  const r = await execa('depmod', ['-b', root, version], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new CoracleError(`kernel: depmod failed: ${r.stderr.trim()}`);

  const staging = join(root, '..', 'kernel-out');
  await mkdir(staging, { recursive: true });
  const modRoot = join(root, 'lib');
  const tarOut = createWriteStream(join(staging, 'kernel.tar'));
  // The tar writer waits on 'drain' with one-shot listeners per wait.
  tarOut.setMaxListeners(0);
  const done = new Promise<void>((res, rej) => {
    tarOut.on('close', res);
    tarOut.on('error', rej);
  });
  await writeTreeTar(modRoot, tarOut, { mtime, prefix: 'lib/' });
  await done;
  await writeFile(join(staging, 'kernel'), bz);
  await writeFile(join(staging, 'vmlinux'), vm.vmlinux);
  const config = names.find((n) => n.startsWith('config-'));
  if (config) await rename(join(boot, config), join(staging, 'kernel.config'));

  for (const e of await readdir(root)) await rm(join(root, e), { recursive: true, force: true });
  for (const e of await readdir(staging)) await rename(join(staging, e), join(root, e));
  await rm(staging, { recursive: true, force: true });
  return { version, compression: vm.compression, pvhEntry: vm.pvhEntry, dropped, compressed };
}

/** xz every *.ko under dir in place (same bytes for the same input: no timestamps in the xz format). */
async function compressModules(dir: string): Promise<number> {
  // walk() gives sorted paths: the batches, hence the work, are the same on every host.
  const files = (await walk(dir)).filter((p) => p.endsWith('.ko')).map((p) => join(dir, p));
  // Two xz processes at a time, a few hundred files each: the per-process cost stays small.
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += 200) batches.push(files.slice(i, i + 200));
  const run = async (): Promise<void> => {
    for (let b = batches.shift(); b; b = batches.shift()) {
      const r = await execa('xz', [...XZ_ARGS, '--', ...b], { reject: false, stdin: 'ignore' });
      if (r.exitCode !== 0) throw new CoracleError(`kernel: xz failed on modules: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    }
  };
  await Promise.all([run(), run()]);
  return files.length;
}
