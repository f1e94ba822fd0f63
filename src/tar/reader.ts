import type { Readable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { BLOCK, decodeHeader, isZeroBlock, parsePax, typeFromFlag, type TarEntryType } from './header.js';

/** Metadata of one archive member after GNU long names and PAX records are applied. */
export interface TarHeader {
  /** Member path as stored (directories usually end in "/"). */
  path: string;
  type: TarEntryType;
  /** The raw typeflag byte ("0", "5", "S" ...), useful for 'unknown' types. */
  typeflag: string;
  /** Permission bits (& 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Body size in bytes (0 for links, dirs, devices). */
  size: number;
  /** Seconds since the epoch; fractional when a PAX record says so. */
  mtime: number;
  /** Target of a symlink or hardlink, '' otherwise. */
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** PAX records in effect for this member (global then per-entry), if any. */
  pax?: Record<string, string>;
}

/**
 * One member. Its body is read from the archive stream as you iterate
 * `body` (once), or gathered with `buffer()`; anything left unread is skipped
 * when the next member is requested, so consumers that only want headers can
 * ignore bodies.
 */
export interface TarEntry extends TarHeader {
  /** Byte offset of the body in the archive (for random access to a tar file). */
  dataOffset: number;
  body: AsyncIterable<Buffer>;
  buffer(): Promise<Buffer>;
  /** Discard the body (also done automatically when advancing). */
  skip(): Promise<void>;
}

export interface ReadTarOptions {
  /** Name of the archive for error messages (a file path, an image layer ...). */
  name?: string;
}

/** Pulls exact byte counts out of a chunk stream. */
class ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunk: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(source: Readable | AsyncIterable<Uint8Array>) {
    this.it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  }

  /** Make at least one byte available; false at end of input. */
  private async fill(): Promise<boolean> {
    while (this.chunk.length === 0) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const v = r.value;
      this.chunk = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    return true;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    if (this.chunk.length >= n) {
      const out = this.chunk.subarray(0, n);
      this.chunk = this.chunk.subarray(n);
      this.offset += n;
      return out;
    }
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n && (await this.fill())) {
      const take = Math.min(n - have, this.chunk.length);
      parts.push(this.chunk.subarray(0, take));
      this.chunk = this.chunk.subarray(take);
      have += take;
    }
    this.offset += have;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
  }

  /** Up to n bytes as they arrive, without copying; empty at end of input. */
  async readSome(n: number): Promise<Buffer> {
    if (!(await this.fill())) return Buffer.alloc(0);
    const take = Math.min(n, this.chunk.length);
    const out = this.chunk.subarray(0, take);
    this.chunk = this.chunk.subarray(take);
    this.offset += take;
    return out;
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function paxNumber(value: string, key: string): number {
  if (!/^-?\d+(\.\d+)?$/.test(value)) throw new Error(`malformed PAX ${key} "${value}"`);
  return Number(value);
}

/**
 * Read a tar archive as a stream of members: ustar, GNU (long names 'L',
 * long links 'K', base-256 numbers) and PAX (per-entry 'x' and global 'g'
 * records for path, linkpath, size, uid, gid, mtime, uname, gname).
 * Errors are CoracleError naming the archive and the byte offset.
 */
export async function* readTar(
  source: Readable | AsyncIterable<Uint8Array>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const src = new ByteSource(source);
  const label = opts.name ? `${opts.name}: ` : '';
  const fail = (msg: string, at = src.offset) => new CoracleError(`${label}tar: ${msg} (at byte ${at})`);

  let global: Record<string, string> = {};
  let pending: Record<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;

  const readExact = async (n: number, what: string): Promise<Buffer> => {
    const b = await src.read(n);
    if (b.length < n) throw fail(`unexpected end of archive in ${what}`);
    return b;
  };

  try {
    for (;;) {
      const at = src.offset;
      const block = await src.read(BLOCK);
      if (block.length === 0) return; // end of input without trailer: tolerated
      if (block.length < BLOCK) throw fail('unexpected end of archive in a header', at);
      if (isZeroBlock(block)) return; // end-of-archive marker; the rest is padding

      let raw;
      try {
        raw = decodeHeader(block);
      } catch (e) {
        throw fail((e as Error).message, at);
      }

      // Metadata members: their body describes the next member.
      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        const data = await readExact(raw.size, 'an extended header');
        await readExact(padding(raw.size), 'padding');
        if (raw.typeflag === 'L' || raw.typeflag === 'K') {
          const nul = data.indexOf(0);
          const text = data.subarray(0, nul < 0 ? data.length : nul).toString('utf8');
          if (raw.typeflag === 'L') longName = text;
          else longLink = text;
          continue;
        }
        let records;
        try {
          records = parsePax(data);
        } catch (e) {
          throw fail((e as Error).message, at);
        }
        if (raw.typeflag === 'g') global = { ...global, ...records };
        else pending = { ...(pending ?? {}), ...records };
        continue;
      }

      const pax = pending || Object.keys(global).length > 0 ? { ...global, ...(pending ?? {}) } : undefined;
      const header: TarHeader = {
        path: raw.name,
        type: typeFromFlag(raw.typeflag),
        typeflag: raw.typeflag,
        mode: raw.mode,
        uid: raw.uid,
        gid: raw.gid,
        uname: raw.uname,
        gname: raw.gname,
        size: raw.size,
        mtime: raw.mtime,
        linkpath: raw.linkname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
      };
      if (longName !== undefined) header.path = longName;
      if (longLink !== undefined) header.linkpath = longLink;
      if (pax) {
        header.pax = pax;
        try {
          if (pax.path !== undefined) header.path = pax.path;
          if (pax.linkpath !== undefined) header.linkpath = pax.linkpath;
          if (pax.size !== undefined) header.size = paxNumber(pax.size, 'size');
          if (pax.uid !== undefined) header.uid = paxNumber(pax.uid, 'uid');
          if (pax.gid !== undefined) header.gid = paxNumber(pax.gid, 'gid');
          if (pax.mtime !== undefined) header.mtime = paxNumber(pax.mtime, 'mtime');
          if (pax.uname !== undefined) header.uname = pax.uname;
          if (pax.gname !== undefined) header.gname = pax.gname;
        } catch (e) {
          throw fail((e as Error).message, at);
        }
      }
      pending = undefined;
      longName = undefined;
      longLink = undefined;
      // Links, devices, dirs and fifos are header-only: no data blocks follow,
      // whatever the size field says (as Go's archive/tar reads them).
      const headerOnly = ['hardlink', 'symlink', 'char', 'block', 'directory', 'fifo'].includes(header.type);
      if (headerOnly) header.size = 0;
      const dataSize = header.size;

      let remaining = dataSize;
      let started = false;
      const next = async (): Promise<Buffer> => {
        const b = await src.readSome(Math.min(remaining, 1 << 20));
        if (b.length === 0) throw fail(`unexpected end of archive in the body of ${header.path}`);
        remaining -= b.length;
        return b;
      };
      const body = async function* (): AsyncGenerator<Buffer> {
        while (remaining > 0) yield await next();
      };
      const drain = async () => {
        started = true;
        while (remaining > 0) await next();
      };
      const entry: TarEntry = {
        ...header,
        dataOffset: src.offset,
        body: {
          [Symbol.asyncIterator]: () => {
            if (started) throw new Error(`tar entry ${header.path}: body already read`);
            started = true;
            return body();
          },
        },
        buffer: async () => {
          const parts: Buffer[] = [];
          for await (const b of entry.body) parts.push(b);
          return Buffer.concat(parts);
        },
        skip: drain,
      };
      yield entry;
      // Auto-skip whatever the consumer left.
      if (remaining > 0) await drain();
      await readExact(padding(dataSize), 'padding');
    }
  } finally {
    await src.close();
  }
}
