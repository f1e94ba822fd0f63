/**
 * A test-side reader of an initrd that follows the kernel's rules
 * (init/initramfs.c unpack_to_rootfs): at each position skip zero bytes; an
 * uncompressed archive starts with "0707" at a 4-aligned offset; otherwise
 * detect the compressor by magic, decompress exactly one stream and continue
 * after it. Inside an archive, regular files with nlink >= 2 sharing
 * (ino, file type) are hardlinked to the first one seen; the link table is
 * cleared at each TRAILER!!!. A regular file over an existing regular file
 * is opened in place (the kernel only unlinks a path whose file type
 * differs), so it writes through to the old inode and its links.
 * Written independently of src/initrd.
 */
import { execFileSync } from 'node:child_process';
import { inflateRawSync } from 'node:zlib';

export interface CpioRecord {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  data: Buffer;
  /** Offset of the header in its archive. */
  offset: number;
}

/** What unpacking leaves on the rootfs for one path. */
export interface Node {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Shared between hardlinked paths (same object). */
  inode: { data: Buffer<ArrayBufferLike> };
  target?: string;
  rdev?: [number, number];
}

export interface Unpacked {
  segments: Array<{ offset: number; format: 'cpio' | 'gzip' | 'zstd' | 'lz4'; records: CpioRecord[] }>;
  nodes: Map<string, Node>;
}

/** Parse one newc archive; returns its records and the byte length through the trailer's padding. */
export function parseNewc(buf: Buffer): { records: CpioRecord[]; length: number } {
  const records: CpioRecord[] = [];
  let off = 0;
  for (;;) {
    if (off % 4 !== 0) throw new Error(`header at unaligned offset ${off}`);
    const magic = buf.toString('latin1', off, off + 6);
    if (magic !== '070701') throw new Error(`bad magic ${JSON.stringify(magic)} at ${off}`);
    const f = (i: number): number => parseInt(buf.toString('latin1', off + 6 + i * 8, off + 14 + i * 8), 16);
    const namesize = f(11);
    const name = buf.toString('utf8', off + 110, off + 110 + namesize - 1);
    if (buf[off + 110 + namesize - 1] !== 0) throw new Error(`name of ${name} not NUL-terminated`);
    const dataStart = (off + 110 + namesize + 3) & ~3;
    const filesize = f(6);
    const rec: CpioRecord = {
      name, ino: f(0), mode: f(1), uid: f(2), gid: f(3), nlink: f(4), mtime: f(5), filesize,
      devmajor: f(7), devminor: f(8), rdevmajor: f(9), rdevminor: f(10),
      data: buf.subarray(dataStart, dataStart + filesize), offset: off,
    };
    if (dataStart + filesize > buf.length) throw new Error(`${name}: truncated body`);
    off = (dataStart + filesize + 3) & ~3;
    if (name === 'TRAILER!!!') return { records, length: off };
    records.push(rec);
  }
}

function gzipLength(buf: Buffer): { data: Buffer; length: number } {
  if (buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) throw new Error('not gzip');
  const flg = buf[3]!;
  let p = 10;
  if (flg & 4) p += 2 + buf.readUInt16LE(p);
  if (flg & 8) p = buf.indexOf(0, p) + 1;
  if (flg & 16) p = buf.indexOf(0, p) + 1;
  if (flg & 2) p += 2;
  const r = inflateRawSync(buf.subarray(p), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
  return { data: r.buffer, length: p + r.engine.bytesWritten + 8 };
}

const LZ4_LEGACY_MAGIC = 0x184c2102;

/**
 * The legacy LZ4 streams from the start of `buf` to its end, as the kernel's
 * unlz4 reads them: a stream is the magic, then blocks (a 32-bit size and
 * that many bytes); the magic where a block size would be starts the next
 * stream; the input must end exactly after a block. A zero size (padding)
 * is what the kernel fails on ("Decoding failed").
 */
export function lz4LegacyStreams(buf: Buffer): Array<{ offset: number; length: number }> {
  if (buf.length < 4 || buf.readUInt32LE(0) !== LZ4_LEGACY_MAGIC) throw new Error('not a legacy LZ4 stream');
  const streams: Array<{ offset: number; length: number }> = [{ offset: 0, length: 0 }];
  let pos = 4;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error(`legacy LZ4: ${buf.length - pos} bytes after the last block`);
    const size = buf.readUInt32LE(pos);
    if (size === LZ4_LEGACY_MAGIC) {
      streams.at(-1)!.length = pos - streams.at(-1)!.offset;
      streams.push({ offset: pos, length: 0 });
      pos += 4;
      continue;
    }
    if (size === 0) throw new Error(`legacy LZ4: a zero block size at ${pos} (padding the kernel cannot read)`);
    pos += 4 + size;
  }
  if (pos !== buf.length) throw new Error('legacy LZ4: the last block runs past the end');
  streams.at(-1)!.length = pos - streams.at(-1)!.offset;
  return streams;
}

export function zstdFrameLength(buf: Buffer): number {
  if (buf.readUInt32LE(0) !== 0xfd2fb528) throw new Error('not zstd');
  const fhd = buf[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]! + [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
  for (;;) {
    const h = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16);
    const last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    p += 3 + (type === 1 ? 1 : size);
    if (last) break;
  }
  return p + (checksum ? 4 : 0);
}

const TYPES: Record<number, Node['type']> = {
  0o010000: 'fifo', 0o020000: 'char', 0o040000: 'dir', 0o060000: 'block', 0o100000: 'file', 0o120000: 'symlink', 0o140000: 'socket',
};

/** Unpack the way the kernel does, into an in-memory rootfs. */
export function kernelUnpack(img: Buffer): Unpacked {
  const segments: Unpacked['segments'] = [];
  const nodes = new Map<string, Node>();
  let pos = 0;
  const apply = (records: CpioRecord[]): void => {
    const links = new Map<string, Node['inode']>();
    for (const r of records) {
      const type = TYPES[r.mode & 0o170000];
      if (type === undefined) throw new Error(`${r.name}: bad mode ${r.mode.toString(8)}`);
      let inode: Node['inode'] = { data: Buffer.alloc(0) };
      const existing = nodes.get(r.name);
      if (type === 'file') {
        let linked = false;
        if (r.nlink >= 2) {
          const key = `${r.ino}:${r.devmajor}:${r.devminor}:${r.mode & 0o170000}`;
          const known = links.get(key);
          if (known) {
            // link(): whatever was at the path is unlinked first
            inode = known;
            linked = true;
          } else {
            links.set(key, inode);
          }
        }
        if (!linked && existing?.type === 'file') {
          // an existing regular file is opened in place (O_TRUNC): every link to it sees the new data
          inode = existing.inode;
          if (r.nlink >= 2) links.set(`${r.ino}:${r.devmajor}:${r.devminor}:${r.mode & 0o170000}`, inode);
        }
        if (!linked) inode.data = Buffer.alloc(0);
        if (r.filesize > 0) inode.data = Buffer.from(r.data);
      }
      const node: Node = { type, mode: r.mode & 0o7777, uid: r.uid, gid: r.gid, mtime: r.mtime, inode };
      if (type === 'symlink') node.target = r.data.toString('utf8');
      if (type === 'char' || type === 'block') node.rdev = [r.rdevmajor, r.rdevminor];
      nodes.set(r.name, node);
    }
  };
  while (pos < img.length) {
    if (img[pos] === 0) {
      pos++;
      continue;
    }
    if (img.toString('latin1', pos, pos + 4) === '0707') {
      if (pos % 4 !== 0) throw new Error(`archive at unaligned offset ${pos}`);
      const { records, length } = parseNewc(img.subarray(pos));
      segments.push({ offset: pos, format: 'cpio', records });
      apply(records);
      pos += length;
      continue;
    }
    if (img.readUInt32LE(pos) === LZ4_LEGACY_MAGIC) {
      // the kernel's LZ4 unpacker takes the rest of the image: every stream must be LZ4, with nothing between
      for (const st of lz4LegacyStreams(img.subarray(pos))) {
        const data = execFileSync('lz4', ['-d', '-c', '-q'], { input: img.subarray(pos + st.offset, pos + st.offset + st.length), maxBuffer: 1 << 30 });
        const { records, length: cpioLen } = parseNewc(data);
        if (data.subarray(cpioLen).some((b) => b !== 0)) throw new Error(`junk after the archive in the lz4 stream at ${pos + st.offset}`);
        segments.push({ offset: pos + st.offset, format: 'lz4', records });
        apply(records);
      }
      break;
    }
    let data: Buffer;
    let length: number;
    let format: 'gzip' | 'zstd';
    if (img[pos] === 0x1f && img[pos + 1] === 0x8b) {
      format = 'gzip';
      ({ data, length } = gzipLength(img.subarray(pos)));
    } else if (img.readUInt32LE(pos) === 0xfd2fb528) {
      format = 'zstd';
      length = zstdFrameLength(img.subarray(pos));
      data = execFileSync('zstd', ['-d', '-c', '-q'], { input: img.subarray(pos, pos + length), maxBuffer: 1 << 30 });
    } else {
      throw new Error(`invalid magic at start of compressed archive (offset ${pos})`);
    }
    const { records, length: cpioLen } = parseNewc(data);
    // The kernel reports "junk at the end of compressed archive" otherwise.
    if (data.subarray(cpioLen).some((b) => b !== 0)) throw new Error(`junk after the archive in the ${format} stream at ${pos}`);
    segments.push({ offset: pos, format, records });
    apply(records);
    pos += length;
  }
  return { segments, nodes };
}
