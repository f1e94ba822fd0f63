/**
 * The persistent data disk (images/datadisk) in a real host: the first boot
 * finds the first empty virtio disk, partitions and formats it (ext4,
 * label coracle-data) and mounts it at /var/data, where a service bound to
 * it writes a file; after a clean poweroff a second boot with the same
 * disks finds the disk by its label and the service finds the file. A disk
 * that already holds a file system (attached first, so it is vda) is left
 * as it was: never formatted, its file still there.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import type { BootImage } from '../helpers/dev-initrd.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const SPEC = join(projectRoot, 'test', 'fixtures', 'boot', 'datadisk.yml');

let dir: string;
let img: BootImage;
let vm: QemuVm | undefined;
let empty: string;
let existing: string;

/** A disk with an ext4 file system of another label and a file, made on the host. */
async function existingDisk(path: string): Promise<void> {
  const content = join(dir, 'content');
  await mkdir(content, { recursive: true });
  await writeFile(join(content, 'keep.txt'), 'made on the host\n');
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-L', 'other-fs', '-d', content, '-F', path, '64M'], { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' } });
}

const disks = () => [
  { path: existing, format: 'raw' },
  { path: empty, format: 'qcow2', size: '256M' },
];

const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;

/** Boot, then wait for the keeper service's verdict in its log (/var/log/keeper.log on the host). */
async function bootOnce(n: number): Promise<{ vm: QemuVm; keeper: string }> {
  ({ vm } = await bootUntilReady(img, { logFile: join(dir, `boot${n}.log`), disks: disks() }, /coracle: all services started/, (v) => waitForShell(v)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const keeper = await consoleRun(vm, onHost('cat /var/log/keeper.log 2>/dev/null'));
    if (/keeper: /.test(keeper) || Date.now() > deadline) return { vm, keeper };
    await new Promise((r) => setTimeout(r, 2000));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-datadisk-'));
  await ensureSystemImages(await specImageNames(SPEC));
  img = await buildSystem([SPEC], join(dir, 'out'), 'datadisk');
  empty = join(dir, 'data.qcow2');
  existing = join(dir, 'existing.img');
  await existingDisk(existing);
});

afterAll(() => cleanupBoot(vm, dir));

describe('persistent data disk', () => {
  it('boot 1: the empty disk is partitioned, formatted and mounted; the service writes its file; clean poweroff', async () => {
    const { vm: v, keeper } = await bootOnce(1);
    expect(v.console).toMatch(/datadisk: formatting empty disk \/dev\/vdb \(ext4, label coracle-data\)/);
    expect(v.console).toMatch(/datadisk: \/dev\/vdb1 mounted at \/var\/data/);
    expect(keeper).toMatch(/keeper: wrote the marker/);
    expect(await consoleRun(v, onHost('grep " /var/data " /proc/mounts'))).toMatch(/^\/dev\/vdb1 \/var\/data ext4 /);
    expect(initLines(v.console)).toContain('coracle: onboot 000-datadisk exited 0');
    const r = await powerdown(v);
    expect(r.reason).toBe('poweroff');
  });

  it('boot 2: the same disk is found by its label, not formatted again, and the file is there', async () => {
    const { vm: v, keeper } = await bootOnce(2);
    expect(v.console).toMatch(/datadisk: using \/dev\/vdb1 \(label coracle-data\)/);
    expect(v.console).not.toMatch(/formatting/);
    expect(keeper).toMatch(/keeper: found written in a service/);
    const r = await powerdown(v);
    expect(r.reason).toBe('poweroff');
  });

  it('the disk that already held a file system was never formatted: same label, its file intact', () => {
    expect(execFileSync('blkid', ['-p', '-s', 'LABEL', '-o', 'value', existing], { encoding: 'utf8' }).trim()).toBe('other-fs');
    expect(execFileSync('debugfs', ['-R', 'cat /keep.txt', existing], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('made on the host\n');
  });
});
