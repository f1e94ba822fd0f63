/**
 * The product's main job, end to end: the real system images built by
 * `coracle pkg build`, examples/web.yml (plus a small overlay spec) assembled
 * by `coracle build`, booted under QEMU. Assertions come from the console
 * (init's `coracle:` lines; commands typed into the getty shell, which shares
 * the host's pid namespace) and from the host (HTTP through --publish).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, expectInOrder, freePort, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const WEB = join(projectRoot, 'examples', 'web.yml');
const EXTRA = join(projectRoot, 'test', 'fixtures', 'boot', 'web-extra.yml');


/** Run in the host's mount namespace (the getty container shares the host pid namespace). */
const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;

let dir: string;
let vm: QemuVm;
let logFile: string;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-web-'));
  await ensureSystemImages([...new Set([...(await specImageNames(WEB)), ...(await specImageNames(EXTRA))])]);
  const img = await buildSystem([WEB, EXTRA], join(dir, 'out'), 'web');
  port = await freePort();
  ({ vm, logFile } = await bootUntilReady(
    img,
    { publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 80, protocol: 'tcp' }], logFile: join(dir, 'console.log') },
    /coracle: all services started/,
    // the getty shell on the console answers once its container runs
    (v) => waitForShell(v),
  ));
});

afterAll(() => cleanupBoot(vm, dir));

describe('examples/web.yml booted from coracle build', () => {
  it('runs onboot containers in order, before containerd and every service; a failing one does not stop the boot', () => {
    const lines = initLines(vm.console);
    expectInOrder(
      lines,
      ['onboot 000-sysctl started', 'onboot 000-sysctl exited 0', 'onboot 001-dhcpcd started', 'onboot 001-dhcpcd exited 0',
        'onboot 002-fail started', 'onboot 002-fail exited 3', 'onboot done', 'containerd started', 'service '].map((l) => `coracle: ${l}`),
    );
    expect(vm.console).toContain('boot-test: failing on purpose');
    for (const s of ['getty', 'ntpd', 'web']) expect(lines.some((l) => l.startsWith(`coracle: service ${s} started`)), s).toBe(true);
  });

  it('every service is a running containerd task with its own mount namespace and cgroup', async () => {
    const tasks = await consoleRun(vm, onHost('ctr -n services.coracle task ls'));
    const pids = new Map<string, string>();
    for (const name of ['getty', 'ntpd', 'web']) {
      const m = new RegExp(`^${name}\\s+(\\d+)\\s+RUNNING`, 'm').exec(tasks);
      expect(m, `${name} in\n${tasks}`).not.toBeNull();
      pids.set(name, m![1]!);
    }
    // cgroup paths as the host sees them (the getty shell has its own cgroup namespace)
    const cgroupOf = async (pid: string) =>
      (await consoleRun(vm, onHost(`for f in $(find /sys/fs/cgroup -name cgroup.procs); do grep -qx ${pid} $f && dirname $f; done`))).trim();
    const initNs = (await consoleRun(vm, 'readlink /proc/1/ns/mnt')).trim();
    const initCg = await cgroupOf('1');
    expect(initNs).toMatch(/^mnt:\[\d+\]$/);
    const seenNs = new Set<string>();
    const seenCg = new Set<string>();
    for (const [name, pid] of pids) {
      const ns = (await consoleRun(vm, `readlink /proc/${pid}/ns/mnt`)).trim();
      const cg = await cgroupOf(pid);
      expect(ns, name).toMatch(/^mnt:\[\d+\]$/);
      expect(ns, name).not.toBe(initNs);
      expect(cg, name).toMatch(/^\/sys\/fs\/cgroup\/.+/);
      expect(cg, name).not.toBe(initCg);
      expect(seenNs.has(ns), `${name} shares a mount namespace`).toBe(false);
      expect(seenCg.has(cg), `${name} shares a cgroup`).toBe(false);
      seenNs.add(ns);
      seenCg.add(cg);
    }
  });

  it('containers share identical image files as one inode, yet a write in one reaches no other; a read-only root refuses writes', async () => {
    // busybox is one inode for all seven containers, web-extra's "fail" included (goodbye's bundle is untouched until shutdown: this is the initrd's own file)
    const links = await consoleRun(vm, onHost('stat -c "%h %n" /containers/onshutdown/000-goodbye/rootfs/bin/busybox /containers/onshutdown/000-goodbye/rootfs/etc/passwd'));
    expect(links).toMatch(/^7 \/containers\/onshutdown\/000-goodbye\/rootfs\/bin\/busybox$/m);
    expect(Number(/^(\d+) \S+\/etc\/passwd$/m.exec(links)?.[1])).toBeGreaterThanOrEqual(3);
    // the onboot container "fail" appended to its /etc/passwd (that inode, underneath its overlay)
    expect(vm.console).toContain('boot-test: probe written 1');
    expect(await consoleRun(vm, onHost('grep -c isolation-probe /containers/onboot/002-fail/rootfs/etc/passwd'))).toMatch(/^1$/m);
    const web = /^web\s+(\d+)\s+RUNNING/m.exec(await consoleRun(vm, onHost('ctr -n services.coracle task ls')))![1]!;
    const seen = await consoleRun(
      vm,
      onHost(`for f in /containers/onshutdown/000-goodbye/rootfs/etc/passwd /proc/${web}/root/etc/passwd; do echo "$(grep -c isolation-probe $f) $f"; done`),
    );
    expect(seen).toMatch(/^0 \/containers\/onshutdown\/000-goodbye\/rootfs\/etc\/passwd$/m);
    expect(seen).toMatch(new RegExp(`^0 /proc/${web}/root/etc/passwd$`, 'm'));
    expect((await consoleRun(vm, 'grep -c isolation-probe /etc/passwd')).trim()).toBe('0');
    // web's root is read-only inside its container
    const ro = await consoleRun(vm, `nsenter -t ${web} -m sh -c "echo x >> /etc/passwd" 2>&1; echo "rc=$?"`);
    expect(ro).toMatch(/Read-only file system/);
    expect(ro).not.toMatch(/rc=0/);
  });

  it('carries only the modules the system loads: the boot set with its dependencies, not the whole kernel.tar', async () => {
    const out = await consoleRun(vm, onHost('find /lib/modules -name "*.ko*" | wc -l; find /lib/modules -name "nf_tables.ko*" -o -name "virtio_net.ko*" | sed "s|.*/||"; grep -c "^kernel/" /lib/modules/$(uname -r)/modules.dep'));
    const [count, ...rest] = out.trim().split('\n');
    // Debian's cloud kernel has over 1,000; the boot set needs a few dozen
    expect(Number(count)).toBeGreaterThan(10);
    expect(Number(count)).toBeLessThan(100);
    expect(rest.slice(0, -1)).toEqual(['virtio_net.ko.xz']);
    // depmod's files list what is there
    expect(rest.at(-1)).toBe(count);
    expect(initLines(vm.console).find((l) => l.startsWith('coracle: modules loaded:'))).toMatch(/ virtio_net\b.* overlay\b/);
  });

  it('writes files: with their contents, modes and owners', async () => {
    const out = await consoleRun(vm, onHost('stat -c "%a %u %g %n" /var/www/index.html /etc/coracle-test/secret; cat /etc/coracle-test/secret'));
    expect(out).toContain('644 0 0 /var/www/index.html');
    expect(out).toContain('640 7 9 /etc/coracle-test/secret');
    expect(out).toContain('s3cret');
  });

  it('serves HTTP from the web container to the host through --publish', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Hello from a Coracle host');
  });

  it('on system_powerdown runs onshutdown, stops the services and powers off cleanly', async () => {
    const from = vm.console.length;
    const result = await powerdown(vm);
    expect(result.reason, logFile).toBe('poweroff');
    expect(result.status).toBe(0);
    const after = initLines(vm.console.slice(from));
    const at = (l: string) => after.indexOf(`coracle: ${l}`);
    expect(at('shutdown')).toBeGreaterThanOrEqual(0);
    expect(at('onshutdown 000-goodbye exited 0')).toBeGreaterThan(at('shutdown'));
    expect(vm.console.slice(from)).toContain('web: onshutdown ran');
    for (const s of ['getty', 'ntpd', 'web']) expect(after.some((l) => l.startsWith(`coracle: service ${s} stopped`)), `${s} in\n${after.join('\n')}`).toBe(true);
    expect(at('shutdown complete')).toBeGreaterThan(at('onshutdown 000-goodbye exited 0'));
  });
});
