/**
 * A panic after boot, when the pvpanic driver is loaded: QEMU reports
 * GUEST_PANICKED and exits non-zero by itself (-action panic=exit-failure),
 * and the run ends with status 2.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { buildDevImage } from '../helpers/dev-initrd.js';
import { BOOT_TIMEOUT_MS, bootVm, consoleRun } from '../helpers/qemu.js';

let dir: string | undefined;
let vm: QemuVm | undefined;

afterAll(async () => {
  if (vm?.running) vm.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('a kernel panic in a booted guest ends QEMU through pvpanic with status 2', async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-panic-'));
  // no services: only the init and its console shell
  const img = await buildDevImage(join(dir, 'out'), { name: 'panic', bundles: [] });
  ({ vm } = await bootVm(img, { extraCmdline: 'coracle.shell', logFile: join(dir, 'console.log') }));
  await vm.waitForConsole(/coracle: all services started/, BOOT_TIMEOUT_MS);
  expect(await consoleRun(vm, 'grep -c "^pvpanic" /proc/modules')).toMatch(/^[1-9]/);
  vm.sendConsole('echo c > /proc/sysrq-trigger\n');
  const r = await Promise.race([
    vm.wait(),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after panic:\n${vm!.console.slice(-2000)}`)), 120_000)),
  ]);
  expect(vm.console).toMatch(/Kernel panic - not syncing/);
  expect(r.reason).toBe('panic');
  expect(r.status).toBe(2);
  // QEMU ended itself (exit-failure), not killed by the console watchdog
  expect(r.qemuExitCode).toBe(1);
});
