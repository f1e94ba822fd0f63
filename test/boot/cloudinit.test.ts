/**
 * The cloud-init agent in a real host under QEMU: images made with
 * `coracle pkg build` (kernel, init, runc, containerd, dhcpcd, busybox,
 * cloud-init, sshd), a system assembled with `coracle build`, NoCloud seeds
 * made with the host-side makeSeed (ISO9660 `cidata`), and a vfat data disk
 * mounted at /var/lib/cloud by an onboot step so the agent's markers persist.
 *
 *   boot 1: hostname, a user with an ssh key (ssh login through --publish),
 *           write_files in two encodings, bootcmd and runcmd writing files,
 *           a `#!` part — checked on the console and in the host root;
 *   boot 2: same instance-id, same disk: runcmd does not run again;
 *   boot 3: a new instance-id: runcmd runs again;
 *   boot 4: user-data that is not valid YAML: the boot completes and the
 *           error is on the console and in /var/log/cloud-init.log.
 *
 * Images come from the shared test store (test/helpers/system.ts); they are
 * only rebuilt when their definitions change (pkg tags are content hashes).
 */
import { execa } from 'execa';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSeed } from '../../src/cloudinit/seed.js';
import { resolveImage, type ResolvedImage } from '../../src/qemu/image.js';
import { startWatchingKvm } from '../../src/qemu/kvm-guard.js';
import { chooseAccel } from '../../src/qemu/run.js';
import { QemuVm } from '../../src/qemu/vm.js';
import { runCli } from '../helpers/cli.js';
import { consoleRun, freePort, kvmCacheFile } from '../helpers/qemu.js';
import { ensureSystemImages, systemStore } from '../helpers/system.js';

const IMAGES = ['kernel', 'init', 'runc', 'containerd', 'dhcpcd', 'busybox', 'cloud-init', 'sshd', 'ntpd'] as const;
const BOOT_TIMEOUT_MS = 300_000;

let dir: string;
let store: string;
let image: ResolvedImage;
let accel: 'kvm' | 'tcg';
let keyFile: string;
let pubKey: string;
let disk: string;
const started = new Set<QemuVm>();


async function cli(args: string[]): Promise<string> {
  const r = await runCli(['--cache', store, ...args], { timeout: 1_200_000 });
  if (r.exitCode !== 0) throw new Error(`coracle ${args.join(' ')} failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

function spec(tags: Record<string, string>): string {
  return `kernel:
  image: ${tags.kernel}
  cmdline: "console=ttyS0 coracle.shell"
init:
  - ${tags.init}
  - ${tags.runc}
  - ${tags.containerd}
onboot:
  - name: dhcpcd
    image: ${tags.dhcpcd}
  # the data disk that keeps /var/lib/cloud across boots
  - name: state
    image: ${tags.busybox}
    capabilities: [CAP_SYS_ADMIN]
    rootfsPropagation: shared
    devices:
      - {path: all, type: b}
    binds:
      - /dev:/dev
      - /var/lib:/var/lib
    command: [sh, -c, "d=$(findfs LABEL=CLOUDSTATE) && mkdir -p /var/lib/cloud && mount -t vfat $d /var/lib/cloud && echo state disk $d mounted"]
  - name: cloud-init
    image: ${tags['cloud-init']}
services:
  - name: sshd
    image: ${tags.sshd}
  - name: ntpd
    image: ${tags.ntpd}
`;
}

const BOOTCMD_MARK = 'BOOTCMD-RAN';
const RUNCMD_MARK = 'RUNCMD-RAN';
/** Does not resolve: ntpd lists it as an unresolved peer (`ntpctl -s peers`), which shows the service took it. */
const NTP_SERVER = 'ntp-from-user-data.invalid';

function userData(instance: string): string {
  const b64 = Buffer.from('written from base64\n').toString('base64');
  const cloudConfig = `#cloud-config
hostname: ci-host
fqdn: ci-host.example.test
manage_etc_hosts: localhost
bootcmd:
  - echo ${BOOTCMD_MARK} >> /run/bootcmd.out
write_files:
  - path: /etc/ci/plain.txt
    content: |
      plain text
    permissions: '0600'
  - path: /etc/ci/b64.txt
    encoding: b64
    content: ${b64}
    permissions: '0640'
  - path: /home/alice/welcome.txt
    content: hi alice
    owner: alice:alice
    defer: true
users:
  - name: alice
    groups: [wheel]
    shell: /bin/sh
    ssh_authorized_keys:
      - ${pubKey}
runcmd:
  - echo "${RUNCMD_MARK} $INSTANCE_ID"
  - echo "$INSTANCE_ID" >> /var/lib/cloud/runcmd-count
  - [touch, /run/runcmd-list-form]
ntp:
  servers: [${NTP_SERVER}]
final_message: "provisioned ${instance} after $UPTIME s"
`;
  const script = '#!/bin/sh\necho "script part ran" > /run/script-part.out\n';
  return [
    'Content-Type: multipart/mixed; boundary="==BOUNDARY=="',
    'MIME-Version: 1.0',
    '',
    '--==BOUNDARY==',
    'Content-Type: text/cloud-config; charset="us-ascii"',
    '',
    cloudConfig,
    '--==BOUNDARY==',
    'Content-Type: text/x-shellscript; charset="us-ascii"',
    'Content-Disposition: attachment; filename="part-script.sh"',
    '',
    script,
    '--==BOUNDARY==--',
    '',
  ].join('\n');
}

interface Booted {
  vm: QemuVm;
  port: number;
  log: string;
}

async function boot(name: string, ud: string, instanceId: string, onInvalid: 'error' | 'ignore' = 'error', o: VmOptions = {}): Promise<Booted> {
  const b = await startVm(name, ud, instanceId, onInvalid, o);
  try {
    await b.vm.waitForConsole(/coracle: all services started/, BOOT_TIMEOUT_MS);
    await consoleRun(b.vm, 'true', 120_000);
  } catch (e) {
    b.vm.kill();
    await b.vm.wait();
    throw new Error(`${name}: ${(e as Error).message}\n--- console ---\n${b.vm.console.slice(-6000)}`);
  }
  return b;
}

interface VmOptions {
  /** no seed ISO (the datasource comes from elsewhere) */
  noSeed?: boolean;
  /** no data disk: /var/lib/cloud stays in memory */
  noDisk?: boolean;
  cmdline?: string;
  extraArgs?: string[];
  /** a vfat seed (label CIDATA) attached as a virtio disk instead of the ISO CD-ROM */
  vfatSeed?: boolean;
}

async function startVm(name: string, ud: string, instanceId: string, onInvalid: 'error' | 'ignore' = 'error', o: VmOptions = {}): Promise<Booted> {
  const seed = join(dir, `${name}-seed.iso`);
  if (!o.noSeed) {
    await makeSeed({ userData: ud, metaData: `instance-id: ${instanceId}\nlocal-hostname: from-meta\n`, format: o.vfatSeed ? 'vfat' : 'iso', onInvalid }, seed);
  }
  const disks = [...(o.noDisk ? [] : [{ path: disk, format: 'raw' }]), ...(o.vfatSeed ? [{ path: seed, format: 'raw' }] : [])];
  const port = await freePort();
  const log = join(dir, `${name}-console.log`);
  const sink = createWriteStream(log);
  const make = (a: 'kvm' | 'tcg') =>
    new QemuVm({
      boot: o.cmdline ? { ...image, cmdline: `${image.cmdline.trim()} ${o.cmdline}` } : image,
      accel: a,
      mem: 1024,
      cpus: 1,
      publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 22, protocol: 'tcp' }],
      disks,
      ...(o.noSeed || o.vfatSeed ? {} : { seedIso: seed }),
      ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
      consoleSinks: [sink],
    });
  const { vm, accel: used } = await startWatchingKvm(make, accel, { auto: true, cacheFile: kvmCacheFile() });
  accel = used;
  void vm.wait().then(() => sink.end());
  started.add(vm);
  return { vm, port, log };
}

/** Flush the data disk, then power off through ACPI (kill if that hangs). */
async function shutdown(b: Booted): Promise<void> {
  if (!b.vm.running) return;
  await consoleRun(b.vm, 'sync; umount /var/lib/cloud; sync', 60_000).catch(() => undefined);
  await b.vm.stop(120_000).catch(() => b.vm.kill());
  await b.vm.wait();
}

function lines(text: string, prefix: string): string[] {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.slice(Math.max(0, l.indexOf(prefix))))
    .filter((l) => l.startsWith(prefix));
}

/** ssh with the test key; retried while sshd is not listening yet (it starts after onboot and makes host keys first). */
async function ssh(port: number, user: string, command: string) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await sshOnce(port, user, command);
    if (r.exitCode === 0 || Date.now() > deadline || !/reset by peer|refused|kex_exchange|Connection closed/i.test(String(r.stderr))) return r;
    await new Promise((res) => setTimeout(res, 2000));
  }
}

async function sshOnce(port: number, user: string, command: string) {
  return execa(
    'ssh',
    [
      '-i', keyFile, '-p', String(port),
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR',
      `${user}@127.0.0.1`, command,
    ],
    { reject: false, timeout: 120_000, stdin: 'ignore' },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-cloudinit-'));
  store = systemStore();
  await ensureSystemImages([...IMAGES]);
  const tags: Record<string, string> = {};
  for (const name of IMAGES) tags[name] = (await cli(['pkg', 'show-tag', `images/${name}`])).trim();
  const specFile = join(dir, 'ci.yml');
  await writeFile(specFile, spec(tags));
  await cli(['build', specFile, '-o', join(dir, 'out')]);
  image = await resolveImage(join(dir, 'out', 'ci'));
  accel = await chooseAccel('auto', { cacheFile: kvmCacheFile(), kernel: image.vmlinux ?? image.kernel });
  keyFile = join(dir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@test', '-f', keyFile]);
  pubKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
  disk = join(dir, 'state.img');
  await execa('truncate', ['-s', '32M', disk]);
  await execa('mkfs.vfat', ['-n', 'CLOUDSTATE', disk]);
}, 1_800_000);

afterAll(async () => {
  // a VM whose test was skipped or failed before its shutdown
  for (const vm of started) {
    if (vm.running) {
      vm.kill();
      await vm.wait();
    }
  }
  if (dir && !process.env.CORACLE_KEEP_BOOT) await rm(dir, { recursive: true, force: true });
});

describe('cloud-init agent under QEMU', () => {
  let first: Booted;

  it('boot 1: provisions the host from the seed', async () => {
    first = await boot('boot1', userData('iid-one'), 'iid-one');
    const vm = first.vm;
    const con = vm.console.replace(/\r/g, '');
    const ci = lines(con, 'cloud-init: ');
    // the datasource, the instance and the persistent state
    expect(ci.some((l) => /^cloud-init: datasource: iso9660 volume \/dev\/sr\d \(label cidata\)$/.test(l)), ci.join('\n')).toBe(true);
    expect(ci).toContain('cloud-init: state: first boot of instance iid-one');
    expect(con).toMatch(/state disk \/dev\/vda mounted/);
    // modules in cloud-init's order
    const order = ['cloud-init: bootcmd:', 'cloud-init: write_files: wrote /etc/ci/plain.txt', 'cloud-init: set_hostname: hostname ci-host',
      'cloud-init: users_groups: user alice created', 'cloud-init: runcmd:', 'cloud-init: scripts_user: running part-script.sh',
      'cloud-init: write_files_deferred: wrote /home/alice/welcome.txt', 'cloud-init: final_message: provisioned iid-one after'];
    const at = order.map((o) => ci.findIndex((l) => l.startsWith(o)));
    for (const [i, v] of at.entries()) expect(v, `${order[i]}\n${ci.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(con).toContain(`${RUNCMD_MARK} iid-one`);
    expect(ci.filter((l) => / ERROR |error/i.test(l))).toEqual([]);
    // the agent ran before the services, as an onboot step that exited 0
    expect(con).toMatch(/coracle: onboot \d+-cloud-init exited 0/);
  });

  it('boot 1: files, hostname, accounts and markers are in the host root', async () => {
    const vm = first.vm;
    expect((await consoleRun(vm, 'hostname; cat /etc/hostname')).trim().split('\n')).toEqual(['ci-host', 'ci-host']);
    expect(await consoleRun(vm, 'grep 127.0.1.1 /etc/hosts')).toContain('127.0.1.1 ci-host.example.test ci-host');
    expect((await consoleRun(vm, 'cat /etc/ci/plain.txt; stat -c %a /etc/ci/plain.txt')).trim().split('\n')).toEqual(['plain text', '600']);
    expect((await consoleRun(vm, 'cat /etc/ci/b64.txt; stat -c %a /etc/ci/b64.txt')).trim().split('\n')).toEqual(['written from base64', '640']);
    expect((await consoleRun(vm, 'cat /run/bootcmd.out')).trim()).toBe(BOOTCMD_MARK);
    expect((await consoleRun(vm, 'cat /var/lib/cloud/runcmd-count')).trim()).toBe('iid-one');
    expect(await consoleRun(vm, 'ls /run/runcmd-list-form')).toContain('/run/runcmd-list-form');
    expect((await consoleRun(vm, 'cat /run/script-part.out')).trim()).toBe('script part ran');
    expect(await consoleRun(vm, 'grep ^alice: /etc/passwd; grep ^wheel: /etc/group')).toMatch(/^alice:x:1000:1000::\/home\/alice:\/bin\/sh\nwheel:x:\d+:alice$/m);
    expect((await consoleRun(vm, 'stat -c "%u %a" /home/alice/welcome.txt /home/alice/.ssh /home/alice/.ssh/authorized_keys')).trim().split('\n')).toEqual([
      '1000 644', '1000 700', '1000 600',
    ]);
    expect(await consoleRun(vm, 'ls /var/lib/cloud/instances/iid-one/sem/; grep -c . /proc/mounts >/dev/null; grep " /var/lib/cloud " /proc/mounts')).toMatch(
      /config_scripts_user[\s\S]* \/var\/lib\/cloud vfat /,
    );
    const log = await consoleRun(vm, 'cat /var/log/cloud-init.log');
    expect(log).toMatch(/INFO cloud-init: users_groups: user alice created/);
    expect(await consoleRun(vm, 'cat /var/log/cloud-init-output.log')).toContain(`${RUNCMD_MARK} iid-one`);
  });

  it('boot 1: ntp servers from user-data are in the host\'s /etc/ntp.conf, which the ntpd image reads', async () => {
    expect(await consoleRun(first.vm, 'cat /etc/ntp.conf')).toContain(`server ${NTP_SERVER}`);
  });

  it('boot 1: the ntpd service uses the servers from user-data', async () => {
    const vm = first.vm;
    // ntpd's own view of its peers, through its control socket in the
    // service's mount namespace: the name does not resolve, so it stays
    // "not resolved", which ntpd keeps retrying (the service stays up).
    const peers = `nsenter -t 1 -m -- sh -c 'p=$(pidof ntpd) && nsenter -t \${p%% *} -m -- /usr/sbin/ntpctl -s peers'`;
    let out = '';
    for (let i = 0; i < 30 && !out.includes(NTP_SERVER); i++) {
      out = await consoleRun(vm, `${peers} 2>&1; sleep 2`);
    }
    expect(out, await consoleRun(vm, 'cat /var/log/ntpd.log 2>/dev/null')).toContain(`not resolved from pool ${NTP_SERVER}`);
    // user-data's servers replace the image's default
    expect(out).not.toContain('pool.ntp.org');
    expect(await consoleRun(vm, 'cat /var/log/ntpd.log')).toContain(`coracle-ntpd: servers: ${NTP_SERVER}`);
  });

  it('boot 1: the new user logs in over ssh with the key from user-data', async () => {
    const r = await ssh(first.port, 'alice', 'id -un; hostname; cat /home/alice/welcome.txt; echo; cat /hostroot/etc/hostname');
    expect(r.exitCode, `${r.stderr}\n${first.vm.console.slice(-3000)}`).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['alice', 'ci-host', 'hi alice', 'ci-host']);
    // a key not in user-data is refused
    const other = join(dir, 'other');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const denied = await execa('ssh', ['-i', other, '-p', String(first.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', 'alice@127.0.0.1', 'true'], { reject: false, timeout: 120_000, stdin: 'ignore' });
    expect(denied.exitCode).not.toBe(0);
    expect(String(denied.stderr)).toMatch(/Permission denied/);
    await shutdown(first);
  });

  it('boot 2: the same instance-id with the same data disk does not run runcmd again', async () => {
    const b = await boot('boot2', userData('iid-one'), 'iid-one');
    try {
      const con = b.vm.console.replace(/\r/g, '');
      const ci = lines(con, 'cloud-init: ');
      expect(ci, ci.join('\n')).toContain('cloud-init: state: instance iid-one seen before: per-instance work is not repeated');
      expect(ci).toContain('cloud-init: scripts_user: already ran for instance iid-one: runcmd and scripts not run again');
      expect(con).not.toContain(`${RUNCMD_MARK} iid-one`);
      expect((await consoleRun(b.vm, 'cat /var/lib/cloud/runcmd-count')).trim()).toBe('iid-one');
      // bootcmd runs on every boot; the in-memory root is provisioned again
      expect((await consoleRun(b.vm, 'cat /run/bootcmd.out')).trim()).toBe(BOOTCMD_MARK);
      expect(await consoleRun(b.vm, 'ls /run/script-part.out 2>&1')).toMatch(/No such file/);
      const r = await ssh(b.port, 'alice', 'id -un');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('alice');
    } finally {
      await shutdown(b);
    }
  });

  it('boot 3: a new instance-id runs runcmd again', async () => {
    const b = await boot('boot3', userData('iid-two'), 'iid-two');
    try {
      const con = b.vm.console.replace(/\r/g, '');
      expect(lines(con, 'cloud-init: ')).toContain('cloud-init: state: new instance iid-two (previous iid-one)');
      expect(con).toContain(`${RUNCMD_MARK} iid-two`);
      expect((await consoleRun(b.vm, 'cat /var/lib/cloud/runcmd-count')).trim().split('\n')).toEqual(['iid-one', 'iid-two']);
      expect((await consoleRun(b.vm, 'cat /run/script-part.out')).trim()).toBe('script part ran');
    } finally {
      await shutdown(b);
    }
  });

  it('boot 4: user-data that is not valid YAML is logged and the boot completes', async () => {
    const bad = `#cloud-config\nhostname: [unclosed\nruncmd:\n  - echo ${RUNCMD_MARK}\n`;
    const b = await boot('boot4', bad, 'iid-bad', 'ignore');
    try {
      const con = b.vm.console.replace(/\r/g, '');
      const err = lines(con, 'cloud-init: ').find((l) => l.startsWith("cloud-init: user-data: part-001: invalid cloud-config YAML: line 2: did not find expected ',' or ']'"));
      expect(err, con.slice(-4000)).toBeDefined();
      expect(con).toMatch(/coracle: onboot \d+-cloud-init exited 0/);
      expect(con).toContain('coracle: service sshd started');
      expect(con).not.toContain(`${RUNCMD_MARK}`);
      expect(await consoleRun(b.vm, 'grep ERROR /var/log/cloud-init.log')).toContain('ERROR cloud-init: user-data: part-001: invalid cloud-config YAML');
    } finally {
      await shutdown(b);
    }
  });

  it('boot 5: power_state powers the host off cleanly once provisioning is done', async () => {
    const ud = `#cloud-config\nruncmd:\n  - echo "${RUNCMD_MARK} before power_state"\npower_state:\n  mode: poweroff\n  delay: now\n  message: provisioning done, powering off\n  condition: true\n`;
    const b = await startVm('boot5', ud, 'iid-power');
    const timer = setTimeout(() => b.vm.kill(), BOOT_TIMEOUT_MS);
    const result = await b.vm.wait();
    clearTimeout(timer);
    const con = b.vm.console.replace(/\r/g, '');
    expect(result.reason, con.slice(-4000)).toBe('poweroff');
    const ci = lines(con, 'cloud-init: ');
    const at = ['cloud-init: power_state: provisioning done, powering off', 'cloud-init: power_state: poweroff now'].map((l) => ci.indexOf(l));
    expect(at[0], ci.join('\n')).toBeGreaterThanOrEqual(0);
    expect(at[1]).toBeGreaterThan(at[0]!);
    expect(con.indexOf(`${RUNCMD_MARK} before power_state`)).toBeLessThan(con.indexOf('cloud-init: power_state: poweroff now'));
    // the host's init went down its clean path: services stopped, then power off
    expect(con).toContain('coracle: service sshd stopped');
  });

  it('boot 6: the SMBIOS serial ds=nocloud;h=...;i=... is a datasource (no seed volume, no data disk)', async () => {
    const b = await boot('boot6', '', '', 'error', { noSeed: true, noDisk: true, extraArgs: ['-smbios', 'type=1,serial=ds=nocloud;h=smbios-host;i=iid-smbios'] });
    try {
      const ci = lines(b.vm.console.replace(/\r/g, ''), 'cloud-init: ');
      expect(ci, ci.join('\n')).toContain('cloud-init: datasource: nocloud on the SMBIOS serial');
      expect(ci).toContain('cloud-init: datasource SMBIOS serial, instance iid-smbios');
      expect(ci).toContain('cloud-init: state: /var/lib/cloud is in memory (no data disk mounted there): every boot is a first boot');
      expect((await consoleRun(b.vm, 'hostname')).trim()).toBe('smbios-host');
    } finally {
      await shutdown(b);
    }
  });

  it('boot 7: a vfat CIDATA disk; the kernel command line ds=nocloud;i=... overrides its instance-id', async () => {
    const ud = `#cloud-config\nruncmd:\n  - echo "${RUNCMD_MARK} $INSTANCE_ID"\n`;
    const b = await boot('boot7', ud, 'iid-from-seed', 'error', { noDisk: true, vfatSeed: true, cmdline: 'ds=nocloud;h=cmdline-host;i=iid-cmdline' });
    try {
      const con = b.vm.console.replace(/\r/g, '');
      const ci = lines(con, 'cloud-init: ');
      expect(ci, ci.join('\n')).toContain('cloud-init: datasource: nocloud on the kernel command line');
      expect(ci).toContain('cloud-init: datasource: vfat volume /dev/vda (label CIDATA)');
      expect(ci).toContain('cloud-init: datasource /dev/vda, instance iid-cmdline');
      expect(con).toContain(`${RUNCMD_MARK} iid-cmdline`);
      expect((await consoleRun(b.vm, 'hostname')).trim()).toBe('cmdline-host');
    } finally {
      await shutdown(b);
    }
  });
});
