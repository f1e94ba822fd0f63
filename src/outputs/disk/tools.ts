/**
 * The Debian tools and files the bootable formats are made with, found
 * before any work starts: a missing one is a one-line error naming it, the
 * format that needs it and the package to install.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CoracleError } from '../../errors.js';

export interface Need {
  /** a command looked up on PATH (and /usr/sbin, /sbin), or an absolute file */
  what: string;
  /** the Debian package that holds it */
  pkg: string;
}

export const TOOLS = {
  objcopy: { what: 'objcopy', pkg: 'binutils' },
  efiStub: { what: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub', pkg: 'systemd-boot-efi' },
  mformat: { what: 'mformat', pkg: 'mtools' },
  mcopy: { what: 'mcopy', pkg: 'mtools' },
  mmd: { what: 'mmd', pkg: 'mtools' },
  sfdisk: { what: 'sfdisk', pkg: 'fdisk' },
  xorriso: { what: 'xorriso', pkg: 'xorriso' },
  isolinux: { what: '/usr/lib/ISOLINUX/isolinux.bin', pkg: 'isolinux' },
  isohdpfx: { what: '/usr/lib/ISOLINUX/isohdpfx.bin', pkg: 'isolinux' },
  ldlinux: { what: '/usr/lib/syslinux/modules/bios/ldlinux.c32', pkg: 'syslinux-common' },
  mbr: { what: '/usr/lib/syslinux/mbr/mbr.bin', pkg: 'syslinux-common' },
  syslinux: { what: 'syslinux', pkg: 'syslinux' },
  qemuImg: { what: 'qemu-img', pkg: 'qemu-utils' },
} as const satisfies Record<string, Need>;

export type ToolName = keyof typeof TOOLS;

/** PATH, and the sbin folders a user's PATH may lack (sfdisk lives there). */
function searchPath(): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of ['/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

/** The absolute path of a tool or file, or undefined when it is not there. */
export function locate(need: Need, dirs = searchPath()): string | undefined {
  const candidates = need.what.startsWith('/') ? [need.what] : dirs.map((d) => join(d, need.what));
  for (const c of candidates) {
    try {
      accessSync(c, need.what.startsWith('/') ? constants.R_OK : constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Resolve every tool `format` needs, or throw naming the first one missing. */
export function requireTools(format: string, names: readonly ToolName[], dirs?: string[]): Record<ToolName, string> {
  const out: Partial<Record<ToolName, string>> = {};
  for (const n of names) {
    const need = TOOLS[n];
    const p = locate(need, dirs);
    if (p === undefined) throw new CoracleError(`format ${format} needs ${need.what}, which is not installed: apt-get install ${need.pkg}`);
    out[n] = p;
  }
  return out as Record<ToolName, string>;
}
