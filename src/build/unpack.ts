/**
 * Apply an image's layers, in order, to an in-memory FsTree: OCI whiteouts
 * (`.wh.NAME`) and opaque directories (`.wh..wh..opq`) hide what lower layers
 * put there; an entry that would land outside the image — a `..` path, a
 * path through an absolute or escaping symlink, a hardlink to outside — is
 * refused with an error naming the image, the layer and the entry.
 *
 * Memory: file bodies up to SPILL_ABOVE bytes are held; larger ones are
 * only hashed on the way through and read again from the stored blob when
 * the initrd is written (a 'stream' source), so a layer is never held whole.
 * The unpacked size of an image (sum of its file sizes) is capped, by
 * default at 8 GiB (CORACLE_MAX_UNPACKED_SIZE, bytes or with K/M/G): a
 * decompression bomb is refused by its declared sizes before it is read.
 *
 * Device nodes and setuid/setgid files are treated as the `layers` policy
 * says (kept when none is given): kept, dropped (the device left out, the
 * bits cleared) and told to `onDropped`, or refused with an error naming
 * the image, layer and entry.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { FsTree } from '../initrd/tree.js';
import type { DataSource, InitrdEntry } from '../initrd/types.js';
import { openLayerTar } from '../oci/layer.js';
import type { Descriptor, Digest, ImageConfig, ImageManifest } from '../oci/types.js';
import type { LayerPolicy } from '../spec/types.js';
import { readTar, type TarEntry } from '../tar/index.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** Symlinks followed while resolving one path before we call it a loop. */
const MAX_LINKS = 40;
/** File bodies larger than this are not held in memory (re-read from the blob when written). */
export const SPILL_ABOVE = 4 << 20;
export const DEFAULT_MAX_UNPACKED = 8 * 1024 ** 3;

/** A size as bytes, or with a K/M/G/T suffix (powers of 1024). */
export function parseByteSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/** The cap on an image's unpacked size: CORACLE_MAX_UNPACKED_SIZE, else 8 GiB. */
export function maxUnpackedSize(): number {
  const env = process.env.CORACLE_MAX_UNPACKED_SIZE;
  if (env === undefined || env === '') return DEFAULT_MAX_UNPACKED;
  const n = parseByteSize(env);
  if (n === undefined || n <= 0) throw new CoracleError(`CORACLE_MAX_UNPACKED_SIZE=${env}: expected a size in bytes (or with K, M, G)`);
  return n;
}

function humanSize(n: number): string {
  for (const [u, f] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n >= f) return `${+(n / f).toFixed(1)} ${u}`;
  return `${n} bytes`;
}

export interface UnpackSource {
  /** Opens a stored blob, verifying it against its digest. */
  openBlob(digest: Digest): Readable;
}

export interface ImageToUnpack {
  /** Names the image in errors (its reference). */
  name: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** An entry the layer policy changed: a device left out, or a file's setuid/setgid bits cleared. */
export interface DroppedEntry {
  kind: 'device' | 'setuid';
  /** `layer N (sha256:…)` */
  layer: string;
  path: string;
  /** `char 1,1` / `block 8,0`, or the file's mode before (octal, e.g. `4755`). */
  detail: string;
}

export interface UnpackOptions {
  maxUnpackedSize?: number;
  /** Devices and setuid/setgid files: kept (the default here), dropped or refused. */
  layers?: LayerPolicy;
  /** Told about each entry the policy dropped or changed. */
  onDropped?: (d: DroppedEntry) => void;
}

const SETID_BITS = 0o6000;

/**
 * Character devices any process may use anyway, kept whatever the policy:
 * null, zero, full, random, urandom (1,3/5/7/8/9), tty, console, ptmx
 * (5,0/1/2): the set Docker's default device cgroup allows. An init image's
 * /dev/console is what the kernel opens as init's first console.
 */
const HARMLESS_CHAR = new Set(['1,3', '1,5', '1,7', '1,8', '1,9', '5,0', '5,1', '5,2']);

export function isHarmlessDevice(type: 'char' | 'block', major: number, minor: number): boolean {
  return type === 'char' && HARMLESS_CHAR.has(`${major},${minor}`);
}

/** A layer entry after path checks: what it does to the tree. */
type Change =
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; dir: string }
  | { kind: 'entry'; entry: InitrdEntry };

function fail(image: string, layer: string, entry: string, why: string): never {
  throw new CoracleError(`image ${image}: ${layer}: entry "${entry}" ${why}`);
}

/** Split a stored tar path into clean components, refusing any `..` (it could climb out of the image). */
function components(image: string, layer: string, raw: string): string[] {
  const parts: string[] = [];
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') fail(image, layer, raw, 'has a ".." component: it would land outside the image');
    parts.push(c);
  }
  return parts;
}

/**
 * Where a path really lands in the tree: parent components that are
 * symlinks are followed while they stay inside the image (relative targets);
 * an absolute target or one climbing above the root is refused, since the
 * entry would be written somewhere the image does not own.
 */
function resolveParents(tree: FsTree, image: string, layer: string, raw: string, parts: string[]): string[] {
  const out: string[] = [];
  const queue = parts.slice(0, -1);
  let followed = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    const here = [...out, c];
    const e = tree.get(here.join('/'));
    if (e?.type === 'symlink') {
      const target = e.linkTarget ?? '';
      if (++followed > MAX_LINKS) fail(image, layer, raw, 'goes through too many symlinks');
      if (target.startsWith('/'))
        fail(image, layer, raw, `goes through symlink ${here.join('/')} -> ${target}, an absolute link: it would land outside the image`);
      const next = [...out];
      for (const t of target.split('/')) {
        if (t === '' || t === '.') continue;
        if (t === '..') {
          if (next.length === 0)
            fail(image, layer, raw, `goes through symlink ${here.join('/')} -> ${target}, which escapes the image root`);
          next.pop();
        } else next.push(t);
      }
      out.length = 0;
      // re-resolve the link target's own components (they may be links too)
      queue.unshift(...next);
      continue;
    }
    out.push(c);
  }
  return [...out, parts[parts.length - 1]!];
}

function toChange(tree: FsTree, image: string, layer: string, h: TarEntry, data: DataSource | undefined, policy: Policy): Change | undefined {
  const parts = components(image, layer, h.path);
  if (parts.length === 0) return undefined; // the root itself
  const base = parts[parts.length - 1]!;
  const resolved = resolveParents(tree, image, layer, h.path, parts);
  const path = resolved.join('/');
  if (base === OPAQUE) return { kind: 'opaque', dir: resolved.slice(0, -1).join('/') };
  if (base.startsWith(WHITEOUT)) {
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') fail(image, layer, h.path, `is a whiteout of "${name}", which would hide ${name === '..' ? 'the parent' : 'the directory itself'}: refused`);
    if (name.startsWith(WHITEOUT)) fail(image, layer, h.path, `is a reserved whiteout name (".wh..wh." other than ${OPAQUE}): refused`);
    return { kind: 'whiteout', path: [...resolved.slice(0, -1), name].join('/') };
  }
  const meta = { path, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: Math.floor(h.mtime) };
  switch (h.type) {
    case 'directory':
      return { kind: 'entry', entry: { ...meta, type: 'dir' } };
    case 'file': {
      if (meta.mode & SETID_BITS && policy.layers.setuid !== 'keep') {
        const octal = meta.mode.toString(8).padStart(4, '0');
        const bits = [meta.mode & 0o4000 ? 'setuid' : '', meta.mode & 0o2000 ? 'setgid' : ''].filter(Boolean).join(' and ');
        if (policy.layers.setuid === 'refuse') fail(image, layer, h.path, `is ${bits} (mode ${octal}): refused (layers: setuid: refuse)`);
        policy.onDropped?.({ kind: 'setuid', layer, path, detail: octal });
        meta.mode &= ~SETID_BITS;
      }
      return { kind: 'entry', entry: { ...meta, type: 'file', data: data ?? { kind: 'buffer', data: Buffer.alloc(0) } } };
    }
    case 'symlink':
      return { kind: 'entry', entry: { ...meta, type: 'symlink', linkTarget: h.linkpath } };
    case 'hardlink': {
      if (h.linkpath.split('/').includes('..')) fail(image, layer, h.path, `is a hardlink to "${h.linkpath}", which has a ".." component: outside the image`);
      const target = components(image, layer, h.linkpath);
      if (target.length === 0) fail(image, layer, h.path, `is a hardlink to "${h.linkpath}", outside the image`);
      let t: string;
      try {
        t = resolveParents(tree, image, layer, h.linkpath, target).join('/');
      } catch (e) {
        // name the hardlink itself, with why its target is refused
        const why = (e as Error).message.split(`entry "${h.linkpath}" `)[1] ?? (e as Error).message;
        fail(image, layer, h.path, `is a hardlink to "${h.linkpath}", whose path ${why}`);
      }
      return { kind: 'entry', entry: { ...meta, type: 'hardlink', linkTarget: t } };
    }
    case 'char':
    case 'block': {
      const detail = `${h.type} ${h.devmajor},${h.devminor}`;
      if (isHarmlessDevice(h.type, h.devmajor, h.devminor)) return { kind: 'entry', entry: { ...meta, type: h.type, rdev: { major: h.devmajor, minor: h.devminor } } };
      if (policy.layers.devices === 'refuse') fail(image, layer, h.path, `is a ${h.type === 'char' ? 'character' : 'block'} device node (${h.devmajor},${h.devminor}): refused (layers: devices: refuse)`);
      if (policy.layers.devices === 'drop') {
        policy.onDropped?.({ kind: 'device', layer, path, detail });
        return undefined;
      }
      return { kind: 'entry', entry: { ...meta, type: h.type, rdev: { major: h.devmajor, minor: h.devminor } } };
    }
    case 'fifo':
      return { kind: 'entry', entry: { ...meta, type: 'fifo' } };
    default:
      fail(image, layer, h.path, `has tar type "${h.typeflag}", which an image layer cannot hold`);
  }
}

/** The layer policy in force while an image is applied. */
interface Policy {
  layers: LayerPolicy;
  onDropped: ((d: DroppedEntry) => void) | undefined;
}

const KEEP_ALL: LayerPolicy = { devices: 'keep', setuid: 'keep' };

/** What is left of an image's unpacked-size cap. */
interface SizeBudget {
  cap: number;
  used: number;
}

/**
 * The body at `offset` (`size` bytes) of a layer's uncompressed tar, read
 * again from the stored blob: for files too large to hold in memory.
 */
function reReadBody(source: UnpackSource, layer: Descriptor, what: string, offset: number, size: number, digest: string): Readable {
  async function* body(): AsyncGenerator<Buffer> {
    const opened: Readable[] = [];
    const tar = openLayerTar((d) => {
      const r = source.openBlob(d);
      opened.push(r);
      return r;
    }, layer, what);
    let at = 0;
    let left = size;
    const h = createHash('sha256');
    try {
      for await (const c of tar as AsyncIterable<Buffer>) {
        const start = Math.max(0, offset - at);
        at += c.length;
        if (start >= c.length) continue;
        const piece = c.subarray(start, start + left);
        left -= piece.length;
        h.update(piece);
        // the last piece is checked before it is handed over
        if (left === 0 && `sha256:${h.digest('hex')}` !== digest) {
          throw new CoracleError(`${what}: the file at offset ${offset} read again does not match the first pass (${digest}): the stored blob changed`);
        }
        yield piece;
        if (left === 0) return;
      }
      throw new CoracleError(`${what}: the layer ended before the ${size} bytes at ${offset} read on the first pass`);
    } finally {
      tar.destroy();
      for (const r of opened) r.destroy();
    }
  }
  return Readable.from(body(), { objectMode: false });
}

/**
 * Read one layer's entries: small bodies gathered, large ones hashed on the
 * way through and left in the blob (see SPILL_ABOVE); every file's declared
 * size counts against the image's cap before its body is read.
 */
async function readLayer(
  source: UnpackSource,
  layer: Descriptor,
  what: string,
  diffId: Digest | undefined,
  budget: SizeBudget,
): Promise<Array<{ header: TarEntry; data?: DataSource }>> {
  const stream = openLayerTar((d) => source.openBlob(d), layer, what, diffId);
  // readTar stops at the end-of-archive blocks; keep the stream ours (no
  // `return` for it to call) so we can read on to the end, where the digest
  // checks run.
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  const view: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => it.next() }) };
  const out: Array<{ header: TarEntry; data?: DataSource }> = [];
  try {
    for await (const e of readTar(view, { name: what })) {
      if (e.type !== 'file') {
        out.push({ header: e });
        continue;
      }
      budget.used += e.size;
      if (budget.used > budget.cap) {
        throw new CoracleError(
          `${what}: entry "${e.path}" (${humanSize(e.size)}) takes the image's unpacked size past the cap of ${humanSize(budget.cap)} (a decompression bomb? raise CORACLE_MAX_UNPACKED_SIZE if the image is genuine)`,
        );
      }
      if (e.size <= SPILL_ABOVE) {
        out.push({ header: e, data: { kind: 'buffer', data: await e.buffer() } });
        continue;
      }
      const h = createHash('sha256');
      for await (const c of e.body) h.update(c);
      const offset = e.dataOffset;
      const size = e.size;
      const digest = `sha256:${h.digest('hex')}`;
      out.push({ header: e, data: { kind: 'stream', size, digest, open: () => reReadBody(source, layer, what, offset, size, digest) } });
    }
    while (!(await it.next()).done);
  } catch (e) {
    // A corrupt blob usually fails in the decompressor before the digest
    // check at its end can speak: name the image, layer and blob anyway.
    const msg = (e as Error).message;
    if (e instanceof CoracleError && msg.includes(what)) throw e;
    throw new CoracleError(e instanceof CoracleError ? `${what}: ${msg}` : `${what}: cannot read blob ${layer.digest} (${layer.mediaType}): ${msg}`, { cause: e });
  }
  return out;
}

/**
 * Apply one layer. Its whiteouts hide what LOWER layers put there, so they
 * are applied before the layer's own entries, whatever their order in the tar.
 * The entries are then resolved and set one by one, in tar order, so a path
 * through a symlink the same layer created earlier is checked (and followed)
 * like one through a lower layer's symlink.
 */
function applyLayer(tree: FsTree, image: string, layerName: string, items: Array<{ header: TarEntry; data?: DataSource }>, policy: Policy): void {
  const isWhiteout = (h: TarEntry): boolean => (h.path.replace(/\/+$/, '').split('/').pop() ?? '').startsWith(WHITEOUT);
  for (const it of items) {
    if (!isWhiteout(it.header)) continue;
    const c = toChange(tree, image, layerName, it.header, it.data, policy);
    if (c?.kind === 'opaque') {
      if (c.dir === '') {
        for (const e of tree.entries()) if (!e.path.includes('/')) tree.delete(e.path);
      } else if (tree.get(c.dir)?.type === 'dir') tree.clearDir(c.dir);
    } else if (c?.kind === 'whiteout') tree.delete(c.path);
  }
  for (const it of items) {
    if (isWhiteout(it.header)) continue;
    const c = toChange(tree, image, layerName, it.header, it.data, policy);
    if (c?.kind !== 'entry') continue;
    try {
      tree.set(c.entry);
    } catch (e) {
      if (e instanceof CoracleError) throw new CoracleError(`image ${image}: ${layerName}: ${e.message}`);
      throw e;
    }
  }
}

/** Every layer of an image applied in order, each verified against its digest and diff_id. */
export async function unpackImage(source: UnpackSource, image: ImageToUnpack, opts: UnpackOptions = {}): Promise<FsTree> {
  const tree = new FsTree();
  const policy: Policy = { layers: opts.layers ?? KEEP_ALL, onDropped: opts.onDropped };
  const budget: SizeBudget = { cap: opts.maxUnpackedSize ?? maxUnpackedSize(), used: 0 };
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  for (const [i, layer] of image.manifest.layers.entries()) {
    const layerName = `layer ${i + 1} (${layer.digest.slice(0, 19)})`;
    const items = await readLayer(source, layer, `image ${image.name}: ${layerName}`, diffIds[i], budget);
    applyLayer(tree, image.name, layerName, items, policy);
  }
  return tree;
}
