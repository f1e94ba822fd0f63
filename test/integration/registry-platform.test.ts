// A multi-platform index, made by hand in an OCI layout and pushed with
// `skopeo copy --all`: coracle selects the platform asked for, the host's by
// default, and names what is there when the platform is missing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { skopeoCopy, skopeoInspectRaw, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { corruptBlobsIn, hostPlatform, makeIndexLayout, readLayout, sha256, type BuiltImage, type BuiltIndex, type TempLayout } from '../helpers/images.js';
import { oneLineError } from '../helpers/fault-server.js';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.js';

describe('multi-platform images', () => {
  let reg: TestRegistry;
  let idx: TempLayout<BuiltIndex>;
  let ref: string;
  const tmp: string[] = [];
  const cacheDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'coracle-cache-'));
    tmp.push(d);
    return d;
  };
  const image = (arch: string, variant?: string): BuiltImage => {
    const found = idx.built.images.find((i) => i.platform.architecture === arch && i.platform.variant === variant);
    if (!found) throw new Error(`no ${arch} ${variant ?? ''} in the test index`);
    return found;
  };
  /** Which of the index's images have all their layers in the store. */
  const storedImages = async (cache: string): Promise<string[]> => {
    const view = await readLayout(cache);
    return idx.built.images
      .filter((i) => i.layerDigests.every((l) => view.blobs.has(l)) && view.blobs.has(i.manifestDigest))
      .map((i) => [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/'));
  };

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    idx = await makeIndexLayout(
      [
        { os: 'linux', architecture: 'amd64', layers: [40_000] },
        { os: 'linux', architecture: 'arm64', variant: 'v8', layers: [41_000] },
        { os: 'linux', architecture: 'arm', variant: 'v7', layers: [42_000] },
      ],
      'multi',
    );
    ref = `${reg.host}/multi/app:1`;
    await skopeoCopy(`oci:${idx.dir}:multi`, `docker://${ref}`, { all: true });
    // the registry holds our index as made
    expect(sha256(await skopeoInspectRaw(`docker://${ref}`))).toBe(idx.built.indexDigest);
  });
  afterAll(async () => {
    await reg?.stop();
    await idx?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  it('--platform linux/arm64 selects the arm64 manifest and only its layers', async () => {
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', '--platform', 'linux/arm64', ref]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await storedImages(cache)).toEqual(['linux/arm64/v8']);
    const view = await readLayout(cache);
    const named = view.find(ref);
    expect(named, 'ref in store').toBeDefined();
    // the ref names the index or the selected manifest, nothing else
    expect([idx.built.indexDigest, image('arm64', 'v8').manifestDigest]).toContain(named!.digest);
    expect(await corruptBlobsIn(cache)).toEqual([]);
  });

  it('--platform linux/arm/v7 selects by variant', async () => {
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', '--platform', 'linux/arm/v7', ref]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await storedImages(cache)).toEqual(['linux/arm/v7']);
  });

  it('without --platform the host platform is selected', async () => {
    const host = hostPlatform();
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', ref]);
    expect(r.exitCode, r.stderr).toBe(0);
    const stored = await storedImages(cache);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(new RegExp(`^${host.os}/${host.architecture}(/|$)`));
  });

  it('--platform linux/s390x is a clear error listing the platforms there', async () => {
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', '--platform', 'linux/s390x', ref]);
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain('linux/s390x');
    expect(line).toContain('multi/app');
    expect(line).toContain('linux/amd64');
    expect(line).toContain('linux/arm64');
    expect(line).toContain('linux/arm/v7');
    const view = await readLayout(cache).catch(() => undefined);
    expect(view?.find(ref)).toBeUndefined();
  });

  it('a malformed --platform is refused', async () => {
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', '--platform', 'linux/arm64/v8/extra', ref]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).toMatch(/platform/i);
  });

  it('a Docker manifest list (skopeo --all --format v2s2): --platform linux/arm64 selects the arm64 entry', async () => {
    const listRef = `${reg.host}/multi/docker-list:1`;
    await skopeoCopy(`oci:${idx.dir}:multi`, `docker://${listRef}`, { all: true, extra: ['--format', 'v2s2'] });
    const list = JSON.parse(await skopeoInspectRaw(`docker://${listRef}`)) as ImageIndex;
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    const arm = list.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const armManifest = JSON.parse(await skopeoInspectRaw(`docker://${reg.host}/multi/docker-list@${arm.digest}`)) as ImageManifest;
    const cache = await cacheDir();
    const r = await runCli(['--cache', cache, 'pull', '--platform', 'linux/arm64', listRef]);
    expect(r.exitCode, r.stderr).toBe(0);
    const view = await readLayout(cache);
    expect(view.blobs.has(arm.digest)).toBe(true);
    expect(view.blobs.has(armManifest.config.digest)).toBe(true);
    for (const l of armManifest.layers) expect(view.blobs.has(l.digest)).toBe(true);
    // nothing of the other platforms
    for (const m of list.manifests.filter((x) => x !== arm)) expect(view.blobs.has(m.digest)).toBe(false);
    expect(await corruptBlobsIn(cache)).toEqual([]);
  });

  it('an index imported into the store is pushed whole: index and every platform, same digests', async () => {
    const cache = await cacheDir();
    const name = `${reg.host}/multi/pushed:2`;
    const layout = await makeIndexLayout(
      [
        { os: 'linux', architecture: 'amd64', layers: [30_000] },
        { os: 'linux', architecture: 'arm64', variant: 'v8', layers: [31_000, 500] },
      ],
      name,
    );
    tmp.push(layout.dir);
    const imp = await runCli(['--cache', cache, 'cache', 'import', layout.dir]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const p = await runCli(['--cache', cache, 'push', name]);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(sha256(await skopeoInspectRaw(`docker://${name}`))).toBe(layout.built.indexDigest);
    const out = await cacheDir();
    await skopeoCopy(`docker://${name}`, `oci:${out}:all`, { all: true });
    const view = await readLayout(out);
    expect(view.find('all')?.digest).toBe(layout.built.indexDigest);
    for (const i of layout.built.images) {
      expect(view.blobs.has(i.manifestDigest)).toBe(true);
      for (const l of i.layerDigests) expect(view.blobs.has(l)).toBe(true);
    }
    expect(await corruptBlobsIn(out)).toEqual([]);
  });
});
