/**
 * The 512-byte tar header: ustar layout (POSIX.1-1988) with the GNU and PAX
 * extensions the reader understands. Encoding is strict and deterministic;
 * decoding is lenient where real archives differ (GNU magic, base-256
 * numbers, signed checksums).
 */

export const BLOCK = 512;

/** Entry kinds, named after what they are rather than their typeflag byte. */
export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'contiguous'
  | 'unknown';

/** Typeflag bytes of the entry kinds (ustar). */
export const TYPEFLAG: Record<Exclude<TarEntryType, 'unknown'>, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
  contiguous: '7',
};

export function typeFromFlag(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    case '7':
      return 'contiguous';
    default:
      return 'unknown';
  }
}

/** Field offsets and widths of the ustar header. */
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;

type Field = keyof typeof F;

/** A header as decoded from its 512 bytes, before PAX/GNU overrides. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** 'ustar' (POSIX), 'gnu' (GNU "ustar  "), or 'v7' (no magic). */
  format: 'ustar' | 'gnu' | 'v7';
}

function cstring(buf: Buffer, field: Field): string {
  const [off, len] = F[field];
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** Octal (space/NUL padded) or GNU base-256 (high bit set) numbers. */
function number(buf: Buffer, field: Field): number {
  const [off, len] = F[field];
  const slice = buf.subarray(off, off + len);
  if (len > 0 && (slice[0]! & 0x80) !== 0) {
    // Base-256: two's complement big-endian, first byte's high bit is the marker.
    const negative = (slice[0]! & 0x40) !== 0;
    let v = 0n;
    for (let i = 0; i < len; i++) {
      const byte = i === 0 ? slice[i]! & 0x7f : slice[i]!;
      v = (v << 8n) | BigInt(byte);
    }
    if (negative) v -= 1n << BigInt(len * 8 - 1);
    return Number(v);
  }
  const text = slice.toString('latin1').replace(/[\0 ]+$/g, '').replace(/^[ \0]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`malformed number in header field ${field}: "${text}"`);
  return parseInt(text, 8);
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

function checksums(buf: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : buf[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** Decode one header block; throws Error (caller adds context) when it is not a tar header. */
export function decodeHeader(buf: Buffer): RawHeader {
  const stored = number(buf, 'chksum');
  const sums = checksums(buf);
  if (stored !== sums.unsigned && stored !== sums.signed) throw new Error('invalid header checksum');
  const magic = buf.subarray(257, 265).toString('latin1');
  const format: RawHeader['format'] = magic === 'ustar\u000000' || magic.startsWith('ustar\0')
    ? 'ustar'
    : magic === 'ustar  \0'
      ? 'gnu'
      : 'v7';
  let name = cstring(buf, 'name');
  if (format === 'ustar') {
    const prefix = cstring(buf, 'prefix');
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(buf[156]!);
  return {
    name,
    mode: number(buf, 'mode') & 0o7777,
    uid: number(buf, 'uid'),
    gid: number(buf, 'gid'),
    size: number(buf, 'size'),
    mtime: number(buf, 'mtime'),
    typeflag: typeflag === '\0' ? '0' : typeflag,
    linkname: cstring(buf, 'linkname'),
    uname: format === 'v7' ? '' : cstring(buf, 'uname'),
    gname: format === 'v7' ? '' : cstring(buf, 'gname'),
    devmajor: format === 'v7' ? 0 : number(buf, 'devmajor'),
    devminor: format === 'v7' ? 0 : number(buf, 'devminor'),
    format,
  };
}

/** Largest value an octal field of this width holds (width-1 digits + NUL). */
export function octalLimit(field: 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'devmajor' | 'devminor'): number {
  return 8 ** (F[field][1] - 1) - 1;
}

export const FIELD_WIDTH = {
  name: F.name[1],
  linkname: F.linkname[1],
  prefix: F.prefix[1],
  uname: F.uname[1],
  gname: F.gname[1],
} as const;

/** What the writer puts in one header block; every value must already fit. */
export interface HeaderFields {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function putString(buf: Buffer, field: Field, value: string): void {
  const [off, len] = F[field];
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) throw new Error(`tar header field ${field} too long: ${value}`);
  bytes.copy(buf, off);
}

function putOctal(buf: Buffer, field: Field, value: number): void {
  const [off, len] = F[field];
  if (!Number.isInteger(value) || value < 0 || value > 8 ** (len - 1) - 1)
    throw new Error(`tar header field ${field} out of range: ${value}`);
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

/** Encode a POSIX ustar header block. */
export function encodeHeader(h: HeaderFields): Buffer {
  const buf = Buffer.alloc(BLOCK);
  putString(buf, 'name', h.name);
  putOctal(buf, 'mode', h.mode);
  putOctal(buf, 'uid', h.uid);
  putOctal(buf, 'gid', h.gid);
  putOctal(buf, 'size', h.size);
  putOctal(buf, 'mtime', h.mtime);
  buf.write(h.typeflag, 156, 1, 'latin1');
  putString(buf, 'linkname', h.linkname);
  buf.write('ustar\u000000', 257, 8, 'latin1');
  putString(buf, 'uname', h.uname);
  putString(buf, 'gname', h.gname);
  putOctal(buf, 'devmajor', h.devmajor);
  putOctal(buf, 'devminor', h.devminor);
  putString(buf, 'prefix', h.prefix);
  const sum = checksums(buf).unsigned;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return buf;
}

/** Parse PAX extended-header records: `<len> <key>=<value>\n`, len counting itself. */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw new Error('malformed PAX record (no length)');
    const lenText = data.subarray(pos, space).toString('latin1');
    if (!/^\d+$/.test(lenText)) throw new Error(`malformed PAX record length "${lenText}"`);
    const len = parseInt(lenText, 10);
    if (len <= space - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a)
      throw new Error('malformed PAX record');
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw new Error('malformed PAX record (no "=")');
    out[record.subarray(0, eq).toString('utf8')] = record.subarray(eq + 1).toString('utf8');
    pos += len;
  }
  return out;
}

/** Encode PAX records in the given order (callers sort keys for determinism). */
export function encodePax(records: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.from(` ${key}=${value}\n`, 'utf8');
    // The length prefix counts its own digits: grow until it is stable.
    let digits = String(body.length).length;
    while (String(body.length + digits).length !== digits) digits++;
    parts.push(Buffer.from(String(body.length + digits), 'latin1'), body);
  }
  return Buffer.concat(parts);
}
