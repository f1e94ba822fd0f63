import type { PushSource } from './push-source.js';

/** Bytes of a blob as one source hands them over (see blob-writer.ts). */
export type BlobSource = Iterable<Uint8Array> | AsyncIterable<Uint8Array> | PushSource;

/** One answer of a resumable source: the bytes from `from` on. */
export interface ResumedPart {
  data: BlobSource;
  /**
   * Where `data` starts in the blob: the offset asked for, or 0 when the
   * source sent the whole blob again (a registry that ignores Range).
   */
  from: number;
}

/**
 * A blob download that can be asked again from an offset after its
 * connection is lost (a registry GET with `Range: bytes=N-`). The writer
 * keeps the bytes it has, and its hash of them, across the parts, so the
 * digest is still verified over the whole blob.
 */
export interface ResumableSource {
  /** Marks the kind (a Readable has open() and resume() methods of its own). */
  readonly resumable: true;
  /** The blob's bytes from `offset` on (0: all of it). */
  open(offset: number): Promise<ResumedPart>;
  /**
   * A part failed with `error` after the writer had `have` bytes in all:
   * true to open again from `have`, false to give up (the error is thrown).
   */
  resume(error: unknown, have: number): boolean;
}

export function isResumableSource(x: unknown): x is ResumableSource {
  return typeof x === 'object' && x !== null && (x as { resumable?: unknown }).resumable === true;
}
