// The push paths, observed through the registry's own access log: blob-exists
// check, monolithic upload for small blobs, chunked upload (PATCH with
// Content-Range) for large ones, cross-repository mount within a registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dockerConfigFor, registryFetch, skopeoInspectRaw, startRegistry, type AccessLogEntry, type TestRegistry } from '../helpers/registry.js';
import { makeImageLayout, sha256, type BuiltImage, type TempLayout } from '../helpers/images.js';

const BIG = 36 * 1024 * 1024; // above the client's 32 MiB chunk threshold

describe('push paths', () => {
  let reg: TestRegistry;
  let big: TempLayout<BuiltImage>;
  let cache: string;
  const tmp: string[] = [];
  const bigRef = (): string => `${(reg as TestRegistry).host}/paths/big:1`;
  const since = (n: number): AccessLogEntry[] => reg.accessLog().slice(n);

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
    cache = await mkdtemp(join(tmpdir(), 'coracle-cache-'));
    tmp.push(cache);
    // ref name = the destination, so `cache import` + `push REF` needs no DEST
    big = await makeImageLayout({ layers: [BIG, 5_000], compression: 'none' }, bigRef());
    const imp = await runCli(['--cache', cache, 'cache', 'import', big.dir]);
    if (imp.exitCode !== 0) throw new Error(`cache import failed: ${imp.stderr}`);
  });
  afterAll(async () => {
    await reg?.stop();
    await big?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  const env = async (): Promise<Record<string, string>> => {
    const cfg = await dockerConfigFor(reg, 'auths');
    tmp.push(cfg.dir);
    return cfg.env;
  };

  it('a blob above the threshold goes up in chunks; a small one in one request', async () => {
    const mark = reg.accessLog().length;
    const r = await runCli(['--cache', cache, 'push', bigRef()], { env: await env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const log = since(mark);
    const patches = log.filter((e) => e.method === 'PATCH' && e.path.startsWith('/v2/paths/big/blobs/uploads/'));
    expect(patches.length, 'PATCH requests').toBeGreaterThanOrEqual(2);
    expect(patches.every((e) => e.status === 202)).toBe(true);
    const puts = log.filter((e) => e.method === 'PUT' && e.path.startsWith('/v2/paths/big/blobs/uploads/'));
    const bigLayer = big.built.layerDigests[0];
    const smallLayer = big.built.layerDigests[1];
    expect(puts.some((e) => e.query.get('digest') === bigLayer && e.status === 201)).toBe(true);
    expect(puts.some((e) => e.query.get('digest') === smallLayer && e.status === 201)).toBe(true);
    // the chunked upload's PATCHes all belong to the big blob's upload session
    const bigPut = puts.find((e) => e.query.get('digest') === bigLayer)!;
    expect(patches.filter((e) => e.path === bigPut.path).length).toBeGreaterThanOrEqual(2);
    // the small blob did not need any PATCH
    const smallPut = puts.find((e) => e.query.get('digest') === smallLayer)!;
    expect(patches.filter((e) => e.path === smallPut.path)).toHaveLength(0);
    // and the registry holds exactly our image
    expect(sha256(await skopeoInspectRaw(`docker://${bigRef()}`, reg.creds()))).toBe(big.built.manifestDigest);
  });

  it('pushing again only checks that the blobs exist', async () => {
    const mark = reg.accessLog().length;
    const r = await runCli(['--cache', cache, 'push', bigRef()], { env: await env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const log = since(mark);
    expect(log.filter((e) => e.path.includes('/blobs/uploads/'))).toEqual([]);
    expect(log.some((e) => e.method === 'HEAD' && e.path === `/v2/paths/big/blobs/${big.built.layerDigests[0]}` && e.status === 200)).toBe(true);
  });

  it('pushing to another repository of the same registry mounts the blobs instead of uploading', async () => {
    const mark = reg.accessLog().length;
    const dest = `${reg.host}/paths/mounted:1`;
    const r = await runCli(['--cache', cache, 'push', bigRef(), dest], { env: await env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const log = since(mark);
    const mounts = log.filter((e) => e.method === 'POST' && e.path === '/v2/paths/mounted/blobs/uploads/' && e.query.get('mount'));
    expect(mounts.find((e) => e.query.get('mount') === big.built.layerDigests[0])?.status).toBe(201);
    expect(mounts.every((e) => e.query.get('from') === 'paths/big')).toBe(true);
    // no bytes of the big layer went up again
    expect(log.filter((e) => e.method === 'PATCH')).toEqual([]);
    expect(log.filter((e) => e.method === 'PUT' && e.query.get('digest') === big.built.layerDigests[0])).toEqual([]);
    expect(sha256(await skopeoInspectRaw(`docker://${dest}`, reg.creds()))).toBe(big.built.manifestDigest);
    // the mounted repository serves complete, correct blobs (fetched straight from the registry)
    for (const l of [...big.built.layerDigests, big.built.configDigest]) {
      const res = await registryFetch(reg, `/v2/paths/mounted/blobs/${l}`, { repository: 'paths/mounted' });
      expect(res.status, l).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(l);
    }
  });
});
