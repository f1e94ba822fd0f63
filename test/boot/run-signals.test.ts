/**
 * `coracle run qemu` never leaks or hangs a VM: SIGTERM and SIGHUP shut the
 * guest down as Ctrl-C does; SIGKILL of the CLI takes QEMU with it
 * (setpriv --pdeathsig KILL); a guest that ignores the power button is
 * stopped hard after --stop-timeout (status 124). After each: no
 * qemu-system process left, the published port free again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portFree, portFreed, qemuGone, qemuProcesses, startCli, type CliProcess } from '../helpers/cli-process.js';
import { buildDevImage, devCacheDir } from '../helpers/dev-initrd.js';
import { BOOT_TIMEOUT_MS, freePort, SHUTDOWN_TIMEOUT_MS } from '../helpers/qemu.js';
import { buildStubbornImage, STUBBORN_READY } from '../helpers/stubborn-guest.js';

let dir: string;
const env = () => ({ CORACLE_CACHE: join(devCacheDir(), 'cli-cache') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-sig-'));
  await buildDevImage(join(dir, 'dev'), { name: 'dev' });
  await buildStubbornImage(join(dir, 'stub'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function ended(cli: CliProcess, ms: number, what: string) {
  return Promise.race([
    cli.proc,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after ${what}:\n${cli.out().slice(-3000)}`)), ms)),
  ]);
}

async function expectNoVmLeft(state: string, port: number): Promise<void> {
  expect(await qemuGone(state, 10_000), 'qemu-system processes left').toEqual([]);
  expect(await portFreed(port, 10_000), `port ${port} free`).toBe(true);
}

describe('coracle run qemu under signals', () => {
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${sig} shuts the guest down cleanly (exit 0), nothing left`, async () => {
      const port = await freePort();
      const state = join(dir, `state-${sig}`);
      // (a generous --stop-timeout: a loaded machine may need more than the 30 s default to power off)
      const cli = startCli(['run', 'qemu', join(dir, 'dev', 'dev'), '--publish', `127.0.0.1:${port}:8080`, '--state', state, '--stop-timeout', '180'], env());
      try {
        await cli.waitFor(/coracle: all services started/, BOOT_TIMEOUT_MS);
        expect(await qemuProcesses(state)).toHaveLength(1);
        expect(await portFree(port)).toBe(false);
        // process.kill, not execa's kill: that one follows SIGTERM with a SIGKILL after 5 s.
        process.kill(cli.proc.pid!, sig);
        const r = await ended(cli, SHUTDOWN_TIMEOUT_MS + 60_000, sig);
        expect(r.exitCode, cli.out().slice(-3000)).toBe(0);
        expect(cli.out()).toContain(`coracle: ${sig}: shutting the guest down`);
        expect(cli.out()).toContain('coracle: shutdown complete');
        expect(cli.out()).toContain('guest ended: poweroff (status 0)');
        expect(cli.out()).not.toContain('stopping it hard');
        await expectNoVmLeft(state, port);
      } finally {
        cli.proc.kill('SIGKILL');
      }
    });
  }

  it('SIGKILL of the CLI takes QEMU with it (no process left, port free)', async () => {
    const port = await freePort();
    const state = join(dir, 'state-kill');
    const cli = startCli(['run', 'qemu', join(dir, 'stub', 'stubborn'), '--accel', 'tcg', '--mem', '256', '--publish', `127.0.0.1:${port}:8080`, '--state', state], env());
    try {
      await cli.waitFor(new RegExp(STUBBORN_READY), BOOT_TIMEOUT_MS);
      expect(await qemuProcesses(state)).toHaveLength(1);
      expect(await portFree(port)).toBe(false);
      process.kill(cli.proc.pid!, 'SIGKILL');
      const r = await ended(cli, 10_000, 'SIGKILL');
      expect(r.signal).toBe('SIGKILL');
      await expectNoVmLeft(state, port);
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });

  it('a guest that ignores the power button is stopped hard after --stop-timeout (status 124, one warning)', async () => {
    const port = await freePort();
    const state = join(dir, 'state-stubborn');
    const cli = startCli(
      ['run', 'qemu', join(dir, 'stub', 'stubborn'), '--accel', 'tcg', '--mem', '256', '--publish', `127.0.0.1:${port}:8080`, '--state', state, '--stop-timeout', '3'],
      env(),
    );
    try {
      await cli.waitFor(new RegExp(STUBBORN_READY), BOOT_TIMEOUT_MS);
      const t0 = Date.now();
      process.kill(cli.proc.pid!, 'SIGTERM');
      const r = await ended(cli, 30_000, 'SIGTERM with --stop-timeout 3');
      const took = Date.now() - t0;
      expect(r.exitCode, cli.out().slice(-3000)).toBe(124);
      expect(took).toBeGreaterThanOrEqual(3_000);
      expect(took).toBeLessThan(15_000);
      const warnings = cli.out().split('\n').filter((l) => l.includes('did not power off within 3 s'));
      expect(warnings).toEqual(['coracle: warning: the guest did not power off within 3 s of the power button: stopping it hard']);
      expect(cli.out()).toContain('guest ended: stop-timeout (status 124)');
      await expectNoVmLeft(state, port);
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });
});
