import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagnosticsError } from '../../../src/errors.js';
import { loadSpecs, parseSpecs } from '../../../src/spec/index.js';
import { relativePkgRef } from '../../../src/spec/pkg-ref.js';
import { projectRoot, runCli } from '../../helpers/cli.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-pkgref-'));
  await mkdir(join(work, 'images', 'getty'), { recursive: true });
  await writeFile(join(work, 'images', 'getty', 'build.yml'), 'debian:\n  packages: [busybox-static]\n');
  await mkdir(join(work, 'specs', 'extra'), { recursive: true });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('@pkg: image references', () => {
  it('resolve against the folder of the spec file that wrote them, so merged specs keep their meaning', () => {
    const { spec } = parseSpecs([
      { file: '/a/specs/base.yml', text: 'kernel:\n  image: "@pkg:../images/kernel"\ninit:\n  - "@pkg:../images/init"\n' },
      { file: '/a/specs/extra/more.yml', text: 'services:\n  - name: getty\n    image: "@pkg:../../images/getty"\n' },
    ]);
    expect(spec.kernel?.image).toBe('@pkg:/a/images/kernel');
    expect(spec.init).toEqual(['@pkg:/a/images/init']);
    expect(spec.services[0]!.image).toBe('@pkg:/a/images/getty');
  });

  it('an empty path is an error at its position', () => {
    expect(() => parseSpecs([{ file: 's.yml', text: 'init:\n  - "@pkg:"\n' }])).toThrow(/s\.yml:2:5: init\[0\]: "@pkg:": @pkg: needs the path of an image definition folder/);
  });

  it('a folder without build.yml is an error naming FILE:LINE:COL', async () => {
    const f = join(work, 'specs', 'bad.yml');
    await writeFile(f, 'onboot:\n  - name: ok\n    image: "@pkg:../images/getty"\nservices:\n  - name: x\n    image: "@pkg:../images/nope"\n');
    const e = await loadSpecs([f]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DiagnosticsError);
    expect((e as Error).message).toBe(`${f}:6:12: "@pkg:../images/nope" is not an image definition: ${join(work, 'images', 'nope')}/build.yml not found`);
  });

  it('are written relative to a folder for lock files and messages', () => {
    expect(relativePkgRef('@pkg:/a/images/getty', '/a/examples')).toBe('@pkg:../images/getty');
    expect(relativePkgRef('@pkg:/a/images/getty', '/a')).toBe('@pkg:./images/getty');
  });

  it('coracle validate accepts the examples, which use them', async () => {
    const r = await runCli(['validate', join(projectRoot, 'examples', 'web.yml')]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
