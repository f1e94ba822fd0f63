/**
 * The guest init's shutdown bound (images/init/rootfs/usr/lib/coracle/lib.sh,
 * shutdown_bound): 60 s, plus each onshutdown container's timeout (30 s
 * without one), plus the longest service stop timeout (STOP_TIMEOUT, 10 s,
 * unless a service's coracle.conf says more), fractions rounded up. Run by
 * the host's sh on bundles laid out as `coracle build` lays them out; the
 * watchdog that uses it is exercised by the boot tests only when nothing
 * hangs (test/boot/logs.test.ts checks it did not fire).
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../helpers/cli.js';

const LIB = join(projectRoot, 'images', 'init', 'rootfs', 'usr', 'lib', 'coracle', 'lib.sh');
let dir: string | undefined;

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function bundle(path: string, conf?: string): Promise<void> {
  await mkdir(join(dir!, path), { recursive: true });
  await writeFile(join(dir!, path, 'config.json'), '{}');
  if (conf !== undefined) await writeFile(join(dir!, path, 'coracle.conf'), conf);
}

async function bound(env: Record<string, string> = {}): Promise<string> {
  const r = await execa('sh', ['-c', `. "${LIB}"; shutdown_bound`], { env: { CONTAINERS: dir!, ...env } });
  return r.stdout.trim();
}

describe('guest init: shutdown bound', () => {
  it('60 s with nothing to run, plus the default stop timeout', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coracle-bound-'));
    expect(await bound()).toBe('70');
    expect(await bound({ STOP_TIMEOUT: '20' })).toBe('80');
  });

  it('adds each onshutdown timeout (30 s without one) and the longest stop timeout, rounded up', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coracle-bound-'));
    await bundle('onshutdown/000-a');
    await bundle('onshutdown/001-b', 'timeout=2.5\n');
    await bundle('services/web', 'restart=always\nstop_timeout=45\n');
    await bundle('services/db', 'stop_timeout=0.5\n');
    await bundle('services/plain');
    // 60 + 30 + 3 + 45
    expect(await bound()).toBe('138');
  });
});
