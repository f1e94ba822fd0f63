import { describe, it, expect } from 'vitest';
import { readdir, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayoutStore } from '../../../../src/oci/store/layout-store.js';
import { pruneStore } from '../../../../src/oci/store/prune.js';
import { readImage, writeJsonBlob } from '../../../../src/oci/image.js';
import { parsePlatform } from '../../../../src/oci/platform.js';
import { MediaType, type Descriptor, type ImageConfig, type Platform } from '../../../../src/oci/types.js';
import { tempStoreEach } from '../../../helpers/temp-store.js';

let store: LayoutStore;
tempStoreEach('coracle-prune-', (t) => ({ store } = t));

async function image(store: LayoutStore, p: Platform, layerText: string): Promise<{ manifest: Descriptor; layer: Descriptor; config: Descriptor }> {
  const layer = await store.writeBlob(layerText, { mediaType: MediaType.OciLayer });
  const config: ImageConfig = { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), rootfs: { type: 'layers', diff_ids: [layer.digest] } };
  const cfg = await writeJsonBlob(store, config, MediaType.OciConfig);
  const manifest = await writeJsonBlob(store, { schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [layer] }, MediaType.OciManifest);
  return { manifest: { ...manifest, platform: p }, layer, config: cfg };
}

async function multiArch(store: LayoutStore) {
  const amd = await image(store, parsePlatform('linux/amd64'), 'amd64 layer');
  const arm = await image(store, parsePlatform('linux/arm64/v8'), 'arm64 layer');
  const index = await writeJsonBlob(store, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd.manifest, arm.manifest] }, MediaType.OciIndex);
  return { amd, arm, index };
}

describe('readImage', () => {
  it('follows an index to the platform manifest and reads its config', async () => {
    const { amd, arm, index } = await multiArch(store);
    await store.setRef('localhost:5000/multi:1', index);
    const a = await readImage(store, 'localhost:5000/multi:1', parsePlatform('linux/amd64'));
    expect(a.descriptor.digest).toBe(amd.manifest.digest);
    expect(a.config.architecture).toBe('amd64');
    expect(a.configDescriptor.digest).toBe(amd.config.digest);
    expect(a.manifest.layers[0]!.digest).toBe(amd.layer.digest);
    expect(a.index?.descriptor.digest).toBe(index.digest);
    const b = await readImage(store, 'localhost:5000/multi:1', parsePlatform('linux/arm64'));
    expect(b.config.architecture).toBe('arm64');
    expect(b.descriptor.digest).toBe(arm.manifest.digest);
    // by digest, by name@digest, by descriptor
    expect((await readImage(store, amd.manifest.digest)).config.architecture).toBe('amd64');
    expect((await readImage(store, `localhost:5000/multi@${index.digest}`, parsePlatform('linux/arm64'))).config.architecture).toBe('arm64');
    expect((await readImage(store, arm.manifest)).config.architecture).toBe('arm64');
  });

  it('names the image and the platforms present when the platform is missing', async () => {
    const { index } = await multiArch(store);
    await store.setRef('localhost:5000/multi:1', index);
    await expect(readImage(store, 'localhost:5000/multi:1', parsePlatform('linux/s390x'))).rejects.toThrow(
      'localhost:5000/multi:1: no image for platform linux/s390x; available: linux/amd64, linux/arm64/v8',
    );
  });

  it('refuses a single image of another platform when one is asked for', async () => {
    const { arm } = await multiArch(store);
    await store.setRef('x:arm', arm.manifest);
    await expect(readImage(store, 'x:arm', parsePlatform('linux/amd64'))).rejects.toThrow('x:arm: image is for linux/arm64/v8, not linux/amd64');
  });

  it('fails clearly on a missing ref and on a corrupted config', async () => {
    await expect(readImage(store, 'nothere:1')).rejects.toThrow(/image docker.io\/library\/nothere:1 is not in the store/);
    const { amd } = await multiArch(store);
    await store.setRef('x:amd', amd.manifest);
    await writeFile(join(store.root, 'blobs', 'sha256', amd.config.digest.slice(7)), '{"architecture":"evil"}');
    await expect(readImage(store, 'x:amd')).rejects.toThrow(/digest mismatch/);
  });
});

describe('pruneStore', () => {
  it('removes what no ref reaches and stale temp files, keeps everything reachable through an index', async () => {
    const { amd, arm, index } = await multiArch(store);
    await store.setRef('localhost:5000/multi:1', index);
    const orphan = await image(store, parsePlatform('linux/amd64'), 'orphan layer');
    const junk = await store.writeBlob('junk');
    const tmp = join(store.root, '.coracle-tmp', 'blob-1-abandoned');
    await writeFile(tmp, 'partial');
    // Fresh files are protected by the default grace period (another pull may be in flight).
    const fresh = await pruneStore(store);
    expect(fresh.blobs).toEqual([]);
    expect(fresh.tempFiles).toEqual([]);

    const past = new Date(Date.now() - 3_600_000);
    await utimes(tmp, past, past);
    const r = await pruneStore(store, { gracePeriodMs: 0 });
    const removed = r.blobs.map((b) => b.digest).sort();
    expect(removed).toEqual([orphan.manifest.digest, orphan.config.digest, orphan.layer.digest, junk.digest].sort());
    expect(r.tempFiles).toEqual([tmp]);
    expect(r.bytes).toBe(r.blobs.reduce((n, b) => n + b.size, 0) + 'partial'.length);
    for (const d of [index, amd.manifest, amd.config, amd.layer, arm.manifest, arm.config, arm.layer]) expect(await store.hasBlob(d.digest)).toBe(true);
    expect(await store.hasBlob(orphan.layer.digest)).toBe(false);
    expect(await readdir(join(store.root, '.coracle-tmp'))).toEqual([]);
    // The image still reads whole.
    expect((await readImage(store, 'localhost:5000/multi:1', parsePlatform('linux/arm64'))).config.architecture).toBe('arm64');
  });

  it('frees everything once the last ref is gone; dry runs delete nothing', async () => {
    const { index } = await multiArch(store);
    await store.setRef('a:1', index);
    await store.deleteRef('a:1');
    const dry = await pruneStore(store, { gracePeriodMs: 0, dryRun: true });
    expect(dry.blobs).toHaveLength(7);
    expect(await readdir(join(store.root, 'blobs', 'sha256'))).toHaveLength(7);
    const real = await pruneStore(store, { gracePeriodMs: 0 });
    expect(real.blobs).toHaveLength(7);
    expect(real.bytes).toBe(dry.bytes);
    expect(await readdir(join(store.root, 'blobs', 'sha256'))).toEqual([]);
  });
});
