// Smoke tests against a real registry process (Debian's docker-registry):
// push from one store, pull into another, byte-identical digests; chunked
// and monolithic uploads; cross-repository mount; an index with platform
// selection; token auth through a credential helper; 401 without credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, dockerConfigFor, credentialHelperCalls, type TestRegistry } from '../../../helpers/registry.js';
import { pullImage } from '../../../../src/oci/transfer/pull.js';
import { pushImage } from '../../../../src/oci/transfer/push.js';
import { ensureImage } from '../../../../src/oci/transfer/ensure.js';
import { inspectImage } from '../../../../src/oci/transfer/inspect.js';
import { dockerCredentials, anonymous } from '../../../../src/oci/registry/credentials.js';
import { TokenCache } from '../../../../src/oci/registry/auth.js';
import { RegistryClient } from '../../../../src/oci/registry/client.js';
import { CoracleError } from '../../../../src/errors.js';
import { storeImage, storeIndex, tempStore } from './fixtures.js';
import { runCli } from '../../../helpers/cli.js';
import { openStore } from '../../../../src/oci/store/layout-store.js';
import { join } from 'node:path';

describe('against docker-registry (anonymous)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes (monolithic and chunked), pulls back identical, skips and mounts blobs', async () => {
    const a = await tempStore();
    const b = await tempStore();
    try {
      // One layer above the 100 KiB threshold (chunked in 40 KiB pieces), one below.
      const img = await storeImage(a.store, [250_000, 3_000]);
      await a.store.setRef(`${reg.host}/app:1`, img.manifest);
      const pushed = await pushImage(`${reg.host}/app:1`, undefined, {
        store: a.store,
        credentials: anonymous,
        chunkThreshold: 100_000,
        chunkSize: 40_000,
      });
      expect(pushed.digest).toBe(img.manifest.digest);
      expect(pushed.blobs).toEqual({ uploaded: 3, mounted: 0, existing: 0 });
      const log = reg.accessLog();
      const patches = log.filter((e) => e.method === 'PATCH' && e.path.startsWith('/v2/app/blobs/uploads/'));
      expect(patches.length).toBe(Math.ceil(250_000 / 40_000));
      expect(patches.every((e) => e.status === 202)).toBe(true);
      const puts = log.filter((e) => e.method === 'PUT' && e.path.startsWith('/v2/app/blobs/uploads/'));
      expect(puts.length).toBe(3);
      expect(puts.every((e) => e.status === 201 && e.query.get('digest')?.startsWith('sha256:'))).toBe(true);

      // Pushing again: every blob is already there.
      const again = await pushImage(`${reg.host}/app:1`, undefined, { store: a.store, credentials: anonymous });
      expect(again.blobs).toEqual({ uploaded: 0, mounted: 0, existing: 3 });

      // Another repository of the same registry: blobs are mounted, not uploaded.
      const before = reg.accessLog().length;
      const mounted = await pushImage(`${reg.host}/app:1`, `${reg.host}/other/app:2`, { store: a.store, credentials: anonymous });
      expect(mounted.blobs).toEqual({ uploaded: 0, mounted: 3, existing: 0 });
      const mounts = reg.accessLog().slice(before).filter((e) => e.method === 'POST' && e.query.get('mount'));
      expect(mounts.map((e) => [e.query.get('from'), e.status])).toEqual([['app', 201], ['app', 201], ['app', 201]]);

      // Pull into an empty store: same digests, every blob present and verified.
      const pulled = await pullImage(`${reg.host}/other/app:2`, { store: b.store, credentials: anonymous });
      expect(pulled.reference).toBe(`${reg.host}/other/app:2`);
      expect(pulled.descriptor.digest).toBe(img.manifest.digest);
      expect(pulled.downloaded).toBe(250_000 + 3_000 + img.config.size);
      expect((await b.store.getRef(`${reg.host}/other/app:2`))?.digest).toBe(img.manifest.digest);
      for (const d of [img.config, ...img.layers]) {
        expect((await b.store.readBlob(d.digest)).equals(await a.store.readBlob(d.digest))).toBe(true);
      }
      // A second pull downloads nothing.
      const second = await pullImage(`${reg.host}/other/app:2`, { store: b.store, credentials: anonymous });
      expect(second.downloaded).toBe(0);

      // ensureImage answers from the store without asking the registry.
      const n = reg.accessLog().length;
      const ensured = await ensureImage(b.store, `${reg.host}/other/app:2`, { credentials: anonymous });
      expect(ensured).toMatchObject({ pulled: false, image: { digest: img.manifest.digest } });
      expect(reg.accessLog().length).toBe(n);

      // inspect from the registry (no store): manifest and config.
      const ins = await inspectImage(`${reg.host}/app:1`, { credentials: anonymous });
      expect(ins.digest).toBe(img.manifest.digest);
      expect(ins.config.rootfs.diff_ids).toEqual(img.layers.map((l) => l.digest));
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('pushes an index, pulls one platform, names the missing platform', async () => {
    const a = await tempStore();
    const b = await tempStore();
    try {
      const amd = await storeImage(a.store, [5_000], { os: 'linux', architecture: 'amd64' });
      const arm = await storeImage(a.store, [6_000], { os: 'linux', architecture: 'arm64', variant: 'v8' });
      const idx = await storeIndex(a.store, [
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ]);
      await a.store.setRef(`${reg.host}/multi:1`, idx.descriptor);
      const pushed = await pushImage(`${reg.host}/multi:1`, undefined, { store: a.store, credentials: anonymous });
      expect(pushed.digest).toBe(idx.descriptor.digest);

      const r = await pullImage(`${reg.host}/multi:1`, { store: b.store, platform: 'linux/arm64', credentials: anonymous });
      expect(r.descriptor.digest).toBe(idx.descriptor.digest);
      expect(r.images.map((d) => d.digest)).toEqual([arm.manifest.digest]);
      expect(await b.store.hasBlob(arm.layers[0]!.digest)).toBe(true);
      expect(await b.store.hasBlob(amd.layers[0]!.digest)).toBe(false);

      // Pushing a partial index is refused with a clear message.
      await expect(pushImage(`${reg.host}/multi:1`, `${reg.host}/copy:1`, { store: b.store, credentials: anonymous })).rejects.toThrow(
        /push .*multi:1 to .*copy:1: manifest sha256:[0-9a-f]{64} \(linux\/amd64\) of the index is not in the store/,
      );

      const err = await pullImage(`${reg.host}/multi:1`, { store: b.store, platform: 'linux/s390x', credentials: anonymous }).catch((e) => e);
      expect(err).toBeInstanceOf(CoracleError);
      expect(err.message).toBe(
        `pull ${reg.host}/multi:1: ${reg.host}/multi:1: no image for platform linux/s390x; available: linux/amd64, linux/arm64/v8`,
      );

      const all = await pullImage(`${reg.host}/multi:1`, { store: b.store, allPlatforms: true, credentials: anonymous });
      expect(all.images.map((d) => d.digest).sort()).toEqual([amd.manifest.digest, arm.manifest.digest].sort());
      expect(await b.store.hasBlob(amd.layers[0]!.digest)).toBe(true);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('coracle push and pull commands round-trip through the registry', async () => {
    const a = await tempStore();
    try {
      const img = await storeImage(a.store, [10_000, 2_000]);
      await a.store.setRef(`${reg.host}/cli:1`, img.manifest);
      const env = { DOCKER_CONFIG: join(a.dir, 'docker'), XDG_CONFIG_HOME: join(a.dir, 'xdg') };
      const push = await runCli(['--cache', a.store.root, 'push', `${reg.host}/cli:1`, `${reg.host}/cli-copy:2`, '--chunk-size', '4096'], { env });
      expect(push.stderr).not.toMatch(/coracle:/);
      expect(push.exitCode).toBe(0);
      expect(push.stdout).toBe(`pushed ${reg.host}/cli-copy:2 ${img.manifest.digest}`);
      // The 10 000-byte layer went up in 4096-byte chunks (a mount from "cli" was tried first, but it was never pushed).
      const patches = reg.accessLog().filter((e) => e.method === 'PATCH' && e.path.startsWith('/v2/cli-copy/'));
      expect(patches.length).toBe(3);
      const cacheB = join(a.dir, 'b');
      const pull = await runCli(['--cache', cacheB, 'pull', `${reg.host}/cli-copy:2`], { env });
      expect(pull.exitCode).toBe(0);
      expect(pull.stdout).toBe(`pulled ${reg.host}/cli-copy:2 ${img.manifest.digest}`);
      const b = await openStore(cacheB);
      expect((await b.getRef(`${reg.host}/cli-copy:2`))?.digest).toBe(img.manifest.digest);
      for (const l of img.layers) expect(await b.hasBlob(l.digest)).toBe(true);
    } finally {
      await a.cleanup();
    }
  });

  it('says which manifest is unknown', async () => {
    const b = await tempStore();
    try {
      await expect(pullImage(`${reg.host}/nothing:1`, { store: b.store, credentials: anonymous })).rejects.toThrow(
        `pull ${reg.host}/nothing:1: manifest unknown (registry ${reg.host} answered 404)`,
      );
    } finally {
      await b.cleanup();
    }
  });
});

describe('against docker-registry with token auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('authenticates through a credential helper, caches tokens, mounts across repositories', async () => {
    const cfg = await dockerConfigFor(reg, 'credHelpers');
    const a = await tempStore();
    const b = await tempStore();
    try {
      const credentials = dockerCredentials({ env: { ...process.env, ...cfg.env } });
      const tokenCache = new TokenCache();
      const img = await storeImage(a.store, [20_000]);
      await a.store.setRef(`${reg.host}/team/app:1`, img.manifest);
      await pushImage(`${reg.host}/team/app:1`, undefined, { store: a.store, credentials, tokenCache });
      expect(credentialHelperCalls(cfg)).toContain(`get ${reg.host}`);
      const pushTokens = reg.tokenServer!.requests.filter((r) => r.status === 200);
      // One token for the push's scope set, reused for every request of the push.
      expect(pushTokens.length).toBe(1);
      expect(pushTokens[0]!.authenticated).toBe(true);
      expect(pushTokens[0]!.scopes).toEqual(['repository:team/app:pull,push']);

      const m = await pushImage(`${reg.host}/team/app:1`, `${reg.host}/team/copy:1`, { store: a.store, credentials, tokenCache });
      expect(m.blobs.mounted).toBe(2);
      const last = reg.tokenServer!.requests.at(-1)!;
      expect([...last.scopes].sort()).toEqual(['repository:team/app:pull', 'repository:team/copy:pull,push']);

      const r = await pullImage(`${reg.host}/team/copy:1`, { store: b.store, credentials, tokenCache });
      expect(r.descriptor.digest).toBe(img.manifest.digest);

      // Without credentials: a one-line 401 naming the registry.
      const c = await tempStore();
      try {
        await expect(pullImage(`${reg.host}/team/app:1`, { store: c.store, credentials: anonymous, tokenCache: new TokenCache() })).rejects.toThrow(
          `pull ${reg.host}/team/app:1: 401 unauthorized: no credentials for ${reg.host}`,
        );
      } finally {
        await c.cleanup();
      }
    } finally {
      await cfg.cleanup();
      await a.cleanup();
      await b.cleanup();
    }
  });
});

describe('against docker-registry with htpasswd Basic auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('uses auths from config.json and refuses without credentials', async () => {
    const cfg = await dockerConfigFor(reg, 'auths');
    const a = await tempStore();
    try {
      const credentials = dockerCredentials({ env: { ...process.env, ...cfg.env } });
      const img = await storeImage(a.store, [1_000]);
      await a.store.setRef(`${reg.host}/basic:1`, img.manifest);
      const p = await pushImage(`${reg.host}/basic:1`, undefined, { store: a.store, credentials });
      expect(p.digest).toBe(img.manifest.digest);
      const client = new RegistryClient({ registry: reg.host, credentials: anonymous });
      await expect(client.headManifest('basic', '1')).rejects.toThrow(`401 unauthorized: no credentials for ${reg.host}`);
      const authed = new RegistryClient({ registry: reg.host, credentials });
      expect((await authed.headManifest('basic', '1'))?.digest).toBe(img.manifest.digest);
    } finally {
      await cfg.cleanup();
      await a.cleanup();
    }
  });
});
