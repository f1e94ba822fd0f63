/** Reading the bytes behind a DataSource: size, sha256, stream. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
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
        st = await stat(src.path);
      } catch (e) {
        throw new CoracleError(`initrd: ${forPath}: cannot read source file ${src.path}: ${(e as Error).message}`, { cause: e });
      }
      return Math.max(0, st.size - (src.offset ?? 0));
    }
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
