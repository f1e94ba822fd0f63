/**
 * One initrd segment: a newc archive of one component (an init image, a
 * container, the modules, the files), compressed and zero-padded to 512
 * bytes, stored in a cache under the digest of what it holds. The kernel
 * unpacks concatenated archives one after the other, skipping zero bytes
 * between them; compressed ones are detected by magic, so gzip, zstd and
 * uncompressed segments may be mixed. lz4 segments are not padded and must
 * come last: the kernel's LZ4 unpacker consumes the rest of the initrd.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { appendFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import { compressToFile, checkLevel, DEFAULT_LEVEL } from './compress.js';
import { lz4LegacyCompress } from './lz4-legacy.js';
import { archiveSize, digestEntries, newcStream, normalizeEntries, planArchive, type NormalizedEntry } from './newc.js';
import type { BuiltSegment, Compression, InitrdEntry, SegmentOptions } from './types.js';
import { removeDeadTemps } from '../files/leftovers.js';

/** Segments are padded to this boundary. */
const swept = new Set<string>();
/** Once per cache folder and process: remove the temporary files of killed writers. */
async function sweepOnce(cacheDir: string): Promise<void> {
  if (swept.has(cacheDir)) return;
  swept.add(cacheDir);
  await removeDeadTemps(cacheDir);
}

export const SEGMENT_ALIGN = 512;
/** Bump when the bytes written for the same input change. */
const FORMAT_VERSION = 'coracle-initrd-segment/5';
/** lz4 archives up to this size are compressed in process (lz4-legacy.ts): a CLI start costs more than they do. */
export const SMALL_LZ4_ARCHIVE = 256 << 10;

const EXT: Record<Compression, string> = { gzip: 'cpio.gz', zstd: 'cpio.zst', lz4: 'cpio.lz4', none: 'cpio' };

/** $SOURCE_DATE_EPOCH when set to an integer, else 0. */
export function defaultMtime(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  if (s !== undefined && /^\d+$/.test(s.trim())) return Number(s.trim());
  return 0;
}

function canonicalEntries(entries: readonly NormalizedEntry[]): unknown[] {
  return entries.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.digest ?? null, e.linkTarget ?? null, e.rdev ? [e.rdev.major, e.rdev.minor] : null, e.replace === true]);
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

// The small files of a segment lookup (its stat, its .json) are read and written
// synchronously: a thread-pool round trip costs more than the work (warm rebuilds make dozens).
async function existingSize(path: string): Promise<number | undefined> {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** What a cached segment holds, kept beside it (`<segment>.json`) so a lookup by key needs no entry list. */
interface SegmentMeta {
  archiveSize: number;
  entries: number;
  /** The segment file's size as written (older entries lack it). */
  size?: number;
}

/**
 * Whether a cached segment file is whole: the size its metadata recorded,
 * or (metadata written before sizes were) a padded, non-empty size.
 * Unpadded lz4 segments always have their size recorded.
 */
function isWhole(size: number | undefined, meta: SegmentMeta | undefined, compression: Compression): boolean {
  if (size === undefined || size === 0) return false;
  if (meta?.size !== undefined) return meta.size === size;
  return compression !== 'lz4' && size % SEGMENT_ALIGN === 0;
}

async function writeMeta(segmentPath: string, meta: SegmentMeta): Promise<void> {
  const tmp = `${segmentPath}.json.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(meta) + '\n');
  renameSync(tmp, `${segmentPath}.json`);
}

async function readMeta(segmentPath: string): Promise<SegmentMeta | undefined> {
  try {
    const m = JSON.parse(readFileSync(`${segmentPath}.json`, 'utf8')) as SegmentMeta;
    return Number.isInteger(m.archiveSize) && Number.isInteger(m.entries) ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Look a segment up by the caller's content key alone (the `key` option of
 * writeSegment), without building its entry list: a warm rebuild then reads
 * neither image layers nor file data. Undefined when it is not cached.
 */
export async function cachedSegment(
  key: string,
  opts: { compression: Compression; level?: number; cacheDir: string; name?: string; dedupe?: boolean },
): Promise<BuiltSegment | undefined> {
  const level = opts.level ?? DEFAULT_LEVEL[opts.compression];
  checkLevel(opts.compression, level);
  const k = segmentKey({ key }, { compression: opts.compression, level, dedupe: opts.dedupe ?? false });
  const path = join(opts.cacheDir, `${k}.${EXT[opts.compression]}`);
  const size = await existingSize(path);
  if (size === undefined) return undefined;
  const meta = await readMeta(path);
  if (meta === undefined || !isWhole(size, meta, opts.compression)) return undefined;
  return { name: opts.name ?? 'segment', path, key: k, compression: opts.compression, size, archiveSize: meta.archiveSize, entries: meta.entries, cached: true };
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

  mkdirSync(opts.cacheDir, { recursive: true });
  const path = join(opts.cacheDir, `${key}.${EXT[compression]}`);
  if (dedupe) await digestEntries(normalized);
  const plan = planArchive(normalized, { dedupe });
  const rawSize = archiveSize(plan);

  const size = await existingSize(path);
  const meta = size !== undefined ? await readMeta(path) : undefined;
  if (isWhole(size, meta, compression)) {
    if (meta === undefined) await writeMeta(path, { archiveSize: rawSize, entries: normalized.length, size: size! });
    return { name, path, key, compression, size: size!, archiveSize: rawSize, entries: normalized.length, cached: true };
  }

  await sweepOnce(opts.cacheDir);
  const tmp = join(opts.cacheDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const written =
      compression === 'lz4' && rawSize <= SMALL_LZ4_ARCHIVE ? await writeSmallLz4(newcStream(plan), tmp) : await compressToFile(newcStream(plan), tmp, compression, level);
    if (written !== rawSize) throw new Error(`internal: archive of ${name} is ${written} bytes, planned ${rawSize}`);
    const compressedSize = statSync(tmp).size;
    // The kernel's LZ4 unpacker reads to the end of the initrd (legacy LZ4 has no end
    // mark; it skips the magic of the next stream but not zeros): no padding after lz4.
    const pad = compression === 'lz4' ? 0 : (SEGMENT_ALIGN - (compressedSize % SEGMENT_ALIGN)) % SEGMENT_ALIGN;
    if (pad > 0) await appendFile(tmp, Buffer.alloc(pad));
    await writeMeta(path, { archiveSize: rawSize, entries: normalized.length, size: compressedSize + pad });
    renameSync(tmp, path);
    return { name, path, key, compression, size: compressedSize + pad, archiveSize: rawSize, entries: normalized.length, cached: false };
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof CoracleError) throw new CoracleError(`${e.message} (segment ${name})`, { cause: e });
    throw e;
  }
}

/** A small archive compressed in process; returns its uncompressed size. */
async function writeSmallLz4(chunks: AsyncIterable<Uint8Array>, path: string): Promise<number> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  const raw = Buffer.concat(parts);
  writeFileSync(path, lz4LegacyCompress(raw));
  return raw.length;
}

/**
 * Remove cached segments (and their metadata) other than `keep` from the
 * cache directory, e.g. after a build, keeping what it used. Leftover
 * temporary files older than an hour go too; younger ones may belong to a
 * build running now.
 */
export async function pruneSegmentCache(
  cacheDir: string,
  keep: Iterable<BuiltSegment | string>,
): Promise<{ removed: number; bytes: number }> {
  const keepNames = new Set<string>();
  for (const k of keep) keepNames.add(typeof k === 'string' ? k : (k.path.split('/').pop() ?? ''));
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return { removed: 0, bytes: 0 };
  }
  const segment = /^[0-9a-f]{64}\.(cpio|cpio\.gz|cpio\.zst)(\.json)?$/;
  const now = Date.now();
  let removed = 0;
  let bytes = 0;
  for (const n of names) {
    const m = segment.exec(n);
    const p = join(cacheDir, n);
    let st;
    try {
      st = await stat(p);
    } catch {
      continue;
    }
    const stale = m === null && n.includes('.tmp-') && now - st.mtimeMs > 3_600_000;
    const unused = m !== null && !keepNames.has(m[2] ? n.slice(0, -'.json'.length) : n);
    if (!stale && !unused) continue;
    await rm(p, { force: true });
    removed++;
    bytes += st.size;
  }
  return { removed, bytes };
}
