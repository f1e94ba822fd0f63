/**
 * The assembler's build() called as a library, with fixture images, and the
 * initrd read back by a reader that follows the kernel's unpack rules.
 */
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../src/build/assemble.js';
import { openStore, type LayoutStore } from '../../../src/oci/store/layout-store.js';
import { StagedOutputs, writeOutputs } from '../../../src/outputs/index.js';
import { writeImage } from '../../helpers/oci-fixtures.js';
import { kernelUnpack } from '../initrd/kernel-unpack.js';

let dir: string;
let store: LayoutStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-assemble-'));
  store = await openStore(join(dir, 'store'));
  await writeImage(store, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: 'KERNEL' }, { path: 'vmlinux', data: 'VMLINUX' }] }] });
  await writeImage(store, 'fx/kernel-novm:1', { layers: [{ entries: [{ path: 'kernel', data: 'KERNEL2' }] }] });
  await writeImage(store, 'fx/init:1', {
    layers: [
      {
        entries: [
          { path: 'bin/busybox', data: 'BUSYBOX', mode: 0o755 },
          { path: 'bin/sh', type: 'hardlink', target: 'bin/busybox' },
          { path: 'bin/mount', type: 'hardlink', target: 'bin/busybox' },
          { path: 'bin/hostname', type: 'hardlink', target: 'bin/busybox' },
        ],
      },
    ],
  });
  // a later init image replacing one of the hardlinked paths
  await writeImage(store, 'fx/mount:1', { layers: [{ entries: [{ path: 'bin/mount', data: 'REAL-MOUNT', mode: 0o755 }] }] });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function specFile(name: string, yaml: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, yaml);
  return p;
}

describe('build(): later components over hardlinks of earlier ones', () => {
  it('a later init image or a files: entry replacing a hardlinked path does not write through to its links', async () => {
    const spec = await specFile(
      'links.yml',
      `kernel:
  image: fx/kernel:1
  tar: none
init:
  - fx/init:1
  - fx/mount:1
files:
  - path: bin/hostname
    contents: "#!/bin/sh\\necho box\\n"
    mode: "0755"
`,
    );
    const out = join(dir, 'out-links');
    for (const format of ['kernel+initrd', 'tar'] as const) {
      await build({ specFiles: [spec], store, outDir: out, format, compression: 'zstd' });
    }
    const { nodes } = kernelUnpack(await readFile(join(out, 'links-initrd.img')));
    const text = (p: string) => nodes.get(p)!.inode.data.toString('utf8');
    expect(text('bin/mount')).toBe('REAL-MOUNT');
    expect(text('bin/hostname')).toBe('#!/bin/sh\necho box\n');
    expect(text('bin/busybox')).toBe('BUSYBOX');
    expect(text('bin/sh')).toBe('BUSYBOX');
    expect(nodes.get('bin/sh')!.inode).toBe(nodes.get('bin/busybox')!.inode);
    expect(nodes.get('bin/mount')!.inode).not.toBe(nodes.get('bin/busybox')!.inode);
  });
});

describe('outputs: all or nothing', () => {
  it('a failure while writing leaves every previous output, vmlinux included; a good build without vmlinux removes the stale one', async () => {
    const out = join(dir, 'out-atomic');
    const spec = await specFile('a.yml', 'kernel:\n  image: fx/kernel:1\n  tar: none\ninit:\n  - fx/init:1\n');
    const first = await build({ specFiles: [spec], store, outDir: out });
    expect(first.outputs.map((p) => p.slice(out.length + 1)).sort()).toEqual(['a-cmdline', 'a-images.json', 'a-initrd.img', 'a-kernel', 'a-vmlinux']);
    const before = Object.fromEntries(await Promise.all((await readdir(out)).map(async (n) => [n, await readFile(join(out, n))] as const)));

    // a segment that vanished from the cache (e.g. pruned meanwhile) makes the initrd write fail
    const kernel = join(dir, 'k2');
    await writeFile(kernel, 'KERNEL2');
    await expect(
      writeOutputs(out, 'kernel+initrd', {
        name: 'a',
        cmdline: 'new',
        kernel,
        segments: [{ ...first.segments[0]!, path: join(dir, 'gone.cpio.zst') }],
      }),
    ).rejects.toThrow(/gone\.cpio\.zst/);
    const after = Object.fromEntries(await Promise.all((await readdir(out)).map(async (n) => [n, await readFile(join(out, n))] as const)));
    expect(after).toEqual(before);

    const spec2 = await specFile('a2.yml', 'kernel:\n  image: fx/kernel-novm:1\n  tar: none\ninit:\n  - fx/init:1\n');
    await build({ specFiles: [spec2], store, outDir: out, name: 'a' });
    expect((await readdir(out)).sort()).toEqual(['a-cmdline', 'a-images.json', 'a-initrd.img', 'a-kernel']);
    expect(await readFile(join(out, 'a-kernel'), 'utf8')).toBe('KERNEL2');
  });

  it('outputs appear whole: written under temporary names and renamed', async () => {
    const out = join(dir, 'out-mode');
    await mkdir(out, { recursive: true });
    const spec = await specFile('m.yml', 'kernel:\n  image: fx/kernel:1\n  tar: none\ninit:\n  - fx/init:1\n');
    const r = await build({ specFiles: [spec], store, outDir: out });
    for (const p of r.outputs) expect((await stat(p)).isFile()).toBe(true);
    expect((await readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a rebuild keeps outputs whose content would not change; touched, removed or changed ones are written again', async () => {
    const out = join(dir, 'out-keep');
    await writeFile(join(dir, 'motd'), 'one\n');
    const spec = await specFile('k.yml', 'kernel:\n  image: fx/kernel:1\n  tar: none\ninit:\n  - fx/init:1\nfiles:\n  - path: etc/motd\n    source: motd\n');
    const names = ['k-kernel', 'k-vmlinux', 'k-initrd.img', 'k-cmdline', 'k-images.json'];
    const ident = async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, `${(await stat(join(out, n))).ino}:${(await stat(join(out, n))).mtimeMs}`] as const)));
    const bytes = async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(out, n))] as const)));
    const first = await build({ specFiles: [spec], store, outDir: out });
    expect(first.outputs).toEqual(names.map((n) => join(out, n)));
    const id1 = await ident();
    const b1 = await bytes();

    // nothing changed: every output kept as it is, all still listed
    const warm = await build({ specFiles: [spec], store, outDir: out });
    expect(warm.outputs).toEqual(names.map((n) => join(out, n)));
    expect(await ident()).toEqual(id1);

    // one file changed: only the initrd is written again
    await writeFile(join(dir, 'motd'), 'two\n');
    await build({ specFiles: [spec], store, outDir: out });
    const id2 = await ident();
    expect(id2['k-initrd.img']).not.toBe(id1['k-initrd.img']);
    for (const n of ['k-kernel', 'k-vmlinux', 'k-cmdline', 'k-images.json']) expect(id2[n], n).toBe(id1[n]);
    const { nodes } = kernelUnpack(await readFile(join(out, 'k-initrd.img')));
    expect(nodes.get('etc/motd')!.inode.data.toString()).toBe('two\n');

    // an output changed by hand, or removed, is written again
    await writeFile(join(dir, 'motd'), 'one\n');
    await build({ specFiles: [spec], store, outDir: out });
    await writeFile(join(out, 'k-kernel'), 'tampered');
    await rm(join(out, 'k-vmlinux'));
    await build({ specFiles: [spec], store, outDir: out });
    expect(await bytes()).toEqual(b1);
  });

  it('a files: change rewrites only the initrd\'s tail, in a file nobody else links to; a hardlinked copy keeps the old bytes', async () => {
    const out = join(dir, 'out-tail');
    await writeFile(join(dir, 'motd-tail'), 'one\n');
    const spec = await specFile('t.yml', 'kernel:\n  image: fx/kernel:1\n  tar: none\ninit:\n  - fx/init:1\n  - fx/mount:1\nfiles:\n  - path: etc/motd\n    source: motd-tail\n');
    const initrd = join(out, 't-initrd.img');
    const first = await build({ specFiles: [spec], store, outDir: out });
    const ino = (await stat(initrd)).ino;
    const head = (await readFile(initrd)).subarray(0, first.segments.slice(0, -1).reduce((n, s) => n + s.size, 0));

    await writeFile(join(dir, 'motd-tail'), 'two, longer\n');
    const second = await build({ specFiles: [spec], store, outDir: out });
    expect((await stat(initrd)).ino).toBe(ino);
    const bytes = await readFile(initrd);
    expect(bytes.length).toBe(second.segments.reduce((n, s) => n + s.size, 0));
    expect(bytes.subarray(0, head.length).equals(head)).toBe(true);
    expect(kernelUnpack(bytes).nodes.get('etc/motd')!.inode.data.toString()).toBe('two, longer\n');

    // someone keeps a hardlink to the output: it must not change under them
    await link(initrd, join(dir, 'kept-initrd.img'));
    await writeFile(join(dir, 'motd-tail'), 'three\n');
    await build({ specFiles: [spec], store, outDir: out });
    expect((await stat(initrd)).ino).not.toBe(ino);
    expect((await readFile(join(dir, 'kept-initrd.img'))).equals(bytes)).toBe(true);
    expect(kernelUnpack(await readFile(initrd)).nodes.get('etc/motd')!.inode.data.toString()).toBe('three\n');
  });

  it('an adopted output is put back as it was when the build fails', async () => {
    const out = join(dir, 'out-adopt');
    await mkdir(out, { recursive: true });
    const f = join(out, 'x-initrd.img');
    await writeFile(f, 'OLD CONTENT');
    const stage = new StagedOutputs(out);
    const tmp = await stage.adopt(f, (t) => writeFile(t, 'OLD CONTENT'));
    await writeFile(tmp, 'HALF');
    await expect(stat(f)).rejects.toThrow();
    await stage.abort();
    expect(await readFile(f, 'utf8')).toBe('OLD CONTENT');
    expect((await readdir(out)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

