/**
 * A guest that ignores the ACPI power button: Debian's cloud kernel and a
 * tiny initrd whose /init (busybox sh, PID 1) prints a line and sleeps
 * forever. No acpid, no button module: pressing the button does nothing,
 * so only a hard stop ends it.
 */
import { execa } from 'execa';
import { copyFile, mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { devKernel, type BootImage } from './dev-initrd.js';

export const STUBBORN_READY = 'stubborn guest: up, ignoring the power button';

export async function buildStubbornImage(outDir: string, name = 'stubborn'): Promise<BootImage> {
  const k = await devKernel();
  await mkdir(outDir, { recursive: true });
  const root = await mkdtemp(join(outDir, '.root-'));
  try {
    await mkdir(join(root, 'bin'));
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    await writeFile(
      join(root, 'init'),
      `#!/bin/busybox sh\ntrap '' TERM INT HUP USR1 USR2 PWR\necho "${STUBBORN_READY}"\nwhile :; do /bin/busybox sleep 3600; done\n`,
    );
    await chmod(join(root, 'init'), 0o755);
    const initrd = join(outDir, `${name}-initrd.img`);
    await execa('sh', ['-euc', `find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner 0:0 | gzip -1 > '${initrd}'`], { cwd: root });
    const kernel = join(outDir, `${name}-kernel`);
    await copyFile(k.kernel, kernel);
    let vmlinux: string | undefined;
    if (k.vmlinux) {
      vmlinux = join(outDir, `${name}-vmlinux`);
      await copyFile(k.vmlinux, vmlinux);
    }
    const cmdline = join(outDir, `${name}-cmdline`);
    await writeFile(cmdline, 'console=ttyS0 quiet\n');
    return { dir: outDir, name, kernel, initrd, cmdline, vmlinux };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
