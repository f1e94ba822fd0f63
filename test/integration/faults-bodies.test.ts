// Registry bodies that go wrong part-way: a manifest or blob body that stalls
// (the idle read timeout ends it: CORACLE_REGISTRY_IDLE_TIMEOUT=1 here, 30 s
// by default) or ends cleanly before its Content-Length. Once: retried, the
// pull succeeds. Always: one line naming the registry and the cause, in
// bounded time, nothing half-stored.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startFaultServer, oneLineError, type FaultServer } from '../helpers/fault-server.js';
import { corruptBlobsIn, listFiles, makeImageLayout, readLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';

const tmp: string[] = [];
const newDir = async (p = 'coracle-cache-'): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), p));
  tmp.push(d);
  return d;
};
let env: Record<string, string>;
let img: TempLayout<BuiltImage>;
let fs: FaultServer | undefined;

beforeAll(async () => {
  img = await makeImageLayout({ layers: [300_000, { files: { 'etc/x': 'x\n' } }] }, 'v1');
  const d = await newDir('coracle-home-');
  env = { DOCKER_CONFIG: d, XDG_CONFIG_HOME: d, CORACLE_REGISTRY_IDLE_TIMEOUT: '1' };
});
afterEach(async () => {
  await fs?.stop();
  fs = undefined;
});
afterAll(async () => {
  await img?.cleanup();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

async function expectWholeOrNothing(cache: string): Promise<void> {
  expect(await corruptBlobsIn(cache).catch(() => [])).toEqual([]);
  const files = await listFiles(cache).catch(() => [] as string[]);
  expect(files.filter((f) => !(f === 'oci-layout' || f === 'index.json' || /^blobs\/sha256\/[0-9a-f]{64}$/.test(f) || f.endsWith('.lock')))).toEqual([]);
}

const manifestPath = /^GET \/v2\/faults\/[a-z]+\/manifests\//;
const blobPath = () => new RegExp(`^GET /v2/faults/[a-z]+/blobs/${img.built.layerDigests[0]}`);

describe('registry bodies cut or stalled part-way', () => {
  for (const action of ['stall', 'truncate'] as const) {
    for (const what of ['manifest', 'blob'] as const) {
      it(`a ${what} body that ${action}s once is fetched again and the pull succeeds`, async () => {
        fs = await startFaultServer({
          repos: { 'faults/once': img.dir },
          failures: [{ match: what === 'manifest' ? manifestPath : blobPath(), times: 1, action }],
        });
        const cache = await newDir();
        const ref = `${fs.host}/faults/once:v1`;
        const t0 = Date.now();
        const r = await runCli(['--cache', cache, 'pull', ref], { env, timeout: 60_000 });
        expect(r.stderr).not.toMatch(/^\s+at /m);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(Date.now() - t0).toBeLessThan(30_000);
        const answers = fs.requests
          .filter((q) => (what === 'manifest' ? manifestPath : blobPath()).test(`${q.method} ${q.path}`))
          .map((q) => `${q.status}${q.cut ? ` ${q.cut.action}` : ''}${q.range ? ` ${q.range}` : ''}`);
        // a manifest is asked for again; a blob's rest is asked for with a Range (see faults-resume.test.ts)
        const cutAt = fs.requests.find((q) => q.cut)?.cut?.after;
        expect(answers.slice(0, 2)).toEqual(what === 'manifest' ? [`200 ${action}`, '200'] : [`200 ${action}`, `206 bytes=${cutAt}-`]);
        expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
        await expectWholeOrNothing(cache);
      });
    }
  }

  for (const what of ['manifest', 'blob'] as const) {
    it(`a ${what} body that always stalls fails in one line within bounded time, nothing half-stored`, async () => {
      fs = await startFaultServer({
        repos: { 'faults/stuck': img.dir },
        failures: [{ match: what === 'manifest' ? manifestPath : blobPath(), times: Infinity, action: 'stall' }],
      });
      const cache = await newDir();
      const t0 = Date.now();
      const r = await runCli(['--cache', cache, 'pull', `${fs.host}/faults/stuck:v1`], { env, timeout: 60_000 });
      const took = Date.now() - t0;
      expect(r.exitCode).not.toBe(0);
      const line = oneLineError(r.stderr);
      expect(line).toContain(fs.host);
      expect(line).toContain('stopped sending (no data for 1 s)');
      expect(line).toContain(what === 'manifest' ? 'manifest faults/stuck:v1' : img.built.layerDigests[0]);
      expect(line).not.toContain('internal error');
      // 1 s idle bound per attempt, a few attempts with backoff
      expect(took).toBeLessThan(30_000);
      await expectWholeOrNothing(cache);
    });
  }
});

describe('a bearer token revoked in the middle of a pull', () => {
  it('is renewed on the 401 and the pull completes, the store whole', async () => {
    fs = await startFaultServer({ repos: { 'faults/tok': img.dir }, bearer: { revokeAfter: 2 } });
    const cache = await newDir();
    const ref = `${fs.host}/faults/tok:v1`;
    const r = await runCli(['--cache', cache, 'pull', ref], { env, timeout: 60_000 });
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.exitCode, r.stderr).toBe(0);
    // the token really was revoked part-way (401s after authorized requests) and renewed
    const statuses = fs.requests.filter((q) => q.path.startsWith('/v2/') && q.path !== '/v2/').map((q) => q.status);
    expect(statuses.indexOf(401)).toBeGreaterThanOrEqual(0);
    expect(statuses.lastIndexOf(401)).toBeGreaterThan(statuses.indexOf(200));
    expect(fs.tokensIssued()).toBeGreaterThanOrEqual(2);
    expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
    await expectWholeOrNothing(cache);
  });
});
