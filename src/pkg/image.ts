import { createHash } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import { createGzip, constants as zc } from 'node:zlib';
import type { ContentStore } from '../oci/store/content-store.js';
import { LINUXKIT_CONFIG_LABEL, MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.js';
import { writeTreeTar } from './tree-tar.js';
import type { PathMeta } from './stage.js';

/** gzip level for layers: fixed, so the same tar always gives the same blob. */
export const LAYER_GZIP_LEVEL = 9;

export interface ImageWriteInput {
  rootDir: string;
  meta: Map<string, PathMeta>;
  mtime: number;
  platform: Platform;
  config: { entrypoint?: string[]; cmd?: string[]; env?: string[]; workdir?: string; user?: string };
  /** JSON text of the org.mobyproject.config label, if any. */
  label?: string;
  labels?: Record<string, string>;
  manifestAnnotations: Record<string, string>;
  onLayerBytes?: (n: number) => void;
}

export interface WrittenImage {
  index: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
  diffId: string;
  /** Uncompressed layer size. */
  tarSize: number;
}

function json(o: unknown): Buffer {
  return Buffer.from(JSON.stringify(o));
}

/**
 * Write the image's blobs (layer, config, manifest, index) into the store.
 * The ref is NOT set here: the caller points it at the index once every
 * blob is in, so nothing half-written is ever visible under a name.
 */
export async function writeImageBlobs(store: ContentStore, i: ImageWriteInput): Promise<WrittenImage> {
  const tarHash = createHash('sha256');
  let tarSize = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tarHash.update(chunk);
      tarSize += chunk.length;
      cb(null, chunk);
    },
  });
  const tarStream = new PassThrough({ highWaterMark: 1 << 20 });
  // The tar writer waits on 'drain' with one-shot listeners per wait.
  tarStream.setMaxListeners(0);
  const gzip = createGzip({ level: LAYER_GZIP_LEVEL, strategy: zc.Z_DEFAULT_STRATEGY, memLevel: 8, windowBits: 15 });
  const gz = tarStream.pipe(tap).pipe(gzip);
  const writing = store.writeBlob(gz, { mediaType: MediaType.OciLayerGzip, onBytes: i.onLayerBytes });
  const producing = writeTreeTar(i.rootDir, tarStream, { mtime: i.mtime, meta: i.meta });
  const [layerDesc] = await Promise.all([writing, producing]);
  const diffId = `sha256:${tarHash.digest('hex')}`;
  const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: layerDesc.digest, size: layerDesc.size };

  const created = new Date(i.mtime * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const labels: Record<string, string> = { ...(i.labels ?? {}) };
  if (i.label !== undefined) labels[LINUXKIT_CONFIG_LABEL] = i.label;
  const cfg: ImageConfig = {
    created,
    architecture: i.platform.architecture,
    os: i.platform.os,
    ...(i.platform.variant ? { variant: i.platform.variant } : {}),
    config: {
      ...(i.config.user ? { User: i.config.user } : {}),
      Env: i.config.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(i.config.entrypoint ? { Entrypoint: i.config.entrypoint } : {}),
      ...(i.config.cmd ? { Cmd: i.config.cmd } : {}),
      WorkingDir: i.config.workdir ?? '/',
      ...(Object.keys(labels).length ? { Labels: labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: 'coracle pkg build' }],
  };
  const configBytes = json(cfg);
  const config = await store.writeBlob(configBytes, { mediaType: MediaType.OciConfig });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
    layers: [layer],
    annotations: i.manifestAnnotations,
  };
  const m = await store.writeBlob(json(manifest), { mediaType: MediaType.OciManifest });
  const manifestDesc: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size, platform: i.platform };
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [manifestDesc],
  };
  const x = await store.writeBlob(json(index), { mediaType: MediaType.OciIndex });
  return {
    index: { mediaType: MediaType.OciIndex, digest: x.digest, size: x.size },
    manifest: manifestDesc,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
    layer,
    diffId,
    tarSize,
  };
}
