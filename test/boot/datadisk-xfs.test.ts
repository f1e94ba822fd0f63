/**
 * The data disk formatted xfs (FSTYPE=xfs, images/datadisk): the first
 * boot partitions the empty disk and makes an xfs file system labelled
 * coracle-data, a service writes its file there; after a clean poweroff the
 * second boot finds the disk by its label, mounts it as xfs without
 * formatting it again, and the file is there. (ext4, the default, and a
 * disk that already holds a file system: datadisk.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import type { BootImage } from '../helpers/dev-initrd.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const SPEC = join(projectRoot, 'test', 'fixtures', 'boot', 'datadisk-xfs.yml');

let dir: string;
let img: BootImage;
let vm: QemuVm | undefined;
let disk: string;

const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;

async function bootOnce(n: number): Promise<{ vm: QemuVm; keeper: string }> {
  // xfs needs 300 MiB at least (xfsprogs 5.19 and later)
  ({ vm } = await bootUntilReady(img, { logFile: join(dir, `boot${n}.log`), disks: [{ path: disk, format: 'qcow2', size: '512M' }] }, /coracle: all services started/, (v) => waitForShell(v)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const keeper = await consoleRun(vm, onHost('cat /var/log/keeper.log 2>/dev/null'));
    if (/keeper: /.test(keeper) || Date.now() > deadline) return { vm, keeper };
    await new Promise((r) => setTimeout(r, 2000));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-datadisk-xfs-'));
  await ensureSystemImages(await specImageNames(SPEC));
  img = await buildSystem([SPEC], join(dir, 'out'), 'datadisk-xfs');
  disk = join(dir, 'data.qcow2');
});

afterAll(() => cleanupBoot(vm, dir));

describe('persistent data disk, xfs', () => {
  it('boot 1: the empty disk is partitioned, formatted xfs and mounted; the service writes its file; clean poweroff', async () => {
    const { vm: v, keeper } = await bootOnce(1);
    expect(v.console).toMatch(/datadisk: formatting empty disk \/dev\/vda \(xfs, label coracle-data\)/);
    expect(v.console).toMatch(/datadisk: \/dev\/vda1 mounted at \/var\/data/);
    expect(keeper).toMatch(/keeper: wrote the marker/);
    expect(await consoleRun(v, onHost('grep " /var/data " /proc/mounts'))).toMatch(/^\/dev\/vda1 \/var\/data xfs /);
    expect(initLines(v.console)).toContain('coracle: onboot 000-datadisk exited 0');
    const r = await powerdown(v);
    expect(r.reason).toBe('poweroff');
  });

  it('boot 2: found by its label, mounted as xfs, not formatted again, the file there', async () => {
    const { vm: v, keeper } = await bootOnce(2);
    expect(v.console).toMatch(/datadisk: using \/dev\/vda1 \(label coracle-data\)/);
    expect(v.console).not.toMatch(/formatting/);
    expect(keeper).toMatch(/keeper: found written in a service/);
    expect(await consoleRun(v, onHost('grep " /var/data " /proc/mounts'))).toMatch(/^\/dev\/vda1 \/var\/data xfs /);
    const r = await powerdown(v);
    expect(r.reason).toBe('poweroff');
  });

  it('the disk holds an xfs file system labelled coracle-data (as the host\'s blkid reads it)', () => {
    const raw = join(dir, 'data.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', disk, raw]);
    const out = execFileSync('/sbin/sfdisk', ['--json', raw], { encoding: 'utf8' });
    const start = (JSON.parse(out) as { partitiontable: { partitions: Array<{ start: number }> } }).partitiontable.partitions[0]!.start;
    const probe = execFileSync('blkid', ['-p', '-O', String(start * 512), '-s', 'TYPE', '-s', 'LABEL', '-o', 'export', raw], { encoding: 'utf8' });
    expect(probe).toMatch(/^TYPE=xfs$/m);
    expect(probe).toMatch(/^LABEL=coracle-data$/m);
  });
});
