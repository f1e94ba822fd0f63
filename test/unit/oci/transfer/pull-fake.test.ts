// Pull logic against a small in-process registry: mirrors, digest faults,
// progress lines, refresh.
import { afterEach, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { pullImage } from '../../../../src/oci/transfer/pull.js';
import { ensureImage } from '../../../../src/oci/transfer/ensure.js';
import { inspectImage } from '../../../../src/oci/transfer/inspect.js';
import { anonymous } from '../../../../src/oci/registry/credentials.js';
import { createReporter } from '../../../../src/progress/reporter.js';
import { startFakeRegistry, serveImage, sha256, type FakeRegistry } from '../registry/fake-registry.js';
import { tempStore } from './fixtures.js';

const fast = { retries: 1, baseDelayMs: 5, maxDelayMs: 10 };
let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
async function fake(): Promise<FakeRegistry> {
  const r = await startFakeRegistry();
  cleanups.push(() => r.close());
  return r;
}
async function store() {
  const s = await tempStore();
  cleanups.push(s.cleanup);
  return s.store;
}

describe('mirrors', () => {
  it('serves docker.io names from a mirror, by repository path, after a dead one', async () => {
    const dead = await fake();
    await dead.close();
    const mirror = await fake();
    const img = serveImage(mirror, 'library/alpine', '3.20');
    const s = await store();
    const r = await pullImage('alpine:3.20', {
      store: s,
      credentials: anonymous,
      retry: fast,
      mirrors: { 'docker.io': [dead.url, mirror.url] },
    });
    expect(r.reference).toBe('docker.io/library/alpine:3.20');
    expect(r.source).toBe(`mirror ${mirror.host}`);
    expect(r.descriptor.digest).toBe(img.manifestDigest);
    expect((await s.getRef('docker.io/library/alpine:3.20'))?.digest).toBe(img.manifestDigest);
    expect(mirror.requests.map((q) => `${q.method} ${q.path}`)).toContain('GET /v2/library/alpine/manifests/3.20');
    expect(await s.hasBlob(img.layerDigest)).toBe(true);
  });

  it('falls back to the registry itself when the mirror lacks the image', async () => {
    const mirror = await fake();
    const real = await fake();
    const img = serveImage(real, 'team/app', '1');
    const s = await store();
    const r = await pullImage(`${real.host}/team/app:1`, { store: s, credentials: anonymous, mirrors: { [real.host]: [mirror.url] } });
    expect(r.source).toBe(real.host);
    expect(r.descriptor.digest).toBe(img.manifestDigest);
    expect(mirror.requests.some((q) => q.path === '/v2/team/app/manifests/1')).toBe(true);
  });

  it('names every source when none has the image', async () => {
    const mirror = await fake();
    const real = await fake();
    const s = await store();
    await expect(pullImage(`${real.host}/x:1`, { store: s, credentials: anonymous, mirrors: { [real.host]: [mirror.url] } })).rejects.toThrow(
      `pull ${real.host}/x:1: manifest unknown (registry ${real.host} answered 404); tried first: mirror ${mirror.host}: manifest unknown (registry ${mirror.host} answered 404)`,
    );
  });
});

describe('digest faults', () => {
  it('refuses a blob whose bytes do not match, naming it, and stores nothing under the ref', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'bad', '1', Buffer.from('the real layer'));
    reg.blob('bad', img.layerDigest, Buffer.from('tampered layer')); // same length, other bytes
    const s = await store();
    const err = await pullImage(`${reg.host}/bad:1`, { store: s, credentials: anonymous }).catch((e) => e);
    expect(err.name).not.toBe("Error");
    expect(err.message).toMatch(new RegExp(`^pull ${reg.host}/bad:1: .*${img.layerDigest}`));
    expect(err.message).toMatch(/digest mismatch/);
    expect(err.message.split('\n').length).toBe(1);
    expect(await s.hasBlob(img.layerDigest)).toBe(false);
    expect(await s.hasBlob(img.manifestDigest)).toBe(false);
    expect(await s.listRefs()).toEqual([]);
  });

  it('refuses a blob the registry labels with another digest', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'bad', '1');
    reg.hooks.push((req, res, url) => {
      if (url.pathname !== `/v2/bad/blobs/${img.layerDigest}`) return false;
      res.writeHead(200, { 'docker-content-digest': sha256('x'), 'content-length': img.layer.length }).end(img.layer);
      return true;
    });
    const s = await store();
    await expect(pullImage(`${reg.host}/bad:1`, { store: s, credentials: anonymous })).rejects.toThrow(
      `pull ${reg.host}/bad:1: blob ${img.layerDigest}: registry ${reg.host} sent ${sha256('x')} instead`,
    );
    expect(await s.listRefs()).toEqual([]);
  });
});

describe('pull behaviour', () => {
  it('prints plain progress lines per blob when not on a terminal', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'p', '1', Buffer.alloc(10_000, 7));
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => (text += c));
    const reporter = createReporter({ stream: out as unknown as NodeJS.WriteStream, plain: true });
    await pullImage(`${reg.host}/p:1`, { store: await store(), credentials: anonymous, reporter });
    const short = img.layerDigest.slice(7, 19);
    expect(text).toContain(`${short} layer: started (9.8 KiB)`);
    expect(text).toContain(`${short} layer: done (9.8 KiB)`);
    expect(text).toContain(`${img.configDigest.slice(7, 19)} config: done`);
  });

  it('ensureImage uses the store, and refreshes a moved tag with pull: true', async () => {
    const reg = await fake();
    const first = serveImage(reg, 'e', '1', Buffer.from('one'));
    const s = await store();
    const a = await ensureImage(s, `${reg.host}/e:1`, { credentials: anonymous });
    expect(a).toMatchObject({ pulled: true, image: { digest: first.manifestDigest }, reference: `${reg.host}/e:1` });
    const second = serveImage(reg, 'e', '1', Buffer.from('two'));
    const b = await ensureImage(s, `${reg.host}/e:1`, { credentials: anonymous });
    expect(b).toMatchObject({ pulled: false, image: { digest: first.manifestDigest } });
    const c = await ensureImage(s, `${reg.host}/e:1`, { credentials: anonymous, pull: true });
    expect(c).toMatchObject({ pulled: true, image: { digest: second.manifestDigest } });
    expect((await s.getRef(`${reg.host}/e:1`))?.digest).toBe(second.manifestDigest);
  });

  it('starts a blob again when the connection drops in the middle of it', async () => {
    const reg = await fake();
    const layer = Buffer.alloc(200_000, 3);
    const img = serveImage(reg, 'cut', '1', layer);
    let cut = 0;
    reg.hooks.push((req, res, url) => {
      if (url.pathname !== `/v2/cut/blobs/${img.layerDigest}` || cut++ > 0) return false;
      res.writeHead(200, { 'content-length': layer.length, 'docker-content-digest': img.layerDigest });
      res.write(layer.subarray(0, 50_000), () => setTimeout(() => req.socket.destroy(), 20));
      return true;
    });
    const s = await store();
    const r = await pullImage(`${reg.host}/cut:1`, { store: s, credentials: anonymous });
    expect(r.downloaded).toBe(layer.length + img.config.length);
    expect(cut).toBe(2);
    expect((await s.readBlob(img.layerDigest)).equals(layer)).toBe(true);
  });

  it('starts a blob again when the server closes the connection before the Content-Length', async () => {
    const reg = await fake();
    const layer = Buffer.alloc(200_000, 5);
    const img = serveImage(reg, 'short', '1', layer);
    let cut = 0;
    reg.hooks.push((req, res, url) => {
      if (url.pathname !== `/v2/short/blobs/${img.layerDigest}` || cut++ > 0) return false;
      res.writeHead(200, { 'content-length': layer.length, 'docker-content-digest': img.layerDigest, connection: 'close' });
      res.write(layer.subarray(0, 50_000), () => req.socket.end());
      return true;
    });
    const s = await store();
    const r = await pullImage(`${reg.host}/short:1`, { store: s, credentials: anonymous });
    expect(cut).toBe(2);
    expect(r.downloaded).toBe(layer.length + img.config.length);
    expect((await s.readBlob(img.layerDigest)).equals(layer)).toBe(true);
  });

  it('starts a blob again when its body ends cleanly short of the Content-Length', async () => {
    const reg = await fake();
    const layer = Buffer.alloc(200_000, 6);
    const img = serveImage(reg, 'clean', '1', layer);
    let cut = 0;
    // fetch has been seen to end a cut body as if it were complete: the client must not take it for bad content
    const shortOnce = async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const res = await fetch(url, init);
      if (!String(url).endsWith(`/blobs/${img.layerDigest}`) || cut++ > 0) return res;
      await res.body?.cancel();
      const part = layer.subarray(0, 50_000);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(part));
          c.close();
        },
      });
      return new Response(body, { status: 200, headers: res.headers });
    };
    const s = await store();
    const r = await pullImage(`${reg.host}/clean:1`, { store: s, credentials: anonymous, fetch: shortOnce });
    expect(cut).toBe(2);
    expect(r.downloaded).toBe(layer.length + img.config.length);
    expect((await s.readBlob(img.layerDigest)).equals(layer)).toBe(true);
  });

  it('follows a blob redirect to another origin without sending it the registry credentials', async () => {
    const reg = await fake();
    const cdn = await fake();
    const layer = Buffer.alloc(100_000, 7);
    const img = serveImage(reg, 'redir', '1', layer);
    const want = `Basic ${Buffer.from('u:p').toString('base64')}`;
    reg.hooks.push((req, res, url) => {
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return true;
      }
      if (url.pathname !== `/v2/redir/blobs/${img.layerDigest}`) return false;
      res.writeHead(307, { location: `http://${cdn.host}/cdn/layer?sig=1` }).end();
      return true;
    });
    cdn.hooks.push((_req, res, url) => {
      if (url.pathname !== '/cdn/layer') return false;
      res.writeHead(200, { 'content-length': layer.length }).end(layer);
      return true;
    });
    const s = await store();
    await pullImage(`${reg.host}/redir:1`, { store: s, credentials: async () => ({ username: 'u', password: 'p' }) });
    expect((await s.readBlob(img.layerDigest)).equals(layer)).toBe(true);
    const atCdn = cdn.requests.filter((q) => q.path === '/cdn/layer');
    expect(atCdn.length).toBe(1);
    expect(atCdn[0]!.headers.authorization).toBeUndefined();
    expect(reg.requests.some((q) => q.path === `/v2/redir/blobs/${img.layerDigest}` && q.headers.authorization === want)).toBe(true);
  });

  it('GETs the manifest of a tag the store does not name in one request; HEADs one it names', async () => {
    const reg = await fake();
    serveImage(reg, 'heads', '1');
    const s = await store();
    const manifestRequests = () => reg.requests.filter((q) => q.path === '/v2/heads/manifests/1').map((q) => q.method);
    await pullImage(`${reg.host}/heads:1`, { store: s, credentials: anonymous });
    expect(manifestRequests()).toEqual(['GET']);
    await pullImage(`${reg.host}/heads:1`, { store: s, credentials: anonymous });
    expect(manifestRequests()).toEqual(['GET', 'HEAD']);
  });

  it('pulls by digest and names the store entry by digest', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'd', '1');
    const s = await store();
    const r = await pullImage(`${reg.host}/d@${img.manifestDigest}`, { store: s, credentials: anonymous });
    expect(r.reference).toBe(`${reg.host}/d@${img.manifestDigest}`);
    expect(reg.requests.some((q) => q.path === `/v2/d/manifests/${img.manifestDigest}`)).toBe(true);
  });

  it('inspects from the store first, then the registry', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'i', '1');
    const s = await store();
    const remote = await inspectImage(`${reg.host}/i:1`, { store: s, credentials: anonymous });
    expect(remote.source).toBe(reg.host);
    expect(await s.hasBlob(img.manifestDigest)).toBe(false);
    await pullImage(`${reg.host}/i:1`, { store: s, credentials: anonymous });
    await reg.close();
    const local = await inspectImage(`${reg.host}/i:1`, { store: s, credentials: anonymous });
    expect(local).toMatchObject({ source: 'store', digest: img.manifestDigest, config: { os: 'linux', architecture: 'amd64' } });
    expect(local.raw.equals(remote.raw)).toBe(true);
  });
});
