/**
 * The examples build and boot "as they are" on any day: they validate, and
 * they name the system images as `@pkg:` definition folders, never as
 * hash-pinned tags (those break when a Debian point release moves a package).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, runCli } from '../helpers/cli.js';

const dir = join(projectRoot, 'examples');

describe('examples', async () => {
  // system specs only: NAME.test.yml are `coracle test` files, NAME.user-data.yml cloud-init user-data
  const specs = (await readdir(dir)).filter((f) => f.endsWith('.yml') && !f.endsWith('.test.yml') && !f.endsWith('.user-data.yml')).sort();

  it('has the three documented examples', () => {
    expect(specs).toEqual(expect.arrayContaining(['minimal.yml', 'sshd.yml', 'web.yml']));
  });

  it.each(specs)('%s validates', async (f) => {
    const r = await runCli(['validate', join(dir, f)]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it.each(specs)('%s names every image as an @pkg: folder holding a build.yml, and pins no tag', async (f) => {
    const text = await readFile(join(dir, f), 'utf8');
    const images = [...text.matchAll(/^\s*(?:-\s+)?(?:image:\s*)?"?(@pkg:[^"\s]+|[a-z0-9./-]+:[A-Za-z0-9_.-]+)"?\s*$/gm)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(3);
    const notPkg = images.filter((i) => !i.startsWith('@pkg:'));
    expect(notPkg, 'refer to images/NAME as "@pkg:../images/NAME"').toEqual([]);
    expect(text).not.toMatch(/coracle\/[a-z0-9-]+:[0-9a-f]{12,}/);
    for (const i of images) expect((await stat(join(resolve(dir, i.slice(5)), 'build.yml'))).isFile(), i).toBe(true);
  });
});
