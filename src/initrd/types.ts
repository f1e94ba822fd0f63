/**
 * The boundary between assembly and initrd writing.
 *
 * The assembler unpacks OCI layers (whiteouts and opaque directories already
 * applied, see `FsTree` in ./tree.ts), adds generated files (config.json,
 * runtime.json, `files:` entries) and hands each component to the initrd
 * writer as a list of `InitrdEntry`. The writer turns one list into one newc
 * cpio segment, compresses it, caches it by content, and concatenates
 * segments into the initrd.
 *
 * Conventions:
 * - `path` is relative to the initramfs root, '/'-separated, without a
 *   leading '/' or './', without '.'/'..' components and without a trailing
 *   slash: `containers/services/sshd/rootfs/bin/sh`.
 * - `mode` holds permission bits only (0o7777, including setuid/setgid/
 *   sticky); the writer adds the file-type bits from `type`.
 * - Entries are written in the order given; a parent directory must come
 *   before what it holds (FsTree.entries() returns that order).
 * - A `hardlink` entry names, in `linkTarget`, the path of a regular `file`
 *   entry of the SAME segment (the kernel forgets hardlinks at the end of each
 *   archive). It takes that file's inode, metadata and data.
 */

/** Where a regular file's bytes come from. The size must be known before writing. */
export type DataSource =
  /** Bytes held in memory. */
  | { kind: 'buffer'; data: Uint8Array; digest?: string }
  /**
   * A host file, or a byte range of it (`offset`, `size`): e.g. a file
   * already unpacked into a scratch directory, or an uncompressed blob.
   * `size` defaults to the file's size minus `offset` (stat at planning time).
   */
  | { kind: 'file'; path: string; offset?: number; size?: number; digest?: string }
  /**
   * Anything readable, opened on demand (maybe twice: once to hash when no
   * `digest` is given, once to write). It must yield exactly `size` bytes.
   */
  | { kind: 'stream'; size: number; digest?: string; open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream> };

export type InitrdEntryType = 'dir' | 'file' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface InitrdEntry {
  path: string;
  type: InitrdEntryType;
  /** Permission bits (0o7777). Ignored for `hardlink` (the target's mode is used); symlinks are always 0o777. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; defaults to the segment's mtime (SOURCE_DATE_EPOCH or 0). */
  mtime?: number;
  /** `file` only. Absent means an empty file. */
  data?: DataSource;
  /** `symlink`: the link's target, as stored. `hardlink`: the path of the file entry it links to. */
  linkTarget?: string;
  /** `char` and `block`: device numbers. */
  rdev?: { major: number; minor: number };
  /**
   * `file`/`hardlink`: the path may already exist from an EARLIER segment.
   * The kernel opens an existing regular file in place, so a new file over a
   * path that an earlier segment hardlinked would write through to every
   * link. With `replace`, the writer first emits a placeholder of another
   * type at the path, which makes the kernel unlink the old one.
   */
  replace?: boolean;
}

export type Compression = 'gzip' | 'zstd' | 'lz4' | 'none';

export interface SegmentOptions {
  compression: Compression;
  /** gzip 1-9 (default 6), zstd 1-19 (default 9; above 19 the window exceeds the kernel's 8 MiB limit). */
  level?: number;
  /** Directory holding cached segments (created if missing). */
  cacheDir: string;
  /** Default mtime for entries without one; defaults to $SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  /**
   * A content key the caller already knows for this entry list (e.g. the
   * image digest and the generated config's digest). When given, data is not
   * hashed to decide a cache hit. It must change whenever any entry changes.
   */
  key?: string;
  /**
   * Store identical regular files (same data, mode, owner, mtime) once, as
   * newc hardlinks. Safe for read-only trees: the hardlinked copies share an
   * inode once unpacked.
   */
  dedupe?: boolean;
  /** A name for messages and the segment list (e.g. `services/sshd`). */
  name?: string;
}

/** A compressed, padded segment in the cache, ready to be concatenated. */
export interface BuiltSegment {
  name: string;
  /** The cache file holding the segment (compressed archive + zero padding to 512 bytes). */
  path: string;
  /** sha256 hex of what the segment holds (entries, data digests, options): the cache key. */
  key: string;
  compression: Compression;
  /** Bytes of the file at `path`, a multiple of 512. */
  size: number;
  /** Bytes of the uncompressed cpio archive (before padding). */
  archiveSize: number;
  entries: number;
  /** True when the segment was found in the cache and nothing was written. */
  cached: boolean;
}

/** One component of the initrd, as `writeInitrd` takes it. */
export interface SegmentInput {
  name: string;
  entries: readonly InitrdEntry[];
  compression?: Compression;
  level?: number;
  key?: string;
  dedupe?: boolean;
  mtime?: number;
}

export interface InitrdOptions {
  /** Default compression for segments that do not set one. */
  compression: Compression;
  cacheDir: string;
  level?: number;
  mtime?: number;
}

export interface InitrdResult {
  path: string;
  size: number;
  /** sha256 hex of the written initrd. */
  sha256: string;
  segments: BuiltSegment[];
}
