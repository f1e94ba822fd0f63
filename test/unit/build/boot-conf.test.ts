/**
 * /etc/coracle/boot.conf from build(): which OCI runtime the guest uses
 * (spec `runtime:`, the build option, or what the init images hold) and
 * whether containerd may start while onboot runs.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../../src/build/assemble.js';
import { bootConfText } from '../../../src/build/boot-conf.js';
import { openStore, type LayoutStore } from '../../../src/oci/store/layout-store.js';
import { loadSpecs } from '../../../src/spec/index.js';
import { writeImage } from '../../helpers/oci-fixtures.js';
import { kernelUnpack } from '../initrd/kernel-unpack.js';

let dir: string;
let store: LayoutStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-conf-'));
  store = await openStore(join(dir, 'store'));
  await writeImage(store, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: 'KERNEL' }] }] });
  await writeImage(store, 'fx/init:1', { layers: [{ entries: [{ path: 'etc/coracle/containerd.toml', data: 'x' }, { path: 'bin/busybox', data: 'BB', mode: 0o755 }] }] });
  await writeImage(store, 'fx/crun:1', { layers: [{ entries: [{ path: 'usr/bin/crun', data: 'CRUN', mode: 0o755 }] }] });
  await writeImage(store, 'fx/runc:1', { layers: [{ entries: [{ path: 'usr/sbin/runc', data: 'RUNC', mode: 0o755 }] }] });
  await writeImage(store, 'fx/tool:1', { layers: [{ entries: [{ path: 'bin/tool', data: 'T', mode: 0o755 }] }], config: { Entrypoint: ['/bin/tool'] } });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function bootConf(yaml: string, extra: Partial<BuildOptions> = {}): Promise<string> {
  const name = `s${n++}`;
  const spec = join(dir, `${name}.yml`);
  await writeFile(spec, `kernel:\n  image: fx/kernel:1\n  tar: none\n${yaml}`);
  const out = join(dir, `out-${name}`);
  await build({ specFiles: [spec], store, outDir: out, compression: 'none', ...extra });
  const { nodes } = kernelUnpack(await readFile(join(out, `${name}-initrd.img`)));
  return nodes.get('etc/coracle/boot.conf')!.inode.data.toString('utf8');
}

const conf = (s: string) => Object.fromEntries([...s.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));

describe('boot.conf: the OCI runtime', () => {
  it('crun when an init image holds it, runc when only runc is there', async () => {
    expect(conf(await bootConf('init: [fx/init:1, fx/crun:1, fx/runc:1]\n')).RUNTIME).toBe('crun');
    expect(conf(await bootConf('init: [fx/init:1, fx/runc:1]\n')).RUNTIME).toBe('runc');
  });

  it('the spec\'s runtime: picks one; the build option wins over the spec', async () => {
    expect(conf(await bootConf('init: [fx/init:1, fx/crun:1, fx/runc:1]\nruntime: runc\n')).RUNTIME).toBe('runc');
    expect(conf(await bootConf('init: [fx/init:1, fx/crun:1, fx/runc:1]\nruntime: runc\n', { runtime: 'crun' })).RUNTIME).toBe('crun');
  });

  it('a runtime no init image holds is a one-line error naming the spec position', async () => {
    await expect(bootConf('init: [fx/init:1, fx/runc:1]\nruntime: crun\n')).rejects.toThrow(
      /\/s\d+\.yml:5:10: runtime: crun, but no init image holds \/usr\/bin\/crun \(list "@pkg:\.\.\.\/images\/crun" under init:\)$/,
    );
    await expect(bootConf('init: [fx/init:1, fx/crun:1]\n', { runtime: 'runc' })).rejects.toThrow('build --runtime: runc, but no init image holds /usr/sbin/runc');
  });

  it('an unknown runtime in the spec is a validation error at its position', async () => {
    const spec = join(dir, 'bad-runtime.yml');
    await writeFile(spec, 'init: [fx/init:1]\nruntime: youki\n');
    await expect(loadSpecs([spec])).rejects.toThrow(/bad-runtime\.yml:2:10: .*runtime.*(crun|runc)/);
  });
});

describe('boot.conf: containerd during onboot', () => {
  it('early when no onboot container reaches containerd\'s folders', async () => {
    const c = conf(await bootConf('init: [fx/init:1, fx/crun:1]\nonboot:\n  - name: a\n    image: fx/tool:1\n    binds: [/etc/resolv.conf:/etc/resolv.conf, /var/log:/var/log]\n'));
    expect(c.CONTAINERD_EARLY).toBe('1');
  });

  it('after onboot when an onboot container binds a folder above or below containerd\'s root or state, or mounts there through runtime:', async () => {
    for (const bind of ['/var:/var:rshared,rbind', '/var/lib/containerd:/mnt', '/run/containerd/x:/x', '/:/hostroot']) {
      const text = await bootConf(`init: [fx/init:1, fx/crun:1]\nonboot:\n  - name: ok\n    image: fx/tool:1\n  - name: disk\n    image: fx/tool:1\n    binds: ["${bind}"]\n`);
      expect(conf(text).CONTAINERD_EARLY, bind).toBe('0');
      expect(text).toContain(`# containerd after onboot: onboot disk binds ${bind.split(':')[0]}`);
    }
    const rt = await bootConf(
      'init: [fx/init:1, fx/crun:1]\nonboot:\n  - name: mnt\n    image: fx/tool:1\n    runtime:\n      mounts:\n        - {type: tmpfs, source: tmpfs, destination: /var/lib/containerd}\n',
    );
    expect(conf(rt).CONTAINERD_EARLY).toBe('0');
    // services do not hold containerd back (they start after it anyway)
    const svc = await bootConf('init: [fx/init:1, fx/crun:1]\nservices:\n  - name: s\n    image: fx/tool:1\n    binds: [/var:/var]\n');
    expect(conf(svc).CONTAINERD_EARLY).toBe('1');
  });

  it('is sh the init can source', () => {
    expect(bootConfText({ runtime: 'runc', containerdEarly: false, containerdAfter: 'onboot x binds /var' })).toBe(
      '# written by coracle build; sourced by /usr/lib/coracle/lib.sh\nRUNTIME=runc\n# containerd after onboot: onboot x binds /var\nCONTAINERD_EARLY=0\n',
    );
  });
});
