/**
 * Hostile images: layers that try to write outside the image (`..`,
 * absolute paths, symlink escapes and entries through them, hardlinks out
 * or to /etc/passwd), whiteout tricks, device nodes and setuid files, a
 * wrong digest or size, a decompression bomb. Each case through
 * unpackImage (what every build path uses) and, where the user sees it,
 * through `coracle build` (one-line error naming image, layer and entry;
 * nothing written outside the output folder and store; no output at all).
 *
 * Treatment of devices and setuid: the spec's `layers:` key, `keep` (as
 * LinuxKit and Docker do: confined to the container's own root, runc's
 * device cgroup denies nodes the container was not granted), `drop` (the
 * default: devices left out, setuid/setgid bits cleared, each reported
 * naming image, layer and entry) or `refuse` (one-line error naming them).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackImage, type DroppedEntry } from '../../src/build/unpack.js';
import { droppedReports } from '../../src/build/layer-policy.js';
import type { LayerPolicy } from '../../src/spec/types.js';
import type { FsTree } from '../../src/initrd/tree.js';
import { openStore, type LayoutStore } from '../../src/oci/store/layout-store.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../../src/oci/types.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { hostArch, layerTar, writeImage, type FixtureLayer } from '../helpers/oci-fixtures.js';
import { parseNewc } from '../unit/initrd/kernel-unpack.js';

let dir: string;
let storeDir: string;
let store: LayoutStore;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-hostile-'));
  storeDir = join(dir, 'store');
  store = await openStore(storeDir);
  const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
  await writeImage(store, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: 'bzImage'.repeat(100) }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(store, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\n', mode: 0o755 }, { path: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' }] }] });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function unpack(layers: FixtureLayer[]): Promise<FsTree> {
  const ref = `hostile/u${n++}:1`;
  const img = await writeImage(store, ref, { layers });
  return unpackImage(store, { name: ref, manifest: img.manifest, config: img.config });
}
async function unpackError(layers: FixtureLayer[]): Promise<string> {
  try {
    await unpack(layers);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('unpack succeeded but should have failed');
}

/** A spec with the usual kernel and init and one service using `image`; built into a fresh folder. */
async function build(image: string, env: Record<string, string> = {}, args: string[] = [], extra = ''): Promise<{ r: CliResult; out: string }> {
  const sd = await mkdtemp(join(dir, 'spec-'));
  const spec = join(sd, 's.yml');
  await writeFile(spec, `kernel:\n  image: fx/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - fx/init:1\nservices:\n  - name: svc\n    image: ${image}\n${extra}`);
  const out = join(sd, 'out');
  const r = await runCli(['--cache', storeDir, 'build', spec, '-o', out, ...args], { env });
  return { r, out };
}

/** Exactly one `coracle: ...` line, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim());
  expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([]);
  const errs = lines.filter((l) => l.startsWith('coracle: '));
  expect(errs, stderr).toHaveLength(1);
  return errs[0]!;
}

async function outputFiles(out: string): Promise<string[]> {
  return readdir(out).catch(() => []);
}

describe('hostile layers: nothing lands outside the image', () => {
  it('a "../" path is refused, naming image, layer and entry', async () => {
    const m = await unpackError([{ entries: [{ path: '../../etc/evil', data: 'x' }] }]);
    expect(m).toMatch(/^image hostile\/u\d+:1: layer 1 \(sha256:[0-9a-f]{12}\): entry "\.\.\/\.\.\/etc\/evil" has a "\.\." component/);
  });

  it('an absolute path is taken relative to the image root (as tar and containerd do)', async () => {
    const t = await unpack([{ entries: [{ path: '/abs/file', data: 'x' }] }]);
    expect(t.has('abs/file')).toBe(true);
    expect(t.entries().every((e) => !e.path.startsWith('/') && !e.path.split('/').includes('..'))).toBe(true);
  });

  it('an entry through an absolute symlink is refused', async () => {
    const m = await unpackError([{ entries: [{ path: 'etc', type: 'symlink', target: '/etc' }, { path: 'etc/passwd', data: 'evil' }] }]);
    expect(m).toContain('entry "etc/passwd" goes through symlink etc -> /etc, an absolute link');
  });

  it('an entry through a relative symlink that climbs out is refused (link in a lower layer)', async () => {
    const m = await unpackError([
      { entries: [{ path: 'a', type: 'dir' }, { path: 'a/up', type: 'symlink', target: '../../..' }] },
      { entries: [{ path: 'a/up/etc/shadow', data: 'evil' }] },
    ]);
    expect(m).toMatch(/layer 2 .*entry "a\/up\/etc\/shadow" goes through symlink a\/up -> \.\.\/\.\.\/\.\., which escapes the image root/);
  });

  it('a symlink pointing outside is kept as a link (it resolves inside the container at run time), nothing is written through it', async () => {
    const t = await unpack([{ entries: [{ path: 'host-etc', type: 'symlink', target: '/etc' }] }]);
    expect(t.get('host-etc')).toMatchObject({ type: 'symlink', linkTarget: '/etc' });
    expect(t.entries().map((e) => e.path)).toEqual(['host-etc']);
  });

  it('hardlinks to outside the image, through "..", and to /etc/passwd of the host are refused', async () => {
    for (const target of ['../../etc/passwd', '/etc/passwd', 'etc/passwd']) {
      const m = await unpackError([{ entries: [{ path: 'pw', type: 'hardlink', target }] }]);
      expect(m, target).toMatch(/"?pw"?:? (is a )?hardlink to/);
    }
  });

  it('a hardlink to the image\'s own /etc/passwd stays inside the image', async () => {
    const t = await unpack([{ entries: [{ path: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' }, { path: 'pw', type: 'hardlink', target: '/etc/passwd' }] }]);
    expect(t.get('pw')).toMatchObject({ type: 'hardlink', linkTarget: 'etc/passwd' });
  });
});

describe('whiteout tricks', () => {
  it('a whiteout of the root (".wh.") is refused naming image, layer and entry', async () => {
    const m = await unpackError([{ entries: [{ path: 'keep', data: 'k' }] }, { entries: [{ path: '.wh.', data: '' }] }]);
    expect(m).toMatch(/^image hostile\/u\d+:1: layer 2 \(sha256:[0-9a-f]{12}\): entry "\.wh\." is a whiteout of ""/);
    expect(m).not.toContain('not a clean relative path');
  });

  it('".wh.." and ".wh..." (the directory itself, its parent) are refused', async () => {
    for (const p of ['d/.wh..', 'd/.wh...']) {
      const m = await unpackError([{ entries: [{ path: 'd/f', data: 'x' }] }, { entries: [{ path: p, data: '' }] }]);
      expect(m, p).toMatch(/is a whiteout of "\.\.?"/);
    }
  });

  it('a whiteout of a path outside (through "..") is refused', async () => {
    const m = await unpackError([{ entries: [{ path: '../.wh.etc', data: '' }] }]);
    expect(m).toContain('has a ".." component');
  });

  it('a whiteout through an escaping symlink is refused', async () => {
    const m = await unpackError([{ entries: [{ path: 'l', type: 'symlink', target: '/' }] }, { entries: [{ path: 'l/.wh.etc', data: '' }] }]);
    expect(m).toContain('goes through symlink l -> /, an absolute link');
  });

  it('an opaque marker at the root hides only lower layers', async () => {
    const t = await unpack([{ entries: [{ path: 'old', data: 'o' }] }, { entries: [{ path: '.wh..wh..opq', data: '' }, { path: 'new', data: 'n' }] }]);
    expect(t.entries().map((e) => e.path)).toEqual(['new']);
  });

  it('reserved ".wh..wh." names other than the opaque marker are refused', async () => {
    const m = await unpackError([{ entries: [{ path: 'd/.wh..wh.plnk', data: '' }] }]);
    expect(m).toContain('reserved whiteout name');
  });

  it('through `coracle build`: the root whiteout is one line naming image, layer and entry, and no output is written', async () => {
    await writeImage(store, 'hostile/wh:1', { layers: [{ entries: [{ path: 'x', data: 'x' }] }, { entries: [{ path: '.wh.', data: '' }] }], config: { Cmd: ['/x'] } });
    const { r, out } = await build('hostile/wh:1');
    expect(r.exitCode).not.toBe(0);
    expect(oneLine(r.stderr)).toMatch(/^coracle: .*image (docker\.io\/)?hostile\/wh:1: layer 2 \(sha256:[0-9a-f]{12}\): entry "\.wh\." is a whiteout/);
    expect(await outputFiles(out)).toEqual([]);
  });
});

describe('device nodes and setuid files', () => {
  const layer = (): FixtureLayer => ({
    entries: [
      { path: 'dev/sda', type: 'block', major: 8, minor: 0, mode: 0o660 },
      { path: 'tmp/mem', type: 'char', major: 1, minor: 1, mode: 0o666 },
      { path: 'bin/su', data: 'ELF', mode: 0o4755 },
      { path: 'bin/wall', data: 'ELF', mode: 0o2755 },
      { path: 'bin/sh', data: 'ELF', mode: 0o755 },
      { path: 'var/mail', type: 'dir', mode: 0o2775 },
      { path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
      { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    ],
  });
  async function unpackWith(layers: LayerPolicy | undefined): Promise<{ tree: FsTree; dropped: DroppedEntry[]; ref: string }> {
    const ref = `hostile/p${n++}:1`;
    const img = await writeImage(store, ref, { layers: [{ entries: [{ path: 'etc/x', data: 'x' }] }, layer()] });
    const dropped: DroppedEntry[] = [];
    const tree = await unpackImage(store, { name: ref, manifest: img.manifest, config: img.config }, { ...(layers ? { layers } : {}), onDropped: (d) => dropped.push(d) });
    return { tree, dropped, ref };
  }

  it('unpackImage without a policy, or with keep: kept as the image has them, inside the container root only', async () => {
    for (const policy of [undefined, { devices: 'keep', setuid: 'keep' } as const]) {
      const { tree: t, dropped } = await unpackWith(policy);
      expect(t.get('dev/sda')).toMatchObject({ type: 'block', rdev: { major: 8, minor: 0 } });
      expect(t.get('tmp/mem')).toMatchObject({ type: 'char', rdev: { major: 1, minor: 1 } });
      expect(t.get('bin/su')?.mode).toBe(0o4755);
      expect(t.get('bin/wall')?.mode).toBe(0o2755);
      expect(dropped).toEqual([]);
    }
  });

  it('drop: devices left out, setuid/setgid bits cleared (the files kept), each reported with its layer', async () => {
    const { tree: t, dropped, ref } = await unpackWith({ devices: 'drop', setuid: 'drop' });
    expect(t.get('dev/sda')).toBeUndefined();
    expect(t.get('tmp/mem')).toBeUndefined();
    expect(t.get('bin/su')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(t.get('bin/wall')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(t.get('bin/sh')?.mode).toBe(0o755);
    // a setgid directory (group inheritance, e.g. Debian's /var/mail) is not a way up: left alone
    expect(t.get('var/mail')?.mode).toBe(0o2775);
    // devices anyone may use anyway (Docker's default set) stay: an init image's /dev/console is init's first console
    expect(t.get('dev/null')).toMatchObject({ type: 'char', rdev: { major: 1, minor: 3 } });
    expect(t.get('dev/console')).toMatchObject({ type: 'char', rdev: { major: 5, minor: 1 } });
    expect(dropped.map((d) => [d.kind, d.layer.replace(/\(sha256:[0-9a-f]+\)/, '(sha)'), d.path, d.detail])).toEqual([
      ['device', 'layer 2 (sha)', 'dev/sda', 'block 8,0'],
      ['device', 'layer 2 (sha)', 'tmp/mem', 'char 1,1'],
      ['setuid', 'layer 2 (sha)', 'bin/su', '4755'],
      ['setuid', 'layer 2 (sha)', 'bin/wall', '2755'],
    ]);
    const lines = droppedReports(ref, dropped);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^image ${ref}: dropped 2 device nodes \\(layers: devices: drop\\): layer 2 \\(sha256:[0-9a-f]{12}\\): dev/sda \\(block 8,0\\), tmp/mem \\(char 1,1\\)$`));
    expect(lines[1]).toMatch(/: cleared the setuid\/setgid bits of 2 files \(layers: setuid: drop\): layer 2 \(sha256:[0-9a-f]{12}\): bin\/su \(4755\), bin\/wall \(2755\)$/);
  });

  it('each kind on its own: devices drop with setuid keep, and the reverse', async () => {
    const a = await unpackWith({ devices: 'drop', setuid: 'keep' });
    expect(a.tree.get('dev/sda')).toBeUndefined();
    expect(a.tree.get('bin/su')?.mode).toBe(0o4755);
    const b = await unpackWith({ devices: 'keep', setuid: 'drop' });
    expect(b.tree.get('dev/sda')?.type).toBe('block');
    expect(b.tree.get('bin/su')?.mode).toBe(0o755);
  });

  it('refuse: the first such entry fails the unpack, naming image, layer and entry', async () => {
    const dev = await unpackWith({ devices: 'refuse', setuid: 'keep' }).catch((e: Error) => e.message);
    expect(dev).toMatch(/^image hostile\/p\d+:1: layer 2 \(sha256:[0-9a-f]{12}\): entry "dev\/sda" is a block device node \(8,0\): refused \(layers: devices: refuse\)$/);
    // null and console are not refused: the first refused entry is dev/sda, whatever the order
    const harmless = await writeImage(store, `hostile/p${n++}:1`, { layers: [{ entries: [{ path: 'dev/null', type: 'char', major: 1, minor: 3 }, { path: 'dev/console', type: 'char', major: 5, minor: 1 }] }] });
    const t = await unpackImage(store, { name: 'harmless', manifest: harmless.manifest, config: harmless.config }, { layers: { devices: 'refuse', setuid: 'refuse' } });
    expect(t.get('dev/console')?.type).toBe('char');
    const suid = await unpackWith({ devices: 'keep', setuid: 'refuse' }).catch((e: Error) => e.message);
    expect(suid).toMatch(/^image hostile\/p\d+:1: layer 2 \(sha256:[0-9a-f]{12}\): entry "bin\/su" is setuid \(mode 4755\): refused \(layers: setuid: refuse\)$/);
  });

  describe('through `coracle build`', () => {
    beforeAll(async () => {
      await writeImage(store, 'hostile/dev:1', { layers: [layer()], config: { Cmd: ['/bin/su'] } });
    });
    const inInitrd = async (out: string) => {
      const names = cpioNames(await readFile(join(out, 's-initrd.img')));
      const under = (p: string) => names.filter((x) => x.name.endsWith(`/${p}`));
      expect(names.every((x) => !x.name.startsWith('/') && !x.name.split('/').includes('..'))).toBe(true);
      return { dev: under('dev/sda'), mem: under('tmp/mem'), su: under('bin/su'), wall: under('bin/wall') };
    };

    it('by default (no layers: key) devices are dropped and setuid bits cleared, with one warning each naming image, layer and entries', async () => {
      const { r, out } = await build('hostile/dev:1', {}, ['--compression', 'none']);
      expect(r.exitCode, r.stderr).toBe(0);
      const got = await inInitrd(out);
      expect(got.dev).toEqual([]);
      expect(got.mem).toEqual([]);
      expect(got.su.map((x) => x.mode & 0o7777)).toEqual([0o755]);
      expect(got.wall.map((x) => x.mode & 0o7777)).toEqual([0o755]);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: image docker.io/hostile/dev:1: '));
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatch(/dropped 2 device nodes \(layers: devices: drop\): layer 1 \(sha256:[0-9a-f]{12}\): dev\/sda \(block 8,0\), tmp\/mem \(char 1,1\)/);
      expect(warnings[1]).toMatch(/cleared the setuid\/setgid bits of 2 files \(layers: setuid: drop\): layer 1 \(sha256:[0-9a-f]{12}\): bin\/su \(4755\), bin\/wall \(2755\)/);
    });

    it('layers: keep keeps them, under the container\'s rootfs only; the policy is part of the segment cache key', async () => {
      // the same image, store and cache as the default build above: a cache keyed without the policy would give the dropped root
      const { r, out } = await build('hostile/dev:1', {}, ['--compression', 'none'], 'layers:\n  devices: keep\n  setuid: keep\n');
      expect(r.exitCode, r.stderr).toBe(0);
      const got = await inInitrd(out);
      expect(got.dev.map((x) => x.name)).toEqual([expect.stringMatching(/^containers\/services\/svc\/(rootfs|lower)\/dev\/sda$/)]);
      expect(got.dev[0]!.mode & 0o170000).toBe(0o060000);
      expect(got.mem[0]!.mode & 0o170000).toBe(0o020000);
      expect(got.su.map((x) => x.mode & 0o7777)).toEqual([0o4755]);
      expect(got.wall.map((x) => x.mode & 0o7777)).toEqual([0o2755]);
      expect(r.stderr).not.toMatch(/warning: image docker\.io\/hostile\/dev:1/);
    });

    for (const kind of ['devices', 'setuid'] as const) {
      it(`layers: ${kind}: refuse fails in one line naming image, layer and entry, and writes no output`, async () => {
        const { r, out } = await build('hostile/dev:1', {}, [], `layers:\n  ${kind}: refuse\n`);
        expect(r.exitCode).not.toBe(0);
        const line = oneLine(r.stderr);
        expect(line).toContain('image docker.io/hostile/dev:1: layer 1 (sha256:');
        expect(line).toContain(kind === 'devices' ? 'entry "dev/sda" is a block device node (8,0): refused (layers: devices: refuse)' : 'entry "bin/su" is setuid (mode 4755): refused (layers: setuid: refuse)');
        expect(await readdir(out).catch(() => [])).toEqual([]);
      });
    }

    it('a bad value or key under layers: is a FILE:LINE:COL error', async () => {
      const bad = await build('hostile/dev:1', {}, [], 'layers:\n  devices: dorp\n');
      expect(bad.r.exitCode).not.toBe(0);
      expect(bad.r.stderr).toMatch(/s\.yml:10:12: layers\.devices: expected one of "keep", "drop", "refuse", got the string "dorp"$/m);
      const key = await build('hostile/dev:1', {}, [], 'layers:\n  setgid: drop\n');
      expect(key.r.exitCode).not.toBe(0);
      expect(key.r.stderr).toMatch(/s\.yml:10:3: .*setgid/);
    });
  });
});

/** Names and modes of every record of an uncompressed initrd (--compression none: newc archives, zero padding between). */
function cpioNames(img: Buffer): Array<{ name: string; mode: number }> {
  const out: Array<{ name: string; mode: number }> = [];
  let pos = 0;
  while (pos < img.length) {
    if (img[pos] === 0) {
      pos++;
      continue;
    }
    const p = parseNewc(img.subarray(pos));
    for (const rec of p.records) out.push({ name: rec.name, mode: rec.mode });
    pos += p.length;
  }
  return out.filter((r) => r.name !== 'TRAILER!!!');
}

describe('wrong digests and sizes', () => {
  it('a layer whose bytes do not match its digest fails, naming the image and layer', async () => {
    const m = await unpackError([{ corruptBlob: true, entries: [{ path: 'x', data: 'x'.repeat(5000) }] }]);
    expect(m).toMatch(/image hostile\/u\d+:1: layer 1 \(sha256:[0-9a-f]{12}\)/);
  });

  it('a layer whose uncompressed content does not match its diff_id fails', async () => {
    const m = await unpackError([{ wrongDiffId: true, entries: [{ path: 'x', data: 'x' }] }]);
    expect(m).toMatch(/diff_id/);
  });

  it('a layer whose declared size is wrong is refused by the store', async () => {
    const ref = 'hostile/size:1';
    const img = await writeImage(store, ref, { layers: [{ entries: [{ path: 'x', data: 'x'.repeat(3000) }] }] });
    const manifest: ImageManifest = { ...img.manifest, layers: [{ ...img.manifest.layers[0]!, size: img.manifest.layers[0]!.size + 1 }] };
    await expect(unpackImage(store, { name: ref, manifest, config: img.config })).rejects.toThrow(/layer 1 .*: the blob holds \d+ bytes but its descriptor says \d+/);
  });
});

/** A gzip layer holding one file of `size` zero bytes, streamed to the store (never in memory). */
async function zeroBombImage(ref: string, size: number): Promise<void> {
  const tarHeader = (await layerTar([{ path: 'zeros', data: '' }])).subarray(0, 512);
  // patch the size field (octal, 11 digits + NUL at offset 124) and the checksum
  const h = Buffer.from(tarHeader);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const pad = (512 - (size % 512)) % 512;
  const raw = createHash('sha256');
  async function* tar(): AsyncGenerator<Buffer> {
    const zero = Buffer.alloc(1 << 20);
    const parts = [h];
    for (const p of parts) {
      raw.update(p);
      yield p;
    }
    for (let left = size; left > 0; left -= zero.length) {
      const c = left >= zero.length ? zero : zero.subarray(0, left);
      raw.update(c);
      yield c;
    }
    const tail = Buffer.alloc(pad + 1024);
    raw.update(tail);
    yield tail;
  }
  const file = join(dir, `${ref.replace(/\W/g, '_')}.tar.gz`);
  await pipeline(Readable.from(tar()), createGzip({ level: 1 }), createWriteStream(file));
  const layer = await store.writeBlob(createReadStream(file), { mediaType: MediaType.OciLayerGzip });
  const config: ImageConfig = { architecture: hostArch(), os: 'linux', config: { Cmd: ['/zeros'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${raw.digest('hex')}`] } };
  const c = await store.writeBlob(Buffer.from(JSON.stringify(config)), { mediaType: MediaType.OciConfig });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: c.digest, size: c.size },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }],
  };
  const m = await store.writeBlob(Buffer.from(JSON.stringify(manifest)), { mediaType: MediaType.OciManifest });
  await store.setRef(ref, { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size });
  await rm(file);
}

describe('decompression bombs', () => {
  it('past the unpacked-size cap: one line naming image, layer, entry and the cap, no output', async () => {
    await zeroBombImage('hostile/bomb:1', 96 << 20);
    const { r, out } = await build('hostile/bomb:1', { CORACLE_MAX_UNPACKED_SIZE: '64M' });
    expect(r.exitCode).not.toBe(0);
    const line = oneLine(r.stderr);
    expect(line).toMatch(/image (docker\.io\/)?hostile\/bomb:1: layer 1 \(sha256:[0-9a-f]{12}\): entry "zeros" \(96 MiB\) takes the image's unpacked size past the cap of 64 MiB/);
    expect(await outputFiles(out)).toEqual([]);
  });

  it('under the cap, a 300 MiB file of zeros (300 kB of gzip) builds in bounded memory: never held whole', async () => {
    await zeroBombImage('hostile/zeros:1', 300 << 20);
    const sd = await mkdtemp(join(dir, 'spec-'));
    const spec = join(sd, 's.yml');
    await writeFile(spec, 'kernel:\n  image: fx/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - fx/init:1\nservices:\n  - name: svc\n    image: hostile/zeros:1\n');
    const out = join(sd, 'out');
    const timeOut = join(sd, 'time.txt');
    const r = await runCli(['--cache', storeDir, 'build', spec, '-o', out], {});
    expect(r.exitCode, r.stderr).toBe(0);
    // again under /usr/bin/time (segment cache cold: a new output folder, cache cleared)
    await rm(join(storeDir, 'build-cache'), { recursive: true, force: true });
    const { execa } = await import('execa');
    const { projectRoot } = await import('../helpers/cli.js');
    const t = await execa('/usr/bin/time', ['-f', '%M', '-o', timeOut, process.execPath, '--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), '--cache', storeDir, 'build', spec, '-o', join(sd, 'out2')], {
      reject: false,
      cwd: projectRoot,
      env: { CI: '1' },
    });
    expect(t.exitCode, String(t.stderr)).toBe(0);
    const peakMb = Number((await readFile(timeOut, 'utf8')).trim().split('\n').pop()) / 1024;
    // was 732 MB with whole layers in memory; the file is 300 MiB
    expect(peakMb).toBeLessThan(250);
    expect((await stat(join(sd, 'out2', 's-initrd.img'))).size).toBeGreaterThan(0);
  });
});
