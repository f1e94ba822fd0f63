import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackImage } from '../../../src/build/unpack.js';
import { CoracleError } from '../../../src/errors.js';
import type { FsTree } from '../../../src/initrd/tree.js';
import { openStore, type LayoutStore } from '../../../src/oci/store/layout-store.js';
import { writeImage, type FixtureImage, type FixtureLayer } from '../../helpers/oci-fixtures.js';

let dir: string;
let store: LayoutStore;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-unpack-'));
  store = await openStore(join(dir, 'store'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function unpack(layers: FixtureLayer[], config?: FixtureImage['config']): Promise<FsTree> {
  const ref = `test/unpack${n++}:1`;
  const img = await writeImage(store, ref, { layers, ...(config ? { config } : {}) });
  return unpackImage(store, { name: ref, manifest: img.manifest, config: img.config });
}

async function unpackError(layers: FixtureLayer[]): Promise<Error> {
  try {
    await unpack(layers);
  } catch (e) {
    return e as Error;
  }
  throw new Error('unpack succeeded but should have failed');
}

const paths = (t: FsTree): string[] => t.entries().map((e) => e.path);
const text = (t: FsTree, p: string): string => {
  const e = t.get(p);
  if (e?.type !== 'file' || e.data?.kind !== 'buffer') throw new Error(`${p} is not a file with data: ${JSON.stringify(e?.type)}`);
  return Buffer.from(e.data.data).toString('utf8');
};

describe('unpackImage: layers, whiteouts, opaque directories', () => {
  it('later layers replace files; a whiteout hides a lower file and a lower directory', async () => {
    const t = await unpack([
      { entries: [{ path: 'etc/a', data: 'a1' }, { path: 'etc/b', data: 'b' }, { path: 'var/lib/x/y', data: 'y' }, { path: 'keep', data: 'k' }] },
      { entries: [{ path: 'etc/a', data: 'a2' }, { path: 'etc/.wh.b', data: '' }, { path: 'var/lib/.wh.x', data: '' }] },
    ]);
    expect(text(t, 'etc/a')).toBe('a2');
    expect(t.has('etc/b')).toBe(false);
    expect(t.has('etc/.wh.b')).toBe(false);
    expect(t.has('var/lib/x')).toBe(false);
    expect(t.has('var/lib/x/y')).toBe(false);
    expect(t.has('var/lib')).toBe(true);
    expect(text(t, 'keep')).toBe('k');
  });

  it('a whiteout hides only lower layers: the same layer may re-create the path', async () => {
    const t = await unpack([
      { entries: [{ path: 'd/f', data: 'old' }] },
      // the new file comes BEFORE its whiteout in the tar: still shown
      { entries: [{ path: 'd/f', data: 'new' }, { path: 'd/.wh.f', data: '' }] },
    ]);
    expect(text(t, 'd/f')).toBe('new');
  });

  it('an opaque directory hides lower content but keeps entries of its own layer', async () => {
    const t = await unpack([
      { entries: [{ path: 'opt/app/old1', data: '1' }, { path: 'opt/app/sub/old2', data: '2' }, { path: 'opt/other', data: 'o' }] },
      { entries: [{ path: 'opt/app/new', data: 'n' }, { path: 'opt/app/.wh..wh..opq', data: '' }] },
    ]);
    expect(paths(t).filter((p) => p.startsWith('opt/'))).toEqual(['opt/app', 'opt/app/new', 'opt/other']);
    expect(text(t, 'opt/app/new')).toBe('n');
  });
});

describe('unpackImage: entries that would land outside the image are refused', () => {
  it('a ".." entry, with the image, layer and entry named', async () => {
    const e = await unpackError([{ entries: [{ path: 'ok', data: '' }] }, { entries: [{ path: 'etc/../../evil', data: 'x' }] }]);
    expect(e).toBeInstanceOf(CoracleError);
    expect(e.message).toMatch(/^image test\/unpack\d+:1: layer 2 \(sha256:[0-9a-f]{12}\): entry "etc\/\.\.\/\.\.\/evil"/);
    expect(e.message).toContain('".."');
  });

  it('an entry through an absolute symlink', async () => {
    const e = await unpackError([{ entries: [{ path: 'etc', type: 'symlink', target: '/etc' }, { path: 'etc/passwd', data: 'x' }] }]);
    expect(e).toBeInstanceOf(CoracleError);
    expect(e.message).toMatch(/image test\/unpack\d+:1: layer 1 .*entry "etc\/passwd".*symlink etc -> \/etc.*absolute/);
  });

  it('an entry through a symlink set by a lower layer, escaping the root with ".."', async () => {
    const e = await unpackError([
      { entries: [{ path: 'a/b', type: 'dir' }, { path: 'a/b/up', type: 'symlink', target: '../../..' }] },
      { entries: [{ path: 'a/b/up/x', data: 'x' }] },
    ]);
    expect(e).toBeInstanceOf(CoracleError);
    expect(e.message).toMatch(/layer 2 .*entry "a\/b\/up\/x".*escapes the image root/);
  });

  it('an entry through a relative in-image symlink (even a chain of them) is followed', async () => {
    const t = await unpack([
      {
        entries: [
          { path: 'usr/lib', type: 'dir' },
          { path: 'lib', type: 'symlink', target: 'usr/lib' },
          { path: 'usr/lib64', type: 'symlink', target: '../lib' }, // usr/lib64 -> lib -> usr/lib
        ],
      },
      { entries: [{ path: 'lib/libc.so', data: 'libc' }, { path: 'usr/lib64/ld.so', data: 'ld' }] },
    ]);
    expect(text(t, 'usr/lib/libc.so')).toBe('libc');
    expect(text(t, 'usr/lib/ld.so')).toBe('ld');
    expect(t.get('lib')?.type).toBe('symlink');
    expect(t.has('lib/libc.so')).toBe(false);
  });

  it('a hardlink to outside the image, and one to a missing file', async () => {
    const out = await unpackError([{ entries: [{ path: 'f', data: 'x' }, { path: 'h', type: 'hardlink', target: '../etc/shadow' }] }]);
    expect(out).toBeInstanceOf(CoracleError);
    expect(out.message).toMatch(/image test\/unpack\d+:1: layer 1 \(sha256:[0-9a-f]{12}\): entry "h" is a hardlink to "\.\.\/etc\/shadow"/);
    const viaLink = await unpackError([{ entries: [{ path: 'up', type: 'symlink', target: '/' }, { path: 'h', type: 'hardlink', target: 'up/etc/shadow' }] }]);
    expect(viaLink).toBeInstanceOf(CoracleError);
    expect(viaLink.message).toMatch(/image test\/unpack\d+:1: layer 1 .*entry "h" is a hardlink to "up\/etc\/shadow", whose path goes through symlink up -> \/, an absolute link/);
    const missing = await unpackError([{ entries: [{ path: 'h', type: 'hardlink', target: 'nothere' }] }]);
    expect(missing).toBeInstanceOf(CoracleError);
    expect(missing.message).toMatch(/image test\/unpack\d+:1: layer 1 .*h: hardlink to nothere, which does not exist/);
  });
});

describe('unpackImage: entry kinds', () => {
  it('keeps hardlinks, device nodes, symlinks, modes and owners', async () => {
    const t = await unpack([
      {
        entries: [
          { path: 'bin/busybox', data: 'BB', mode: 0o4755, uid: 0, gid: 0 },
          { path: 'bin/sh', type: 'hardlink', target: 'bin/busybox' },
          { path: 'bin/ls', type: 'symlink', target: 'busybox' },
          { path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
          { path: 'dev/sda', type: 'block', major: 8, minor: 0, mode: 0o660 },
          { path: 'home/u/f', data: 'u', mode: 0o600, uid: 1000, gid: 1001 },
        ],
      },
    ]);
    expect(t.get('bin/sh')).toMatchObject({ type: 'hardlink', linkTarget: 'bin/busybox' });
    expect(t.get('bin/busybox')).toMatchObject({ type: 'file', mode: 0o4755 });
    expect(t.get('bin/ls')).toMatchObject({ type: 'symlink', linkTarget: 'busybox' });
    expect(t.get('dev/null')).toMatchObject({ type: 'char', mode: 0o666, rdev: { major: 1, minor: 3 } });
    expect(t.get('dev/sda')).toMatchObject({ type: 'block', mode: 0o660, rdev: { major: 8, minor: 0 } });
    expect(t.get('home/u/f')).toMatchObject({ uid: 1000, gid: 1001, mode: 0o600 });
  });

  it('zstd and uncompressed layers unpack, mixed with gzip ones', async () => {
    const t = await unpack([
      { compression: 'zstd', entries: [{ path: 'z', data: 'zstd layer' }] },
      { compression: 'none', entries: [{ path: 'n', data: 'plain layer' }] },
      { compression: 'gzip', entries: [{ path: 'g', data: 'gzip layer' }] },
    ]);
    expect([text(t, 'z'), text(t, 'n'), text(t, 'g')]).toEqual(['zstd layer', 'plain layer', 'gzip layer']);
  });
});

describe('unpackImage: digests', () => {
  it('a layer whose bytes do not match its digest fails', async () => {
    for (const compression of ['gzip', 'none', 'zstd'] as const) {
      const e = await unpackError([{ entries: [{ path: 'a', data: 'x'.repeat(5000) }] }, { compression, corruptBlob: true, entries: [{ path: 'b', data: 'y'.repeat(5000) }] }]);
      expect(e.message, compression).toMatch(/sha256:[0-9a-f]{64}/);
      expect(e.message, compression).toMatch(/corrupt|digest|zstd|gzip|header|incorrect/i);
      expect(e.message, compression).toContain('layer 2');
    }
  });

  it('a layer whose uncompressed content does not match its diff_id fails', async () => {
    const e = await unpackError([{ wrongDiffId: true, entries: [{ path: 'a', data: 'x' }] }]);
    expect(e).toBeInstanceOf(CoracleError);
    expect(e.message).toMatch(/layer 1 .*does not match diff_id/);
  });

  it('a failed unpack through the build leaves no output (checked in test/integration/build-cli)', async () => {
    // unpackImage itself only builds an in-memory tree: nothing is written anywhere.
    const before = await readdir(join(dir, 'store'));
    await unpackError([{ wrongDiffId: true, entries: [{ path: 'a', data: 'x' }] }]);
    expect((await readdir(join(dir, 'store'))).sort()).toEqual(before.sort());
  });
});
