/**
 * Least privilege by default, in a booted system: examples/minimal.yml plus
 * probes (test/fixtures/boot/privilege.yml). Each probe reads its own
 * /proc/self/status inside its container: an onboot one under runc, a
 * service under containerd with the defaults (no_new_privs, seccomp filter,
 * only the capability it names, read-only root) and one that opts out of
 * each. The example's own services (getty) are checked from outside through
 * /proc/PID/status.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { capabilityBit } from '../../src/runtime/index.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, expectInOrder, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const MINIMAL = join(projectRoot, 'examples', 'minimal.yml');
const PROBES = join(projectRoot, 'test', 'fixtures', 'boot', 'privilege.yml');

const capMask = (caps: string[]): string =>
  caps.reduce((m, c) => m | (1n << BigInt(capabilityBit(c))), 0n).toString(16).padStart(16, '0');

let dir: string;
let vm: QemuVm;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-privilege-'));
  await ensureSystemImages([...new Set([...(await specImageNames(MINIMAL)), ...(await specImageNames(PROBES))])]);
  const img = await buildSystem([MINIMAL, PROBES], join(dir, 'out'), 'privilege');
  ({ vm } = await bootUntilReady(img, { logFile: join(dir, 'console.log') }, /coracle: all services started/, (v) => waitForShell(v)));
});

afterAll(() => cleanupBoot(vm, dir));

/** The log of a service once its probe has finished (it then sleeps until shutdown). */
async function probeLog(name: string): Promise<string> {
  return consoleRun(vm, `for i in $(seq 60); do grep -q 'probe done' /var/log/${name}.log 2>/dev/null && break; sleep 1; done; cat /var/log/${name}.log`);
}

describe('least privilege by default in a booted system', () => {
  it('an onboot container under runc: no_new_privs, the seccomp filter, its one capability, a read-only root', () => {
    const lines = vm.console.split(/\r?\n/).filter((l) => l.startsWith('probe-onboot: ')).map((l) => l.slice('probe-onboot: '.length).trim());
    // (in /proc/self/status order)
    expect(lines).toEqual([`CapBnd:\t${capMask(['CAP_NET_BIND_SERVICE'])}`, 'NoNewPrivs:\t1', 'Seccomp:\t2', 'write refused']);
    expect(initLines(vm.console)).toContain('coracle: onboot 001-probe exited 0');
  });

  it('a service under containerd with the defaults: the same, and the filter refuses an odd personality', async () => {
    const log = await probeLog('probe');
    expect(log).toMatch(/^NoNewPrivs:\t1$/m);
    expect(log).toMatch(/^Seccomp:\t2$/m);
    expect(log).toMatch(new RegExp(`^CapBnd:\\t${capMask(['CAP_NET_BIND_SERVICE'])}$`, 'm'));
    expect(log).toMatch(/^personality refused$/m);
    expect(log).toMatch(/^write refused$/m);
  });

  it('a service that opts out (readonly: false, noNewPrivileges: false, seccomp: unconfined) gets each', async () => {
    const log = await probeLog('probe-open');
    expect(log).toMatch(/^NoNewPrivs:\t0$/m);
    expect(log).toMatch(/^Seccomp:\t0$/m);
    // still no capability it did not name
    expect(log).toMatch(/^CapBnd:\t0000000000000000$/m);
    expect(log).toMatch(/^personality ok$/m);
    expect(log).toMatch(/^write ok$/m);
    // the write went to its overlay, not to the image files the read-only
    // probes share (one inode per identical file across all the roots)
    const seen = await consoleRun(vm, "nsenter -t 1 -m -- sh -c 'ls /containers/onboot/001-probe/rootfs/probe-written /containers/services/probe/rootfs/probe-written /containers/services/probe-open/rootfs/probe-written 2>&1'");
    expect(seen).toMatch(/onboot\/001-probe\/rootfs\/probe-written: No such file/);
    expect(seen).toMatch(/services\/probe\/rootfs\/probe-written: No such file/);
    expect(seen).toMatch(/^\/containers\/services\/probe-open\/rootfs\/probe-written$/m);
  });

  it("the example's getty (every capability, by its label) runs filtered with no_new_privs, on the writable root its label asks for", async () => {
    const pid = (await consoleRun(vm, "cat /run/containerd/io.containerd.runtime.v2.task/services.coracle/getty/init.pid")).trim();
    expect(pid).toMatch(/^\d+$/);
    const status = await consoleRun(vm, `grep -E '^(NoNewPrivs|Seccomp):' /proc/${pid}/status`);
    expect(status).toMatch(/^NoNewPrivs:\t1$/m);
    expect(status).toMatch(/^Seccomp:\t2$/m);
    // the console shell is that container: it may write its root
    expect((await consoleRun(vm, 'touch /root/.probe && echo written')).trim()).toBe('written');
  });

  it('powers off cleanly', async () => {
    const r = await powerdown(vm);
    expect(r.reason).toBe('poweroff');
    expectInOrder(initLines(vm.console), ['coracle: shutdown', 'coracle: shutdown complete']);
  });
});
