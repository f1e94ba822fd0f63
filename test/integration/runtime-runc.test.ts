/**
 * Generated config.json files run under the real runc: the process gets the
 * env, cwd, uid/gid, hostname and capabilities the spec asked for, and a
 * read-only container cannot write its root. The least-privilege defaults
 * (no_new_privs, the default seccomp filter, a read-only root) hold under
 * both runc and crun, and each opt-out works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateIds, capabilityBit, generateRuntimeConfig, stableJson, type RuntimeEntry } from '../../src/runtime/index.js';

let work: string;
let seq = 0;
const ids = allocateIds({ services: [{ name: 'web' }, { name: 'probe' }] });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-runc-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A bundle whose rootfs holds busybox-static only. */
async function bundle(entry: RuntimeEntry): Promise<{ dir: string; id: string }> {
  const dir = join(work, `b${seq++}`);
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'srv/app', 'tmp']) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await symlink('busybox', join(rootfs, 'bin/sh'));
  const gen = generateRuntimeConfig({ entry, bundleDir: dir, ids, image: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
  expect(gen.config.root!.path).toBe(join(dir, 'rootfs'));
  await writeFile(join(dir, 'config.json'), stableJson(gen.config));
  return { dir, id: `coracle-test-${process.pid}-${seq}` };
}

type Runtime = 'runc' | 'crun';

/**
 * crun 1.8 (Debian bookworm's) knows runtime-spec 1.0 and 1.1 only, and
 * refuses hybrid cgroups (a cgroup2 mount at /sys/fs/cgroup/unified beside
 * v1 hierarchies, as on some CI hosts): it gets the config as 1.1.0, which
 * holds every key we write, and a mount namespace without that mount.
 */
async function crunRun(b: { dir: string; id: string }) {
  const file = join(b.dir, 'config.json');
  const cfg = JSON.parse(await readFile(file, 'utf8')) as { ociVersion: string };
  cfg.ociVersion = '1.1.0';
  await writeFile(file, JSON.stringify(cfg));
  const script = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle "$1" "$2"';
  return execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', b.dir, b.id], { reject: false, stdin: 'ignore', timeout: 60_000 });
}

async function runc(b: { dir: string; id: string }, runtime: Runtime = 'runc'): Promise<{ code: number; out: string }> {
  const r =
    runtime === 'crun'
      ? await crunRun(b)
      : await execa('runc', ['run', '--bundle', b.dir, b.id], { reject: false, stdin: 'ignore', timeout: 60_000 });
  await execa(runtime, ['delete', '--force', b.id], { reject: false });
  return { code: r.exitCode ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

const capMask = (caps: string[]): string =>
  caps.reduce((m, c) => m | (1n << BigInt(capabilityBit(c))), 0n).toString(16).padStart(16, '0');

describe('generated configs under runc', () => {
  const probe = [
    'echo ENV=$GREETING',
    'echo CWD=$(pwd)',
    'echo UID=$(busybox id -u) GID=$(busybox id -g) GROUPS=$(busybox id -G)',
    'echo HOST=$(busybox hostname)',
    'busybox grep -E "^Cap(Eff|Bnd)" /proc/self/status',
    'if busybox touch /written 2>/dev/null; then echo WRITE=ok; else echo WRITE=refused; fi',
  ].join('; ');

  it('runs as a named user with the requested env, cwd, hostname, groups and capability bounds', async () => {
    const b = await bundle({
      name: 'probe', command: ['/bin/sh', '-c', probe], env: ['PATH=/bin', 'GREETING=hello world'], cwd: '/srv/app',
      uid: 'probe', gid: 'web', additionalGids: [3000], hostname: 'coracle-probe', uts: 'new',
      capabilities: ['CAP_NET_RAW', 'CAP_KILL'],
    });
    const { code, out } = await runc(b);
    expect(code, out).toBe(0);
    expect(out).toContain('ENV=hello world');
    expect(out).toContain('CWD=/srv/app');
    expect(out).toMatch(new RegExp(`UID=${ids.get('probe')} GID=${ids.get('web')} GROUPS=${ids.get('web')} 3000`));
    expect(out).toContain('HOST=coracle-probe');
    expect(out).toContain(`CapBnd:\t${capMask(['CAP_KILL', 'CAP_NET_RAW'])}`);
    // a non-root process keeps no effective capabilities across exec (no ambient set)
    expect(out).toContain('CapEff:\t0000000000000000');
  });

  it('root gets exactly the capabilities asked for, and a read-only rootfs refuses writes', async () => {
    const ro = await bundle({ name: 'ro', command: ['/bin/sh', '-c', probe], capabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], readonly: true });
    const r1 = await runc(ro);
    expect(r1.code, r1.out).toBe(0);
    expect(r1.out).toContain(`CapEff:\t${capMask(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'])}`);
    expect(r1.out).toContain('UID=0 GID=0');
    expect(r1.out).toContain('WRITE=refused');

    const rw = await bundle({ name: 'rw', command: ['/bin/sh', '-c', probe], capabilities: ['CAP_DAC_OVERRIDE'], readonly: false });
    const r2 = await runc(rw);
    expect(r2.code, r2.out).toBe(0);
    expect(r2.out).toContain('WRITE=ok');
    expect(r2.out).toContain(`CapEff:\t${capMask(['CAP_DAC_OVERRIDE'])}`);
  });

  it('binds, tmpfs, device nodes, rlimits and sysctls from the spec take effect', async () => {
    const host = join(work, 'host-share');
    await mkdir(host, { recursive: true });
    await writeFile(join(host, 'greeting'), 'from the host');
    const script = [
      'echo SHARE=$(busybox cat /share/greeting)',
      'if busybox touch /share/new 2>/dev/null; then echo SHAREWRITE=ok; else echo SHAREWRITE=refused; fi',
      'busybox grep -E " /scratch tmpfs " /proc/mounts | busybox sed "s/^/MNT=/"',
      'echo ZERO=$(busybox head -c 3 /dev/zero-test | busybox od -An -tx1 | busybox tr -d " ")',
      'echo NOFILE=$(ulimit -n) CORE=$(ulimit -c)',
      'echo FWD=$(busybox cat /proc/sys/net/ipv4/ip_forward)',
    ].join('; ');
    const b = await bundle({
      name: 'mounts', command: ['/bin/sh', '-c', script], net: 'new',
      binds: [`${host}:/share:ro`], tmpfs: ['/scratch:size=1m'],
      devices: [{ path: '/dev/zero-test', type: 'c', major: 1, minor: 5, mode: '0666' }],
      rlimits: ['nofile,1000,2000', 'core,unlimited,unlimited'], sysctl: { 'net.ipv4.ip_forward': '1' },
    });
    const { code, out } = await runc(b);
    expect(code, out).toBe(0);
    expect(out).toContain('SHARE=from the host');
    expect(out).toContain('SHAREWRITE=refused');
    expect(out).toMatch(/MNT=tmpfs \/scratch tmpfs \S*size=1024k/);
    expect(out).toContain('ZERO=000000');
    expect(out).toContain('NOFILE=1000 CORE=unlimited');
    expect(out).toContain('FWD=1');
  });

  it('the host hostname is kept unless uts is new; the exit status comes back', async () => {
    const b = await bundle({ name: 'exit', command: ['/bin/sh', '-c', 'exit 7'] });
    expect((await runc(b)).code).toBe(7);
  });
});

describe('least privilege by default, under runc and crun', () => {
  // personality(ADDR_NO_RANDOMIZE) is one of the calls the default filter
  // refuses to everyone (only the plain Linux personalities pass), so it
  // shows the filter at work without any capability in play.
  const probe = [
    'busybox grep -E "^(NoNewPrivs|Seccomp|CapBnd|CapInh):" /proc/self/status',
    'if busybox linux64 -R true 2>/dev/null; then echo PERSONALITY=ok; else echo PERSONALITY=refused; fi',
    'if busybox touch /written 2>/dev/null; then echo WRITE=ok; else echo WRITE=refused; fi',
    // a thread-creating clone still works (no namespace flags)
    '(busybox true) && echo FORK=ok',
  ].join('; ');

  for (const runtime of ['runc', 'crun'] as const) {
    it(`${runtime}: no_new_privs, the default filter and a read-only root unless asked otherwise`, async () => {
      const def = await runc(await bundle({ name: 'def', command: ['/bin/sh', '-c', probe], capabilities: ['CAP_NET_BIND_SERVICE'] }), runtime);
      expect(def.code, def.out).toBe(0);
      expect(def.out).toContain('NoNewPrivs:\t1');
      expect(def.out).toContain('Seccomp:\t2');
      expect(def.out).toContain(`CapBnd:\t${capMask(['CAP_NET_BIND_SERVICE'])}`);
      expect(def.out).toContain('CapInh:\t0000000000000000');
      expect(def.out).toContain('PERSONALITY=refused');
      expect(def.out).toContain('WRITE=refused');
      expect(def.out).toContain('FORK=ok');

      const open = await runc(
        await bundle({ name: 'open', command: ['/bin/sh', '-c', probe], readonly: false, noNewPrivileges: false, seccomp: 'unconfined' }),
        runtime,
      );
      expect(open.code, open.out).toBe(0);
      expect(open.out).toContain('NoNewPrivs:\t0');
      expect(open.out).toContain('Seccomp:\t0');
      expect(open.out).toContain('CapBnd:\t0000000000000000');
      expect(open.out).toContain('PERSONALITY=ok');
      expect(open.out).toContain('WRITE=ok');
    });

    it(`${runtime}: a profile file from the spec replaces the default filter`, async () => {
      // allow everything but mkdir, which fails with EACCES
      const seccompProfile = {
        defaultAction: 'SCMP_ACT_ALLOW' as const,
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' as const, errnoRet: 13 }],
      };
      const script = [probe, 'busybox mkdir /made 2>&1 | busybox sed "s/^/MKDIR=/"'].join('; ');
      const r = await runc(await bundle({ name: 'custom', command: ['/bin/sh', '-c', script], readonly: false, seccomp: 'p.json', seccompProfile }), runtime);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('Seccomp:\t2');
      // the default filter's refusals are gone, the profile's own one holds
      expect(r.out).toContain('PERSONALITY=ok');
      expect(r.out).toContain('WRITE=ok');
      expect(r.out).toMatch(/MKDIR=.*Permission denied/);
    });

    it(`${runtime}: a capability grants its calls through the filter`, async () => {
      const script = [
        probe,
        // CAP_SYS_ADMIN lets mount and sethostname through; CAP_SYS_CHROOT chroot
        'busybox mkdir -p /tmp/m 2>/dev/null; busybox mount -t tmpfs none /tmp && echo MOUNT=ok',
        'busybox hostname coracle-all && echo HOSTNAME=ok',
        'busybox chroot / /bin/busybox true && echo CHROOT=ok',
      ].join('; ');
      // (not `all`: this host's own bounding set lacks some capabilities)
      const caps = ['CAP_SYS_ADMIN', 'CAP_SYS_CHROOT'];
      const r = await runc(await bundle({ name: 'admin', command: ['/bin/sh', '-c', script], capabilities: caps, uts: 'new' }), runtime);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('Seccomp:\t2');
      expect(r.out).toContain(`CapBnd:\t${capMask(caps)}`);
      expect(r.out).toContain('MOUNT=ok');
      expect(r.out).toContain('HOSTNAME=ok');
      expect(r.out).toContain('CHROOT=ok');
      // still refused: no capability makes an odd personality safe
      expect(r.out).toContain('PERSONALITY=refused');
    });
  }
});
