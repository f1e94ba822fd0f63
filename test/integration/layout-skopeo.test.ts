// Interop with the real skopeo: images coracle exports (OCI layout folder and
// oci-archive tar) are inspected and copied by skopeo; docker-archive files,
// hand-made and written by skopeo, import with verified digests.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { runCli } from '../helpers/cli.js';
import { TarWriter } from '../../src/tar/index.js';
import { openStore } from '../../src/oci/store/layout-store.js';
import { readImage } from '../../src/oci/image.js';
import { writeJsonBlob } from '../../src/oci/image.js';
import { MediaType, type ImageConfig } from '../../src/oci/types.js';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let cache: string;
let layers: Buffer[];
let configBytes: Buffer;

async function tarBytes(add: (w: TarWriter) => Promise<void>): Promise<Buffer> {
  const { writer, readable } = TarWriter.toReadable();
  const parts: Buffer[] = [];
  readable.on('data', (c: Buffer) => parts.push(c));
  const done = finished(readable);
  await add(writer);
  await writer.finish();
  await done;
  return Buffer.concat(parts);
}

interface ImageRow {
  reference: string;
  digest: string;
  size: number;
  platforms: string[];
}

async function images(c = cache): Promise<ImageRow[]> {
  const r = await runCli(['--cache', c, 'images', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ImageRow[];
}

async function skopeoInspect(ref: string): Promise<{ Digest: string; Layers: string[]; Architecture: string; Env?: string[] }> {
  const r = await execa('skopeo', ['inspect', ref]);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-skopeo-'));
  cache = join(dir, 'cache');
  // A docker save archive written by hand in docker's format.
  const m = { mtime: 1_700_000_000 };
  layers = [
    await tarBytes(async (w) => {
      await w.addDirectory({ path: 'etc', ...m });
      await w.addFile({ path: 'etc/hostname', ...m }, 'handmade\n');
    }),
    await tarBytes(async (w) => {
      await w.addDirectory({ path: 'usr/share/very-long-name-'.repeat(6), ...m });
      await w.addFile({ path: `${'usr/share/very-long-name-'.repeat(6)}/data.bin`, ...m }, Buffer.alloc(200_000, 3));
      await w.addSymlink({ path: 'link', linkpath: 'etc/hostname', ...m });
    }),
  ];
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/bin', 'MADE=by-hand'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) },
    history: [{ created_by: 'layer 1' }, { created_by: 'layer 2' }],
  };
  configBytes = Buffer.from(JSON.stringify(config));
  const cfgHex = sha(configBytes).slice(7);
  const out = createWriteStream(join(dir, 'handmade.tar'));
  const w = new TarWriter(out);
  await w.addFile({ path: `${cfgHex}.json` }, configBytes);
  for (const [i, l] of layers.entries()) {
    await w.addDirectory({ path: `layer${i}` });
    await w.addFile({ path: `layer${i}/VERSION` }, '1.0');
    await w.addFile({ path: `layer${i}/layer.tar` }, l);
  }
  await w.addFile(
    { path: 'manifest.json' },
    JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['localhost:5000/handmade/app:1.0'], Layers: ['layer0/layer.tar', 'layer1/layer.tar'] }]),
  );
  await w.addFile({ path: 'repositories' }, JSON.stringify({ 'localhost:5000/handmade/app': { '1.0': 'layer1' } }));
  await w.finish();
  await finished(out);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('skopeo interop', () => {
  it('imports a hand-made docker save archive', async () => {
    const r = await runCli(['--cache', cache, 'cache', 'import', join(dir, 'handmade.tar')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported localhost:5000\/handmade\/app:1\.0 sha256:[0-9a-f]{64}$/);
    const img = await readImage(await openStore(cache), 'localhost:5000/handmade/app:1.0');
    expect(img.configDescriptor.digest).toBe(sha(configBytes));
    expect(img.manifest.layers.map((l) => [l.digest, l.mediaType])).toEqual(layers.map((l) => [sha(l), 'application/vnd.oci.image.layer.v1.tar']));
  });

  it('skopeo reads and copies an OCI layout folder coracle exported', async () => {
    const [row] = (await images()).filter((x) => x.reference === 'localhost:5000/handmade/app:1.0');
    expect(row).toBeDefined();
    const out = join(dir, 'export-dir');
    const e = await runCli(['--cache', cache, 'cache', 'export', 'localhost:5000/handmade/app:1.0', out]);
    expect(e.exitCode, e.stderr).toBe(0);
    // The layout names the image by its tag, which is how skopeo addresses it.
    const info = await skopeoInspect(`oci:${out}:1.0`);
    expect(info.Digest).toBe(row!.digest);
    expect(info.Layers).toEqual(layers.map((l) => sha(l)));
    expect(info.Env).toContain('MADE=by-hand');
    // skopeo keeps the image as it is when told it may (uncompressed layers allowed) ...
    const same = join(dir, 'skopeo-same');
    await execa('skopeo', ['copy', '-q', '--dest-oci-accept-uncompressed-layers', `oci:${out}:1.0`, `oci:${same}:copied`]);
    expect((await skopeoInspect(`oci:${same}:copied`)).Digest).toBe(row!.digest);
    // ... and by default gzips the layers: a new manifest over the same config.
    const copy = join(dir, 'skopeo-copy');
    await execa('skopeo', ['copy', '-q', `oci:${out}:1.0`, `oci:${copy}:copied`]);
    const gz = await skopeoInspect(`oci:${copy}:copied`);
    expect(gz.Digest).not.toBe(row!.digest);
    const rawConfig = (await execa('skopeo', ['inspect', '--config', '--raw', `oci:${copy}:copied`])).stdout;
    expect(sha(rawConfig)).toBe(sha(configBytes));
    // Both copies skopeo wrote import back with skopeo's digests.
    const c2 = join(dir, 'cache-copy');
    const imp = await runCli(['--cache', c2, 'cache', 'import', '--name', 'localhost/copied', copy]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(imp.stdout).toContain(`imported localhost/copied:copied ${gz.Digest}`);
    const gzImage = await readImage(await openStore(c2), 'localhost/copied:copied');
    expect(gzImage.manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    const archive = join(dir, 'skopeo-archive.tar');
    await execa('skopeo', ['copy', '-q', `oci:${copy}:copied`, `oci-archive:${archive}:arch`]);
    const imp3 = await runCli(['--cache', c2, 'cache', 'import', '--name', 'localhost/archived', archive]);
    expect(imp3.exitCode, imp3.stderr).toBe(0);
    expect(imp3.stdout).toContain(`imported localhost/archived:arch ${gz.Digest}`);
    const imp2 = await runCli(['--cache', c2, 'cache', 'import', '--name', 'localhost/same', same]);
    expect(imp2.exitCode, imp2.stderr).toBe(0);
    expect(imp2.stdout).toContain(`imported localhost/same:copied ${row!.digest}`);
  });

  it('skopeo reads an oci-archive tar coracle exported, reproducibly', async () => {
    const [row] = (await images()).filter((x) => x.reference === 'localhost:5000/handmade/app:1.0');
    const a = join(dir, 'export-a.tar');
    const b = join(dir, 'export-b.tar');
    for (const f of [a, b]) {
      const e = await runCli(['--cache', cache, 'cache', 'export', 'localhost:5000/handmade/app:1.0', f]);
      expect(e.exitCode, e.stderr).toBe(0);
      expect(e.stdout).toContain(`(oci-archive:${f}:1.0)`);
    }
    expect(sha(await readFile(a))).toBe(sha(await readFile(b)));
    const info = await skopeoInspect(`oci-archive:${a}:1.0`);
    expect(info.Digest).toBe(row!.digest);
    // GNU tar agrees it is a well-formed archive.
    const list = await execa('tar', ['-tf', a]);
    expect(list.stdout.split('\n').slice(0, 3)).toEqual(['oci-layout', 'index.json', 'blobs/']);
  });

  it('imports a docker-archive written by skopeo with the same layer and config digests', async () => {
    const src = join(dir, 'export-dir');
    const archive = join(dir, 'skopeo-docker.tar');
    await execa('skopeo', ['copy', '-q', `oci:${src}:1.0`, `docker-archive:${archive}:localhost/from-skopeo:2`]);
    const c3 = join(dir, 'cache-docker');
    const r = await runCli(['--cache', c3, 'cache', 'import', archive]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported localhost\/from-skopeo:2 sha256:[0-9a-f]{64}$/);
    const img = await readImage(await openStore(c3), 'localhost/from-skopeo:2');
    expect(img.manifest.layers.map((l) => l.digest)).toEqual(layers.map((l) => sha(l)));
    expect(img.config.rootfs.diff_ids).toEqual(layers.map((l) => sha(l)));
    expect(img.config.config?.Env).toContain('MADE=by-hand');
    // And back out to skopeo.
    const out = join(dir, 'from-docker.tar');
    expect((await runCli(['--cache', c3, 'cache', 'export', 'localhost/from-skopeo:2', out])).exitCode).toBe(0);
    expect((await skopeoInspect(`oci-archive:${out}:2`)).Layers).toEqual(layers.map((l) => sha(l)));
  });

  it('exports several images skopeo can each address', async () => {
    const c4 = join(dir, 'cache-multi');
    expect((await runCli(['--cache', c4, 'cache', 'import', join(dir, 'handmade.tar'), join(dir, 'skopeo-docker.tar')])).exitCode).toBe(0);
    const rows = await images(c4);
    expect(rows.map((x) => x.reference)).toEqual(['localhost/from-skopeo:2', 'localhost:5000/handmade/app:1.0']);
    const table = await runCli(['--cache', c4, 'images']);
    expect(table.stdout.split('\n')[0]).toMatch(/^REFERENCE\s+DIGEST\s+SIZE\s+PLATFORMS$/);
    expect(table.stdout).toMatch(/localhost:5000\/handmade\/app:1\.0\s+sha256:[0-9a-f]{12}\s+\S+ KiB\s+linux\/amd64/);
    const out = join(dir, 'two.tar');
    const e = await runCli(['--cache', c4, 'cache', 'export', 'localhost:5000/handmade/app:1.0', 'localhost/from-skopeo:2', out]);
    expect(e.exitCode, e.stderr).toBe(0);
    for (const row of rows) {
      const tag = row.reference.slice(row.reference.lastIndexOf(':') + 1);
      expect((await skopeoInspect(`oci-archive:${out}:${tag}`)).Digest).toBe(row.digest);
    }
    const one = await runCli(['--cache', c4, 'cache', 'export', out]);
    expect(one.exitCode).toBe(1);
    expect(one.stderr).toMatch(/give the image\(s\) and then the destination/);
  });

  it('exports a multi-platform index that skopeo selects from and copies whole', async () => {
    const c6 = join(dir, 'cache-index');
    const store = await openStore(c6);
    const manifests = [];
    for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8'], ['riscv64', undefined]] as const) {
      const layer = await store.writeBlob(
        await tarBytes(async (w) => {
          await w.addFile({ path: `etc/${arch}`, mtime: 1 }, arch);
        }),
        { mediaType: MediaType.OciLayer },
      );
      const platform = { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) };
      const cfg = await writeJsonBlob(store, { ...platform, rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.OciConfig);
      const m = await writeJsonBlob(store, { schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [layer] }, MediaType.OciManifest);
      manifests.push({ ...m, platform });
    }
    const index = await writeJsonBlob(store, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, MediaType.OciIndex);
    await store.setRef('localhost/multi:3', index);
    const out = join(dir, 'multi-layout');
    expect((await runCli(['--cache', c6, 'cache', 'export', 'localhost/multi:3', out])).exitCode).toBe(0);
    const raw = (await execa('skopeo', ['inspect', '--raw', `oci:${out}:3`])).stdout;
    expect(sha(raw)).toBe(index.digest);
    const arm = await execa('skopeo', ['--override-arch', 'arm64', 'inspect', `oci:${out}:3`]);
    // skopeo reports the index digest, and the arm64 image's config and layers.
    const armInfo = JSON.parse(arm.stdout) as { Digest: string; Architecture: string; Layers: string[] };
    expect(armInfo.Digest).toBe(index.digest);
    expect(armInfo.Architecture).toBe('arm64');
    const armManifest = JSON.parse((await store.readBlob(manifests[1]!.digest)).toString()) as { layers: Array<{ digest: string }> };
    expect(armInfo.Layers).toEqual([armManifest.layers[0]!.digest]);
    const all = join(dir, 'multi-copy');
    await execa('skopeo', ['copy', '-q', '--all', '--preserve-digests', `oci:${out}:3`, `oci:${all}:3`]);
    const back = join(dir, 'cache-index-back');
    const r = await runCli(['--cache', back, 'cache', 'import', '--name', 'localhost/multi', all]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`imported localhost/multi:3 ${index.digest}`);
    const img = await readImage(await openStore(back), 'localhost/multi:3', { os: 'linux', architecture: 'riscv64' });
    expect(img.descriptor.digest).toBe(manifests[2]!.digest);
  });

  it('prune frees the blobs of a replaced ref and keeps the rest', async () => {
    const c5 = join(dir, 'cache-prune');
    // The gzip copy first, then the uncompressed one under the same name: the gzip layers lose their ref.
    expect((await runCli(['--cache', c5, 'cache', 'import', '--name', 'localhost/x', join(dir, 'skopeo-copy')])).exitCode).toBe(0);
    expect((await runCli(['--cache', c5, 'cache', 'import', '--name', 'localhost/x', join(dir, 'skopeo-same')])).exitCode).toBe(0);
    const young = await runCli(['--cache', c5, 'cache', 'prune']);
    expect(young.stdout).toMatch(/^freed 0 B: 0 blobs/); // within the grace period
    const dry = await runCli(['--cache', c5, 'cache', 'prune', '--grace', '0', '--dry-run']);
    expect(dry.stdout).toMatch(/^would free \S+ \S+: 3 blobs, 0 temporary files, 0 cached disk images, 0 build memos; 4 blobs in use$/);
    const prune = await runCli(['--cache', c5, 'cache', 'prune', '--grace', '0']);
    expect(prune.exitCode, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^freed \S+ \S+: 3 blobs, 0 temporary files, 0 cached disk images, 0 build memos; 4 blobs in use$/);
    const img = await readImage(await openStore(c5), 'localhost/x:copied');
    expect(img.manifest.layers.map((l) => l.digest)).toEqual(layers.map((l) => sha(l)));
    const again = await runCli(['--cache', c5, 'cache', 'prune', '--grace', '0']);
    expect(again.stdout).toMatch(/^freed 0 B: 0 blobs/);
    expect((await runCli(['--cache', c5, 'cache', 'prune', '--grace', 'soon'])).stderr).toMatch(/--grace: expected seconds/);
  });
});
