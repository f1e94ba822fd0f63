/**
 * The newc ("070701") cpio format, as the kernel's initramfs unpacker reads
 * it (init/initramfs.c):
 * - a 110-byte ASCII header of thirteen 8-hex-digit fields, then the
 *   NUL-terminated name, padded to a multiple of 4; then the body, padded to 4;
 * - hardlinks: entries sharing (ino, devmajor, devminor, file type) with
 *   nlink >= 2 are linked to the first one seen; every entry of the group
 *   after the first opens the same inode, and only the one carrying a body
 *   writes data. We put the data on the LAST entry of the group (GNU cpio does
 *   the same): older kernels open later links with O_TRUNC, so data on the
 *   first entry would be lost. The kernel forgets links at each TRAILER!!!,
 *   so a group never spans segments;
 * - the archive ends with an entry named TRAILER!!!.
 * Every numeric field is 32 bits: a file of 4 GiB or more cannot be stored.
 */
import { CoracleError } from '../errors.js';
import { openSource, sourceDigest, sourceSize } from './source.js';
import type { DataSource, InitrdEntry, InitrdEntryType } from './types.js';

export const NEWC_MAGIC = '070701';
export const NEWC_TRAILER = 'TRAILER!!!';
/** Largest value of a newc header field (8 hex digits). */
export const NEWC_FIELD_MAX = 0xffff_ffff;
/** The kernel refuses names longer than PATH_MAX (4096 with the NUL). */
export const NEWC_NAME_MAX = 4095;
const HEADER_LEN = 110;

const S_IFMT: Record<InitrdEntryType, number> = {
  fifo: 0o010000,
  char: 0o020000,
  dir: 0o040000,
  block: 0o060000,
  file: 0o100000,
  hardlink: 0o100000,
  symlink: 0o120000,
};

export interface NewcHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  name: string;
}

const FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor'] as const;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function hex8(v: number): string {
  return v.toString(16).toUpperCase().padStart(8, '0');
}

/** Header + name + NUL + padding to 4 bytes (the header starts 4-aligned). */
export function encodeHeader(h: NewcHeader): Buffer {
  const name = Buffer.from(h.name, 'utf8');
  const namesize = name.length + 1;
  let s = NEWC_MAGIC;
  for (const f of FIELDS) s += hex8(h[f]);
  s += hex8(namesize) + hex8(0);
  const out = Buffer.alloc(HEADER_LEN + namesize + pad4(HEADER_LEN + namesize));
  out.write(s, 0, 'latin1');
  name.copy(out, HEADER_LEN);
  return out;
}

/** An entry checked and completed: path normalised, mtime and size resolved. */
export interface NormalizedEntry {
  path: string;
  type: InitrdEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Body size: file data length, symlink target length, else 0. */
  size: number;
  data?: DataSource;
  linkTarget?: string;
  rdev?: { major: number; minor: number };
  /** `sha256:<hex>` of a file's data, once computed. */
  digest?: string;
  /** Unlink what an earlier segment left at this path first (see InitrdEntry.replace). */
  replace?: boolean;
}

function fail(path: string, msg: string): never {
  throw new CoracleError(`initrd: ${path}: ${msg}`);
}

function checkField(path: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) fail(path, `${what} ${v} is not a non-negative integer`);
  if (v > NEWC_FIELD_MAX) fail(path, `${what} ${v} does not fit in newc cpio's 32-bit header field`);
}

/** `a/b/c` from `/a/b/c`, `./a/b/c/`; refuses empty, `.`, `..` components and NUL. */
export function normalizeEntryPath(p: string): string {
  if (p.includes('\0')) fail(JSON.stringify(p), 'path contains a NUL byte');
  let s = p;
  while (s.startsWith('./')) s = s.slice(2);
  s = s.replace(/^\/+/, '').replace(/\/+$/, '');
  const parts = s.split('/');
  if (s === '' || parts.some((c) => c === '' || c === '.' || c === '..')) fail(JSON.stringify(p), 'not a clean relative path');
  if (Buffer.byteLength(s) > NEWC_NAME_MAX) fail(s.slice(0, 60) + '...', `path longer than ${NEWC_NAME_MAX} bytes`);
  return s;
}

/**
 * Validate every entry and resolve sizes BEFORE anything is written, so an
 * over-large file or a bad field fails the build without a partial output.
 */
export async function normalizeEntries(entries: readonly InitrdEntry[], defaultMtime: number): Promise<NormalizedEntry[]> {
  const seen = new Set<string>();
  const out: NormalizedEntry[] = [];
  for (const e of entries) {
    const path = normalizeEntryPath(e.path);
    if (seen.has(path)) fail(path, 'appears twice in one segment');
    seen.add(path);
    if (!(e.type in S_IFMT)) fail(path, `unknown entry type ${String(e.type)}`);
    const mode = e.type === 'symlink' ? 0o777 : e.mode & 0o7777;
    if ((e.mode & ~0o7777 & 0o177777) !== 0 && (e.mode & 0o170000) !== S_IFMT[e.type]) {
      fail(path, `mode ${e.mode.toString(8)} has file-type bits that do not match type ${e.type}`);
    }
    const mtime = e.mtime ?? defaultMtime;
    checkField(path, 'uid', e.uid);
    checkField(path, 'gid', e.gid);
    checkField(path, 'mtime', mtime);
    let size = 0;
    if (e.type === 'file' && e.data !== undefined) {
      size = await sourceSize(e.data, path);
      if (!Number.isInteger(size) || size < 0) fail(path, `invalid data size ${size}`);
      if (size > NEWC_FIELD_MAX) {
        fail(path, `file is ${size} bytes; newc cpio stores at most ${NEWC_FIELD_MAX} bytes (4 GiB - 1) per file`);
      }
    }
    if (e.type === 'symlink' || e.type === 'hardlink') {
      if (e.linkTarget === undefined || e.linkTarget === '') fail(path, `${e.type} without linkTarget`);
      if (e.type === 'symlink') size = Buffer.byteLength(e.linkTarget);
    }
    if (e.type === 'char' || e.type === 'block') {
      if (e.rdev === undefined) fail(path, `${e.type} device without rdev`);
      checkField(path, 'rdev major', e.rdev.major);
      checkField(path, 'rdev minor', e.rdev.minor);
    }
    const n: NormalizedEntry = { path, type: e.type, mode, uid: e.uid, gid: e.gid, mtime, size };
    if (e.type === 'file' && e.data !== undefined && size > 0) n.data = e.data;
    if (e.linkTarget !== undefined && (e.type === 'symlink' || e.type === 'hardlink')) {
      n.linkTarget = e.type === 'hardlink' ? normalizeEntryPath(e.linkTarget) : e.linkTarget;
    }
    if (e.rdev !== undefined && (e.type === 'char' || e.type === 'block')) n.rdev = { major: e.rdev.major, minor: e.rdev.minor };
    if (e.replace === true && (e.type === 'file' || e.type === 'hardlink')) n.replace = true;
    out.push(n);
  }
  return out;
}

/** Compute the sha256 of every file's data that lacks one. */
export async function digestEntries(entries: NormalizedEntry[]): Promise<void> {
  for (const e of entries) {
    if (e.type === 'file' && e.digest === undefined) {
      e.digest = e.data === undefined ? EMPTY_DIGEST : await sourceDigest(e.data, e.size);
    }
  }
}

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface PlannedEntry {
  header: NewcHeader;
  /** A fifo header at the same path, written first so the kernel unlinks an older file there. */
  placeholder?: NewcHeader;
  data?: DataSource;
  /** Symlink target bytes. */
  body?: Buffer;
}

/**
 * Assign inode numbers (1, 2, ... in order of first appearance: same input,
 * same numbers), group hardlinks (explicit ones, plus identical files when
 * `dedupe`), and decide which entry of each group carries the data.
 */
export function planArchive(entries: readonly NormalizedEntry[], opts: { dedupe?: boolean } = {}): PlannedEntry[] {
  const index = new Map<string, number>();
  entries.forEach((e, i) => index.set(e.path, i));

  // group[i] = index of the file entry whose inode entry i shares.
  const group = new Array<number>(entries.length).fill(-1);
  const byContent = new Map<string, number>();
  entries.forEach((e, i) => {
    if (e.type !== 'file') return;
    group[i] = i;
    if (opts.dedupe && e.size > 0) {
      if (e.digest === undefined) throw new Error(`internal: ${e.path} has no digest for dedupe`);
      const k = `${e.digest}\0${e.size}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.mtime}`;
      const first = byContent.get(k);
      if (first === undefined) byContent.set(k, i);
      else group[i] = first;
    }
  });
  entries.forEach((e, i) => {
    if (e.type !== 'hardlink') return;
    let t = index.get(e.linkTarget!);
    for (let hops = 0; t !== undefined && entries[t]!.type === 'hardlink' && hops < entries.length; hops++) {
      t = index.get(entries[t]!.linkTarget!);
    }
    if (t === undefined || entries[t]!.type !== 'file') {
      fail(e.path, `hardlink target ${e.linkTarget} is not a regular file in the same segment`);
    }
    group[i] = group[t];
  });

  const members = new Map<number, number[]>();
  group.forEach((g, i) => {
    if (g < 0) return;
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });

  let nextIno = 1;
  const groupIno = new Map<number, number>();
  return entries.map((e, i) => {
    const g = group[i]!;
    let ino: number;
    let nlink = e.type === 'dir' ? 2 : 1;
    let filesize = e.type === 'symlink' ? e.size : 0;
    let data: DataSource | undefined;
    let meta: NormalizedEntry = e;
    if (g >= 0) {
      const list = members.get(g)!;
      const rep = entries[g]!;
      meta = rep;
      const known = groupIno.get(g);
      ino = known ?? nextIno++;
      if (known === undefined) groupIno.set(g, ino);
      nlink = list.length;
      if (list[list.length - 1] === i) {
        filesize = rep.size;
        data = rep.data;
      }
    } else {
      ino = nextIno++;
    }
    const rdev = e.rdev ?? { major: 0, minor: 0 };
    const header: NewcHeader = {
      ino,
      mode: S_IFMT[e.type] | meta.mode,
      uid: meta.uid,
      gid: meta.gid,
      nlink,
      mtime: meta.mtime,
      filesize,
      devmajor: 0,
      devminor: 0,
      rdevmajor: rdev.major,
      rdevminor: rdev.minor,
      name: e.path,
    };
    const p: PlannedEntry = { header };
    if (e.replace) {
      // The kernel's clean_path() unlinks an existing path whose file type
      // differs from the new entry's; a fifo makes any regular file differ.
      p.placeholder = { ...header, ino: nextIno++, mode: S_IFMT.fifo, nlink: 1, filesize: 0, rdevmajor: 0, rdevminor: 0 };
    }
    if (data !== undefined && filesize > 0) p.data = data;
    if (e.type === 'symlink') p.body = Buffer.from(e.linkTarget!, 'utf8');
    return p;
  });
}

const TRAILER_HEADER: NewcHeader = {
  ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0,
  devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, name: NEWC_TRAILER,
};

/**
 * The archive as a stream of chunks: headers, bodies read from their sources
 * as they are needed, and the trailer. Bodies are checked against the sizes
 * planned in the headers (a file that changed meanwhile fails the build).
 * The stream is NOT padded beyond the 4-byte rule; the segment writer pads.
 */
export async function* newcStream(plan: readonly PlannedEntry[]): AsyncGenerator<Uint8Array> {
  for (const p of plan) {
    if (p.placeholder !== undefined) yield encodeHeader(p.placeholder);
    yield encodeHeader(p.header);
    const size = p.header.filesize;
    if (p.body !== undefined) {
      yield p.body;
    } else if (p.data !== undefined) {
      let got = 0;
      for await (const chunk of await openSource(p.data, size)) {
        const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        got += c.byteLength;
        if (got > size) break;
        yield c;
      }
      if (got !== size) fail(p.header.name, `data source yielded ${got} bytes, ${got > size ? 'more' : 'fewer'} than the ${size} planned`);
    }
    const pad = pad4(size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield encodeHeader(TRAILER_HEADER);
}

/** Size of the archive the plan produces (headers, names, bodies, padding, trailer). */
export function archiveSize(plan: readonly PlannedEntry[]): number {
  let n = 0;
  const hdr = (name: string): number => {
    const ns = Buffer.byteLength(name) + 1;
    return HEADER_LEN + ns + pad4(HEADER_LEN + ns);
  };
  for (const p of plan) {
    if (p.placeholder !== undefined) n += hdr(p.placeholder.name);
    n += hdr(p.header.name) + p.header.filesize + pad4(p.header.filesize);
  }
  return n + hdr(NEWC_TRAILER);
}
