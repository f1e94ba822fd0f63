import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INIT_REACHED, startWatchingKvm } from '../../../src/qemu/kvm-guard.js';
import { QemuVm } from '../../../src/qemu/vm.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-kvm-guard-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A fake QEMU with a real QMP socket. Under `-accel kvm` it behaves as the
 * CI host did (QMP answers, the guest prints `KVM_OUTPUT` and then nothing);
 * under tcg it prints the init's first line. Every start is appended to a log.
 */
async function fakeQemu(name: string, kvmOutput: string, tcgOutput = 'coracle: init\\n'): Promise<{ qemu: string; starts: string }> {
  const qemu = join(dir, name);
  const starts = join(dir, `${name}.starts`);
  await writeFile(
    qemu,
    `#!/usr/bin/env node
const net = require('node:net');
const fs = require('node:fs');
const args = process.argv.slice(2);
const accel = args[args.indexOf('-accel') + 1];
fs.appendFileSync(${JSON.stringify(starts)}, accel + '\\n');
const qmp = args[args.indexOf('-qmp') + 1].replace(/^unix:/, '').replace(/,.*$/, '');
const server = net.createServer((s) => {
  s.write('{"QMP": {}}\\n');
  s.on('data', (d) => {
    for (const line of d.toString().split('\\n').filter(Boolean)) {
      s.write('{"return": {}}\\n');
      if (line.includes('system_powerdown')) process.exit(0);
    }
  });
});
server.listen(qmp, () => process.stdout.write(accel === 'kvm' ? ${JSON.stringify(kvmOutput)} : ${JSON.stringify(tcgOutput)}));
setInterval(() => {}, 1000);
`,
  );
  await chmod(qemu, 0o755);
  return { qemu, starts };
}

// (no stateDir: the QMP socket goes to a fresh temporary folder)
const vmFor = (qemu: string) => (accel: 'kvm' | 'tcg') =>
  new QemuVm({ qemu, boot: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' }, accel, mem: 256, cpus: 1, publish: [], disks: [] });

describe('startWatchingKvm', () => {
  it('knows the Coracle init line and the kernel handing over to another init', () => {
    expect(INIT_REACHED.test('coracle: init')).toBe(true);
    expect(INIT_REACHED.test('[    1.2] Run /sbin/init as init process')).toBe(true);
    expect(INIT_REACHED.test('[    1.1] Freeing unused kernel image (initmem) memory: 2664K')).toBe(true);
    expect(INIT_REACHED.test('[    0.0] Linux version 6.1.0')).toBe(false);
  });

  it('a guest that stalls under auto KVM is killed, KVM is marked unusable, and the run starts again under TCG', async () => {
    const { qemu, starts } = await fakeQemu('stall', 'Linux version 6.1 (fake)\n');
    const cacheFile = join(dir, 'stall-cache', 'kvm-probe.json');
    const lines: string[] = [];
    const reporter = { info: (l: string) => lines.push(l) } as unknown as Parameters<typeof startWatchingKvm>[2]['reporter'];
    const r = await startWatchingKvm(vmFor(qemu), 'kvm', { auto: true, cacheFile, qemu, graceMs: 1500, reporter });
    expect(r.accel).toBe('tcg');
    expect(r.fellBack).toMatch(/no init within 2 s/);
    expect((await readFile(starts, 'utf8')).trim().split('\n')).toEqual(['kvm', 'tcg']);
    await r.vm.waitForConsole(/coracle: init/, 10_000);
    const cached = JSON.parse(await readFile(cacheFile, 'utf8'));
    expect(cached).toMatchObject({ usable: false, reason: r.fellBack });
    expect(lines.join('\n')).toMatch(/KVM stalled .*starting again under TCG/);
    await r.vm.stop(5000);
  });

  it('a QEMU that fails under auto KVM before the init (an assertion) starts again under TCG', async () => {
    const { qemu, starts } = await fakeQemu('asserts', '');
    // under kvm the fake aborts as QEMU's KVM code does on a failed assertion
    const q = join(dir, 'asserts-wrapper');
    await writeFile(q, `#!/bin/sh\ncase " $* " in *" -accel kvm "*) echo "qemu-system-x86_64: ../accel/kvm/kvm-all.c:2788: kvm_cpu_exec: Assertion failed" >&2; echo kvm >> ${JSON.stringify(starts)}; kill -ABRT $$;; esac\nexec ${JSON.stringify(qemu)} "$@"\n`);
    await chmod(q, 0o755);
    const cacheFile = join(dir, 'asserts-cache', 'kvm-probe.json');
    const r = await startWatchingKvm(vmFor(q), 'kvm', { auto: true, cacheFile, qemu: q, graceMs: 10_000 });
    expect(r.accel).toBe('tcg');
    expect(r.fellBack).toMatch(/^QEMU ended under KVM \(SIGABRT\) before the guest's init: qemu-system-x86_64: .*Assertion failed$/);
    expect(JSON.parse(await readFile(cacheFile, 'utf8'))).toMatchObject({ usable: false, reason: r.fellBack });
    await r.vm.waitForConsole(/coracle: init/, 10_000);
    expect((await readFile(starts, 'utf8')).trim().split('\n')).toEqual(['kvm', 'tcg']);
    await r.vm.stop(5000);
  });

  it('a guest that powers off under KVM before its init is not started again', async () => {
    const { qemu, starts } = await fakeQemu('quick', '');
    const q = join(dir, 'quick-wrapper');
    await writeFile(q, `#!/bin/sh\ncase " $* " in *" -accel kvm "*) echo kvm >> ${JSON.stringify(starts)}; exit 0;; esac\nexec ${JSON.stringify(qemu)} "$@"\n`);
    await chmod(q, 0o755);
    const r = await startWatchingKvm(vmFor(q), 'kvm', { auto: true, graceMs: 10_000 });
    expect(r.accel).toBe('kvm');
    expect(await r.vm.wait()).toMatchObject({ reason: 'poweroff', status: 0 });
    expect((await readFile(starts, 'utf8')).trim()).toBe('kvm');
  });

  it('a guest that reaches its init under KVM keeps running under KVM', async () => {
    const { qemu, starts } = await fakeQemu('works', 'Linux version 6.1\ncoracle: init\n');
    const r = await startWatchingKvm(vmFor(qemu), 'kvm', { auto: true, graceMs: 5000 });
    expect(r).toMatchObject({ accel: 'kvm' });
    expect(r.fellBack).toBeUndefined();
    expect(r.vm.running).toBe(true);
    expect((await readFile(starts, 'utf8')).trim()).toBe('kvm');
    await r.vm.stop(5000);
  });

  it('never overrules an explicit --accel kvm, and never watches TCG', async () => {
    const { qemu, starts } = await fakeQemu('explicit', '');
    const r = await startWatchingKvm(vmFor(qemu), 'kvm', { auto: false, graceMs: 200 });
    await new Promise((res) => setTimeout(res, 600));
    expect(r.accel).toBe('kvm');
    expect(r.vm.running).toBe(true);
    r.vm.kill();
    await r.vm.wait();
    const t = await startWatchingKvm(vmFor(qemu), 'tcg', { auto: true, graceMs: 200 });
    expect(t.accel).toBe('tcg');
    t.vm.kill();
    await t.vm.wait();
    expect((await readFile(starts, 'utf8')).trim().split('\n')).toEqual(['kvm', 'tcg']);
  });
});
