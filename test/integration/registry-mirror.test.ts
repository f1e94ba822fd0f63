// Registry mirrors: an air-gapped user serves Docker Hub names from their own
// registry. `--mirror docker.io=URL` (or the user config file) makes
// `coracle pull alpine:3` fetch library/alpine:3 from the local registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dockerConfigFor, skopeoCopy, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { oneLineError } from '../helpers/fault-server.js';
import { corruptBlobsIn, makeImageLayout, readLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';

describe('registry mirrors', () => {
  let reg: TestRegistry;
  let img: TempLayout<BuiltImage>;
  const tmp: string[] = [];
  const newDir = async (p: string): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), p));
    tmp.push(d);
    return d;
  };

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    img = await makeImageLayout({ layers: [20_000, { files: { 'etc/alpine-release': '3.99.0\n' } }] }, '3');
    await skopeoCopy(`oci:${img.dir}:3`, `docker://${reg.host}/library/alpine:3`);
  });
  afterAll(async () => {
    await reg?.stop();
    await img?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  const manifestGets = (): number =>
    reg.accessLog().filter((e) => (e.method === 'GET' || e.method === 'HEAD') && e.path === '/v2/library/alpine/manifests/3').length;

  it('--mirror docker.io=URL: `pull alpine:3` comes from the mirror, stored as docker.io/library/alpine:3', async () => {
    const cache = await newDir('coracle-cache-');
    const cfgHome = await newDir('coracle-xdg-');
    const before = manifestGets();
    const r = await runCli(['--cache', cache, 'pull', '--mirror', `docker.io=${reg.url}`, 'alpine:3'], {
      env: { XDG_CONFIG_HOME: cfgHome, DOCKER_CONFIG: cfgHome },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(manifestGets()).toBeGreaterThan(before);
    const store = await readLayout(cache);
    expect(store.find('docker.io/library/alpine:3')?.digest).toBe(img.built.manifestDigest);
    for (const l of img.built.layerDigests) expect(store.blobs.has(l)).toBe(true);
    expect(await corruptBlobsIn(cache)).toEqual([]);
  });

  it('mirrors from the user config file ($CORACLE_CONFIG)', async () => {
    const cache = await newDir('coracle-cache-');
    const d = await newDir('coracle-cfg-');
    const cfgFile = join(d, 'config.yml');
    await writeFile(cfgFile, `mirrors:\n  docker.io:\n    - ${reg.url}\n`);
    const before = manifestGets();
    const r = await runCli(['--cache', cache, 'pull', 'docker.io/library/alpine:3'], { env: { CORACLE_CONFIG: cfgFile, DOCKER_CONFIG: d } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(manifestGets()).toBeGreaterThan(before);
    expect((await readLayout(cache)).find('docker.io/library/alpine:3')?.digest).toBe(img.built.manifestDigest);
  });

  it('a mirror that lacks the image, with Docker Hub unreachable, fails with a one-line error', async () => {
    const cache = await newDir('coracle-cache-');
    const d = await newDir('coracle-cfg-');
    const r = await runCli(['--cache', cache, 'pull', '--mirror', `docker.io=${reg.url}`, 'busybox:nosuchtag'], {
      env: { XDG_CONFIG_HOME: d, DOCKER_CONFIG: d },
      timeout: 120_000,
    });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    // names the image, the mirror that was tried and why it did not serve it
    expect(line).toMatch(/busybox:nosuchtag/);
    expect(line).toContain(reg.host);
    expect(line).toMatch(/manifest unknown|not found|404/i);
    expect((await readLayout(cache).catch(() => undefined))?.find('docker.io/library/busybox:nosuchtag')).toBeUndefined();
  });

  it('a mirror that needs credentials uses the ones filed under the mirror host', async () => {
    const priv = await startRegistry({ auth: 'htpasswd' });
    try {
      await skopeoCopy(`oci:${img.dir}:3`, `docker://${priv.host}/library/alpine:3`, { destCreds: priv.creds() });
      const cfg = await dockerConfigFor(priv, 'auths');
      tmp.push(cfg.dir);
      const cache = await newDir('coracle-cache-');
      const r = await runCli(['--cache', cache, 'pull', '--mirror', `docker.io=${priv.url}`, 'alpine:3'], {
        env: { ...cfg.env, XDG_CONFIG_HOME: cfg.dir },
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await readLayout(cache)).find('docker.io/library/alpine:3')?.digest).toBe(img.built.manifestDigest);
      expect(priv.accessLog().some((e) => e.method === 'GET' && e.path === '/v2/library/alpine/manifests/3' && e.status === 200)).toBe(true);
    } finally {
      await priv.stop();
    }
  });
});
