/**
 * Writing NAME-initrd.img from cached segment files with plain reads and
 * writes of large blocks (no hashing, no stream machinery), and rewriting
 * only the tail of an initrd whose leading segments did not change.
 */
import { closeSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';

/** One piece of the initrd: a cached, padded segment file (or the microcode cpio). */
export interface InitrdPart {
  key: string;
  path: string;
  size: number;
}

const BLOCK = 4 << 20;

/**
 * Append the files, in order, to `dest` (created when missing). Synchronous
 * reads and writes of large blocks: a one-file rebuild appends one small
 * segment, where thread-pool round trips would cost more than the copy.
 */
export async function appendParts(dest: string, parts: readonly InitrdPart[]): Promise<void> {
  const out = openSync(dest, 'a');
  const buf = Buffer.allocUnsafe(Math.min(BLOCK, Math.max(4096, ...parts.map((p) => p.size))));
  try {
    for (const p of parts) {
      const src = openSync(p.path, 'r');
      try {
        let done = 0;
        for (;;) {
          const n = readSync(src, buf, 0, buf.length, null);
          if (n === 0) break;
          for (let w = 0; w < n; ) w += writeSync(out, buf, w, n - w);
          done += n;
        }
        if (done !== p.size) throw new Error(`internal: segment ${p.path} is ${done} bytes, expected ${p.size}`);
      } finally {
        closeSync(src);
      }
    }
  } finally {
    closeSync(out);
  }
}

/** How many leading parts `prev` and `next` share, and their bytes. */
export function sharedPrefix(prev: readonly InitrdPart[], next: readonly InitrdPart[]): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  while (count < prev.length && count < next.length && prev[count]!.key === next[count]!.key && prev[count]!.size === next[count]!.size) {
    bytes += prev[count]!.size;
    count++;
  }
  return { count, bytes };
}

/** Cut `file` back to the shared prefix and append the parts after it. */
export async function replaceTail(file: string, prefix: { count: number; bytes: number }, parts: readonly InitrdPart[]): Promise<void> {
  truncateSync(file, prefix.bytes);
  await appendParts(file, parts.slice(prefix.count));
}
