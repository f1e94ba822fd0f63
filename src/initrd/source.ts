/** Reading the bytes behind a DataSource: size, sha256, stream. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { CoracleError } from '../errors.js';
import type { DataSource } from './types.js';

/** Size in bytes of what the source yields (a file is stat'ed). */
export async function sourceSize(src: DataSource, forPath: string): Promise<number> {
  switch (src.kind) {
    case 'buffer':
      return src.data.byteLength;
    case 'stream':
      return src.size;
    case 'file': {
      if (src.size !== undefined) return src.size;
      let st;
      try {
        st = statSync(src.path);
      } catch (e) {
        throw new CoracleError(`initrd: ${forPath}: cannot read source file ${src.path}: ${(e as Error).message}`, { cause: e });
      }
      return Math.max(0, st.size - (src.offset ?? 0));
    }
  }
}

/** Files up to this size are read whole and synchronously: a stream costs several thread-pool round trips (the files: segment of every build). */
const SMALL_FILE = 1 << 20;

/** Up to `size` bytes of `path` from `start`, read at once (the caller checks the count). */
function readSmall(path: string, start: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CoracleError(`initrd: cannot read source file ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Open the source as a byte stream of exactly `size` bytes (checked by the writer). */
export async function openSource(src: DataSource, size: number): Promise<AsyncIterable<Uint8Array>> {
  switch (src.kind) {
    case 'buffer':
      return (async function* () {
        if (src.data.byteLength > 0) yield src.data;
      })();
    case 'stream':
      return Readable.from(await src.open() as AsyncIterable<Uint8Array>);
    case 'file': {
      if (size === 0) return (async function* () {})();
      const start = src.offset ?? 0;
      if (size <= SMALL_FILE) {
        const data = readSmall(src.path, start, size);
        return (async function* () {
          yield data;
        })();
      }
      return createReadStream(src.path, { start, end: start + size - 1, highWaterMark: 1 << 20 });
    }
  }
}

/** `sha256:<hex>` of the source's bytes; a digest given with the source is trusted. */
export async function sourceDigest(src: DataSource, size: number): Promise<string> {
  if (src.digest !== undefined) return src.digest;
  const h = createHash('sha256');
  if (src.kind === 'buffer') {
    h.update(src.data);
  } else if (src.kind === 'file' && size <= SMALL_FILE) {
    h.update(readSmall(src.path, src.offset ?? 0, size));
  } else {
    for await (const chunk of await openSource(src, size)) h.update(chunk);
  }
  return `sha256:${h.digest('hex')}`;
}

/** All the bytes of a source (for the few callers that need a file whole, e.g. the kernel). */
export async function readSource(src: DataSource, size: number): Promise<Buffer> {
  if (src.kind === 'buffer') return Buffer.from(src.data);
  const parts: Buffer[] = [];
  for await (const c of await openSource(src, size)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
