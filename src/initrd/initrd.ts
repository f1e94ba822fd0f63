/** The initrd: cached segments concatenated, written atomically. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeSegment } from './segment.js';
import type { BuiltSegment, InitrdOptions, InitrdResult, SegmentInput } from './types.js';

function isBuilt(s: SegmentInput | BuiltSegment): s is BuiltSegment {
  return 'path' in s && 'key' in s && 'cached' in s;
}

/** The kernel's LZ4 unpacker reads to the end of the image: nothing but LZ4 may follow an LZ4 segment. */
export function checkLz4Last(segments: ReadonlyArray<Pick<BuiltSegment, 'name' | 'compression'>>): void {
  const first = segments.findIndex((s) => s.compression === 'lz4');
  const after = first < 0 ? undefined : segments.slice(first).find((s) => s.compression !== 'lz4');
  if (after) throw new Error(`internal: initrd segment ${after.name} (${after.compression}) follows the lz4 segment ${segments[first]!.name}: lz4 segments must come last`);
}

/**
 * Build every segment not built yet (each cached on its own), then write
 * their concatenation to `outPath` through a temporary file and a rename: a
 * failure leaves any previous initrd at `outPath` untouched.
 */
export async function writeInitrd(
  segments: ReadonlyArray<SegmentInput | BuiltSegment>,
  outPath: string,
  opts: InitrdOptions,
): Promise<InitrdResult> {
  const built: BuiltSegment[] = [];
  for (const s of segments) {
    if (isBuilt(s)) {
      built.push(s);
      continue;
    }
    const so: Parameters<typeof writeSegment>[1] = {
      name: s.name,
      compression: s.compression ?? opts.compression,
      cacheDir: opts.cacheDir,
    };
    const level = s.level ?? (so.compression === opts.compression ? opts.level : undefined);
    if (level !== undefined) so.level = level;
    const mtime = s.mtime ?? opts.mtime;
    if (mtime !== undefined) so.mtime = mtime;
    if (s.key !== undefined) so.key = s.key;
    if (s.dedupe !== undefined) so.dedupe = s.dedupe;
    built.push(await writeSegment(s.entries, so));
  }

  checkLz4Last(built);
  await mkdir(dirname(outPath), { recursive: true });
  const tmp = join(dirname(outPath), `.${basename(outPath)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const out = createWriteStream(tmp);
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(
      (async function* () {
        for (const s of built) yield* createReadStream(s.path, { highWaterMark: 1 << 20 });
      })(),
      tap,
      out,
    );
    await rename(tmp, outPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return { path: outPath, size, sha256: hash.digest('hex'), segments: built };
}
