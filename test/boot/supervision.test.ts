/**
 * Supervision in the guest: services restarted by their `restart:` policy
 * (default on-failure) with a backoff and a limit, and an onboot container
 * killed after its `timeout:` while the boot goes on. Evidence from the
 * booted guest: the init's console lines and the services' own logs.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, expectInOrder, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages } from '../helpers/system.js';

const pkg = (n: string) => `"@pkg:${join(projectRoot, 'images', n)}"`;
const SPEC = `kernel:
  image: ${pkg('kernel')}
  cmdline: "console=ttyS0"
init:
  - ${pkg('init')}
  - ${pkg('crun')}
  - ${pkg('containerd')}
onboot:
  - name: hang
    image: ${pkg('busybox')}
    command: [sh, -c, "echo hanging; sleep 600"]
    timeout: 5s
  - name: after
    image: ${pkg('busybox')}
    command: [sh, -c, "echo after the hang"]
services:
  # no restart: key: the default, on-failure
  - name: crash
    image: ${pkg('busybox')}
    command: [sh, -c, "echo crash; exit 3"]
  - name: crash-no
    image: ${pkg('busybox')}
    restart: "no"
    command: [sh, -c, "echo crash-no; exit 7"]
  - name: done-always
    image: ${pkg('busybox')}
    restart: always
    command: [sh, -c, "echo done-always; exit 0"]
  - name: done-on-failure
    image: ${pkg('busybox')}
    restart: on-failure
    command: [sh, -c, "echo done-on-failure; exit 0"]
`;

let dir: string;
let vm: QemuVm | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-supervision-'));
  await ensureSystemImages(['busybox', 'containerd', 'crun', 'init', 'kernel']);
  const spec = join(dir, 'supervision.yml');
  await writeFile(spec, SPEC);
  const img = await buildSystem([spec], join(dir, 'out'), 'supervision');
  ({ vm } = await bootUntilReady(img, { logFile: join(dir, 'console.log'), extraCmdline: 'coracle.shell' }, /coracle: all services started/, (v) =>
    waitForShell(v),
  ));
  // the crash loop ends: 1+2+4+8+16 s of backoff and six starts under TCG
  // the whole line: the serial console brings it a few characters at a time
  await vm.waitForConsole(/coracle: service crash failed: restarted 5 times within 5m/, 300_000);
  await vm.waitForConsole(/coracle: service done-always failed: restarted 5 times within 5m/, 120_000);
});

afterAll(() => cleanupBoot(vm, dir));

const count = (lines: string[], prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;

describe('supervision in the guest', () => {
  it('a hanging onboot container is killed after its timeout and the boot goes on', () => {
    const lines = initLines(vm!.console);
    expectInOrder(lines, [
      'coracle: onboot 000-hang started',
      'coracle: onboot 000-hang killed after 5s (timeout)',
      'coracle: onboot 000-hang exited',
      'coracle: onboot 001-after started',
      'coracle: onboot 001-after exited 0',
      'coracle: onboot done',
      'coracle: service crash started',
      'coracle: all services started',
    ]);
    expect(lines.find((l) => l.startsWith('coracle: onboot 000-hang exited'))).not.toBe('coracle: onboot 000-hang exited 0');
  });

  it('a crashing service is restarted with a growing backoff, then marked failed and left stopped', async () => {
    const lines = initLines(vm!.console);
    expectInOrder(lines, [
      'coracle: service crash exited with status 3; restarting in 1s (restart 1 of 5)',
      'coracle: service crash restarted (pid',
      'coracle: service crash exited with status 3; restarting in 2s (restart 2 of 5)',
      'coracle: service crash exited with status 3; restarting in 4s (restart 3 of 5)',
      'coracle: service crash exited with status 3; restarting in 8s (restart 4 of 5)',
      'coracle: service crash exited with status 3; restarting in 16s (restart 5 of 5)',
      'coracle: service crash failed: restarted 5 times within 5m',
    ]);
    // a few seconds later: still not restarted again
    await new Promise((r) => setTimeout(r, 5_000));
    const now = initLines(vm!.console);
    expect(count(now, 'coracle: service crash restarted')).toBe(5);
    // the first start and five restarts each ran the command
    expect((await consoleRun(vm!, 'grep -c "^crash$" /var/log/crash.log')).trim()).toBe('6');
  });

  it('restart: no leaves a failed service stopped', async () => {
    const lines = initLines(vm!.console);
    expect(lines).toContain('coracle: service crash-no exited with status 7');
    expect(count(lines, 'coracle: service crash-no restart')).toBe(0);
    expect((await consoleRun(vm!, 'grep -c "^crash-no$" /var/log/crash-no.log')).trim()).toBe('1');
  });

  it('an exit-0 service is not restarted under on-failure but is under always', async () => {
    const lines = initLines(vm!.console);
    expect(lines).toContain('coracle: service done-on-failure exited with status 0');
    expect(count(lines, 'coracle: service done-on-failure restart')).toBe(0);
    expect((await consoleRun(vm!, 'grep -c "^done-on-failure$" /var/log/done-on-failure.log')).trim()).toBe('1');
    expectInOrder(lines, [
      'coracle: service done-always exited with status 0; restarting in 1s (restart 1 of 5)',
      'coracle: service done-always restarted (pid',
      'coracle: service done-always failed: restarted 5 times within 5m',
    ]);
    expect((await consoleRun(vm!, 'grep -c "^done-always$" /var/log/done-always.log')).trim()).toBe('6');
  });

  it('shuts down cleanly with the supervisor stopped first', async () => {
    const r = await powerdown(vm!);
    expect(r.reason).toBe('poweroff');
    expect(r.status).toBe(0);
    const lines = initLines(vm!.console);
    expectInOrder(lines, ['coracle: shutdown', 'coracle: service crash stopped', 'coracle: shutdown complete']);
  });
});
