/**
 * The OCI runtime a system is built with is the one the guest runs:
 * examples/minimal.yml as it is (crun under `init:`), and the same system
 * with runc added under `init:` and `runtime: runc`. Evidence from the
 * booted guest, not from the build: the runtime's own state folders (crun
 * keeps a `status` file per container, runc a `state.json`), the binary
 * containerd's runc shim was told to call, and where onboot's runtime kept
 * its state (/run/crun or /run/runc).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, consoleRun, expectInOrder, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const MINIMAL = join(projectRoot, 'examples', 'minimal.yml');
const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;
const TASKS = '/run/containerd/io.containerd.runtime.v2.task/services.coracle';
const STATE = '/run/containerd/runc/services.coracle';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-runtime-'));
  await ensureSystemImages([...new Set([...(await specImageNames(MINIMAL)), 'runc'])]);
});

afterAll(() => cleanupBoot(undefined, dir));

async function bootWith(name: string, specs: string[]): Promise<QemuVm> {
  const img = await buildSystem(specs, join(dir, name), name);
  const { vm } = await bootUntilReady(img, { logFile: join(dir, `${name}.log`) }, /coracle: all services started/, (v) => waitForShell(v));
  return vm;
}

async function runtimeEvidence(vm: QemuVm): Promise<{ conf: string; shimBinary: string; state: string; onboot: string }> {
  return {
    conf: (await consoleRun(vm, onHost('grep ^RUNTIME= /etc/coracle/boot.conf'))).trim(),
    shimBinary: (await consoleRun(vm, onHost(`cat ${TASKS}/getty/runtime`))).trim(),
    state: (await consoleRun(vm, onHost(`ls ${STATE}/getty`))).trim(),
    onboot: (await consoleRun(vm, onHost('for d in /run/crun /run/runc; do [ -d $d ] && echo $d; done; true'))).trim(),
  };
}

async function checkBootAndShutdown(vm: QemuVm): Promise<void> {
  expectInOrder(
    initLines(vm.console),
    ['onboot 000-dhcpcd exited 0', 'onboot done', 'containerd started', 'service getty started', 'all services started'].map((l) => `coracle: ${l}`),
  );
  const r = await powerdown(vm);
  expect(r.reason).toBe('poweroff');
  expect(r.status).toBe(0);
  expectInOrder(initLines(vm.console), ['coracle: shutdown', 'coracle: service getty stopped', 'coracle: shutdown complete']);
}

describe('the OCI runtime in use', () => {
  it('examples/minimal.yml (crun under init:) runs onboot and services under crun', async () => {
    const vm = await bootWith('crun', [MINIMAL]);
    try {
      const e = await runtimeEvidence(vm);
      expect(e.conf).toBe('RUNTIME=crun');
      expect(e.shimBinary).toMatch(/\/crun$/);
      expect(e.state.split(/\s+/)).toContain('status');
      expect(e.state.split(/\s+/)).not.toContain('state.json');
      expect(e.onboot).toBe('/run/crun');
      // containerd was not held back: nothing in onboot touches its folders
      expect(await consoleRun(vm, onHost('grep ^CONTAINERD_EARLY= /etc/coracle/boot.conf'))).toContain('CONTAINERD_EARLY=1');
      await checkBootAndShutdown(vm);
    } finally {
      await cleanupBoot(vm, undefined);
    }
  });

  it('`runtime: runc` with the runc image under init: runs them under runc', async () => {
    const overlay = join(dir, 'runc.yml');
    await writeFile(overlay, `init:\n  - "@pkg:${join(projectRoot, 'images', 'runc')}"\nruntime: runc\n`);
    const vm = await bootWith('runc', [MINIMAL, overlay]);
    try {
      const e = await runtimeEvidence(vm);
      expect(e.conf).toBe('RUNTIME=runc');
      expect(e.shimBinary).toMatch(/\/runc$/);
      expect(e.state.split(/\s+/)).toContain('state.json');
      expect(e.state.split(/\s+/)).not.toContain('status');
      expect(e.onboot).toBe('/run/runc');
      await checkBootAndShutdown(vm);
    } finally {
      await cleanupBoot(vm, undefined);
    }
  });
});
