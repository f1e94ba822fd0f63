import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleEntries, planContainers, rootfsEntries, type ContainerPlan } from '../../../src/build/containers.js';
import { planRoots, rootsEntries } from '../../../src/build/roots.js';
import { writeSegment } from '../../../src/initrd/index.js';
import { kernelUnpack } from '../initrd/kernel-unpack.js';
import { readFile } from 'node:fs/promises';
import { resolveImages, specImages, type ResolvedBuildImage } from '../../../src/build/images.js';
import { unpackImage } from '../../../src/build/unpack.js';
import type { FsTree } from '../../../src/initrd/tree.js';
import type { InitrdEntry } from '../../../src/initrd/types.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import { openStore, type LayoutStore } from '../../../src/oci/store/layout-store.js';
import { LINUXKIT_CONFIG_LABEL } from '../../../src/oci/types.js';
import { silentReporter } from '../../../src/progress/reporter.js';
import { allocateIds } from '../../../src/runtime/ids.js';
import type { Spec } from '../../../src/runtime/types.js';
import { loadSpecs } from '../../../src/spec/index.js';
import { writeImage } from '../../helpers/oci-fixtures.js';
import { runtimeConfigValidator } from '../runtime/oci-schema.js';

const validate = runtimeConfigValidator();
let dir: string;
let store: LayoutStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-containers-'));
  store = await openStore(join(dir, 'store'));
  await writeImage(store, 'fx/tool:1', {
    layers: [{ entries: [{ path: 'bin/tool', data: '#!/bin/sh\n', mode: 0o755 }, { path: 'etc/tool.conf', data: 'x=1\n' }] }],
    config: { Entrypoint: ['/bin/tool'], Env: ['PATH=/bin'] },
  });
  // shares bin/tool's bytes and mode with fx/tool:1; etc/tool.conf has its bytes but another mode
  await writeImage(store, 'fx/tool2:1', {
    layers: [{ entries: [{ path: 'bin/tool', data: '#!/bin/sh\n', mode: 0o755 }, { path: 'etc/tool.conf', data: 'x=1\n', mode: 0o600 }, { path: 'etc/other', data: 'other\n' }] }],
    config: { Entrypoint: ['/bin/tool'] },
  });
  await writeImage(store, 'fx/net:1', {
    layers: [{ entries: [{ path: 'bin/net', data: 'net', mode: 0o755 }] }],
    config: {
      Cmd: ['/bin/net', '-f'],
      Labels: { [LINUXKIT_CONFIG_LABEL]: JSON.stringify({ capabilities: ['CAP_NET_ADMIN'], binds: ['/etc/resolv.conf:/etc/resolv.conf'], net: 'host' }) },
    },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Planned {
  plans: ContainerPlan[];
  images: Map<string, ResolvedBuildImage>;
  tree: (i: ResolvedBuildImage) => Promise<FsTree>;
}

async function plan(yaml: string): Promise<Planned> {
  const file = join(dir, `spec-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(file, yaml);
  const { spec } = await loadSpecs([file]);
  const images = await resolveImages(store, specImages(spec), { platform: hostPlatform(), reporter: silentReporter });
  const unpacked = new Map<string, Promise<FsTree>>();
  const tree = (i: ResolvedBuildImage): Promise<FsTree> => {
    let t = unpacked.get(i.descriptor.digest);
    if (!t) {
      t = unpackImage(store, { name: i.reference, manifest: i.manifest, config: i.config });
      unpacked.set(i.descriptor.digest, t);
    }
    return t;
  };
  const plans = await planContainers({ spec, images, ids: allocateIds(spec), loadTree: tree });
  return { plans, images, tree };
}

async function entriesOf(p: Planned, bundle: string): Promise<InitrdEntry[]> {
  const c = p.plans.find((x) => x.bundle === bundle);
  if (!c) throw new Error(`no bundle ${bundle}: ${p.plans.map((x) => x.bundle).join(', ')}`);
  const all = [...bundleEntries(c), ...rootfsEntries(c, await p.tree(c.image))];
  const byPath = new Map(all.map((e) => [e.path, e]));
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
const cfg = (c: ContainerPlan): Spec => JSON.parse(c.configJson) as Spec;

describe('container bundles', () => {
  // writable roots (not the default): each bundle holds its own copy
  const yaml = `
onboot:
  - name: format
    image: fx/tool:1
    readonly: false
  - name: format
    image: fx/tool:1
    readonly: false
  - name: mount
    image: fx/tool:1
    readonly: false
onshutdown:
  - name: bye
    image: fx/tool:1
    readonly: false
services:
  - name: dhcp
    image: fx/net:1
    capabilities.add: [CAP_SYS_ADMIN]
    binds.add: [/var/run:/var/run]
    env: [MODE=yaml]
  - name: web
    image: fx/tool:1
    readonly: false
    binds:
      - data:/srv/data
volumes:
  - name: data
`;

  it('lays out onboot/NNN-name (names may repeat), onshutdown/NNN-name and services/name', async () => {
    const p = await plan(yaml);
    expect(p.plans.map((x) => x.bundle)).toEqual([
      'containers/onboot/000-format',
      'containers/onboot/001-format',
      'containers/onboot/002-mount',
      'containers/onshutdown/000-bye',
      'containers/services/dhcp',
      'containers/services/web',
    ]);
    const e = await entriesOf(p, 'containers/onboot/001-format');
    const paths = e.map((x) => x.path);
    expect(paths.slice(0, 4)).toEqual(['containers', 'containers/onboot', 'containers/onboot/001-format', 'containers/onboot/001-format/config.json']);
    expect(paths).toContain('containers/onboot/001-format/runtime.json');
    expect(paths).toContain('containers/onboot/001-format/rootfs/bin/tool');
    expect(e.find((x) => x.path.endsWith('rootfs/bin/tool'))).toMatchObject({ type: 'file', mode: 0o755 });
    // parents before children
    for (const [i, x] of e.entries()) {
      const parent = x.path.slice(0, x.path.lastIndexOf('/'));
      if (parent) expect(paths.indexOf(parent), x.path).toBeLessThan(i);
    }
  });

  it('every config.json is valid against the OCI runtime-spec schema, with an absolute root.path; runtime.json is JSON', async () => {
    const p = await plan(yaml);
    for (const c of p.plans) {
      const config = cfg(c);
      expect(validate(config), c.bundle).toEqual([]);
      expect(config.root!.path).toBe(`/${c.bundle}/rootfs`);
      expect(JSON.parse(c.runtimeJson)).toBeTypeOf('object');
      const e = await entriesOf(p, c.bundle);
      const runtime = e.find((x) => x.path === `${c.bundle}/runtime.json`);
      expect(runtime?.type).toBe('file');
    }
  });

  it('image config, then the image label, then the YAML (plain keys replace, .add appends)', async () => {
    const p = await plan(yaml);
    const dhcp = cfg(p.plans.find((x) => x.bundle === 'containers/services/dhcp')!);
    expect(dhcp.process!.args).toEqual(['/bin/net', '-f']);
    expect(dhcp.process!.env).toEqual(['MODE=yaml']);
    const caps = dhcp.process!.capabilities!.bounding!;
    expect(caps).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    const binds = dhcp.mounts!.filter((m) => m.options?.includes('rbind')).map((m) => `${m.source}:${m.destination}`);
    expect(binds).toEqual(expect.arrayContaining(['/etc/resolv.conf:/etc/resolv.conf', '/var/run:/var/run']));
    // label net: host -> no network namespace
    expect(dhcp.linux!.namespaces!.map((n) => n.type)).not.toContain('network');
  });

  it('a bind naming a declared volume points at /containers/volumes/NAME', async () => {
    const p = await plan(yaml);
    const web = cfg(p.plans.find((x) => x.bundle === 'containers/services/web')!);
    const m = web.mounts!.find((x) => x.destination === '/srv/data');
    expect(m?.source).toBe('/containers/volumes/data');
  });

  it('writable containers of one image each hold their own copy (a bind would carry the overlay writes)', async () => {
    const p = await plan(yaml);
    for (const c of p.plans.filter((x) => x.image.reference.includes('fx/tool'))) {
      expect(cfg(c).root!.readonly ?? false, c.bundle).toBe(false);
      expect(c.unpackDir, c.bundle).toBe('rootfs');
    }
  });

  it('every bundle has its own rootfs tree; none binds another bundle\'s', async () => {
    const p = await plan(`
onboot:
  - name: first
    image: fx/tool:1
services:
  - name: second
    image: fx/tool:1
    readonly: false
  - name: third
    image: fx/tool:1
`);
    for (const c of p.plans) {
      const rt = JSON.parse(c.runtimeJson) as { mounts: Array<{ source: string; destination: string }> };
      for (const m of rt.mounts) expect(m.source === `/${c.bundle}/rootfs` || !m.source.startsWith('/containers/'), `${c.bundle}: ${m.source}`).toBe(true);
      expect((await entriesOf(p, c.bundle)).map((x) => x.path)).toContain(`${c.bundle}/rootfs/etc/tool.conf`);
      // the bundle's own segment holds no image file
      expect(bundleEntries(c).map((x) => x.path).filter((x) => x.startsWith(`${c.bundle}/rootfs/`))).toEqual([]);
      expect(validate(cfg(c))).toEqual([]);
    }
  });

  it('roots: identical files across containers and images are stored once, as hardlinks in one segment', async () => {
    const p = await plan(`
onboot:
  - name: first
    image: fx/tool:1
    readonly: true
services:
  - name: second
    image: fx/tool:1
  - name: third
    image: fx/tool2:1
`);
    const groups = planRoots(p.plans);
    expect(groups.map((g) => g.name)).toEqual(['roots']);
    const e = await rootsEntries(groups[0]!, p.tree);
    const at = (path: string) => e.find((x) => x.path === path);
    const keeper = 'containers/onboot/000-first/rootfs/bin/tool';
    expect(at(keeper)).toMatchObject({ type: 'file' });
    expect(at('containers/services/second/rootfs/bin/tool')).toMatchObject({ type: 'hardlink', linkTarget: keeper });
    expect(at('containers/services/third/rootfs/bin/tool')).toMatchObject({ type: 'hardlink', linkTarget: keeper });
    expect(at('containers/services/second/rootfs/etc/tool.conf')).toMatchObject({ type: 'hardlink', linkTarget: 'containers/onboot/000-first/rootfs/etc/tool.conf' });
    // same bytes, other mode: its own inode
    expect(at('containers/services/third/rootfs/etc/tool.conf')).toMatchObject({ type: 'file', mode: 0o600 });
    // directories stay per bundle
    for (const b of ['containers/onboot/000-first', 'containers/services/second', 'containers/services/third']) expect(at(`${b}/rootfs/bin`)?.type, b).toBe('dir');

    // as the kernel unpacks it: one inode, the right bytes everywhere
    const seg = await writeSegment(e, { compression: 'none', cacheDir: join(dir, 'segments'), name: 'roots' });
    const { nodes } = kernelUnpack(await readFile(seg.path));
    const tools = ['containers/onboot/000-first', 'containers/services/second', 'containers/services/third'].map((b) => nodes.get(`${b}/rootfs/bin/tool`)!);
    for (const t of tools) expect(t.inode.data.toString()).toBe('#!/bin/sh\n');
    expect(new Set(tools.map((t) => t.inode)).size).toBe(1);
    expect(nodes.get('containers/services/third/rootfs/etc/tool.conf')!.inode).not.toBe(nodes.get('containers/onboot/000-first/rootfs/etc/tool.conf')!.inode);
    expect(seg.archiveSize).toBeLessThan(
      (await writeSegment(e.map((x) => (x.type === 'hardlink' && x.path.includes('/rootfs/') ? { ...at(x.linkTarget!)!, path: x.path } : x)), { compression: 'none', cacheDir: join(dir, 'segments'), name: 'copies' })).archiveSize,
    );
  });

  it('roots: the key changes with the bundles or an image, not with a container\'s config', async () => {
    const base = `
services:
  - name: a
    image: fx/tool:1
    env: [X=1]
  - name: b
    image: fx/net:1
`;
    const k = async (y: string) => planRoots((await plan(y)).plans).map((g) => g.key);
    const k0 = await k(base);
    expect(await k(base.replace('X=1', 'X=2'))).toEqual(k0);
    expect(await k(base.replace('fx/net:1', 'fx/tool2:1'))).not.toEqual(k0);
    expect(await k(base.replace('name: b', 'name: c'))).not.toEqual(k0);
  });

  const conf2 = async (p: Awaited<ReturnType<typeof plan>>, bundle: string) => {
    const e = (await entriesOf(p, bundle)).find((x) => x.path === `${bundle}/coracle.conf`);
    return e && e.type === 'file' && e.data.kind === 'buffer' ? e.data.data.toString() : undefined;
  };

  it('restart: and timeout: land in the bundle\'s coracle.conf (and its key); without them there is none', async () => {
    const y = `
onboot:
  - name: slow
    image: fx/tool:1
    timeout: 1m30s
  - name: quick
    image: fx/tool:1
services:
  - name: web
    image: fx/tool:1
    restart: always
  - name: plain
    image: fx/tool:1
`;
    const p = await plan(y);
    const conf = async (bundle: string) => {
      const e = (await entriesOf(p, bundle)).find((x) => x.path === `${bundle}/coracle.conf`);
      return e && e.type === 'file' && e.data.kind === 'buffer' ? e.data.data.toString() : undefined;
    };
    expect(await conf('containers/onboot/000-slow')).toBe('timeout=90\n');
    expect(await conf('containers/services/web')).toBe('restart=always\n');
    expect(await conf('containers/onboot/001-quick')).toBeUndefined();
    expect(await conf('containers/services/plain')).toBeUndefined();
    const other = await plan(y.replace('restart: always', 'restart: "no"'));
    expect(other.plans[2]!.key).not.toBe(p.plans[2]!.key);
    expect(other.plans.filter((x, i) => x.key !== p.plans[i]!.key).length).toBe(1);
    // stop_timeout: in seconds, after restart=
    const both = await plan(y.replace('restart: always', 'restart: always\n    stop_timeout: 1500ms'));
    expect(await conf2(both, 'containers/services/web')).toBe('restart=always\nstop_timeout=1.5\n');
  });

  it('segment keys differ per bundle and change when the config does', async () => {
    const a = await plan(yaml);
    const b = await plan(yaml.replace('MODE=yaml', 'MODE=other'));
    expect(new Set(a.plans.map((x) => x.key)).size).toBe(a.plans.length);
    const ka = a.plans.map((x) => x.key);
    const kb = b.plans.map((x) => x.key);
    expect(kb.filter((k, i) => k !== ka[i]).length).toBe(1);
    expect(kb[4]).not.toBe(ka[4]);
  });
});
