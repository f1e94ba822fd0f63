import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAccel } from '../../../src/qemu/run.js';
import { PROBE_EXIT_STATUS, probeBootSector, probeKvm, runKvmProbe } from '../../../src/qemu/kvm-probe.js';

let dir: string;

/** A fake qemu-system-x86_64: a shell script that logs each call, then runs `body`. */
async function fakeQemu(name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/sh\necho "$$ $*" >> '${p}.calls'\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

async function calls(fake: string): Promise<string[]> {
  try {
    return (await readFile(`${fake}.calls`, 'utf8')).trim().split('\n');
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-kvm-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('KVM probe', () => {
  it('the boot sector payload is a valid MBR that exits through isa-debug-exit', () => {
    const b = probeBootSector();
    expect(b.length).toBe(512);
    expect(b[510]).toBe(0x55);
    expect(b[511]).toBe(0xaa);
    expect(b.subarray(0, 4)).toEqual(Buffer.from([0xb0, 0x2a, 0xe6, 0xf4]));
    expect(PROBE_EXIT_STATUS).toBe(85);
  });

  it('a QEMU that hangs under KVM means no KVM, within the deadline, and the hung QEMU is killed', async () => {
    const fake = await fakeQemu('hang', "trap '' TERM INT HUP\nsleep 1000 & wait");
    const t = Date.now();
    const r = await runKvmProbe({ qemu: fake, timeoutMs: 1500, skipDeviceCheck: true, kernel: '/boot/none' });
    const elapsed = Date.now() - t;
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/did not finish within 1500 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(4000);
    const [line] = await calls(fake);
    const pid = Number(line!.split(' ')[0]);
    await new Promise((res) => setTimeout(res, 300));
    expect(alive(pid)).toBe(false);
  });

  it('a QEMU that aborts (KVM assertion) means no KVM, with its message', async () => {
    const fake = await fakeQemu('assert', 'echo "qemu-system-x86_64: ../accel/kvm/kvm-all.c:1: kvm_run: Assertion failed" >&2\nkill -ABRT $$');
    const r = await runKvmProbe({ qemu: fake, timeoutMs: 5000, skipDeviceCheck: true, kernel: '/boot/none' });
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/SIGABRT: .*Assertion failed/);
  });

  it('with a kernel: usable only if the kernel printed its banner and QEMU exited 0', async () => {
    const ok = await fakeQemu('kernel-ok', 'echo "[    0.000000] Linux version 6.1.0"\nexit 0');
    expect((await runKvmProbe({ qemu: ok, skipDeviceCheck: true, kernel: '/boot/k' })).usable).toBe(true);
    const [call] = await calls(ok);
    expect(call).toMatch(/-accel kvm/);
    expect(call).toMatch(/-kernel \/boot\/k/);
    expect(call).toMatch(/panic=-1/);
    expect(call).toMatch(/-no-reboot/);
    const silent = await fakeQemu('kernel-silent', 'exit 0');
    expect((await runKvmProbe({ qemu: silent, skipDeviceCheck: true, kernel: '/boot/k' })).usable).toBe(false);
  });

  it('without a kernel: usable only on the isa-debug-exit status', async () => {
    const ok = await fakeQemu('sector-ok', `exit ${PROBE_EXIT_STATUS}`);
    expect((await runKvmProbe({ qemu: ok, skipDeviceCheck: true })).usable).toBe(true);
    const bad = await fakeQemu('sector-bad', 'exit 1');
    expect((await runKvmProbe({ qemu: bad, skipDeviceCheck: true })).usable).toBe(false);
  });

  it('a missing QEMU means no KVM', async () => {
    const r = await runKvmProbe({ qemu: join(dir, 'no-such-qemu'), skipDeviceCheck: true });
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/cannot run QEMU/);
  });

  it('caches the answer per machine boot: the second call does not run QEMU', async () => {
    const fake = await fakeQemu('cached', "sleep 1000 & wait");
    const cacheFile = join(dir, 'cache', 'kvm-probe.json');
    const first = await probeKvm({ qemu: fake, cacheFile, timeoutMs: 1000, skipDeviceCheck: true, kernel: '/k' });
    expect(first).toMatchObject({ usable: false, cached: false });
    const second = await probeKvm({ qemu: fake, cacheFile, timeoutMs: 1000, skipDeviceCheck: true, kernel: '/k' });
    expect(second).toMatchObject({ usable: false, cached: true });
    expect(second.elapsedMs).toBeLessThan(500);
    expect(await calls(fake)).toHaveLength(1);
    const entry = JSON.parse(await readFile(cacheFile, 'utf8')) as { bootId: string };
    expect(entry.bootId).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
  });

  it('auto falls back to TCG quickly when QEMU hangs; kvm and tcg are taken as asked', async () => {
    const fake = await fakeQemu('auto-hang', 'sleep 1000 & wait');
    // chooseAccel probes /dev/kvm for real first; either way the answer is tcg.
    const t = Date.now();
    const cacheFile = join(dir, 'auto', 'kvm.json');
    const accel = await chooseAccel('auto', { qemu: fake, cacheFile, kernel: '/k', timeoutMs: 2000 });
    expect(accel).toBe('tcg');
    expect(Date.now() - t).toBeLessThan(5000);
    expect(await chooseAccel('kvm', { qemu: fake })).toBe('kvm');
    expect(await chooseAccel('tcg', { qemu: fake })).toBe('tcg');
  });
});
