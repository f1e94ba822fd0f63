// An OCI image layout made by the real umoci is imported with identical
// digests, and what coracle exports is unpacked by umoci again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, readFile, writeFile, mkdir, symlink, readdir, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import { runCli } from '../helpers/cli.js';
import { openStore } from '../../src/oci/store/layout-store.js';
import { readImage } from '../../src/oci/image.js';
import { readTar } from '../../src/tar/index.js';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.js';

const longName = `${'deep-directory-'.repeat(8)}/${'n'.repeat(110)}.conf`;

let dir: string;
let layout: string;
let cache: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-umoci-'));
  layout = join(dir, 'layout');
  cache = join(dir, 'cache');
  await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', `${layout}:base`]);
  const bundle = join(dir, 'bundle');
  await execa('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc', 'hostname'), 'umoci-made\n');
  await mkdir(join(rootfs, longName, '..'), { recursive: true });
  await writeFile(join(rootfs, longName), 'long name\n');
  await symlink('hostname', join(rootfs, 'etc', 'name-link'));
  await execa('umoci', ['repack', '--image', `${layout}:base`, bundle]);
  // A second layer through `umoci insert`, and a config change.
  const extra = join(dir, 'motd');
  await writeFile(extra, 'inserted by umoci\n');
  await execa('umoci', ['insert', '--image', `${layout}:base`, extra, '/etc/motd']);
  await execa('umoci', ['config', '--image', `${layout}:base`, '--config.cmd=/bin/sh', '--config.env=FROM=umoci']);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function umociIndex(path: string): Promise<ImageIndex> {
  return JSON.parse(await readFile(join(path, 'index.json'), 'utf8')) as ImageIndex;
}

describe('umoci layouts', () => {
  it('imports a umoci layout with the same digests', async () => {
    const index = await umociIndex(layout);
    const base = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'base')!;
    expect(base).toBeDefined();
    // umoci names images by tag only: coracle asks for the repository.
    const bare = await runCli(['--cache', cache, 'cache', 'import', layout]);
    expect(bare.exitCode).toBe(1);
    expect(bare.stderr).toMatch(/named only by the tag "base"; give a repository with --name/);
    expect(bare.stderr).not.toMatch(/\n\s+at /);

    const r = await runCli(['--cache', cache, 'cache', 'import', '--name', 'localhost/umoci', layout]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`imported localhost/umoci:base ${base.digest}`);

    const list = await runCli(['--cache', cache, 'images', '--json']);
    expect(list.exitCode, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{ reference: string; digest: string; platforms: string[] }>;
    expect(rows.find((x) => x.reference === 'localhost/umoci:base')?.digest).toBe(base.digest);

    // Every blob the umoci manifest names is in our store, byte for byte.
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', base.digest.slice(7)), 'utf8')) as ImageManifest;
    expect(manifest.layers).toHaveLength(2);
    const store = await openStore(cache);
    for (const d of [manifest.config, ...manifest.layers]) {
      expect((await store.readBlob(d.digest)).equals(await readFile(join(layout, 'blobs', 'sha256', d.digest.slice(7))))).toBe(true);
    }
    const img = await readImage(store, 'localhost/umoci:base');
    expect(img.config.config?.Env).toContain('FROM=umoci');
    expect(img.manifest.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    // The layer content is what we put in (read with our tar reader through gunzip).
    const names: string[] = [];
    for await (const e of readTar(store.openBlob(manifest.layers[0]!.digest).pipe(createGunzip()))) names.push(e.path.replace(/^\.?\//, ''));
    expect(names).toContain(longName);
    expect(names).toContain('etc/name-link');
  });

  it('imports the same layout from a tar made by GNU tar', async () => {
    const tarFile = join(dir, 'layout.tar');
    await execa('tar', ['-cf', tarFile, '-C', layout, '.']);
    const cache2 = join(dir, 'cache-tar');
    const r = await runCli(['--cache', cache2, 'cache', 'import', '--name', 'localhost/umoci-tar', tarFile]);
    expect(r.exitCode, r.stderr).toBe(0);
    const base = (await umociIndex(layout)).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'base')!;
    expect(r.stdout).toContain(`imported localhost/umoci-tar:base ${base.digest}`);
  });

  it('umoci unpacks what coracle exports', async () => {
    const out = join(dir, 'exported');
    const e = await runCli(['--cache', cache, 'cache', 'export', 'localhost/umoci:base', out]);
    expect(e.exitCode, e.stderr).toBe(0);
    expect(e.stdout).toContain(`(oci:${out}:base)`);
    const bundle = join(dir, 'bundle2');
    await execa('umoci', ['unpack', '--rootless', '--image', `${out}:base`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'hostname'), 'utf8')).toBe('umoci-made\n');
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'motd'), 'utf8')).toBe('inserted by umoci\n');
    expect(await readFile(join(bundle, 'rootfs', longName), 'utf8')).toBe('long name\n');
    expect(await readlink(join(bundle, 'rootfs', 'etc', 'name-link'))).toBe('hostname');
    const stat = await execa('umoci', ['stat', '--image', `${out}:base`, '--json']);
    expect(JSON.parse(stat.stdout).history).toBeDefined();
  });

  it('refuses a umoci layout with a corrupted layer and stores no ref', async () => {
    const bad = join(dir, 'bad-layout');
    await execa('cp', ['-a', layout, bad]);
    const base = (await umociIndex(bad)).manifests[0]!;
    const manifest = JSON.parse(await readFile(join(bad, 'blobs', 'sha256', base.digest.slice(7)), 'utf8')) as ImageManifest;
    const layerFile = join(bad, 'blobs', 'sha256', manifest.layers[1]!.digest.slice(7));
    const bytes = await readFile(layerFile);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(layerFile, bytes);
    const cache3 = join(dir, 'cache-bad');
    const r = await runCli(['--cache', cache3, 'cache', 'import', '--name', 'localhost/bad', bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^coracle: .*bad-layout: image 1 \(localhost\/bad:base\): layer 2: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/);
    const list = await runCli(['--cache', cache3, 'images', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect(await readdir(join(cache3, 'blobs', 'sha256'))).not.toContain(manifest.layers[1]!.digest.slice(7));
  });
});
