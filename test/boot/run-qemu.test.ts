/**
 * `coracle run qemu` end to end, as a user runs it: a separate process,
 * the console on stdout, --publish from the host, Ctrl-C for a clean
 * shutdown (status 0), a second Ctrl-C to kill (137), a panic (status 2).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli as startCliProcess } from '../helpers/cli-process.js';
import { buildDevImage, devCacheDir, type BootImage } from '../helpers/dev-initrd.js';
import { recordKvmVerdict, runKvmProbe } from '../../src/qemu/kvm-probe.js';
import { BOOT_TIMEOUT_MS, fetchWhenListening, freePort, SHUTDOWN_TIMEOUT_MS } from '../helpers/qemu.js';

const startCli = (args: string[]) => startCliProcess(args, { CORACLE_CACHE: join(devCacheDir(), 'cli-cache') });

let dir: string;
let img: BootImage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-cli-'));
  img = await buildDevImage(join(dir, 'out'), { name: 'dev' });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('coracle run qemu', () => {
  it('boots an output folder, serves a published port, and Ctrl-C shuts the guest down cleanly (exit 0)', async () => {
    const port = await freePort();
    const log = join(dir, 'console.log');
    const cli = startCli(['run', 'qemu', join(dir, 'out'), '--publish', `127.0.0.1:${port}:8080`, '--log', log, '--state', join(dir, 'state'), '--stop-timeout', '180']);
    try {
      await cli.waitFor(/coracle: all services started/, BOOT_TIMEOUT_MS);
      const res = await fetchWhenListening(`http://127.0.0.1:${port}/`);
      expect(await res.text()).toBe('hello from coracle web\n');
      cli.proc.kill('SIGINT');
      const r = await Promise.race([
        cli.proc,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after Ctrl-C:\n${cli.out().slice(-3000)}`)), SHUTDOWN_TIMEOUT_MS)),
      ]);
      expect(r.exitCode, cli.out().slice(-3000)).toBe(0);
      expect(cli.out()).toContain('shutting the guest down');
      expect(cli.out()).toContain('coracle: onshutdown 000-bye exited 0');
      expect(cli.out()).toContain('coracle: shutdown complete');
      expect(cli.out()).toContain('guest ended: poweroff (status 0)');
      const logged = await readFile(log, 'utf8');
      expect(logged).toContain('coracle: all services started');
      expect(logged).toContain('coracle: shutdown complete');
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });

  it('a KVM that passes the probe but stalls the guest: the run starts again under TCG and later runs skip KVM', async () => {
    // The CI host's case: the probe kernel panicked on time under KVM, every
    // real boot then printed nothing. A cache that says "usable" stands in
    // for that probe; on a host whose KVM hangs the guard must fire.
    const store = join(dir, 'lying-probe-store');
    const cacheFile = join(store, 'kvm-probe.json');
    await recordKvmVerdict(cacheFile, { usable: true, reason: 'ok' });
    const hangs = !(await runKvmProbe({ timeoutMs: 10_000, kernel: img.vmlinux ?? img.kernel })).usable;
    const cli = startCliProcess(['run', 'qemu', join(dir, 'out'), '--state', join(dir, 'state-guard'), '--stop-timeout', '180'], { CORACLE_CACHE: store });
    try {
      await cli.waitFor(/coracle: all services started/, BOOT_TIMEOUT_MS + 40_000);
      cli.proc.kill('SIGINT');
      const r = await Promise.race([
        cli.proc,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after Ctrl-C:\n${cli.out().slice(-3000)}`)), SHUTDOWN_TIMEOUT_MS)),
      ]);
      expect(r.exitCode, cli.out().slice(-3000)).toBe(0);
      const verdict = JSON.parse(await readFile(cacheFile, 'utf8')) as { usable: boolean; reason: string };
      const fired = /KVM stalled/.test(cli.out());
      // a host whose probe hangs must stall the boot too (a flaky KVM may stall either)
      if (hangs) expect(fired, cli.out().slice(-3000)).toBe(true);
      expect(cli.out()).toMatch(/booting .* \(kvm, /);
      if (fired) {
        expect(cli.out()).toMatch(/KVM stalled \(a boot under KVM showed no init within 30 s\): starting again under TCG/);
        expect(verdict).toMatchObject({ usable: false, reason: 'a boot under KVM showed no init within 30 s' });
        // the next run believes the recorded verdict and never tries KVM
        const again = startCliProcess(['run', 'qemu', join(dir, 'out'), '--state', join(dir, 'state-guard2'), '--stop-timeout', '180'], { CORACLE_CACHE: store });
        try {
          await again.waitFor(/Linux version/, BOOT_TIMEOUT_MS);
          expect(again.out()).toMatch(/KVM not usable \(a boot under KVM showed no init within 30 s, cached\): using TCG/);
          expect(again.out()).toMatch(/booting .* \(tcg, /);
        } finally {
          again.proc.kill('SIGKILL');
        }
      } else {
        expect(verdict.usable).toBe(true);
      }
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });

  it('a second Ctrl-C kills the guest (exit 137)', async () => {
    const cli = startCli(['run', 'qemu', join(dir, 'out', 'dev'), '--accel', 'tcg', '--state', join(dir, 'state2')]);
    try {
      await cli.waitFor(/Linux version/, BOOT_TIMEOUT_MS);
      cli.proc.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      cli.proc.kill('SIGINT');
      const r = await cli.proc;
      expect(r.exitCode, cli.out().slice(-2000)).toBe(137);
      expect(cli.out()).toContain('guest ended: killed (status 137)');
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });

  it('a guest kernel panic ends the run with status 2', async () => {
    const p = join(dir, 'panic');
    await mkdir(p);
    await copyFile(img.kernel, join(p, 'p-kernel'));
    await copyFile(img.initrd, join(p, 'p-initrd.img'));
    await writeFile(join(p, 'p-cmdline'), 'console=ttyS0 rdinit=/does-not-exist\n');
    const cli = startCli(['run', 'qemu', p, '--accel', 'tcg', '--mem', '512']);
    try {
      const r = await Promise.race([
        cli.proc,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after panic:\n${cli.out().slice(-3000)}`)), BOOT_TIMEOUT_MS)),
      ]);
      expect(cli.out()).toMatch(/Kernel panic - not syncing/);
      expect(r.exitCode, cli.out().slice(-2000)).toBe(2);
      expect(cli.out()).toContain('guest ended: panic (status 2)');
    } finally {
      cli.proc.kill('SIGKILL');
    }
  });

  it('names what is missing when there is no image', async () => {
    const cli = startCli(['run', 'qemu', join(dir, 'nope')]);
    const r = await cli.proc;
    expect(r.exitCode).toBe(1);
    expect(cli.out()).toMatch(/^coracle: .*nope-kernel and .*nope-initrd\.img \(run coracle build first\)$/m);
    expect(cli.out()).not.toMatch(/at .*\.ts:\d+/);
  });
});
