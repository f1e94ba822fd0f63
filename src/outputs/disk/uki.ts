/**
 * The UKI: one EFI binary, systemd-boot's EFI stub with the kernel, the
 * initrd, the command line and an os-release as PE sections (the layout
 * systemd-stub reads: .osrel, .cmdline, .linux, .initrd). objcopy adds the
 * sections; it stamps the PE header with the current time, so the stamp is
 * set to SOURCE_DATE_EPOCH afterwards and the PE checksum made again.
 */
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { CoracleError } from '../../errors.js';
import { runTool } from './run.js';

const PAGE = 0x1000;

interface PeLayout {
  /** offset of "PE\0\0" */
  pe: number;
  /** offset of the optional header */
  opt: number;
  imageBase: bigint;
  /** first page after the last section */
  end: number;
}

function peLayout(b: Buffer, what: string): PeLayout {
  if (b.length < 0x40 || b.readUInt16LE(0) !== 0x5a4d) throw new CoracleError(`${what} is not a PE file`);
  const pe = b.readUInt32LE(0x3c);
  if (pe + 24 > b.length || b.readUInt32LE(pe) !== 0x00004550) throw new CoracleError(`${what} is not a PE file`);
  const sections = b.readUInt16LE(pe + 6);
  const optSize = b.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const magic = b.readUInt16LE(opt);
  const imageBase = magic === 0x20b ? b.readBigUInt64LE(opt + 24) : BigInt(b.readUInt32LE(opt + 28));
  let end = 0;
  for (let i = 0; i < sections; i++) {
    const s = opt + optSize + i * 40;
    end = Math.max(end, b.readUInt32LE(s + 12) + b.readUInt32LE(s + 8));
  }
  return { pe, opt, imageBase, end: Math.ceil(end / PAGE) * PAGE };
}

/** Does this kernel carry the EFI stub (CONFIG_EFI_STUB: a bzImage that is also a PE executable)? */
export async function hasEfiStub(kernel: string): Promise<boolean> {
  const h = await open(kernel, 'r');
  try {
    const b = Buffer.alloc(4096);
    const { bytesRead } = await h.read(b, 0, b.length, 0);
    if (bytesRead < 0x40 || b.readUInt16LE(0) !== 0x5a4d) return false;
    const pe = b.readUInt32LE(0x3c);
    return pe + 4 <= bytesRead && b.readUInt32LE(pe) === 0x00004550;
  } finally {
    await h.close();
  }
}

/** The PE checksum (as in the PE/COFF spec): 16-bit words summed with end-around carry, the field skipped, plus the length. */
export function peChecksum(b: Buffer, checksumAt: number): number {
  const words = b.length >>> 1;
  // a Number holds the plain sum of every word exactly (< 2^53); carries are folded once at the end
  let sum = 0;
  if (b.byteOffset % 2 === 0) {
    const u16 = new Uint16Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) sum += u16[i]!;
  } else for (let i = 0; i < words; i++) sum += b.readUInt16LE(i * 2);
  sum -= b.readUInt16LE(checksumAt) + b.readUInt16LE(checksumAt + 2);
  if (b.length & 1) sum += b[b.length - 1]!;
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return (sum + b.length) >>> 0;
}

export interface UkiInput {
  stub: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  osRelease: string;
  epoch: number;
  objcopy: string;
  /** temporary files go here (the section bodies) */
  tmp: string;
}

export async function writeUki(out: string, u: UkiInput): Promise<void> {
  const stub = peLayout(await readFile(u.stub), u.stub);
  const cmdFile = `${u.tmp}.cmdline`;
  const osFile = `${u.tmp}.osrel`;
  await writeFile(cmdFile, u.cmdline);
  await writeFile(osFile, u.osRelease);
  const sections: Array<[string, string]> = [
    ['.osrel', osFile],
    ['.cmdline', cmdFile],
    ['.linux', u.kernel],
    ['.initrd', u.initrd],
  ];
  const args: string[] = [];
  let rva = stub.end;
  for (const [name, file] of sections) {
    const vma = stub.imageBase + BigInt(rva);
    args.push('--add-section', `${name}=${file}`, '--change-section-vma', `${name}=0x${vma.toString(16)}`);
    rva += Math.ceil((await stat(file)).size / PAGE) * PAGE;
  }
  await runTool(u.objcopy, [...args, u.stub, out], { making: 'the UKI', epoch: u.epoch });
  const b = await readFile(out);
  const l = peLayout(b, 'the UKI objcopy wrote');
  b.writeUInt32LE(u.epoch >>> 0, l.pe + 8);
  b.writeUInt32LE(peChecksum(b, l.opt + 64), l.opt + 64);
  await writeFile(out, b);
}
