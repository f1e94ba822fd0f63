// Make test images by hand as OCI image layouts: layers are tar archives
// written here byte by byte (ustar headers), holding random (incompressible)
// data or given files, gzip-compressed; config, manifest and index JSON are
// written as blobs, and index.json names them with ref-name annotations so
// `skopeo copy oci:DIR:TAG ...` and `coracle cache import DIR` can read them.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, constants as zc } from 'node:zlib';
import {
  MediaType,
  REF_NAME_ANNOTATION,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../../src/oci/types.js';

export type LayerInput =
  /** that many random bytes in one file */
  | number
  /** these files (path -> content) */
  | { files: Record<string, string | Buffer> };

export interface ImageSpec {
  layers: LayerInput[];
  os?: string;
  architecture?: string;
  variant?: string;
  /** gzip (default) or uncompressed tar layers. */
  compression?: 'gzip' | 'none';
  labels?: Record<string, string>;
  cmd?: string[];
  env?: string[];
}

export interface BuiltImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: string;
  config: ImageConfig;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
  platform: Platform;
  /** Total bytes of all blobs (config + layers + manifest). */
  totalSize: number;
}

export interface BuiltIndex {
  index: ImageIndex;
  indexBytes: Buffer;
  indexDigest: string;
  images: BuiltImage[];
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The OCI platform of this machine (what `coracle pull` selects by default). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

// ---------------------------------------------------------------------------
// tar, by hand

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(name: string, size: number, type: '0' | '5', mode: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long for this helper: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(1_600_000_000, 12), 136, 12, 'ascii'); // fixed mtime: reproducible layers
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder (spaces)
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** A tar archive of the given files (directories for their parents are added). */
export function makeTar(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const [path, content] of Object.entries(files)) {
    const segs = path.split('/').filter(Boolean);
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/') + '/';
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(tarHeader(d, 0, '5', 0o755));
      }
    }
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    parts.push(tarHeader(segs.join('/'), data.length, '0', 0o644), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// layout writing

async function ensureLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  if (!existsSync(join(dir, 'oci-layout'))) {
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }
  if (!existsSync(join(dir, 'index.json'))) {
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
  }
}

/** Write a blob into the layout; returns its digest. */
export async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const p = join(dir, 'blobs', 'sha256', digest.slice(7));
  if (!existsSync(p)) await writeFile(p, data);
  return digest;
}

async function addToIndex(dir: string, desc: Descriptor, tag: string): Promise<void> {
  const path = join(dir, 'index.json');
  const idx = JSON.parse(await readFile(path, 'utf8')) as ImageIndex;
  idx.manifests = idx.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
  idx.manifests.push({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: tag } });
  await writeFile(path, JSON.stringify(idx));
}

async function writeImageBlobs(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  await ensureLayout(dir);
  const platform: Platform = {
    os: spec.os ?? hostPlatform().os,
    architecture: spec.architecture ?? hostPlatform().architecture,
    ...(spec.variant ? { variant: spec.variant } : {}),
  };
  const gzip = (spec.compression ?? 'gzip') === 'gzip';
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  let totalSize = 0;
  for (const [i, input] of spec.layers.entries()) {
    const files = typeof input === 'number' ? { [`layer-${i}/random.bin`]: randomBytes(input) } : input.files;
    const tar = makeTar(files);
    diffIds.push(sha256(tar));
    // Level 1: random data does not compress anyway; keep image making quick.
    const blob = gzip ? gzipSync(tar, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY }) : tar;
    const digest = await writeBlob(dir, blob);
    layers.push({ mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest, size: blob.length });
    totalSize += blob.length;
  }
  const config: ImageConfig = {
    created: '2020-09-13T12:26:40Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: spec.cmd ?? ['/bin/sh'],
      Labels: { 'org.coracle.test.nonce': randomBytes(8).toString('hex'), ...(spec.labels ?? {}) },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map((_, i) => ({ created: '2020-09-13T12:26:40Z', created_by: `coracle test layer ${i}` })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await writeBlob(dir, configBytes);
  totalSize += configBytes.length;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length },
    layers,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await writeBlob(dir, manifestBytes);
  totalSize += manifestBytes.length;
  return {
    manifest,
    manifestBytes,
    manifestDigest,
    config,
    configDigest,
    layerDigests: layers.map((l) => l.digest),
    diffIds,
    platform,
    totalSize,
  };
}

/** Add a single-platform image to the OCI layout at `dir` (created if needed), named `tag`. */
export async function writeImage(dir: string, spec: ImageSpec, tag = 'latest'): Promise<BuiltImage> {
  const img = await writeImageBlobs(dir, spec);
  await addToIndex(dir, { mediaType: MediaType.OciManifest, digest: img.manifestDigest, size: img.manifestBytes.length }, tag);
  return img;
}

/** Add a multi-platform image index (one manifest per spec) to the layout, named `tag`. */
export async function writeImageIndex(dir: string, specs: ImageSpec[], tag = 'latest'): Promise<BuiltIndex> {
  const images: BuiltImage[] = [];
  for (const s of specs) images.push(await writeImageBlobs(dir, s));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((img) => ({
      mediaType: MediaType.OciManifest,
      digest: img.manifestDigest,
      size: img.manifestBytes.length,
      platform: img.platform,
    })),
  };
  const indexBytes = Buffer.from(JSON.stringify(index));
  const indexDigest = await writeBlob(dir, indexBytes);
  await addToIndex(dir, { mediaType: MediaType.OciIndex, digest: indexDigest, size: indexBytes.length }, tag);
  return { index, indexBytes, indexDigest, images };
}

export interface TempLayout<T> {
  dir: string;
  tag: string;
  built: T;
  cleanup(): Promise<void>;
}

/** A fresh temporary layout holding one image. */
export async function makeImageLayout(spec: ImageSpec, tag = 'latest'): Promise<TempLayout<BuiltImage>> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-img-'));
  const built = await writeImage(dir, spec, tag);
  return { dir, tag, built, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A fresh temporary layout holding one multi-platform index. */
export async function makeIndexLayout(specs: ImageSpec[], tag = 'latest'): Promise<TempLayout<BuiltIndex>> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-idx-'));
  const built = await writeImageIndex(dir, specs, tag);
  return { dir, tag, built, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------
// reading layouts (what coracle or skopeo wrote)

export interface LayoutView {
  index: ImageIndex;
  /** sha256 digests of every blob file present. */
  blobs: Set<string>;
  readBlob(digest: string): Promise<Buffer>;
  readJson<T>(digest: string): Promise<T>;
  /** The descriptor named `ref` (ref-name annotation), or undefined. */
  find(ref: string): Descriptor | undefined;
}

export async function readLayout(dir: string): Promise<LayoutView> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  let names: string[] = [];
  try {
    names = await readdir(join(dir, 'blobs', 'sha256'));
  } catch {
    // no blobs at all
  }
  const readBlob = (digest: string): Promise<Buffer> => readFile(join(dir, 'blobs', ...digest.split(':')));
  return {
    index,
    blobs: new Set(names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`)),
    readBlob,
    readJson: async <T>(digest: string) => JSON.parse((await readBlob(digest)).toString('utf8')) as T,
    find: (ref: string) => index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === ref),
  };
}

/** Blobs whose bytes do not hash to their file name (should always be empty). */
export async function corruptBlobsIn(dir: string): Promise<string[]> {
  const view = await readLayout(dir);
  const bad: string[] = [];
  for (const d of view.blobs) {
    if (sha256(await view.readBlob(d)) !== d) bad.push(d);
  }
  return bad;
}

/** Every file under `dir` (relative paths), for "nothing half-written" checks. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk('');
  return out.sort();
}
