/**
 * examples/minimal.yml exactly as a user builds and boots it: DHCP on boot
 * (runc), a root shell on the console (getty, a containerd task), clean
 * poweroff. Also what the stage-1 init promises: the root is a mount of its
 * own (runc can pivot away from it), not the initramfs and not a copy.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, expectInOrder, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const MINIMAL = join(projectRoot, 'examples', 'minimal.yml');

/** Run in the host's mount namespace (the getty container shares the host pid namespace). */
const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;

let dir: string;
let vm: QemuVm;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-minimal-'));
  await ensureSystemImages(await specImageNames(MINIMAL));
  const img = await buildSystem([MINIMAL], join(dir, 'out'), 'minimal');
  ({ vm } = await bootUntilReady(img, { logFile: join(dir, 'console.log') }, /coracle: all services started/, (v) => waitForShell(v)));
});

afterAll(() => cleanupBoot(vm, dir));

describe('examples/minimal.yml booted as it is', () => {
  it('leases an address on boot (onboot dhcpcd under runc), then starts getty under containerd', async () => {
    expectInOrder(
      initLines(vm.console),
      ['onboot 000-dhcpcd started', 'onboot 000-dhcpcd exited 0', 'onboot done', 'containerd started', 'service getty started', 'all services started'].map(
        (l) => `coracle: ${l}`,
      ),
    );
    // QEMU's user-mode network hands out 10.0.2.15
    expect(await consoleRun(vm, 'ip -4 addr show eth0')).toMatch(/inet 10\.0\.2\.15\/24/);
    expect(await consoleRun(vm, onHost('ctr -n services.coracle task ls'))).toMatch(/^getty\s+\d+\s+RUNNING/m);
  });

  it('the console shell is root inside the getty container, not on the host', async () => {
    expect((await consoleRun(vm, 'id -u')).trim()).toBe('0');
    const own = (await consoleRun(vm, 'readlink /proc/self/ns/mnt')).trim();
    const host = (await consoleRun(vm, 'readlink /proc/1/ns/mnt')).trim();
    expect(own).toMatch(/^mnt:\[\d+\]$/);
    expect(own).not.toBe(host);
  });

  it('the root is a mount of its own over the initramfs (runc can pivot away from it)', async () => {
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; "/" is not the kernel's first mount
    const lines = (await consoleRun(vm, onHost('cat /proc/1/mountinfo'))).trim().split('\n');
    const ids = new Set(lines.map((l) => l.split(' ')[0]));
    const root = lines.filter((l) => l.split(' ')[4] === '/');
    expect(root.length, lines.join('\n')).toBe(1);
    const [, parent, , fsRoot] = root[0]!.split(' ');
    // its parent (the initramfs) is outside this root, hence not listed
    expect(ids.has(parent!)).toBe(false);
    expect(fsRoot).toBe('/');
    // the onboot container ran under runc, which pivot_roots: proof it works on this root
    expect(initLines(vm.console)).toContain('coracle: onboot 000-dhcpcd exited 0');
  });

  it('powers off cleanly on the ACPI button', async () => {
    const r = await powerdown(vm);
    expect(r.reason).toBe('poweroff');
    expect(r.status).toBe(0);
    expectInOrder(initLines(vm.console), ['coracle: shutdown', 'coracle: service getty stopped', 'coracle: shutdown complete']);
  });
});
