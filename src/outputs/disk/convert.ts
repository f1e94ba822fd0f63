/**
 * Hypervisor disk formats from a raw disk with qemu-img. qcow2 comes out
 * the same every time; VMDK gets a random content id (CID) and VHD a
 * creation time and a random unique id, so those fields are set from the
 * content afterwards (and the VHD footer's checksum made again).
 */
import { open } from 'node:fs/promises';
import { CoracleError } from '../../errors.js';
import { runTool } from './run.js';

export type ConvertTarget = 'qcow2' | 'vmdk' | 'vhd';

/** VHD times count from 2000-01-01 UTC. */
const VHD_EPOCH = 946684800;

export interface ConvertInput {
  raw: string;
  target: ConvertTarget;
  qemuImg: string;
  epoch: number;
  /** 8 hex digits for the VMDK CID */
  cid: string;
  /** 16 bytes for the VHD unique id */
  uniqueId: Buffer;
}

/** `out` must have its final base name: a VMDK's descriptor names its own file. */
export async function convertRaw(out: string, c: ConvertInput, making: string): Promise<void> {
  const args =
    c.target === 'qcow2'
      ? ['-O', 'qcow2']
      : c.target === 'vmdk'
        ? ['-O', 'vmdk', '-o', 'subformat=monolithicSparse']
        : // fixed VHD of exactly the raw size (whole MiB), as Azure and Hyper-V take it
          ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'];
  await runTool(c.qemuImg, ['convert', '-q', '-f', 'raw', ...args, c.raw, out], { making, epoch: c.epoch });
  if (c.target === 'vmdk') await fixVmdk(out, c.cid);
  if (c.target === 'vhd') await fixVhd(out, c);
}

async function fixVmdk(path: string, cid: string): Promise<void> {
  const h = await open(path, 'r+');
  try {
    // A monolithicSparse file embeds its descriptor as NUL-padded text in the
    // sectors its header names (descriptorOffset, descriptorSize). qemu-img
    // prints the CID without leading zeros (1 to 8 digits), so the text is
    // rewritten whole within that area.
    const header = Buffer.alloc(512);
    await h.read(header, 0, 512, 0);
    if (header.toString('latin1', 0, 4) !== 'KDMV') throw new CoracleError(`${path}: qemu-img wrote no VMDK sparse header`);
    const offset = Number(header.readBigUInt64LE(28)) * 512;
    const size = Number(header.readBigUInt64LE(36)) * 512;
    if (offset === 0 || size === 0 || size > 1 << 20) throw new CoracleError(`${path}: qemu-img wrote a VMDK without an embedded descriptor`);
    const area = Buffer.alloc(size);
    await h.read(area, 0, size, offset);
    const nul = area.indexOf(0);
    const text = area.toString('latin1', 0, nul < 0 ? size : nul);
    let n = 0;
    const fixed = text.replace(/(^|\n)CID=[0-9a-f]{1,8}(?=\n)/g, (_m, pre: string) => {
      n++;
      return `${pre}CID=${cid}`;
    });
    if (n === 0) throw new CoracleError(`${path}: qemu-img wrote a VMDK without a CID line`);
    const out = Buffer.alloc(size);
    if (out.write(fixed, 'latin1') !== Buffer.byteLength(fixed, 'latin1') || fixed.length >= size) throw new CoracleError(`${path}: the VMDK descriptor has no room for the fixed CID`);
    await h.write(out, 0, size, offset);
  } finally {
    await h.close();
  }
}

function vhdChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer[i]!;
  return ~sum >>> 0;
}

async function fixVhd(path: string, c: ConvertInput): Promise<void> {
  const h = await open(path, 'r+');
  try {
    const at = (await h.stat()).size - 512;
    const footer = Buffer.alloc(512);
    await h.read(footer, 0, 512, at);
    if (footer.toString('latin1', 0, 8) !== 'conectix') throw new CoracleError(`${path}: qemu-img wrote a VHD without a footer`);
    footer.writeUInt32BE(Math.max(0, c.epoch - VHD_EPOCH), 24);
    c.uniqueId.copy(footer, 68, 0, 16);
    footer.writeUInt32BE(vhdChecksum(footer), 64);
    await h.write(footer, 0, 512, at);
  } finally {
    await h.close();
  }
}
