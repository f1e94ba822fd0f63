/**
 * Find the boot files for `coracle run qemu [NAME|DIR|SPEC]`, named as
 * `coracle build` (and LinuxKit) write them: NAME-kernel, NAME-initrd.img,
 * NAME-cmdline and optionally NAME-vmlinux.
 *   NAME  a prefix path: NAME-kernel ... (relative to the current folder)
 *   DIR   a build output folder holding exactly one NAME-initrd.img
 *   SPEC  a .yml/.yaml system spec: its outputs, NAME = the spec's base name,
 *         looked for beside the spec and in the current folder
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CoracleError } from '../errors.js';
import type { BootFiles } from './args.js';

export interface ResolvedImage extends BootFiles {
  name: string;
  dir: string;
}

/** A built image file (iso, raw, qcow2, vhd, vmdk, uki) to boot as it is. */
export interface ResolvedImageFile {
  name: string;
  dir: string;
  file: string;
}

/** Extensions of the image files `coracle build --format` writes. */
const IMAGE_FILE = /\.(iso|img|raw|qcow2|vhd|vmdk|efi)$/i;

async function fromPrefix(dir: string, name: string): Promise<ResolvedImage | undefined> {
  const p = (s: string) => join(dir, `${name}-${s}`);
  if (!existsSync(p('kernel')) || !existsSync(p('initrd.img'))) return undefined;
  const cmdline = existsSync(p('cmdline')) ? (await readFile(p('cmdline'), 'utf8')).trim() : '';
  return {
    name,
    dir,
    kernel: p('kernel'),
    initrd: p('initrd.img'),
    cmdline,
    vmlinux: existsSync(p('vmlinux')) ? p('vmlinux') : undefined,
  };
}

export async function resolveImage(target: string, cwd = process.cwd()): Promise<ResolvedImage | ResolvedImageFile> {
  const abs = resolve(cwd, target);
  if (IMAGE_FILE.test(target) && existsSync(abs) && statSync(abs).isFile()) {
    return { name: basename(abs).replace(IMAGE_FILE, ''), dir: dirname(abs), file: abs };
  }
  if (existsSync(abs) && statSync(abs).isDirectory()) {
    const names = (await readdir(abs)).filter((e) => e.endsWith('-initrd.img')).map((e) => e.slice(0, -'-initrd.img'.length));
    if (names.length === 0) throw new CoracleError(`${target}: no NAME-initrd.img in this folder (run coracle build first)`);
    if (names.length > 1) throw new CoracleError(`${target}: several images here (${names.join(', ')}); name one as ${target}/NAME`);
    const img = await fromPrefix(abs, names[0]!);
    if (!img) throw new CoracleError(`${target}: ${names[0]}-kernel is missing`);
    return img;
  }
  if (/\.ya?ml$/.test(target)) {
    const name = basename(target).replace(/\.ya?ml$/, '');
    for (const dir of [dirname(abs), cwd]) {
      const img = await fromPrefix(dir, name);
      if (img) return img;
    }
    throw new CoracleError(`${target}: no ${name}-kernel and ${name}-initrd.img beside it or here (run coracle build ${target} first)`);
  }
  const img = await fromPrefix(dirname(abs), basename(abs));
  if (!img) throw new CoracleError(`${target}: no ${target}-kernel and ${target}-initrd.img (run coracle build first)`);
  return img;
}
