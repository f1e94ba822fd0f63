// Interop with skopeo, both ways: what skopeo pushes coracle pulls with
// identical digests (OCI and Docker schema 2 manifests); what coracle pushes
// skopeo copies back intact; what coracle exports (directory or tar) skopeo reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCli } from '../helpers/cli.js';
import { skopeoCopy, skopeoInspectConfig, skopeoInspectRaw, skopeoPolicyArgs, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { corruptBlobsIn, makeImageLayout, readLayout, sha256, type BuiltImage, type TempLayout } from '../helpers/images.js';
import type { ImageManifest } from '../../src/oci/types.js';

describe('interop with skopeo', () => {
  let reg: TestRegistry;
  let img: TempLayout<BuiltImage>;
  const tmp: string[] = [];
  const newDir = async (p = 'coracle-t-'): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), p));
    tmp.push(d);
    return d;
  };

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    img = await makeImageLayout({ layers: [150_000, { files: { 'usr/share/hello.txt': 'interop\n' } }, 3_000] }, 'v1');
  });
  afterAll(async () => {
    await reg?.stop();
    await img?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  for (const format of ['oci', 'v2s2'] as const) {
    it(`an image skopeo pushed (${format}) is pulled with identical manifest, config and layer digests`, async () => {
      const ref = `${reg.host}/interop/from-skopeo:${format}`;
      await skopeoCopy(`oci:${img.dir}:v1`, `docker://${ref}`, { extra: ['--format', format] });
      const raw = await skopeoInspectRaw(`docker://${ref}`);
      const manifest = JSON.parse(raw) as ImageManifest;
      const configRaw = await skopeoInspectConfig(`docker://${ref}`);
      if (format === 'v2s2') expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');

      const cache = await newDir('coracle-cache-');
      const r = await runCli(['--cache', cache, 'pull', ref]);
      expect(r.exitCode, r.stderr).toBe(0);
      const store = await readLayout(cache);
      const named = store.find(ref);
      expect(named?.digest).toBe(sha256(raw));
      expect(named?.mediaType).toBe(manifest.mediaType);
      expect((await store.readBlob(sha256(raw))).toString('utf8')).toBe(raw);
      expect(manifest.config.digest).toBe(sha256(configRaw));
      expect((await store.readBlob(manifest.config.digest)).toString('utf8')).toBe(configRaw);
      for (const l of manifest.layers) expect(store.blobs.has(l.digest), l.digest).toBe(true);
      // same layer bytes as the layout skopeo read from
      expect(manifest.layers.map((l) => l.digest)).toEqual(img.built.layerDigests);
      expect(await corruptBlobsIn(cache)).toEqual([]);
    });
  }

  it('an image coracle pushed is copied back by skopeo to an OCI layout that matches', async () => {
    const cache = await newDir('coracle-cache-');
    const name = `${reg.host}/interop/from-coracle:1`;
    const layout = await makeImageLayout({ layers: [80_000, 1_000] }, name);
    tmp.push(layout.dir);
    const imp = await runCli(['--cache', cache, 'cache', 'import', layout.dir]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const p = await runCli(['--cache', cache, 'push', name]);
    expect(p.exitCode, p.stderr).toBe(0);
    const out = await newDir('coracle-skopeo-out-');
    await skopeoCopy(`docker://${name}`, `oci:${out}:back`);
    const view = await readLayout(out);
    expect(view.find('back')?.digest).toBe(layout.built.manifestDigest);
    expect((await view.readBlob(layout.built.manifestDigest)).equals(layout.built.manifestBytes)).toBe(true);
    expect(view.blobs.has(layout.built.configDigest)).toBe(true);
    for (const l of layout.built.layerDigests) {
      expect((await view.readBlob(l)).equals(await readFile(join(layout.dir, 'blobs', 'sha256', l.slice(7))))).toBe(true);
    }
    expect(await corruptBlobsIn(out)).toEqual([]);
  });

  it('an image coracle exported as a directory is read by skopeo', async () => {
    const ref = `${reg.host}/interop/export:dir`;
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${ref}`);
    const cache = await newDir('coracle-cache-');
    expect((await runCli(['--cache', cache, 'pull', ref])).exitCode).toBe(0);
    const out = join(await newDir(), 'exported');
    const e = await runCli(['--cache', cache, 'cache', 'export', ref, out]);
    expect(e.exitCode, e.stderr).toBe(0);
    // skopeo picks the single image of the layout
    const raw = await skopeoInspectRaw(`oci:${out}`);
    expect(sha256(raw)).toBe(img.built.manifestDigest);
    // and copies it whole (skopeo verifies every blob digest as it reads)
    const copy = await newDir('coracle-skopeo-out-');
    await skopeoCopy(`oci:${out}`, `oci:${copy}:again`);
    const view = await readLayout(copy);
    for (const l of img.built.layerDigests) expect(view.blobs.has(l)).toBe(true);
    expect(await corruptBlobsIn(copy)).toEqual([]);
    // and pushes it to a registry, where the digests are unchanged
    await skopeoCopy(`oci:${out}`, `docker://${reg.host}/interop/re-pushed:1`);
    expect(sha256(await skopeoInspectRaw(`docker://${reg.host}/interop/re-pushed:1`))).toBe(img.built.manifestDigest);
  });

  it('an image coracle exported as a tar is read by skopeo (oci-archive)', async () => {
    const ref = `${reg.host}/interop/export:tar`;
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${ref}`);
    const cache = await newDir('coracle-cache-');
    expect((await runCli(['--cache', cache, 'pull', ref])).exitCode).toBe(0);
    const tarPath = join(await newDir(), 'image.tar');
    const e = await runCli(['--cache', cache, 'cache', 'export', ref, tarPath]);
    expect(e.exitCode, e.stderr).toBe(0);
    const listing = await execa('tar', ['-tf', tarPath]);
    expect(listing.stdout).toMatch(/(^|\n)(\.\/)?oci-layout(\n|$)/);
    expect(listing.stdout).toMatch(/(^|\n)(\.\/)?index\.json(\n|$)/);
    const r = await execa('skopeo', [...(await skopeoPolicyArgs()), 'inspect', '--raw', `oci-archive:${tarPath}`], { stripFinalNewline: false });
    expect(sha256(r.stdout)).toBe(img.built.manifestDigest);
    const copy = await newDir('coracle-skopeo-out-');
    await skopeoCopy(`oci-archive:${tarPath}`, `oci:${copy}:fromtar`);
    expect(await corruptBlobsIn(copy)).toEqual([]);
    expect((await readLayout(copy)).find('fromtar')?.digest).toBe(img.built.manifestDigest);
  });

  it('a skopeo-made OCI layout is imported, then pushed by coracle with unchanged digests', async () => {
    const src = `${reg.host}/interop/skopeo-layout:1`;
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${src}`);
    const layout = await newDir('coracle-skopeo-layout-');
    const name = `${reg.host}/interop/imported:7`;
    await skopeoCopy(`docker://${src}`, `oci:${layout}:${name}`);
    const cache = await newDir('coracle-cache-');
    const imp = await runCli(['--cache', cache, 'cache', 'import', layout]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect((await readLayout(cache)).find(name)?.digest).toBe(img.built.manifestDigest);
    const p = await runCli(['--cache', cache, 'push', name]);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(sha256(await skopeoInspectRaw(`docker://${name}`))).toBe(img.built.manifestDigest);
  });
});
