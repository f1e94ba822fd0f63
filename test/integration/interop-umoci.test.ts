// Interop with umoci: an OCI layout umoci made (init, new, insert, config)
// is imported into the store and pushed by coracle; skopeo sees the same
// digests in the registry; what coracle exports umoci can unpack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCli } from '../helpers/cli.js';
import { skopeoCopy, skopeoInspectRaw, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { corruptBlobsIn, readLayout, sha256 } from '../helpers/images.js';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.js';

describe('interop with umoci', () => {
  let reg: TestRegistry;
  let work: string;
  let layout: string;
  let name: string;
  let manifestDigest: string;
  const tmp: string[] = [];

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'coracle-umoci-'));
    tmp.push(work);
    layout = join(work, 'layout');
    name = `${reg.host}/umoci/hello:1.0`;
    await execa('umoci', ['init', '--layout', layout]);
    await execa('umoci', ['new', '--image', `${layout}:${name}`]);
    const src = join(work, 'src');
    await mkdir(join(src, 'etc'), { recursive: true });
    await writeFile(join(src, 'etc', 'greeting'), 'made by umoci\n');
    await execa('umoci', ['insert', '--rootless', '--image', `${layout}:${name}`, join(src, 'etc'), '/etc']);
    await execa('umoci', ['config', '--image', `${layout}:${name}`, '--config.cmd', '/bin/true', '--os', 'linux', '--architecture', 'amd64']);
    await execa('umoci', ['gc', '--layout', layout]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex;
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
    if (!entry) throw new Error(`umoci did not tag ${name}: ${JSON.stringify(index)}`);
    manifestDigest = entry.digest;
  });
  afterAll(async () => {
    await reg?.stop();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  it('a umoci layout is imported and pushed; the registry holds the same digests', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'coracle-cache-'));
    tmp.push(cache);
    const imp = await runCli(['--cache', cache, 'cache', 'import', layout]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const store = await readLayout(cache);
    expect(store.find(name)?.digest).toBe(manifestDigest);
    expect(await corruptBlobsIn(cache)).toEqual([]);
    const images = await runCli(['--cache', cache, 'images']);
    expect(images.exitCode, images.stderr).toBe(0);
    expect(images.stdout).toContain(`${reg.host}/umoci/hello`);
    expect(images.stdout).toContain('1.0');

    const p = await runCli(['--cache', cache, 'push', name]);
    expect(p.exitCode, p.stderr).toBe(0);
    const raw = await skopeoInspectRaw(`docker://${name}`);
    expect(sha256(raw)).toBe(manifestDigest);
    const manifest = JSON.parse(raw) as ImageManifest;
    const out = await mkdtemp(join(tmpdir(), 'coracle-skopeo-out-'));
    tmp.push(out);
    await skopeoCopy(`docker://${name}`, `oci:${out}:x`);
    const view = await readLayout(out);
    for (const l of manifest.layers) expect(view.blobs.has(l.digest)).toBe(true);
    expect(await corruptBlobsIn(out)).toEqual([]);
  });

  it('umoci unpacks what coracle exported, with the file umoci put in', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'coracle-cache-'));
    tmp.push(cache);
    expect((await runCli(['--cache', cache, 'cache', 'import', layout])).exitCode).toBe(0);
    const exported = join(work, 'exported');
    const e = await runCli(['--cache', cache, 'cache', 'export', name, exported]);
    expect(e.exitCode, e.stderr).toBe(0);
    const ls = await execa('umoci', ['ls', '--layout', exported]);
    const tags = ls.stdout.split('\n').filter(Boolean);
    expect(tags.length).toBe(1);
    const bundle = join(work, 'bundle');
    await execa('umoci', ['unpack', '--rootless', '--image', `${exported}:${tags[0]}`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'greeting'), 'utf8')).toBe('made by umoci\n');
  });
});
