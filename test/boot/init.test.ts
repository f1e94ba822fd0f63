/**
 * The guest init on a dev image (host kernel parts, our init, hand-written
 * bundles; see test/helpers/dev-initrd.ts), booted under QEMU once:
 * onboot order and failure handling, services as containerd tasks in their
 * own mount namespace and cgroup, runtime.json, writable overlays, logs,
 * --publish, and a clean ACPI shutdown that runs onshutdown.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm, RunResult } from '../../src/qemu/vm.js';
import { buildDevImage } from '../helpers/dev-initrd.js';
import { bootUntilReady, cleanupBoot, consoleRun, fetchWhenListening, freePort, initLines, powerdown, waitForShell } from '../helpers/qemu.js';

let dir: string;
let vm: QemuVm;
let logFile: string;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-init-'));
  const img = await buildDevImage(join(dir, 'out'), { name: 'dev' });
  port = await freePort();
  ({ vm, logFile } = await bootUntilReady(
    img,
    {
      extraCmdline: 'coracle.shell',
      publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 8080, protocol: 'tcp' }],
      logFile: join(dir, 'console.log'),
      userData: '#cloud-config\nhostname: seeded\n',
      disks: [{ path: join(dir, 'data.qcow2'), size: '64M', format: 'qcow2' }],
    },
    /coracle: all services started/,
    // the console shell comes after sysinit
    (v) => waitForShell(v),
  ));
});

afterAll(() => cleanupBoot(vm, dir));

describe('guest init (dev image under QEMU)', () => {
  it('mounts, loads modules, sets the hostname, then runs onboot in order before any service', () => {
    const lines = initLines(vm.console);
    const idx = (s: string) => lines.findIndex((l) => l.startsWith(`coracle: ${s}`));
    expect(idx('init')).toBe(0);
    expect(idx('filesystems mounted')).toBeGreaterThan(0);
    expect(lines[idx('modules loaded')]).toMatch(/virtio_net/);
    expect(lines[idx('hostname')]).toBe('coracle: hostname coracle-dev, lo up');
    const order = ['onboot 000-net started', 'onboot 000-net exited 0', 'onboot 001-fail started', 'onboot 002-after started',
      'onboot done', 'containerd started', 'service probe started', 'service web started', 'all services started'];
    const at = order.map(idx);
    for (const [i, v] of at.entries()) expect(v, order[i]).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('a failing onboot container is logged and the boot goes on', () => {
    const lines = initLines(vm.console);
    expect(lines).toContain('coracle: onboot 001-fail exited 3');
    expect(vm.console).toContain('dev: onboot after failure ran');
    expect(lines).toContain('coracle: onboot 002-after exited 0');
  });

  it('onboot output goes to the console and /var/log/onboot/NAME.log', async () => {
    expect(vm.console).toContain('dev: onboot net configured');
    expect(await consoleRun(vm, 'cat /var/log/onboot/000-net.log')).toContain('dev: onboot net configured');
    expect(await consoleRun(vm, 'cat /var/log/onboot/001-fail.log')).toContain('dev: onboot failing on purpose');
  });

  it('every service is a running containerd task in the services namespace, logging to /var/log/NAME.log', async () => {
    const tasks = await consoleRun(vm, 'ctr -n services.coracle task ls');
    expect(tasks).toMatch(/^probe\s+\d+\s+RUNNING$/m);
    expect(tasks).toMatch(/^web\s+\d+\s+RUNNING$/m);
    expect(await consoleRun(vm, 'cat /var/log/probe.log')).toMatch(/^mnt=mnt:\[\d+\]/m);
  });

  it('a service has its own mount namespace and its own cgroup', async () => {
    const out = await consoleRun(
      vm,
      'P=$(ctr -n services.coracle task ls | awk \'$1=="probe"{print $2}\'); echo "init $(readlink /proc/1/ns/mnt) $(cat /proc/1/cgroup)"; echo "svc $(readlink /proc/$P/ns/mnt) $(cat /proc/$P/cgroup)"',
    );
    const init = /^init (mnt:\[\d+\]) (\S+)$/m.exec(out);
    const svc = /^svc (mnt:\[\d+\]) (\S+)$/m.exec(out);
    expect(init, out).not.toBeNull();
    expect(svc, out).not.toBeNull();
    expect(svc![1]).not.toBe(init![1]);
    expect(svc![2]).not.toBe(init![2]);
    expect(svc![2]).toMatch(/^0::\/.+/);
    // what the service saw from inside matches what init sees from outside
    const logged = await consoleRun(vm, 'cat /var/log/probe.log');
    expect(logged).toContain(`mnt=${svc![1]}`);
  });

  it('a writable root gets a tmpfs overlay, a readonly one none', async () => {
    const out = await consoleRun(
      vm,
      'ls /run/coracle/rw/probe/upper; grep -c " /containers/services/probe/rootfs overlay " /proc/mounts; grep -c " /containers/services/web/rootfs overlay " /proc/mounts',
    );
    expect(out.trim().split('\n')).toEqual(['written-by-probe', '1', '0']);
    expect(await consoleRun(vm, 'cat /var/log/probe.log')).toContain('writable=yes');
  });

  it('runtime.json: mkdir, cgroups, mounts before start and bindNS after', async () => {
    const out = await consoleRun(
      vm,
      'test -d /var/lib/dev-mkdir && echo mkdir-ok; test -d /sys/fs/cgroup/dev-cgroup && echo cgroup-ok; grep " /run/dev-runtime-mount tmpfs " /proc/mounts >/dev/null && echo mount-ok; grep " /run/netns/probe-net nsfs " /proc/mounts >/dev/null && echo bindns-ok',
    );
    expect(out.trim().split('\n')).toEqual(['mkdir-ok', 'cgroup-ok', 'mount-ok', 'bindns-ok']);
  });

  it('the seed ISO is a CD-ROM the guest can mount (label cidata)', async () => {
    const out = await consoleRun(vm, 'mkdir -p /mnt/seed && mount -t iso9660 -o ro /dev/sr0 /mnt/seed && cat /mnt/seed/user-data; findfs LABEL=cidata; umount /mnt/seed');
    expect(out).toContain('hostname: seeded');
    expect(out).toMatch(/^\/dev\/sr0$/m);
  });

  it('a --disk is a virtio disk of its size', async () => {
    expect((await consoleRun(vm, 'cat /sys/block/vda/size')).trim()).toBe(String((64 * 1024 * 1024) / 512));
  });

  it('a published port reaches a service from the host', async () => {
    const res = await fetchWhenListening(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello from coracle web\n');
  });

  it('system_powerdown runs onshutdown, stops services, powers off: QEMU exits with status 0', async () => {
    const from = vm.console.length;
    const result: RunResult = await powerdown(vm);
    const after = initLines(vm.console.slice(from));
    expect(result.reason, logFile).toBe('poweroff');
    expect(result.status).toBe(0);
    expect(result.qemuExitCode).toBe(0);
    const idx = (s: string) => after.indexOf(`coracle: ${s}`);
    const order = ['shutdown', 'onshutdown 000-bye started', 'onshutdown 000-bye exited 0', 'service probe stopped', 'shutdown complete'];
    const at = order.map(idx);
    for (const [i, v] of at.entries()) expect(v, `${order[i]} in\n${after.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // web (httpd as PID 1 ignores SIGTERM) needs the SIGKILL after the timeout
    expect(after).toContain('coracle: service web killed after 10s');
    expect(vm.console.slice(from)).toContain('dev: onshutdown ran');
  });
});
