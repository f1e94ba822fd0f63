/**
 * A FAT file system image made with mtools (no mount, no root): the ESP of
 * the EFI formats, the El Torito EFI image of the ISOs, the SYSLINUX boot
 * partition of raw-bios. mtools takes every date from SOURCE_DATE_EPOCH and
 * the serial is given, so the bytes depend on the files alone.
 */
import { stat, truncate, writeFile } from 'node:fs/promises';
import { runTool } from './run.js';

export interface FatFile {
  /** path in the file system, e.g. EFI/BOOT/BOOTX64.EFI */
  path: string;
  /** host file to copy, or the bytes */
  source: string | Buffer;
}

export interface FatImage {
  label: string;
  /** 8 hex digits */
  serial: string;
  files: readonly FatFile[];
  /** sectors before the file system on its disk (the partition's start LBA; SYSLINUX reads it) */
  hiddenSectors?: number;
  epoch: number;
  tools: { mformat: string; mmd: string; mcopy: string };
  /** extra room left free, bytes */
  spare?: number;
}

const MiB = 1048576;

async function size(s: string | Buffer): Promise<number> {
  return typeof s === 'string' ? (await stat(s)).size : s.length;
}

/** Bytes the image needs: every file rounded up to 4 KiB clusters, plus room for FATs and directories, in whole MiB. */
export async function fatSize(files: readonly FatFile[], spare = 0): Promise<number> {
  let bytes = 0;
  for (const f of files) bytes += Math.ceil((await size(f.source)) / 4096) * 4096 + 4096;
  const total = bytes + Math.ceil(bytes / 50) + 2 * MiB + spare;
  return Math.ceil(total / MiB) * MiB;
}

export async function writeFat(out: string, img: FatImage, making: string): Promise<number> {
  const bytes = await fatSize(img.files, img.spare);
  await writeFile(out, '');
  await truncate(out, bytes);
  const run = { making, epoch: img.epoch };
  const fmt = ['-i', out, '-v', img.label, '-N', img.serial];
  // FAT32 once there is room for its minimum cluster count; mtools picks FAT12/16 below that
  if (bytes >= 64 * MiB) fmt.push('-F');
  if (img.hiddenSectors !== undefined) fmt.push('-H', String(img.hiddenSectors));
  await runTool(img.tools.mformat, [...fmt, '::'], run);
  const dirs = new Set<string>();
  for (const f of img.files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const sorted = [...dirs].sort();
  if (sorted.length > 0) await runTool(img.tools.mmd, ['-i', out, ...sorted.map((d) => `::${d}`)], run);
  for (const f of img.files) {
    if (typeof f.source === 'string') await runTool(img.tools.mcopy, ['-i', out, f.source, `::${f.path}`], run);
    else await runTool(img.tools.mcopy, ['-i', out, '-', `::${f.path}`], { ...run, input: f.source.toString('latin1') });
  }
  return bytes;
}
