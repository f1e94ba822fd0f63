import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { CoracleError } from '../../errors.js';
import { readTar } from '../../tar/index.js';

/**
 * Read-only access to the files of an image archive, whether it is a folder
 * or a tar file (random access through an index of member offsets, so a
 * large archive is neither extracted nor read twice into memory).
 */
export interface ArchiveSource {
  /** What to call it in messages (the path the user gave). */
  readonly label: string;
  exists(path: string): Promise<boolean>;
  size(path: string): Promise<number>;
  readFile(path: string): Promise<Buffer>;
  open(path: string): Readable;
  /** The first `n` bytes (fewer when the file is shorter). */
  head(path: string, n: number): Promise<Buffer>;
}

async function readHead(file: string, offset: number, n: number): Promise<Buffer> {
  const h = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await h.read(buf, 0, n, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await h.close();
  }
}

/** `./a//b/` -> `a/b` */
export function normalizeMember(path: string): string {
  const n = posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
  return n === '.' ? '' : n;
}

export function dirSource(dir: string): ArchiveSource {
  const resolve = (p: string) => {
    const n = normalizeMember(p);
    if (n.startsWith('..')) throw new CoracleError(`${dir}: path ${p} leaves the archive`);
    return join(dir, n);
  };
  return {
    label: dir,
    async exists(p) {
      try {
        return (await stat(resolve(p))).isFile();
      } catch {
        return false;
      }
    },
    async size(p) {
      return (await stat(resolve(p))).size;
    },
    async readFile(p) {
      try {
        return await readFile(resolve(p));
      } catch (e) {
        throw new CoracleError(`${dir}: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    },
    open(p) {
      return createReadStream(resolve(p), { highWaterMark: 1 << 20 });
    },
    async head(p, n) {
      return readHead(resolve(p), 0, n);
    },
  };
}

interface Member {
  type: string;
  offset: number;
  size: number;
  linkpath: string;
}

/** Index a tar file's members (one streaming pass), then serve them by offset. */
export async function tarSource(file: string): Promise<ArchiveSource> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new CoracleError(`${file}: cannot open: ${e.code ?? e.message}`);
  });
  const magic = Buffer.alloc(6);
  await fh.read(magic, 0, 6, 0);
  await fh.close();
  if (magic[0] === 0x1f && magic[1] === 0x8b) throw new CoracleError(`${file}: is gzip-compressed; decompress it first (gunzip)`);
  if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd)
    throw new CoracleError(`${file}: is zstd-compressed; decompress it first (zstd -d)`);

  const members = new Map<string, Member>();
  for await (const e of readTar(createReadStream(file, { highWaterMark: 1 << 20 }), { name: file })) {
    members.set(normalizeMember(e.path), { type: e.type, offset: e.dataOffset, size: e.size, linkpath: e.linkpath });
  }

  const lookup = (p: string): Member | undefined => {
    let path = normalizeMember(p);
    for (let hops = 0; hops < 16; hops++) {
      const m = members.get(path);
      if (!m) return undefined;
      if (m.type === 'file' || m.type === 'contiguous') return m;
      if (m.type === 'hardlink') path = normalizeMember(m.linkpath);
      else if (m.type === 'symlink')
        path = normalizeMember(m.linkpath.startsWith('/') ? m.linkpath : posix.join(posix.dirname(path), m.linkpath));
      else return undefined;
    }
    return undefined;
  };
  const need = (p: string): Member => {
    const m = lookup(p);
    if (!m) throw new CoracleError(`${file}: the archive has no file ${p}`);
    return m;
  };
  return {
    label: file,
    async exists(p) {
      return lookup(p) !== undefined;
    },
    async size(p) {
      return need(p).size;
    },
    async readFile(p) {
      const m = need(p);
      const buf = Buffer.alloc(m.size);
      if (m.size === 0) return buf;
      const h = await open(file, 'r');
      try {
        const { bytesRead } = await h.read(buf, 0, m.size, m.offset);
        if (bytesRead !== m.size) throw new CoracleError(`${file}: truncated member ${p}`);
      } finally {
        await h.close();
      }
      return buf;
    },
    async head(p, n) {
      const m = need(p);
      return readHead(file, m.offset, Math.min(n, m.size));
    },
    open(p) {
      const m = need(p);
      if (m.size === 0) return Readable.from([]);
      return createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
    },
  };
}

/** A folder or a tar file. */
export async function openArchive(path: string): Promise<ArchiveSource> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new CoracleError(`${path}: no such file or directory`);
  }
  return st.isDirectory() ? dirSource(path) : tarSource(path);
}
