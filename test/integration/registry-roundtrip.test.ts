// pull / inspect / push round trips against Debian's docker-registry in its
// three auth modes: anonymous, htpasswd Basic, token (our token server).
// Images are put there by skopeo, read back by skopeo: coracle is checked
// against the real registry and a real peer, never against itself alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import {
  credentialHelperCalls,
  dockerConfigFor,
  skopeoCopy,
  skopeoInspectRaw,
  startRegistry,
  type DockerConfig,
  type RegistryAuth,
  type TestRegistry,
} from '../helpers/registry.js';
import { corruptBlobsIn, makeImageLayout, readLayout, sha256, type BuiltImage, type TempLayout } from '../helpers/images.js';
import { oneLineError } from '../helpers/fault-server.js';

const modes: RegistryAuth[] = ['none', 'htpasswd', 'token'];

describe.each(modes)('registry round trip, auth=%s', (auth) => {
  let reg: TestRegistry;
  let cfg: DockerConfig;
  let img: TempLayout<BuiltImage>;
  const tmp: string[] = [];
  const newDir = async (p: string): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), p));
    tmp.push(d);
    return d;
  };

  beforeAll(async () => {
    reg = await startRegistry({ auth });
    cfg = await dockerConfigFor(reg, auth === 'none' ? 'empty' : 'auths');
    img = await makeImageLayout({ layers: [300_000, { files: { 'etc/motd': `hello from ${auth}\n` } }] }, 'v1');
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${reg.host}/rt/app:v1`, { destCreds: reg.creds() });
  });
  afterAll(async () => {
    await reg?.stop();
    await cfg?.cleanup();
    await img?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  it('pull stores manifest, config and layers under the canonical ref, all verified', async () => {
    const cache = await newDir('coracle-cache-');
    const ref = `${reg.host}/rt/app:v1`;
    const tokensBefore = reg.tokenServer?.requests.length ?? 0;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: cfg.env });
    expect(r.stderr + r.stdout, 'pull output').not.toMatch(/^\s+at /m);
    expect(r.exitCode, r.stderr).toBe(0);
    const store = await readLayout(cache);
    expect(store.find(ref)?.digest).toBe(img.built.manifestDigest);
    expect(store.blobs.has(img.built.manifestDigest)).toBe(true);
    expect(store.blobs.has(img.built.configDigest)).toBe(true);
    for (const l of img.built.layerDigests) expect(store.blobs.has(l), l).toBe(true);
    expect(await corruptBlobsIn(cache)).toEqual([]);
    // the registry served the same manifest bytes skopeo sees
    const raw = await skopeoInspectRaw(`docker://${ref}`, reg.creds());
    expect(sha256(raw)).toBe(img.built.manifestDigest);
    if (auth === 'token') {
      const tr = reg.tokenServer!.requests;
      expect(tr.some((q) => q.authenticated && q.status === 200 && q.scopes.includes('repository:rt/app:pull'))).toBe(true);
      // tokens are cached: a pull (manifest, config, two layers) asks for a token once (twice at most), not per request
      expect(tr.length - tokensBefore).toBeGreaterThanOrEqual(1);
      expect(tr.length - tokensBefore).toBeLessThanOrEqual(2);
    }
  });

  // store behaviour, independent of auth: once
  it.runIf(auth === 'none')('a second pull into the same store succeeds and leaves it intact', async () => {
    const cache = await newDir('coracle-cache-');
    const ref = `${reg.host}/rt/app:v1`;
    expect((await runCli(['--cache', cache, 'pull', ref], { env: cfg.env })).exitCode).toBe(0);
    const r = await runCli(['--cache', cache, 'pull', ref], { env: cfg.env });
    expect(r.exitCode, r.stderr).toBe(0);
    const store = await readLayout(cache);
    expect(store.find(ref)?.digest).toBe(img.built.manifestDigest);
    expect(store.index.manifests.filter((m) => m.digest === img.built.manifestDigest)).toHaveLength(1);
    expect(await corruptBlobsIn(cache)).toEqual([]);
  });

  it.runIf(auth === 'none')('without a terminal, progress is plain lines per blob (no redraws)', async () => {
    const cache = await newDir('coracle-cache-');
    const r = await runCli(['--cache', cache, 'pull', `${reg.host}/rt/app:v1`], { env: { ...cfg.env, CI: '1' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\r|\x1b\[/);
    for (const l of img.built.layerDigests) {
      const short = l.slice(7, 15); // a short digest names the blob
      expect(r.stderr.split('\n').filter((line) => line.includes(short)).length, `progress lines for ${short}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('inspect prints the manifest and config as JSON', async () => {
    const cache = await newDir('coracle-cache-');
    const r = await runCli(['--cache', cache, 'inspect', `${reg.host}/rt/app:v1`], { env: cfg.env });
    expect(r.exitCode, r.stderr).toBe(0);
    const parsed: unknown = JSON.parse(r.stdout);
    const text = JSON.stringify(parsed);
    // manifest: its config and layer descriptors; config: the diff ids and the label we set
    expect(text).toContain(img.built.configDigest);
    for (const l of img.built.layerDigests) expect(text).toContain(l);
    for (const d of img.built.diffIds) expect(text).toContain(d);
    expect(text).toContain(img.built.config.config!.Labels!['org.coracle.test.nonce']);
  });

  it('push copies a stored image to another repository; skopeo reads the same digests', async () => {
    const cache = await newDir('coracle-cache-');
    const src = `${reg.host}/rt/app:v1`;
    const dest = `${reg.host}/rt/copy:v2`;
    expect((await runCli(['--cache', cache, 'pull', src], { env: cfg.env })).exitCode).toBe(0);
    const r = await runCli(['--cache', cache, 'push', src, dest], { env: cfg.env });
    expect(r.stderr, 'push stderr').not.toMatch(/^\s+at /m);
    expect(r.exitCode, r.stderr).toBe(0);
    const raw = await skopeoInspectRaw(`docker://${dest}`, reg.creds());
    expect(sha256(raw)).toBe(img.built.manifestDigest);
    const out = await newDir('coracle-skopeo-out-');
    await skopeoCopy(`docker://${dest}`, `oci:${out}:copy`, { srcCreds: reg.creds() });
    const view = await readLayout(out);
    expect(view.find('copy')?.digest).toBe(img.built.manifestDigest);
    for (const l of img.built.layerDigests) expect(view.blobs.has(l), l).toBe(true);
    if (auth === 'token') {
      const tr = reg.tokenServer!.requests;
      expect(tr.some((q) => q.authenticated && q.status === 200 && q.scopes.some((s) => /^repository:rt\/copy:(.*push.*)$/.test(s)))).toBe(true);
    }
  });

  it('push of a newly built image (imported from an OCI layout) uploads its blobs', async () => {
    const cache = await newDir('coracle-cache-');
    const fresh = await makeImageLayout({ layers: [200_000, 50_000] }, `${reg.host}/rt/fresh:1`);
    tmp.push(fresh.dir);
    const imp = await runCli(['--cache', cache, 'cache', 'import', fresh.dir]);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const r = await runCli(['--cache', cache, 'push', `${reg.host}/rt/fresh:1`], { env: cfg.env });
    expect(r.exitCode, r.stderr).toBe(0);
    const raw = await skopeoInspectRaw(`docker://${reg.host}/rt/fresh:1`, reg.creds());
    expect(sha256(raw)).toBe(fresh.built.manifestDigest);
    // the registry now has every layer: skopeo copies the image out completely
    const out = await newDir('coracle-skopeo-out-');
    await skopeoCopy(`docker://${reg.host}/rt/fresh:1`, `oci:${out}:x`, { srcCreds: reg.creds() });
    const view = await readLayout(out);
    for (const l of fresh.built.layerDigests) expect(view.blobs.has(l), l).toBe(true);
    expect(await corruptBlobsIn(out)).toEqual([]);
  });

  // token mode: several repositories, several scopes
  it.runIf(auth === 'token')('pull by digest, and several references in one command', async () => {
    const cache = await newDir('coracle-cache-');
    const byDigest = `${reg.host}/rt/app@${img.built.manifestDigest}`;
    const second = await makeImageLayout({ layers: [7_000] }, 'v9');
    tmp.push(second.dir);
    await skopeoCopy(`oci:${second.dir}:v9`, `docker://${reg.host}/rt/other:v9`, { destCreds: reg.creds() });
    const r = await runCli(['--cache', cache, 'pull', byDigest, `${reg.host}/rt/other:v9`], { env: cfg.env });
    expect(r.exitCode, r.stderr).toBe(0);
    const store = await readLayout(cache);
    expect(store.find(byDigest)?.digest).toBe(img.built.manifestDigest);
    expect(store.find(`${reg.host}/rt/other:v9`)?.digest).toBe(second.built.manifestDigest);
    for (const l of [...img.built.layerDigests, ...second.built.layerDigests]) expect(store.blobs.has(l)).toBe(true);
  });

  // once, in the mode with the most per-process state (tokens)
  it.runIf(auth === 'token')('several coracle processes pulling into one store at once leave it whole', async () => {
    const cache = await newDir('coracle-cache-');
    const refs: Array<{ ref: string; digest: string; layers: string[] }> = [];
    for (const n of [1, 2, 3]) {
      const l = await makeImageLayout({ layers: [60_000, { files: { 'shared/file': 'same in every image\n' } }] }, `c${n}`);
      tmp.push(l.dir);
      const ref = `${reg.host}/rt/concurrent${n}:1`;
      await skopeoCopy(`oci:${l.dir}:c${n}`, `docker://${ref}`, { destCreds: reg.creds() });
      refs.push({ ref, digest: l.built.manifestDigest, layers: l.built.layerDigests });
    }
    const results = await Promise.all(refs.map((x) => runCli(['--cache', cache, 'pull', x.ref], { env: cfg.env })));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const store = await readLayout(cache);
    for (const x of refs) {
      expect(store.find(x.ref)?.digest, x.ref).toBe(x.digest);
      for (const l of x.layers) expect(store.blobs.has(l)).toBe(true);
    }
    expect(await corruptBlobsIn(cache)).toEqual([]);
    const images = await runCli(['--cache', cache, 'images']);
    expect(images.exitCode, images.stderr).toBe(0);
    for (const n of [1, 2, 3]) expect(images.stdout).toContain(`rt/concurrent${n}`);
  });

  it.runIf(auth !== 'htpasswd')('localhost:PORT is plain http by default too', async () => {
    const cache = await newDir('coracle-cache-');
    const ref = `localhost:${reg.host.split(':')[1]}/rt/app:v1`;
    const local = await dockerConfigFor({ host: ref.split('/')[0]!, username: reg.username, password: reg.password }, auth === 'none' ? 'empty' : 'auths');
    tmp.push(local.dir);
    const r = await runCli(['--cache', cache, 'pull', ref], { env: local.env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
  });

  if (auth !== 'none') {
    it('wrong password: one-line error naming the registry, nothing stored', async () => {
      const cache = await newDir('coracle-cache-');
      const bad = await dockerConfigFor({ host: reg.host, username: reg.username, password: 'wrong-password' }, 'auths');
      try {
        const r = await runCli(['--cache', cache, 'pull', `${reg.host}/rt/app:v1`], { env: bad.env });
        expect(r.exitCode).not.toBe(0);
        const line = oneLineError(r.stderr);
        expect(line).toContain(reg.host);
        expect(line).toMatch(/401|unauthori[sz]ed|authentication|credentials|denied/i);
        const store = await readLayout(cache).catch(() => undefined);
        expect(store?.find(`${reg.host}/rt/app:v1`)).toBeUndefined();
      } finally {
        await bad.cleanup();
      }
    });
  }
});

describe('credentials through docker-credential helpers', () => {
  let reg: TestRegistry;
  let img: TempLayout<BuiltImage>;
  const tmp: string[] = [];
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    img = await makeImageLayout({ layers: [10_000] }, 'v1');
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${reg.host}/helper/app:v1`, { destCreds: reg.creds() });
  });
  afterAll(async () => {
    await reg?.stop();
    await img?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  for (const how of ['credHelpers', 'credsStore'] as const) {
    it(`${how}: pull and push use the helper's credentials`, async () => {
      const cfg = await dockerConfigFor(reg, how);
      const cache = await mkdtemp(join(tmpdir(), 'coracle-cache-'));
      tmp.push(cache, cfg.dir);
      const r = await runCli(['--cache', cache, 'pull', `${reg.host}/helper/app:v1`], { env: cfg.env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await readLayout(cache)).find(`${reg.host}/helper/app:v1`)?.digest).toBe(img.built.manifestDigest);
      const calls = credentialHelperCalls(cfg);
      expect(calls.some((c) => c.startsWith('get ') && c.includes(reg.host)), calls.join('\n')).toBe(true);
      const p = await runCli(['--cache', cache, 'push', `${reg.host}/helper/app:v1`, `${reg.host}/helper/${how.toLowerCase()}:v1`], { env: cfg.env });
      expect(p.exitCode, p.stderr).toBe(0);
      expect(sha256(await skopeoInspectRaw(`docker://${reg.host}/helper/${how.toLowerCase()}:v1`, reg.creds()))).toBe(img.built.manifestDigest);
    });
  }
});
