import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../../../src/oci/registry/client.js';
import { TokenCache } from '../../../../src/oci/registry/auth.js';
import { anonymous, type Credentials } from '../../../../src/oci/registry/credentials.js';
import { DigestMismatchError, RegistryError } from '../../../../src/oci/registry/errors.js';
import { parseRetryAfter } from '../../../../src/oci/registry/transport.js';
import { registryEndpoint, isLoopbackHost } from '../../../../src/oci/registry/endpoint.js';
import { startFakeRegistry, serveImage, sha256, type FakeRegistry } from './fake-registry.js';

const fast = { retries: 3, baseDelayMs: 5, maxDelayMs: 20 };
let regs: FakeRegistry[] = [];
async function fake(): Promise<FakeRegistry> {
  const r = await startFakeRegistry();
  regs.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(regs.map((r) => r.close()));
  regs = [];
});

/** Require a bearer token on /v2/ paths; a /token endpoint hands out t-1, t-2, ... */
function tokenAuth(reg: FakeRegistry, opts: { field?: 'token' | 'access_token'; expiresIn?: number; user?: Credentials } = {}) {
  const issued: Array<{ scopes: string[]; service: string | null; authorization: string | undefined; method: string; body?: string }> = [];
  const valid = new Set<string>();
  reg.hooks.push(async (req, res, url) => {
    if (url.pathname === '/token') {
      let body = '';
      for await (const c of req) body += c;
      const form = req.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
      issued.push({
        scopes: req.method === 'POST' ? (form.get('scope') ?? '').split(' ').filter(Boolean) : url.searchParams.getAll('scope'),
        service: form.get('service'),
        authorization: req.headers.authorization,
        method: req.method ?? '',
        body,
      });
      if (opts.user && req.method === 'GET') {
        const want = `Basic ${Buffer.from(`${opts.user.username}:${opts.user.password}`).toString('base64')}`;
        if (req.headers.authorization !== want) {
          res.writeHead(401).end('{"details":"bad credentials"}');
          return true;
        }
      }
      const token = `t-${issued.length}`;
      valid.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ [opts.field ?? 'token']: token, ...(opts.expiresIn ? { expires_in: opts.expiresIn } : {}) }));
      return true;
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && valid.has(auth.slice(7))) return false;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname);
    const scope = m ? `,scope="repository:${m[1]}:pull"` : '';
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${reg.url}/token",service="fake, registry"${scope}`, 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    return true;
  });
  return issued;
}

describe('bearer tokens', () => {
  it('fetches a token on the first 401, caches it per scope set, sends it up front after', async () => {
    const reg = await fake();
    const issued = tokenAuth(reg, { field: 'access_token', expiresIn: 300 });
    serveImage(reg, 'a', '1');
    serveImage(reg, 'b', '1');
    const tokens = new TokenCache();
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, tokenCache: tokens });
    await client.getManifest('a', '1');
    await client.getManifest('a', '1');
    await client.headManifest('a', '1');
    expect(issued.map((i) => i.scopes)).toEqual([['repository:a:pull']]);
    expect(issued[0]!.service).toBe('fake, registry');
    expect(issued[0]!.authorization).toBeUndefined();
    // Only the very first request was refused.
    expect(reg.requests.filter((r) => r.path.startsWith('/v2/a/')).map((r) => r.headers.authorization ?? '-')).toEqual(['-', 'Bearer t-1', 'Bearer t-1', 'Bearer t-1']);
    // Another repository is another scope set: another token.
    await client.getManifest('b', '1');
    expect(issued.map((i) => i.scopes)).toEqual([['repository:a:pull'], ['repository:b:pull']]);
    // A second client sharing the cache does not ask again.
    const other = new RegistryClient({ registry: reg.host, credentials: anonymous, tokenCache: tokens });
    await other.getManifest('b', '1');
    expect(issued.length).toBe(3 - 1);
  });

  it('asks for every scope a client carries (push + pull on the mount source)', async () => {
    const reg = await fake();
    const issued = tokenAuth(reg);
    serveImage(reg, 'dest', '1');
    const client = new RegistryClient({
      registry: reg.host,
      credentials: anonymous,
      tokenCache: new TokenCache(),
      scopes: ['repository:src:pull', 'repository:dest:pull,push'],
    });
    await client.getManifest('dest', '1');
    expect(issued[0]!.scopes).toEqual(['repository:dest:pull,push', 'repository:src:pull']);
  });

  it('renews a token when it expires', async () => {
    const reg = await fake();
    const issued = tokenAuth(reg, { expiresIn: 60 });
    serveImage(reg, 'a', '1');
    let now = 1_000_000;
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, tokenCache: new TokenCache(() => now) });
    await client.getManifest('a', '1');
    now += 30_000;
    await client.getManifest('a', '1');
    expect(issued.length).toBe(1);
    now += 31_000; // within 10 s of expiry: renewed before it is sent
    await client.getManifest('a', '1');
    expect(issued.length).toBe(2);
  });

  it('sends Basic credentials to the token server, and reports refused ones', async () => {
    const reg = await fake();
    const user = { username: 'alice', password: 'pw' };
    const issued = tokenAuth(reg, { user });
    serveImage(reg, 'a', '1');
    const client = new RegistryClient({ registry: reg.host, credentials: async () => user, tokenCache: new TokenCache() });
    await client.getManifest('a', '1');
    expect(issued[0]!.authorization).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
    const wrong = new RegistryClient({ registry: reg.host, credentials: async () => ({ username: 'alice', password: 'no' }), tokenCache: new TokenCache() });
    await expect(wrong.getManifest('a', '1')).rejects.toThrow(`401 unauthorized: token server ${reg.host} refused the credentials of alice for ${reg.host}`);
  });

  it('trades an identity token for an access token with a refresh-token POST', async () => {
    const reg = await fake();
    const issued = tokenAuth(reg);
    serveImage(reg, 'a', '1');
    const client = new RegistryClient({ registry: reg.host, credentials: async () => ({ identityToken: 'refresh-me' }), tokenCache: new TokenCache() });
    await client.getManifest('a', '1');
    expect(issued[0]!.method).toBe('POST');
    const form = new URLSearchParams(issued[0]!.body);
    expect(form.get('grant_type')).toBe('refresh_token');
    expect(form.get('refresh_token')).toBe('refresh-me');
    expect(form.get('scope')).toBe('repository:a:pull');
  });

  it('shares one token request among concurrent requests', async () => {
    const reg = await fake();
    const issued = tokenAuth(reg);
    const img = serveImage(reg, 'a', '1');
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, tokenCache: new TokenCache() });
    await Promise.all([client.blobSize('a', img.layerDigest), client.blobSize('a', img.configDigest), client.getManifest('a', '1')]);
    expect(issued.length).toBe(1);
  });
});

describe('Basic auth', () => {
  function basicAuth(reg: FakeRegistry, user: string, pass: string) {
    reg.hooks.push((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`) return false;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="basic-realm"' }).end();
      return true;
    });
  }

  it('sends credentials after the challenge and names the registry without them', async () => {
    const reg = await fake();
    basicAuth(reg, 'bob', 's3cret');
    const img = serveImage(reg, 'x', 'v');
    const ok = new RegistryClient({ registry: reg.host, credentials: async () => ({ username: 'bob', password: 's3cret' }) });
    expect((await ok.getManifest('x', 'v')).descriptor.digest).toBe(img.manifestDigest);
    const none = new RegistryClient({ registry: reg.host, credentials: anonymous });
    await expect(none.getManifest('x', 'v')).rejects.toThrow(`401 unauthorized: no credentials for ${reg.host}`);
    await expect(none.getManifest('x', 'v')).rejects.toBeInstanceOf(RegistryError);
    const bad = new RegistryClient({ registry: reg.host, credentials: async () => ({ username: 'bob', password: 'nope' }) });
    await expect(bad.getManifest('x', 'v')).rejects.toThrow(`401 unauthorized: ${reg.host} refused the credentials of bob`);
  });
});

describe('retries', () => {
  it('honours Retry-After on 429, then succeeds', async () => {
    const reg = await fake();
    const img = serveImage(reg, 'r', '1');
    let n = 0;
    reg.hooks.push((_req, res, url) => {
      if (!url.pathname.includes('/manifests/') || n++ > 0) return false;
      res.writeHead(429, { 'retry-after': '1' }).end('slow down');
      return true;
    });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
    const t0 = Date.now();
    const m = await client.getManifest('r', '1');
    expect(m.descriptor.digest).toBe(img.manifestDigest);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(reg.requests.filter((r) => r.path === '/v2/r/manifests/1').length).toBe(2);
  });

  it('backs off on 5xx and connection resets, bounded', async () => {
    const reg = await fake();
    serveImage(reg, 'r', '1');
    let n = 0;
    reg.hooks.push((req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      n++;
      if (n === 1) {
        req.socket.destroy(); // connection reset mid-request
        return true;
      }
      if (n === 2) {
        res.writeHead(503).end();
        return true;
      }
      return false;
    });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
    await client.getManifest('r', '1');
    expect(n).toBe(3);

    const down = await fake();
    let m = 0;
    down.hooks.push((_req, res) => {
      m++;
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }));
      return true;
    });
    const c2 = new RegistryClient({ registry: down.host, credentials: anonymous, retry: fast });
    await expect(c2.getManifest('r', '1')).rejects.toThrow(`disk on fire (registry ${down.host} answered 500)`);
    expect(m).toBe(4);
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000 + 5_000).toUTCString(), 10_000)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('connection errors', () => {
  it('names refused connections and unknown hosts in one line', async () => {
    const reg = await fake();
    const port = Number(reg.host.split(':')[1]);
    await reg.close();
    regs = [];
    const refused = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: anonymous, retry: fast });
    await expect(refused.getManifest('x', '1')).rejects.toThrow(`cannot connect to 127.0.0.1:${port} (connection refused)`);
    const unknown = new RegistryClient({ registry: 'nosuch.invalid', insecure: true, credentials: anonymous, retry: fast });
    await expect(unknown.getManifest('x', '1')).rejects.toThrow(/^unknown host nosuch\.invalid$/);
  });
});

describe('digests', () => {
  it('refuses a manifest whose Docker-Content-Digest differs from its content', async () => {
    const reg = await fake();
    const body = '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}';
    reg.manifest('m', '1', body, 'application/vnd.oci.image.manifest.v1+json', { digestHeader: sha256('something else') });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous });
    const err = await client.getManifest('m', '1').catch((e) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(err.message).toBe(`manifest m:1: registry ${reg.host} sent digest ${sha256('something else')} but the content hashes to ${sha256(body)}`);
  });

  it('refuses a manifest fetched by digest whose bytes hash differently', async () => {
    const reg = await fake();
    const good = '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}';
    const want = sha256('{"schemaVersion":2}');
    reg.manifest('m', want, good, 'application/vnd.oci.image.manifest.v1+json', { digestHeader: want });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous });
    await expect(client.getManifest('m', want)).rejects.toThrow(`manifest ${want}: content from ${reg.host} hashes to ${sha256(good)}`);
  });

  it('sends the full Accept list for manifests', async () => {
    const reg = await fake();
    serveImage(reg, 'a', '1');
    await new RegistryClient({ registry: reg.host, credentials: anonymous }).getManifest('a', '1');
    const accept = reg.requests.find((r) => r.path === '/v2/a/manifests/1')!.headers.accept!;
    expect(accept.split(/,\s*/)).toEqual([
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ]);
  });
});

describe('endpoints', () => {
  it('uses plain HTTP for loopback and insecure registries only', () => {
    expect(registryEndpoint('localhost:5000')).toBe('http://localhost:5000');
    expect(registryEndpoint('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryEndpoint('[::1]:5000')).toBe('http://[::1]:5000');
    expect(registryEndpoint('registry.example.com')).toBe('https://registry.example.com');
    expect(registryEndpoint('registry.example.com:5000', ['registry.example.com'])).toBe('http://registry.example.com:5000');
    expect(registryEndpoint('registry.example.com', true)).toBe('http://registry.example.com');
    expect(registryEndpoint('docker.io')).toBe('https://registry-1.docker.io');
    expect(isLoopbackHost('127.5.0.1')).toBe(true);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
  });
});

describe('blob downloads resumed with Range', () => {
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  const digest = sha256(data);
  const read = async (s: AsyncIterable<unknown>): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of s) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  /** Answer ranged GETs of the blob with `answer(start)`; plain GETs go to the fake's own handling. */
  function ranges(reg: FakeRegistry, answer: (start: number, res: import('node:http').ServerResponse) => void): void {
    reg.hooks.push((req, res) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (!m) return false;
      answer(Number(m[1]), res);
      return true;
    });
  }

  it('asks for bytes=N- and takes a 206 with a matching Content-Range', async () => {
    const reg = await fake();
    reg.blob('r', digest, data);
    ranges(reg, (start, res) => {
      res.writeHead(206, { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'content-length': data.length - start, 'docker-content-digest': digest });
      res.end(data.subarray(start));
    });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
    const r = await client.fetchBlob('r', { digest, size: data.length }, { offset: 1234 });
    expect(r.from).toBe(1234);
    expect(r.restart).toBeUndefined();
    expect((await read(r.stream)).equals(data.subarray(1234))).toBe(true);
    expect(reg.requests.at(-1)?.headers.range).toBe('bytes=1234-');
  });

  it('a 200 to a Range request: the whole blob, from 0, with the reason', async () => {
    const reg = await fake();
    reg.blob('r', digest, data);
    ranges(reg, (_start, res) => {
      res.writeHead(200, { 'content-length': data.length }).end(data);
    });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
    const r = await client.fetchBlob('r', { digest, size: data.length }, { offset: 1234 });
    expect(r.from).toBe(0);
    expect(r.restart).toBe('the registry answered 200 to a Range request');
    expect((await read(r.stream)).equals(data)).toBe(true);
  });

  it('a 416 or a 206 for other bytes: asked again without Range', async () => {
    for (const [status, range, why] of [
      [416, `bytes */${data.length}`, 'the registry refused the range from byte 1234 (416)'],
      [206, `bytes 1234-4000/${data.length}`, `the registry answered 206 with Content-Range "bytes 1234-4000/${data.length}" for a blob of ${data.length} bytes`],
      [206, 'bytes 1000-4999/5000', 'the registry answered 206 from byte 1000, asked from 1234'],
      [206, 'octets 1234-4999/5000', 'the registry answered 206 with Content-Range "octets 1234-4999/5000"'],
    ] as const) {
      const reg = await fake();
      reg.blob('r', digest, data);
      ranges(reg, (_start, res) => {
        res.writeHead(status, { 'content-range': range }).end();
      });
      const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
      const r = await client.fetchBlob('r', { digest, size: data.length }, { offset: 1234 });
      expect(r.from).toBe(0);
      expect(r.restart).toBe(why);
      expect((await read(r.stream)).equals(data)).toBe(true);
      expect(reg.requests.filter((q) => q.path.endsWith(digest)).map((q) => q.headers.range)).toEqual(['bytes=1234-', undefined]);
    }
  });

  it('a 206 to a request without Range is refused', async () => {
    const reg = await fake();
    reg.hooks.push((_req, res, url) => {
      if (!url.pathname.endsWith(digest)) return false;
      res.writeHead(206, { 'content-range': `bytes 0-99/${data.length}`, 'content-length': 100 }).end(data.subarray(0, 100));
      return true;
    });
    const client = new RegistryClient({ registry: reg.host, credentials: anonymous, retry: fast });
    await expect(client.fetchBlob('r', { digest, size: data.length })).rejects.toThrow(`blob ${digest}: registry ${reg.host} answered 206 to a request without Range`);
  });
});
