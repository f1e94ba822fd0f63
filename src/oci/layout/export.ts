import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { finished } from 'node:stream/promises';
import { CoracleError } from '../../errors.js';
import type { Reporter } from '../../progress/reporter.js';
import { TarWriter } from '../../tar/index.js';
import { parseDigest } from '../digest.js';
import { readImage, readJsonBlob, resolveRef } from '../image.js';
import { hostPlatform } from '../platform.js';
import { canonicalReference, familiarReference, parseReference } from '../ref.js';
import type { LayoutStore } from '../store/layout-store.js';
import {
  INDEX_MEDIA_TYPES,
  IMAGE_MANIFEST_MEDIA_TYPES,
  MediaType,
  REF_NAME_ANNOTATION,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../types.js';
import { CONTAINERD_NAME_ANNOTATION } from './import.js';

export interface ExportOptions {
  /** 'tar' (an oci-archive) or 'dir'; default: tar when `dest` ends in .tar. */
  format?: 'dir' | 'tar';
  /** Platform kept when a stored index lacks other platforms' manifests (default: host). */
  platform?: Platform;
  reporter?: Reporter;
}

export interface ExportedImage {
  /** Full reference in our store (undefined when exported by digest). */
  name?: string;
  /** The `org.opencontainers.image.ref.name` written: what `skopeo ... oci:DEST:<refName>` addresses. */
  refName?: string;
  descriptor: Descriptor;
}

export interface ExportResult {
  format: 'dir' | 'tar';
  images: ExportedImage[];
  blobs: number;
  bytes: number;
}

interface Blob {
  digest: string;
  size: number;
}

/** Every blob under a manifest or index; undefined when an index lacks some (partial pull). */
async function collect(store: LayoutStore, d: Descriptor, what: string, out: Map<string, Blob>): Promise<boolean> {
  if (!(await store.hasBlob(d.digest))) return false;
  if (INDEX_MEDIA_TYPES.includes(d.mediaType)) {
    const idx = await readJsonBlob<ImageIndex>(store, d, what);
    for (const child of idx.manifests ?? []) if (!(await collect(store, child, what, out))) return false;
  } else if (IMAGE_MANIFEST_MEDIA_TYPES.includes(d.mediaType)) {
    const m = await readJsonBlob<ImageManifest>(store, d, what);
    for (const b of [m.config, ...(m.layers ?? [])]) {
      if (!(await store.hasBlob(b.digest))) {
        if (b.urls?.length) continue; // foreign layer: not ours to carry
        throw new CoracleError(`${what}: blob ${b.digest} is missing from the store ${store.root}`);
      }
      out.set(b.digest, { digest: b.digest, size: b.size });
    }
  }
  out.set(d.digest, { digest: d.digest, size: d.size });
  return true;
}

/**
 * The ref names written into index.json. skopeo and umoci address an image
 * in a layout by this annotation alone (`oci:DIR:latest`), so it holds the
 * tag; when two exported images share a tag, their familiar names
 * (`alpine:3.20`) are used instead. The full reference goes into
 * `io.containerd.image.name`, which `coracle cache import` (and containerd)
 * read back.
 */
function refNames(names: Array<string | undefined>): Array<string | undefined> {
  const tags = names.map((n) => (n === undefined ? undefined : parseReference(n).tag));
  return names.map((n, i) => {
    if (n === undefined) return undefined;
    const tag = tags[i];
    const clash = tag === undefined || tags.filter((t) => t === tag).length > 1;
    return clash ? familiarReference(parseReference(n)) : tag;
  });
}

function tempSibling(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.coracle-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function assertFree(dest: string, format: 'dir' | 'tar'): Promise<void> {
  try {
    const st = await stat(dest);
    if (format === 'dir' && st.isDirectory() && (await readdir(dest)).length === 0) return;
    throw new CoracleError(`${dest} already exists; remove it or choose another destination`);
  } catch (e) {
    if (e instanceof CoracleError) throw e;
  }
}

/**
 * Export refs (or digests) from the store as an OCI image layout: a folder,
 * or a tar of one (skopeo's `oci-archive:`). Blobs are verified while
 * copied; the output appears whole (temporary name, then rename).
 */
export async function exportImages(store: LayoutStore, refs: string[], dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  if (refs.length === 0) throw new CoracleError('nothing to export: give at least one image reference');
  const format = opts.format ?? (dest.endsWith('.tar') ? 'tar' : 'dir');
  await assertFree(dest, format);

  const blobs = new Map<string, Blob>();
  const chosen: Array<{ name?: string; descriptor: Descriptor }> = [];
  for (const ref of refs) {
    const byDigest = /^[a-z0-9]+:[a-f0-9]+$/.test(ref);
    const name = byDigest ? undefined : canonicalReference(ref);
    let d = await resolveRef(store, ref);
    const what = name ?? ref;
    const mine = new Map<string, Blob>();
    if (!(await collect(store, d, what, mine))) {
      // A pull keeps the index but only this platform's image: export that image.
      const p = opts.platform ?? hostPlatform();
      const img = await readImage(store, d, p);
      opts.reporter?.warn(`${what}: the store has only some platforms of this index; exporting the ${p.os}/${p.architecture} image`);
      d = { ...img.descriptor, platform: { os: img.config.os, architecture: img.config.architecture, ...(img.config.variant ? { variant: img.config.variant } : {}) } };
      mine.clear();
      if (!(await collect(store, d, what, mine))) throw new CoracleError(`${what}: manifest ${d.digest} is missing from the store`);
    }
    for (const [k, v] of mine) blobs.set(k, v);
    const { annotations, ...rest } = d;
    const keep = { ...(annotations ?? {}) };
    delete keep[REF_NAME_ANNOTATION];
    chosen.push({ ...(name ? { name } : {}), descriptor: { ...rest, ...(Object.keys(keep).length ? { annotations: keep } : {}) } });
  }

  const names = refNames(chosen.map((c) => c.name));
  const images: ExportedImage[] = chosen.map((c, i) => {
    const ann: Record<string, string> = { ...(c.descriptor.annotations ?? {}) };
    if (c.name) ann[CONTAINERD_NAME_ANNOTATION] = c.name;
    if (names[i]) ann[REF_NAME_ANNOTATION] = names[i]!;
    const descriptor: Descriptor = { ...c.descriptor, ...(Object.keys(ann).length ? { annotations: ann } : {}) };
    return { ...(c.name ? { name: c.name } : {}), ...(names[i] ? { refName: names[i] } : {}), descriptor };
  });
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: images.map((im) => im.descriptor) };
  const indexText = `${JSON.stringify(index)}\n`;
  const layoutText = `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;
  const sorted = [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const bytes = sorted.reduce((n, b) => n + b.size, 0);
  const task = opts.reporter?.task(`export to ${dest}`, bytes);

  const tmp = tempSibling(dest);
  let out: ReturnType<typeof createWriteStream> | undefined;
  try {
    if (format === 'dir') {
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, 'oci-layout'), layoutText);
      await writeFile(join(tmp, 'index.json'), indexText);
      for (const b of sorted) {
        const { algorithm, hex } = parseDigest(b.digest);
        await mkdir(join(tmp, 'blobs', algorithm), { recursive: true });
        await pipeline(store.openBlob(b.digest), createWriteStream(join(tmp, 'blobs', algorithm, hex)));
        task?.advance(b.size);
      }
      await rmdir(dest).catch(() => undefined); // an empty folder given as destination
      await rename(tmp, dest);
    } else {
      out = createWriteStream(tmp, { flags: 'wx' });
      const w = new TarWriter(out);
      // Fixed ownership and times: the same images give the same archive bytes.
      const meta = { uid: 0, gid: 0, mtime: 0 };
      await w.addFile({ path: 'oci-layout', ...meta }, layoutText);
      await w.addFile({ path: 'index.json', ...meta }, indexText);
      await w.addDirectory({ path: 'blobs', ...meta });
      const algs = [...new Set(sorted.map((b) => parseDigest(b.digest).algorithm))].sort();
      for (const alg of algs) {
        await w.addDirectory({ path: `blobs/${alg}`, ...meta });
        for (const b of sorted.filter((x) => parseDigest(x.digest).algorithm === alg)) {
          await w.addFile({ path: `blobs/${alg}/${parseDigest(b.digest).hex}`, size: b.size, ...meta }, store.openBlob(b.digest));
          task?.advance(b.size);
        }
      }
      await w.finish();
      await finished(out);
      await rename(tmp, dest);
    }
  } catch (e) {
    task?.fail();
    out?.on('error', () => undefined);
    out?.destroy();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  task?.done();
  return { format, images, blobs: sorted.length, bytes };
}
