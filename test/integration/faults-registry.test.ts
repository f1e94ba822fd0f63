// Faults: every failure is one line on stderr naming the registry/repository
// and the cause, a non-zero exit, no stack trace, and nothing half-stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dockerConfigFor, freePort, skopeoCopy, startRegistry, type DockerConfig, type TestRegistry } from '../helpers/registry.js';
import { startFaultServer, oneLineError, type FaultServer } from '../helpers/fault-server.js';
import { corruptBlobsIn, listFiles, makeImageLayout, readLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';

const tmp: string[] = [];
const newDir = async (p = 'coracle-cache-'): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), p));
  tmp.push(d);
  return d;
};
/** An empty DOCKER_CONFIG and user config, so the developer's own never leak in. */
let isolated: Record<string, string>;

let img: TempLayout<BuiltImage>;
beforeAll(async () => {
  img = await makeImageLayout({ layers: [120_000, { files: { 'etc/x': 'x\n' } }] }, 'v1');
  const d = await newDir('coracle-home-');
  isolated = { DOCKER_CONFIG: d, XDG_CONFIG_HOME: d };
});
afterAll(async () => {
  await img?.cleanup();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

/** The store holds no ref for `ref` and none of the given blobs; every blob present is intact. */
async function expectNothingStored(cache: string, ref: string, blobs: string[]): Promise<void> {
  const view = await readLayout(cache).catch(() => undefined);
  if (view) {
    expect(view.find(ref), `ref ${ref} in store`).toBeUndefined();
    for (const b of blobs) expect(view.blobs.has(b), `blob ${b} in store`).toBe(false);
  }
  expect(await corruptBlobsIn(cache).catch(() => [])).toEqual([]);
}

describe('faults from a misbehaving registry', () => {
  let fs: FaultServer;
  afterAll(async () => {
    await fs?.stop();
  });

  it('a blob whose bytes do not match its digest is refused and nothing is stored', async () => {
    const bad = img.built.layerDigests[0];
    fs = await startFaultServer({ repos: { 'faults/corrupt': img.dir }, corruptBlobs: [bad] });
    const cache = await newDir();
    const ref = `${fs.host}/faults/corrupt:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(fs.host);
    expect(line).toContain('faults/corrupt');
    expect(line).toMatch(/digest/i);
    expect(line).toContain(bad);
    await expectNothingStored(cache, ref, [bad]);
    // nothing half-written lingers in the blob folder either (temporary names included)
    const files = await listFiles(cache);
    expect(files.filter((f) => f.includes(bad.slice(7)))).toEqual([]);
    expect(files.filter((f) => !(f === 'oci-layout' || f === 'index.json' || /^blobs\/sha256\/[0-9a-f]{64}$/.test(f)))).toEqual([]);
    // the corrupt blob was actually served (the test exercised the digest check)
    expect(fs.requests.some((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${bad}`) && q.status === 200)).toBe(true);
    await fs.stop();
  });

  for (const by of ['tag', 'digest'] as const) {
    it(`a manifest whose bytes do not match its digest (pulled by ${by}) is refused`, async () => {
      fs = await startFaultServer({ repos: { 'faults/badmanifest': img.dir }, corruptManifests: [img.built.manifestDigest] });
      const cache = await newDir();
      const ref = by === 'tag' ? `${fs.host}/faults/badmanifest:v1` : `${fs.host}/faults/badmanifest@${img.built.manifestDigest}`;
      const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated });
      expect(r.exitCode).not.toBe(0);
      const line = oneLineError(r.stderr);
      expect(line).toContain(fs.host);
      expect(line).toContain('faults/badmanifest');
      // the cause: the content does not hash to the digest
      expect(line).toMatch(/digest|mismatch|hashes to/i);
      expect(line).toContain(img.built.manifestDigest);
      await expectNothingStored(cache, ref, [img.built.manifestDigest, ...img.built.layerDigests]);
      await fs.stop();
    });
  }

  it('500s, 503s and 429 before success: retried, the pull succeeds', async () => {
    fs = await startFaultServer({
      repos: { 'faults/flaky': img.dir },
      failures: [
        { match: /^GET \/v2\/faults\/flaky\/manifests\//, times: 2, status: 503 },
        { match: new RegExp(`^GET /v2/faults/flaky/blobs/${img.built.layerDigests[0]}`), times: 2, status: 500 },
        { match: new RegExp(`^GET /v2/faults/flaky/blobs/${img.built.configDigest}`), times: 1, status: 429, headers: { 'Retry-After': '1' } },
      ],
    });
    const cache = await newDir();
    const ref = `${fs.host}/faults/flaky:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated });
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.exitCode, r.stderr).toBe(0);
    const view = await readLayout(cache);
    expect(view.find(ref)?.digest).toBe(img.built.manifestDigest);
    for (const l of img.built.layerDigests) expect(view.blobs.has(l)).toBe(true);
    expect(await corruptBlobsIn(cache)).toEqual([]);
    const failed = fs.requests.filter((q) => q.status >= 429);
    expect(failed.length).toBe(5);
    await fs.stop();
  });

  it('a connection lost in the middle of a blob: retried, the blob stored whole', async () => {
    const layer = img.built.layerDigests[0];
    fs = await startFaultServer({
      repos: { 'faults/reset': img.dir },
      failures: [{ match: new RegExp(`^GET /v2/faults/reset/blobs/${layer}`), times: 1, action: 'reset' }],
    });
    const cache = await newDir();
    const ref = `${fs.host}/faults/reset:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated });
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.exitCode, r.stderr).toBe(0);
    // the cut really happened, then a second GET of that blob asked for the rest
    const gets = fs.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${layer}`));
    expect(gets.map((q) => [q.status, q.cut?.action, q.range])).toEqual([
      [200, 'reset', undefined],
      [206, undefined, `bytes=${gets[0]!.cut!.after}-`],
    ]);
    const view = await readLayout(cache);
    expect(view.find(ref)?.digest).toBe(img.built.manifestDigest);
    expect(view.blobs.has(layer)).toBe(true);
    expect(await corruptBlobsIn(cache)).toEqual([]);
    await fs.stop();
  });

  it('a registry that keeps answering 500 fails with one line naming registry, repository and status', async () => {
    fs = await startFaultServer({
      repos: { 'faults/broken': img.dir },
      failures: [{ match: /^(GET|HEAD) \/v2\/faults\/broken\/manifests\//, times: Infinity, status: 500 }],
    });
    const cache = await newDir();
    const ref = `${fs.host}/faults/broken:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated, timeout: 180_000 });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(fs.host);
    expect(line).toContain('faults/broken');
    expect(line).toMatch(/500/);
    // it retried before giving up
    expect(fs.requests.filter((q) => q.status === 500).length).toBeGreaterThan(1);
    await expectNothingStored(cache, ref, img.built.layerDigests);
    await fs.stop();
  });

  it('push: a registry that refuses the manifest (500 every time) fails in one line', async () => {
    fs = await startFaultServer({
      repos: { 'faults/source': img.dir },
      failures: [{ match: /^PUT \/v2\/faults\/dest\/manifests\//, times: Infinity, status: 500 }],
    });
    const cache = await newDir();
    const src = `${fs.host}/faults/source:v1`;
    expect((await runCli(['--cache', cache, 'pull', src], { env: isolated })).exitCode).toBe(0);
    const r = await runCli(['--cache', cache, 'push', src, `${fs.host}/faults/dest:v1`], { env: isolated, timeout: 180_000 });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(fs.host);
    expect(line).toContain('faults/dest');
    expect(line).toMatch(/500/);
    // the blobs went up first (the failure is the manifest's)
    expect(fs.requests.some((q) => q.method === 'PUT' && q.path.startsWith('/v2/faults/dest/blobs/uploads/') && q.status === 201)).toBe(true);
    await fs.stop();
  });

  it('Basic auth required and no credentials: 401 in one line', async () => {
    fs = await startFaultServer({ repos: { 'faults/private': img.dir }, basicAuth: { username: 'u', password: 'p' } });
    const cache = await newDir();
    const ref = `${fs.host}/faults/private:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(fs.host);
    expect(line).toContain('faults/private');
    expect(line).toMatch(/401|unauthori[sz]ed|authentication required|credentials/i);
    await expectNothingStored(cache, ref, img.built.layerDigests);
    await fs.stop();
  });
});

describe('faults from the real registry', () => {
  let anon: TestRegistry;
  let basic: TestRegistry;
  let token: TestRegistry;
  let empty: DockerConfig;
  beforeAll(async () => {
    [anon, basic, token] = await Promise.all([startRegistry({ auth: 'none' }), startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${anon.host}/faults/app:v1`);
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${basic.host}/faults/app:v1`, { destCreds: basic.creds() });
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${token.host}/faults/app:v1`, { destCreds: token.creds() });
    empty = await dockerConfigFor(anon, 'empty');
  });
  afterAll(async () => {
    await Promise.all([anon?.stop(), basic?.stop(), token?.stop(), empty?.cleanup()]);
  });

  it('unknown manifest (404 MANIFEST_UNKNOWN): one line naming repository and tag', async () => {
    const cache = await newDir();
    const ref = `${anon.host}/faults/app:nosuchtag`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: { ...isolated, ...empty.env } });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(anon.host);
    expect(line).toContain('faults/app');
    expect(line).toContain('nosuchtag');
    expect(line).toMatch(/manifest unknown|not found|404/i);
    await expectNothingStored(cache, ref, []);
  });

  it('unknown repository: one line naming it', async () => {
    const cache = await newDir();
    const r = await runCli(['--cache', cache, 'pull', `${anon.host}/faults/nothere:v1`], { env: { ...isolated, ...empty.env } });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain('faults/nothere');
    expect(line).toMatch(/unknown|not found|404/i);
  });

  for (const which of ['htpasswd', 'token'] as const) {
    it(`401 without credentials (${which}): one line naming the registry`, async () => {
      const reg = which === 'htpasswd' ? basic : token;
      const cache = await newDir();
      const ref = `${reg.host}/faults/app:v1`;
      const r = await runCli(['--cache', cache, 'pull', ref], { env: { ...isolated, ...empty.env } });
      expect(r.exitCode).not.toBe(0);
      const line = oneLineError(r.stderr);
      expect(line).toContain(reg.host);
      expect(line).toContain('faults/app');
      expect(line).toMatch(/401|unauthori[sz]ed|authentication|credentials|denied/i);
      await expectNothingStored(cache, ref, img.built.layerDigests);
    });
  }

  describe('a token server that accepts and never answers', () => {
    let creds: DockerConfig;
    beforeAll(async () => {
      creds = await dockerConfigFor(token, 'auths');
    });
    afterAll(async () => {
      token.tokenServer!.stall(0);
      await creds?.cleanup();
    });
    // A bound of 1 s per token request here (CORACLE_REGISTRY_IDLE_TIMEOUT; 30 s by default).
    const env = () => ({ ...isolated, ...creds.env, CORACLE_REGISTRY_IDLE_TIMEOUT: '1' });

    it('always: the pull fails in one line naming the realm, in bounded time, nothing stored', async () => {
      const ts = token.tokenServer!;
      ts.stall(Infinity);
      const before = ts.requests.length;
      const cache = await newDir();
      const ref = `${token.host}/faults/app:v1`;
      const t0 = Date.now();
      const r = await runCli(['--cache', cache, 'pull', ref], { env: env(), timeout: 120_000 });
      const took = Date.now() - t0;
      ts.stall(0);
      expect(r.exitCode).not.toBe(0);
      const line = oneLineError(r.stderr);
      expect(line).toContain(`token server (realm ${ts.realm})`);
      expect(line).toContain('stopped sending (no data for 1 s)');
      expect(line).toContain(token.host);
      // each attempt held for the 1 s bound, then tried again (3 retries), then given up
      const held = ts.requests.slice(before);
      expect(held.length).toBe(4);
      expect(held.every((q) => q.status === 0)).toBe(true);
      expect(took).toBeLessThan(30_000);
      await expectNothingStored(cache, ref, img.built.layerDigests);
    });

    it('once: the token request is made again and the pull succeeds', async () => {
      const ts = token.tokenServer!;
      ts.stall(1);
      const before = ts.requests.length;
      const cache = await newDir();
      const ref = `${token.host}/faults/app:v1`;
      const r = await runCli(['--cache', cache, 'pull', ref], { env: env(), timeout: 120_000 });
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(ts.requests.slice(before).map((q) => q.status).slice(0, 2)).toEqual([0, 200]);
      expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
      expect(await corruptBlobsIn(cache)).toEqual([]);
    });
  });

  it('push without credentials is refused in one line and the registry gains nothing', async () => {
    const cache = await newDir();
    const ref = `${anon.host}/faults/app:v1`;
    expect((await runCli(['--cache', cache, 'pull', ref], { env: { ...isolated, ...empty.env } })).exitCode).toBe(0);
    const dest = `${basic.host}/faults/unauth:v1`;
    const r = await runCli(['--cache', cache, 'push', ref, dest], { env: { ...isolated, ...empty.env } });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(basic.host);
    expect(line).toContain('faults/unauth');
    expect(line).toMatch(/401|unauthori[sz]ed|authentication|credentials|denied/i);
    const res = await fetch(`${basic.url}/v2/faults/unauth/manifests/v1`, {
      headers: { Authorization: 'Basic ' + Buffer.from(basic.creds()!).toString('base64'), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(404);
  });

  it('registry down (closed port): one line naming the registry, connection refused', async () => {
    const port = await freePort();
    const cache = await newDir();
    const ref = `127.0.0.1:${port}/faults/app:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated, timeout: 180_000 });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(`127.0.0.1:${port}`);
    expect(line).toContain('faults/app');
    expect(line).toMatch(/connection refused|ECONNREFUSED|cannot connect|unreachable/i);
    await expectNothingStored(cache, ref, []);
  });

  it('unknown host (nosuch.invalid): one line naming the host', async () => {
    const cache = await newDir();
    const ref = 'nosuch.invalid/faults/app:v1';
    const r = await runCli(['--cache', cache, 'pull', ref], { env: isolated, timeout: 180_000 });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain('nosuch.invalid');
    expect(line).toContain('faults/app');
    expect(line).toMatch(/unknown host|not found|ENOTFOUND|resolve|lookup/i);
    await expectNothingStored(cache, ref, []);
  });

  it('a malformed reference is refused in one line before any network use', async () => {
    const cache = await newDir();
    const r = await runCli(['--cache', cache, 'pull', 'UPPER/Case::bad'], { env: isolated });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain('UPPER/Case::bad');
  });
});
