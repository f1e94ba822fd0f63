/**
 * Every bootable format of `coracle build --format`, booted as `coracle run
 * qemu FILE` boots it: one system (test/fixtures/boot/formats.yml) built
 * once in all formats, each image booted under SeaBIOS or OVMF until "all
 * services started", the spec's cmdline and files: checked in the guest,
 * then a clean ACPI poweroff. The hybrid ISO boots both ways; its UEFI boot
 * also carries cloud-init user-data on a NoCloud seed. Two boots run at a
 * time (CORACLE_FORMAT_BOOTS), so the file takes about half its boot time.
 */
import { execa } from 'execa';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { BOOT_TIMEOUT_MS, SHUTDOWN_TIMEOUT_MS, bootImageFile, cleanupBoot, consoleRun, initLines, powerdown, waitForShell } from '../helpers/qemu.js';
import { ensureSystemImages, specImageNames, systemStore } from '../helpers/system.js';

const SPEC = join(projectRoot, 'test', 'fixtures', 'boot', 'formats.yml');
const FORMATS = ['iso-bios', 'iso-efi', 'raw-efi', 'raw-bios', 'qcow2-efi', 'qcow2-bios', 'vhd', 'vmdk', 'uki'] as const;
const FILES: Record<(typeof FORMATS)[number], string> = {
  'iso-bios': 'fmt.iso',
  'iso-efi': 'fmt-efi.iso',
  'raw-efi': 'fmt-efi.img',
  'raw-bios': 'fmt-bios.img',
  'qcow2-efi': 'fmt-efi.qcow2',
  'qcow2-bios': 'fmt.qcow2',
  vhd: 'fmt.vhd',
  vmdk: 'fmt.vmdk',
  uki: 'fmt.efi',
};

interface Case {
  format: (typeof FORMATS)[number];
  firmware: 'BIOS' | 'UEFI';
  /** force UEFI on an image that also boots BIOS */
  uefi?: boolean;
  userData?: boolean;
}

const CASES: Case[] = [
  { format: 'iso-bios', firmware: 'BIOS' },
  { format: 'iso-bios', firmware: 'UEFI', uefi: true, userData: true },
  { format: 'iso-efi', firmware: 'UEFI' },
  { format: 'raw-efi', firmware: 'UEFI' },
  { format: 'raw-bios', firmware: 'BIOS' },
  { format: 'qcow2-efi', firmware: 'UEFI' },
  { format: 'qcow2-bios', firmware: 'BIOS' },
  { format: 'vhd', firmware: 'BIOS' },
  { format: 'vmdk', firmware: 'BIOS' },
  { format: 'uki', firmware: 'UEFI' },
];

const onHost = (cmd: string) => `nsenter -t 1 -m -- sh -c '${cmd}'`;
const USER_DATA = `#cloud-config
write_files:
  - path: /etc/from-user-data
    content: user-data-ok
`;

/** At most N boots at once: TCG on two shared cores. */
const slots = Math.max(1, Number(process.env.CORACLE_FORMAT_BOOTS ?? 2));
let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= slots) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

let dir: string;
const vms = new Set<QemuVm>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-formats-'));
  await ensureSystemImages(await specImageNames(SPEC));
  const r = await runCli(['--cache', systemStore(), 'build', SPEC, '-o', join(dir, 'out'), '--name', 'fmt', ...FORMATS.flatMap((f) => ['--format', f])], { timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`coracle build failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
});

afterAll(async () => {
  for (const vm of vms) await cleanupBoot(vm, undefined);
  await cleanupBoot(undefined, dir);
});

describe.concurrent('every format boots to its services and powers off', () => {
  for (const c of CASES) {
    const label = `${c.format} (${c.firmware}${c.userData ? ', user-data' : ''})`;
    it(`${label}: all services started, cmdline and files: as in the spec, clean poweroff`, () =>
      slot(async () => {
        const logFile = join(dir, `${c.format}-${c.firmware}`, 'console.log');
        const { vm } = await bootImageFile(join(dir, 'out', FILES[c.format]), { logFile, ...(c.uefi ? { uefi: true } : {}), ...(c.userData ? { userData: USER_DATA } : {}) });
        vms.add(vm);
        try {
          await vm.waitForConsole(/coracle: all services started/, BOOT_TIMEOUT_MS);
          // the loader that started the kernel: SYSLINUX/ISOLINUX under BIOS, systemd-stub under UEFI
          expect(vm.console).toMatch(c.firmware === 'BIOS' ? /(SYS|ISO)LINUX 6\.\d+/ : /EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID/);
          await waitForShell(vm);
          expect(await consoleRun(vm, 'cat /proc/cmdline')).toMatch(/\bcoracle\.format-test=cmdline-ok\b/);
          expect((await consoleRun(vm, onHost('cat /etc/format-test'))).trim()).toBe('files-ok');
          if (c.userData) expect((await consoleRun(vm, onHost('cat /etc/from-user-data'))).trim()).toBe('user-data-ok');
          const r = await powerdown(vm);
          expect(r.reason).toBe('poweroff');
          expect(r.status).toBe(0);
          expect(initLines(vm.console)).toContain('coracle: shutdown complete');
        } catch (e) {
          throw new Error(`${label}: ${(e as Error).message}\n--- console (${logFile}) ---\n${vm.console.slice(-3000)}`);
        } finally {
          if (vm.running) vm.kill();
          vms.delete(vm);
        }
      }),
    );
  }
});

describe.concurrent('coracle run qemu FILE', () => {
  it('boots raw-efi through OVMF as a user runs it (format and firmware from the file), Ctrl-C powers it off (exit 0)', () =>
    slot(async () => {
      const proc = execa(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), '--cache', systemStore(), 'run', 'qemu', join(dir, 'out', 'fmt-efi.img'), '--state', join(dir, 'cli-state'), '--stop-timeout', '180'], {
        cwd: projectRoot,
        reject: false,
        stdin: 'pipe',
        all: true,
        env: { CI: '1' },
      });
      let text = '';
      proc.all!.setEncoding('utf8');
      proc.all!.on('data', (d: string) => (text += d));
      try {
        const deadline = Date.now() + BOOT_TIMEOUT_MS;
        while (!/coracle: all services started/.test(text)) {
          if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`no "all services started":\n${text.slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 500));
        }
        expect(text).toMatch(/booting .*fmt-efi\.img \(raw, UEFI\)/);
        // (--stop-timeout 180 above: a loaded machine may need more than the 30 s default to power off)
        proc.kill('SIGINT');
        const r = await Promise.race([proc, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit after Ctrl-C:\n${text.slice(-3000)}`)), SHUTDOWN_TIMEOUT_MS))]);
        expect(r.exitCode, text.slice(-3000)).toBe(0);
        expect(text).toContain('coracle: shutdown complete');
        expect(text).toContain('guest ended: poweroff (status 0)');
      } finally {
        proc.kill('SIGKILL');
      }
    }),
  );
});
