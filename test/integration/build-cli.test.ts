/**
 * `coracle build` end to end through the CLI (a child process), with fixture
 * images written straight into a store: reproducible bytes, the initrd's
 * content as GNU cpio extracts it, the segment cache, atomic outputs, the
 * tar format and one-line errors.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { lz4LegacyStreams, parseNewc, zstdFrameLength } from '../unit/initrd/kernel-unpack.js';

let dir: string;
let store: string;
let spec: string;

const SPEC = `kernel:
  image: fx/kernel:1
  cmdline: "console=ttyS0 quiet"
init:
  - fx/init:1
onboot:
  - name: format
    image: fx/tool:1
  - name: format
    image: fx/tool:1
services:
  - name: web
    image: fx/web:1
    readonly: true
files:
  - path: etc/motd
    source: motd.txt
    mode: "0644"
  - path: etc/coracle/spec.json
    metadata: json
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-build-cli-'));
  store = join(dir, 'store');
  const s = await openStore(store);
  const modules = await layerTar([
    { path: 'lib/modules/6.1.0-test/modules.dep', data: 'kernel/drivers/virtio.ko:\nkernel/drivers/unused.ko:\nkernel/drivers/packed.ko.xz: kernel/drivers/virtio.ko\n' },
    { path: 'lib/modules/6.1.0-test/kernel/drivers/virtio.ko', data: 'ELF-module' },
    { path: 'lib/modules/6.1.0-test/kernel/drivers/unused.ko', data: 'ELF-unused' },
    // as Debian ships them: xz-compressed, unpacked into the initrd when trimmed
    { path: 'lib/modules/6.1.0-test/kernel/drivers/packed.ko.xz', data: execFileSync('xz', ['-c', '--check=crc32'], { input: 'ELF-packed' }) },
  ]);
  await writeImage(s, 'fx/kernel:1', {
    layers: [{ entries: [{ path: 'kernel', data: 'bzImage-bytes'.repeat(100) }, { path: 'vmlinux', data: 'ELF-vmlinux' }, { path: 'kernel.tar', data: modules }] }],
  });
  await writeImage(s, 'fx/init:1', {
    layers: [
      {
        entries: [
          { path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
          { path: 'bin/busybox', data: 'BUSYBOX', mode: 0o755 },
          { path: 'bin/sh', type: 'hardlink', target: 'bin/busybox' },
          { path: 'bin/ls', type: 'symlink', target: 'busybox' },
          { path: 'etc', type: 'dir', mode: 0o755 },
          // the init's boot set: the initrd carries these modules only
          { path: 'usr/lib/coracle/boot-modules', data: '# boot set\nvirtio\nnot-in-this-kernel\n' },
          { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
        ],
      },
      { compression: 'zstd', entries: [{ path: 'etc/os-release', data: 'ID=coracle\n' }] },
    ],
  });
  await writeImage(s, 'fx/tool:1', { layers: [{ entries: [{ path: 'bin/tool', data: 'tool', mode: 0o755 }] }], config: { Entrypoint: ['/bin/tool'] } });
  await writeImage(s, 'fx/web:1', { layers: [{ compression: 'none', entries: [{ path: 'srv/index.html', data: '<h1>hi</h1>' }] }], config: { Cmd: ['/bin/httpd', '-f'] } });
  await writeImage(s, 'fx/bad:1', { layers: [{ corruptBlob: true, entries: [{ path: 'x', data: 'x'.repeat(4000) }] }], config: { Cmd: ['/x'] } });
  spec = join(dir, 'spec', 't.yml');
  await mkdir(join(dir, 'spec'));
  await writeFile(spec, SPEC);
  await writeFile(join(dir, 'spec', 'motd.txt'), 'welcome\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function build(out: string, ...more: string[]): Promise<CliResult> {
  return runCli(['--cache', store, 'build', spec, '-o', out, ...more], { env: { SOURCE_DATE_EPOCH: '' } });
}
function ok(r: CliResult): CliResult {
  if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}): ${r.stderr}`);
  return r;
}
async function sums(out: string): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(out)).sort()) o[n] = createHash('sha256').update(await readFile(join(out, n))).digest('hex');
  return o;
}
const builtLine = (r: CliResult): { total: number; cached: number } => {
  const m = /built t in [\d.]+ s \((\d+) segments, (\d+) cached\)/.exec(r.stderr);
  if (!m) throw new Error(`no summary line in:\n${r.stderr}`);
  return { total: Number(m[1]), cached: Number(m[2]) };
};

/**
 * Split an initrd into its raw newc archives: none or zstd segments with zero
 * padding between, or lz4 segments back to back up to the end (the kernel's
 * LZ4 unpacker reads the rest of the image).
 */
function archives(img: Buffer): Array<{ format: 'cpio' | 'zstd' | 'lz4'; data: Buffer }> {
  const out: Array<{ format: 'cpio' | 'zstd' | 'lz4'; data: Buffer }> = [];
  let pos = 0;
  while (pos < img.length) {
    if (pos + 4 <= img.length && img.readUInt32LE(pos) === 0x184c2102) {
      for (const st of lz4LegacyStreams(img.subarray(pos)))
        out.push({ format: 'lz4', data: execFileSync('lz4', ['-d', '-c', '-q'], { input: img.subarray(pos + st.offset, pos + st.offset + st.length), maxBuffer: 1 << 30 }) });
      break;
    }
    if (img[pos] === 0) {
      pos++;
      continue;
    }
    expect(pos % 512, 'segments start on 512-byte boundaries').toBe(0);
    if (img.toString('latin1', pos, pos + 6) === '070701') {
      const { length } = parseNewc(img.subarray(pos));
      out.push({ format: 'cpio', data: img.subarray(pos, pos + length) });
      pos += length;
    } else if (img.readUInt32LE(pos) === 0xfd2fb528) {
      const length = zstdFrameLength(img.subarray(pos));
      out.push({ format: 'zstd', data: execFileSync('zstd', ['-d', '-c', '-q'], { input: img.subarray(pos, pos + length), maxBuffer: 1 << 30 }) });
      pos += length;
    } else throw new Error(`unknown segment magic at ${pos}`);
  }
  return out;
}

/** Extract every archive of the initrd, in order, with GNU cpio into a new folder. */
async function extract(initrd: string): Promise<{ root: string; formats: string[] }> {
  const root = await mkdtemp(join(dir, 'x-'));
  const parts = archives(await readFile(initrd));
  for (const a of parts) execFileSync('cpio', ['-idmu', '--quiet', '--no-absolute-filenames'], { cwd: root, input: a.data });
  return { root, formats: parts.map((p) => p.format) };
}

describe('coracle build (fixture images)', () => {
  it('same inputs give the same bytes: two builds, and a third with an empty build cache', async () => {
    const a = join(dir, 'out-a');
    const b = join(dir, 'out-b');
    const c = join(dir, 'out-c');
    const first = ok(await build(a));
    expect(first.stdout.trim().split('\n').sort()).toEqual(['t-cmdline', 't-images.json', 't-initrd.img', 't-kernel', 't-vmlinux'].map((n) => join(a, n)));
    ok(await build(b));
    await rm(join(store, 'build-cache'), { recursive: true, force: true });
    const third = ok(await build(c));
    expect(builtLine(third).cached).toBe(0);
    const [sa, sb, sc] = [await sums(a), await sums(b), await sums(c)];
    expect(Object.keys(sa)).toEqual(['t-cmdline', 't-images.json', 't-initrd.img', 't-kernel', 't-vmlinux']);
    expect(sb).toEqual(sa);
    expect(sc).toEqual(sa);
    expect(await readFile(join(a, 't-cmdline'), 'utf8')).toBe('console=ttyS0 quiet');
    expect(await readFile(join(a, 't-kernel'), 'utf8')).toBe('bzImage-bytes'.repeat(100));
    expect(await readFile(join(a, 't-vmlinux'), 'utf8')).toBe('ELF-vmlinux');
  });

  it('the initrd extracts with GNU cpio (uncompressed, zstd and lz4 segments) and holds the system', async () => {
    for (const compression of ['none', 'zstd', 'lz4']) {
      const out = join(dir, `out-${compression}`);
      ok(await build(out, '--compression', compression));
      const { root, formats } = await extract(join(out, 't-initrd.img'));
      // init image, modules, the container roots, 3 bundles, files
      expect(formats).toEqual(Array(7).fill(compression === 'none' ? 'cpio' : compression));
      const r = (p: string) => readFile(join(root, p), 'utf8');
      expect(await r('init')).toBe('#!/bin/sh\necho hi\n');
      expect((await stat(join(root, 'init'))).mode & 0o7777).toBe(0o755);
      expect(await r('etc/os-release')).toBe('ID=coracle\n');
      expect((await stat(join(root, 'bin/sh'))).ino).toBe((await stat(join(root, 'bin/busybox'))).ino);
      expect(await readlink(join(root, 'bin/ls'))).toBe('busybox');
      const con = await lstat(join(root, 'dev/console'));
      expect(con.isCharacterDevice()).toBe(true);
      expect(con.rdev).toBe((5 << 8) | 1);
      expect(await r('lib/modules/6.1.0-test/kernel/drivers/virtio.ko')).toBe('ELF-module');
      // not in the boot set: left out, and depmod's files list only what is there
      expect(existsSync(join(root, 'lib/modules/6.1.0-test/kernel/drivers/unused.ko'))).toBe(false);
      expect(await r('lib/modules/6.1.0-test/modules.dep')).toBe('kernel/drivers/virtio.ko:\n');
      for (const b of ['onboot/000-format', 'onboot/001-format', 'services/web']) {
        const config = JSON.parse(await r(`containers/${b}/config.json`)) as { root: { path: string } };
        expect(config.root.path).toBe(`/containers/${b}/rootfs`);
        expect(existsSync(join(root, `containers/${b}/runtime.json`))).toBe(true);
      }
      expect(await r('containers/onboot/001-format/rootfs/bin/tool')).toBe('tool');
      // read-only by default or not, each bundle has its own tree; the two bundles of fx/tool hold its file once (one inode, as the kernel unpacks it too)
      expect((await stat(join(root, 'containers/onboot/001-format/rootfs/bin/tool'))).ino).toBe((await stat(join(root, 'containers/onboot/000-format/rootfs/bin/tool'))).ino);
      // no bind of another bundle's copy
      expect(JSON.parse(await r('containers/onboot/001-format/runtime.json')).mounts[0]).toMatchObject({ source: '/containers/onboot/001-format/rootfs' });
      expect(await r('containers/services/web/rootfs/srv/index.html')).toBe('<h1>hi</h1>');
      expect(await r('etc/motd')).toBe('welcome\n');
      expect((await stat(join(root, 'etc/motd'))).mode & 0o7777).toBe(0o644);
      // the init image made etc 0755: files: left it alone
      expect((await stat(join(root, 'etc'))).mode & 0o7777).toBe(0o755);
      expect((await stat(join(root, 'etc/coracle'))).mode & 0o7777).toBe(0o700);
      expect(JSON.parse(await r('etc/coracle/spec.json'))).toMatchObject({ kernel: { image: 'fx/kernel:1' }, init: ['fx/init:1'] });
    }
  });

  it('a warm rebuild finds every segment cached; a one-file change rebuilds only the files segment', async () => {
    const out = join(dir, 'out-warm');
    ok(await build(out));
    const warm = ok(await build(out));
    const w = builtLine(warm);
    expect(w.total).toBe(7);
    expect(w.cached).toBe(w.total);
    // the files segment has no precomputed key: its entries are hashed, and found cached
    const finals = [...warm.stderr.matchAll(/^segment (\S+): (?!started)(.*)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
    expect(finals.every((l) => l.endsWith(': cached')), finals.join('\n')).toBe(true);
    const before = await sums(out);

    await writeFile(join(dir, 'spec', 'motd.txt'), 'changed\n');
    try {
      const changed = ok(await build(out));
      const c = builtLine(changed);
      expect(c).toEqual({ total: 7, cached: 6 });
      const rebuilt = [...changed.stderr.matchAll(/^segment (\S+): (?!started)/gm)].map((m) => m[1]);
      expect(rebuilt).toEqual(['files']);
      const after = await sums(out);
      expect(after['t-initrd.img']).not.toBe(before['t-initrd.img']);
      expect(after['t-kernel']).toBe(before['t-kernel']);
      const { root } = await extract(join(out, 't-initrd.img'));
      expect(await readFile(join(root, 'etc/motd'), 'utf8')).toBe('changed\n');
    } finally {
      await writeFile(join(dir, 'spec', 'motd.txt'), 'welcome\n');
    }
  });

  it('a failed build leaves the previous outputs untouched and no temporary files', async () => {
    const out = join(dir, 'out-fail');
    ok(await build(out));
    const before = await sums(out);
    const mtimes = await Promise.all(Object.keys(before).map(async (n) => (await stat(join(out, n))).mtimeMs));

    // a missing file source
    const bad = join(dir, 'spec', 'bad.yml');
    await writeFile(bad, SPEC.replace('source: motd.txt', 'source: nothere.txt'));
    const r1 = await runCli(['--cache', store, 'build', bad, '-o', out, '--name', 't']);
    expect(r1.exitCode).toBe(1);
    expect(r1.stderr.trim().split('\n').at(-1)).toMatch(/bad\.yml:\d+:\d+: files: etc\/motd: source .*nothere\.txt does not exist/);

    // an image whose layer is corrupt
    const bad2 = join(dir, 'spec', 'bad2.yml');
    await writeFile(bad2, SPEC.replace('image: fx/web:1', 'image: fx/bad:1'));
    const r2 = await runCli(['--cache', store, 'build', bad2, '-o', out, '--name', 't']);
    expect(r2.exitCode).toBe(1);
    const last = r2.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/image .*fx\/bad:1: layer 1 \(sha256:[0-9a-f]{12}\)/);

    for (const r of [r1, r2]) expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(await sums(out)).toEqual(before);
    expect(await Promise.all(Object.keys(before).map(async (n) => (await stat(join(out, n))).mtimeMs))).toEqual(mtimes);
    expect((await readdir(out)).filter((n) => n.includes('.tmp'))).toEqual([]);
    const segs = await readdir(join(store, 'build-cache', 'segments'));
    expect(segs.filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('--json prints the outputs with their sizes and digests and the images each reference resolved to', async () => {
    const out = join(dir, 'out-json');
    const r = ok(await build(out, '--json'));
    const doc = JSON.parse(r.stdout) as { schemaVersion: number; name: string; formats: string[]; outputs: { path: string; size: number; digest: string }[]; images: { image: string; reference: string; digest: string }[] };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.name).toBe('t');
    expect(doc.formats).toEqual(['kernel+initrd']);
    expect(doc.outputs.map((o) => o.path)).toEqual(['t-kernel', 't-vmlinux', 't-initrd.img', 't-cmdline', 't-images.json'].map((f) => join(out, f)));
    for (const o of doc.outputs) {
      const bytes = await readFile(o.path);
      expect(o.size, o.path).toBe(bytes.length);
      expect(o.digest, o.path).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    }
    expect(doc.images.map((i) => i.image).sort()).toEqual(['fx/init:1', 'fx/kernel:1', 'fx/tool:1', 'fx/web:1']);
    for (const i of doc.images) expect(i.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('--format tar writes the root filesystem with boot/kernel and boot/cmdline', async () => {
    const out = join(dir, 'out-tar');
    const r = ok(await build(out, '--format', 'tar'));
    expect(r.stdout.trim().split('\n')).toEqual([join(out, 't.tar'), join(out, 't-images.json')]);
    const list = execFileSync('tar', ['-tf', join(out, 't.tar')], { encoding: 'utf8' }).split('\n').filter(Boolean).map((p) => p.replace(/\/$/, ''));
    for (const p of ['boot/kernel', 'boot/cmdline', 'init', 'bin/sh', 'dev/console', 'etc/motd', 'lib/modules/6.1.0-test/modules.dep', 'containers/services/web/config.json', 'containers/onboot/000-format/rootfs/bin/tool'])
      expect(list, p).toContain(p);
    expect(new Set(list).size).toBe(list.length);
    const cmdline = execFileSync('tar', ['-xOf', join(out, 't.tar'), 'boot/cmdline'], { encoding: 'utf8' });
    expect(cmdline).toBe('console=ttyS0 quiet');
    const verbose = execFileSync('tar', ['-tvf', join(out, 't.tar'), 'bin/sh'], { encoding: 'utf8' });
    expect(verbose).toMatch(/^h.* bin\/sh link to bin\/busybox/);
    // identical container roots are stored once: the second bundle's file is a link to the first's
    const tool = execFileSync('tar', ['-tvf', join(out, 't.tar'), 'containers/onboot/001-format/rootfs/bin/tool'], { encoding: 'utf8' });
    expect(tool).toMatch(/^h.* containers\/onboot\/001-format\/rootfs\/bin\/tool link to containers\/onboot\/000-format\/rootfs\/bin\/tool/);
  });

  it('errors are one line, no stack trace, exit 1: an unknown image names the image', async () => {
    const unk = join(dir, 'spec', 'unknown.yml');
    await writeFile(unk, SPEC.replace('image: fx/web:1', 'image: 127.0.0.1:1/x:1'));
    const r = await runCli(['--cache', store, 'build', unk, '-o', join(dir, 'out-unknown')]);
    expect(r.exitCode).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toContain('127.0.0.1:1/x:1');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dir, 'out-unknown', 'unknown-initrd.img'))).toBe(false);

    // an output folder that is a file: a user error, said before any work
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const notDir = await runCli(['--cache', store, 'build', spec, '-o', file]);
    expect(notDir.exitCode).toBe(1);
    expect(notDir.stderr.trim()).toBe(`coracle: output folder ${file} is not a folder`);
    const under = await runCli(['--cache', store, 'build', spec, '-o', join(file, 'sub')]);
    expect(under.exitCode).toBe(1);
    expect(under.stderr.trim().split('\n').at(-1)).toBe(`coracle: cannot write the outputs in ${join(file, 'sub')}: it (or a parent) is not a folder`);

    const bad = await runCli(['--cache', store, 'build', spec, '--compression', 'lz9']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^[^\n]*--compression: "lz9" is not one of lz4, zstd, gzip, none$/);
  });

  it('copies of the build agree: a build from a copied spec folder gives the same initrd', async () => {
    const copy = join(dir, 'spec-copy');
    await cp(join(dir, 'spec'), copy, { recursive: true });
    const a = join(dir, 'out-a');
    const out = join(dir, 'out-copy');
    ok(await runCli(['--cache', store, 'build', join(copy, 't.yml'), '-o', out], { env: { SOURCE_DATE_EPOCH: '' } }));
    // metadata: json is the spec, not its path, so the bytes match
    expect((await sums(out))['t-initrd.img']).toBe((await sums(a))['t-initrd.img']);
  });
  it('kernel.modules: all carries the whole tarball, a list adds modules, a module the kernel lacks is an error naming it', async () => {
    const extra = async (name: string, text: string) => {
      const f = join(dir, 'spec', name);
      await writeFile(f, text);
      return f;
    };
    const modulesIn = async (out: string) => {
      const { root } = await extract(join(out, 't-initrd.img'));
      return (await readdir(join(root, 'lib/modules/6.1.0-test/kernel/drivers'))).sort();
    };
    const all = join(dir, 'out-modules-all');
    ok(await runCli(['--cache', store, 'build', spec, await extra('all.yml', 'kernel:\n  modules: all\n'), '-o', all, '--name', 't']));
    expect(await modulesIn(all)).toEqual(['packed.ko.xz', 'unused.ko', 'virtio.ko']);
    const listed = join(dir, 'out-modules-list');
    ok(await runCli(['--cache', store, 'build', spec, await extra('list.yml', 'kernel:\n  modules: [unused]\n'), '-o', listed, '--name', 't']));
    expect(await modulesIn(listed)).toEqual(['unused.ko', 'virtio.ko']);
    // a compressed module goes in unpacked (finit_module takes it at the first try), and depmod names it so
    const packed = join(dir, 'out-modules-packed');
    ok(await runCli(['--cache', store, 'build', spec, await extra('packed.yml', 'kernel:\n  modules: [packed]\n'), '-o', packed, '--name', 't']));
    const { root: packedRoot } = await extract(join(packed, 't-initrd.img'));
    expect((await readdir(join(packedRoot, 'lib/modules/6.1.0-test/kernel/drivers'))).sort()).toEqual(['packed.ko', 'virtio.ko']);
    expect(await readFile(join(packedRoot, 'lib/modules/6.1.0-test/kernel/drivers/packed.ko'), 'utf8')).toBe('ELF-packed');
    // (depmod reads dependencies from the modules' symbols: the fixture's fake ELF files have none)
    expect((await readFile(join(packedRoot, 'lib/modules/6.1.0-test/modules.dep'), 'utf8')).split('\n').sort()).toEqual(['', 'kernel/drivers/packed.ko:', 'kernel/drivers/virtio.ko:']);

    const missing = join(dir, 'out-modules-missing');
    const badSpec = await extra('missing.yml', 'kernel:\n  modules:\n    - unused\n    - wireguard\n');
    const r = await runCli(['--cache', store, 'build', spec, badSpec, '-o', missing, '--name', 't']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `coracle: ${badSpec}:4:7: kernel.modules: kernel 6.1.0-test of docker.io/fx/kernel:1 has no module "wireguard", neither loadable nor built in`,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(missing)).toBe(false);
  });
});
