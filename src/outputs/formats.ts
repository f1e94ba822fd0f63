/**
 * The output formats `coracle build --format` accepts, in a module of their
 * own so the CLI can list them in its help without loading the writers.
 */
export const DISK_FORMATS = ['uki', 'iso-efi', 'iso-bios', 'raw-efi', 'raw-bios', 'qcow2-efi', 'qcow2-bios', 'vhd', 'vmdk', 'gcp', 'aws'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
export type OutputFormat = 'kernel+initrd' | 'tar' | DiskFormat;
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['kernel+initrd', 'tar', ...DISK_FORMATS];

export function isDiskFormat(f: string): f is DiskFormat {
  return (DISK_FORMATS as readonly string[]).includes(f);
}
