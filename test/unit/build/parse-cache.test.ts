/**
 * Parsed specs and labels from the build cache: the same value as a fresh
 * parse, a miss on any changed byte, and the checks that depend on the
 * filesystem still made on a hit.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpecsCached, parseLabelCached } from '../../../src/build/parse-cache.js';
import { loadSpecs } from '../../../src/spec/load.js';
import { parseImageLabelConfig } from '../../../src/spec/label.js';
import { projectRoot } from '../../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-parse-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parse cache', () => {
  it('a cached spec is exactly what the parser returns (examples/web.yml and a merged overlay)', async () => {
    const files = [join(projectRoot, 'examples', 'web.yml'), join(projectRoot, 'test', 'fixtures', 'boot', 'web-extra.yml')];
    const cache = join(dir, 'c1');
    const fresh = await loadSpecs(files);
    const miss = await loadSpecsCached(files, cache);
    const hit = await loadSpecsCached(files, cache);
    expect(miss).toStrictEqual(fresh);
    expect(hit).toStrictEqual(fresh);
    expect(await readdir(join(cache, 'specs'))).toHaveLength(1);
  });

  it('a changed byte is a miss; a broken spec is an error every time and is not cached', async () => {
    const cache = join(dir, 'c2');
    const f = join(dir, 's.yml');
    await writeFile(f, 'init:\n  - a/b:1\nfiles:\n  - path: etc/x\n    contents: one\n');
    expect((await loadSpecsCached([f], cache)).spec.files[0]!.contents).toBe('one');
    await writeFile(f, 'init:\n  - a/b:1\nfiles:\n  - path: etc/x\n    contents: two\n');
    expect((await loadSpecsCached([f], cache)).spec.files[0]!.contents).toBe('two');
    await writeFile(f, 'init:\n  - a/b:1\nfiles:\n  - path: etc/x\n    contnts: two\n');
    await expect(loadSpecsCached([f], cache)).rejects.toThrow(/s\.yml:5:5/);
    await expect(loadSpecsCached([f], cache)).rejects.toThrow(/s\.yml:5:5/);
    expect(await readdir(join(cache, 'specs'))).toHaveLength(2);
  });

  it('an @pkg: folder removed since the cached parse is still reported', async () => {
    const cache = join(dir, 'c3');
    await mkdir(join(dir, 'img'), { recursive: true });
    await writeFile(join(dir, 'img', 'build.yml'), 'description: x\n');
    const f = join(dir, 'p.yml');
    await writeFile(f, 'init:\n  - "@pkg:./img"\n');
    await loadSpecsCached([f], cache);
    await rm(join(dir, 'img'), { recursive: true });
    await expect(loadSpecsCached([f], cache)).rejects.toThrow(/p\.yml:2:5/);
  });

  it('a spec naming a seccomp profile file is parsed every time (the profile may change)', async () => {
    const cache = join(dir, 'c5');
    const f = join(dir, 'sc.yml');
    await writeFile(join(dir, 'prof.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
    await writeFile(f, 'init:\n  - a/b:1\nservices:\n  - name: s\n    image: a/c:1\n    seccomp: prof.json\n');
    expect((await loadSpecsCached([f], cache)).spec.services[0]!.seccompProfile).toMatchObject({ defaultAction: 'SCMP_ACT_ALLOW' });
    await writeFile(join(dir, 'prof.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO' }));
    expect((await loadSpecsCached([f], cache)).spec.services[0]!.seccompProfile).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO' });
    await expect(readdir(join(cache, 'specs'))).rejects.toThrow();
  });

  it('labels: cached value equals the parser\'s; errors are not cached', async () => {
    const cache = join(dir, 'c4');
    const text = JSON.stringify({ capabilities: ['CAP_NET_ADMIN'], binds: ['/etc:/hostroot/etc'], net: 'host' });
    const fresh = parseImageLabelConfig(text, 'x/y:1');
    expect(await parseLabelCached(text, 'x/y:1', cache)).toStrictEqual(fresh);
    expect(await parseLabelCached(text, 'x/y:1', cache)).toStrictEqual(fresh);
    await expect(parseLabelCached('{"net": 3}', 'x/y:1', cache)).rejects.toThrow(/x\/y:1/);
    expect(await readdir(join(cache, 'labels'))).toHaveLength(1);
  });
});
