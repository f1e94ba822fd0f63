import { open, type FileHandle } from 'node:fs/promises';
import { DigestVerifier } from '../digest.js';
import type { Digest } from '../types.js';
import { isPushSource, type PushSource } from './push-source.js';
import { isResumableSource, type BlobSource, type ResumableSource } from './resumable-source.js';

export type { BlobSource } from './resumable-source.js';

/**
 * Writes one blob's bytes to a new file while hashing and counting them: the
 * only verification those bytes get. The calling thread hashes; the file
 * writes go to the thread pool, a few at once, without the reading waiting
 * for each of them (it waits only when too many are in flight).
 */
export interface BlobFileOptions {
  expected?: { digest: Digest; size?: number } | undefined;
  /** Names the blob in error messages. */
  what: string;
  onBytes?: ((n: number) => void) | undefined;
}

export interface WrittenBlob {
  digest: Digest;
  size: number;
}

/** Bytes per file write. */
const WRITE_BATCH = 1 << 20;
/** File writes in flight per blob before the reading waits. */
const MAX_INFLIGHT = 3;
/** Lent space below this is not worth a socket read: the buffer is written out first. */
const MIN_LEND = 64 << 10;

/**
 * Write `source` to a new file at `path` (created exclusively), hashing it;
 * size and digest are checked against `expected` (CoracleError on a
 * mismatch, as DigestVerifier words it; the file is then left for the caller
 * to remove). A ResumableSource is asked again from the bytes it has when a
 * part fails and it says so; the hash goes on over them. Settles only once
 * no write to `path` is in flight.
 */
export async function writeBlobFile(path: string, source: BlobSource | ResumableSource, opts: BlobFileOptions): Promise<WrittenBlob> {
  const file = await open(path, 'wx');
  let hasher = new DigestVerifier(opts.expected, opts.what);
  let writer = new FileWriter(file);
  try {
    if (!isResumableSource(source)) {
      await copyInto(source, hasher, writer, opts.onBytes);
      await writer.flush();
    } else {
      for (;;) {
        const part = await source.open(hasher.size);
        const close = (): void => (part.data as { destroy?: () => void }).destroy?.();
        if (part.from !== hasher.size && part.from !== 0) {
          // A broken source, not a lost connection: never resumed.
          close();
          throw new Error(`${opts.what}: asked for the bytes from ${hasher.size}, got them from ${part.from}`);
        }
        try {
          if (part.from !== hasher.size) {
            // The whole blob again (the server ignored the Range): start over.
            await writer.settle();
            await file.truncate(0);
            writer = new FileWriter(file);
            hasher = new DigestVerifier(opts.expected, opts.what);
          }
          await copyInto(part.data, hasher, writer, opts.onBytes);
          await writer.flush();
          break;
        } catch (e) {
          if (!source.resume(e, hasher.size)) throw e;
          // Every byte hashed so far is in the file before more are appended.
          await writer.flush();
        } finally {
          close();
        }
      }
    }
  } finally {
    await writer.settle();
    await file.close();
  }
  return { digest: hasher.finish(), size: hasher.size };
}

function copyInto(source: BlobSource, hasher: DigestVerifier, writer: FileWriter, onBytes: ((n: number) => void) | undefined): Promise<void> {
  return isPushSource(source) ? pushInto(source, hasher, writer, onBytes) : iterateInto(source, hasher, writer, onBytes);
}

/** Chunks the source hands over and will not touch again: written as they are, batched. */
async function iterateInto(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  hasher: DigestVerifier,
  writer: FileWriter,
  onBytes: ((n: number) => void) | undefined,
): Promise<void> {
  for await (const chunk of chunks) {
    hasher.update(chunk);
    onBytes?.(chunk.length);
    if (!writer.keep(chunk)) await writer.drained();
  }
}

/**
 * A pushed body (a socket reading into reused memory): either copied into
 * the writer's buffers, or, when the producer takes lent memory, read
 * straight into them (no copy at all).
 */
function pushInto(source: PushSource, hasher: DigestVerifier, writer: FileWriter, onBytes: ((n: number) => void) | undefined): Promise<void> {
  return source.pushTo({
    write(chunk) {
      hasher.update(chunk);
      onBytes?.(chunk.length);
      return writer.copy(chunk);
    },
    space: (max) => writer.space(max),
    filled(n) {
      hasher.update(writer.fill(n));
      onBytes?.(n);
      return writer.commit();
    },
    drained: () => writer.drained(),
  });
}

/**
 * Writes to a file at explicit offsets, several writes in flight, while the
 * caller goes on producing. Takes chunks as they are (keep), copies them
 * into its own buffers (copy), or lends those buffers to be filled in place
 * (space, fill, commit).
 */
class FileWriter {
  private kept: Uint8Array[] = [];
  private keptBytes = 0;
  private cur: Buffer | undefined;
  private used = 0;
  private position = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly spare: Buffer[] = [];
  private error: unknown;

  constructor(private readonly file: FileHandle) {}

  /** Take `chunk` as it is (the caller will not change it); false: await drained() before more. */
  keep(chunk: Uint8Array): boolean {
    if (this.error) throw this.error;
    this.kept.push(chunk);
    this.keptBytes += chunk.length;
    if (this.keptBytes >= WRITE_BATCH) this.issueKept();
    return this.inflight.size < MAX_INFLIGHT;
  }

  /** Copy `chunk` in (its memory is reused by the caller); false: wait for drained() before more. */
  copy(chunk: Uint8Array): boolean {
    if (this.error) throw this.error;
    let at = 0;
    while (at < chunk.length) {
      const cur = this.buffer();
      const n = Math.min(chunk.length - at, cur.length - this.used);
      cur.set(n === chunk.length ? chunk : chunk.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === cur.length) this.issueBuffer();
    }
    return this.inflight.size < MAX_INFLIGHT;
  }

  /** Memory to fill in place: the free end of the current buffer, at most `max` bytes. */
  space(max: number): Uint8Array {
    if (this.error) throw this.error;
    // A nearly full buffer goes out as it is rather than lending a sliver.
    if (this.cur && this.cur.length - this.used < MIN_LEND) this.issueBuffer();
    const cur = this.buffer();
    return cur.subarray(this.used, this.used + Math.min(max, cur.length - this.used));
  }

  /** The first `n` bytes of the last space() hold data: returns them (valid until commit). */
  fill(n: number): Uint8Array {
    const cur = this.buffer();
    const bytes = cur.subarray(this.used, this.used + n);
    this.used += n;
    return bytes;
  }

  /** After fill(): a full buffer is written out; false: wait for drained() before more. */
  commit(): boolean {
    if (this.cur && this.used === this.cur.length) this.issueBuffer();
    return this.inflight.size < MAX_INFLIGHT;
  }

  private buffer(): Buffer {
    this.cur ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(WRITE_BATCH);
    return this.cur;
  }

  private issueKept(): void {
    if (this.keptBytes === 0) return;
    const chunks = this.kept;
    this.kept = [];
    const len = this.keptBytes;
    this.keptBytes = 0;
    this.track(this.writeAt(chunks, len));
  }

  private issueBuffer(): void {
    // Kept chunks come first in the file: a source either keeps or copies,
    // but a mixed one must stay in order.
    this.issueKept();
    const buf = this.cur;
    if (!buf || this.used === 0) return;
    const len = this.used;
    this.cur = undefined;
    this.used = 0;
    this.track(
      this.writeAt([buf.subarray(0, len)], len).then(() => {
        this.spare.push(buf);
      }),
    );
  }

  /** Write `chunks` (`len` bytes) at the next offset; a short write is continued. */
  private async writeAt(chunks: Uint8Array[], len: number): Promise<void> {
    let position = this.position;
    this.position += len;
    let rest = chunks;
    for (;;) {
      let { bytesWritten } = await this.file.writev(rest, position);
      position += bytesWritten;
      const left: Uint8Array[] = [];
      for (const c of rest) {
        if (bytesWritten >= c.length) bytesWritten -= c.length;
        else {
          left.push(c.subarray(bytesWritten));
          bytesWritten = 0;
        }
      }
      if (left.length === 0) return;
      rest = left;
    }
  }

  private track(p: Promise<void>): void {
    const tracked: Promise<void> = p.then(
      () => {
        this.inflight.delete(tracked);
      },
      (e: unknown) => {
        this.inflight.delete(tracked);
        this.error ??= e;
      },
    );
    this.inflight.add(tracked);
  }

  /** Resolves when fewer than MAX_INFLIGHT writes are in flight; throws a failed write's error. */
  async drained(): Promise<void> {
    while (this.inflight.size >= MAX_INFLIGHT) await Promise.race(this.inflight);
    if (this.error) throw this.error;
  }

  /** Write what is left and wait for every write; throws a failed write's error. */
  async flush(): Promise<void> {
    if (!this.error) this.issueBuffer();
    await this.settle();
    if (this.error) throw this.error;
  }

  /** Wait for the writes in flight, whatever their outcome. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.race(this.inflight);
  }
}
