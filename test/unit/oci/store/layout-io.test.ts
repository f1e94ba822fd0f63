import { describe, it, expect } from 'vitest';
import { readFile, readdir, writeFile, mkdir, symlink } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { join, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { openStore, type LayoutStore } from '../../../../src/oci/store/layout-store.js';
import { importImages, exportImages } from '../../../../src/oci/layout/index.js';
import { readImage, writeJsonBlob } from '../../../../src/oci/image.js';
import { parsePlatform } from '../../../../src/oci/platform.js';
import { TarWriter, readTar } from '../../../../src/tar/index.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex } from '../../../../src/oci/types.js';
import { CoracleError } from '../../../../src/errors.js';
import { tempStoreEach } from '../../../helpers/temp-store.js';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice(7);

let root: string;
let store: LayoutStore;
tempStoreEach('coracle-layout-', (t) => ({ root, store } = t));

/** A layer tar made with our writer (deterministic). */
async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const { writer, readable } = TarWriter.toReadable();
  const parts: Buffer[] = [];
  readable.on('data', (c: Buffer) => parts.push(c));
  const done = finished(readable);
  for (const [path, content] of Object.entries(files)) await writer.addFile({ path, mtime: 1_700_000_000 }, content);
  await writer.finish();
  await done;
  return Buffer.concat(parts);
}

/** Files of a legacy `docker save` archive: <id>/layer.tar (the second a symlink to a shared one), <hex>.json, manifest.json. */
async function dockerSaveFiles(opts: { gzip?: boolean; corrupt?: boolean; repoTags?: string[] } = {}) {
  const l1 = await layerTar({ 'etc/os-release': 'ID=test\n' });
  const l2 = await layerTar({ 'bin/app': '#!/bin/sh\necho hi\n' });
  const config: ImageConfig = {
    architecture: 'arm64',
    os: 'linux',
    variant: 'v8',
    config: { Cmd: ['/bin/app'] },
    rootfs: { type: 'layers', diff_ids: [sha(l1), sha(l2)] },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const stored1 = opts.gzip ? gzipSync(l1) : l1;
  const files: Record<string, Buffer | { link: string }> = {
    [`${hex(sha(configBytes))}.json`]: configBytes,
    'aaaa/layer.tar': opts.corrupt ? Buffer.concat([stored1.subarray(0, 100), Buffer.from('X'), stored1.subarray(101)]) : stored1,
    'aaaa/VERSION': Buffer.from('1.0'),
    'shared/layer.tar': l2,
    'bbbb/layer.tar': { link: '../shared/layer.tar' },
    'manifest.json': Buffer.from(
      JSON.stringify([{ Config: `${hex(sha(configBytes))}.json`, RepoTags: opts.repoTags ?? ['example/app:1.0', 'localhost:5000/app:latest'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] }]),
    ),
  };
  return { files, config, configBytes, l1, l2, stored1 };
}

async function writeTarFile(path: string, files: Record<string, Buffer | { link: string }>): Promise<void> {
  const out = createWriteStream(path);
  const w = new TarWriter(out);
  for (const [p, v] of Object.entries(files)) {
    if (Buffer.isBuffer(v)) await w.addFile({ path: p }, v);
    else await w.addSymlink({ path: p, linkpath: v.link });
  }
  await w.finish();
  await finished(out);
}

async function writeDir(dir: string, files: Record<string, Buffer | { link: string }>): Promise<void> {
  for (const [p, v] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    if (Buffer.isBuffer(v)) await writeFile(join(dir, p), v);
    else await symlink(v.link, join(dir, p));
  }
}

async function blobCount(): Promise<number> {
  return (await readdir(join(store.root, 'blobs', 'sha256'))).length;
}

describe('docker save archives', () => {
  for (const kind of ['tar', 'dir'] as const) {
    it(`imports a hand-made docker save ${kind}: layers as they are, proper OCI manifest, refs from RepoTags`, async () => {
      const { files, configBytes, l1, l2 } = await dockerSaveFiles();
      const path = join(root, kind === 'tar' ? 'save.tar' : 'save');
      if (kind === 'tar') await writeTarFile(path, files);
      else await writeDir(path, files);
      const r = await importImages(store, path);
      expect(r.format).toBe('docker-archive');
      expect(r.images.map((i) => i.name)).toEqual(['docker.io/example/app:1.0', 'localhost:5000/app:latest']);
      const img = await readImage(store, 'example/app:1.0', parsePlatform('linux/arm64'));
      expect(img.configDescriptor).toEqual({ mediaType: MediaType.OciConfig, digest: sha(configBytes), size: configBytes.length });
      expect(img.manifest.mediaType).toBe(MediaType.OciManifest);
      expect(img.manifest.layers).toEqual([
        { mediaType: MediaType.OciLayer, digest: sha(l1), size: l1.length },
        { mediaType: MediaType.OciLayer, digest: sha(l2), size: l2.length },
      ]);
      expect(img.descriptor.digest).toBe(sha(await store.readBlob(img.descriptor.digest)));
      expect((await store.getRef('localhost:5000/app'))?.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
      // The stored layer is the tar itself.
      const names: string[] = [];
      for await (const e of readTar(store.openBlob(sha(l2)))) names.push(e.path);
      expect(names).toEqual(['bin/app']);
    });
  }

  it('keeps gzip layers compressed and checks their uncompressed digest against diff_ids', async () => {
    const { files, l1, stored1 } = await dockerSaveFiles({ gzip: true });
    await writeTarFile(join(root, 'gz.tar'), files);
    await importImages(store, join(root, 'gz.tar'));
    const img = await readImage(store, 'example/app:1.0', parsePlatform('linux/arm64'));
    expect(img.manifest.layers[0]).toEqual({ mediaType: MediaType.OciLayerGzip, digest: sha(stored1), size: stored1.length });
    expect(img.config.rootfs.diff_ids[0]).toBe(sha(l1));
  });

  it('refuses a layer that does not match its diff_id and sets no ref', async () => {
    const { files } = await dockerSaveFiles({ corrupt: true });
    await writeTarFile(join(root, 'bad.tar'), files);
    const err = await importImages(store, join(root, 'bad.tar')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoracleError);
    expect((err as Error).message).toMatch(/bad\.tar: manifest\.json image 1: layer 1 \(aaaa\/layer\.tar\): digest mismatch/);
    expect(await store.listRefs()).toEqual([]);
    expect(await blobCount()).toBe(0);
  });

  it('needs --name for an image without RepoTags', async () => {
    const { files } = await dockerSaveFiles({ repoTags: [] });
    await writeTarFile(join(root, 'untagged.tar'), files);
    await expect(importImages(store, join(root, 'untagged.tar'))).rejects.toThrow(/has no RepoTags; give it a name with --name/);
    const r = await importImages(store, join(root, 'untagged.tar'), { name: 'localhost/mine:2' });
    expect(r.images.map((i) => i.name)).toEqual(['localhost/mine:2']);
  });

  it('refuses what is neither layout nor docker archive, and compressed archives', async () => {
    await writeTarFile(join(root, 'other.tar'), { 'hello.txt': Buffer.from('hi') });
    await expect(importImages(store, join(root, 'other.tar'))).rejects.toThrow(/neither an OCI image layout .* nor a docker save archive/);
    await writeFile(join(root, 'x.tar.gz'), gzipSync(Buffer.alloc(1024)));
    await expect(importImages(store, join(root, 'x.tar.gz'))).rejects.toThrow(/gzip-compressed; decompress it first/);
    await expect(importImages(store, join(root, 'missing'))).rejects.toThrow(/no such file or directory/);
  });
});

/** An image (two platforms in an index) in a source store, tagged. */
async function seed(s: LayoutStore, name: string, text = name): Promise<{ index: Descriptor; amd: Descriptor; arm: Descriptor }> {
  const make = async (arch: string, variant?: string) => {
    const layer = await s.writeBlob(await layerTar({ [`${arch}.txt`]: text }), { mediaType: MediaType.OciLayer });
    const cfg = await writeJsonBlob(s, { architecture: arch, os: 'linux', ...(variant ? { variant } : {}), rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.OciConfig);
    const m = await writeJsonBlob(s, { schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [layer] }, MediaType.OciManifest);
    return { ...m, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } };
  };
  const amd = await make('amd64');
  const arm = await make('arm64', 'v8');
  const index = await writeJsonBlob(s, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, arm] }, MediaType.OciIndex);
  await s.setRef(name, index);
  return { index, amd, arm };
}

describe('OCI layout export and import', () => {
  it('round-trips through a folder and a tar, keeping full names and digests', async () => {
    const { index } = await seed(store, 'localhost:5000/team/tool:2.1');
    const dir = join(root, 'out');
    const r = await exportImages(store, ['localhost:5000/team/tool:2.1'], dir);
    expect(r.format).toBe('dir');
    expect(r.blobs).toBe(7);
    const idx = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    expect(idx.manifests).toEqual([
      {
        ...index,
        annotations: { 'io.containerd.image.name': 'localhost:5000/team/tool:2.1', 'org.opencontainers.image.ref.name': '2.1' },
      },
    ]);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    const tarPath = join(root, 'out.tar');
    await exportImages(store, ['localhost:5000/team/tool:2.1'], tarPath);
    const again = join(root, 'again.tar');
    await exportImages(store, ['localhost:5000/team/tool:2.1'], again);
    expect(sha(await readFile(tarPath))).toBe(sha(await readFile(again))); // reproducible

    for (const src of [dir, tarPath]) {
      const other = await openStore(join(root, `other-${src.endsWith('.tar') ? 'tar' : 'dir'}`));
      const imp = await importImages(other, src);
      expect(imp.format).toBe('oci-layout');
      expect(imp.images.map((i) => [i.name, i.descriptor.digest])).toEqual([['localhost:5000/team/tool:2.1', index.digest]]);
      expect((await readImage(other, 'localhost:5000/team/tool:2.1', parsePlatform('linux/arm64'))).config.architecture).toBe('arm64');
      expect((await readdir(join(other.root, 'blobs', 'sha256'))).length).toBe(7);
    }
  });

  it('names bare-tag layouts with --name, and refuses without it', async () => {
    await seed(store, 'localhost/x:1');
    const dir = join(root, 'bare');
    await exportImages(store, ['localhost/x:1'], dir);
    // Make it look like a umoci/skopeo layout: only the tag.
    const idx = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    delete idx.manifests[0]!.annotations!['io.containerd.image.name'];
    await writeFile(join(dir, 'index.json'), JSON.stringify(idx));
    const other = await openStore(join(root, 'other'));
    await expect(importImages(other, dir)).rejects.toThrow(/is named only by the tag "1"; give a repository with --name/);
    expect(await other.listRefs()).toEqual([]);
    const r = await importImages(other, dir, { name: 'registry.example.com/y' });
    expect(r.images.map((i) => i.name)).toEqual(['registry.example.com/y:1']);
  });

  it('refuses a layout blob that does not match its digest: no refs, no bad blob', async () => {
    const { amd } = await seed(store, 'localhost/x:1');
    const dir = join(root, 'corrupt');
    await exportImages(store, ['localhost/x:1'], dir);
    const m = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', hex(amd.digest)), 'utf8'));
    const layerPath = join(dir, 'blobs', 'sha256', hex(m.layers[0].digest));
    const bytes = await readFile(layerPath);
    bytes[600] = bytes[600]! ^ 1;
    await writeFile(layerPath, bytes);
    const other = await openStore(join(root, 'other'));
    await expect(importImages(other, dir)).rejects.toThrow(/corrupt: image 1 \(localhost\/x:1\), manifest 1: layer 1: digest mismatch/);
    expect(await other.listRefs()).toEqual([]);
    expect(await other.hasBlob(m.layers[0].digest)).toBe(false);
  });

  it('uses familiar names when exported tags clash', async () => {
    await seed(store, 'localhost/a:latest', 'a');
    await seed(store, 'docker.io/library/b:latest', 'b');
    await seed(store, 'localhost/c:v2', 'c');
    const r = await exportImages(store, ['localhost/a', 'b', 'localhost/c:v2'], join(root, 'multi'));
    expect(r.images.map((i) => i.refName)).toEqual(['localhost/a:latest', 'b:latest', 'v2']);
  });

  it('exports just the stored platform when the store holds part of an index', async () => {
    const { amd, arm } = await seed(store, 'localhost/p:1');
    // A single-platform pull keeps the index but not the other platforms' manifests.
    await store.deleteBlob(arm.digest);
    const r = await exportImages(store, ['localhost/p:1'], join(root, 'part'), { platform: parsePlatform('linux/amd64') });
    expect(r.images[0]!.descriptor.digest).toBe(amd.digest);
    expect(r.blobs).toBe(3);
  });

  it('leaves nothing behind when export fails, and never overwrites', async () => {
    const { amd } = await seed(store, 'localhost/x:1');
    const m = JSON.parse((await store.readBlob(amd.digest)).toString());
    await writeFile(join(store.root, 'blobs', 'sha256', hex(m.layers[0].digest)), 'corrupted');
    for (const dest of [join(root, 'fail'), join(root, 'fail.tar')]) {
      await expect(exportImages(store, ['localhost/x:1'], dest)).rejects.toThrow(/size mismatch|digest mismatch/);
      expect(existsSync(dest)).toBe(false);
    }
    expect((await readdir(root)).filter((f) => f.includes('coracle-tmp'))).toEqual([]);
    await writeFile(join(root, 'exists.tar'), 'x');
    await expect(exportImages(store, ['localhost/x:1'], join(root, 'exists.tar'))).rejects.toThrow(/already exists/);
    await expect(exportImages(store, ['nothere:1'], join(root, 'n'))).rejects.toThrow(/docker.io\/library\/nothere:1 is not in the store/);
  });
});
