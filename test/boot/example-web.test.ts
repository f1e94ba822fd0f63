/**
 * The real thing: system images made by `coracle pkg build`, assembled by
 * `coracle build` from examples/web.yml (image tags refreshed to what the
 * image definitions build now), booted under QEMU: onboot in order, every
 * service a containerd task, the web page through --publish, a clean
 * shutdown that runs onshutdown.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { BOOT_TIMEOUT_MS, bootVm, buildExample, freePort, initLines, powerdown } from '../helpers/qemu.js';

let dir: string;
let vm: QemuVm;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-built-'));
  const img = await buildExample('web', join(dir, 'out'));
  port = await freePort();
  ({ vm } = await bootVm(img, {
    publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 80, protocol: 'tcp' }],
    logFile: join(dir, 'console.log'),
  }));
  try {
    await vm.waitForConsole(/coracle: all services started/, BOOT_TIMEOUT_MS);
  } catch (e) {
    vm.kill();
    throw e;
  }
});

afterAll(async () => {
  if (vm?.running) {
    vm.kill();
    await vm.wait();
  }
  if (dir && !process.env.CORACLE_KEEP_BOOT) await rm(dir, { recursive: true, force: true });
});

describe('examples/web.yml built by coracle build, under QEMU', () => {
  it('runs onboot in order, then every service as a containerd task', () => {
    const lines = initLines(vm.console);
    const idx = (s: string) => lines.findIndex((l) => l.startsWith(`coracle: ${s}`));
    const order = ['onboot 000-sysctl exited 0', 'onboot 001-dhcpcd exited 0', 'containerd started', 'all services started'];
    const at = order.map(idx);
    for (const [i, v] of at.entries()) expect(v, `${order[i]}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    for (const s of ['getty', 'ntpd', 'web']) {
      const i = idx(`service ${s} started`);
      expect(i, lines.join('\n')).toBeGreaterThan(idx('containerd started'));
      expect(i).toBeLessThan(idx('all services started'));
    }
  });

  it('serves the page from files: through --publish', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Hello from a Coracle host');
  });

  it('shuts down cleanly on system_powerdown, running onshutdown', async () => {
    const from = vm.console.length;
    const r = await powerdown(vm);
    expect(r.status, vm.console.slice(-3000)).toBe(0);
    expect(r.reason).toBe('poweroff');
    const after = vm.console.slice(from);
    expect(after).toContain('web: onshutdown ran');
    expect(initLines(after)).toContain('coracle: onshutdown 000-goodbye exited 0');
    expect(initLines(after)).toContain('coracle: service web stopped');
    expect(initLines(after)).toContain('coracle: shutdown complete');
  });
});
