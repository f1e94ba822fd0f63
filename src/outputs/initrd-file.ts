/**
 * Writing NAME-initrd.img from cached segment files with plain reads and
 * writes of large blocks (no hashing, no stream machinery), and rewriting
 * only the tail of an initrd whose leading segments did not change.
 */
import { open, truncate } from 'node:fs/promises';

/** One piece of the initrd: a cached, padded segment file (or the microcode cpio). */
export interface InitrdPart {
  key: string;
  path: string;
  size: number;
}

const BLOCK = 4 << 20;

/** Append the files, in order, to `dest` (created when missing). */
export async function appendParts(dest: string, parts: readonly InitrdPart[]): Promise<void> {
  const out = await open(dest, 'a');
  const buf = Buffer.allocUnsafe(BLOCK);
  try {
    for (const p of parts) {
      const src = await open(p.path, 'r');
      try {
        let done = 0;
        for (;;) {
          const { bytesRead } = await src.read(buf, 0, BLOCK, null);
          if (bytesRead === 0) break;
          await out.write(buf, 0, bytesRead);
          done += bytesRead;
        }
        if (done !== p.size) throw new Error(`internal: segment ${p.path} is ${done} bytes, expected ${p.size}`);
      } finally {
        await src.close();
      }
    }
  } finally {
    await out.close();
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
  await truncate(file, prefix.bytes);
  await appendParts(file, parts.slice(prefix.count));
}
