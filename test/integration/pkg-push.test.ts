/**
 * `pkg build --push` sends the image to a real registry (docker-registry);
 * pulling it into an empty store gives the same digests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { openStore } from '../../src/oci/store/layout-store.js';
import { debianCache, readStoredImage } from '../fixtures/pkg/helpers.js';

let registry: TestRegistry;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-pkg-push-'));
  registry = await startRegistry({ auth: 'none' });
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pkg build --push', () => {
  it('pushes, and a pull into an empty store gives the same digests', async () => {
    const a = join(work, 'a');
    const r = await runCli(['--cache', a, 'pkg', 'build', '--debian-cache', debianCache, '--push', registry.host, 'images/busybox', 'images/runc']);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const built = lines.filter((l) => l.startsWith('built ')).map((l) => l.split(' '));
    const pushed = lines.filter((l) => l.startsWith('pushed ')).map((l) => l.split(' '));
    expect(built).toHaveLength(2);
    expect(pushed).toHaveLength(2);
    const storeA = await openStore(a);
    const b = join(work, 'b');
    for (const [i, [, ref, digest]] of built.entries()) {
      const dest = ref!.replace(/^docker\.io\//, `${registry.host}/`);
      expect(pushed[i]).toEqual(['pushed', dest, digest]);
      const p = await runCli(['--cache', b, 'pull', dest]);
      expect(p.exitCode, p.stderr).toBe(0);
      const storeB = await openStore(b);
      const mine = await readStoredImage(storeA, ref!);
      const theirs = await readStoredImage(storeB, dest);
      expect(theirs.indexDesc.digest).toBe(digest);
      expect(theirs.manifestDesc.digest).toBe(mine.manifestDesc.digest);
      expect(theirs.manifest.layers.map((l) => l.digest)).toEqual(mine.manifest.layers.map((l) => l.digest));
      expect(theirs.configBytes.equals(mine.configBytes)).toBe(true);
      expect(await storeB.hasBlob(mine.manifest.layers[0]!.digest)).toBe(true);
    }
    // The registry saw the manifests arrive under the tags.
    const puts = registry.accessLog().filter((e) => e.method === 'PUT' && e.path.includes('/manifests/'));
    expect(puts.length).toBeGreaterThanOrEqual(2);
  });
});
