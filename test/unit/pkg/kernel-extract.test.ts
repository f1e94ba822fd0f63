import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { lz4DecodeBlock, lz4LegacyDecompress, LZ4_LEGACY_MAGIC } from '../../../src/pkg/lz4.js';
import { extractVmlinux, findPayload } from '../../../src/pkg/bzimage.js';
import { parseElf, pvhEntry, XEN_ELFNOTE_PHYS32_ENTRY } from '../../../src/pkg/elf.js';

/** A minimal ELF64 with one PT_NOTE segment holding the given notes. */
function elfWithNotes(notes: Array<{ name: string; type: number; desc: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const n of notes) {
    const name = Buffer.from(`${n.name}\0`);
    const h = Buffer.alloc(12);
    h.writeUInt32LE(name.length, 0);
    h.writeUInt32LE(n.desc.length, 4);
    h.writeUInt32LE(n.type, 8);
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    parts.push(h, pad(name), pad(n.desc));
  }
  const noteData = Buffer.concat(parts);
  const eh = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(eh);
  eh.writeUInt16LE(2, 16); // ET_EXEC
  eh.writeUInt16LE(62, 18); // x86-64
  eh.writeBigUInt64LE(64n, 32); // phoff
  eh.writeUInt16LE(56, 54);
  eh.writeUInt16LE(1, 56);
  const ph = Buffer.alloc(56);
  ph.writeUInt32LE(4, 0); // PT_NOTE
  ph.writeBigUInt64LE(120n, 8);
  ph.writeBigUInt64LE(BigInt(noteData.length), 32);
  return Buffer.concat([eh, ph, noteData, randomBytes(3000)]);
}

function pvhNote(entry: number) {
  const desc = Buffer.alloc(4);
  desc.writeUInt32LE(entry);
  return { name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc };
}

/** A bzImage-shaped buffer: setup sectors with the HdrS header, then the payload and its size trailer. */
function fakeBzImage(payload: Buffer, size: number): Buffer {
  const setupSects = 3;
  const setup = Buffer.alloc((setupSects + 1) * 512);
  setup[0x1f1] = setupSects;
  setup.write('HdrS', 0x202, 'latin1');
  setup.writeUInt16LE(0x20f, 0x206);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(size);
  const body = Buffer.concat([Buffer.alloc(100, 0x90), payload, trailer]);
  setup.writeUInt32LE(100, 0x248);
  setup.writeUInt32LE(payload.length + 4, 0x24c);
  return Buffer.concat([setup, body, Buffer.alloc(64)]);
}

describe('LZ4 legacy', () => {
  it('decodes literals and overlapping matches', () => {
    // "abc", then a 12-byte match at offset 3, then the literal "X".
    const block = Buffer.from([0x38, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x58]);
    const out = Buffer.alloc(16);
    expect(lz4DecodeBlock(block, 0, block.length, out, 0)).toBe(16);
    expect(out.toString()).toBe('abcabcabcabcabcX');
  });

  it('rejects a match before the start of the output', () => {
    const block = Buffer.from([0x10, 0x61, 0x05, 0x00]);
    expect(() => lz4DecodeBlock(block, 0, block.length, Buffer.alloc(100), 0)).toThrow(/bad match offset/);
  });

  it('decompresses what the lz4 tool writes with -l (as the kernel build does)', async () => {
    const which = await execa('sh', ['-c', 'command -v lz4'], { reject: false });
    if (which.exitCode !== 0) throw new Error('the lz4 tool is needed for this test (apt-get install lz4)');
    // Compressible but varied data across more than one 8 MiB block.
    const chunks: Buffer[] = [];
    for (let i = 0; i < 2500; i++) chunks.push(Buffer.from(`line ${i} ${'x'.repeat(i % 97)} ${randomBytes(8).toString('hex')}\n`));
    const data = Buffer.concat([...chunks, randomBytes(9 << 20)]);
    const r = await execa('lz4', ['-l', '-9', '-c'], { input: data, encoding: 'buffer' });
    const packed = Buffer.from(r.stdout as Uint8Array);
    expect(packed.readUInt32LE(0)).toBe(LZ4_LEGACY_MAGIC);
    expect(lz4LegacyDecompress(packed, data.length).equals(data)).toBe(true);
  });
});

describe('vmlinux from a bzImage', () => {
  it('finds the payload by the setup header and checks its magic', () => {
    const elf = elfWithNotes([pvhNote(0x1000850)]);
    const bz = fakeBzImage(gzipSync(elf), elf.length);
    const p = findPayload(bz);
    expect(p.compression).toBe('gzip');
    expect(p.size).toBe(elf.length);
    expect(p.offset).toBe(4 * 512 + 100);
  });

  it('decompresses a gzip payload to an ELF with a PVH note', async () => {
    const elf = elfWithNotes([{ name: 'GNU', type: 3, desc: Buffer.alloc(20, 1) }, pvhNote(0x1000850)]);
    const r = await extractVmlinux(fakeBzImage(gzipSync(elf), elf.length));
    expect(r.vmlinux.equals(elf)).toBe(true);
    expect(r.pvhEntry).toBe(0x1000850);
    expect(pvhEntry(parseElf(r.vmlinux))).toBe(0x1000850);
  });

  it('refuses a kernel without the PVH note', async () => {
    const elf = elfWithNotes([{ name: 'GNU', type: 3, desc: Buffer.alloc(20, 1) }]);
    await expect(extractVmlinux(fakeBzImage(gzipSync(elf), elf.length))).rejects.toThrow(/no PVH entry note/);
  });

  it('refuses what is not a bzImage', async () => {
    await expect(extractVmlinux(Buffer.alloc(4096))).rejects.toThrow(/not an x86 bzImage/);
  });
});
