import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { lz4LegacyDecompress } from './lz4.js';
import { isElf, parseElf, pvhEntry } from './elf.js';

/**
 * Getting the uncompressed kernel (vmlinux) out of an x86 bzImage. The setup
 * header (boot protocol >= 2.08) says where the compressed payload lies:
 * `setup_sects` at 0x1f1, `payload_offset`/`payload_length` at 0x248. The
 * payload's magic says how it is compressed; the build appends the
 * uncompressed size as a LE u32 after it.
 */

export type KernelCompression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzma' | 'bzip2' | 'lzo';

const MAGICS: Array<[KernelCompression, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lzma', [0x5d, 0x00, 0x00]],
];

export interface BzImagePayload {
  compression: KernelCompression;
  offset: number;
  length: number;
  /** Uncompressed size from the trailer. */
  size: number;
}

function magicAt(buf: Buffer, off: number): KernelCompression | undefined {
  for (const [name, bytes] of MAGICS) if (bytes.every((b, i) => buf[off + i] === b)) return name;
  return undefined;
}

export function findPayload(bz: Buffer): BzImagePayload {
  if (bz.length < 0x250 || bz.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new Error('not an x86 bzImage (no HdrS header)');
  const protocol = bz.readUInt16LE(0x206);
  if (protocol < 0x208) throw new Error(`boot protocol ${protocol.toString(16)} has no payload fields`);
  const setupSects = bz[0x1f1] || 4;
  const payloadOffset = bz.readUInt32LE(0x248);
  const payloadLength = bz.readUInt32LE(0x24c);
  const offset = (setupSects + 1) * 512 + payloadOffset;
  const compression = magicAt(bz, offset);
  if (!compression) throw new Error(`no known compression magic at the payload (offset ${offset})`);
  const size = bz.readUInt32LE(offset + payloadLength - 4);
  return { compression, offset, length: payloadLength, size };
}

async function viaCli(cmd: string, args: string[], input: Buffer): Promise<Buffer> {
  const r = await execa(cmd, args, { input, encoding: 'buffer', reject: false, stripFinalNewline: false });
  if (r.exitCode !== 0 && (r.stdout as Uint8Array).length === 0) throw new Error(`${cmd} failed: ${Buffer.from(r.stderr as Uint8Array).toString()}`);
  return Buffer.from(r.stdout as Uint8Array);
}

/** Decompress the payload into the vmlinux ELF and check it is one, with a PVH note. */
export async function extractVmlinux(bz: Buffer): Promise<{ vmlinux: Buffer; compression: KernelCompression; pvhEntry: number }> {
  const p = findPayload(bz);
  const data = bz.subarray(p.offset, p.offset + p.length);
  const stream = data.subarray(0, data.length - 4);
  let out: Buffer;
  switch (p.compression) {
    case 'gzip':
      out = gunzipSync(stream);
      break;
    case 'lz4':
      out = lz4LegacyDecompress(stream, p.size);
      break;
    case 'xz':
      out = await viaCli('xz', ['-dc', '--single-stream'], stream);
      break;
    case 'zstd':
      out = await viaCli('zstd', ['-dcq'], stream);
      break;
    default:
      throw new Error(`${p.compression}-compressed kernels are not supported`);
  }
  if (out.length !== p.size) throw new Error(`vmlinux is ${out.length} bytes, the bzImage trailer says ${p.size}`);
  if (!isElf(out)) throw new Error('the decompressed kernel is not an ELF file');
  const entry = pvhEntry(parseElf(out));
  if (entry === undefined) throw new Error('vmlinux has no PVH entry note (Xen ELFNOTE 18): QEMU cannot boot it directly');
  return { vmlinux: out, compression: p.compression, pvhEntry: entry };
}
