import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { CoracleError } from '../../errors.js';
import type { Reporter } from '../../progress/reporter.js';
import { isDigest, parseDigest, sha256Digest, verifyBytes } from '../digest.js';
import { writeJsonBlob } from '../image.js';
import { canonicalReference, formatReference, parseReference } from '../ref.js';
import type { LayoutStore } from '../store/layout-store.js';
import {
  INDEX_MEDIA_TYPES,
  IMAGE_MANIFEST_MEDIA_TYPES,
  MediaType,
  REF_NAME_ANNOTATION,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Manifest,
} from '../types.js';
import { openArchive, type ArchiveSource } from './source.js';

/** Annotation containerd and docker (25+) put the full image name in. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

export interface ImportOptions {
  /**
   * Repository (or full reference) for images the archive names only by a
   * tag (`latest`, as skopeo and umoci write them) or not at all.
   */
  name?: string;
  reporter?: Reporter;
}

export interface ImportedImage {
  /** Full canonical reference set in the store. */
  name: string;
  descriptor: Descriptor;
}

export interface ImportResult {
  format: 'oci-layout' | 'docker-archive';
  images: ImportedImage[];
  /** Blobs copied into the store (already present ones not counted). */
  blobsWritten: number;
  bytesWritten: number;
}

/** What a layout entry is called: full reference from its annotations, or a bare tag. */
function entryName(d: Descriptor, opts: ImportOptions, where: string): string | undefined {
  const full = d.annotations?.[CONTAINERD_NAME_ANNOTATION];
  if (full) return canonicalReference(full);
  const refName = d.annotations?.[REF_NAME_ANNOTATION];
  if (refName && /[/:@]/.test(refName)) {
    try {
      return canonicalReference(refName);
    } catch (e) {
      throw new CoracleError(`${where}: ref name "${refName}" in index.json: ${(e as Error).message}`);
    }
  }
  if (!opts.name) return undefined;
  const base = parseReference(opts.name);
  if (refName) return formatReference({ registry: base.registry, repository: base.repository, tag: refName });
  return canonicalReference(opts.name);
}

class Importer {
  blobsWritten = 0;
  bytesWritten = 0;

  constructor(
    private readonly store: LayoutStore,
    private readonly src: ArchiveSource,
    private readonly reporter?: Reporter,
    private readonly onBytes?: (n: number) => void,
  ) {}

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest, this.src.label);
    return `blobs/${algorithm}/${hex}`;
  }

  /** Copy one blob from the archive, verified against its descriptor. */
  async copyBlob(d: Descriptor, what: string): Promise<void> {
    if ((await this.store.blobSize(d.digest)) === d.size) return;
    const path = this.blobPath(d.digest);
    if (!(await this.src.exists(path))) throw new CoracleError(`${this.src.label}: ${what} ${d.digest} is missing from the archive`);
    await this.store.writeBlob(this.src.open(path), {
      expected: { digest: d.digest, size: d.size },
      mediaType: d.mediaType,
      what: `${this.src.label}: ${what}`,
      ...(this.onBytes ? { onBytes: this.onBytes } : {}),
    });
    this.blobsWritten++;
    this.bytesWritten += d.size;
  }

  /** Copy a manifest or index and everything it references, children first. */
  async copyTree(d: Descriptor, what: string, depth = 0): Promise<void> {
    if (depth > 8) throw new CoracleError(`${this.src.label}: ${what}: indexes nested too deeply`);
    parseDigest(d.digest, `${this.src.label}: ${what}`);
    const isIndex = INDEX_MEDIA_TYPES.includes(d.mediaType);
    const isManifest = IMAGE_MANIFEST_MEDIA_TYPES.includes(d.mediaType);
    if (!isIndex && !isManifest) {
      await this.copyBlob(d, what);
      return;
    }
    const path = this.blobPath(d.digest);
    if (!(await this.src.exists(path))) throw new CoracleError(`${this.src.label}: ${what} ${d.digest} is missing from the archive`);
    const bytes = await this.src.readFile(path);
    verifyBytes(bytes, d, `${this.src.label}: ${what}`);
    let doc: Manifest;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as Manifest;
    } catch {
      throw new CoracleError(`${this.src.label}: ${what} ${d.digest} is not valid JSON`);
    }
    if (isIndex) {
      const idx = doc as ImageIndex;
      if (!Array.isArray(idx.manifests)) throw new CoracleError(`${this.src.label}: ${what} ${d.digest} has no manifests list`);
      for (const [i, child] of idx.manifests.entries()) {
        const childWhat = `${what}, manifest ${i + 1}`;
        // Layouts saved for one platform may list others they do not carry.
        if (!(await this.src.exists(this.blobPath(child.digest))) && !(await this.store.hasBlob(child.digest))) {
          this.reporter?.warn(`${this.src.label}: ${childWhat} (${child.digest}) is not in the archive; skipped`);
          continue;
        }
        await this.copyTree(child, childWhat, depth + 1);
      }
    } else {
      const m = doc as ImageManifest;
      if (!m.config || !Array.isArray(m.layers)) throw new CoracleError(`${this.src.label}: ${what} ${d.digest} lacks config or layers`);
      await this.copyBlob(m.config, `${what}: config`);
      for (const [i, layer] of m.layers.entries()) {
        const lw = `${what}: layer ${i + 1}`;
        if (layer.urls?.length && !(await this.src.exists(this.blobPath(layer.digest)))) continue; // foreign layer
        await this.copyBlob(layer, lw);
      }
    }
    if (!(await this.store.hasBlob(d.digest))) {
      await this.store.writeBlob(bytes, { expected: { digest: d.digest, size: d.size }, mediaType: d.mediaType, what: `${this.src.label}: ${what}` });
      this.blobsWritten++;
      this.bytesWritten += bytes.length;
    }
  }
}

async function importOciLayout(store: LayoutStore, src: ArchiveSource, opts: ImportOptions, onBytes?: (n: number) => void): Promise<ImportResult> {
  const layout = await src.readFile('oci-layout');
  let version: unknown;
  try {
    version = (JSON.parse(layout.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new CoracleError(`${src.label}: oci-layout is not valid JSON`);
  }
  if (typeof version !== 'string' || !version.startsWith('1.'))
    throw new CoracleError(`${src.label}: unsupported OCI layout version ${JSON.stringify(version)}`);
  let index: ImageIndex;
  try {
    index = JSON.parse((await src.readFile('index.json')).toString('utf8')) as ImageIndex;
  } catch (e) {
    throw new CoracleError(`${src.label}: index.json: ${e instanceof CoracleError ? e.message : 'not valid JSON'}`);
  }
  if (!Array.isArray(index.manifests)) throw new CoracleError(`${src.label}: index.json has no manifests list`);
  if (index.manifests.length === 0) throw new CoracleError(`${src.label}: index.json lists no images`);

  // Names first: fail before copying anything when an image cannot be named.
  const named = index.manifests.map((d, i) => ({ d, i, name: entryName(d, opts, src.label) }));
  const unnamed = named.filter((n) => n.name === undefined);
  if (unnamed.length > 0) {
    const tag = unnamed[0]!.d.annotations?.[REF_NAME_ANNOTATION];
    const why = tag ? `is named only by the tag "${tag}"` : 'has no name';
    throw new CoracleError(
      `${src.label}: image ${unnamed[0]!.d.digest} ${why}; give a repository with --name (e.g. --name localhost/myimage)`,
    );
  }
  const unnamedEntries = index.manifests.filter((d) => !d.annotations?.[REF_NAME_ANNOTATION] && !d.annotations?.[CONTAINERD_NAME_ANNOTATION]);
  if (unnamedEntries.length > 1) throw new CoracleError(`${src.label}: ${unnamedEntries.length} images have no name; --name can name only one`);

  const imp = new Importer(store, src, opts.reporter, onBytes);
  const images: ImportedImage[] = [];
  for (const { d, i, name } of named) {
    const desc: Descriptor = { ...d, mediaType: d.mediaType ?? MediaType.OciManifest };
    await imp.copyTree(desc, `image ${i + 1} (${name})`);
    const { annotations, ...rest } = desc;
    const keep = { ...(annotations ?? {}) };
    delete keep[REF_NAME_ANNOTATION];
    delete keep[CONTAINERD_NAME_ANNOTATION];
    images.push({ name: name!, descriptor: { ...rest, ...(Object.keys(keep).length ? { annotations: keep } : {}) } });
  }
  await store.setRefs(images.map((im) => ({ name: im.name, descriptor: im.descriptor })));
  return { format: 'oci-layout', images, blobsWritten: imp.blobsWritten, bytesWritten: imp.bytesWritten };
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** sha256 of a stream's bytes, and of its gunzipped bytes when it is gzip. */
async function hashLayer(src: ArchiveSource, path: string, gzip: boolean): Promise<{ digest: string; diffId: string; size: number }> {
  const outer = createHash('sha256');
  const inner = createHash('sha256');
  let size = 0;
  const counter = new Writable({
    write(chunk: Buffer, _e, cb) {
      inner.update(chunk);
      cb();
    },
  });
  const input = src.open(path);
  input.on('data', (c: Buffer) => {
    outer.update(c);
    size += c.length;
  });
  if (gzip) await pipeline(input, createGunzip(), counter);
  else await pipeline(input, counter);
  const digest = `sha256:${outer.digest('hex')}`;
  return { digest, diffId: `sha256:${inner.digest('hex')}`, size };
}

/** The digest a docker-archive path implies: `<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`, `<hex>/layer.tar`. */
function digestFromPath(path: string): string | undefined {
  const m = /(?:^|\/)([a-f0-9]{64})(?:\.json|\.tar)?$/.exec(path);
  return m ? `sha256:${m[1]}` : undefined;
}

async function importDockerArchive(store: LayoutStore, src: ArchiveSource, opts: ImportOptions, onBytes?: (n: number) => void): Promise<ImportResult> {
  let entries: DockerManifestEntry[];
  try {
    entries = JSON.parse((await src.readFile('manifest.json')).toString('utf8')) as DockerManifestEntry[];
  } catch (e) {
    throw new CoracleError(`${src.label}: manifest.json: ${e instanceof CoracleError ? e.message : 'not valid JSON'}`);
  }
  if (!Array.isArray(entries) || entries.length === 0) throw new CoracleError(`${src.label}: manifest.json lists no images`);

  const plans = entries.map((e, i) => {
    const where = `${src.label}: manifest.json image ${i + 1}`;
    if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string'))
      throw new CoracleError(`${where}: needs "Config" and "Layers"`);
    const tags = (e.RepoTags ?? []).map((t) => {
      try {
        return canonicalReference(t);
      } catch (err) {
        throw new CoracleError(`${where}: RepoTags: ${(err as Error).message}`);
      }
    });
    if (tags.length === 0) {
      if (!opts.name) throw new CoracleError(`${where} has no RepoTags; give it a name with --name (e.g. --name localhost/myimage)`);
      tags.push(canonicalReference(opts.name));
    }
    return { e, i, where, tags };
  });

  let blobsWritten = 0;
  let bytesWritten = 0;
  const images: ImportedImage[] = [];
  for (const { e, where, tags } of plans) {
    const configBytes = await src.readFile(e.Config);
    const configDigest = sha256Digest(configBytes);
    const implied = digestFromPath(e.Config);
    if (implied && implied !== configDigest)
      throw new CoracleError(`${where}: config ${e.Config}: digest mismatch: expected ${implied}, got ${configDigest}`);
    let config: ImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    } catch {
      throw new CoracleError(`${where}: config ${e.Config} is not valid JSON`);
    }
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== e.Layers.length)
      throw new CoracleError(`${where}: config lists ${diffIds?.length ?? 0} layers (rootfs.diff_ids), manifest.json ${e.Layers.length}`);

    const layers: Descriptor[] = [];
    for (const [li, layerPath] of e.Layers.entries()) {
      const what = `${where}: layer ${li + 1} (${layerPath})`;
      const diffId = diffIds[li]!;
      if (!isDigest(diffId)) throw new CoracleError(`${what}: config has a malformed diff_id "${diffId}"`);
      const head = await src.head(layerPath, 2);
      const gzip = head[0] === 0x1f && head[1] === 0x8b;
      let digest: string;
      let size: number;
      if (gzip) {
        const h = await hashLayer(src, layerPath, true);
        if (h.diffId !== diffId) throw new CoracleError(`${what}: digest mismatch: config says ${diffId}, uncompressed layer is ${h.diffId}`);
        digest = h.digest;
        size = h.size;
      } else {
        digest = diffId;
        size = await src.size(layerPath);
      }
      const implied = digestFromPath(layerPath);
      if (implied && implied !== digest)
        throw new CoracleError(`${what}: digest mismatch: file name says ${implied}, content is ${digest}`);
      const mediaType = gzip ? MediaType.OciLayerGzip : MediaType.OciLayer;
      if ((await store.blobSize(digest)) !== size) {
        // Verified while streaming: the tar's sha256 must be its diff_id (the compressed digest for gzip).
        await store.writeBlob(src.open(layerPath), { expected: { digest, size }, mediaType, what, ...(onBytes ? { onBytes } : {}) });
        blobsWritten++;
        bytesWritten += size;
      }
      layers.push({ mediaType, digest, size });
    }
    const configDesc = await store.writeBlob(configBytes, {
      expected: { digest: configDigest, size: configBytes.length },
      mediaType: MediaType.OciConfig,
      what: `${where}: config`,
    });
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDesc.digest, size: configDesc.size },
      layers,
    };
    const md = await writeJsonBlob(store, manifest, MediaType.OciManifest);
    const descriptor: Descriptor = {
      ...md,
      ...(config.os && config.architecture
        ? { platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } }
        : {}),
    };
    for (const name of tags) images.push({ name, descriptor });
  }
  await store.setRefs(images.map((im) => ({ name: im.name, descriptor: im.descriptor })));
  return { format: 'docker-archive', images, blobsWritten, bytesWritten };
}

/**
 * Import an OCI image layout (folder or tar, as umoci, skopeo `oci:` /
 * `oci-archive:` and `coracle cache export` write them) or a `docker save`
 * archive (folder or tar) into the store. Every blob is verified; refs are
 * set only once all blobs of all images are in.
 */
export async function importImages(store: LayoutStore, path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const src = await openArchive(path);
  const isLayout = (await src.exists('oci-layout')) && (await src.exists('index.json'));
  if (!isLayout && !(await src.exists('manifest.json')))
    throw new CoracleError(`${path}: neither an OCI image layout (oci-layout, index.json) nor a docker save archive (manifest.json)`);
  const task = opts.reporter?.task(`import ${path}`);
  const onBytes = task ? (n: number) => task.advance(n) : undefined;
  try {
    const r = isLayout ? await importOciLayout(store, src, opts, onBytes) : await importDockerArchive(store, src, opts, onBytes);
    task?.done(`${r.images.length} image${r.images.length === 1 ? '' : 's'}, ${r.blobsWritten} new blob${r.blobsWritten === 1 ? '' : 's'}`);
    return r;
  } catch (e) {
    task?.fail();
    throw e;
  }
}
