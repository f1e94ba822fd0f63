/**
 * A whole disk image around one partition image: the partition table by
 * sfdisk on the image file (no loop device), the partition's bytes copied
 * in at 1 MiB, and for MBR disks SYSLINUX's boot code in the first 440
 * bytes. Ids come from the caller (derived from the content).
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { runTool } from './run.js';

export const PART_START = 2048;
const SECTOR = 512;
const MiB = 1048576;

export const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

export interface DiskLayout {
  table: 'gpt' | 'dos';
  /** gpt: a GUID; dos: 8 hex digits */
  diskId: string;
  partition: {
    image: string;
    /** gpt: a type GUID; dos: a hex type byte (c = FAT32 LBA) */
    type: string;
    uuid?: string;
    name?: string;
    bootable?: boolean;
  };
  /** dos: boot code for bytes 0-439 (SYSLINUX's mbr.bin) */
  bootCode?: string;
  sfdisk: string;
  epoch: number;
}

export async function writeDisk(out: string, d: DiskLayout, making: string): Promise<void> {
  const partBytes = (await stat(d.partition.image)).size;
  // a GPT keeps its backup in the last sectors: leave 1 MiB there too
  const total = PART_START * SECTOR + partBytes + (d.table === 'gpt' ? MiB : 0);
  await writeFile(out, '');
  await truncate(out, total);
  const p = d.partition;
  const fields = [`start=${PART_START}`, `size=${partBytes / SECTOR}`, `type=${p.type}`];
  if (p.uuid) fields.push(`uuid=${p.uuid}`);
  if (p.name) fields.push(`name="${p.name}"`);
  if (p.bootable) fields.push('bootable');
  const script = [`label: ${d.table}`, `label-id: ${d.table === 'gpt' ? d.diskId : `0x${d.diskId}`}`, 'unit: sectors', ...(d.table === 'gpt' ? [`first-lba: ${PART_START}`] : []), '', fields.join(', '), ''].join('\n');
  await runTool(d.sfdisk, ['--quiet', '--no-reread', '--no-tell-kernel', out], { making, epoch: d.epoch, input: script });
  const h = await open(out, 'r+');
  try {
    let at = PART_START * SECTOR;
    const zeros = Buffer.alloc(4 * MiB);
    for await (const chunk of createReadStream(p.image, { highWaterMark: 4 * MiB })) {
      const b = chunk as Buffer;
      // the file is zeros already: skipping zero runs keeps it sparse
      if (b.compare(zeros, 0, b.length) !== 0) await h.write(b, 0, b.length, at);
      at += b.length;
    }
    if (d.bootCode) {
      const code = await readFile(d.bootCode);
      await h.write(code, 0, Math.min(code.length, 440), 0);
    }
  } finally {
    await h.close();
  }
}
