/**
 * A development boot image made from the host's own parts, until
 * `coracle build` produces real ones: Debian's cloud kernel (downloaded once
 * into a cache with apt-get download), busybox-static, the host's runc and
 * containerd with their libraries, our guest init (images/init/rootfs and
 * coracle-runtime), and hand-written bundles laid out like `coracle build`
 * lays them out. Packed with the cpio CLI (newc) and gzip.
 *
 * Output names follow LinuxKit's: NAME-kernel, NAME-initrd.img,
 * NAME-cmdline and NAME-vmlinux (when an ELF vmlinux can be extracted).
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { projectRoot } from './cli.js';

export interface DevKernel {
  version: string;
  /** bzImage */
  kernel: string;
  /** uncompressed ELF vmlinux (PVH-bootable), when it could be extracted */
  vmlinux?: string;
  /** the extracted /lib/modules/VERSION tree, with modules.dep */
  modulesDir: string;
}

export interface DevBundle {
  phase: 'onboot' | 'onshutdown' | 'services';
  /** directory name: NNN-name for onboot/onshutdown, NAME for services */
  name: string;
  args: string[];
  readonly?: boolean;
  /** extra capabilities (CAP_...) */
  caps?: string[];
  /** LinuxKit `runtime` key, written to runtime.json */
  runtime?: Record<string, unknown>;
  /** files in the bundle's rootfs: path -> contents */
  files?: Record<string, string>;
}

export interface DevImageOptions {
  name?: string;
  bundles?: DevBundle[];
  /** extra kernel command line (after console=ttyS0) */
  cmdline?: string;
  /** files to add: path in the guest -> contents */
  files?: Record<string, string>;
}

export interface BootImage {
  dir: string;
  name: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  vmlinux?: string;
}

export function devCacheDir(): string {
  if (process.env.CORACLE_DEV_CACHE) return process.env.CORACLE_DEV_CACHE;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'coracle-dev');
}

/** Modules the init loads, plus what they depend on, go into the dev initrd. */
const WANTED_MODULES = [
  'virtio_pci', 'virtio_mmio', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'virtio_console', 'virtio-rng',
  'virtio_balloon', 'ata_piix', 'ahci', 'sd_mod', 'sr_mod', 'isofs', 'vfat', 'overlay', 'button', 'evdev',
  'pvpanic-mmio', 'pvpanic-pci', 'veth', 'bridge',
];

async function sh(script: string, cwd?: string): Promise<string> {
  const r = await execa('sh', ['-euc', script], { cwd });
  return String(r.stdout);
}

/** Download and unpack Debian's cloud kernel once; later calls reuse the cache. */
export async function devKernel(cacheDir = devCacheDir()): Promise<DevKernel> {
  await mkdir(cacheDir, { recursive: true });
  const deps = await sh('apt-cache depends linux-image-cloud-amd64');
  const m = /Depends: (linux-image-[^\s]+-cloud-amd64)/.exec(deps);
  if (!m) throw new Error('cannot resolve linux-image-cloud-amd64 to a kernel package');
  const pkg = m[1]!;
  const version = pkg.replace(/^linux-image-/, '');
  const dir = join(cacheDir, pkg);
  if (!existsSync(join(dir, 'done'))) {
    const tmp = await mkdtemp(join(cacheDir, '.tmp-'));
    try {
      await sh(`apt-get download -q ${pkg} >/dev/null 2>&1 && dpkg-deb -x ${pkg}_*.deb x && rm -f ${pkg}_*.deb`, tmp);
      // busybox depmod: the .deb has no modules.dep (postinst makes it).
      await execa('busybox', ['depmod', '-b', join(tmp, 'x'), version]);
      await cp(join(tmp, 'x', 'boot', `vmlinuz-${version}`), join(tmp, 'kernel'));
      // The ELF vmlinux sits LZ4-compressed inside the bzImage.
      await extractVmlinux(join(tmp, 'kernel'), join(tmp, 'vmlinux')).catch(() => undefined);
      await writeFile(join(tmp, 'done'), `${version}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
  const modulesDir = join(dir, 'x', 'lib', 'modules', version);
  return {
    version,
    kernel: join(dir, 'kernel'),
    vmlinux: existsSync(join(dir, 'vmlinux')) ? join(dir, 'vmlinux') : undefined,
    modulesDir,
  };
}

async function extractVmlinux(bzImage: string, out: string): Promise<void> {
  const data = await readFile(bzImage);
  const magics: [Buffer, string[]][] = [
    [Buffer.from([0x02, 0x21, 0x4c, 0x18]), ['lz4', '-dc']],
    [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), ['zstd', '-dc']],
    [Buffer.from([0x1f, 0x8b, 0x08]), ['gzip', '-dc']],
  ];
  for (const [magic, cmd] of magics) {
    let at = data.indexOf(magic);
    while (at >= 0) {
      const r = await execa(cmd[0]!, cmd.slice(1), {
        input: data.subarray(at),
        encoding: 'buffer',
        reject: false,
        stripFinalNewline: false,
      });
      const elf = r.stdout as unknown as Uint8Array;
      if (elf.length > 1 << 20 && Buffer.from(elf.subarray(0, 4)).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
        await writeFile(out, elf);
        return;
      }
      at = data.indexOf(magic, at + 1);
    }
  }
  throw new Error('no ELF vmlinux found in the bzImage');
}

/** The modules closure (by modules.dep) of WANTED_MODULES, as relative paths. */
async function moduleClosure(modulesDir: string): Promise<string[]> {
  const dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  const byName = new Map<string, { path: string; deps: string[] }>();
  for (const line of dep.split('\n')) {
    const [path, rest] = line.split(':');
    if (!path || rest === undefined) continue;
    const name = basename(path, '.ko').replace(/-/g, '_');
    byName.set(name, { path, deps: rest.trim().split(/\s+/).filter(Boolean) });
  }
  const out = new Set<string>();
  const add = (path: string) => {
    if (out.has(path)) return;
    out.add(path);
    const e = byName.get(basename(path, '.ko').replace(/-/g, '_'));
    for (const d of e?.deps ?? []) add(d);
  };
  for (const w of WANTED_MODULES) {
    const e = byName.get(w.replace(/-/g, '_'));
    if (e) add(e.path);
  }
  return [...out];
}

/** Shared libraries a host binary needs, as absolute paths. */
async function libsOf(bin: string): Promise<string[]> {
  const r = await execa('ldd', [bin], { reject: false });
  const libs: string[] = [];
  for (const line of String(r.stdout).split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

async function copyIn(root: string, hostPath: string, guestPath = hostPath): Promise<void> {
  const dest = join(root, guestPath);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(hostPath, dest);
  await chmod(dest, 0o755);
}

async function busyboxTree(root: string): Promise<void> {
  await copyIn(root, '/bin/busybox', '/bin/busybox');
  const list = String((await execa('/bin/busybox', ['--list'])).stdout).split('\n').filter(Boolean);
  for (const applet of list) {
    if (applet === 'busybox') continue;
    await symlink('busybox', join(root, 'bin', applet)).catch(() => undefined);
  }
}

/** Build coracle-runtime (images/init/src) with Debian's Go toolchain, offline. */
export async function buildCoracleRuntime(out: string): Promise<void> {
  await execa('go', ['build', '-trimpath', '-ldflags=-s -w -buildid=', '-o', out, '.'], {
    cwd: join(projectRoot, 'images', 'init', 'src', 'coracle-runtime'),
    env: {
      CGO_ENABLED: '0',
      GO111MODULE: 'off',
      GOPATH: '/usr/share/gocode',
      GOCACHE: join(devCacheDir(), 'gocache'),
    },
  });
}

async function runcSpecTemplate(): Promise<Record<string, any>> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-spec-'));
  try {
    await execa('runc', ['spec', '--bundle', dir]);
    return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, any>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function bundleDir(b: DevBundle): string {
  return `/containers/${b.phase}/${b.name}`;
}

async function writeBundle(root: string, b: DevBundle, template: Record<string, any>): Promise<void> {
  const guestDir = bundleDir(b);
  const dir = join(root, guestDir);
  await mkdir(join(dir, 'rootfs'), { recursive: true });
  await busyboxTree(join(dir, 'rootfs'));
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'var', 'run']) await mkdir(join(dir, 'rootfs', d), { recursive: true });
  for (const [p, contents] of Object.entries(b.files ?? {})) {
    await mkdir(dirname(join(dir, 'rootfs', p)), { recursive: true });
    await writeFile(join(dir, 'rootfs', p), contents);
  }
  const spec = structuredClone(template);
  spec.root = { path: `${guestDir}/rootfs`, readonly: b.readonly ?? false };
  spec.process.terminal = false;
  spec.process.args = b.args;
  spec.process.env = ['PATH=/bin:/sbin:/usr/bin:/usr/sbin'];
  const caps = [...new Set([...(spec.process.capabilities.bounding as string[]), ...(b.caps ?? [])])].sort();
  for (const k of ['bounding', 'effective', 'permitted']) spec.process.capabilities[k] = caps;
  delete spec.process.capabilities.inheritable;
  delete spec.process.capabilities.ambient;
  // host network and uts, like LinuxKit's defaults
  spec.linux.namespaces = (spec.linux.namespaces as { type: string }[]).filter((n) => n.type !== 'network' && n.type !== 'uts');
  delete spec.hostname;
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  if (b.runtime) await writeFile(join(dir, 'runtime.json'), JSON.stringify(b.runtime, null, 2));
}

/** The bundles the dev boot tests rely on. */
export const DEFAULT_DEV_BUNDLES: DevBundle[] = [
  {
    phase: 'onboot',
    name: '000-net',
    caps: ['CAP_NET_ADMIN'],
    readonly: true,
    args: ['sh', '-c', 'ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 && echo "dev: onboot net configured"'],
  },
  {
    phase: 'onboot',
    name: '001-fail',
    readonly: true,
    args: ['sh', '-c', 'echo "dev: onboot failing on purpose"; exit 3'],
  },
  {
    phase: 'onboot',
    name: '002-after',
    args: ['sh', '-c', 'echo "dev: onboot after failure ran"'],
    runtime: { mkdir: ['/var/lib/dev-mkdir'], cgroups: ['dev-cgroup'] },
  },
  {
    phase: 'services',
    name: 'probe',
    args: [
      'sh',
      '-c',
      'echo "mnt=$(readlink /proc/self/ns/mnt) pid=$(readlink /proc/self/ns/pid) cgroup=$(cat /proc/self/cgroup)"; touch /written-by-probe && echo "writable=yes"; trap "echo probe got TERM; exit 0" TERM; sleep 1000000 & wait',
    ],
    runtime: { bindNS: { net: '/run/netns/probe-net' } },
  },
  {
    phase: 'services',
    name: 'web',
    readonly: true,
    args: ['httpd', '-f', '-v', '-p', '8080', '-h', '/www'],
    files: { '/www/index.html': 'hello from coracle web\n' },
    caps: ['CAP_NET_BIND_SERVICE'],
    runtime: { mounts: [{ type: 'tmpfs', source: 'tmpfs', destination: '/run/dev-runtime-mount', options: ['nosuid'] }] },
  },
  {
    phase: 'onshutdown',
    name: '000-bye',
    readonly: true,
    args: ['sh', '-c', 'echo "dev: onshutdown ran"'],
  },
];

/**
 * Build a dev boot image into `outDir`: NAME-kernel, NAME-initrd.img,
 * NAME-cmdline (and NAME-vmlinux). Returns the paths.
 */
export async function buildDevImage(outDir: string, opts: DevImageOptions = {}): Promise<BootImage> {
  const name = opts.name ?? 'dev';
  const k = await devKernel();
  const stage = await mkdtemp(join(tmpdir(), 'coracle-devroot-'));
  try {
    const root = join(stage, 'root');
    await mkdir(root, { recursive: true });
    // init image: busybox + our init rootfs + coracle-runtime
    await copyIn(root, '/bin/busybox', '/bin/busybox');
    await cp(join(projectRoot, 'images', 'init', 'rootfs'), root, { recursive: true, verbatimSymlinks: true });
    await buildCoracleRuntime(join(root, 'usr', 'bin', 'coracle-runtime'));
    // runc and containerd images
    const bins = ['/usr/sbin/runc', '/usr/bin/containerd', '/usr/bin/containerd-shim-runc-v2', '/usr/bin/ctr'];
    const libs = new Set<string>();
    for (const b of bins) {
      await copyIn(root, b, `/usr/bin/${basename(b)}`);
      for (const l of await libsOf(b)) libs.add(l);
    }
    for (const l of libs) await copyIn(root, l);
    await mkdir(join(root, 'etc', 'containerd'), { recursive: true });
    await writeFile(
      join(root, 'etc', 'containerd', 'config.toml'),
      'version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "/run/containerd/containerd.sock"\n',
    );
    await writeFile(join(root, 'etc', 'hostname'), `coracle-${name}\n`);
    // kernel modules
    const kmods = join(root, 'lib', 'modules', k.version);
    for (const rel of await moduleClosure(k.modulesDir)) {
      await mkdir(dirname(join(kmods, rel)), { recursive: true });
      await copyFile(join(k.modulesDir, rel), join(kmods, rel));
    }
    for (const f of ['modules.builtin', 'modules.order', 'modules.builtin.modinfo']) {
      if (existsSync(join(k.modulesDir, f))) await copyFile(join(k.modulesDir, f), join(kmods, f));
    }
    await execa('busybox', ['depmod', '-b', root, k.version]);
    // bundles
    const template = await runcSpecTemplate();
    for (const b of opts.bundles ?? DEFAULT_DEV_BUNDLES) await writeBundle(root, b, template);
    for (const [p, contents] of Object.entries(opts.files ?? {})) {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await writeFile(join(root, p), contents);
    }
    await mkdir(join(root, 'dev'), { recursive: true });
    await execa('mknod', ['-m', '600', join(root, 'dev', 'console'), 'c', '5', '1']).catch(() => undefined);

    await mkdir(outDir, { recursive: true });
    const initrd = join(outDir, `${name}-initrd.img`);
    await sh(`find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner 0:0 | gzip -1 > '${initrd}.tmp'`, root);
    await rename(`${initrd}.tmp`, initrd);
    const kernel = join(outDir, `${name}-kernel`);
    await copyFile(k.kernel, kernel);
    let vmlinux: string | undefined;
    if (k.vmlinux) {
      vmlinux = join(outDir, `${name}-vmlinux`);
      await copyFile(k.vmlinux, vmlinux);
    }
    const cmdline = join(outDir, `${name}-cmdline`);
    await writeFile(cmdline, `console=ttyS0 ${opts.cmdline ?? ''}`.trim() + '\n');
    return { dir: outDir, name, kernel, initrd, cmdline, vmlinux };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The image files of a build output directory (LinuxKit names), for tests. */
export async function findBootImage(dir: string, name?: string): Promise<BootImage> {
  const entries = await readdir(dir);
  const n = name ?? entries.find((e) => e.endsWith('-initrd.img'))?.replace(/-initrd\.img$/, '');
  if (!n) throw new Error(`no *-initrd.img in ${dir}`);
  const p = (s: string) => join(dir, `${n}-${s}`);
  return {
    dir,
    name: n,
    kernel: p('kernel'),
    initrd: p('initrd.img'),
    cmdline: p('cmdline'),
    vmlinux: existsSync(p('vmlinux')) ? p('vmlinux') : undefined,
  };
}
