/**
 * The build memo (src/build/memo.ts): a rebuild whose plan cannot have
 * changed takes it from the memo, and gives the bytes a full plan gives;
 * every input the plan is made from makes the next build plan in full.
 */
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../../src/build/assemble.js';
import { pruneMemos } from '../../../src/build/memo.js';
import { openStore, type LayoutStore } from '../../../src/oci/store/layout-store.js';
import { layerTar, writeImage } from '../../helpers/oci-fixtures.js';
import { kernelUnpack } from '../initrd/kernel-unpack.js';

let dir: string;
let store: LayoutStore;

const SPEC = `kernel:
  image: fx/kernel:1
  cmdline: console=ttyS0
init:
  - fx/init:1
onboot:
  - name: format
    image: fx/tool:1
services:
  - name: web
    image: fx/web:1
files:
  - path: etc/motd
    source: motd.txt
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-memo-'));
  store = await openStore(join(dir, 'store'));
  const modules = await layerTar([
    { path: 'lib/modules/6.1.0-test/modules.dep', data: 'kernel/drivers/virtio.ko:\nkernel/drivers/extra.ko:\n' },
    { path: 'lib/modules/6.1.0-test/kernel/drivers/virtio.ko', data: 'ELF-virtio' },
    { path: 'lib/modules/6.1.0-test/kernel/drivers/extra.ko', data: 'ELF-extra' },
  ]);
  await writeImage(store, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: 'KERNEL' }, { path: 'vmlinux', data: 'VMLINUX' }, { path: 'kernel.tar', data: modules }] }] });
  await writeImage(store, 'fx/init:1', {
    layers: [
      {
        entries: [
          { path: 'init', data: '#!/bin/sh\n', mode: 0o755 },
          { path: 'bin/busybox', data: 'BUSYBOX', mode: 0o755 },
          { path: 'usr/lib/coracle/boot-modules', data: 'virtio\n' },
          { path: 'usr/bin/crun', data: 'CRUN', mode: 0o755 },
          { path: 'usr/sbin/runc', data: 'RUNC', mode: 0o755 },
        ],
      },
    ],
  });
  await writeImage(store, 'fx/tool:1', { layers: [{ entries: [{ path: 'bin/tool', data: 'tool-1', mode: 0o755 }] }], config: { Entrypoint: ['/bin/tool'] } });
  await writeImage(store, 'fx/web:1', { layers: [{ entries: [{ path: 'srv/index.html', data: '<h1>hi</h1>' }] }], config: { Cmd: ['/bin/httpd'] } });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env.CORACLE_BUILD_MEMO;
});

let n = 0;
/** A fresh spec folder with SPEC (or `yaml`) and its motd. */
async function system(yaml = SPEC, motd = 'hello\n'): Promise<{ spec: string; out: string }> {
  const d = await mkdtemp(join(dir, `sys-${n++}-`));
  await writeFile(join(d, 'motd.txt'), motd);
  await writeFile(join(d, 'sys.yml'), yaml);
  return { spec: join(d, 'sys.yml'), out: join(d, 'out') };
}

async function run(spec: string, out: string, more: Partial<BuildOptions> = {}) {
  // relative `source:` paths resolve against the working folder
  const cwd = process.cwd();
  process.chdir(join(spec, '..'));
  try {
    return await build({ specFiles: [spec], store, outDir: out, name: 'sys', ...more });
  } finally {
    process.chdir(cwd);
  }
}

const initrdOf = async (out: string) => readFile(join(out, 'sys-initrd.img'));

describe('build memo', () => {
  it('a rebuild with the same inputs takes the plan from the memo and writes the same bytes as a full plan', async () => {
    const { spec, out } = await system();
    expect((await run(spec, out)).planned).toBe('full');
    const again = await run(spec, join(out, '..', 'out2'));
    expect(again.planned).toBe('memo');
    process.env.CORACLE_BUILD_MEMO = '0';
    const full = await run(spec, join(out, '..', 'out3'));
    expect(full.planned).toBe('full');
    for (const f of ['sys-initrd.img', 'sys-kernel', 'sys-vmlinux', 'sys-cmdline', 'sys-images.json'])
      expect((await readFile(join(out, '..', 'out2', f))).equals(await readFile(join(out, '..', 'out3', f))), f).toBe(true);
    expect(again.images).toEqual(full.images);
    expect(again.segments.map((s) => [s.name, s.key])).toEqual(full.segments.map((s) => [s.name, s.key]));
  });

  it('a changed `files:` source keeps the memo; the new bytes are in the initrd', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    await writeFile(join(spec, '..', 'motd.txt'), 'changed\n');
    const r = await run(spec, out);
    expect(r.planned).toBe('memo');
    expect(kernelUnpack(await initrdOf(out)).nodes.get('etc/motd')!.inode.data.toString()).toBe('changed\n');
  });

  it('a changed spec, a moved tag or another runtime option plans in full', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    expect((await run(spec, out)).planned).toBe('memo');

    await writeFile(spec, SPEC.replace('console=ttyS0', 'console=ttyS0 quiet'));
    expect((await run(spec, out)).planned).toBe('full');
    expect(await readFile(join(out, 'sys-cmdline'), 'utf8')).toBe('console=ttyS0 quiet');
    expect((await run(spec, out)).planned).toBe('memo');

    // the tag now names another image: the next build must use it
    await writeImage(store, 'fx/tool:1', { layers: [{ entries: [{ path: 'bin/tool', data: 'tool-2', mode: 0o755 }] }], config: { Entrypoint: ['/bin/tool'] } });
    const moved = await run(spec, out);
    expect(moved.planned).toBe('full');
    expect(kernelUnpack(await initrdOf(out)).nodes.get('containers/onboot/000-format/rootfs/bin/tool')!.inode.data.toString()).toBe('tool-2');

    const conf = async () => kernelUnpack(await initrdOf(out)).nodes.get('etc/coracle/boot.conf')!.inode.data.toString();
    expect(await conf()).toContain('crun');
    expect((await run(spec, out, { runtime: 'runc' })).planned).toBe('full');
    expect(await conf()).toContain('runc');
    expect((await run(spec, out, { runtime: 'runc' })).planned).toBe('memo');
    expect((await run(spec, out)).planned).toBe('memo');
    expect(await conf()).toContain('crun');
  });

  it('an /etc/modules from `files:` that changes plans in full: the modules segment follows it', async () => {
    const yaml = `${SPEC}  - path: etc/modules\n    source: modules.txt\n`;
    const { spec, out } = await system(yaml);
    await writeFile(join(spec, '..', 'modules.txt'), '\n');
    await run(spec, out);
    const has = async (m: string) => kernelUnpack(await initrdOf(out)).nodes.has(`lib/modules/6.1.0-test/kernel/drivers/${m}.ko`);
    expect(await has('extra')).toBe(false);
    expect((await run(spec, out)).planned).toBe('memo');
    await writeFile(join(spec, '..', 'modules.txt'), 'extra\n');
    expect((await run(spec, out)).planned).toBe('full');
    expect(await has('extra')).toBe(true);
  });

  it('a memo whose segments or kernel parts left the cache is not used, and the build is whole', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    const good = await initrdOf(out);
    // `coracle cache prune` or a hand: the segments go
    const segDir = join(store.root, 'build-cache', 'segments');
    for (const f of await readdir(segDir)) await rm(join(segDir, f), { force: true });
    const r = await run(spec, join(out, '..', 'again'));
    expect(r.planned).toBe('full');
    expect((await initrdOf(join(out, '..', 'again'))).equals(good)).toBe(true);
    await rm(join(store.root, 'build-cache', 'kernel'), { recursive: true, force: true });
    const k = await run(spec, join(out, '..', 'again2'));
    expect(k.planned).toBe('full');
    expect((await initrdOf(join(out, '..', 'again2'))).equals(good)).toBe(true);
  });

  it('a memo file that is not JSON, or not a memo, is ignored', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    const memoDir = join(store.root, 'build-cache', 'memo');
    for (const bad of ['not json', '{"components": 3}', '']) {
      for (const f of await readdir(memoDir)) await writeFile(join(memoDir, f), bad);
      expect((await run(spec, out)).planned, bad).toBe('full');
      expect((await run(spec, out)).planned).toBe('memo');
    }
  });

  it('the memo is written whole: no temporary files are left in its folder', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    expect((await readdir(join(store.root, 'build-cache', 'memo'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // and the initrd from a memo plan still unpacks to the whole system
    const nodes = kernelUnpack(await initrdOf(out)).nodes;
    for (const p of ['init', 'containers/services/web/config.json', 'containers/onboot/000-format/rootfs/bin/tool', 'etc/motd']) expect(nodes.has(p), p).toBe(true);
  });

  it('cache prune: memos older than the grace period go (the next build plans again), newer ones and a live writer\'s stay', async () => {
    const { spec, out } = await system();
    await run(spec, out);
    const root = join(store.root, 'build-cache');
    const memoDir = join(root, 'memo');
    const all = await readdir(memoDir);
    expect(all.length).toBeGreaterThan(0);
    expect((await pruneMemos(root, { gracePeriodMs: 600_000 })).removed).toEqual([]);
    const old = new Date(Date.now() - 3_600_000);
    for (const f of all) await utimes(join(memoDir, f), old, old);
    await writeFile(join(memoDir, `x.json.tmp-${process.pid}-0badc0de`), 'writing');
    await writeFile(join(memoDir, 'y.json.tmp-999999-0badc0de'), 'dead');
    const dry = await pruneMemos(root, { gracePeriodMs: 600_000, dryRun: true });
    expect(dry.removed.length).toBe(all.length + 1);
    expect((await readdir(memoDir)).length).toBe(all.length + 2);
    const r = await pruneMemos(root, { gracePeriodMs: 600_000 });
    expect(r.removed.map((p) => p.split('/').pop()).sort()).toEqual([...all, 'y.json.tmp-999999-0badc0de'].sort());
    expect(await readdir(memoDir)).toEqual([`x.json.tmp-${process.pid}-0badc0de`]);
    expect((await run(spec, out)).planned).toBe('full');
    expect((await run(spec, out)).planned).toBe('memo');
  });
});
