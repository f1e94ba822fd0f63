/**
 * Just enough of ELF64 (little-endian) to ask two questions: which shared
 * libraries a program needs (DT_NEEDED, DT_RUNPATH, PT_INTERP), and which
 * notes it carries (the Xen PVH entry note a kernel needs for QEMU's direct
 * `-kernel vmlinux` boot).
 */

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

export interface ElfInfo {
  type: number;
  machine: number;
  interpreter?: string;
  needed: string[];
  notes: ElfNote[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_NOTE = 4;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const SHT_NOTE = 7;

/** Xen ELF note type 18: 32-bit physical entry point, what QEMU's PVH boot looks for. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export function isElf(buf: Buffer): boolean {
  return buf.length >= 64 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

function parseNotes(buf: Buffer, off: number, size: number, out: ElfNote[]): void {
  let p = off;
  const end = Math.min(off + size, buf.length);
  while (p + 12 <= end) {
    const namesz = buf.readUInt32LE(p);
    const descsz = buf.readUInt32LE(p + 4);
    const type = buf.readUInt32LE(p + 8);
    const nameStart = p + 12;
    const descStart = nameStart + ((namesz + 3) & ~3);
    const next = descStart + ((descsz + 3) & ~3);
    if (next > end || namesz > 256) break;
    const name = buf.subarray(nameStart, nameStart + namesz).toString('latin1').replace(/\0+$/, '');
    out.push({ name, type, desc: Buffer.from(buf.subarray(descStart, descStart + descsz)) });
    p = next;
  }
}

/** Parse an ELF64 LE file; throws on anything else. */
export function parseElf(buf: Buffer): ElfInfo {
  if (!isElf(buf)) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('only 64-bit little-endian ELF is supported');
  const type = buf.readUInt16LE(16);
  const machine = buf.readUInt16LE(18);
  const phoff = Number(buf.readBigUInt64LE(32));
  const shoff = Number(buf.readBigUInt64LE(40));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const loads: Array<{ vaddr: number; offset: number; filesz: number }> = [];
  const notes: ElfNote[] = [];
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > buf.length) break;
    const pType = buf.readUInt32LE(o);
    const offset = Number(buf.readBigUInt64LE(o + 8));
    const vaddr = Number(buf.readBigUInt64LE(o + 16));
    const filesz = Number(buf.readBigUInt64LE(o + 32));
    if (pType === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (pType === PT_DYNAMIC) dynamic = { offset, size: filesz };
    else if (pType === PT_INTERP) interpreter = buf.subarray(offset, offset + filesz).toString('latin1').replace(/\0+$/, '');
    else if (pType === PT_NOTE) parseNotes(buf, offset, filesz, notes);
  }
  if (notes.length === 0 && shoff > 0) {
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      if (o + 64 > buf.length) break;
      if (buf.readUInt32LE(o + 4) !== SHT_NOTE) continue;
      parseNotes(buf, Number(buf.readBigUInt64LE(o + 24)), Number(buf.readBigUInt64LE(o + 32)), notes);
    }
  }
  const needed: string[] = [];
  if (dynamic) {
    const entries: Array<[number, number]> = [];
    for (let p = dynamic.offset; p + 16 <= dynamic.offset + dynamic.size && p + 16 <= buf.length; p += 16) {
      const tag = Number(buf.readBigInt64LE(p));
      const val = Number(buf.readBigUInt64LE(p + 8));
      if (tag === DT_NULL) break;
      entries.push([tag, val]);
    }
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    const seg = strtabAddr === undefined ? undefined : loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
    if (seg && strtabAddr !== undefined) {
      const strtab = seg.offset + (strtabAddr - seg.vaddr);
      for (const [t, v] of entries) {
        if (t !== DT_NEEDED) continue;
        const start = strtab + v;
        const end = buf.indexOf(0, start);
        needed.push(buf.subarray(start, end).toString('latin1'));
      }
    }
  }
  return { type, machine, interpreter, needed, notes };
}

/** The PVH entry note (Xen, type 18), if the kernel ELF has one. */
export function pvhEntry(info: ElfInfo): number | undefined {
  const n = info.notes.find((x) => x.name === 'Xen' && x.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (!n) return undefined;
  return n.desc.length >= 8 ? Number(n.desc.readBigUInt64LE(0)) : n.desc.readUInt32LE(0);
}
