/**
 * One initrd segment: a newc archive of one component (an init image, a
 * container, the modules, the files), compressed and zero-padded to 512
 * bytes, stored in a cache under the digest of what it holds. The kernel
 * unpacks concatenated archives one after the other, skipping zero bytes
 * between them; compressed ones are detected by magic, so gzip, zstd and
 * uncompressed segments may be mixed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import { compressToFile, checkLevel, DEFAULT_LEVEL } from './compress.js';
import { archiveSize, digestEntries, newcStream, normalizeEntries, planArchive, type NormalizedEntry } from './newc.js';
import type { BuiltSegment, Compression, InitrdEntry, SegmentOptions } from './types.js';

/** Segments are padded to this boundary. */
export const SEGMENT_ALIGN = 512;
/** Bump when the bytes written for the same input change. */
const FORMAT_VERSION = 'coracle-initrd-segment/1';

const EXT: Record<Compression, string> = { gzip: 'cpio.gz', zstd: 'cpio.zst', none: 'cpio' };

/** $SOURCE_DATE_EPOCH when set to an integer, else 0. */
export function defaultMtime(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  if (s !== undefined && /^\d+$/.test(s.trim())) return Number(s.trim());
  return 0;
}

function canonicalEntries(entries: readonly NormalizedEntry[]): unknown[] {
  return entries.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.digest ?? null, e.linkTarget ?? null, e.rdev ? [e.rdev.major, e.rdev.minor] : null]);
}

/** The cache key of a segment: sha256 hex over the format version, options and entry list (with data digests, or the caller's key). */
export function segmentKey(
  content: { entries: readonly NormalizedEntry[] } | { key: string },
  opts: { compression: Compression; level: number; dedupe: boolean },
): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([FORMAT_VERSION, opts.compression, opts.level, opts.dedupe]));
  if ('key' in content) h.update('\0key\0' + content.key);
  else h.update('\0entries\0' + JSON.stringify(canonicalEntries(content.entries)));
  return h.digest('hex');
}

async function existingSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Build (or find in the cache) the segment holding `entries`. A cache hit
 * writes nothing. A miss writes the segment under a temporary name and
 * renames it into place, so the cache only ever holds whole segments.
 */
export async function writeSegment(entries: readonly InitrdEntry[], opts: SegmentOptions): Promise<BuiltSegment> {
  const compression = opts.compression;
  const level = opts.level ?? DEFAULT_LEVEL[compression];
  checkLevel(compression, level);
  const dedupe = opts.dedupe ?? false;
  const name = opts.name ?? 'segment';
  const mtime = opts.mtime ?? defaultMtime();

  const normalized = await normalizeEntries(entries, mtime);
  if (opts.key === undefined) await digestEntries(normalized);
  const key = segmentKey(opts.key === undefined ? { entries: normalized } : { key: opts.key }, { compression, level, dedupe });

  await mkdir(opts.cacheDir, { recursive: true });
  const path = join(opts.cacheDir, `${key}.${EXT[compression]}`);
  if (dedupe) await digestEntries(normalized);
  const plan = planArchive(normalized, { dedupe });
  const rawSize = archiveSize(plan);

  const size = await existingSize(path);
  if (size !== undefined && size % SEGMENT_ALIGN === 0 && size > 0) {
    return { name, path, key, compression, size, archiveSize: rawSize, entries: normalized.length, cached: true };
  }

  const tmp = join(opts.cacheDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const written = await compressToFile(newcStream(plan), tmp, compression, level);
    if (written !== rawSize) throw new Error(`internal: archive of ${name} is ${written} bytes, planned ${rawSize}`);
    const compressedSize = (await stat(tmp)).size;
    const pad = (SEGMENT_ALIGN - (compressedSize % SEGMENT_ALIGN)) % SEGMENT_ALIGN;
    if (pad > 0) await appendFile(tmp, Buffer.alloc(pad));
    await rename(tmp, path);
    return { name, path, key, compression, size: compressedSize + pad, archiveSize: rawSize, entries: normalized.length, cached: false };
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof CoracleError) throw new CoracleError(`${e.message} (segment ${name})`, { cause: e });
    throw e;
  }
}

/**
 * The cached segment for a caller's content key, or undefined: lets a caller
 * skip producing entries (unpacking images) when nothing changed.
 */
export async function cachedSegment(
  key: string,
  opts: Pick<SegmentOptions, 'compression' | 'level' | 'cacheDir' | 'dedupe' | 'name'>,
): Promise<BuiltSegment | undefined> {
  const compression = opts.compression;
  const level = opts.level ?? DEFAULT_LEVEL[compression];
  const k = segmentKey({ key }, { compression, level, dedupe: opts.dedupe ?? false });
  const path = join(opts.cacheDir, `${k}.${EXT[compression]}`);
  const size = await existingSize(path);
  if (size === undefined || size === 0 || size % SEGMENT_ALIGN !== 0) return undefined;
  return { name: opts.name ?? 'segment', path, key: k, compression, size, archiveSize: -1, entries: -1, cached: true };
}
