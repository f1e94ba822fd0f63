/**
 * Where `coracle kernel check` reads a kernel config from: a config file
 * (plain or gzip, as /proc/config.gz), an image definition folder or
 * `@pkg:` reference (planned, and built when missing), or an image
 * reference (store first, then the registry). An image's config is its
 * /kernel.config, else the one the kernel carries (CONFIG_IKCONFIG).
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CoracleError } from '../errors.js';
import { FsTree } from '../initrd/tree.js';
import { readImage } from '../oci/image.js';
import type { ContentStore } from '../oci/store/content-store.js';
import { ensureImage, type EnsureOptions } from '../oci/transfer/index.js';
import { extractVmlinux } from '../pkg/bzimage.js';
import { buildPackage, planPackage, type PkgOptions } from '../pkg/build.js';
import { DEFINITION_FILE } from '../pkg/definition.js';
import { unpackImage } from '../build/unpack.js';
import { isPkgRef, pkgRefDir } from '../spec/pkg-ref.js';
import { looksLikeKernelConfig } from './config.js';

export interface KernelConfigText {
  text: string;
  /** What it was read from, for the report. */
  source: string;
}

export interface ConfigSourceOptions {
  store: ContentStore;
  pkg?: Omit<PkgOptions, 'store'>;
  ensure?: EnsureOptions;
}

const IKCFG_START = Buffer.from('IKCFG_ST');
const IKCFG_END = Buffer.from('IKCFG_ED');

/** The gzip'd config a kernel built with CONFIG_IKCONFIG embeds between IKCFG_ST and IKCFG_ED. */
export function embeddedConfig(kernel: Buffer): string | undefined {
  const start = kernel.indexOf(IKCFG_START);
  if (start < 0) return undefined;
  const end = kernel.indexOf(IKCFG_END, start);
  if (end < 0) return undefined;
  try {
    return gunzipSync(kernel.subarray(start + IKCFG_START.length, end)).toString('utf8');
  } catch {
    return undefined;
  }
}

function decode(data: Buffer): string {
  return data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data).toString('utf8') : data.toString('utf8');
}

function fileBytes(tree: FsTree, path: string): Buffer | undefined {
  const e = tree.get(path);
  if (e?.type === 'hardlink') return fileBytes(tree, e.linkTarget!);
  return e?.type === 'file' && e.data?.kind === 'buffer' ? Buffer.from(e.data.data) : undefined;
}

async function fromImage(ref: string, opts: ConfigSourceOptions): Promise<KernelConfigText> {
  const ensured = await ensureImage(opts.store, ref, opts.ensure ?? {});
  const img = await readImage(opts.store, ensured.image);
  const tree = await unpackImage(opts.store, { name: ensured.reference, manifest: img.manifest, config: img.config });
  const config = fileBytes(tree, 'kernel.config');
  if (config) return { text: decode(config), source: `${ensured.reference} /kernel.config` };
  const vmlinux = fileBytes(tree, 'vmlinux') ?? (await extractVmlinux(fileBytes(tree, 'kernel') ?? Buffer.alloc(0)).then((v) => v.vmlinux, () => undefined));
  const embedded = vmlinux ? embeddedConfig(vmlinux) : undefined;
  if (embedded) return { text: embedded, source: `${ensured.reference} (config built into the kernel)` };
  throw new CoracleError(`image ${ensured.reference} has no /kernel.config and its kernel carries no config (CONFIG_IKCONFIG)`);
}

/** Read the config named by a CLI argument. */
export async function readKernelConfigArg(arg: string, opts: ConfigSourceOptions): Promise<KernelConfigText> {
  const path = isPkgRef(arg) ? pkgRefDir(arg) : arg;
  const st = await stat(path).catch(() => undefined);
  if (st?.isFile() && !path.endsWith(DEFINITION_FILE)) {
    let text: string;
    try {
      text = decode(await readFile(path));
    } catch (e) {
      throw new CoracleError(`${arg}: cannot read: ${(e as Error).message}`);
    }
    if (!looksLikeKernelConfig(text)) throw new CoracleError(`${arg}: not a kernel config (no CONFIG_ lines)`);
    return { text, source: arg };
  }
  const dir = st?.isFile() ? resolve(path, '..') : path;
  if (isPkgRef(arg) || (st?.isDirectory() && (await stat(join(dir, DEFINITION_FILE)).catch(() => undefined)))) {
    const pkgOpts = { ...opts.pkg, store: opts.store };
    const plan = await planPackage(dir, pkgOpts);
    if (!(await opts.store.getRef(plan.ref))) await buildPackage(dir, pkgOpts);
    return fromImage(plan.ref, opts);
  }
  if (st?.isDirectory()) throw new CoracleError(`${arg}: a folder without ${DEFINITION_FILE}: give a kernel config file, an image definition folder or an image reference`);
  return fromImage(arg, opts);
}
