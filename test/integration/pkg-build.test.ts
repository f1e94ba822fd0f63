/**
 * Every system image builds from a clean store with the real CLI, holds
 * what it should, validates against the OCI schemas, carries its SBOM and
 * label, and its programs run (with the image's own libraries, in a
 * chroot). A second clean store gives the same digests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, readdir, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa, type ResultPromise } from 'execa';
import { runCli, projectRoot } from '../helpers/cli.js';
import { openStore, type LayoutStore } from '../../src/oci/store/layout-store.js';
import { parseImageLabelConfig } from '../../src/spec/label.js';
import { loadDefinition } from '../../src/pkg/definition.js';
import { parseElf, pvhEntry } from '../../src/pkg/elf.js';
import { readTar } from '../../src/tar/index.js';
import { PassThrough } from 'node:stream';
import { ALL_IMAGES, debianCache, extractLayer, layerEntries, ociValidator, readStoredImage, type LayerEntry, type StoredImage } from '../fixtures/pkg/helpers.js';

let storeDir: string;
let store: LayoutStore;
let work: string;
const refs = new Map<string, string>();
const images = new Map<string, StoredImage>();
const layers = new Map<string, Map<string, LayerEntry>>();
const validate = ociValidator();

function parseBuildOutput(stdout: string): Map<string, { status: string; ref: string; digest: string }> {
  const m = new Map<string, { status: string; ref: string; digest: string }>();
  for (const line of stdout.trim().split('\n')) {
    const [status, ref, digest] = line.split(' ') as [string, string, string];
    const name = ref.replace(/^docker\.io\/coracle\//, '').replace(/:.*$/, '');
    m.set(name, { status, ref, digest });
  }
  return m;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-pkg-it-'));
  storeDir = join(work, 'store');
  const r = await runCli(['--cache', storeDir, 'pkg', 'build', '--debian-cache', debianCache, ...ALL_IMAGES.map((n) => `images/${n}`)]);
  if (r.exitCode !== 0) throw new Error(`pkg build failed (${r.exitCode}):\n${r.stderr}`);
  const out = parseBuildOutput(r.stdout);
  store = await openStore(storeDir);
  for (const name of ALL_IMAGES) {
    const b = out.get(name);
    if (!b) throw new Error(`no output line for ${name}:\n${r.stdout}`);
    expect(b.status).toBe('built');
    refs.set(name, b.ref);
    const img = await readStoredImage(store, b.ref);
    expect(img.indexDesc.digest).toBe(b.digest);
    images.set(name, img);
    layers.set(name, await layerEntries(store, img.manifest.layers[0]!));
  }
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const files = (name: string) => layers.get(name)!;
const file = (name: string, path: string) => {
  const e = files(name).get(path);
  if (!e) throw new Error(`${name}: ${path} missing (has ${[...files(name).keys()].slice(0, 40).join(' ')} ...)`);
  return e;
};

describe.each(ALL_IMAGES)('image %s', (name) => {
  it('is named docker.io/coracle/NAME:TAG with the tag show-tag prints', async () => {
    const r = await runCli(['--cache', storeDir, 'pkg', 'show-tag', '--debian-cache', debianCache, `images/${name}`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(refs.get(name));
    expect(refs.get(name)).toMatch(new RegExp(`^docker\\.io/coracle/${name}:[0-9a-f]{20}$`));
  });

  it('has an index, manifest and config valid against the OCI schemas, consistent with the layer', async () => {
    const img = images.get(name)!;
    expect(validate('image-index-schema.json', img.index)).toEqual([]);
    expect(validate('image-manifest-schema.json', img.manifest)).toEqual([]);
    expect(validate('config-schema.json', img.config)).toEqual([]);
    expect(img.index.manifests).toHaveLength(1);
    expect(img.manifestDesc.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(img.config.architecture).toBe('amd64');
    expect(img.manifest.layers).toHaveLength(1);
    const layer = img.manifest.layers[0]!;
    expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const gz = await store.readBlob(layer.digest);
    expect(`sha256:${createHash('sha256').update(gz).digest('hex')}`).toBe(layer.digest);
    expect(img.config.rootfs.diff_ids).toEqual([`sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}`]);
  });

  it('has sorted entries, owners 0:0 unless set, the fixed epoch, and no docs or manuals', () => {
    const paths = [...files(name).keys()];
    expect(paths).toEqual([...paths].sort());
    for (const e of files(name).values()) {
      expect(e.mtime, e.path).toBe(0);
      expect(e.path).not.toMatch(/^usr\/share\/(doc|man|info|locale)\//);
      expect(e.path).not.toMatch(/^(\.\.|\/)|\/\.\.\//);
    }
    expect([...files(name).values()].filter((e) => e.uid !== 0 || e.gid !== 0)).toEqual([]);
  });

  it('carries its SPDX SBOM as a file, pointed at by the manifest annotations', async () => {
    const img = images.get(name)!;
    const path = img.manifest.annotations?.['dev.coracle.sbom.path'];
    expect(path).toBe(`/usr/share/sbom/${name}.spdx.json`);
    const sbomFile = file(name, path!.slice(1));
    expect(`sha256:${createHash('sha256').update(sbomFile.data!).digest('hex')}`).toBe(img.manifest.annotations?.['dev.coracle.sbom.digest']);
    const doc = JSON.parse(sbomFile.data!.toString()) as {
      spdxVersion: string;
      name: string;
      packages: Array<{ name: string; versionInfo: string; externalRefs?: Array<{ referenceLocator: string }> }>;
      relationships: Array<{ relationshipType: string }>;
    };
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    expect(doc.name).toBe(refs.get(name));
    const def = await loadDefinition(join(projectRoot, 'images', name));
    const debs = doc.packages.filter((p) => p.externalRefs?.[0]?.referenceLocator.startsWith('pkg:deb/debian/'));
    const wanted = def.data.debian?.packages ?? [];
    if (def.data.debian?.unpack) {
      expect(debs.length).toBeGreaterThan(0);
      for (const d of debs) expect(def.data.debian.unpack.some((g) => new RegExp(`^${g.replace(/\*/g, '.*')}$`).test(d.name))).toBe(true);
    } else {
      for (const w of wanted) expect(debs.map((d) => d.name)).toContain(w);
    }
    for (const d of debs) {
      expect(d.versionInfo).toMatch(/^[0-9]/);
      // The version recorded is what apt knows for that package.
      const show = await execa('apt-cache', ['show', `${d.name}=${d.versionInfo}`], { reject: false, env: { APT_CONFIG: (await aptConfig()) ?? '' } });
      expect(show.exitCode, `${d.name}=${d.versionInfo}`).toBe(0);
    }
    expect(doc.relationships.filter((r) => r.relationshipType === 'CONTAINS')).toHaveLength(debs.length);
  });

  it('has a label valid for the spec schema, equal to the definition', async () => {
    const def = await loadDefinition(join(projectRoot, 'images', name));
    const labels = images.get(name)!.config.config?.Labels ?? {};
    const text = labels['org.mobyproject.config'];
    if (!def.data.label) {
      expect(text).toBeUndefined();
      return;
    }
    expect(text).toBeDefined();
    expect(JSON.parse(text!)).toEqual(def.data.label);
    expect(() => parseImageLabelConfig(text!, name)).not.toThrow();
  });
});

async function aptConfig(): Promise<string | undefined> {
  const dirs = (await readdir(debianCache)).filter((d) => d.startsWith('apt-amd64-'));
  return dirs.length ? join(debianCache, dirs[0]!, 'apt.conf') : undefined;
}

describe('image contents', () => {
  it('busybox: every applet linked, a shell, /tmp sticky', () => {
    expect(file('busybox', 'bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(file('busybox', 'bin/sh')).toMatchObject({ type: 'symlink', linkpath: '/bin/busybox' });
    expect(file('busybox', 'usr/bin/wget')).toMatchObject({ type: 'symlink', linkpath: '/bin/busybox' });
    expect(file('busybox', 'tmp').mode).toBe(0o1777);
    expect(images.get('busybox')!.config.config?.Cmd).toEqual(['/bin/sh']);
  });

  it('init: busybox, the init scripts from rootfs/ as they are, coracle-runtime static', async () => {
    expect(file('init', 'bin/busybox').type).toBe('file');
    expect(file('init', 'sbin/switch_root').linkpath).toBe('/bin/busybox');
    const rootfs = join(projectRoot, 'images/init/rootfs');
    const walkDir = async (rel: string): Promise<string[]> => {
      const out: string[] = [];
      for (const e of await readdir(join(rootfs, rel), { withFileTypes: true }).catch(() => [])) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) out.push(...(await walkDir(p)));
        else out.push(p);
      }
      return out;
    };
    for (const p of await walkDir('')) {
      const st = await lstat(join(rootfs, p));
      const e = file('init', p);
      if (st.isFile()) {
        expect(e.data?.equals(await readFile(join(rootfs, p))), p).toBe(true);
        expect(e.mode & 0o111 ? 'x' : '-', p).toBe(st.mode & 0o111 ? 'x' : '-');
      }
    }
    if (files('init').has('etc/shadow')) expect(file('init', 'etc/shadow').mode).toBe(0o640);
    // Each folder in src/ is a Go program built to /usr/bin/NAME.
    const srcs = (await readdir(join(projectRoot, 'images/init/src'), { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const prog of srcs) {
      const e = file('init', `usr/bin/${prog}`);
      expect(e.mode).toBe(0o755);
      const info = parseElf(e.data ?? (await readFile('/dev/null')));
      expect(info.interpreter, `${prog} must be static`).toBeUndefined();
    }
  });

  it('kernel: /kernel bzImage, /vmlinux ELF with the PVH note, /kernel.tar with depmod output', async () => {
    const k = files('kernel');
    expect([...k.keys()].filter((p) => p !== 'usr' && !p.startsWith('usr/')).sort()).toEqual(['kernel', 'kernel.config', 'kernel.tar', 'vmlinux']);
    const dir = join(work, 'kernel');
    await extractLayer(store, images.get('kernel')!.manifest.layers[0]!, dir);
    const bz = await readFile(join(dir, 'kernel'));
    expect(bz.toString('latin1', 0x202, 0x206)).toBe('HdrS');
    const vm = await readFile(join(dir, 'vmlinux'));
    const info = parseElf(vm);
    expect(info.machine).toBe(62);
    expect(pvhEntry(info)).toBeGreaterThan(0);
    const mods = new Map<string, number>();
    const tarBuf = await readFile(join(dir, 'kernel.tar'));
    for await (const e of readTar(PassThrough.from([tarBuf]))) {
      mods.set(e.path.replace(/\/$/, ''), e.size);
      if (e.uid !== 0 || e.mtime !== 0) throw new Error(`${e.path}: not normalised`);
      await e.skip();
    }
    const dep = [...mods.keys()].find((p) => /^lib\/modules\/[^/]+\/modules\.dep$/.test(p));
    expect(dep).toBeDefined();
    const ver = dep!.split('/')[2]!;
    expect(ver).toMatch(/-cloud-amd64$/);
    for (const f of ['modules.dep.bin', 'modules.alias', 'modules.symbols', 'modules.builtin']) expect(mods.has(`lib/modules/${ver}/${f}`), f).toBe(true);
    // compressModules: xz — every module is NAME.ko.xz, modules.dep names them so.
    for (const m of ['drivers/net/virtio_net.ko.xz', 'drivers/block/virtio_blk.ko.xz', 'fs/overlayfs/overlay.ko.xz', 'fs/isofs/isofs.ko.xz']) {
      expect(mods.has(`lib/modules/${ver}/kernel/${m}`), m).toBe(true);
    }
    expect([...mods.keys()].filter((p) => p.endsWith('.ko'))).toEqual([]);
    expect([...mods.keys()].some((p) => p.includes('/kernel/drivers/infiniband/'))).toBe(false);
    const modRoot = join(work, 'kernel-modules');
    await mkdir(modRoot, { recursive: true });
    await execa('tar', ['-xf', join(dir, 'kernel.tar'), '-C', modRoot]);
    const depText = await readFile(join(modRoot, 'lib', 'modules', ver, 'modules.dep'), 'utf8');
    expect(depText).toMatch(/^kernel\/fs\/overlayfs\/overlay\.ko\.xz:/m);
    // xz -d gives back the module: an ELF relocatable object (type 1) for x86-64.
    const ko = Buffer.from((await execa('xz', ['-dc', join(modRoot, 'lib', 'modules', ver, 'kernel', 'fs', 'isofs', 'isofs.ko.xz')], { encoding: 'buffer' })).stdout);
    expect(ko.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(ko.readUInt16LE(16)).toBe(1);
    expect(ko.readUInt16LE(18)).toBe(62);
  }, 120_000);

  it('runc: runc and only the libraries it loads; it runs with them', async () => {
    const so = [...files('runc').keys()].filter((p) => /\.so/.test(p)).sort();
    expect(so).toEqual([
      'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      'lib/x86_64-linux-gnu/libc.so.6',
      'lib64/ld-linux-x86-64.so.2',
      'usr/lib/x86_64-linux-gnu/libseccomp.so.2',
      'usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4',
    ]);
    expect(file('runc', 'usr/sbin/runc').mode).toBe(0o755);
    const dir = join(work, 'runc');
    await extractLayer(store, images.get('runc')!.manifest.layers[0]!, dir);
    const r = await execa('chroot', [dir, '/usr/sbin/runc', '--version']);
    expect(r.stdout).toMatch(/^runc version 1\.1\./);
    expect(r.stdout).toMatch(/libseccomp: 2\./);
  });

  it('containerd: containerd, shim and a config with CRI and other snapshotters off; ctr is the init image\'s coracle-runtime', async () => {
    for (const p of ['usr/bin/containerd', 'usr/bin/containerd-shim-runc-v2']) expect(file('containerd', p).mode).toBe(0o755);
    expect(files('containerd').has('usr/sbin/runc')).toBe(false);
    expect(files('containerd').has('usr/bin/ctr')).toBe(false);
    expect(file('init', 'usr/bin/ctr')).toMatchObject({ type: 'symlink', linkpath: 'coracle-runtime' });
    const dir = join(work, 'containerd');
    await extractLayer(store, images.get('containerd')!.manifest.layers[0]!, dir);
    const initDir = join(work, 'init-ctr');
    await extractLayer(store, images.get('init')!.manifest.layers[0]!, initDir);
    const ctr = join(initDir, 'usr/bin/ctr');
    for (const p of ['containerd', 'containerd-shim-runc-v2']) {
      const r = await execa('chroot', [dir, `/usr/bin/${p}`, p === 'containerd-shim-runc-v2' ? '-v' : '--version']);
      expect(r.stdout + r.stderr).toMatch(/1\.6\./);
    }
    // called by another name, the same binary is coracle-runtime
    const own = await execa(join(initDir, 'usr/bin/coracle-runtime'), [], { reject: false });
    expect(own.stderr).toMatch(/coracle-runtime/);
    expect((await execa(ctr, ['--version'])).stdout).toMatch(/^ctr .*1\.6\./);
    // Start the image's containerd with its config (state elsewhere) and ask it which plugins loaded.
    const run = join(work, 'containerd-run');
    const sock = join(run, 'sock');
    const d: ResultPromise = execa(join(dir, 'usr/bin/containerd'), ['-c', join(dir, 'etc/containerd/config.toml'), '--root', join(run, 'root'), '--state', join(run, 'state'), '-a', sock], { reject: false });
    try {
      let plugins = '';
      for (let i = 0; i < 50 && !plugins; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const r = await execa(ctr, ['-a', sock, 'plugins', 'ls'], { reject: false });
        if (r.exitCode === 0) plugins = r.stdout;
      }
      expect(plugins).toMatch(/io\.containerd\.snapshotter\.v1\s+overlayfs\s+linux\/amd64\s+ok/);
      expect(plugins).not.toMatch(/\bcri\b/);
      for (const s of ['native', 'btrfs', 'aufs', 'zfs', 'devmapper']) expect(plugins).not.toMatch(new RegExp(`snapshotter\\.v1\\s+${s}\\b`));
    } finally {
      d.kill('SIGTERM');
      await d;
    }
  });

  it('sshd: dropbear with its libraries runs and makes a host key', async () => {
    const dir = join(work, 'sshd');
    await extractLayer(store, images.get('sshd')!.manifest.layers[0]!, dir);
    const v = await execa('chroot', [dir, '/usr/sbin/dropbear', '-V'], { reject: false });
    expect(v.stderr + v.stdout).toMatch(/Dropbear v20\d\d/);
    const k = await execa('chroot', [dir, '/usr/bin/dropbearkey', '-t', 'ed25519', '-f', '/etc/dropbear/test_key']);
    expect(k.stdout).toMatch(/ssh-ed25519 /);
    expect(file('sshd', 'usr/bin/coracle-sshd').mode).toBe(0o755);
    expect(file('sshd', 'etc/dropbear').mode).toBe(0o700);
    const label = JSON.parse(images.get('sshd')!.config.config!.Labels!['org.mobyproject.config']!) as { binds: string[] };
    expect(label.binds).toContain('/root/.ssh:/root/.ssh');
  });

  it('ntpd: OpenNTPD with its libraries runs privilege-separated, takes $NTP_SERVERS, and stops on SIGTERM', async () => {
    const dir = join(work, 'ntpd');
    await extractLayer(store, images.get('ntpd')!.manifest.layers[0]!, dir);
    expect(file('ntpd', 'usr/sbin/ntpctl').linkpath).toBe('ntpd');
    expect(file('ntpd', 'etc/openntpd/ntpd.conf').linkpath).toBe('/var/lib/openntpd/ntpd.conf');
    expect(file('ntpd', 'etc/passwd').data!.toString()).toMatch(/^ntpd:x:\d+:\d+:[^:]*:\/var\/empty:/m);
    expect(file('ntpd', 'var/empty')).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(file('ntpd', 'etc/services').data!.toString()).toMatch(/^ntp\s+123\/udp/m);
    // As the service runs it (tmpfs on /var/lib/openntpd), in a mount
    // namespace of its own and without CAP_SYS_TIME so the host's clock is
    // left alone; the name does not resolve, so ntpd keeps it as a peer to
    // retry.
    const script = `set -e
R=$1
mount -t tmpfs -o mode=0755 tmpfs "$R/var/lib/openntpd"
mkdir -p "$R/proc" "$R/dev"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
NTP_SERVERS="a.invalid b.invalid" chroot "$R" /usr/bin/coracle-ntpd 2>&1 &
p=$!
for i in $(seq 1 50); do
  chroot "$R" /usr/sbin/ntpctl -s peers >"$R/peers" 2>&1 && grep -q b.invalid "$R/peers" && break
  sleep 0.2
done
cat "$R/peers"
ps -o uid=,args= --ppid $p
kill -TERM $p
wait $p && echo "exit 0" || echo "exit $?"
`;
    const r = await execa('unshare', ['-m', 'setpriv', '--bounding-set', '-sys_time', 'sh', '-c', script, 'sh', dir], { reject: false, timeout: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('coracle-ntpd: servers: a.invalid b.invalid');
    expect(r.stdout).toContain('ntp engine ready');
    // the engine dropped to the image's ntpd user
    const uid = /^ntpd:x:(\d+):/m.exec(file('ntpd', 'etc/passwd').data!.toString())![1];
    expect(r.stdout).toMatch(new RegExp(`^\\s*${uid}\\s+ntpd: ntp engine`, 'm'));
    expect(r.stdout).toMatch(/not resolved from pool a\.invalid/);
    expect(r.stdout).toMatch(/not resolved from pool b\.invalid/);
    expect(r.stdout).toContain('exit 0');
  });

  it('services: entry points exist, are executable, and their scripts parse', async () => {
    const entry: Record<string, string> = {
      getty: 'usr/bin/coracle-getty',
      dhcpcd: 'usr/bin/coracle-dhcp',
      sshd: 'usr/bin/coracle-sshd',
      ntpd: 'usr/bin/coracle-ntpd',
      sysctl: 'usr/bin/coracle-sysctl',
      poweroff: 'usr/bin/coracle-poweroff',
      rngd: 'sbin/rngd',
    };
    for (const [name, path] of Object.entries(entry)) {
      const cfg = images.get(name)!.config.config!;
      expect(cfg.Entrypoint).toEqual([`/${path}`]);
      const e = file(name, path);
      expect(e.mode, `${name}:${path}`).toBe(0o755);
      if (e.data?.subarray(0, 2).toString() === '#!') {
        const r = await execa('/bin/busybox', ['sh', '-n'], { input: e.data, reject: false });
        expect(r.exitCode, `${name}: ${r.stderr}`).toBe(0);
      }
    }
    expect(file('dhcpcd', 'usr/share/udhcpc/default.script').mode).toBe(0o755);
    expect(file('dhcpcd', 'sbin/udhcpc').linkpath).toBe('/bin/busybox');
    expect(file('getty', 'sbin/getty').linkpath).toBe('/bin/busybox');
    expect(parseElf(file('ntpd', 'usr/sbin/ntpd').data!).interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(file('sysctl', 'sbin/sysctl').linkpath).toBe('/bin/busybox');
    expect(file('poweroff', 'sbin/poweroff').linkpath).toBe('/bin/busybox');
    expect(parseElf(file('rngd', 'sbin/rngd').data!).interpreter).toBeUndefined();
  });
});

describe('reproducibility and caching', () => {
  it('an unchanged definition is not rebuilt', async () => {
    const r = await runCli(['--cache', storeDir, 'pkg', 'build', '--debian-cache', debianCache, 'images/busybox', 'images/runc']);
    expect(r.exitCode).toBe(0);
    const out = parseBuildOutput(r.stdout);
    expect(out.get('busybox')).toMatchObject({ status: 'up-to-date', ref: refs.get('busybox'), digest: images.get('busybox')!.indexDesc.digest });
    expect(out.get('runc')?.status).toBe('up-to-date');
  });

  it('a clean store builds every image to the same digests', async () => {
    const other = join(work, 'store2');
    const r = await runCli(['--cache', other, 'pkg', 'build', '--debian-cache', debianCache, ...ALL_IMAGES.map((n) => `images/${n}`)]);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = parseBuildOutput(r.stdout);
    const s2 = await openStore(other);
    for (const name of ALL_IMAGES) {
      expect(out.get(name)?.status).toBe('built');
      expect(out.get(name)?.ref).toBe(refs.get(name));
      const img = await readStoredImage(s2, refs.get(name)!);
      expect(img.manifestDesc.digest, name).toBe(images.get(name)!.manifestDesc.digest);
      expect(img.indexDesc.digest, name).toBe(images.get(name)!.indexDesc.digest);
    }
  }, 900_000);

  it('--force rebuilds in place to the same bytes', async () => {
    const r = await runCli(['--cache', storeDir, 'pkg', 'build', '--force', '--debian-cache', debianCache, 'images/sshd']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(parseBuildOutput(r.stdout).get('sshd')).toMatchObject({ status: 'built', digest: images.get('sshd')!.indexDesc.digest });
  });

  it('SOURCE_DATE_EPOCH changes the times and the tag', async () => {
    const r = await runCli(['--cache', storeDir, 'pkg', 'build', '--debian-cache', debianCache, 'images/poweroff'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const b = parseBuildOutput(r.stdout).get('poweroff')!;
    expect(b.ref).not.toBe(refs.get('poweroff'));
    const img = await readStoredImage(store, b.ref);
    expect(img.config.created).toBe('2023-11-14T22:13:20Z');
    const entries = await layerEntries(store, img.manifest.layers[0]!);
    expect([...entries.values()].every((e) => e.mtime === 1700000000)).toBe(true);
  });
});
