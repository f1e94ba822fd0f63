/**
 * LZ4 "legacy" frames, the format the Linux build uses for LZ4-compressed
 * kernels (`lz4 -l`): magic 0x184C2102, then blocks each prefixed by their
 * compressed size (LE u32), each decompressing to at most 8 MiB.
 */

export const LZ4_LEGACY_MAGIC = 0x184c2102;
const LEGACY_BLOCK = 8 << 20;

/** Decode one LZ4 block into `out` at `outPos`; returns the new output position. */
export function lz4DecodeBlock(src: Buffer, start: number, end: number, out: Buffer, outPos: number): number {
  let ip = start;
  let op = outPos;
  while (ip < end) {
    const token = src[ip++]!;
    let lit = token >> 4;
    if (lit === 15) {
      let b: number;
      do {
        b = src[ip++]!;
        lit += b;
      } while (b === 255 && ip < end);
    }
    if (ip + lit > end || op + lit > out.length) throw new Error('lz4: literal run overflows');
    src.copy(out, op, ip, ip + lit);
    ip += lit;
    op += lit;
    if (ip >= end) break; // the last sequence carries literals only
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new Error('lz4: bad match offset');
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        b = src[ip++]!;
        len += b;
      } while (b === 255 && ip < end);
    }
    len += 4;
    if (op + len > out.length) throw new Error('lz4: match overflows output');
    let from = op - offset;
    if (offset >= len) {
      out.copy(out, op, from, from + len);
      op += len;
    } else {
      // Overlapping match: copy byte by byte (repeats the pattern).
      for (let i = 0; i < len; i++) out[op++] = out[from++]!;
    }
  }
  return op;
}

/**
 * Decompress a legacy LZ4 stream. `expectedSize` bounds the output (the
 * kernel appends the uncompressed size after the stream); decoding stops at
 * `end` or at a chunk header that cannot be a block.
 */
export function lz4LegacyDecompress(src: Buffer, expectedSize: number): Buffer {
  if (src.length < 4 || src.readUInt32LE(0) !== LZ4_LEGACY_MAGIC) throw new Error('lz4: not a legacy frame');
  const out = Buffer.alloc(expectedSize);
  let ip = 4;
  let op = 0;
  while (ip + 4 <= src.length && op < expectedSize) {
    const size = src.readUInt32LE(ip);
    if (size === LZ4_LEGACY_MAGIC) {
      ip += 4;
      continue;
    }
    if (size === 0 || size > LEGACY_BLOCK + (LEGACY_BLOCK >> 8) + 16 || ip + 4 + size > src.length) break;
    ip += 4;
    op = lz4DecodeBlock(src, ip, ip + size, out, op);
    ip += size;
  }
  if (op !== expectedSize) throw new Error(`lz4: decompressed ${op} bytes, expected ${expectedSize}`);
  return out;
}
