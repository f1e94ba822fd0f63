// Images written straight into a store for transfer tests: random layer
// bytes (registries do not look inside layers), a config and a manifest,
// optionally an index over several platforms.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type LayoutStore } from '../../../../src/oci/store/layout-store.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../../../../src/oci/types.js';

export async function tempStore(): Promise<{ store: LayoutStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-transfer-'));
  const store = await openStore(join(dir, 'store'));
  return { store, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface StoredImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  bytes: Buffer;
}

export async function storeImage(store: LayoutStore, layerSizes: number[], platform: Platform = { os: 'linux', architecture: 'amd64' }): Promise<StoredImage> {
  const layers: Descriptor[] = [];
  for (const n of layerSizes) {
    const d = await store.writeBlob(randomBytes(n), { mediaType: MediaType.OciLayerGzip });
    layers.push({ mediaType: MediaType.OciLayerGzip, digest: d.digest, size: d.size });
  }
  const configJson = JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['/bin/sh'], Labels: { nonce: randomBytes(8).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const c = await store.writeBlob(configJson, { mediaType: MediaType.OciConfig });
  const config: Descriptor = { mediaType: MediaType.OciConfig, digest: c.digest, size: c.size };
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const m = await store.writeBlob(bytes, { mediaType: MediaType.OciManifest });
  return { manifest: { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size }, config, layers, bytes };
}

export async function storeIndex(store: LayoutStore, images: Array<{ image: StoredImage; platform: Platform }>): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map(({ image, platform }) => ({ ...image.manifest, platform })),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  const d = await store.writeBlob(bytes, { mediaType: MediaType.OciIndex });
  return { descriptor: { mediaType: MediaType.OciIndex, digest: d.digest, size: d.size }, bytes };
}
