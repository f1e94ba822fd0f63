import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoracleError } from '../../../src/errors.js';
import { QemuVm, type QemuVmOptions } from '../../../src/qemu/vm.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-vm-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = (qemu: string): QemuVmOptions => ({
  qemu,
  boot: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' },
  accel: 'tcg',
  mem: 256,
  cpus: 1,
  publish: [],
  disks: [],
});

async function fake(name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/sh\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

describe('QemuVm', () => {
  it('a QEMU that fails at once ends the run as failed, quickly, with its message', async () => {
    const q = await fake('bad', 'echo "qemu-system-x86_64: -kernel /k: could not open kernel file" >&2; exit 1');
    const vm = new QemuVm(opts(q));
    const t = Date.now();
    await vm.start();
    const r = await vm.wait();
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r).toMatchObject({ reason: 'failed', status: 1, qemuExitCode: 1 });
    expect(r.qemuStderr).toContain('could not open kernel file');
  });

  it('a missing QEMU binary is a user error', async () => {
    await expect(new QemuVm(opts(join(dir, 'nope'))).start()).rejects.toThrow(CoracleError);
  });

  it('reads the console, waits for lines, and sees a panic line as a panic', async () => {
    const q = await fake('panic', 'echo "Linux version 6.1"; sleep 0.2; echo "Kernel panic - not syncing: Attempted to kill init!"; sleep 1000');
    const vm = new QemuVm(opts(q));
    vm.start().catch(() => undefined); // no QMP socket from the fake
    await vm.waitForConsole(/Linux version (\S+)/, 5000);
    const r = await vm.wait();
    expect(vm.console).toContain('Kernel panic');
    expect(r).toMatchObject({ reason: 'panic', status: 2 });
  });

  it('waitForConsole times out with the console tail', async () => {
    const q = await fake('quiet', 'echo hello; sleep 1000');
    const vm = new QemuVm(opts(q));
    vm.start().catch(() => undefined);
    // the tail must hold "hello" before the 500 ms start: a loaded machine may start the fake late
    await vm.waitForConsole(/hello/, 20_000);
    await expect(vm.waitForConsole(/never/, 500)).rejects.toThrow(/did not match \/never\/ within 500 ms[\s\S]*hello/);
    vm.kill();
    expect(await vm.wait()).toMatchObject({ reason: 'killed', status: 137 });
  });
});
