import { PassThrough, type Readable, type Writable } from 'node:stream';
import {
  BLOCK,
  FIELD_WIDTH,
  TYPEFLAG,
  encodeHeader,
  encodePax,
  octalLimit,
  type TarEntryType,
} from './header.js';

/**
 * Metadata of a member to write. Nothing is taken from the environment: the
 * caller gives ownership, mode and mtime (e.g. from SOURCE_DATE_EPOCH), so
 * the same calls always produce the same bytes.
 */
export interface TarWriteHeader {
  path: string;
  /** Permission bits; default 0o644 for files, 0o755 for directories, 0o777 for symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (a Date is converted); default 0. */
  mtime?: number | Date;
}

export interface TarWriteEntry extends TarWriteHeader {
  type: Exclude<TarEntryType, 'unknown' | 'contiguous'>;
  /** Body size; required for files whose data is a stream. */
  size?: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (e.g. SCHILY.xattr.*), written sorted by key. */
  pax?: Record<string, string>;
}

export type TarBodySource = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

const ZERO = Buffer.alloc(BLOCK * 2);

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Split a path into ustar prefix + name at a "/", or undefined when it cannot fit. */
function splitUstarPath(path: string): { prefix: string; name: string } | undefined {
  if (byteLength(path) <= FIELD_WIDTH.name) return { prefix: '', name: path };
  const bytes = Buffer.from(path, 'utf8');
  // Rightmost split whose prefix fits in 155 bytes and name in 100.
  for (let i = Math.min(bytes.length - 1, FIELD_WIDTH.prefix); i > 0; i--) {
    if (bytes[i] !== 0x2f) continue;
    const nameLen = bytes.length - i - 1;
    if (nameLen === 0) continue; // the trailing "/" of a directory stays in the name
    if (nameLen > FIELD_WIDTH.name) return undefined;
    return { prefix: bytes.subarray(0, i).toString('utf8'), name: bytes.subarray(i + 1).toString('utf8') };
  }
  return undefined;
}

/** A deterministic PAX-header name derived from the member path. */
function paxHeaderName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1) || 'root';
  let name = `PaxHeaders/${base}`;
  while (byteLength(name) > FIELD_WIDTH.name) name = name.slice(0, -1);
  return name;
}

/**
 * Writes a POSIX (ustar + PAX) archive to a Writable, honouring back-pressure.
 * Entries are written in call order; call `finish()` once at the end (it
 * writes the two zero blocks and ends the stream unless told not to).
 *
 *   const w = new TarWriter(fs.createWriteStream('x.tar'));
 *   await w.addFile({ path: 'etc/hostname', mtime: epoch }, 'box\n');
 *   await w.finish();
 *
 * or `TarWriter.toReadable()` for a Readable to pipe elsewhere.
 */
export class TarWriter {
  private finished = false;
  private busy = false;
  /** Bytes written so far (headers, bodies, padding). */
  bytesWritten = 0;

  constructor(
    private readonly out: Writable,
    private readonly opts: { end?: boolean } = {},
  ) {}

  /** A writer and the Readable carrying its bytes (consume it concurrently). */
  static toReadable(): { writer: TarWriter; readable: Readable } {
    const pt = new PassThrough();
    return { writer: new TarWriter(pt), readable: pt };
  }

  private async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.bytesWritten += buf.length;
    if (!this.out.write(buf)) await this.drained();
  }

  /** Wait for 'drain', failing on 'error' or 'close'; listeners are removed whichever comes first. */
  private drained(): Promise<void> {
    const out = this.out;
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        out.off('drain', onDrain);
        out.off('error', onError);
        out.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onError = (e: Error) => done(e);
      const onClose = () => done(new Error('tar output closed while writing'));
      out.on('drain', onDrain);
      out.on('error', onError);
      out.on('close', onClose);
    });
  }

  async addFile(h: TarWriteHeader & { size?: number; pax?: Record<string, string> }, data: TarBodySource): Promise<void> {
    await this.add({ ...h, type: 'file' }, data);
  }

  async addDirectory(h: TarWriteHeader & { pax?: Record<string, string> }): Promise<void> {
    await this.add({ ...h, type: 'directory' });
  }

  async addSymlink(h: TarWriteHeader & { linkpath: string }): Promise<void> {
    await this.add({ ...h, type: 'symlink' });
  }

  async addHardlink(h: TarWriteHeader & { linkpath: string }): Promise<void> {
    await this.add({ ...h, type: 'hardlink' });
  }

  async addDevice(h: TarWriteHeader & { type: 'char' | 'block'; devmajor: number; devminor: number }): Promise<void> {
    await this.add(h);
  }

  async addFifo(h: TarWriteHeader): Promise<void> {
    await this.add({ ...h, type: 'fifo' });
  }

  /** Write one member; `data` is required for files (may be empty). */
  async add(entry: TarWriteEntry, data?: TarBodySource): Promise<void> {
    if (this.finished) throw new Error('tar writer already finished');
    if (this.busy) throw new Error('tar writer: add() called before the previous add() finished');
    this.busy = true;
    try {
      await this.addInner(entry, data);
    } finally {
      this.busy = false;
    }
  }

  private async addInner(entry: TarWriteEntry, data?: TarBodySource): Promise<void> {
    if (entry.path === '') throw new Error('tar entry path is empty');
    let buffered: Buffer | undefined;
    let size = 0;
    if (entry.type === 'file') {
      if (data === undefined) throw new Error(`tar entry ${entry.path}: file data missing`);
      if (typeof data === 'string') buffered = Buffer.from(data, 'utf8');
      else if (data instanceof Uint8Array) buffered = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (buffered) {
        if (entry.size !== undefined && entry.size !== buffered.length)
          throw new Error(`tar entry ${entry.path}: size ${entry.size} given but data has ${buffered.length} bytes`);
        size = buffered.length;
      } else {
        if (entry.size === undefined) throw new Error(`tar entry ${entry.path}: size is required for streamed data`);
        size = entry.size;
      }
    } else if (data !== undefined) {
      throw new Error(`tar entry ${entry.path}: a ${entry.type} has no data`);
    }

    let path = entry.path;
    if (entry.type === 'directory' && !path.endsWith('/')) path += '/';
    const mode = entry.mode ?? (entry.type === 'directory' ? 0o755 : entry.type === 'symlink' ? 0o777 : 0o644);
    const uid = entry.uid ?? 0;
    const gid = entry.gid ?? 0;
    const uname = entry.uname ?? '';
    const gname = entry.gname ?? '';
    const mtimeRaw = entry.mtime instanceof Date ? entry.mtime.getTime() / 1000 : (entry.mtime ?? 0);
    const linkpath = entry.linkpath ?? '';
    if ((entry.type === 'symlink' || entry.type === 'hardlink') && linkpath === '')
      throw new Error(`tar entry ${entry.path}: ${entry.type} needs a linkpath`);
    const devmajor = entry.devmajor ?? 0;
    const devminor = entry.devminor ?? 0;

    // Whatever does not fit the ustar fields goes into a PAX record.
    const pax: Record<string, string> = { ...(entry.pax ?? {}) };
    const split = isAscii(path) ? splitUstarPath(path) : undefined;
    if (!split) pax.path = path;
    if (byteLength(linkpath) > FIELD_WIDTH.linkname || !isAscii(linkpath)) pax.linkpath = linkpath;
    const fits = (v: number, f: Parameters<typeof octalLimit>[0]) => Number.isInteger(v) && v >= 0 && v <= octalLimit(f);
    if (!fits(uid, 'uid')) pax.uid = String(uid);
    if (!fits(gid, 'gid')) pax.gid = String(gid);
    if (!fits(size, 'size')) pax.size = String(size);
    if (!fits(mtimeRaw, 'mtime')) pax.mtime = String(mtimeRaw);
    if (byteLength(uname) > FIELD_WIDTH.uname || !isAscii(uname)) pax.uname = uname;
    if (byteLength(gname) > FIELD_WIDTH.gname || !isAscii(gname)) pax.gname = gname;
    if (!fits(devmajor, 'devmajor') || !fits(devminor, 'devminor'))
      throw new Error(`tar entry ${entry.path}: device numbers too large`);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`tar entry ${entry.path}: bad mode ${mode}`);

    const clampInt = (v: number, f: Parameters<typeof octalLimit>[0]) =>
      fits(v, f) ? v : Math.max(0, Math.min(octalLimit(f), Math.floor(v)));
    const asciiOrEmpty = (s: string, width: number) => (isAscii(s) && byteLength(s) <= width ? s : '');

    const paxKeys = Object.keys(pax).sort();
    if (paxKeys.length > 0) {
      const records = encodePax(paxKeys.map((k) => [k, pax[k]!]));
      await this.write(
        encodeHeader({
          name: paxHeaderName(path),
          prefix: '',
          mode: 0o644,
          uid: 0,
          gid: 0,
          size: records.length,
          mtime: clampInt(mtimeRaw, 'mtime'),
          typeflag: 'x',
          linkname: '',
          uname: '',
          gname: '',
          devmajor: 0,
          devminor: 0,
        }),
      );
      await this.write(records);
      await this.write(ZERO.subarray(0, (BLOCK - (records.length % BLOCK)) % BLOCK));
    }

    // Fallback ustar fields when PAX carries the real value: a truncated, still-valid name.
    let name = split?.name ?? '';
    const prefix = split?.prefix ?? '';
    if (!split) {
      const ascii = path.replace(/[^\x20-\x7e]/g, '_');
      name = ascii.slice(-FIELD_WIDTH.name);
    }
    await this.write(
      encodeHeader({
        name,
        prefix,
        mode,
        uid: clampInt(uid, 'uid'),
        gid: clampInt(gid, 'gid'),
        size: pax.size !== undefined ? 0 : size,
        mtime: clampInt(mtimeRaw, 'mtime'),
        typeflag: TYPEFLAG[entry.type],
        linkname: asciiOrEmpty(linkpath, FIELD_WIDTH.linkname),
        uname: asciiOrEmpty(uname, FIELD_WIDTH.uname),
        gname: asciiOrEmpty(gname, FIELD_WIDTH.gname),
        devmajor,
        devminor,
      }),
    );

    if (entry.type === 'file') {
      let written = 0;
      if (buffered) {
        await this.write(buffered);
        written = buffered.length;
      } else {
        for await (const chunk of data as AsyncIterable<Uint8Array>) {
          const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
          written += b.length;
          if (written > size) throw new Error(`tar entry ${entry.path}: data is longer than its size ${size}`);
          await this.write(b);
        }
        if (written !== size) throw new Error(`tar entry ${entry.path}: data has ${written} bytes, size says ${size}`);
      }
      await this.write(ZERO.subarray(0, (BLOCK - (written % BLOCK)) % BLOCK));
    }
  }

  /** Write the end-of-archive marker and (by default) end the output stream. */
  async finish(): Promise<void> {
    if (this.finished) return;
    if (this.busy) throw new Error('tar writer: finish() called while an add() is running');
    this.finished = true;
    await this.write(ZERO);
    if (this.opts.end !== false) {
      this.out.end();
    }
  }
}
