/**
 * examples/web.yml on Coracle's lean kernel (images/kernel-lean: Debian's
 * linux-source-6.1 built from kernel-config/, no loadable module): boots to
 * every service, serves HTTP to the host, powers off cleanly. The same spec
 * on the cloud kernel with trimmed modules is system-web.test.ts. The image
 * is compiled by integration/kernel-lean.test.ts, which runs first.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, freePort, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const WEB = join(projectRoot, 'examples', 'web.yml');
const LEAN = join(projectRoot, 'test', 'fixtures', 'boot', 'kernel-lean.yml');

/** Run in the host's mount namespace (the getty container shares the host pid namespace). */
const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;

let dir: string;
let vm: QemuVm;
let logFile: string;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-lean-'));
  // the lean kernel compiles on first use (minutes); later runs find it in the store
  await ensureSystemImages([...new Set([...(await specImageNames(WEB)), 'kernel-lean'])]);
  const img = await buildSystem([WEB, LEAN], join(dir, 'out'), 'web-lean');
  port = await freePort();
  ({ vm, logFile } = await bootUntilReady(
    img,
    { publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 80, protocol: 'tcp' }], logFile: join(dir, 'console.log') },
    /coracle: all services started/,
    (v) => waitForShell(v),
  ));
}, 50 * 60_000);

afterAll(() => cleanupBoot(vm, dir));

describe('examples/web.yml on the lean kernel', () => {
  it('boots the lean kernel with no module file and starts every service', async () => {
    const lines = initLines(vm.console);
    for (const s of ['getty', 'ntpd', 'web']) expect(lines.some((l) => l.startsWith(`coracle: service ${s} started`)), s).toBe(true);
    expect((await consoleRun(vm, 'uname -r')).trim()).toMatch(/^6\.1\.\d+-coracle$/);
    // everything the init loads is built in: no .ko in the initrd, modprobe still answers
    expect((await consoleRun(vm, onHost('find /lib/modules -name "*.ko*" | wc -l'))).trim()).toBe('0');
    expect(await consoleRun(vm, onHost('grep -c . /lib/modules/$(uname -r)/modules.builtin'))).toMatch(/^\s*[1-9]\d*\s*$/);
    const nets = await consoleRun(vm, onHost('ls /sys/class/net'));
    expect(nets).toMatch(/eth0/);
    // dummy is built in but makes no dummy0 at boot (kernel-config/container.config:
    // built-in command line dummy.numdummies=0): the dhcp onboot went to dummy0
    // first and spent 20 s there before eth0. Dummy devices can still be made.
    expect(nets).not.toMatch(/dummy0/);
    expect(vm.console).not.toMatch(/leasefail/);
    expect(await consoleRun(vm, 'ip link add coracle-d0 type dummy && ip -o link show coracle-d0 && ip link del coracle-d0')).toMatch(/coracle-d0: <BROADCAST,NOARP>/);
  });

  it('serves HTTP from the web container to the host through --publish', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Hello from a Coracle host');
  });

  it('on system_powerdown stops the services and powers off cleanly', async () => {
    const from = vm.console.length;
    const result = await powerdown(vm);
    expect(result.reason, logFile).toBe('poweroff');
    expect(result.status).toBe(0);
    const after = initLines(vm.console.slice(from));
    for (const s of ['getty', 'ntpd', 'web']) expect(after.some((l) => l.startsWith(`coracle: service ${s} stopped`)), s).toBe(true);
    expect(after).toContain('coracle: shutdown complete');
  });
});
