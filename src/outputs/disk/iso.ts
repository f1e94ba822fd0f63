/**
 * The ISO 9660 images, made by xorriso's mkisofs emulation:
 *   iso-efi   El Torito EFI image (a FAT holding the UKI as BOOTX64.EFI), for
 *             a (virtual) CD
 *   iso-bios  the same plus ISOLINUX for BIOS (El Torito no-emulation), with
 *             isohybrid MBR boot code and a GPT naming the EFI image, so it
 *             also boots written to a USB stick: one hybrid ISO, BIOS and UEFI
 * Dates come from SOURCE_DATE_EPOCH (volume dates, and every file date is
 * set to it), Rock Ridge ownership is rationalised (-r), the volume id is
 * fixed: the bytes depend on the content alone.
 */
import { runTool } from './run.js';

export interface IsoInput {
  volumeId: string;
  /** the FAT image holding EFI/BOOT/BOOTX64.EFI */
  efiImage: string;
  /** BIOS: the ISOLINUX files and what isolinux.cfg loads; absent for iso-efi */
  bios?: {
    isolinuxBin: string;
    ldlinux: string;
    isohdpfx: string;
    config: string;
    kernel: string;
    initrd: string;
  };
  epoch: number;
  xorriso: string;
}

/** Paths on the ISO, as isolinux.cfg names them. */
export const ISO_PATHS = { kernel: '/boot/kernel', initrd: '/boot/initrd.img', efi: '/boot/efi.img' } as const;

export async function writeIso(out: string, i: IsoInput, making: string): Promise<void> {
  const args = ['-as', 'mkisofs', '-quiet', '-o', out, '-V', i.volumeId, '-r', '-graft-points'];
  const grafts: string[] = [];
  if (i.bios) {
    const b = i.bios;
    args.push('-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-isohybrid-mbr', b.isohdpfx);
    // the EFI image is a file of the ISO, also marked as a GPT partition (a disk booted under UEFI finds it)
    args.push('-eltorito-alt-boot', '-e', ISO_PATHS.efi.slice(1), '-no-emul-boot', '-isohybrid-gpt-basdat');
    grafts.push(
      `/isolinux/isolinux.bin=${b.isolinuxBin}`,
      `/isolinux/ldlinux.c32=${b.ldlinux}`,
      `/isolinux/isolinux.cfg=${b.config}`,
      `${ISO_PATHS.kernel}=${b.kernel}`,
      `${ISO_PATHS.initrd}=${b.initrd}`,
      `${ISO_PATHS.efi}=${i.efiImage}`,
    );
  } else {
    // EFI only: El Torito EFI entry alone. The image stays inside the ISO's
    // volume: OVMF sizes an El Torito image of more than 32 MiB (its count
    // field overflows) by the volume, so an image appended after it is not found.
    // (a CD image: the hybrid MBR/GPT for USB sticks is iso-bios's)
    args.push('-e', ISO_PATHS.efi.slice(1), '-no-emul-boot');
    grafts.push(`${ISO_PATHS.efi}=${i.efiImage}`);
  }
  args.push(...grafts);
  // xorriso sets file dates to their mtime; the sources are cache files: date them all to the epoch
  args.push('--', '-volume_date', 'all_file_dates', `=${i.epoch}`);
  await runTool(i.xorriso, args, { making, epoch: i.epoch });
}
