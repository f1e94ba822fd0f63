/**
 * The ACPI power button at every stage of the boot, through `coracle run
 * qemu` and Ctrl-C as a user presses it. busybox init acts on a poweroff
 * only after its boot script, so a hanging onboot container used to hold
 * the guest up until a hard kill. Two boots of one image whose first onboot
 * container hangs with no timeout:
 *   - the button pressed while it hangs: the boot stops, a clean poweroff;
 *   - the button pressed while the kernel boots (nothing listens yet): the
 *     runner presses again until the guest hears it, a clean poweroff.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli-process.js';
import { projectRoot } from '../helpers/cli.js';
import { BOOT_TIMEOUT_MS, SHUTDOWN_TIMEOUT_MS } from '../helpers/qemu.js';
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
    command: [sh, -c, "echo hanging forever; exec sleep 100000"]
  - name: after
    image: ${pkg('busybox')}
    command: [sh, -c, "echo after the hang"]
services:
  - name: web
    image: ${pkg('busybox')}
    command: [sh, -c, "echo web up; exec sleep 100000"]
`;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-power-'));
  await ensureSystemImages(['busybox', 'containerd', 'crun', 'init', 'kernel']);
  const spec = join(dir, 'power.yml');
  await writeFile(spec, SPEC);
  await buildSystem([spec], join(dir, 'out'), 'power');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Boot, press Ctrl-C once `pressAt` shows, wait for the end. */
async function bootAndPress(pressAt: RegExp, state: string) {
  const cli = startCli(['run', 'qemu', join(dir, 'out'), '--accel', 'tcg', '--state', join(dir, state), '--stop-timeout', '240']);
  try {
    await cli.waitFor(pressAt, BOOT_TIMEOUT_MS);
    cli.proc.kill('SIGINT');
    const r = await Promise.race([
      cli.proc,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after Ctrl-C:\n${cli.out().slice(-3000)}`)), BOOT_TIMEOUT_MS + SHUTDOWN_TIMEOUT_MS)),
    ]);
    const lines = cli.out().replace(/\r/g, '').split('\n').filter((l) => l.startsWith('coracle: '));
    return { code: r.exitCode, out: cli.out(), lines };
  } finally {
    cli.proc.kill('SIGKILL');
  }
}

function expectInOrder(lines: string[], order: string[]): void {
  const at = order.map((s) => lines.findIndex((l) => l.startsWith(s)));
  expect(at.every((i) => i >= 0), `${order.join('\n')}\nin\n${lines.join('\n')}`).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
}

describe('the power button', () => {
  it('during a hanging onboot container: the boot stops, the guest powers off cleanly', async () => {
    const r = await bootAndPress(/hanging forever/, 'state-onboot');
    expectInOrder(r.lines, [
      'coracle: onboot 000-hang started',
      'coracle: power button',
      'coracle: onboot 000-hang exited',
      'coracle: onboot 000-hang stopped by the power button',
      'coracle: onboot 001-after not started (power button)',
      'coracle: boot stopped by the power button',
      'coracle: shutdown',
      'coracle: shutdown complete',
    ]);
    expect(r.lines.filter((l) => l === 'coracle: power button')).toHaveLength(1);
    expect(r.lines.some((l) => l.startsWith('coracle: all services started') || l.startsWith('coracle: service web started'))).toBe(false);
    expect(r.out).not.toContain('did not power off');
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(r.out).toContain('guest ended: poweroff (status 0)');
  });

  it('while the kernel boots: pressed again until the guest hears it, then a clean poweroff', async () => {
    const r = await bootAndPress(/Linux version/, 'state-kernel');
    expectInOrder(r.lines, ['coracle: init', 'coracle: power button', 'coracle: shutdown', 'coracle: shutdown complete']);
    expect(r.out).not.toContain('did not power off');
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(r.out).toContain('guest ended: poweroff (status 0)');
  });
});
