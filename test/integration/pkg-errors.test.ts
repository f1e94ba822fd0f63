/**
 * Bad definitions fail with the file:line:col, the package and archive, or
 * the build step's stderr; nothing of a failed build appears in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, projectRoot } from '../helpers/cli.js';
import { openStore } from '../../src/oci/store/layout-store.js';
import { parseDeb822Sources } from '../../src/debian/sources.js';
import { debianCache } from '../fixtures/pkg/helpers.js';

let work: string;
let storeDir: string;

async function definition(name: string, yml: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = join(work, 'images', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'build.yml'), yml);
  for (const [f, c] of Object.entries(extra)) await writeFile(join(dir, f), c);
  return dir;
}

// Image folders are given by absolute path (the CLI runs from the project root).
const cli = (args: string[]) => runCli(['--cache', storeDir, 'pkg', ...args.map((a) => (a.startsWith('images/') ? join(work, a) : a)), '--debian-cache', debianCache]);

async function refsInStore(): Promise<string[]> {
  const s = await openStore(storeDir);
  return (await s.listRefs()).map((r) => r.name);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-pkg-err-'));
  storeDir = join(work, 'store');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('pkg build errors', () => {
  it('an unknown Debian package names the package, the archive and the line', async () => {
    await definition('nopkg', ['description: x', 'debian:', '  packages:', '    - busybox-static', '    - coracle-no-such-package'].join('\n'));
    const r = await cli(['build', 'images/nopkg']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${work}/images/nopkg/build.yml:5:7: Debian package "coracle-no-such-package" not found in `);
    const sources = parseDeb822Sources(await readFile('/etc/apt/sources.list.d/debian.sources', 'utf8'));
    for (const s of sources) expect(r.stderr).toContain(`${s.uris[0]} ${s.suites.join(' ')}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await refsInStore()).toEqual([]);
  });

  it('a failing build step shows its stderr and the line of the command', async () => {
    await definition(
      'failstep',
      ['build:', '  command: |', '    echo progress', '    echo "compiler says: boom at main.go:3" >&2', '    exit 3'].join('\n'),
    );
    const r = await cli(['build', 'images/failstep']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${work}/images/failstep/build.yml:2:12: build step failed (exit 3)`);
    expect(r.stderr).toContain('compiler says: boom at main.go:3');
    expect(await refsInStore()).toEqual([]);
  });

  it('the build step runs with a clean environment and $OUT', async () => {
    await definition('envstep', ['build:', '  env: {GREETING: hi}', '  command: env | sort > "$OUT/env.txt"'].join('\n'));
    const r = await runCli(['--cache', storeDir, 'pkg', 'build', join(work, 'images/envstep'), '--debian-cache', debianCache], {
      env: { CORACLE_LEAK_CHECK: 'leaked' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const store = await openStore(storeDir);
    const ref = r.stdout.trim().split(' ')[1]!;
    const { readStoredImage, layerEntries } = await import('../fixtures/pkg/helpers.js');
    const img = await readStoredImage(store, ref);
    const env = (await layerEntries(store, img.manifest.layers[0]!)).get('env.txt')!.data!.toString();
    expect(env).toContain('GREETING=hi');
    expect(env).toMatch(/^OUT=\//m);
    expect(env).not.toContain('CORACLE_LEAK_CHECK');
  });

  it('a missing file names the line of its source', async () => {
    await definition('nofile', ['files:', '  - path: /etc/a', '    contents: ok', '  - path: /etc/b', '    source: not-there.conf'].join('\n'));
    const r = await cli(['build', 'images/nofile']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${work}/images/nofile/build.yml:5:13: file not-there.conf not found`);
    expect((await refsInStore()).filter((n) => n.includes('/nofile:'))).toEqual([]);
  });

  it('a mode-only file entry needs its path to be in the image', async () => {
    await definition('modeonly', ['files:', '  - {path: /etc/a, contents: x}', '  - {path: /etc/a, mode: "0600", uid: 7}', '  - {path: /etc/nothere, mode: "0600"}'].join('\n'));
    const r = await cli(['build', 'images/modeonly']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${work}/images/modeonly/build.yml:4:12: /etc/nothere is not in the image: give source, contents or directory`);
    await definition('modeonly2', ['files:', '  - {path: /etc/a, contents: x}', '  - {path: /etc/a, mode: "0600", uid: 7}'].join('\n'));
    const ok = await cli(['build', 'images/modeonly2']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const store = await openStore(storeDir);
    const { readStoredImage, layerEntries } = await import('../fixtures/pkg/helpers.js');
    const img = await readStoredImage(store, ok.stdout.trim().split(' ')[1]!);
    expect((await layerEntries(store, img.manifest.layers[0]!)).get('etc/a')).toMatchObject({ mode: 0o600, uid: 7, gid: 0, data: Buffer.from('x') });
  });

  it('an invalid label fails before anything is built', async () => {
    await definition('badlabel', ['files:', '  - {path: /a, contents: x}', 'label:', '  capabilities: [CAP_NET_ADMIN]', '  readonly: "yes"'].join('\n'));
    const r = await cli(['build', 'images/badlabel']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${work}/images/badlabel/build.yml:5:13: label.readonly must be true or false`);
  });
});

describe('tags', () => {
  it('change with any input file and follow --tag and --org', async () => {
    const dir = join(work, 'images', 'tagged');
    await cp(join(projectRoot, 'images', 'poweroff'), dir, { recursive: true });
    const show = async (...extra: string[]) => {
      const r = await cli(['show-tag', 'images/tagged', ...extra]);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const t1 = await show();
    expect(t1).toMatch(/^docker\.io\/coracle\/tagged:[0-9a-f]{20}$/);
    expect(await show()).toBe(t1);
    await writeFile(join(dir, 'README.md'), 'sizes change here without a new tag\n');
    expect(await show()).toBe(t1);
    await writeFile(join(dir, 'coracle-poweroff'), `${await readFile(join(dir, 'coracle-poweroff'), 'utf8')}# changed\n`);
    const t2 = await show();
    expect(t2).not.toBe(t1);
    expect(await show('--tag', 'v1')).toBe('docker.io/coracle/tagged:v1');
    expect(await show('--org', 'localhost:5000/me', '--tag', 'v1')).toBe('localhost:5000/me/tagged:v1');
  });

  it('follow the files of build.inputs folders, except the README.md at the top of each', async () => {
    const frags = join(work, 'frags');
    await mkdir(frags, { recursive: true });
    await writeFile(join(frags, 'a.config'), 'CONFIG_A=y\n');
    await definition('withinputs', ['build:', '  inputs: [../../frags]', '  command: cp ../../frags/a.config "$OUT/a.config"'].join('\n'));
    const show = async () => {
      const r = await cli(['show-tag', 'images/withinputs']);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const t1 = await show();
    await writeFile(join(frags, 'README.md'), 'what the fragments are for\n');
    expect(await show()).toBe(t1);
    await writeFile(join(frags, 'a.config'), 'CONFIG_A=m\n');
    expect(await show()).not.toBe(t1);
  });
});
