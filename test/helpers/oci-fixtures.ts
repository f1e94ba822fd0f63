// Small OCI images written straight into a store made with openStore(tmpdir),
// with refs, so build tests need no registry. Layers are real tar archives
// (src/tar TarWriter), compressed with gzip (node:zlib), zstd (the CLI) or
// left as plain tar, as their media type says.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { LayoutStore } from '../../src/oci/store/layout-store.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from '../../src/oci/types.js';
import { TarWriter } from '../../src/tar/index.js';

/** One member of a fixture layer; `path` is written as given (so `../x` can be tested). */
export type FixtureEntry =
  | { path: string; type?: 'file'; data: string | Buffer; mode?: number; uid?: number; gid?: number }
  | { path: string; type: 'dir'; mode?: number; uid?: number; gid?: number }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'hardlink'; target: string }
  | { path: string; type: 'char' | 'block'; major: number; minor: number; mode?: number };

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface FixtureLayer {
  entries: FixtureEntry[];
  compression?: LayerCompression;
  /** Store these bytes as the blob but describe it with the digest of the real ones (digest mismatch). */
  corruptBlob?: boolean;
  /** Put a wrong diff_id in the config for this layer. */
  wrongDiffId?: boolean;
}

export interface FixtureImage {
  layers: FixtureLayer[];
  /** The image config's `config` (Entrypoint, Cmd, Env, User, Labels ...). */
  config?: ImageConfig['config'];
  architecture?: string;
}

export interface WrittenImage {
  reference: string;
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

const MTIME = 1_600_000_000;

export function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

export function hostArch(): string {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
  return m[process.arch] ?? process.arch;
}

/** The uncompressed tar of a layer, written with the project's TarWriter. */
export async function layerTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const pt = new PassThrough();
  const chunks: Buffer[] = [];
  pt.on('data', (c: Buffer) => chunks.push(c));
  const w = new TarWriter(pt);
  for (const e of entries) {
    switch (e.type) {
      case undefined:
      case 'file':
        await w.addFile({ path: e.path, mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: MTIME }, e.data);
        break;
      case 'dir':
        await w.addDirectory({ path: e.path, mode: e.mode ?? 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: MTIME });
        break;
      case 'symlink':
        await w.addSymlink({ path: e.path, linkpath: e.target, mtime: MTIME });
        break;
      case 'hardlink':
        await w.addHardlink({ path: e.path, linkpath: e.target, mtime: MTIME });
        break;
      case 'char':
      case 'block':
        await w.addDevice({ path: e.path, type: e.type, devmajor: e.major, devminor: e.minor, mode: e.mode ?? 0o666, mtime: MTIME });
        break;
    }
  }
  await w.finish();
  return Buffer.concat(chunks);
}

function compress(tar: Buffer, c: LayerCompression): { blob: Buffer; mediaType: string } {
  if (c === 'gzip') return { blob: gzipSync(tar), mediaType: MediaType.OciLayerGzip };
  if (c === 'zstd') return { blob: execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 }), mediaType: MediaType.OciLayerZstd };
  return { blob: tar, mediaType: MediaType.OciLayer };
}

async function putBlob(store: LayoutStore, data: Buffer, mediaType: string): Promise<Descriptor> {
  const d = await store.writeBlob(data, { mediaType });
  return { mediaType, digest: d.digest, size: d.size };
}

/**
 * Write an image (layers, config, manifest) into the store and tag it `ref`.
 * A corrupt layer is stored as a blob file whose bytes differ from its name.
 */
export async function writeImage(store: LayoutStore, ref: string, image: FixtureImage): Promise<WrittenImage> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const l of image.layers) {
    const tar = await layerTar(l.entries);
    const { blob, mediaType } = compress(tar, l.compression ?? 'gzip');
    const d = await putBlob(store, blob, mediaType);
    if (l.corruptBlob) {
      // Same size, one byte flipped in the middle, written where the real blob lives.
      const { writeFile } = await import('node:fs/promises');
      const bad = Buffer.from(blob);
      bad[bad.length >> 1] ^= 0xff;
      await writeFile(store.blobPath(d.digest), bad);
    }
    layers.push(d);
    diffIds.push(l.wrongDiffId ? sha256(Buffer.concat([tar, Buffer.from('x')])) : sha256(tar));
  }
  const config: ImageConfig = {
    architecture: image.architecture ?? hostArch(),
    os: 'linux',
    ...(image.config ? { config: image.config } : {}),
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const configDesc = await putBlob(store, Buffer.from(JSON.stringify(config)), MediaType.OciConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers };
  const descriptor = await putBlob(store, Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
  await store.setRef(ref, descriptor);
  return { reference: ref, descriptor, manifest, config };
}

/** A minimal image with one file, for tests that just need something to reference. */
export function simpleImage(files: Record<string, string>, config?: ImageConfig['config']): FixtureImage {
  return { layers: [{ entries: Object.entries(files).map(([path, data]) => ({ path, data })) }], ...(config ? { config } : {}) };
}
