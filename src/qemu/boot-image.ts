/**
 * Booting a built image file (iso, raw, qcow2, vhd, vmdk, uki) rather than
 * kernel + initrd: what the file is comes from its bytes (qcow2, VMDK and
 * VHD magic, the ISO 9660 volume descriptor, a PE header), and whether it
 * boots through UEFI from its boot records (an ISO whose El Torito catalog
 * has no BIOS entry, a raw disk with a GPT) or, for the container formats,
 * the -efi in its name; --uefi forces UEFI. UEFI is Debian's OVMF, with a
 * fresh copy of its variable store per boot. A UKI is put on a small ESP
 * made for the boot.
 */
import { copyFile, open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CoracleError } from '../errors.js';
import { writeFat } from '../outputs/disk/fat.js';
import { contentId32, FAT_EPOCH_MIN } from '../outputs/disk/ids.js';
import { locate, requireTools } from '../outputs/disk/tools.js';
import type { Firmware, ImageBoot } from './args.js';

export type ImageKind = 'iso' | 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'uki';

export interface DetectedImage {
  kind: ImageKind;
  /** what the image's boot records say: true = UEFI only, false = BIOS (perhaps UEFI too) */
  uefiOnly: boolean;
}

export const OVMF = {
  code: { what: '/usr/share/OVMF/OVMF_CODE_4M.fd', pkg: 'ovmf' },
  vars: { what: '/usr/share/OVMF/OVMF_VARS_4M.fd', pkg: 'ovmf' },
} as const;

async function readAt(h: Awaited<ReturnType<typeof open>>, pos: number, len: number): Promise<Buffer> {
  const b = Buffer.alloc(len);
  const { bytesRead } = await h.read(b, 0, len, pos);
  return b.subarray(0, bytesRead);
}

/** Platform ids of the El Torito catalog's entries (0 = x86 BIOS, 0xEF = UEFI), or [] without one. */
async function elToritoPlatforms(h: Awaited<ReturnType<typeof open>>): Promise<number[]> {
  for (let sector = 17; sector < 32; sector++) {
    const vd = await readAt(h, sector * 2048, 2048);
    if (vd.length < 0x4b || vd.toString('latin1', 1, 6) !== 'CD001') return [];
    if (vd[0] === 0xff) return [];
    if (vd[0] !== 0 || !vd.toString('latin1', 7, 30).startsWith('EL TORITO')) continue;
    const cat = await readAt(h, vd.readUInt32LE(0x47) * 2048, 2048);
    const out = [cat[1]!];
    for (let at = 64; at + 32 <= cat.length; at += 32) {
      const t = cat[at]!;
      if (t === 0x90 || t === 0x91) out.push(cat[at + 1]!);
      else if (t !== 0x88 && t !== 0x00 && t !== 0x44) break;
    }
    return out;
  }
  return [];
}

export async function detectImage(path: string): Promise<DetectedImage> {
  const h = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new CoracleError(`${path}: cannot read it (${e.code ?? e.message})`);
  });
  try {
    const size = (await h.stat()).size;
    const head = await readAt(h, 0, 0x8800);
    const efiName = /-efi\.[a-z0-9]+$/i.test(basename(path));
    if (head.toString('latin1', 0, 4) === 'QFI\xfb') return { kind: 'qcow2', uefiOnly: efiName };
    if (head.toString('latin1', 0, 4) === 'KDMV') return { kind: 'vmdk', uefiOnly: efiName };
    if (head.toString('latin1', 0, 8) === 'conectix') return { kind: 'vhd', uefiOnly: efiName };
    if (head.length >= 0x8006 && head.toString('latin1', 0x8001, 0x8006) === 'CD001') {
      const platforms = await elToritoPlatforms(h);
      if (platforms.length === 0) throw new CoracleError(`${path}: an ISO without El Torito boot records: not bootable`);
      return { kind: 'iso', uefiOnly: !platforms.includes(0) };
    }
    if (head.length >= 0x40 && head.readUInt16LE(0) === 0x5a4d) {
      const pe = head.readUInt32LE(0x3c);
      if (pe + 4 <= head.length && head.readUInt32LE(pe) === 0x00004550) return { kind: 'uki', uefiOnly: true };
    }
    const tail = size >= 512 ? await readAt(h, size - 512, 512) : Buffer.alloc(0);
    const vhdFixed = tail.toString('latin1', 0, 8) === 'conectix';
    if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55) {
      // a protective MBR (type 0xEE) means a GPT disk: UEFI
      return { kind: vhdFixed ? 'vhd' : 'raw', uefiOnly: head[0x1be + 4] === 0xee };
    }
    throw new CoracleError(`${path}: not a bootable image (no ISO 9660, MBR, GPT, qcow2, VMDK, VHD or EFI header)`);
  } finally {
    await h.close();
  }
}

const QEMU_FORMAT: Record<Exclude<ImageKind, 'uki' | 'iso'>, ImageBoot['format']> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vpc' };

export interface PreparedImageBoot {
  boot: ImageBoot;
  firmware?: Firmware;
  detected: DetectedImage;
}

/** The QEMU boot of an image file; `stateDir` takes the OVMF variable store (and a UKI's ESP). */
export async function prepareImageBoot(path: string, opts: { uefi?: boolean; stateDir: string }): Promise<PreparedImageBoot> {
  const detected = await detectImage(path);
  const uefi = detected.uefiOnly || opts.uefi === true;
  let firmware: Firmware | undefined;
  if (uefi) {
    const code = locate(OVMF.code);
    const vars = locate(OVMF.vars);
    if (!code || !vars) throw new CoracleError(`booting ${basename(path)} through UEFI needs ${OVMF.code.what}, which is not installed: apt-get install ovmf`);
    firmware = { code, vars: join(opts.stateDir, 'ovmf-vars.fd') };
    await copyFile(vars, firmware.vars);
  }
  if (detected.kind === 'uki') {
    const esp = join(opts.stateDir, 'uki-esp.img');
    const t = requireTools('uki boot', ['mformat', 'mmd', 'mcopy']);
    await writeFat(esp, { label: 'UKI-ESP', serial: contentId32(path, 'esp'), files: [{ path: 'EFI/BOOT/BOOTX64.EFI', source: path }], epoch: FAT_EPOCH_MIN, tools: t }, `an ESP for ${basename(path)}`);
    return { boot: { image: esp, format: 'raw', media: 'disk', uefi: true }, ...(firmware ? { firmware } : {}), detected };
  }
  const boot: ImageBoot =
    detected.kind === 'iso' ? { image: path, format: 'raw', media: 'cdrom', uefi } : { image: path, format: QEMU_FORMAT[detected.kind], media: 'disk', uefi };
  return { boot, ...(firmware ? { firmware } : {}), detected };
}
